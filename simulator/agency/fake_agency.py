"""Fake agencies: scriptable counterparts of a system under test, talking to the hub like any QLVB.

A :class:`FakeAgency` is one agency (an OrganId) of a connected system: it holds a certificate from
the test PKI, sends realistic signed documents (new, recall, update, replace; optionally signed with a
bad credential or mutated after signing), polls the hub (:meth:`FakeAgency.poll`, or a background
thread), checks what it receives (signature against the test CA, edXML structure, addressee) and
answers with business statuses as its :class:`~simulator.agency.behaviour.Behaviour` says. Everything
it sends and receives lands in its :class:`~simulator.agency.mailbox.Mailbox`, whose bounded waits fail
with the evidence.

Replies go through an outbox flushed in order at every polling round: a status the hub refused to take
(fault injection, outage) is retried at the next round, never dropped.

:func:`make_agencies` builds fake agencies for the agencies a hub's system hosts, with certificates
issued (once, then cached) by the hub's test CA.
"""

from __future__ import annotations

import copy
import hashlib
import re
import secrets
import threading
from collections import deque
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Literal, Protocol, Self, TypeVar

from faker import Faker

from simulator.agency.behaviour import Behaviour, Reply, advance_path, arrival_replies, recall_reply
from simulator.agency.client import VxpClient, VxpError, VxpTransportError
from simulator.agency.mailbox import (
    Mailbox,
    ReceivedDocument,
    ReceivedStatus,
    SentDocument,
    SentStatus,
)
from simulator.edxml.builder import build
from simulator.edxml.diagnostics import Diagnostic, Severity
from simulator.edxml.fake import describe_agency, edxml_provider, make_faker
from simulator.edxml.model import (
    Business,
    BusinessDocType,
    BusinessDocumentInfo,
    DocumentPackage,
    Organization,
    Priority,
    ReceiverChange,
    ReceiverType,
    ResponseFor,
    StatusCode,
    StatusHeader,
    StatusPackage,
    TraceHeader,
    TraceHeaderList,
)
from simulator.edxml.parser import parse
from simulator.edxml.samples import STATUS_DESCRIPTIONS, sample_document
from simulator.edxml.validator import Mode, validate
from simulator.edxml.vntime import now_vn
from simulator.pki.ca import CertVariant, Credential, KeyType, TestCA, organ_id_of
from simulator.pki.dsig import SignatureAlgorithm, SignaturePolicy, Verifier, VerifyResult, sign
from simulator.pki.trust import TrustStore

__all__ = [
    "AgencyHost",
    "BackgroundPoller",
    "FakeAgency",
    "PollRound",
    "ReceivedState",
    "agency_credential",
    "make_agencies",
]

_SIGNATURE_PATH = "/edXML/edXMLEnvelope/edXMLHeader/Signature"
_TO_PATH = "/edXML/edXMLEnvelope/edXMLHeader/MessageHeader/To"
_CONFORMING_CODE = re.compile(r"^\d{3}\.\d{2}\.\d{2}\.[A-Z]\d{2}$")
_MAX_ID_DRAWS = 50
_ISSUED: dict[str, set[str]] = {}
"""DocumentIds issued per agency code in this process, shared by every FakeAgency of that code: a
conformance run builds a new agency object per scenario, and a DocumentId drawn twice (same agency,
day and number) reads to the SUT as one document re-sent with other content."""
_NEXT_NUMBER: dict[str, int] = {}
"""The next CodeNumber per agency code in this process: documents are numbered in sequence, as a văn
thư register does, from a random start, so that two runs against a SUT that keeps its register (a
vendor's QLVB, the same day) draw overlapping numbers only when their starts fall within a run's
length of each other."""
_FIRST_NUMBER = (1_000, 90_000)
_ISSUED_LOCK = threading.Lock()


def _issued_ids(code: str) -> set[str]:
    with _ISSUED_LOCK:
        return _ISSUED.setdefault(code, set())


def _next_number(code: str) -> str:
    with _ISSUED_LOCK:
        number = _NEXT_NUMBER.get(code)
        if number is None:
            number = secrets.SystemRandom().randint(*_FIRST_NUMBER)  # not the seeded Faker: per run
        _NEXT_NUMBER[code] = number + 1
        return str(number)


_LIFECYCLE = frozenset(
    {
        StatusCode.ARRIVED,
        StatusCode.REFUSED,
        StatusCode.ACCEPTED,
        StatusCode.ASSIGNED,
        StatusCode.IN_PROGRESS,
        StatusCode.COMPLETED,
    }
)
if TYPE_CHECKING:  # agency code does not depend on the hub; only the factory's argument type names it
    from simulator.hub.config import HubConfig

_HubErrors = (VxpError, VxpTransportError)
_T = TypeVar("_T")


@dataclass(slots=True)
class PollRound:
    """What one polling round processed."""

    documents: list[ReceivedDocument] = field(default_factory=list)
    statuses: list[ReceivedStatus] = field(default_factory=list)
    replies: list[SentStatus] = field(default_factory=list)  # statuses this agency sent in answer
    errors: list[str] = field(default_factory=list)  # hub faults met (the round carried on)

    @property
    def empty(self) -> bool:
        return not (self.documents or self.statuses or self.replies)


