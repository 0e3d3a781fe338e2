"""``ManualDriver``: drive a SUT that has no test-driver API through a human operator.

Every action prints a numbered instruction ("[3] In QLVB Acme, send a document from … to … with
subject «…», priority Hỏa tốc; the harness is waiting up to 120 s for it at the hub") and then waits,
bounded, for its effect at the hub: the evidence log shows every accepted ``sendEdoc`` and the stored
package says what it was (subject, status code, BussinessDocType, ResponseFor). Nothing is read from
stdin unless ``interactive=True`` (CI has no stdin); then the operator may type ``skip`` to declare the
step impossible, which makes the scenario NOT APPLICABLE. Operations that need to look inside the
SUT (query, clock sync, TLS probe, pausing intake) raise :class:`NotSupported`.

The hub is observed through a :class:`HubObserver` — the control API's
:class:`~simulator.agency.client.ControlClient` or an in-process reader: ``evidence(since)`` returns the
hub's evidence rows (the JSON lines, decoded) with ``id > since``; ``package(sha256)`` returns the stored
package bytes (None when unknown).
"""

from __future__ import annotations

import select
import sys
import threading
import time
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from rich.console import Console
from rich.markup import escape

from simulator.edxml.model import BusinessDocType, DocumentPackage, Priority, StatusCode, StatusPackage
from simulator.edxml.parser import parse
from simulator.sut.driver import (
    Capability,
    DriverError,
    DriverInfo,
    NotSupported,
    OutgoingDocument,
    ProbeResult,
    SentRef,
    SutDocumentState,
)

__all__ = [
    "MANUAL_CAPABILITIES",
    "NOT_INSIDE",
    "HubObserver",
    "ManualDriver",
    "ManualTimeout",
    "stdin_line_reader",
]

NOT_INSIDE = "manual mode: the harness cannot look inside the SUT"
MANUAL_CAPABILITIES = frozenset(
    {
        Capability.SEND,
        Capability.RECALL,
        Capability.UPDATE,
        Capability.REPLACE,
        Capability.ADVANCE,
        Capability.REFUSE,
        Capability.ANSWER_RECALL,
    }
)
_PRIORITY_VI = {
    Priority.NORMAL: "Thường (normal)",
    Priority.URGENT: "Khẩn (urgent)",
    Priority.VERY_URGENT: "Thượng khẩn (very urgent)",
    Priority.FLASH: "Hỏa tốc (flash)",
    Priority.FLASH_TIMED: "Hỏa tốc hẹn giờ (flash, timed)",
}
_STATUS_VI = {
    StatusCode.ACCEPTED: "03 đã tiếp nhận (accepted)",
    StatusCode.ASSIGNED: "04 phân công (assigned)",
    StatusCode.IN_PROGRESS: "05 đang xử lý (in progress)",
    StatusCode.COMPLETED: "06 hoàn thành (completed)",
}
_SEEN_LINES = 8
_MAX_DRAIN_BATCHES = 10_000


class HubObserver(Protocol):
    """Read access to the hub the SUT talks to. :class:`simulator.agency.client.ControlClient` (the
    control API) is one; :class:`simulator.sut.target.EmbeddedHubObserver` reads an in-process hub."""

    def evidence(self, since: int = 0, /) -> list[dict[str, Any]]: ...

    def package(self, sha256: str, /) -> bytes | None: ...


class ManualTimeout(DriverError):
    """The operator's action did not show up at the hub in time; the message lists what did."""


def stdin_line_reader(timeout: float) -> str | None:
    """One line from stdin if one is ready within ``timeout`` seconds, else None (never blocks longer).
    An exhausted stdin (EOF) reads as None."""
    try:
        ready, _, _ = select.select([sys.stdin], [], [], max(timeout, 0.0))
    except (OSError, ValueError):  # no usable stdin (closed, or not selectable)
        return None
    if not ready:
        return None
    line = sys.stdin.readline()
    return line.strip() if line else None


