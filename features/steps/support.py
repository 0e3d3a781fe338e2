"""What every step module shares: the harness around a target, waits that fail with evidence,
NOT APPLICABLE, and the per-scenario state.

Steps talk only to the SUT's driver (``harness.driver``), the harness's fake agencies (``A``, ``B``,
``C``: agencies of the harness's own system on the hub) and the hub (its evidence, clock, faults). They
never look inside a particular SUT, so the same scenarios run against the reference QLVB and a vendor's
product. Every wait is bounded by the target's timing; every failure is a
:class:`~simulator.conformance.expect.ConformanceFailure` (expected vs actual, requirement, evidence).
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn, TypeVar

import pytest

from simulator.agency.behaviour import Behaviour
from simulator.agency.fake_agency import FakeAgency, make_agencies
from simulator.agency.mailbox import (
    ReceivedDocument,
    ReceivedStatus,
    SentDocument,
    UnexpectedStatus,
    WaitTimeout,
)
from simulator.conformance.expect import fail
from simulator.conformance.progress import NA_PREFIX
from simulator.edxml.model import Priority, StatusCode
from simulator.edxml.vntime import format_iso, parse_timestamp
from simulator.sut.driver import Capability, DriverError, NotSupported, OutgoingDocument, SentRef, SutDriver
from simulator.sut.target import SutTarget

__all__ = [
    "LETTERS",
    "PRIORITY_NAMES",
    "STATUS_NAMES",
    "STEP_CAPABILITIES",
    "Harness",
    "Outbound",
    "ScenarioState",
    "Timing",
    "describe_status",
    "hub_time_of",
    "missing_capabilities",
    "not_applicable",
    "unique_subject",
]

T = TypeVar("T")

LETTERS = ("A", "B", "C")
"""The harness's fake agencies as the scenarios name them."""

STATUS_NAMES: dict[str, str] = {
    "01": "01 (đã đến, arrived)",
    "02": "02 (từ chối, refused)",
    "03": "03 (đã tiếp nhận, accepted)",
    "04": "04 (phân công, assigned)",
    "05": "05 (đang xử lý, in progress)",
    "06": "06 (hoàn thành, completed)",
    "13": "13 (yêu cầu thu hồi, recall request)",
    "15": "15 (đồng ý thu hồi/cập nhật, agreed)",
    "16": "16 (từ chối thu hồi/cập nhật, refused)",
}

#: Urgency (độ khẩn) as the feature files name it.
PRIORITY_NAMES: dict[str, Priority] = {
    "thường": Priority.NORMAL,
    "khẩn": Priority.URGENT,
    "thượng khẩn": Priority.VERY_URGENT,
    "hỏa tốc": Priority.FLASH,
    "hỏa tốc hẹn giờ": Priority.FLASH_TIMED,
}

#: Steps that need a driver capability, by their text. A scenario with such a step is NOT APPLICABLE
#: up front when the SUT's driver lacks the capability (before it sends anything to the SUT).
STEP_CAPABILITIES: tuple[tuple[re.Pattern[str], Capability], ...] = (
    (re.compile(r"^the SUT's agency (sends|has sent) "), Capability.SEND),
    (re.compile(r"^the SUT's agency recalls "), Capability.RECALL),
    (re.compile(r"^the SUT's agency updates "), Capability.UPDATE),
    (re.compile(r"^the SUT's agency replaces "), Capability.REPLACE),
    (re.compile(r"^the SUT's clerk |a document that it completed$"), Capability.ADVANCE),
    (
        re.compile(r"^the SUT (reports|shows|no longer shows|still shows|holds) |reaches the SUT$"),
        Capability.QUERY,
    ),
    (re.compile(r"^the SUT has synchronised its clock"), Capability.SYNC_CLOCK),
    (
        re.compile(r"^a hub whose TLS certificate|^the SUT (connects to|is asked to connect to) that hub"),
        Capability.PROBE_HUB,
    ),
    (re.compile(r"^the SUT (has paused|resumes) its intake"), Capability.PAUSE_INTAKE),
)


