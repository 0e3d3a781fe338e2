"""The reference QLVB: a correct document-management system connected to the hub as a normal client.

It is the conformance suite's self-test (every scenario passes against it) and an example for vendors;
its named defects (:mod:`simulator.sut.defects`) prove that every scenario can fail. It implements
:class:`~simulator.sut.driver.SutDriver` in-process; :meth:`ReferenceQlvb.driver_app` serves the same
operations as the test-driver HTTP API (:mod:`simulator.sut.driver_app`).

What "correct" means here (spec/edxml.md, spec/vxp-protocol.md, the requirements catalogue):

Receiving (a polling thread, or :meth:`ReferenceQlvb.poll_once`)
    List pending documents and statuses, fetch **all** pending documents, then handle them urgent
    first (hỏa tốc/thượng khẩn/khẩn before normal, ties by arrival; QD28-6.2.b). For each document:
    structure → signature (against the test CA's trust store; unsigned or SHA-1 → reference only,
    QD28-4.1; tampered / untrusted / expired / not yet valid / revoked / wrong key usage / wrapped →
    refused, QD28-6.1) → addressed to this agency → agency codes of From/To (QD28-10.2.a) → required
    fields → manifest and attachments intact (QD28-9.1, QD28-10.1). Every handled document gets 01
    automatically (QD28-6.3), then 02 with a Vietnamese and English reason (QD28-5.4) or 03. The
    delivery is acknowledged (``updateStatus done``, VXP-ACK) only after the document is in the
    register and its statuses went out; a failed step is retried in later rounds, and a delivery seen
    before (same hub docId, or the same package from the same sender) is only acknowledged again —
    never registered or answered twice (VPCP19-RES).
Recall, update, replace (QD28-9.2.b)
    A recall package (BussinessDocType 1) or a status 13, an update (2) or a replacement (3) is
    applied and answered 15 unless the document is completed (06): then 16 with a reason.
Statuses it sends
    Status packages answering the original sender (ResponseFor: its OrganId, Code, PromulgationDate,
    DocumentId), stamped with hub time, in the legal order (the driver's ``advance`` refuses illegal
    moves with :class:`Conflict`).
Sending (driver)
    Strictly valid edXML, DocumentId ``<agency>,<yyyy/MM/dd>,<number>/<notation>``, Priority, SignerInfo,
    signed with the agency's certificate from the test CA; hub faults (503, transport errors,
    timeouts) are retried with bounded exponential backoff, and after a failure without a reply
    ``getSentEdocList`` is checked before sending again, so nothing is lost or duplicated.
Time (QD28-14.4)
    The hub offset is measured (HTTP ``/time`` or SNTP) at start, on :meth:`sync_clock` and every
    ``sync_interval_s``; every timestamp it writes is hub time in Vietnam time.

Threads: one polling thread; driver calls may come from any thread (the HTTP server's pool). Document
state changes and every package sent happen under one lock, so statuses leave in order.

Parts: :mod:`simulator.sut.reception` judges received documents, :mod:`simulator.sut.composer` writes
the packages, :mod:`simulator.sut.registry` is the register, :mod:`simulator.sut.timesync` follows the
hub clock; this module polls, decides, sends and implements the driver.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import logging
import re
import socket
import ssl
import threading
import time
import unicodedata
from collections import deque
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Literal, Self, TypeVar
from urllib.parse import urlsplit

from simulator import __version__
from simulator.agency.client import VxpClient, VxpError, VxpTransportError
from simulator.agency.models import ReceivedItem
from simulator.edxml.diagnostics import Severity
from simulator.edxml.identifiers import IdentifierError, parse_agency_code
from simulator.edxml.model import (
    BusinessDocType,
    BusinessDocumentInfo,
    DocumentHeader,
    DocumentPackage,
    Organization,
    Priority,
    ReceiverChange,
    ReceiverType,
    ReplacementInfo,
    ResponseFor,
    StatusCode,
    StatusPackage,
)
from simulator.edxml.parser import ParseResult, parse
from simulator.edxml.samples import STATUS_DESCRIPTIONS
from simulator.edxml.status import check_transition
from simulator.edxml.vntime import VN_TZ
from simulator.pki.ca import TestCA
from simulator.pki.dsig import SignaturePolicy, Verifier
from simulator.pki.trust import TrustStore
from simulator.sut.composer import Composer, attachment_digests
from simulator.sut.defects import check_defects
from simulator.sut.driver import (
    Capability,
    DriverError,
    DriverInfo,
    LegalValidity,
    OutgoingDocument,
    ProbeResult,
    SentRef,
    SutDocumentState,
)
from simulator.sut.reception import assess, judge_signature
from simulator.sut.reception import reason as _why
from simulator.sut.registry import OutgoingStatus, ReceivedDoc, Registry, SentDoc, StatusEvent
from simulator.sut.timesync import SyncedClock, TimeSource, TimeSyncError, http_offset, sntp_offset

if TYPE_CHECKING:
    from starlette.applications import Starlette

__all__ = [
    "PRODUCT",
    "BadRequest",
    "ClockSource",
    "Conflict",
    "DocumentNotFound",
    "HubUnavailable",
    "ReferenceQlvb",
]

_log = logging.getLogger(__name__)

PRODUCT = "lienthong reference QLVB"
ClockSource = Literal["http", "sntp", "none"]
T = TypeVar("T")

S = StatusCode
_RETRYABLE_CODES = frozenset({"UNAVAILABLE", "INTERNAL"})
_RETRYABLE_HTTP = frozenset({500, 502, 503, 504})
_BACKOFF_S = (0.1, 0.25, 0.5, 1.0, 1.5)
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_MAX_HANDLING_FAILURES = 3
_IDLE_ROUNDS = 10
_SENT_TIME_SLACK = dt.timedelta(seconds=5)  # clock tolerance when matching a package in getSentEdocList
_SYNC_RETRY_S = 5.0  # after a failed clock sync, wait this long before the next try
_MAIN_TYPES = (BusinessDocType.NEW, BusinessDocType.REPLACE)
_ADVANCE = frozenset({S.ACCEPTED, S.ASSIGNED, S.IN_PROGRESS, S.COMPLETED})


class DocumentNotFound(DriverError):
    """No document with that DocumentId at that agency (HTTP 404)."""


class Conflict(DriverError):
    """The request contradicts the document's state, e.g. an illegal status order (HTTP 409)."""


class BadRequest(DriverError):
    """The request itself is malformed: a missing reason, an unknown agency, a bad code (HTTP 400)."""


class HubUnavailable(DriverError):
    """The hub did not answer usefully even after the bounded retries (HTTP 503)."""


# ----------------------------------------------------------------------------------------- helpers


def _ascii(text: str, limit: int = 200) -> str:
    """ASCII transliteration for header values (VXP-ASCII): ``Đã tiếp nhận`` → ``Da tiep nhan``."""
    folded = unicodedata.normalize("NFKD", text.replace("Đ", "D").replace("đ", "d"))
    return "".join(c for c in folded if c.isascii() and (c.isprintable() or c == " "))[:limit]