@dataclass(frozen=True, slots=True)
class ReceivedState:
    """What this agency holds for a received document (a snapshot)."""

    document: ReceivedDocument
    status: StatusCode | None  # latest lifecycle status this agency sent (01…06)
    active: bool  # False once recalled (15 sent), replaced, or removed by an update
    recall_answer: StatusCode | None = None  # 15 / 16 when a recall/update request was answered


@dataclass(slots=True)
class _Held:
    document: ReceivedDocument
    status: StatusCode | None = None
    active: bool = True
    recall_answer: StatusCode | None = None

    def snapshot(self) -> ReceivedState:
        return ReceivedState(self.document, self.status, self.active, self.recall_answer)


@dataclass(frozen=True, slots=True)
class _Outgoing:
    response_for: ResponseFor
    reply: Reply
    to: tuple[str, ...]
    key: tuple[str, str]  # (DocumentId, sender) of the held document to update once sent
    deactivate: bool  # an agreement (15) takes the document back


class BackgroundPoller:
    """Polling rounds in a daemon thread until :meth:`stop`. Errors are recorded, never raised."""

    def __init__(self, agency: FakeAgency, interval: float) -> None:
        if interval <= 0:
            raise ValueError(f"interval must be a positive number of seconds, got {interval}")
        self.agency = agency
        self.interval = interval
        self.rounds = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"poll-{agency.code}", daemon=True)

    def start(self) -> Self:
        self._thread.start()
        return self

    @property
    def running(self) -> bool:
        return self._thread.is_alive() and not self._stop.is_set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.agency.poll()
            except Exception as exc:  # a poller must outlive a bug in one round; the mailbox shows it
                self.agency.mailbox.add_errors(
                    now_vn(), [f"polling round failed: {type(exc).__name__}: {exc}"]
                )
            self.rounds += 1
            self._stop.wait(self.interval)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the current round; TimeoutError if the thread is still busy after ``timeout``."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise TimeoutError(
                    f"the background poller of {self.agency.code} did not stop within {timeout:g} s "
                    "(a hub call is hanging; the client's timeout bounds it)"
                )
        self.agency._poller_stopped(self)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class FakeAgency:
    """One simulated agency on the hub; see the module docstring."""

    def __init__(
        self,
        organization: Organization,
        client: VxpClient,
        credential: Credential,
        trust: TrustStore,
        *,
        behaviour: Behaviour | None = None,
        clock: Callable[[], datetime] | None = None,
        fake: Faker | None = None,
        directory: Mapping[str, Organization] | None = None,
    ) -> None:
        """``clock``: the time written into packages (default: Vietnam now). ``directory``: names of
        other agencies, for the To elements of documents sent to them."""
        if not organization.organ_id:
            raise ValueError("the agency's Organization needs an organ_id (its agency code, QD28-10.2.a)")
        self.organization = organization
        self.client = client
        self.credential = credential
        self.trust = trust
        self._behaviour = behaviour if behaviour is not None else Behaviour()
        self._clock = clock or now_vn
        self._fake = fake if fake is not None else make_faker()
        self._provider = edxml_provider(self._fake)
        self._directory = dict(directory or {})
        self.mailbox = Mailbox(organization.organ_id)
        self._verifiers = {
            required: Verifier(trust, SignaturePolicy(require_signature=required))
            for required in (True, False)
        }
        self._lock = threading.RLock()  # held documents, outbox, seen ids
        self._poll_lock = threading.Lock()  # one polling round at a time
        self._held: dict[tuple[str, str], _Held] = {}
        self._outbox: deque[_Outgoing] = deque()
        self._seen: set[str] = set()
        self._unacked: dict[str, Literal["done", "fail"]] = {}
        self._used_ids = _issued_ids(organization.organ_id)  # shared per code, under _ISSUED_LOCK
        self._digests: dict[str, str] = {}  # sha256 of a received package → its first hub docId
        self._poller: BackgroundPoller | None = None

    def __repr__(self) -> str:
        return f"FakeAgency({self.code!r}, system={self.client.system_id!r}, {self._behaviour!r})"

    @property
    def code(self) -> str:
        return self.organization.organ_id

    @property
    def behaviour(self) -> Behaviour:
        return self._behaviour

    @behaviour.setter
    def behaviour(self, value: Behaviour) -> None:
        if not isinstance(value, Behaviour):
            raise TypeError(f"behaviour must be a Behaviour, not {type(value).__name__}")
        self._behaviour = value

    def close(self) -> None:
        """Stop the background poller (if any) and close the hub client."""
        poller = self._poller
        if poller is not None:
            poller.stop()
        self.client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # ================================================================================== sending

    def send(
        self,
        to: Sequence[str],
        *,
        priority: Priority = Priority.NORMAL,
        attachments: int = 1,
        attachment_size: int = 20_000,
        sign: bool = True,
        business: BusinessDocType = BusinessDocType.NEW,
        original: SentDocument | ReceivedDocument | None = None,
        package: DocumentPackage | None = None,
        mutate: Callable[[bytes], bytes] | None = None,
        credential: Credential | None = None,
        algorithm: SignatureAlgorithm | None = None,
        subject: str | None = None,
    ) -> SentDocument:
        """Build (or take ``package``), sign, optionally mutate, and send a document to ``to``.

        ``original``: the document a recall/update/replace is about, or that a new document answers
        (ResponseFor). ``credential``: sign with it instead of the agency's own (e.g. an expired one).
        ``mutate``: applied to the signed bytes (tamper, drop an attachment, change an addressee).
        VxpError / VxpTransportError when the hub refuses or cannot be reached.
        """
        codes = _codes(to, "to")
        business = BusinessDocType(business)
        if package is None:
            package = self._new_package(
                codes,
                priority=priority,
                attachments=attachments,
                attachment_size=attachment_size,
                business=business,
                original_document_id=original.document_id if original is not None else None,
                subject=subject,
            )
        return self._upload(
            package, codes, sign=sign, mutate=mutate, credential=credential, algorithm=algorithm
        )

    def draft(
        self,
        to: Sequence[str],
        *,
        attachments: int = 1,
        attachment_size: int = 20_000,
        subject: str | None = None,
    ) -> DocumentPackage:
        """A new document of this agency addressed to ``to`` (codes), not sent: edit it, then
        :meth:`send` it with ``package=``. Its DocumentId is one this agency never issued before."""
        return self._new_package(
            _codes(to, "to"),
            priority=Priority.NORMAL,
            attachments=attachments,
            attachment_size=attachment_size,
            business=BusinessDocType.NEW,
            original_document_id=None,
            subject=subject,
        )

    def recall(
        self, sent: SentDocument, *, form: Literal["package", "status"] = "package", reason: str
    ) -> str:
        """Ask the receivers to take ``sent`` back (QD28-8.2): a BussinessDocType 1 package reusing its
        DocumentId (``form="package"``) or a status 13 (``form="status"``). Returns the hub DocId."""
        reason = _reason(reason, "recall")
        if form == "package":
            model = copy.deepcopy(sent.model)
            model.trace = self._trace(
                Business(
                    document_id=sent.document_id,
                    business_doc_type=BusinessDocType.RECALL,
                    business_doc_reason=reason,
                    paper=0,
                    staff_info=self._provider.staff(self.organization),
                )
            )
            return self._upload(model, None).hub_doc_id
        if form == "status":
            recipients = _to_codes(sent.model)
            rf = _response_for(sent.model)
            return self._send_status_package(rf, StatusCode.RECALL_REQUEST, reason, recipients).hub_doc_id
        raise ValueError(f"recall form must be 'package' or 'status', got {form!r}")

    def update(
        self,
        sent: SentDocument,
        *,
        subject: str | None = None,
        add: Sequence[str] = (),
        remove: Sequence[str] = (),
        reason: str,
    ) -> SentDocument:
        """Send an update (BussinessDocType 2) of ``sent``: new subject and/or recipients added/removed."""
        reason = _reason(reason, "update")
        add_codes = _codes(add, "add", allow_empty=True)
        remove_codes = _codes(remove, "remove", allow_empty=True)
        if subject is None and not add_codes and not remove_codes:
            raise ValueError(
                "an update changes something: give a new subject, recipients to add or to remove"
            )
        current = _to_codes(sent.model)
        unknown = [c for c in remove_codes if c not in current]
        if unknown:
            raise ValueError(
                f"cannot remove {', '.join(unknown)}: not a recipient of {sent.document_id} "
                f"(recipients: {', '.join(current)})"
            )
        already = [c for c in add_codes if c in current]
        if already:
            raise ValueError(f"cannot add {', '.join(already)}: already a recipient of {sent.document_id}")
        model = copy.deepcopy(sent.model)
        if subject is not None:
            model.header.subject = subject
        model.header.to = [o for o in model.header.to if o.organ_id not in remove_codes]
        model.header.to += [self._organization_of(c) for c in add_codes]
        if not model.header.to:
            raise ValueError("an update cannot remove every recipient; recall the document instead")
        changes = [ReceiverChange(c, ReceiverType.ADDED) for c in add_codes]
        changes += [ReceiverChange(c, ReceiverType.REMOVED) for c in remove_codes]
        model.trace = self._trace(
            Business(
                document_id=sent.document_id,
                business_doc_type=BusinessDocType.UPDATE,
                business_doc_reason=reason,
                paper=0,
                staff_info=self._provider.staff(self.organization),
                document_info=BusinessDocumentInfo(
                    document_info=subject is not None,
                    document_receiver=bool(changes),
                    receivers=changes,
                ),
            )
        )
        return self._upload(model, None)

    def replace(self, sent: SentDocument, *, reason: str, subject: str | None = None) -> SentDocument:
        """Send a new document replacing ``sent`` (BussinessDocType 3) to the same recipients."""
        reason = _reason(reason, "replace")
        model = self._new_package(
            _to_codes(sent.model),
            priority=sent.model.header.priority,
            attachments=max(1, len(sent.model.attachments)),
            attachment_size=20_000,
            business=BusinessDocType.REPLACE,
            original_document_id=sent.document_id,
            subject=subject,
        )
        assert model.trace is not None and model.trace.business is not None
        model.trace.business.business_doc_reason = reason
        return self._upload(model, None)

    def send_status(
        self, document: ReceivedDocument, code: StatusCode | str, description: str | None = None
    ) -> str:
        """Send status ``code`` about a received document to its sender; returns the hub DocId.

        No order check: a scenario may send an illegal status on purpose (the hub judges it).
        """
        if document.model is None:
            raise ValueError(
                f"hub docId {document.hub_doc_id} could not be read as a document package; no status can "
                "name it in ResponseFor (EDXML-STATUS)"
            )
        code = StatusCode(code)
        rf = _response_for(document.model)
        key = (rf.document_id, rf.organ_id)
        sent = self._send_status_package(rf, code, description, (rf.organ_id,))
        self._note_sent(key, code)
        return sent.hub_doc_id

    def advance(
        self, document: ReceivedDocument, target: StatusCode | str, description: str | None = None
    ) -> list[str]:
        """Move a received document forward to ``target`` (03…06), sending every step; hub DocIds."""
        if document.model is None:
            raise ValueError(f"hub docId {document.hub_doc_id} is not a readable document; it cannot advance")
        state = self.state(document.document_id, sender=document.from_code)
        path = advance_path(state.status if state is not None else None, StatusCode(target))
        return [self.send_status(document, code, description if code is path[-1] else None) for code in path]

    # ================================================================================ receiving

    def poll(self) -> PollRound:
        """One polling round: flush pending replies, take documents then statuses, answer, acknowledge.

        Hub faults do not raise: they are listed in :attr:`PollRound.errors` (and the mailbox), and what
        was not fetched, answered or acknowledged is retried at the next round.
        """
        with self._poll_lock:
            result = PollRound()
            self._flush(result)
            self._take("edoc", result)
            self._take("status", result)
            self._flush(result)
            if result.errors:
                self.mailbox.add_errors(now_vn(), result.errors)
            return result

    def run_in_background(self, interval: float = 0.02) -> BackgroundPoller:
        """Start polling rounds in a thread every ``interval`` seconds; ``handle.stop()`` ends them."""
        with self._lock:
            if self._poller is not None and self._poller.running:
                raise RuntimeError(
                    f"{self.code} is already polling in the background; stop that poller first"
                )
            self._poller = BackgroundPoller(self, interval)
            return self._poller.start()

    def _poller_stopped(self, poller: BackgroundPoller) -> None:
        with self._lock:
            if self._poller is poller:
                self._poller = None

    @property
    def polling_in_background(self) -> bool:
        poller = self._poller
        return poller is not None and poller.running

    # ------------------------------------------------------------------------------ mailbox API

    def received_documents(self) -> list[ReceivedDocument]:
        return self.mailbox.documents()

    def received_statuses(self, document_id: str | None = None) -> list[ReceivedStatus]:
        return self.mailbox.statuses(document_id)

    def sent_documents(self) -> list[SentDocument]:
        return self.mailbox.sent_documents()

    def state(self, document_id: str, *, sender: str | None = None) -> ReceivedState | None:
        """What this agency holds for a received DocumentId (from ``sender`` when several sent it)."""
        with self._lock:
            for (doc_id, from_code), held in self._held.items():
                if doc_id == document_id and (sender is None or from_code == sender):
                    return held.snapshot()
        return None

    def _pump(self) -> Callable[[], object] | None:
        return None if self.polling_in_background else self.poll

    def wait_for_status(
        self,
        document_id: str,
        code: StatusCode | str | Collection[StatusCode | str],
        *,
        from_: str | None = None,
        timeout: float,
    ) -> ReceivedStatus:
        """The first status received for ``document_id`` with ``code`` (one or a set), from ``from_``.

        Polls the hub itself unless a background poller runs. :class:`~simulator.agency.mailbox.WaitTimeout`
        lists what was seen for the document (hub DocIds, timestamps) when it does not come in time.
        """
        return self.mailbox.wait_for_status(
            document_id, code, from_=from_, timeout=timeout, pump=self._pump()
        )

    def wait_for_document(
        self,
        predicate: Callable[[ReceivedDocument], bool],
        timeout: float,
        *,
        description: str = "a matching document",
    ) -> ReceivedDocument:
        return self.mailbox.wait_for_document(
            predicate, timeout=timeout, pump=self._pump(), description=description
        )

    def wait_until(self, condition: Callable[[], _T], *, timeout: float, description: str) -> _T:
        """Wait (bounded, polling like :meth:`wait_for_status`) until ``condition()`` is truthy; return it.

        :class:`~simulator.agency.mailbox.WaitTimeout` names ``description`` and lists all evidence.
        """

        def match() -> _T | None:
            value = condition()
            return value if value else None

        return self.mailbox.wait_for(
            match,
            timeout=timeout,
            pump=self._pump(),
            waited_for=f"{description} at {self.code}",
            evidence=lambda: self.mailbox.evidence(None),
        )

    def assert_no_status(
        self,
        document_id: str,
        code: StatusCode | str | Collection[StatusCode | str],
        *,
        within: float,
        from_: str | None = None,
    ) -> None:
        """Bounded negative wait; :class:`~simulator.agency.mailbox.UnexpectedStatus` when one comes."""
        self.mailbox.assert_no_status(document_id, code, within=within, from_=from_, pump=self._pump())

    # ============================================================================== internals

    def _organization_of(self, code: str) -> Organization:
        known = self._directory.get(code)
        if known is not None:
            return copy.copy(known)
        info = describe_agency(code)
        return Organization(organ_id=code, organ_name=info.name if info is not None else f"Cơ quan {code}")

    def _trace(self, business: Business) -> TraceHeaderList:
        return TraceHeaderList(trace_headers=[TraceHeader(self._clock(), self.code)], business=business)

    def _new_package(
        self,
        to: Sequence[str],
        *,
        priority: Priority,
        attachments: int,
        attachment_size: int,
        business: BusinessDocType,
        original_document_id: str | None,
        subject: str | None,
    ) -> DocumentPackage:
        fresh_id = business in (BusinessDocType.NEW, BusinessDocType.REPLACE)
        for _ in range(_MAX_ID_DRAWS):
            package = sample_document(
                self._fake,
                sender=copy.copy(self.organization),
                recipients=[self._organization_of(c) for c in to],
                priority=Priority(priority),
                attachments=attachments,
                attachment_size=attachment_size,
                business=business,
                original_document_id=original_document_id,
                at=self._clock(),
                number=_next_number(self.code) if fresh_id else None,
            )
            with _ISSUED_LOCK:
                if not fresh_id or package.header.document_id not in self._used_ids:
                    self._used_ids.add(package.header.document_id)
                    break
        else:  # pragma: no cover - 8000 numbers × several notations per day
            raise RuntimeError(f"{self.code} could not draw an unused DocumentId in {_MAX_ID_DRAWS} tries")
        if subject is not None:
            package.header.subject = subject
        return package

    def _upload(
        self,
        package: DocumentPackage,
        to: Sequence[str] | None,
        *,
        sign: bool = True,
        mutate: Callable[[bytes], bytes] | None = None,
        credential: Credential | None = None,
        algorithm: SignatureAlgorithm | None = None,
    ) -> SentDocument:
        data = build(package)
        if sign:
            data = _sign(data, credential or self.credential, algorithm)
        if mutate is not None:
            data = mutate(data)
        hub_doc_id = self.client.send_edoc(data, from_=self.code, to=list(to) if to is not None else None)
        with _ISSUED_LOCK:
            self._used_ids.add(package.header.document_id)
        sent = SentDocument(
            document_id=package.header.document_id,
            hub_doc_id=hub_doc_id,
            package_bytes=data,
            model=package,
            sent_at=now_vn(),
            from_code=self.code,
            to=tuple(to) if to is not None else tuple(_to_codes(package)),
            business=package.business_doc_type,
        )
        self.mailbox.add_sent(sent)
        return sent

    def _status_package(self, rf: ResponseFor, code: StatusCode, description: str | None) -> StatusPackage:
        return StatusPackage(
            StatusHeader(
                from_=copy.copy(self.organization),
                response_for=copy.copy(rf),
                status_code=code,
                timestamp=self._clock(),
                description=description if description is not None else STATUS_DESCRIPTIONS[code],
                staff_info=self._provider.staff(self.organization),
            )
        )

    def _send_status_package(
        self, rf: ResponseFor, code: StatusCode, description: str | None, to: Sequence[str]
    ) -> SentStatus:
        package = self._status_package(rf, code, description)
        data = build(package)
        if self._behaviour.sign_statuses:
            data = _sign(data, self.credential, None)
        hub_doc_id = self.client.send_edoc(data, from_=self.code, messagetype="status", to=list(to))
        sent = SentStatus(
            document_id=rf.document_id,
            code=code,
            description=package.header.description,
            to=tuple(to),
            hub_doc_id=hub_doc_id,
            sent_at=now_vn(),
            package_bytes=data,
        )
        self.mailbox.add_sent_status(sent)
        return sent

    def _note_sent(self, key: tuple[str, str], code: StatusCode, *, deactivate: bool = True) -> None:
        with self._lock:
            held = self._held.get(key)
            if held is None:
                return
            if code in _LIFECYCLE:
                held.status = code
            elif code in (StatusCode.RECALL_AGREED, StatusCode.RECALL_REFUSED):
                held.recall_answer = code
                if code is StatusCode.RECALL_AGREED and deactivate:
                    held.active = False

    def _queue(
        self, rf: ResponseFor, replies: Sequence[Reply], key: tuple[str, str], *, deactivate: bool = True
    ) -> None:
        with self._lock:
            self._outbox.extend(_Outgoing(rf, reply, (rf.organ_id,), key, deactivate) for reply in replies)

    def _flush(self, result: PollRound) -> None:
        """Send queued replies in order; stop at the first hub fault (retried next round)."""
        while True:
            with self._lock:
                if not self._outbox:
                    return
                item = self._outbox[0]
            try:
                sent = self._send_status_package(
                    item.response_for, item.reply.code, item.reply.description, item.to
                )
            except _HubErrors as exc:
                result.errors.append(
                    f"status {item.reply.code.value} for {item.response_for.document_id} not sent yet: {exc}"
                )
                return
            with self._lock:
                self._outbox.popleft()
            self._note_sent(item.key, item.reply.code, deactivate=item.deactivate)
            result.replies.append(sent)

    def _take(self, messagetype: Literal["edoc", "status"], result: PollRound) -> None:
        try:
            items = self.client.get_received_edoc_list(messagetype)
        except _HubErrors as exc:
            result.errors.append(f"listing received {messagetype} failed: {exc}")
            return
        for item in items:
            if item.get("to", self.code) != self.code:
                continue  # another agency of the same system
            hub_doc_id = item["docId"]
            with self._lock:
                seen = hub_doc_id in self._seen
            if seen:
                self._retry_ack(hub_doc_id, result)
                continue
            try:
                raw = self.client.get_edoc(hub_doc_id)
            except _HubErrors as exc:
                result.errors.append(
                    f"fetching {messagetype} {hub_doc_id} failed (retried next round): {exc}"
                )
                continue
            meta = (str(item.get("from", "")), str(item.get("created_time", "")))
            if messagetype == "edoc":
                outcome = self._receive_document(hub_doc_id, raw, meta, result)
            else:
                outcome = self._receive_status(hub_doc_id, raw, meta, result)
            with self._lock:
                self._seen.add(hub_doc_id)
                if self._behaviour.acknowledge:
                    self._unacked[hub_doc_id] = outcome
            self._retry_ack(hub_doc_id, result)

    def _retry_ack(self, hub_doc_id: str, result: PollRound) -> None:
        with self._lock:
            outcome = self._unacked.get(hub_doc_id)
        if outcome is None:
            return
        try:
            self.client.update_status(hub_doc_id, outcome)
        except _HubErrors as exc:
            result.errors.append(
                f"acknowledging {hub_doc_id} as {outcome} failed (retried next round): {exc}"
            )
            return
        with self._lock:
            self._unacked.pop(hub_doc_id, None)

    # ------------------------------------------------------------------------------- documents

    def _verifier(self) -> Verifier:
        return self._verifiers[self._behaviour.require_signature]

    def _check(
        self, model: DocumentPackage, raw: bytes, parsed: list[Diagnostic]
    ) -> tuple[VerifyResult, list[Diagnostic], str | None]:
        """Signature, signer, structure, addressee: the diagnostics and the first reason to refuse."""
        diagnostics = list(parsed)
        problems: list[str] = []
        verdict = self._verifier().verify(raw)
        if not verdict.ok:
            diagnostics.append(
                Diagnostic(Severity.ERROR, _SIGNATURE_PATH, verdict.requirement, verdict.message)
            )
            problems.append(f"{verdict.message} [{verdict.requirement}]")
        elif verdict.signer_certificate is not None:
            signer = organ_id_of(verdict.signer_certificate)
            sender = model.header.from_.organ_id
            if signer and _CONFORMING_CODE.match(signer) and signer != sender:
                message = (
                    f"the document is signed with the certificate of agency {signer} "
                    f"({verdict.signer_subject}), not of its sender {sender}; the origin is not authentic"
                )
                diagnostics.append(Diagnostic(Severity.ERROR, _SIGNATURE_PATH, "QD28-6.1", message))
                problems.append(f"{message} [QD28-6.1]")
        found = validate(model, mode=Mode.LENIENT)
        diagnostics.extend(found)
        errors = [d for d in [*parsed, *found] if d.severity is Severity.ERROR]
        if errors:
            more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
            first = errors[0]
            problems.append(f"{first.path}: {first.message} [{first.requirement}]{more}")
        addressees = _to_codes(model)
        business = model.trace.business if model.trace is not None else None
        if business is not None and business.document_info is not None:
            addressees += [r.organ_id for r in business.document_info.receivers]
        if self.code not in addressees:
            message = (
                f"the package is not addressed to {self.code}: its To lists "
                f"{', '.join(_to_codes(model)) or 'nobody'}"
            )
            diagnostics.append(Diagnostic(Severity.ERROR, _TO_PATH, "QD28-9.1", message))
            problems.append(f"{message} [QD28-9.1]")
        reason = f"Từ chối tiếp nhận: {problems[0]}" if problems else None
        return verdict, diagnostics, reason

    def _receive_document(
        self, hub_doc_id: str, raw: bytes, meta: tuple[str, str], result: PollRound
    ) -> Literal["done", "fail"]:
        from_item, hub_time = meta
        parsed = parse(raw)
        model = parsed.package if isinstance(parsed.package, DocumentPackage) else None
        if model is None:
            diagnostics = list(parsed.diagnostics)
            if isinstance(parsed.package, StatusPackage):
                diagnostics.append(
                    Diagnostic(
                        Severity.ERROR,
                        "/",
                        "VXP-ROUTE",
                        "a status package was delivered as a document (edoc)",
                    )
                )
            doc = ReceivedDocument(
                hub_doc_id,
                "",
                None,
                raw,
                None,
                tuple(diagnostics),
                from_item,
                received_at=now_vn(),
                hub_time=hub_time,
            )
            self.mailbox.add_document(doc)
            result.documents.append(doc)
            first = next((d for d in diagnostics if d.severity is Severity.ERROR), None)
            result.errors.append(
                f"hub docId {hub_doc_id} is not a readable document package"
                + (f": {first.message}" if first is not None else "")
            )
            return "fail"
        header = model.header
        sender = header.from_.organ_id
        btype = model.business_doc_type
        earlier = self._first_copy(raw, hub_doc_id, (header.document_id, sender), btype)
        if earlier is not None:  # the hub delivered it again (SDK retry, fault): record, do not answer twice
            doc = ReceivedDocument(
                hub_doc_id,
                header.document_id,
                model,
                raw,
                None,
                tuple(parsed.diagnostics),
                sender,
                btype,
                now_vn(),
                hub_time,
                duplicate_of=earlier,
            )
            self.mailbox.add_document(doc)
            result.documents.append(doc)
            return "done"
        behaviour = self._behaviour
        if behaviour.verify:
            verdict: VerifyResult | None
            verdict, diagnostics, problem = self._check(model, raw, parsed.diagnostics)
        else:
            verdict, diagnostics, problem = None, list(parsed.diagnostics), None
        business = model.trace.business if model.trace is not None else None
        about = (business.document_id.strip() if business is not None else "") or header.document_id
        changes = business.document_info.receivers if business is not None and business.document_info else []
        added = any(r.organ_id == self.code and r.receiver_type is ReceiverType.ADDED for r in changes)
        removed = any(r.organ_id == self.code and r.receiver_type is ReceiverType.REMOVED for r in changes)
        with self._lock:
            known = self._held.get((about, sender))
        arrival = btype in (BusinessDocType.NEW, BusinessDocType.REPLACE) or (
            btype is BusinessDocType.UPDATE and known is None and added
        )
        rf = _response_for(model)
        if arrival:
            replies = arrival_replies(behaviour, problem)
            key = (header.document_id, sender)
        else:
            # recall (1) or update (2) of a document: answered 15/16 (QD28-9.2.b)
            rf.document_id = about
            key = (about, sender)
            if problem is not None:
                replies = [Reply(StatusCode.RECALL_REFUSED, problem)]
            else:
                answer = recall_reply(behaviour, known.status if known else None, known=known is not None)
                replies = [answer] if answer is not None else []
        refusal = next(
            (r.description for r in replies if r.code in (StatusCode.REFUSED, StatusCode.RECALL_REFUSED)),
            None,
        )
        doc = ReceivedDocument(
            hub_doc_id=hub_doc_id,
            document_id=header.document_id,
            model=model,
            raw=raw,
            verify_result=verdict,
            diagnostics=tuple(diagnostics),
            from_code=sender,
            business=btype,
            received_at=now_vn(),
            hub_time=hub_time,
            refusal=refusal,
        )
        agreed = bool(replies) and replies[0].code is StatusCode.RECALL_AGREED
        with self._lock:
            if arrival:
                self._held[key] = _Held(doc)
                if btype is BusinessDocType.REPLACE and problem is None and business is not None:
                    for info in business.replacements:
                        replaced = self._held.get((info.document_id, sender))
                        if replaced is not None:
                            replaced.active = False
            elif known is not None and btype is BusinessDocType.UPDATE and agreed:
                known.document = doc  # the updated metadata and recipients
        self.mailbox.add_document(doc)
        result.documents.append(doc)
        # an agreed recall takes the document back; an agreed update only if it removes this agency
        deactivate = btype is BusinessDocType.RECALL or (btype is BusinessDocType.UPDATE and removed)
        self._queue(rf, replies, key, deactivate=deactivate)
        return "done"

    def _first_copy(
        self, raw: bytes, hub_doc_id: str, key: tuple[str, str] | None, btype: BusinessDocType | None
    ) -> str | None:
        """The hub docId of an earlier copy of this package (same bytes, or the same new DocumentId from
        the same sender), else None (and this one is remembered)."""
        digest = hashlib.sha256(raw).hexdigest()
        with self._lock:
            first = self._digests.get(digest)
            if first is None and key is not None and btype in (BusinessDocType.NEW, BusinessDocType.REPLACE):
                held = self._held.get(key)
                first = held.document.hub_doc_id if held is not None else None
            if first is None:
                self._digests[digest] = hub_doc_id
            return first

    # -------------------------------------------------------------------------------- statuses

    def _receive_status(
        self, hub_doc_id: str, raw: bytes, meta: tuple[str, str], result: PollRound
    ) -> Literal["done", "fail"]:
        from_item, hub_time = meta
        parsed = parse(raw)
        model = parsed.package
        if not isinstance(model, StatusPackage):
            first = next((d for d in parsed.diagnostics if d.severity is Severity.ERROR), None)
            result.errors.append(
                f"hub docId {hub_doc_id} (from {from_item or '?'}) is not a readable status package"
                + (f": {first.message}" if first is not None else "")
            )
            return "fail"
        header = model.header
        earlier = self._first_copy(raw, hub_doc_id, None, None)
        status = ReceivedStatus(
            hub_doc_id=hub_doc_id,
            code=header.status_code,
            description=header.description,
            from_code=header.from_.organ_id or from_item,
            response_for_document_id=header.response_for.document_id,
            timestamp=header.timestamp,
            received_at=now_vn(),
            raw=raw,
            model=model,
            response_for_organ_id=header.response_for.organ_id,
            hub_time=hub_time,
            duplicate_of=earlier,
        )
        self.mailbox.add_status(status)
        result.statuses.append(status)
        if header.status_code is StatusCode.RECALL_REQUEST and earlier is None:
            key = (header.response_for.document_id, header.response_for.organ_id)
            with self._lock:
                known = self._held.get(key)
            answer = recall_reply(
                self._behaviour, known.status if known is not None else None, known=known is not None
            )
            if answer is not None:
                model = known.document.model if known is not None else None
                rf = _response_for(model) if model is not None else copy.copy(header.response_for)
                self._queue(rf, [answer], key)
        return "done"


