"""What one fake agency sent and received, and bounded waits on it that fail with the evidence.

A :class:`Mailbox` is thread-safe: a background poller adds to it while a scenario waits on it. Waits
are event-driven (a condition variable woken by every addition) when something else is polling, and
short-poll otherwise (the waiter calls the ``pump`` it was given — one polling round — then waits at
most :data:`POLL_INTERVAL` for news). Every wait is bounded; the bound can be overrun by at most one
pump call, itself bounded by the hub client's timeout.

A wait that times out raises :class:`WaitTimeout` whose message lists everything the agency saw for
that document — what it sent (hub DocIds, times, recipients), the documents and statuses it received
(hub docIds, package timestamps, arrival times, descriptions), its own answers and the last polling
errors — so that a failing scenario shows the evidence, not just "timeout".
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from simulator.edxml.diagnostics import Diagnostic
from simulator.edxml.model import BusinessDocType, DocumentPackage, StatusCode, StatusPackage
from simulator.edxml.vntime import format_iso, format_timestamp
from simulator.pki.dsig import VerifyResult

__all__ = [
    "POLL_INTERVAL",
    "Mailbox",
    "ReceivedDocument",
    "ReceivedStatus",
    "SentDocument",
    "SentStatus",
    "UnexpectedStatus",
    "WaitTimeout",
    "codes_of",
]

POLL_INTERVAL = 0.02
"""Seconds a short-polling wait pauses between polling rounds that brought nothing new."""
_MAX_ERRORS = 20
_MAX_LINES = 60
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True, eq=False)
class SentDocument:
    """A document package this agency sent (new, recall, update or replace) and the hub accepted."""

    document_id: str
    hub_doc_id: str  # the DocId sendEdoc returned
    package_bytes: bytes  # exactly what was uploaded (signed, maybe mutated)
    model: DocumentPackage  # what was built (before signing and mutation)
    sent_at: datetime  # harness time (Vietnam) when the hub answered
    from_code: str = ""
    to: tuple[str, ...] = ()  # the routing the agency asked for (the package's To for recall/update/replace)
    business: BusinessDocType = BusinessDocType.NEW


@dataclass(frozen=True, slots=True, eq=False)
class SentStatus:
    """A status package this agency sent (its own 01…06/15/16 as receiver, or a 13 as sender)."""

    document_id: str
    code: StatusCode
    description: str | None
    to: tuple[str, ...]
    hub_doc_id: str
    sent_at: datetime
    package_bytes: bytes


@dataclass(frozen=True, slots=True, eq=False)
class ReceivedStatus:
    """A status package delivered to this agency."""

    hub_doc_id: str  # the receiver-side docId (getReceivedEdocList)
    code: StatusCode
    description: str | None
    from_code: str  # the reporting agency (status From/OrganId)
    response_for_document_id: str
    timestamp: datetime | None  # as the package says (StatusHeader/Timestamp)
    received_at: datetime  # harness time (Vietnam) when it was fetched
    raw: bytes
    model: StatusPackage
    response_for_organ_id: str = ""  # the original sender named in ResponseFor
    hub_time: str = ""  # the hub's created_time of the delivery (its hop)
    duplicate_of: str | None = None  # hub docId of an identical status received earlier


@dataclass(frozen=True, slots=True, eq=False)
class ReceivedDocument:
    """A document package delivered to this agency, with what its checks found."""

    hub_doc_id: str
    document_id: str  # "" when the package could not be read
    model: DocumentPackage | None  # None: not a readable document package
    raw: bytes
    verify_result: VerifyResult | None  # None: not verified (Behaviour.verify off, or unreadable)
    diagnostics: tuple[Diagnostic, ...]  # parser + validator (+ the signature verdict when it failed)
    from_code: str = ""
    business: BusinessDocType = BusinessDocType.NEW
    received_at: datetime | None = None
    hub_time: str = ""
    refusal: str | None = None  # the reason this agency refused it with (02 / 16), None otherwise
    duplicate_of: str | None = None  # hub docId of the earlier copy (this one was not answered again)

    @property
    def subject(self) -> str | None:
        return self.model.header.subject if self.model is not None else None


class WaitTimeout(TimeoutError):
    """A bounded wait ended without what it waited for. The message carries the evidence seen."""

    def __init__(self, waited_for: str, timeout: float, evidence: list[str]) -> None:
        self.waited_for = waited_for
        self.timeout = timeout
        self.evidence = evidence
        lines = "\n".join(f"  - {line}" for line in evidence) or "  - nothing"
        super().__init__(f"timed out after {timeout:g} s waiting for {waited_for}. Seen:\n{lines}")


class UnexpectedStatus(AssertionError):
    """A status that must not come (within a bounded time) came. The message carries the evidence."""

    def __init__(self, status: ReceivedStatus, within: float, evidence: list[str]) -> None:
        self.status = status
        self.evidence = evidence
        lines = "\n".join(f"  - {line}" for line in evidence)
        super().__init__(
            f"status {status.code.value} from {status.from_code} for document "
            f"{status.response_for_document_id} arrived (hub docId {status.hub_doc_id}) although none was "
            f"expected within {within:g} s. Seen:\n{lines}"
        )


def codes_of(code: StatusCode | str | Collection[StatusCode | str]) -> frozenset[StatusCode]:
    """One code or several as a set of :class:`StatusCode` (ValueError for an unknown code)."""
    if isinstance(code, str):
        return frozenset({StatusCode(code)})
    codes = frozenset(StatusCode(c) for c in code)
    if not codes:
        raise ValueError("give at least one status code to wait for")
    return codes


def _when(value: datetime | None) -> str:
    return format_iso(value) if value is not None else "?"


def _describe_codes(codes: frozenset[StatusCode]) -> str:
    names = sorted(c.value for c in codes)
    return names[0] if len(names) == 1 else "one of " + ", ".join(names)


class Mailbox:
    """Thread-safe record of one agency's traffic, with bounded waits."""

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self._cond = threading.Condition(threading.RLock())  # reentrant: match() may read the mailbox
        self._documents: list[ReceivedDocument] = []
        self._statuses: list[ReceivedStatus] = []
        self._sent: list[SentDocument] = []
        self._sent_statuses: list[SentStatus] = []
        self._errors: list[tuple[datetime, str]] = []

    # ------------------------------------------------------------------------------- recording
    def add_document(self, document: ReceivedDocument) -> None:
        with self._cond:
            self._documents.append(document)
            self._cond.notify_all()

    def add_status(self, status: ReceivedStatus) -> None:
        with self._cond:
            self._statuses.append(status)
            self._cond.notify_all()

    def add_sent(self, sent: SentDocument) -> None:
        with self._cond:
            self._sent.append(sent)
            self._cond.notify_all()

    def add_sent_status(self, sent: SentStatus) -> None:
        with self._cond:
            self._sent_statuses.append(sent)
            self._cond.notify_all()

    def add_errors(self, at: datetime, errors: Iterable[str]) -> None:
        with self._cond:
            self._errors.extend((at, e) for e in errors)
            del self._errors[:-_MAX_ERRORS]

    # ---------------------------------------------------------------------------------- reading
    def documents(self) -> list[ReceivedDocument]:
        with self._cond:
            return list(self._documents)

    def statuses(self, document_id: str | None = None) -> list[ReceivedStatus]:
        with self._cond:
            return [
                s for s in self._statuses if document_id is None or s.response_for_document_id == document_id
            ]

    def sent_documents(self) -> list[SentDocument]:
        with self._cond:
            return list(self._sent)

    def sent_statuses(self, document_id: str | None = None) -> list[SentStatus]:
        with self._cond:
            return [s for s in self._sent_statuses if document_id is None or s.document_id == document_id]

    def errors(self) -> list[str]:
        with self._cond:
            return [f"{format_iso(at)}: {text}" for at, text in self._errors]

    # --------------------------------------------------------------------------------- evidence
    def evidence(self, document_id: str | None = None) -> list[str]:
        """Plain lines: what was sent and received for ``document_id`` (everything when None)."""
        with self._cond:
            lines: list[str] = []
            for sent in self._sent:
                if document_id is None or sent.document_id == document_id:
                    lines.append(
                        f"{self.owner} sent {sent.business.name.lower()} document {sent.document_id}: "
                        f"hub DocId {sent.hub_doc_id} at {_when(sent.sent_at)} "
                        f"to {', '.join(sent.to) or '(package To)'}"
                    )
            for ss in self._sent_statuses:
                if document_id is None or ss.document_id == document_id:
                    lines.append(
                        f"{self.owner} sent status {ss.code.value} for {ss.document_id} "
                        f"to {', '.join(ss.to)}: hub DocId {ss.hub_doc_id} at {_when(ss.sent_at)}"
                        + (f" ({ss.description})" if ss.description else "")
                    )
            for doc in self._documents:
                if document_id is None or doc.document_id == document_id:
                    verdict = f"; refused: {doc.refusal}" if doc.refusal else ""
                    if doc.duplicate_of:
                        verdict = f"; a copy of hub docId {doc.duplicate_of}, not answered again"
                    lines.append(
                        f"{self.owner} received {doc.business.name.lower()} document "
                        f"{doc.document_id or '(unreadable)'} from {doc.from_code or '?'}: hub docId "
                        f"{doc.hub_doc_id}, hub time {doc.hub_time or '?'}, fetched {_when(doc.received_at)}"
                        f"{verdict}"
                    )
            for st in self._statuses:
                if document_id is None or st.response_for_document_id == document_id:
                    stamp = format_timestamp(st.timestamp) if st.timestamp is not None else "none"
                    lines.append(
                        f"{self.owner} received status {st.code.value} from {st.from_code} for "
                        f"{st.response_for_document_id}: hub docId {st.hub_doc_id}, Timestamp {stamp}, "
                        f"hub time {st.hub_time or '?'}, fetched {_when(st.received_at)}"
                        + (f" ({st.description})" if st.description else "")
                        + (f"; a copy of hub docId {st.duplicate_of}" if st.duplicate_of else "")
                    )
            if not lines:
                what = f"document {document_id}" if document_id is not None else "any document"
                lines.append(f"{self.owner} saw nothing at all for {what}")
            if len(lines) > _MAX_LINES:
                lines = [
                    *lines[: _MAX_LINES // 2],
                    f"… {len(lines) - _MAX_LINES} more …",
                    *lines[-_MAX_LINES // 2 :],
                ]
            lines.extend(f"polling error at {format_iso(at)}: {text}" for at, text in self._errors[-5:])
            return lines

    # ------------------------------------------------------------------------------------ waits
    def wait_for(
        self,
        match: Callable[[], _T | None],
        *,
        timeout: float,
        pump: Callable[[], object] | None,
        waited_for: str,
        evidence: Callable[[], list[str]],
    ) -> _T:
        """Return ``match()``'s first non-None value, calling ``pump`` between checks when given."""
        if timeout < 0:
            raise ValueError(f"timeout must be 0 or more seconds, got {timeout}")
        deadline = time.monotonic() + timeout
        while True:
            with self._cond:
                found = match()
                if found is not None:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                if pump is None:
                    self._cond.wait(remaining)
                    continue
            pump()
            with self._cond:
                found = match()
                if found is not None:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(min(remaining, POLL_INTERVAL))
        raise WaitTimeout(waited_for, timeout, evidence())

    def _find_status(
        self, document_id: str, codes: frozenset[StatusCode], from_: str | None
    ) -> ReceivedStatus | None:
        for st in self._statuses:
            if (
                st.response_for_document_id == document_id
                and st.code in codes
                and (from_ is None or st.from_code == from_)
            ):
                return st
        return None

    def wait_for_status(
        self,
        document_id: str,
        code: StatusCode | str | Collection[StatusCode | str],
        *,
        from_: str | None = None,
        timeout: float,
        pump: Callable[[], object] | None = None,
    ) -> ReceivedStatus:
        """The first status for ``document_id`` with one of the codes (from ``from_`` when given)."""
        codes = codes_of(code)
        source = f" from {from_}" if from_ is not None else ""
        return self.wait_for(
            lambda: self._find_status(document_id, codes, from_),
            timeout=timeout,
            pump=pump,
            waited_for=f"status {_describe_codes(codes)}{source} for document {document_id} at {self.owner}",
            evidence=lambda: self.evidence(document_id),
        )

    def wait_for_document(
        self,
        predicate: Callable[[ReceivedDocument], bool],
        *,
        timeout: float,
        pump: Callable[[], object] | None = None,
        description: str = "a matching document",
    ) -> ReceivedDocument:
        def match() -> ReceivedDocument | None:
            return next((d for d in self._documents if predicate(d)), None)

        return self.wait_for(
            match,
            timeout=timeout,
            pump=pump,
            waited_for=f"{description} at {self.owner}",
            evidence=lambda: self.evidence(None),
        )

    def assert_no_status(
        self,
        document_id: str,
        code: StatusCode | str | Collection[StatusCode | str],
        *,
        within: float,
        from_: str | None = None,
        pump: Callable[[], object] | None = None,
    ) -> None:
        """Wait ``within`` seconds (bounded); :class:`UnexpectedStatus` as soon as such a status is seen."""
        codes = codes_of(code)
        try:
            status = self.wait_for(
                lambda: self._find_status(document_id, codes, from_),
                timeout=within,
                pump=pump,
                waited_for="",
                evidence=list,
            )
        except WaitTimeout:
            return
        raise UnexpectedStatus(status, within, self.evidence(document_id))