def _sent_before(text: str | None, moment: dt.datetime) -> bool:
    """True when the hub's ``sentTime`` is readable and earlier than ``moment`` (an older package)."""
    if not text:
        return False
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        return False
    if value.tzinfo is None:
        value = value.replace(tzinfo=VN_TZ)
    return value < moment


def _retryable(exc: VxpError) -> bool:
    return exc.error_code in _RETRYABLE_CODES or (exc.http_status or 0) in _RETRYABLE_HTTP


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(slots=True)
class _Incoming:
    """One fetched delivery of the document list."""

    item: ReceivedItem
    raw: bytes
    result: ParseResult
    index: int

    @property
    def hub_doc_id(self) -> str:
        return self.item["docId"]


@dataclass(slots=True)
class _PendingRequest:
    """A recall/update/replace request waiting for (or answered by) the clerk's decision."""

    kind: Literal["recall", "update", "replace"]
    apply: Callable[[], None]
    reason: str


# ------------------------------------------------------------------------------------ the engine


class ReferenceQlvb:
    """A correct QLVB hosting ``agencies`` on the hub at ``hub_url`` as system ``system_id``.

    ``ca``: the test CA (signing certificates for its agencies are issued on first use; ``trust``
    defaults to ``ca.trust_store()``). ``defects``: names from :data:`simulator.sut.defects.DEFECTS`
    (unknown names raise :class:`~simulator.sut.defects.UnknownDefectError`). ``tls_verify``: ``True``
    trusts the test CA's root for an ``https`` hub, a path names another CA bundle, ``False`` turns
    verification off. ``clock_source``: how the hub offset is measured (``"sntp"`` needs
    ``sntp_port``). ``poll_interval`` applies while traffic flows; after ``_IDLE_ROUNDS`` empty rounds
    the thread polls every ``idle_interval`` until something happens (a driver call wakes it).
    """

    def __init__(
        self,
        hub_url: str,
        system_id: str,
        secret: str,
        agencies: Sequence[Organization],
        ca: TestCA,
        *,
        trust: TrustStore | None = None,
        defects: Collection[str] = (),
        poll_interval: float = 0.02,
        idle_interval: float = 0.1,
        tls_verify: bool | str = True,
        clock_source: ClockSource = "http",
        sntp_port: int | None = None,
        sync_interval_s: float = 30.0,
        http_timeout: float = 5.0,
        max_attempts: int = 5,
        retry_budget_s: float = 3.0,
        sign_statuses: bool = False,
        seed: int | None = None,
        product: str = PRODUCT,
    ) -> None:
        if not agencies:
            raise ValueError("the reference QLVB needs at least one agency to host")
        if clock_source not in ("http", "sntp", "none"):
            raise ValueError(f"clock_source must be 'http', 'sntp' or 'none', not {clock_source!r}")
        if clock_source == "sntp" and sntp_port is None:
            raise ValueError("clock_source='sntp' needs sntp_port (the hub's SNTP UDP port)")
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
        self.defects: frozenset[str] = check_defects(defects)
        self.hub_url = hub_url.rstrip("/")
        self.system_id = system_id
        self.product = product
        self.ca = ca
        self.trust = trust if trust is not None else ca.trust_store()
        self._orgs: dict[str, Organization] = {}
        for org in agencies:
            code = org.organ_id.strip()
            if code in self._orgs:
                raise ValueError(f"agency {code} is listed twice")
            self._orgs[code] = org
        self.poll_interval = poll_interval
        self.idle_interval = max(idle_interval, poll_interval)
        self.sync_interval_s = sync_interval_s
        self.sign_statuses = sign_statuses
        self._max_attempts = max_attempts
        self._retry_budget_s = retry_budget_s
        https = urlsplit(self.hub_url).scheme == "https"
        self._tls_trust: str | bool = str(ca.root_path) if tls_verify is True else tls_verify
        verify: bool | str = self._tls_trust if https else False  # plain http: no TLS context to build

        no_hash_file = "omits-hash-file" in self.defects

        def client() -> VxpClient:
            return VxpClient(
                self.hub_url,
                system_id,
                secret,
                timeout=http_timeout,
                verify=verify,
                omit_hash_file=no_hash_file,
            )

        self._poll_client = client()  # polling thread only
        self._send_client = client()  # under self._lock only
        self._time_client = client()  # under self._time_lock only
        self._time_lock = threading.Lock()
        self._clock = SyncedClock(self._time_source(clock_source, sntp_port))
        self._verifier = Verifier(
            self.trust,
            SignaturePolicy(
                require_signature=False,
                allow_sha1=True,
                check_revocation="accepts-revoked-cert" not in self.defects,
            ),
        )
        self.registry = Registry()
        self._lock = threading.RLock()
        self._round_lock = threading.Lock()
        self._composer = Composer(
            self._orgs,
            ca,
            defects=self.defects,
            stamp=self._stamp,
            directory=self._directory,
            credential_suffix=system_id,
            seed=seed,
        )
        self._my_hub_ids: set[str] = set()
        self._pending: dict[tuple[str, str], _PendingRequest] = {}
        self._paused = threading.Event()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._journal: deque[str] = deque(maxlen=500)
        self._next_sync_try = 0.0
        self._closed = False
        self.last_error: str | None = None
        self.rounds = 0

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def agencies(self) -> tuple[str, ...]:
        return tuple(self._orgs)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def clock_offset_s(self) -> float:
        return self._clock.offset_s

    def start(self) -> None:
        """Sync the clock (a failure is logged, not fatal: the hub may come up later) and start polling."""
        if self.running:
            return
        if self._closed:
            raise RuntimeError(
                "this ReferenceQlvb was stopped (its hub connections are closed); create a new one"
            )
        self._stop.clear()
        self._sync_quietly()
        self._thread = threading.Thread(
            target=self._run, name=f"reference-qlvb-{self.system_id}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop polling (bounded) and close the hub connections."""
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                _log.warning("the polling thread did not stop within %.1f s", timeout)
        self._thread = None
        self._closed = True
        for c in (self._poll_client, self._send_client, self._time_client):
            c.close()

    def check_connection(self) -> int:
        """One authenticated call (countReceiveEdoc); returns the pending count. :class:`HubUnavailable`
        when the hub does not answer, :class:`BadRequest` when it refuses the system id or secret."""
        with self._lock:
            try:
                return self._send_client.count_receive_edoc()
            except VxpTransportError as exc:
                raise HubUnavailable(f"cannot reach the hub at {self.hub_url}: {exc.cause}") from None
            except VxpError as exc:
                if exc.error_code.startswith("AUTH"):
                    raise BadRequest(
                        f"the hub at {self.hub_url} refused system {self.system_id!r}: {exc.error_desc} "
                        "[VXP-AUTH]; check the system id and secret the hub printed"
                    ) from None
                raise HubUnavailable(f"the hub at {self.hub_url} answered {exc}") from None

    def kick(self) -> None:
        """Poll again right away (driver actions call it: answers are likely to follow)."""
        self._wake.set()

    def journal(self) -> list[str]:
        """The last few hundred things the QLVB did or refused, newest last (for failure messages)."""
        return list(self._journal)

    def _note(self, message: str, *args: object, level: int = logging.INFO) -> None:
        text = message % args if args else message
        self._journal.append(f"{self._clock.now().isoformat(timespec='milliseconds')} {text}")
        _log.log(level, "%s: %s", self.system_id, text)

    # ------------------------------------------------------------------ time
    def _time_source(self, clock_source: ClockSource, sntp_port: int | None) -> TimeSource | None:
        if clock_source == "none" or "no-time-sync" in self.defects:
            return None
        if clock_source == "sntp":
            host = urlsplit(self.hub_url).hostname or "127.0.0.1"
            port = int(sntp_port or 0)
            return lambda: sntp_offset(host, port)

        def fetch() -> bytes:
            with self._time_lock:
                return self._time_client.call("time", {}, method="GET").content

        return lambda: http_offset(fetch)

    def _sync_quietly(self) -> None:
        try:
            sample = self._clock.sync()
        except TimeSyncError as exc:
            self._note("clock sync failed: %s", exc, level=logging.WARNING)
            return
        if sample is not None:
            self._note(
                "clock synced over %s: hub offset %+.3f s (rtt %.1f ms)",
                sample.source,
                sample.offset_s,
                sample.rtt_s * 1000,
            )

    def _stamp(self) -> dt.datetime:
        """The time written into packages: hub time, Vietnam time, whole seconds."""
        now = self._clock.now() if "no-time-sync" not in self.defects else dt.datetime.now(VN_TZ)
        if "utc-timestamps" in self.defects:  # UTC wall time passed off as Vietnam time
            now = now.astimezone(dt.UTC).replace(tzinfo=VN_TZ)
        return now.replace(microsecond=0)

    # ------------------------------------------------------------------ hub calls with retries
    def _retry(self, operation: str, fn: Callable[[], T], check: Callable[[], T | None] | None = None) -> T:
        """Run ``fn`` through hub faults: retry 5xx/transport errors with bounded backoff. After a
        failure without a reply, ``check()`` looks for the effect at the hub before trying again."""
        deadline = time.monotonic() + self._retry_budget_s
        maybe_done = False
        attempt = 0
        while True:
            attempt += 1
            try:
                if maybe_done and check is not None:
                    found = check()
                    if found is not None:
                        self._note(
                            "%s: the earlier attempt had reached the hub; not sending again", operation
                        )
                        return found
                return fn()
            except VxpError as exc:
                if not _retryable(exc):
                    raise
                error: Exception = exc
            except VxpTransportError as exc:
                error = exc
                maybe_done = "duplicate-on-retry" not in self.defects
            if "no-retry" in self.defects:
                raise HubUnavailable(f"{operation} failed and is not retried: {error}") from None
            if attempt >= self._max_attempts or time.monotonic() >= deadline or self._stop.is_set():
                raise HubUnavailable(
                    f"{operation} failed {attempt} time(s) within {self._retry_budget_s:g} s; "
                    f"last error: {error}"
                ) from None
            self._note("%s failed (%s); retry %d", operation, error, attempt)
            self._stop.wait(_BACKOFF_S[min(attempt - 1, len(_BACKOFF_S) - 1)])

    def _send(
        self,
        data: bytes,
        *,
        from_: str,
        to: Sequence[str],
        messagetype: Literal["edoc", "status"],
        title: str,
        notation: str,
    ) -> str:
        """sendEdoc with retries and the getSentEdocList check; returns the hub DocId. Under ``_lock``."""
        client = self._send_client
        recipients = set(to)

        def attempt() -> str:
            try:
                return client.send_edoc(data, from_=from_, messagetype=messagetype, to=list(to))
            except VxpError as exc:
                if exc.error_code == "DUPLICATE":  # refused as a duplicate: an earlier attempt got through
                    found = _UUID.search(exc.error_desc)
                    if found:
                        return found.group(0)
                raise

        started = self._clock.now() - _SENT_TIME_SLACK

        def check() -> str | None:
            for item in client.get_sent_edoc_list(messagetype):
                hub_id = item["senderDocId"]
                if (
                    hub_id not in self._my_hub_ids
                    and not _sent_before(item.get("sentTime"), started)
                    and item.get("fromCode", from_) == from_
                    and item.get("toCode", "") in recipients
                    and item.get("title", title) == title
                    and item.get("notation", notation) == notation
                ):
                    return hub_id
            return None

        hub_id = self._retry(f"sendEdoc ({messagetype} from {from_})", attempt, check)
        self._my_hub_ids.add(hub_id)
        return hub_id

    # ------------------------------------------------------------------ polling
    def _run(self) -> None:
        idle = 0
        failures = 0
        while not self._stop.is_set():
            try:
                if self._clock.due(self.sync_interval_s) and time.monotonic() >= self._next_sync_try:
                    self._next_sync_try = time.monotonic() + _SYNC_RETRY_S
                    self._sync_quietly()
                handled = self.poll_once()
                failures = 0
                idle = 0 if handled else idle + 1
                wait = self.poll_interval if idle < _IDLE_ROUNDS else self.idle_interval
            except Exception as exc:  # the thread survives everything; the error is kept and logged
                failures += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                self._note("polling round failed (%s); backing off", self.last_error, level=logging.WARNING)
                wait = min(0.05 * 2**failures, 1.0)
            if self._wake.wait(wait):
                self._wake.clear()
                idle = 0

    def pause_intake(self, paused: bool) -> None:
        """Stop / resume polling. Pausing waits (bounded) for a round in progress to finish."""
        if paused:
            self._paused.set()
            if self._round_lock.acquire(timeout=30):
                self._round_lock.release()
            self._note("intake paused")
        else:
            self._paused.clear()
            self._note("intake resumed")
            self.kick()

    def poll_once(self) -> int:
        """One polling round; returns how many deliveries were handled. Safe to call from tests."""
        with self._round_lock:
            if self._paused.is_set():
                return 0
            self.rounds += 1
            self._flush_all()
            client = self._poll_client
            documents = self._retry(
                "getReceivedEdocList (edoc)", lambda: client.get_received_edoc_list("edoc")
            )
            statuses = self._retry(
                "getReceivedEdocList (status)", lambda: client.get_received_edoc_list("status")
            )
            handled = 0
            fetched: list[_Incoming] = []
            for index, item in enumerate(documents):
                if self._already_seen(item["docId"]):
                    continue
                raw = self._retry(
                    f"getEdoc {item['docId']}", functools.partial(client.get_edoc, item["docId"])
                )
                fetched.append(_Incoming(item, raw, parse(raw), index))
            for incoming in sorted(fetched, key=self._order_key):
                handled += self._guarded(
                    incoming.hub_doc_id, functools.partial(self._handle_document, incoming)
                )
            for item in statuses:
                hub_id = item["docId"]
                if self._already_seen(hub_id):
                    continue
                raw = self._retry(f"getEdoc {hub_id}", functools.partial(client.get_edoc, hub_id))
                handled += self._guarded(hub_id, functools.partial(self._handle_status, item, raw))
            self._flush_acks()
            return handled

    def _already_seen(self, hub_doc_id: str) -> bool:
        """A delivery handled before and listed again: only its acknowledgement is (re)done."""
        if not self.registry.seen_hub(hub_doc_id):
            return False
        if "never-acks" not in self.defects and hub_doc_id not in self.registry.pending_acks():
            self.registry.add_pending_ack(hub_doc_id, None)
        return True

    def _guarded(self, hub_doc_id: str, fn: Callable[[], None]) -> int:
        """Handle one delivery; an unexpected error leaves it unacknowledged for a later round (3 tries)."""
        try:
            with self._lock:
                fn()
            return 1
        except HubUnavailable as exc:
            self._note("delivery %s left for the next round: %s", hub_doc_id, exc, level=logging.WARNING)
            return 0
        except Exception as exc:
            count = self.registry.count_failure(hub_doc_id)
            self.last_error = f"{type(exc).__name__}: {exc}"
            _log.exception("handling delivery %s failed", hub_doc_id)
            if count >= _MAX_HANDLING_FAILURES:
                self._note(
                    "delivery %s failed %d times (%s); acknowledged as fail",
                    hub_doc_id,
                    count,
                    self.last_error,
                    level=logging.ERROR,
                )
                self._ack(hub_doc_id, "fail", f"cannot be handled: {self.last_error}")
                self.registry.mark_hub(hub_doc_id, None)
            return 0

    def _order_key(self, incoming: _Incoming) -> tuple[int, int, int]:
        """Documents before recall/update requests; urgent before normal; then arrival order."""
        pkg = incoming.result.package
        if not isinstance(pkg, DocumentPackage):
            return (0, 0, incoming.index)
        main = 0 if pkg.business_doc_type in _MAIN_TYPES else 1
        urgency = 0 if "urgent-fifo" in self.defects else -int(pkg.header.priority)
        return (main, urgency, incoming.index)

    def _ack(self, hub_doc_id: str, status: Literal["done", "fail"], description: str | None = None) -> None:
        if "never-acks" in self.defects:
            return
        desc = _ascii(description) if description else None
        self._retry(
            f"updateStatus {hub_doc_id}", lambda: self._poll_client.update_status(hub_doc_id, status, desc)
        )

    def _flush_all(self) -> None:
        with self._lock:
            for doc in self.registry.with_outbox():
                self._flush(doc)

    def _flush_acks(self) -> None:
        for hub_doc_id in self.registry.acks_due():
            try:
                self._ack(hub_doc_id, "done")
            except HubUnavailable as exc:
                self._note("acknowledgement of %s postponed: %s", hub_doc_id, exc, level=logging.WARNING)
                continue
            except VxpError as exc:
                self._note(
                    "acknowledgement of %s refused by the hub: %s", hub_doc_id, exc, level=logging.WARNING
                )
            self.registry.ack_done(hub_doc_id)

    # ------------------------------------------------------------------ receiving documents
    def _recipient_agency(self, item: ReceivedItem, to_codes: Sequence[str]) -> str:
        to = (item.get("to") or "").strip()
        if to in self._orgs:
            return to
        for code in to_codes:
            if code in self._orgs:
                return code
        return next(iter(self._orgs))

    def _handle_document(self, incoming: _Incoming) -> None:
        hub_id = incoming.hub_doc_id
        pkg = incoming.result.package
        if not isinstance(pkg, DocumentPackage):
            first = next((d for d in incoming.result.diagnostics if d.severity is Severity.ERROR), None)
            why = f"{first.path}: {first.message}" if first else "not a document package"
            self._note("delivery %s is not a readable document (%s); acknowledged as fail", hub_id, why)
            self.registry.mark_hub(hub_id, None)
            self._ack(hub_id, "fail", f"unreadable package: {why}")
            return
        to_codes = [o.organ_id.strip() for o in pkg.header.to]
        agency = self._recipient_agency(incoming.item, to_codes)
        sender = pkg.header.from_.organ_id.strip()
        sha = _sha256(incoming.raw)
        if self.registry.seen_package(agency, sender, sha) and "registers-duplicates" not in self.defects:
            self._note(
                "delivery %s repeats a package already handled (%s); acknowledged only",
                hub_id,
                pkg.header.document_id,
            )
            self.registry.mark_hub(hub_id, None)
            self.registry.add_pending_ack(hub_id, None)
            return
        btype = pkg.business_doc_type
        business = pkg.trace.business if pkg.trace is not None else None
        about = (business.document_id.strip() if business is not None else "") or pkg.header.document_id
        reason = (business.business_doc_reason if business is not None else None) or ""
        key: tuple[str, str] | None = None
        if btype in (BusinessDocType.RECALL, BusinessDocType.UPDATE) and not self._authentic(
            incoming, agency, sender, about
        ):
            pass
        elif btype is BusinessDocType.RECALL:
            key = self._request(agency, sender, about, "recall", reason, via="package", hub_id=hub_id)
        elif btype is BusinessDocType.UPDATE:
            key = self._update_request(incoming, pkg, agency, sender, about, reason)
        elif (
            self.registry.received_for_sender(agency, pkg.header.document_id.strip(), sender) is not None
            and "registers-duplicates" not in self.defects
        ):
            self._note(
                "delivery %s reuses DocumentId %s with other content; the registered one is kept",
                hub_id,
                pkg.header.document_id,
                level=logging.WARNING,
            )
        else:
            doc = self._intake(incoming, pkg, agency, sha)
            key = (doc.agency, doc.document_id)
            if btype is BusinessDocType.REPLACE and business is not None:
                self._replace_requests(doc, business.replacements, reason)
        self.registry.mark_package(agency, sender, sha)
        self.registry.mark_hub(hub_id, key)
        self.registry.add_pending_ack(hub_id, key)

    def _authentic(self, incoming: _Incoming, agency: str, sender: str, about: str) -> bool:
        """A signed recall/update package must verify (QD28-6.1); else it is answered 16 and ignored.
        Unsigned requests are taken as they are (the status-13 form carries no signature either)."""
        _, _, refusal = judge_signature(self._verifier.verify(incoming.raw), self.defects)
        if refusal is None:
            return True
        self._note("request about %s from %s ignored: %s", about, sender, refusal, level=logging.WARNING)
        status = self._composer.status(agency, ResponseFor(sender, about), S.RECALL_REFUSED, refusal)
        try:
            self._send_status(status, agency, sender)
        except (HubUnavailable, VxpError) as exc:
            self._note("answer 16 about %s not sent: %s", about, exc, level=logging.WARNING)
        return False

    def _intake(self, incoming: _Incoming, pkg: DocumentPackage, agency: str, sha: str) -> ReceivedDoc:
        a = assess(incoming.raw, incoming.result.diagnostics, pkg, agency, self._verifier, self.defects)
        now = self._clock.now()
        h = a.package.header
        doc = ReceivedDoc(
            agency=agency,
            document_id=h.document_id.strip(),
            sender=h.from_.organ_id.strip(),
            package=a.package,
            package_sha256=sha,
            legal_validity=a.validity,
            verdict=a.verdict,
            priority=h.priority,
            subject=h.subject,
            business=a.package.business_doc_type,
            attachments=a.attachments,
            receivers=[o.organ_id.strip() for o in h.to],
            received_at=now,
            updated_at=now,
            arrival=self.registry.next_arrival(),
            hub_doc_ids=[incoming.hub_doc_id],
        )
        plan: list[OutgoingStatus] = []
        if "skips-01" not in self.defects:
            plan.append(OutgoingStatus(S.ARRIVED, STATUS_DESCRIPTIONS[S.ARRIVED]))
        if a.refusal is not None:
            plan.append(
                OutgoingStatus(S.REFUSED, "" if "reject-without-reason" in self.defects else a.refusal)
            )
        elif "never-accepts" not in self.defects:
            plan.append(OutgoingStatus(S.ACCEPTED, STATUS_DESCRIPTIONS[S.ACCEPTED]))
        if "late-01" in self.defects and plan and plan[0].code is S.ARRIVED:
            plan.append(plan.pop(0))
        doc.outbox = plan
        self.registry.put_received(doc)  # the commit: from here on nothing is lost
        self._note(
            "registered %s from %s at %s: %s (%s)%s",
            doc.document_id,
            doc.sender,
            agency,
            a.validity.value,
            a.verdict,
            f"; refused: {a.refusal}" if a.refusal else "",
        )
        self._flush(doc)
        return doc

    # ------------------------------------------------------------------ recall / update / replace received
    def _request(
        self,
        agency: str,
        sender: str,
        document_id: str,
        kind: Literal["recall", "update", "replace"],
        reason: str,
        *,
        via: str,
        hub_id: str,
        apply: Callable[[ReceivedDoc], None] | None = None,
    ) -> tuple[str, str] | None:
        """Answer a recall/update/replace request about ``document_id``: 15 (applied) or 16."""
        doc = self.registry.received_for_sender(agency, document_id, sender)
        self._note("%s request (%s) for %s from %s at %s", kind, via, document_id, sender, agency)
        if doc is None:
            if not ("silent-on-recall" in self.defects and kind == "recall"):
                self._orphan_answer(agency, sender, document_id, kind)
            return None
        doc.history.append(S.RECALL_REQUEST)
        doc.events.append(StatusEvent(S.RECALL_REQUEST, sender, reason, self._clock.now(), hub_id))

        def applier() -> None:
            if kind == "recall":
                if "ignores-recall" not in self.defects:
                    doc.active = False
            elif apply is not None:
                apply(doc)

        key = (doc.agency, doc.document_id)
        self._pending[key] = _PendingRequest(kind, applier, reason)
        doc.recall_answer = None
        if "silent-on-recall" in self.defects and kind == "recall":
            return key
        completed = doc.status is S.COMPLETED
        if completed and "agrees-recall-after-completion" not in self.defects:
            self._answer(
                doc,
                agree=False,
                reason=_why(
                    "Văn bản đã được xử lý xong (06), không thể thu hồi/thay đổi",
                    f"handling of {doc.document_id} is completed (06): the {kind} request is refused",
                    "QD28-9.2.b",
                ),
            )
        else:
            self._answer(doc, agree=True, reason=None)
        return key

    def _answer(self, doc: ReceivedDoc, *, agree: bool, reason: str | None) -> None:
        key = (doc.agency, doc.document_id)
        pending = self._pending.pop(key, None)
        if agree and pending is not None:
            pending.apply()
            doc.updated_at = self._clock.now()
        code = S.RECALL_AGREED if agree else S.RECALL_REFUSED
        description = STATUS_DESCRIPTIONS[code] if agree else (reason or STATUS_DESCRIPTIONS[code])
        if not agree and "reject-without-reason" in self.defects:
            description = ""
        doc.recall_answer = code
        doc.outbox.append(OutgoingStatus(code, description))
        self._flush(doc)

    def _orphan_answer(self, agency: str, sender: str, document_id: str, kind: str) -> None:
        """16 for a request about a document this agency never registered."""
        why = _why(
            f"Không tìm thấy văn bản {document_id} trong sổ văn bản đến",
            f"the {kind} request names {document_id}, which {agency} never received from {sender}",
            "QD28-9.2.b",
        )
        status = self._composer.status(agency, ResponseFor(sender, document_id), S.RECALL_REFUSED, why)
        try:
            self._send_status(status, agency, sender)
        except (HubUnavailable, VxpError) as exc:
            self._note("answer 16 about unknown %s not sent: %s", document_id, exc, level=logging.WARNING)

    def _update_request(
        self, incoming: _Incoming, pkg: DocumentPackage, agency: str, sender: str, about: str, reason: str
    ) -> tuple[str, str] | None:
        business = pkg.trace.business if pkg.trace is not None else None
        info = business.document_info if business is not None else None
        changes = info.receivers if info is not None else []
        if self.registry.received_for_sender(agency, about, sender) is None:
            added = any(
                c.organ_id.strip() == agency and c.receiver_type is ReceiverType.ADDED for c in changes
            )
            if added:  # a receiver added by the update gets the document for the first time
                doc = self._intake(incoming, pkg, agency, _sha256(incoming.raw))
                return (doc.agency, doc.document_id)

        def apply(doc: ReceivedDoc) -> None:
            if "ignores-update" in self.defects:
                return
            if info is None or info.document_info:
                doc.subject = pkg.header.subject
            for change in changes:
                code = change.organ_id.strip()
                if change.receiver_type is ReceiverType.ADDED and code not in doc.receivers:
                    doc.receivers.append(code)
                elif change.receiver_type is ReceiverType.REMOVED and code in doc.receivers:
                    doc.receivers.remove(code)
                    if code == doc.agency:
                        doc.active = False

        return self._request(
            agency, sender, about, "update", reason, via="package", hub_id=incoming.hub_doc_id, apply=apply
        )

    def _replace_requests(
        self, new: ReceivedDoc, replacements: Sequence[ReplacementInfo], reason: str
    ) -> None:
        for info in replacements:
            if info.organ_ids and new.agency not in [o.strip() for o in info.organ_ids]:
                continue
            old_id = info.document_id.strip()

            def apply(doc: ReceivedDoc) -> None:
                if "ignores-replace" in self.defects:
                    return
                doc.active = False
                doc.replaced_by = new.document_id

            if new.status is S.REFUSED:  # the replacement itself was refused: the old one stays
                old = self.registry.received_for_sender(new.agency, old_id, new.sender)
                if old is not None:
                    old.history.append(S.RECALL_REQUEST)
                    self._answer(
                        old,
                        agree=False,
                        reason=_why(
                            "Văn bản thay thế không hợp lệ nên văn bản cũ được giữ nguyên",
                            f"the replacing document {new.document_id} was refused; {old_id} stays",
                            "QD28-9.2.b",
                        ),
                    )
                continue
            self._request(
                new.agency,
                new.sender,
                old_id,
                "replace",
                reason,
                via="package",
                hub_id=new.hub_doc_ids[0] if new.hub_doc_ids else "",
                apply=apply,
            )

    # ------------------------------------------------------------------ statuses received
    def _handle_status(self, item: ReceivedItem, raw: bytes) -> None:
        hub_id = item["docId"]
        result = parse(raw)
        pkg = result.package
        if not isinstance(pkg, StatusPackage):
            self._note("status delivery %s is unreadable; acknowledged as fail", hub_id)
            self.registry.mark_hub(hub_id, None)
            self._ack(hub_id, "fail", "unreadable status package")
            return
        h = pkg.header
        reporter = h.from_.organ_id.strip()
        rf = h.response_for
        document_id = rf.document_id.strip()
        sha = _sha256(raw)
        to = (item.get("to") or "").strip()
        agency = to if to in self._orgs else rf.organ_id.strip()
        key: tuple[str, str] | None = None
        if self.registry.seen_package(agency, reporter, sha):
            self._note("status delivery %s repeats one already handled; acknowledged only", hub_id)
        elif h.status_code is S.RECALL_REQUEST:
            key = self._request(
                agency, reporter, document_id, "recall", h.description or "", via="status 13", hub_id=hub_id
            )
        else:
            sent = self.registry.sent(rf.organ_id.strip(), document_id)
            if sent is None:
                self._note(
                    "status %s from %s about unknown %s ignored", h.status_code.value, reporter, document_id
                )
            elif "ignores-incoming-statuses" in self.defects:
                pass
            else:
                sent.statuses_from_receivers[reporter] = h.status_code
                if h.status_code is S.RECALL_AGREED and sent.recall_pending:
                    sent.active = False  # recalled: a receiver agreed (15)
                sent.events.append(
                    StatusEvent(
                        h.status_code, reporter, h.description or "", h.timestamp or self._clock.now(), hub_id
                    )
                )
                sent.updated_at = self._clock.now()
                self._note("status %s from %s for %s", h.status_code.value, reporter, document_id)
        self.registry.mark_package(agency, reporter, sha)
        self.registry.mark_hub(hub_id, key)
        self.registry.add_pending_ack(hub_id, key)

    # ------------------------------------------------------------------ statuses sent
    def _send_status(self, status: StatusPackage, agency: str, to: str | Sequence[str]) -> str:
        data = self._composer.seal_status(status, self.sign_statuses)
        h = status.header
        recipients = [to] if isinstance(to, str) else list(to)
        return self._send(
            data,
            from_=agency,
            to=recipients,
            messagetype="status",
            title=h.description or f"status {h.status_code.value}",
            notation=h.response_for.code or "",
        )

    def _emit(self, doc: ReceivedDoc, code: StatusCode, description: str) -> None:
        h = doc.package.header
        document_id = doc.document_id
        if "wrong-responsefor" in self.defects:
            document_id = doc.hub_doc_ids[0] if doc.hub_doc_ids else f"{document_id}-X"
        status = self._composer.status(
            doc.agency, _response_for(h, doc.sender, document_id), code, description
        )
        hub_id = self._send_status(status, doc.agency, doc.sender)
        doc.history.append(code)
        doc.events.append(
            StatusEvent(code, doc.agency, description, status.header.timestamp or self._stamp(), hub_id)
        )
        doc.updated_at = self._clock.now()
        self._note("sent %s for %s to %s", code.value, doc.document_id, doc.sender)

    def _flush(self, doc: ReceivedDoc) -> bool:
        """Send the document's outbox in order; False when the hub is unavailable (kept for later)."""
        with self._lock:
            while doc.outbox:
                st = doc.outbox[0]
                try:
                    self._emit(doc, st.code, st.description)
                except HubUnavailable as exc:
                    self._note(
                        "status %s for %s postponed: %s",
                        st.code.value,
                        doc.document_id,
                        exc,
                        level=logging.WARNING,
                    )
                    return False
                except VxpError as exc:  # refused for good (e.g. the hub's status-order policy)
                    self._note(
                        "status %s for %s refused by the hub: %s",
                        st.code.value,
                        doc.document_id,
                        exc,
                        level=logging.WARNING,
                    )
                doc.outbox.pop(0)
            return True

    # ------------------------------------------------------------------ composing documents
    def _own(self, agency: str) -> Organization:
        code = agency.strip()
        if code not in self._orgs:
            raise BadRequest(
                f"agency {agency!r} is not hosted by this QLVB (it hosts {', '.join(self._orgs)})"
            )
        return self._orgs[code]

    @staticmethod
    def _check_codes(codes: Sequence[str], what: str) -> list[str]:
        out: list[str] = []
        for code in codes:
            try:
                out.append(parse_agency_code(code.strip(), strict=True).text)
            except IdentifierError as exc:
                raise BadRequest(f"{what}: {exc.message} [{exc.requirement}]") from None
        if len(set(out)) != len(out):
            raise BadRequest(f"{what}: an agency is listed twice [EDXML-DUPTO]")
        return out

    def _compose(
        self,
        document: OutgoingDocument,
        kind: BusinessDocType = BusinessDocType.NEW,
        *,
        reason: str | None = None,
        replaces: SentDoc | None = None,
    ) -> DocumentPackage:
        try:
            return self._composer.document(
                document,
                kind,
                reason=reason,
                replaces=(replaces.document_id, replaces.recipients) if replaces is not None else None,
            )
        except ValueError as exc:
            raise BadRequest(str(exc)) from None

    def _directory(self) -> dict[str, Organization]:
        """The hub's agency directory (code → Organization), for recipients' names; empty if unavailable."""
        try:
            items = self._send_client.get_agencies_list()
        except (VxpError, VxpTransportError) as exc:
            self._note("agency directory unavailable (%s); using generated names", exc)
            return {}
        return {
            i["code"]: Organization(i["code"], organ_name=i.get("name") or None, email=i.get("mail") or None)
            for i in items
        }

    def _dispatch(self, pkg: DocumentPackage, data: bytes, to: Sequence[str]) -> str:
        h = pkg.header
        return self._send(
            data,
            from_=h.from_.organ_id,
            to=to,
            messagetype="edoc",
            title=h.subject,
            notation=str(h.code) if h.code else "",
        )

    def _record_sent(self, pkg: DocumentPackage, hub_id: str, signed: bool) -> SentDoc:
        now = self._clock.now()
        h = pkg.header
        sent = SentDoc(
            agency=h.from_.organ_id,
            document_id=h.document_id,
            package=pkg,
            recipients=[o.organ_id for o in h.to],
            legal_validity=LegalValidity.SIGNED_VALID if signed else LegalValidity.REFERENCE_ONLY,
            priority=h.priority,
            subject=h.subject,
            business=pkg.business_doc_type,
            attachments=attachment_digests(pkg),
            sent_at=now,
            updated_at=now,
            hub_doc_ids=[hub_id],
        )
        self.registry.put_sent(sent)
        return sent

    def _check_outgoing(self, document: OutgoingDocument) -> OutgoingDocument:
        self._own(document.from_)
        if not document.to:
            raise BadRequest("to: give at least one receiving agency code")
        to = self._check_codes(document.to, "to")
        if not document.subject.strip():
            raise BadRequest("subject: the subject (trích yếu) must not be empty [EDXML-REQ]")
        if len(document.subject) > 500:
            raise BadRequest(
                f"subject: {len(document.subject)} characters, above the limit of 500 [EDXML-LEN]"
            )
        try:
            priority = Priority(document.priority)
        except ValueError:
            raise BadRequest(f"priority: {document.priority!r} is not 0–4 [EDXML-ENUM]") from None
        return OutgoingDocument(
            from_=document.from_.strip(),
            to=to,
            subject=document.subject,
            priority=priority,
            attachments=document.attachments,
            response_for=document.response_for,
            sign=document.sign,
        )

    def _sent_or_404(self, agency: str, document_id: str) -> SentDoc:
        self._own(agency)
        sent = self.registry.sent(agency.strip(), document_id)
        if sent is None:
            raise DocumentNotFound(f"{agency} has not sent a document {document_id!r}")
        return sent

    def _received_or_404(self, agency: str, document_id: str) -> ReceivedDoc:
        self._own(agency)
        doc = self.registry.received(agency.strip(), document_id)
        if doc is None:
            raise DocumentNotFound(f"{agency} has not received a document {document_id!r}")
        return doc

    # ------------------------------------------------------------------ SutDriver: sending side
    def info(self) -> DriverInfo:
        return DriverInfo(self.product, __version__, self.agencies, frozenset(Capability))

    def send_document(self, document: OutgoingDocument) -> SentRef:
        doc = self._check_outgoing(document)
        with self._lock:
            pkg = self._compose(doc)
            data = self._composer.seal(pkg, doc.sign)
            to = [o.organ_id for o in pkg.header.to]
            if "drops-recipient" in self.defects:
                to = to[:1]
            hub_id = self._dispatch(pkg, data, to)
            self._record_sent(pkg, hub_id, doc.sign and "sends-unsigned" not in self.defects)
            self._note("sent %s to %s (hub %s)", pkg.header.document_id, ", ".join(to), hub_id)
        self.kick()
        return SentRef(pkg.header.document_id, (hub_id,))

    def recall(
        self, document_id: str, *, agency: str, form: Literal["package", "status"], reason: str
    ) -> None:
        if form not in ("package", "status"):
            raise BadRequest(f"form: {form!r} must be 'package' or 'status'")
        if not reason.strip():
            raise BadRequest("reason: a recall must say why (BussinessDocReason / Description) [QD28-8.2]")
        with self._lock:
            sent = self._sent_or_404(agency, document_id)
            if form == "package":
                pkg = self._composer.derived(sent.package, BusinessDocType.RECALL, reason)
                hub_id = self._dispatch(pkg, self._composer.seal(pkg), sent.recipients)
            else:
                rf = _response_for(sent.package.header, sent.agency, sent.document_id)
                status = self._composer.status(sent.agency, rf, S.RECALL_REQUEST, reason)
                hub_id = self._send_status(status, sent.agency, sent.recipients)
            sent.hub_doc_ids.append(hub_id)
            sent.recall_pending = True  # inactive once a receiver agrees (15)
            sent.updated_at = self._clock.now()
            self._note("recall (%s) of %s sent (hub %s)", form, document_id, hub_id)
        self.kick()

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
        if not reason.strip():
            raise BadRequest("reason: an update must say why (BussinessDocReason) [QD28-8.2]")
        add = self._check_codes(add_receivers, "add_receivers")
        remove = self._check_codes(remove_receivers, "remove_receivers")
        if subject is None and not add and not remove:
            raise BadRequest("nothing to update: give a subject, add_receivers or remove_receivers")
        if subject is not None and not subject.strip():
            raise BadRequest("subject: must not be empty [EDXML-REQ]")
        with self._lock:
            sent = self._sent_or_404(agency, document_id)
            unknown = [c for c in remove if c not in sent.recipients]
            if unknown:
                raise Conflict(f"remove_receivers: {', '.join(unknown)} did not receive {document_id}")
            recipients = [c for c in sent.recipients if c not in remove] + [
                c for c in add if c not in sent.recipients
            ]
            if not recipients:
                raise Conflict("the update would leave the document without any recipient")
            pkg = self._composer.derived(sent.package, BusinessDocType.UPDATE, reason)
            if subject is not None:
                pkg.header.subject = subject
            pkg.header.to = [self._composer.org(c) for c in recipients]
            assert pkg.trace is not None and pkg.trace.business is not None
            if pkg.trace.business.business_doc_type is BusinessDocType.UPDATE:
                pkg.trace.business.document_info = BusinessDocumentInfo(
                    document_info=subject is not None,
                    document_receiver=bool(add or remove),
                    receivers=[ReceiverChange(c, ReceiverType.ADDED) for c in add]
                    + [ReceiverChange(c, ReceiverType.REMOVED) for c in remove],
                )
            hub_id = self._send(
                self._composer.seal(pkg),
                from_=sent.agency,
                to=recipients + remove,
                messagetype="edoc",
                title=pkg.header.subject,
                notation=str(pkg.header.code) if pkg.header.code else "",
            )
            sent.hub_doc_ids.append(hub_id)
            sent.recipients = recipients
            sent.subject = pkg.header.subject
            sent.package.header.subject = pkg.header.subject
            sent.package.header.to = pkg.header.to
            sent.updated_at = self._clock.now()
            self._note("update of %s sent (hub %s)", document_id, hub_id)
        self.kick()

    def replace(self, document_id: str, *, agency: str, reason: str, new: OutgoingDocument) -> SentRef:
        if not reason.strip():
            raise BadRequest("reason: a replacement must say why (BussinessDocReason) [QD28-8.2]")
        doc = self._check_outgoing(new)
        if doc.from_ != agency.strip():
            raise BadRequest(f"new.from ({doc.from_}) must be the agency that sent {document_id} ({agency})")
        with self._lock:
            old = self._sent_or_404(agency, document_id)
            pkg = self._compose(doc, BusinessDocType.REPLACE, reason=reason, replaces=old)
            data = self._composer.seal(pkg, doc.sign)
            to = list(dict.fromkeys([o.organ_id for o in pkg.header.to]))
            hub_id = self._dispatch(pkg, data, to)
            self._record_sent(pkg, hub_id, doc.sign and "sends-unsigned" not in self.defects)
            old.active = False
            old.updated_at = self._clock.now()
            self._note("replacement %s of %s sent (hub %s)", pkg.header.document_id, document_id, hub_id)
        self.kick()
        return SentRef(pkg.header.document_id, (hub_id,))

    # ------------------------------------------------------------------ SutDriver: receiving side
    def advance(
        self, document_id: str, *, agency: str, status: StatusCode, description: str | None = None
    ) -> None:
        try:
            code = StatusCode(status)
        except ValueError:
            raise BadRequest(f"status: {status!r} is not a status code") from None
        if code not in _ADVANCE:
            raise BadRequest(f"status: advance takes 03, 04, 05 or 06, not {code.value} (use refuse for 02)")
        with self._lock:
            doc = self._received_or_404(agency, document_id)
            if not doc.active:
                raise Conflict(f"{document_id} is no longer active at {agency} (recalled or replaced)")
            if not self._flush(doc):
                raise HubUnavailable(f"earlier statuses of {document_id} are still waiting for the hub")
            emit: StatusCode = code
            current = doc.status
            backwards = {S.IN_PROGRESS: S.ASSIGNED, S.ASSIGNED: S.ACCEPTED, S.ACCEPTED: S.ARRIVED}
            if "goes-backwards" in self.defects and code is S.COMPLETED and current in backwards:
                emit = backwards[current]
            else:
                t = check_transition(doc.history, code)
                if t.verdict.value == "repeat":
                    return
                allowed = "status-after-final" in self.defects and t.verdict.value == "after-final"
                if not t.verdict.legal and not allowed:
                    raise Conflict(
                        f"{t.describe()}: the legal order is 01 → 02 | 03; 03 → 04 | 05 | 06; 04 → 05 | 06; "
                        "05 → 06 [QD28-9.2.a]"
                    )
            self._emit_now(doc, emit, description or STATUS_DESCRIPTIONS[emit])

    def refuse(self, document_id: str, *, agency: str, reason: str) -> None:
        if not reason.strip():
            raise BadRequest("reason: a refusal (02) must say why [QD28-5.4]")
        with self._lock:
            doc = self._received_or_404(agency, document_id)
            if not self._flush(doc):
                raise HubUnavailable(f"earlier statuses of {document_id} are still waiting for the hub")
            t = check_transition(doc.history, S.REFUSED)
            if t.verdict.value == "repeat":
                return
            allowed = "status-after-final" in self.defects and t.verdict.value == "after-final"
            if not t.verdict.legal and not allowed:
                raise Conflict(f"{t.describe()}: 02 may only follow 01 [QD28-5.4]")
            self._emit_now(doc, S.REFUSED, "" if "reject-without-reason" in self.defects else reason)

    def _emit_now(self, doc: ReceivedDoc, code: StatusCode, description: str) -> None:
        try:
            self._emit(doc, code, description)
        except VxpError as exc:
            raise Conflict(f"the hub refused status {code.value}: {exc.error_desc}") from None

    def answer_recall(self, document_id: str, *, agency: str, agree: bool, reason: str | None = None) -> None:
        with self._lock:
            doc = self._received_or_404(agency, document_id)
            wanted = S.RECALL_AGREED if agree else S.RECALL_REFUSED
            key = (doc.agency, doc.document_id)
            if key not in self._pending:
                if doc.recall_answer is wanted:
                    return  # already answered this way
                if doc.recall_answer is not None:
                    raise Conflict(
                        f"the request about {document_id} was already answered {doc.recall_answer.value}"
                    )
                raise Conflict(f"no recall/update/replace request is pending for {document_id} at {agency}")
            if not agree and not (reason or "").strip():
                raise BadRequest("reason: refusing a recall (16) must say why [QD28-9.2.b]")
            self._answer(doc, agree=agree, reason=reason)
            if doc.outbox:
                raise HubUnavailable(
                    f"the answer {wanted.value} is waiting for the hub; it will be sent later"
                )

    def query(self, document_id: str, *, agency: str) -> SutDocumentState | None:
        self._own(agency)
        code = agency.strip()
        with self.registry.locked():
            received = self.registry.received(code, document_id)
            if received is not None:
                return received.state()
            sent = self.registry.sent(code, document_id)
            return sent.state() if sent is not None else None

    def sync_clock(self) -> None:
        if "no-time-sync" in self.defects:
            self._note("clock sync asked; ignored (no-time-sync)")
            return
        try:
            self._clock.sync()
        except TimeSyncError as exc:
            raise HubUnavailable(str(exc)) from None
        self._note("clock synced on request: hub offset %+.3f s", self._clock.offset_s)

    def probe_hub(self, url: str) -> ProbeResult:
        """Open a TLS connection to ``url`` with this QLVB's trust settings (QD28-13.2)."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise BadRequest(f"url: {url!r} is not an http(s) URL")
        if parts.scheme == "http":
            return ProbeResult(
                False,
                "not attempted: plain http is not encrypted; the hub connection must use "
                "TLS (https) [QD28-13.2]",
            )
        host, port = parts.hostname, parts.port or 443
        if "trusts-any-hub-tls" in self.defects or self._tls_trust is False:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        else:
            trust = self._tls_trust if isinstance(self._tls_trust, str) else None
            context = ssl.create_default_context(cafile=trust)
        try:
            with (
                socket.create_connection((host, port), timeout=5.0) as raw,
                context.wrap_socket(raw, server_hostname=host) as tls,
            ):
                how = (
                    "the certificate chains to the trusted CA"
                    if context.verify_mode != ssl.CERT_NONE
                    else "the certificate was NOT verified (any certificate accepted)"
                )
                return ProbeResult(True, f"TLS {tls.version()} to {host}:{port} established; {how}")
        except ssl.SSLCertVerificationError as exc:
            return ProbeResult(
                False, f"certificate of {host}:{port} refused: {exc.verify_message} [QD28-13.2]"
            )
        except ssl.SSLError as exc:
            return ProbeResult(
                False, f"TLS handshake with {host}:{port} failed: {exc.reason or exc} [QD28-13.2]"
            )
        except OSError as exc:
            return ProbeResult(False, f"cannot connect to {host}:{port}: {exc}")

    # ------------------------------------------------------------------ HTTP driver API
    def driver_app(self) -> Starlette:
        """The test-driver HTTP API (``/driver/v1/...``) serving this QLVB."""
        from simulator.sut.driver_app import create_driver_app

        return create_driver_app(self)


def _response_for(header: DocumentHeader, original_sender: str, document_id: str) -> ResponseFor:
    """ResponseFor naming the document ``header`` describes (its Code and PromulgationDate)."""
    promulgated = header.promulgation_info.promulgation_date if header.promulgation_info else None
    return ResponseFor(original_sender, document_id, str(header.code) if header.code else None, promulgated)