# ==================================================================================== helpers


def _sign(data: bytes, credential: Credential, algorithm: SignatureAlgorithm | None) -> bytes:
    return sign(data, credential, algorithm=algorithm)


def _codes(values: Sequence[str], what: str, *, allow_empty: bool = False) -> list[str]:
    if isinstance(values, str):
        raise TypeError(f"{what} must be a list of agency codes, not one string {values!r}")
    codes = [str(v).strip() for v in values]
    if not allow_empty and not codes:
        raise ValueError(f"{what}: give at least one agency code")
    if any(not c for c in codes):
        raise ValueError(f"{what}: an agency code is empty")
    if len(set(codes)) != len(codes):
        raise ValueError(f"{what}: an agency code is listed twice ({', '.join(codes)}); see EDXML-DUPTO")
    return codes


def _reason(reason: str, what: str) -> str:
    if not reason or not reason.strip():
        raise ValueError(f"a {what} needs a reason (BussinessDocReason / Description); give a non-empty one")
    return reason


def _to_codes(model: DocumentPackage) -> list[str]:
    return [o.organ_id for o in model.header.to]


def _response_for(model: DocumentPackage) -> ResponseFor:
    h = model.header
    return ResponseFor(
        organ_id=h.from_.organ_id,
        document_id=h.document_id,
        code=str(h.code) if h.code is not None else None,
        promulgation_date=h.promulgation_info.promulgation_date if h.promulgation_info is not None else None,
    )