def missing_capabilities(step_texts: Iterable[str], offered: frozenset[Capability]) -> list[Capability]:
    """The capabilities the steps need that the driver does not offer (in first-use order)."""
    missing: list[Capability] = []
    for text in step_texts:
        for pattern, capability in STEP_CAPABILITIES:
            if pattern.search(text) and capability not in offered and capability not in missing:
                missing.append(capability)
    return missing


#: A status that, once seen, means the awaited one will not come: fail at once instead of timing out.
_CONFLICTS: dict[StatusCode, frozenset[StatusCode]] = {
    StatusCode.REFUSED: frozenset({StatusCode.ACCEPTED}),
    StatusCode.ACCEPTED: frozenset({StatusCode.REFUSED}),
    StatusCode.RECALL_AGREED: frozenset({StatusCode.RECALL_REFUSED}),
    StatusCode.RECALL_REFUSED: frozenset({StatusCode.RECALL_AGREED}),
}
_counter = itertools.count(1)


def not_applicable(reason: str) -> NoReturn:
    """End the scenario as NOT APPLICABLE for this target, with the reason (never a silent skip)."""
    pytest.skip(f"{NA_PREFIX} {reason}")


def unique_subject(label: str) -> str:
    """A realistic trích yếu with a unique marker, so the harness can recognise the document."""
    marker = f"{label} #{next(_counter)}-{secrets.token_hex(3)}"
    return f"Về việc phối hợp triển khai văn bản điện tử — kiểm thử {marker}"


def describe_status(st: ReceivedStatus) -> str:
    stamp = format_iso(st.timestamp) if st.timestamp is not None else "no Timestamp"
    reason = f", Description «{st.description}»" if st.description else ", no Description"
    return (
        f"status {STATUS_NAMES.get(st.code.value, st.code.value)} from {st.from_code} "
        f"(Timestamp {stamp}, hub docId {st.hub_doc_id}, hub time {st.hub_time or '?'}{reason})"
    )


def hub_time_of(text: str) -> dt.datetime | None:
    """The hub's ``created_time`` of a delivery (ISO 8601, Vietnam time) as an aware datetime."""
    if not text:
        return None
    try:
        return parse_timestamp(text).value
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class Timing:
    status_timeout: float  # how long to wait for something the SUT must do
    skew_tolerance: float  # seconds a SUT timestamp may differ from the hub clock
    quiet: float  # how long to watch for something that must NOT happen (bounded negative waits)

    @classmethod
    def of(cls, target: SutTarget) -> Timing:
        t = target.timing
        quiet = min(3.0, max(0.25, t.status_timeout_s / 16))
        return cls(t.status_timeout_s, t.skew_tolerance_s, quiet)


@dataclass(slots=True)
class Outbound:
    """A document the SUT was asked to send, and what the harness saw of it."""

    request: OutgoingDocument
    ref: SentRef
    recipients: tuple[str, ...]  # letters of the fake agencies it was sent to
    received: dict[str, ReceivedDocument] = field(default_factory=dict)  # letter -> the first copy

    @property
    def document_id(self) -> str:
        return self.ref.document_id

    def package(self) -> ReceivedDocument:
        """The copy the first recipient received (the step that waited for it put it here)."""
        if not self.received:
            raise AssertionError("step order: wait for the document at a recipient first")
        return next(iter(self.received.values()))


@dataclass(slots=True)
class ScenarioState:
    """What steps of one scenario hand each other besides target fixtures."""

    inbound: SentDocument | None = None
    outbound: Outbound | None = None
    replacement: SentDocument | None = None
    new_outbound: Outbound | None = None
    normal_documents: list[SentDocument] = field(default_factory=list)
    urgent_document: SentDocument | None = None
    refused_requests: list[str] = field(default_factory=list)  # driver requests the SUT declined
    probe_url: str | None = None
    probe_connected: bool | None = None
    probe_detail: str = ""
    cleanups: list[Callable[[], object]] = field(default_factory=list)

    def document(self) -> SentDocument:
        if self.inbound is None:
            raise AssertionError("step order: no document was sent to the SUT in this scenario")
        return self.inbound


