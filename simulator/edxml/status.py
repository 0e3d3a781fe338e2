"""The legal order of business statuses (spec/edxml.md §3) as data, and a checker over a history.

Receiver lifecycle: (nothing) → 01; 01 → 02 (final) | 03; 03 → 04 | 05 | 06; 04 → 05 | 06; 05 → 06.
Repeating the current status is harmless. A 13 (recall/update request, from the sender) may come at
any time before 06 and is answered by 15 or 16; 15/16 without a pending 13 is a violation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from simulator.edxml.model import StatusCode

__all__ = ["FINAL", "LIFECYCLE", "Transition", "TransitionVerdict", "check_transition"]

S = StatusCode

#: Forward moves of the receiver's lifecycle. ``None`` is "nothing reported yet".
LIFECYCLE: dict[StatusCode | None, frozenset[StatusCode]] = {
    None: frozenset({S.ARRIVED}),
    S.ARRIVED: frozenset({S.REFUSED, S.ACCEPTED}),
    S.ACCEPTED: frozenset({S.ASSIGNED, S.IN_PROGRESS, S.COMPLETED}),
    S.ASSIGNED: frozenset({S.IN_PROGRESS, S.COMPLETED}),
    S.IN_PROGRESS: frozenset({S.COMPLETED}),
    S.REFUSED: frozenset(),
    S.COMPLETED: frozenset(),
}
#: Statuses after which the lifecycle is over.
FINAL: frozenset[StatusCode] = frozenset({S.REFUSED, S.COMPLETED})
_RANK = {None: 0, S.ARRIVED: 1, S.REFUSED: 2, S.ACCEPTED: 2, S.ASSIGNED: 3, S.IN_PROGRESS: 4, S.COMPLETED: 5}
_RECALL_ANSWERS = frozenset({S.RECALL_AGREED, S.RECALL_REFUSED})


class TransitionVerdict(StrEnum):
    OK = "ok"
    REPEAT = "repeat"  # the same status again: harmless
    SKIPPED = "skipped"  # forward, but over a step the law expects (e.g. 03 without 01)
    BACKWARDS = "backwards"  # a lower status after a higher one
    AFTER_FINAL = "after-final"  # anything but a repeat after 02 or 06
    UNSOLICITED_ANSWER = "unsolicited-answer"  # 15/16 with no pending 13
    RECALL_TOO_LATE = "recall-too-late"  # 13 after 06

    @property
    def legal(self) -> bool:
        return self in (TransitionVerdict.OK, TransitionVerdict.REPEAT)


@dataclass(frozen=True, slots=True)
class Transition:
    previous: StatusCode | None
    new: StatusCode
    verdict: TransitionVerdict

    def describe(self) -> str:
        prev = self.previous.value if self.previous else "nothing"
        return f"status {self.new.value} after {prev}: {self.verdict.value}"


def _current(history: Sequence[StatusCode]) -> StatusCode | None:
    lifecycle = [s for s in history if s in LIFECYCLE]
    return lifecycle[-1] if lifecycle else None


def _recall_pending(history: Sequence[StatusCode]) -> bool:
    pending = False
    for s in history:
        if s is S.RECALL_REQUEST:
            pending = True
        elif s in _RECALL_ANSWERS:
            pending = False
    return pending


def check_transition(history: Sequence[StatusCode], new: StatusCode) -> Transition:
    """Judge ``new`` given the statuses already exchanged for one (document, receiver) pair."""
    current = _current(history)
    if new is S.RECALL_REQUEST:
        verdict = TransitionVerdict.RECALL_TOO_LATE if current is S.COMPLETED else TransitionVerdict.OK
        return Transition(current, new, verdict)
    if new in _RECALL_ANSWERS:
        if history and history[-1] is new:
            return Transition(history[-1], new, TransitionVerdict.REPEAT)
        ok = _recall_pending(history)
        return Transition(current, new, TransitionVerdict.OK if ok else TransitionVerdict.UNSOLICITED_ANSWER)
    if new is current:
        return Transition(current, new, TransitionVerdict.REPEAT)
    if current in FINAL:
        return Transition(current, new, TransitionVerdict.AFTER_FINAL)
    if new in LIFECYCLE[current]:
        return Transition(current, new, TransitionVerdict.OK)
    if _RANK[new] > _RANK[current]:
        return Transition(current, new, TransitionVerdict.SKIPPED)
    return Transition(current, new, TransitionVerdict.BACKWARDS)