# ============================================================================ credentials, factory

_credential_cache: dict[tuple[str, str], Credential] = {}
_credential_lock = threading.Lock()


def agency_credential(
    ca: TestCA, code: str, *, variant: CertVariant = CertVariant.GOOD, key_type: KeyType = "rsa"
) -> Credential:
    """The signing credential of agency ``code`` from ``ca`` (issued on first use, cached per process).

    ``variant`` gives the bad ones for negative scenarios (expired, revoked, untrusted, …), each under
    its own name so that the good one stays usable.
    """
    variant = CertVariant(variant)
    name = f"fake-{code}"
    if variant is not CertVariant.GOOD:
        name += f"-{variant.value}"
    if key_type != "rsa":
        name += f"-{key_type}"
    key = (str(Path(ca.directory).resolve()), name)
    with _credential_lock:
        cached = _credential_cache.get(key)
    if cached is not None:
        return cached
    credential = ca.issue(
        name,
        organ_id=code,
        common_name=f"Văn thư {code} (mô phỏng)",
        key_type=key_type,
        variant=variant,
    )
    with _credential_lock:
        return _credential_cache.setdefault(key, credential)


class AgencyHost(Protocol):
    """What :func:`make_agencies` needs from a hub (``simulator.hub.embedded.EmbeddedHub`` has it)."""

    @property
    def ca(self) -> TestCA: ...

    @property
    def config(self) -> HubConfig: ...

    def client(self, system_id: str, *, timeout: float = ...) -> VxpClient: ...