@dataclass(slots=True)
class _Sent:
    """One accepted sendEdoc seen at the hub, with its package read back when available."""

    row: dict[str, Any]
    package: DocumentPackage | StatusPackage | None

    @property
    def detail(self) -> Mapping[str, Any]:
        detail = self.row.get("detail")
        return detail if isinstance(detail, dict) else {}

    @property
    def sender(self) -> str:
        if isinstance(self.package, DocumentPackage):
            return self.package.header.from_.organ_id.strip()
        if isinstance(self.package, StatusPackage):
            return self.package.header.from_.organ_id.strip()
        return str(self.detail.get("from") or "")

    @property
    def kind(self) -> str:
        if self.package is not None:
            return "document" if isinstance(self.package, DocumentPackage) else "status"
        return str(self.detail.get("kind") or "")

    @property
    def recipients(self) -> list[str]:
        to = self.detail.get("to")
        if isinstance(to, list):
            return [str(c) for c in to]
        if isinstance(self.package, DocumentPackage):
            return [o.organ_id.strip() for o in self.package.header.to]
        return []

    @property
    def hub_doc_id(self) -> str:
        ids = self.row.get("doc_ids")
        return str(ids[0]) if isinstance(ids, list) and ids else ""

    @property
    def document_id(self) -> str:
        if isinstance(self.package, DocumentPackage):
            return self.package.header.document_id.strip()
        if isinstance(self.package, StatusPackage):
            return self.package.header.response_for.document_id.strip()
        return str(self.detail.get("document_id") or "")

    def business(self) -> BusinessDocType | None:
        return self.package.business_doc_type if isinstance(self.package, DocumentPackage) else None

    def about(self) -> str:
        """The DocumentId a recall/update package is about (Bussiness/DocumentId, else its own)."""
        if isinstance(self.package, DocumentPackage):
            business = self.package.trace.business if self.package.trace is not None else None
            if business is not None and business.document_id.strip():
                return business.document_id.strip()
        return self.document_id

    def replaces(self) -> list[str]:
        if not isinstance(self.package, DocumentPackage) or self.package.trace is None:
            return []
        business = self.package.trace.business
        return [r.document_id.strip() for r in business.replacements] if business is not None else []

    def status_code(self) -> StatusCode | None:
        return self.package.header.status_code if isinstance(self.package, StatusPackage) else None

    def summary(self) -> str:
        what = self.kind or "package"
        code = self.status_code()
        if code is not None:
            what = f"status {code.value}"
        elif (b := self.business()) not in (None, BusinessDocType.NEW):
            what = f"document ({b.name.lower() if b else ''})"
        subject = ""
        if isinstance(self.package, DocumentPackage):
            subject = f" «{_shorten(self.package.header.subject)}»"
        return (
            f"#{self.row.get('id')} {self.row.get('at', '')} {what} {self.sender or '?'} → "
            f"{', '.join(self.recipients) or '?'} DocumentId {self.document_id or '?'}{subject} "
            f"(hub DocId {self.hub_doc_id or '?'})"
        )


