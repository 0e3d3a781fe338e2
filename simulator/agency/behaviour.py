"""What a fake agency does on its own: the scriptable behaviour and the pure decisions it implies.

A :class:`Behaviour` says how a fake agency answers what the hub delivers to it; the functions here
turn it into the business statuses (spec/edxml.md §3) to send, without any I/O, so that they are
tested on their own and the agency (:mod:`simulator.agency.fake_agency`) only carries them out.

* A new document arrives: ``01`` (``auto_arrived``); then ``02`` with the reason when a check failed
  (integrity, signature, structure, addressee; QD28-9.1) or when ``refuse_all`` is set; otherwise
  ``03`` (``auto_accept``) and, with ``advance_to``, ``04`` → ``05`` → ``06`` up to that status
  (QD28-9.2.a). Without acceptance nothing is advanced.
* A recall or update request arrives (a package with BussinessDocType 1/2, or a status ``13``):
  ``recall_answer`` ``agree`` → ``15``, ``refuse`` → ``16`` with ``recall_refuse_reason``, ``ignore`` →
  nothing (QD28-9.2.b). Whatever ``recall_answer`` says, a request about a document this agency has
  already completed (``06``) or never received is answered ``16`` with a reason that says so: a
  completed document can no longer be taken back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from simulator.edxml.model import StatusCode
from simulator.edxml.samples import STATUS_DESCRIPTIONS

__all__ = [
    "ADVANCE_ORDER",
    "Behaviour",
    "RecallAnswer",
    "Reply",
    "advance_path",
    "arrival_replies",
    "recall_reply",
]

RecallAnswer = Literal["agree", "refuse", "ignore"]

#: The receiver's forward path after acceptance (the legal order allows skipping 04 and 05; a fake
#: agency walks every step so that each status is observable).
ADVANCE_ORDER: tuple[StatusCode, ...] = (
    StatusCode.ACCEPTED,
    StatusCode.ASSIGNED,
    StatusCode.IN_PROGRESS,
    StatusCode.COMPLETED,
)

_COMPLETED_REASON = (
    "Văn bản đã được xử lý xong (trạng thái 06), không thể thu hồi hoặc cập nhật; "
    "the document was already completed (06) and can no longer be recalled or updated"
)
_UNKNOWN_REASON = (
    "Không tìm thấy văn bản được yêu cầu thu hồi/cập nhật; the recall/update request names a document "
    "this agency never received"
)


@dataclass(frozen=True, slots=True)
class Reply:
    """One business status to send; ``description`` ``None`` = the default text for the code."""

    code: StatusCode
    description: str | None = None


@dataclass(frozen=True, slots=True)
class Behaviour:
    """How a fake agency reacts. Immutable: assign a new one (``dataclasses.replace``) to change it."""

    auto_arrived: bool = True  # send 01 on arrival
    auto_accept: bool = True  # send 03 once the checks pass
    verify: bool = True  # check signature, structure and addressee before accepting
    refuse_all: str | None = None  # refuse every new document with 02 and this reason
    recall_answer: RecallAnswer = "agree"  # 15 / 16 with recall_refuse_reason / no answer
    advance_to: StatusCode | None = None  # after 03, continue 04 → 05 → 06 up to this status
    acknowledge: bool = True  # updateStatus done after each fetch (VXP-ACK)
    sign_statuses: bool = False  # sign the status packages this agency sends
    require_signature: bool = True  # with verify: an unsigned document is refused (VPCP19-SIG)
    recall_refuse_reason: str = STATUS_DESCRIPTIONS[StatusCode.RECALL_REFUSED]

    def __post_init__(self) -> None:
        if self.refuse_all is not None and not self.refuse_all.strip():
            raise ValueError(
                "Behaviour.refuse_all: a refusal (02) needs a non-empty reason (QD28-5.4); give the text "
                "the sender should read, or None to accept"
            )
        if self.recall_answer not in get_args(RecallAnswer):
            raise ValueError(
                f"Behaviour.recall_answer: {self.recall_answer!r} is not one of agree, refuse, ignore"
            )
        if not self.recall_refuse_reason.strip():
            raise ValueError("Behaviour.recall_refuse_reason: a 16 needs a non-empty reason (QD28-9.2.b)")
        if self.advance_to is not None:
            code = StatusCode(self.advance_to)
            if code not in ADVANCE_ORDER:
                allowed = ", ".join(c.value for c in ADVANCE_ORDER)
                raise ValueError(
                    f"Behaviour.advance_to: {code.value} is not a processing status; use one of {allowed} "
                    "(QD28-9.2.a)"
                )
            object.__setattr__(self, "advance_to", code)


def advance_path(current: StatusCode | None, target: StatusCode) -> list[StatusCode]:
    """The statuses to send, in order, to move a received document from ``current`` to ``target``.

    ``current`` ``None`` or ``01`` starts at ``03``; a target at or behind ``current`` gives ``[]``.
    Refused (``02``) documents cannot advance: ValueError.
    """
    target = StatusCode(target)
    if target not in ADVANCE_ORDER:
        allowed = ", ".join(c.value for c in ADVANCE_ORDER)
        raise ValueError(f"cannot advance to {target.value}: use one of {allowed} (QD28-9.2.a)")
    if current is StatusCode.REFUSED:
        raise ValueError(
            f"the document was refused (02), a final status; it cannot advance to {target.value} (QD28-14.2)"
        )
    start = ADVANCE_ORDER.index(current) + 1 if current in ADVANCE_ORDER else 0
    end = ADVANCE_ORDER.index(target) + 1
    return list(ADVANCE_ORDER[start:end])


def arrival_replies(behaviour: Behaviour, problem: str | None) -> list[Reply]:
    """The statuses to send when a new document arrives; ``problem``: the reason a check failed."""
    replies: list[Reply] = []
    if behaviour.auto_arrived:
        replies.append(Reply(StatusCode.ARRIVED))
    if problem is not None:
        replies.append(Reply(StatusCode.REFUSED, problem))
        return replies
    if behaviour.refuse_all is not None:
        replies.append(Reply(StatusCode.REFUSED, behaviour.refuse_all))
        return replies
    if not behaviour.auto_accept:
        return replies
    target = behaviour.advance_to or StatusCode.ACCEPTED
    replies.extend(Reply(code) for code in advance_path(None, target))
    return replies


def recall_reply(behaviour: Behaviour, current: StatusCode | None, *, known: bool) -> Reply | None:
    """The answer to a recall/update request about a document whose latest status sent is ``current``.

    ``known``: this agency received the document. ``None``: no answer (``recall_answer="ignore"``).
    """
    if behaviour.recall_answer == "ignore":
        return None
    if not known:
        return Reply(StatusCode.RECALL_REFUSED, _UNKNOWN_REASON)
    if current is StatusCode.COMPLETED:
        return Reply(StatusCode.RECALL_REFUSED, _COMPLETED_REASON)
    if behaviour.recall_answer == "refuse":
        return Reply(StatusCode.RECALL_REFUSED, behaviour.recall_refuse_reason)
    return Reply(StatusCode.RECALL_AGREED)