def _directory(config: HubConfig) -> dict[str, Organization]:
    return {
        a.code: Organization(organ_id=a.code, organ_name=a.name, email=a.mail or None)
        for a in config.agencies
    }


def make_agencies(
    hub: AgencyHost,
    codes: Sequence[str],
    *,
    system_id: str,
    behaviour: Behaviour | None = None,
    timeout: float = 5.0,
    seed: int | None = None,
    clock: Callable[[], datetime] | None = None,
) -> list[FakeAgency]:
    """Fake agencies for ``codes``, all hosted by ``system_id`` on ``hub``; each has its own client.

    ValueError naming the hosted agencies when a code is not hosted by that system.
    """
    config = hub.config
    system = config.system(system_id)
    if system is None:
        known = ", ".join(s.id for s in config.systems) or "none"
        raise ValueError(f"the hub has no system {system_id!r} (systems: {known})")
    codes = _codes(codes, "codes")
    missing = [c for c in codes if c not in system.agencies]
    if missing:
        raise ValueError(
            f"system {system_id} does not host {', '.join(missing)} (it hosts {', '.join(system.agencies)}); "
            "add the agencies to that system first (EmbeddedHub.add_system)"
        )
    directory = _directory(config)
    trust = hub.ca.trust_store()
    agencies: list[FakeAgency] = []
    for i, code in enumerate(codes):
        organization = copy.copy(directory[code]) if code in directory else Organization(organ_id=code)
        agencies.append(
            FakeAgency(
                organization,
                hub.client(system_id, timeout=timeout),
                agency_credential(hub.ca, code),
                trust,
                behaviour=behaviour,
                clock=clock,
                fake=make_faker(seed + i if seed is not None else None),
                directory=directory,
            )
        )
    return agencies