class ManualDriver:
    """:class:`~simulator.sut.driver.SutDriver` for an operator following printed instructions.

    ``sut_system_id``: when given, only packages uploaded by that hub system count (the SUT's own).
    ``timeout_s``: how long each action waits for its effect at the hub. ``input_line``: the
    interactive input source (tests); ``sleep`` is used between polls when not interactive."""

    def __init__(
        self,
        observer: HubObserver,
        *,
        sut_name: str,
        agencies: Sequence[str],
        sut_system_id: str | None = None,
        timeout_s: float = 120.0,
        poll_interval: float = 0.25,
        console: Console | None = None,
        interactive: bool = False,
        input_line: Callable[[float], str | None] = stdin_line_reader,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Any] | None = None,
    ) -> None:
        if timeout_s <= 0 or poll_interval <= 0:
            raise ValueError("timeout_s and poll_interval must be positive")
        self.observer = observer
        self.sut_name = sut_name
        self.agencies = tuple(agencies)
        self.sut_system_id = sut_system_id
        self.timeout_s = timeout_s
        self.poll_interval = poll_interval
        self.console = console or Console(stderr=True, highlight=False)
        self.interactive = interactive
        self._input_line = input_line
        self._clock = clock
        self._sleep = sleep or threading.Event().wait
        self._step = 0
        self._cursor = 0
        self._parsed: dict[str, DocumentPackage | StatusPackage | None] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ManualDriver({self.sut_name!r}, agencies={list(self.agencies)})"

    @property
    def steps(self) -> int:
        """How many instructions were printed."""
        return self._step

    # ------------------------------------------------------------------ SutDriver

    def info(self) -> DriverInfo:
        return DriverInfo(self.sut_name, "manual", self.agencies, MANUAL_CAPABILITIES)

    def send_document(self, document: OutgoingDocument) -> SentRef:
        if not document.to:
            raise ValueError("send_document: the document needs at least one recipient")
        parts = [
            f"send a document (văn bản) from {document.from_} to {', '.join(document.to)}",
            f"with subject (trích yếu) «{document.subject}»",
            f"priority (độ khẩn) {_PRIORITY_VI.get(Priority(document.priority), str(document.priority))}",
        ]
        if document.attachments:
            names = ", ".join(a.name for a in document.attachments)
            parts.append(
                f"with {len(document.attachments)} attached file(s) (any content; e.g. named {names})"
            )
        if document.response_for:
            parts.append(f"in reply to document {document.response_for}")
        parts.append("signed digitally (ký số)" if document.sign else "WITHOUT a digital signature")
        subject = _norm(document.subject)
        wanted = set(document.to)

        def matches(s: _Sent) -> bool:
            if s.kind != "document" or s.sender != document.from_:
                return False
            if s.business() not in (None, BusinessDocType.NEW):
                return False
            if isinstance(s.package, DocumentPackage) and _norm(s.package.header.subject) != subject:
                return False
            return bool(wanted & set(s.recipients))

        def complete(found: list[_Sent]) -> bool:
            first = found[0].document_id
            covered = {c for s in found if s.document_id == first for c in s.recipients}
            return wanted <= covered

        found = self._act(Capability.SEND, ", ".join(parts), "the document at the hub", matches, complete)
        first = found[0].document_id
        return SentRef(first, tuple(s.hub_doc_id for s in found if s.document_id == first and s.hub_doc_id))

    def recall(
        self, document_id: str, *, agency: str, form: Literal["package", "status"], reason: str
    ) -> None:
        how = (
            "as a recall package (BussinessDocType 1)"
            if form == "package"
            else "as a recall request (status 13)"
        )
        instruction = (
            f"recall (thu hồi) the document {document_id} that {agency} sent, reason (lý do) «{reason}» "
            f"({how}, if the product lets you choose)"
        )

        def matches(s: _Sent) -> bool:
            if s.sender != agency:
                return False
            if s.kind == "status":
                code = s.status_code()
                return s.document_id == document_id and code in (None, StatusCode.RECALL_REQUEST)
            return s.business() is BusinessDocType.RECALL and s.about() == document_id

        self._act(Capability.RECALL, instruction, "the recall at the hub", matches)

    def update(
        self,
        document_id: str,
        *,
        agency: str,
        reason: str,
        subject: str | None = None,
        add_receivers: Sequence[str] = (),
        remove_receivers: Sequence[str] = (),
    ) -> None:
        changes = []
        if subject is not None:
            changes.append(f"set the subject to «{subject}»")
        if add_receivers:
            changes.append(f"add recipients {', '.join(add_receivers)}")
        if remove_receivers:
            changes.append(f"remove recipients {', '.join(remove_receivers)}")
        instruction = (
            f"update (cập nhật) the document {document_id} that {agency} sent: "
            f"{'; '.join(changes) or 'no change of content'}; reason (lý do) «{reason}»"
        )

        def matches(s: _Sent) -> bool:
            return s.sender == agency and s.business() is BusinessDocType.UPDATE and s.about() == document_id

        self._act(Capability.UPDATE, instruction, "the update package at the hub", matches)

    def replace(self, document_id: str, *, agency: str, reason: str, new: OutgoingDocument) -> SentRef:
        instruction = (
            f"replace (thay thế) the document {document_id} that {agency} sent with a new document to "
            f"{', '.join(new.to)} with subject «{new.subject}»; reason (lý do) «{reason}»"
        )

        def matches(s: _Sent) -> bool:
            return (
                s.sender == agency and s.business() is BusinessDocType.REPLACE and document_id in s.replaces()
            )

        found = self._act(Capability.REPLACE, instruction, "the replacement at the hub", matches)
        return SentRef(found[0].document_id, tuple(s.hub_doc_id for s in found if s.hub_doc_id))

    def advance(
        self, document_id: str, *, agency: str, status: StatusCode, description: str | None = None
    ) -> None:
        code = StatusCode(status)
        label = _STATUS_VI.get(code, code.value)
        note = f" with the note «{description}»" if description else ""
        instruction = f"at {agency}, move the received document {document_id} to status {label}{note}"
        self._act(
            Capability.ADVANCE,
            instruction,
            f"status {code.value}",
            self._status_match(agency, document_id, code),
        )

    def refuse(self, document_id: str, *, agency: str, reason: str) -> None:
        instruction = (
            f"at {agency}, refuse (từ chối tiếp nhận) the received document {document_id} with the reason "
            f"«{reason}»"
        )
        match = self._status_match(agency, document_id, StatusCode.REFUSED)
        self._act(Capability.REFUSE, instruction, "status 02", match)

    def answer_recall(self, document_id: str, *, agency: str, agree: bool, reason: str | None = None) -> None:
        code = StatusCode.RECALL_AGREED if agree else StatusCode.RECALL_REFUSED
        verb = "agree to (đồng ý)" if agree else "refuse (từ chối)"
        because = f", reason (lý do) «{reason}»" if reason else ""
        instruction = f"at {agency}, {verb} the recall/update request for document {document_id}{because}"
        match = self._status_match(agency, document_id, code)
        self._act(Capability.ANSWER_RECALL, instruction, f"status {code.value}", match)

    def query(self, document_id: str, *, agency: str) -> SutDocumentState | None:
        raise NotSupported(Capability.QUERY, NOT_INSIDE)

    def sync_clock(self) -> None:
        raise NotSupported(Capability.SYNC_CLOCK, NOT_INSIDE)

    def probe_hub(self, url: str) -> ProbeResult:
        raise NotSupported(Capability.PROBE_HUB, NOT_INSIDE)

    def pause_intake(self, paused: bool) -> None:
        raise NotSupported(Capability.PAUSE_INTAKE, NOT_INSIDE)

    # ------------------------------------------------------------------ the wait

    @staticmethod
    def _status_match(agency: str, document_id: str, code: StatusCode) -> Callable[[_Sent], bool]:
        def matches(s: _Sent) -> bool:
            return (
                s.kind == "status"
                and s.sender == agency
                and s.document_id == document_id
                and s.status_code() is code
            )

        return matches

    def _act(
        self,
        capability: Capability,
        instruction: str,
        effect: str,
        matches: Callable[[_Sent], bool],
        complete: Callable[[list[_Sent]], bool] | None = None,
    ) -> list[_Sent]:
        """Print the numbered instruction, then wait until ``matches`` rows are ``complete``."""
        with self._lock:
            self._drain()
            mark = self._cursor
            self._step += 1
            step = self._step
        self._print(step, instruction)
        deadline = self._clock() + self.timeout_s
        seen: list[_Sent] = []
        found: list[_Sent] = []
        since = mark
        while True:
            rows = self._read(since)
            for row in rows:
                since = max(since, int(row.get("id", since)))
                sent = self._sent(row)
                if sent is None:
                    continue
                seen.append(sent)
                if matches(sent):
                    found.append(sent)
            with self._lock:
                self._cursor = max(self._cursor, since)
            if found and (complete is None or complete(found)):
                self.console.print(f"[green][{step}] seen at the hub:[/] {escape(found[0].summary())}")
                return found
            remaining = deadline - self._clock()
            if remaining <= 0:
                raise self._timeout(step, instruction, effect, seen, found)
            wait = min(self.poll_interval, remaining)
            if self.interactive:
                line = self._input_line(wait)
                if line is not None and line.lower() in ("skip", "s"):
                    self.console.print(f"[yellow][{step}] skipped by the operator[/]")
                    raise NotSupported(capability, f"manual mode: the operator skipped step [{step}]")
            else:
                self._sleep(wait)

    def _print(self, step: int, instruction: str) -> None:
        text = (
            f"[bold][{step}][/] In {escape(self.sut_name)}, {escape(instruction)}; the harness is waiting "
            f"up to {self.timeout_s:g} s for it at the hub"
        )
        if self.interactive:
            text += " [dim](type skip + Enter if the product cannot do this)[/]"
        self.console.print(text)

    def _timeout(
        self, step: int, instruction: str, effect: str, seen: list[_Sent], found: list[_Sent]
    ) -> ManualTimeout:
        lines = [s.summary() for s in seen[-_SEEN_LINES:]]
        more = f" (and {len(seen) - _SEEN_LINES} earlier)" if len(seen) > _SEEN_LINES else ""
        partial = f"; partly seen: {found[0].summary()}" if found else ""
        who = f" from system {self.sut_system_id}" if self.sut_system_id else ""
        what = (
            f"packages accepted from the SUT meanwhile{more}: " + "; ".join(lines)
            if lines
            else f"the hub accepted no package{who} meanwhile"
        )
        return ManualTimeout(
            f"manual step [{step}] ({instruction}): {effect} did not arrive within {self.timeout_s:g} s"
            f"{partial}; {what}"
        )

    # ------------------------------------------------------------------ hub reading

    def _drain(self) -> None:
        """Move the cursor past everything already in the log (read in batches, bounded)."""
        for _ in range(_MAX_DRAIN_BATCHES):
            rows = self._read(self._cursor)
            last = max((int(r.get("id", 0)) for r in rows), default=0)
            if last <= self._cursor:
                return
            self._cursor = last

    def _read(self, since: int) -> list[dict[str, Any]]:
        try:
            return list(self.observer.evidence(since))
        except DriverError:
            raise
        except Exception as exc:  # the observer is the hub's control API or store: any failure is fatal here
            raise DriverError(
                f"manual mode: cannot read the hub's evidence log ({type(exc).__name__}: {exc})"
            ) from None

    def _sent(self, row: dict[str, Any]) -> _Sent | None:
        """An accepted sendEdoc by the SUT's system, else None."""
        if row.get("operation") != "sendEdoc" or str(row.get("error_code")) != "0":
            return None
        if self.sut_system_id is not None and row.get("system") != self.sut_system_id:
            return None
        sha = row.get("sha256")
        package = self._package(sha) if isinstance(sha, str) and sha else None
        return _Sent(row, package)

    def _package(self, sha256: str) -> DocumentPackage | StatusPackage | None:
        if sha256 not in self._parsed:
            try:
                data = self.observer.package(sha256)
            except Exception:  # fall back to the evidence row's own detail
                data = None
            self._parsed[sha256] = parse(data).package if data else None
        return self._parsed[sha256]


def _norm(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).split()).casefold()


def _shorten(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