class Harness:
    """One scenario's view of the target: driver, fake agencies, hub, timing."""

    def __init__(
        self,
        target: SutTarget,
        *,
        label: str,
        evidence_start: int = 0,
        known_document_ids: set[str] | None = None,
        status_timeout: float | None = None,
    ) -> None:
        self.target = target
        self.label = label  # the scenario's TC ID (or node id), for subjects and evidence
        timing = Timing.of(target)
        if status_timeout is not None:
            timing = Timing(
                status_timeout, timing.skew_tolerance, min(timing.quiet, max(0.25, status_timeout / 8))
            )
        self.timing = timing
        # DocumentIds the harness sent this session: a status naming none of them answers nothing
        self.known_document_ids = known_document_ids if known_document_ids is not None else set()
        self.sut_agency = target.sut_agencies[0]
        info = target.info
        self.capabilities: frozenset[Capability] = info.capabilities if info is not None else frozenset()
        codes = target.harness_agencies[: len(LETTERS)]
        agencies = make_agencies(target.hub, codes, system_id=target.harness_system_id, behaviour=Behaviour())
        self.agencies: dict[str, FakeAgency] = dict(zip(LETTERS, agencies, strict=False))
        self.evidence_start = evidence_start  # hub evidence ids above this belong to this scenario

    def close(self) -> None:
        for agency in self.agencies.values():
            self.known_document_ids.update(d.document_id for d in agency.sent_documents())
            agency.close()

    # ----------------------------------------------------------------------------- accessors
    @property
    def driver(self) -> SutDriver:
        return self.target.driver

    def agency(self, letter: str) -> FakeAgency:
        try:
            return self.agencies[letter]
        except KeyError:
            raise AssertionError(
                f"the harness has agencies {', '.join(self.agencies)}; a step named agency {letter}"
            ) from None

    def code(self, letter: str) -> str:
        return self.agency(letter).code

    def require(self, *capabilities: Capability) -> None:
        """NOT APPLICABLE unless the SUT's driver offers every capability."""
        missing = [c.value for c in capabilities if c not in self.capabilities]
        if missing:
            not_applicable(
                f"the SUT's driver ({self.target.name}) does not offer {', '.join(missing)}; "
                "this scenario needs it (see simulator/sut/driver-openapi.json)"
            )

    def drive(self, requirement: str | Sequence[str], what: str, action: Callable[[], T]) -> T:
        """Run a driver operation: NotSupported → NOT APPLICABLE, DriverError → failure of ``requirement``."""
        try:
            return action()
        except NotSupported as exc:
            not_applicable(str(exc))
        except DriverError as exc:
            raise fail(
                requirement,
                expected=f"the SUT to {what}",
                actual=f"its driver answered: {exc}",
                evidence=self.hub_evidence(),
            ) from None

    # ----------------------------------------------------------------------------- evidence
    def hub_evidence(self, *, document_ids: Iterable[str] = (), hub_doc_ids: Iterable[str] = ()) -> list[str]:
        """Hub evidence rows of this scenario (for these documents when given) as plain lines."""
        docs = {d for d in document_ids if d}
        hubs = {d for d in hub_doc_ids if d}
        lines: list[str] = []
        for row in self.target.hub.evidence(since_id=self.evidence_start, limit=2000):
            detail = row.get("detail") or {}
            ids = set(row.get("doc_ids") or [])
            if (docs or hubs) and detail.get("document_id") not in docs and not (ids & hubs):
                continue
            if row.get("operation") in ("getReceivedEdocList", "countReceiveEdoc", "countReceiveStatus"):
                continue  # polling noise
            lines.append(_format_row(row))
        return lines[-40:]

    def evidence_for(self, sent: SentDocument | None = None, *, document_id: str | None = None) -> list[str]:
        """Mailbox lines of every fake agency plus the hub's rows for one document."""
        doc_id = document_id or (sent.document_id if sent is not None else None)
        lines: list[str] = []
        for agency in self.agencies.values():
            own = agency.mailbox.evidence(doc_id)
            lines += [line for line in own if "saw nothing at all" not in line]
        hub_ids = [sent.hub_doc_id] if sent is not None else []
        lines += self.hub_evidence(document_ids=[doc_id] if doc_id else [], hub_doc_ids=hub_ids)
        return lines

    def foreign_statuses(self, letter: str) -> list[str]:
        """Statuses the SUT sent to ``letter`` naming a DocumentId the harness never sent (a wrong
        ResponseFor, e.g. the hub's docId instead of the DocumentId)."""
        agency = self.agency(letter)
        known = self.known_document_ids | {
            d.document_id for a in self.agencies.values() for d in a.sent_documents()
        }
        return [
            f"{describe_status(st)} names ResponseFor/DocumentId «{st.response_for_document_id}», "
            "which no harness agency ever sent"
            for st in agency.received_statuses()
            if st.from_code in self.target.sut_agencies
            and st.code is not StatusCode.RECALL_REQUEST
            and st.response_for_document_id not in known
        ]

    # -------------------------------------------------------------------------------- waits
    def wait_status(
        self,
        letter: str,
        document_id: str,
        code: StatusCode,
        requirement: str | Sequence[str],
        *,
        sent: SentDocument | None = None,
    ) -> ReceivedStatus:
        """The first status ``code`` from the SUT's agencies about ``document_id`` at agency ``letter``.

        A conflicting status (03 when waiting for 02 …) fails at once; a timeout fails with the evidence.
        """
        conflicts = _CONFLICTS.get(code, frozenset({code}))
        wanted = {code, *conflicts}

        def probe() -> ReceivedStatus | None:
            found = next((s for s in self.statuses_from_sut(letter, document_id) if s.code in wanted), None)
            if found is None and code is not StatusCode.RECALL_REQUEST:
                foreign = self.foreign_statuses(letter)
                if foreign:  # the answer came, naming the wrong document: no need to wait any longer
                    raise fail(
                        ["QD28-14.2", "EDXML-STATUS"],
                        expected=f"status {STATUS_NAMES[code.value]} whose ResponseFor names {document_id}",
                        actual=foreign[0],
                        evidence=[*foreign[1:], *self.evidence_for(sent, document_id=document_id)],
                    )
            return found

        st = self.poll_until(
            probe,
            requirement,
            expected=f"status {STATUS_NAMES[code.value]} from {self.sut_agency} for {document_id} "
            f"within {self.timing.status_timeout:g} s",
            actual=lambda: self._seen_statuses(letter, document_id),
            evidence=lambda: self.evidence_for(sent, document_id=document_id),
            pump=(letter,),
        )
        if st.code is not code:
            raise fail(
                requirement,
                expected=f"status {STATUS_NAMES[code.value]} for {document_id}",
                actual=f"{describe_status(st)} came instead",
                evidence=self.evidence_for(sent, document_id=document_id),
            )
        return st

    def statuses_from_sut(self, letter: str, document_id: str) -> list[ReceivedStatus]:
        return [
            s
            for s in self.agency(letter).received_statuses(document_id)
            if s.from_code in self.target.sut_agencies
        ]

    def _seen_statuses(self, letter: str, document_id: str) -> str:
        seen = self.statuses_from_sut(letter, document_id)
        if not seen:
            return f"no status at all from the SUT for {document_id} within {self.timing.status_timeout:g} s"
        return "only " + "; ".join(describe_status(s) for s in seen)

    def assert_no_status(
        self,
        letter: str,
        document_id: str,
        codes: Iterable[StatusCode],
        requirement: str | Sequence[str],
        *,
        expected: str,
        sent: SentDocument | None = None,
    ) -> None:
        """Watch ``quiet`` seconds (bounded) for a status that must not come; fail when it does."""
        agency = self.agency(letter)
        wanted = frozenset(codes)
        already = [s for s in self.statuses_from_sut(letter, document_id) if s.code in wanted]
        if already:
            raise fail(
                requirement,
                expected=expected,
                actual=describe_status(already[0]),
                evidence=self.evidence_for(sent, document_id=document_id),
            )
        try:
            agency.assert_no_status(document_id, wanted, within=self.timing.quiet)
        except UnexpectedStatus as exc:
            raise fail(
                requirement,
                expected=expected,
                actual=describe_status(exc.status),
                evidence=self.evidence_for(sent, document_id=document_id),
            ) from None

    def wait_document(
        self,
        letter: str,
        predicate: Callable[[ReceivedDocument], bool],
        requirement: str | Sequence[str],
        *,
        expected: str,
        document_id: str | None = None,
    ) -> ReceivedDocument:
        agency = self.agency(letter)
        try:
            return agency.wait_for_document(predicate, self.timing.status_timeout, description=expected)
        except WaitTimeout as exc:
            raise fail(
                requirement,
                expected=f"{expected} within {self.timing.status_timeout:g} s",
                actual=f"nothing matching arrived at agency {letter} ({agency.code})",
                evidence=[
                    *exc.evidence,
                    *self.hub_evidence(document_ids=[document_id] if document_id else []),
                ],
            ) from None

    def settle(self, letter: str) -> None:
        """Let ``quiet`` seconds pass while agency ``letter`` keeps polling (bounded, event-driven)."""
        _quiet_poll(self.agency(letter), self.timing.quiet)

    def poll_until(
        self,
        probe: Callable[[], T | None],
        requirement: str | Sequence[str],
        *,
        expected: str,
        actual: Callable[[], str],
        evidence: Callable[[], list[str]] = list,
        timeout: float | None = None,
        pump: Sequence[str] = (),
    ) -> T:
        """Short-poll ``probe`` (a driver query, a hub listing …) until it returns non-None, bounded."""
        deadline = time.monotonic() + (self.timing.status_timeout if timeout is None else timeout)
        interval = 0.02
        while True:
            for letter in pump:
                agency = self.agency(letter)
                if not agency.polling_in_background:
                    agency.poll()
            value = probe()
            if value is not None:
                return value
            if time.monotonic() >= deadline:
                raise fail(requirement, expected=expected, actual=actual(), evidence=evidence())
            time.sleep(interval)  # a short poll interval between probes, not a fixed wait
            interval = min(0.1, interval * 1.25)


def _quiet_poll(agency: FakeAgency, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not agency.polling_in_background:
            agency.poll()
        time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))


def _format_row(row: dict[str, Any]) -> str:
    detail = row.get("detail") or {}
    parts = [f"hub {row.get('at', '?')}", f"{row.get('system') or 'anonymous'}", str(row.get("operation"))]
    parts.append(f"HTTP {row.get('http_status')} ErrorCode {row.get('error_code')}")
    if detail.get("document_id"):
        parts.append(f"DocumentId {detail['document_id']}")
    if detail.get("kind"):
        parts.append(str(detail["kind"]))
    if detail.get("from"):
        parts.append(f"from {detail['from']} to {', '.join(detail.get('to') or [])}")
    ids = row.get("doc_ids") or []
    if ids:
        parts.append("docIds " + ", ".join(ids[:4]) + (" …" if len(ids) > 4 else ""))
    if detail.get("duplicate_of"):
        parts.append(f"duplicate of {detail['duplicate_of']}")
    if detail.get("fault"):
        parts.append(f"injected fault {detail['fault']}")
    findings = row.get("findings") or []
    if findings:
        first = findings[0]
        parts.append(f"finding [{first.get('requirement')}] {first.get('message')}")
    return "; ".join(parts)
