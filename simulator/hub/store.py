"""The hub's durable store: the interface (Protocols) and the data shapes it moves.

The hub talks to its store only through :class:`Store` and :class:`StoreTxn`, so that a PostgreSQL
store can be added beside :mod:`simulator.hub.sqlite_store`. Rules every implementation keeps:

* **One transaction per accepted package**: the package, its delivery rows, the status history rows
  and the evidence row commit together (:meth:`Store.transaction`), and the hub replies only after
  the commit returned. A write transaction takes the write lock at its start (SQLite ``BEGIN
  IMMEDIATE``, PostgreSQL ``SERIALIZABLE`` or an advisory lock) so that the duplicate check and
  the status-order check inside it see every earlier commit, also from other worker processes.
* **Idempotent, consistent writes**: package bytes are stored once per SHA-256 (content-addressed), a
  hub id is never reused (UUIDs, unique), and a retried upload is either a new package that records
  ``duplicate_of`` or refused as a whole — never half stored.
* **Listing cost independent of the store's size**: pending deliveries are found through an index
  over the pending rows only.
* **Append-only evidence**: every request and reply, readable as JSON lines (:meth:`Store.evidence`).
* **Runtime settings** (policies, faults, seeded systems) live in the store, so that a control API
  changing them reaches every worker process. Reads are served from a per-process cache that checks a
  settings version at most every ``settings_refresh_s`` (this process's own writes are seen at once);
  a control call that changed a setting waits that long before replying, so any request that starts
  after the reply sees the change in every worker.

Delivery states (``status`` / ``status_desc`` in replies): ``initial`` (routed, not yet fetched or
acknowledged), ``processing`` (the receiver said it is working on it), ``done`` (acknowledged), ``fail``
(the receiver could not take it). ``initial`` and ``processing`` are pending: listed and counted until
acknowledged with ``done`` or ``fail``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal, Protocol

__all__ = [
    "PENDING_STATES",
    "AgencyRecord",
    "DeliveryFact",
    "DeliveryRecord",
    "DeliveryRow",
    "DeliveryState",
    "DeliveryView",
    "EvidenceRecord",
    "LatencyFact",
    "PackageFact",
    "PackageRecord",
    "ReceivedItem",
    "SentItem",
    "StatsFacts",
    "StatusEvent",
    "Store",
    "StoreTxn",
    "StoreUnavailable",
]

MessageType = Literal["edoc", "status"]
PackageKind = Literal["document", "status"]


class DeliveryState(StrEnum):
    INITIAL = "initial"
    PROCESSING = "processing"
    DONE = "done"
    FAIL = "fail"

    @property
    def pending(self) -> bool:
        return self in PENDING_STATES

    @property
    def description(self) -> str:
        return _STATE_DESC[self]


PENDING_STATES = frozenset({DeliveryState.INITIAL, DeliveryState.PROCESSING})
_STATE_DESC = {
    DeliveryState.INITIAL: "routed by the hub, waiting for the receiver to fetch and acknowledge it",
    DeliveryState.PROCESSING: "the receiver is processing it",
    DeliveryState.DONE: "received and acknowledged by the receiver",
    DeliveryState.FAIL: "the receiver reported that it could not take it",
}


class StoreUnavailable(RuntimeError):
    """The store cannot serve the request now (busy beyond its timeout, disk full, closed)."""


@dataclass(frozen=True, slots=True)
class AgencyRecord:
    """A directory entry. ``system_id`` is the hosting system (None: listed but not connected)."""

    code: str
    name: str
    mail: str = ""
    parent_code: str | None = None
    mobile: str = ""
    fax: str = ""
    old_code: str = ""
    center_code: str = ""
    is_agency: bool = True
    system_id: str | None = None
    level: int = 1
    id: int = 0  # assigned by the store
    version: int = 0  # assigned by the store: increases with every change of any entry
    deleted: bool = False
    modified_at: str = ""  # assigned by the store (ISO 8601, Vietnam time)


@dataclass(slots=True)
class PackageRecord:
    """An accepted package, as committed."""

    doc_id: str  # the hub's DocId returned to the sender (UUID)
    sha256: str  # of ``data`` (padded lowercase hex)
    data: bytes  # the package bytes as received (leading junk stripped), signature intact
    kind: PackageKind
    message_type: MessageType
    service_type: str
    sender_system: str
    from_organ: str
    received_at: dt.datetime  # hub time of acceptance (also the hub's TraceHeader timestamp)
    hub_organ_id: str  # the hub's TraceHeader OrganId, recorded beside the bytes
    dup_key: str  # what makes a re-send a duplicate: sha256, sender organ and recipients
    document_id: str | None = None  # edXML DocumentId (for a status: ResponseFor/DocumentId)
    business_type: int | None = None  # BussinessDocType of a document
    status_code: str | None = None  # StatusCode of a status package
    title: str = ""  # Subject (documents) / Description (statuses)
    notation: str = ""  # "number/notation"
    original_doc_id: str | None = None  # hub DocId of the document a recall/update/replace/status is about
    duplicate_of: str | None = None  # hub DocId of the first identical package
    junk_bytes: int = 0
    signature: str = ""  # verdict summary: "valid", "unsigned", "invalid: <failure>", "not checked"


@dataclass(slots=True)
class DeliveryRecord:
    doc_id: str  # the receiver's docId (UUID)
    recipient: str  # OrganId
    recipient_system: str
    message_type: MessageType


@dataclass(slots=True)
class StatusEvent:
    """One business status exchanged for (document, original sender, receiver)."""

    document_id: str
    original_sender: str
    receiver: str
    code: str
    verdict: str  # simulator.edxml.status.TransitionVerdict value
    package_doc_id: str
    at: dt.datetime


@dataclass(slots=True)
class EvidenceRecord:
    at: dt.datetime
    operation: str
    http_status: int
    error_code: str
    system: str | None = None
    sha256: str | None = None
    doc_ids: list[str] = field(default_factory=list)
    findings: list[dict[str, str]] = field(default_factory=list)  # Diagnostic.as_dict() rows
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class ReceivedItem:
    doc_id: str
    message_type: MessageType
    service_type: str
    created_at: str
    updated_at: str
    from_organ: str
    recipient: str
    state: DeliveryState
    state_desc: str


@dataclass(slots=True)
class SentItem:
    service_type: str
    message_type: MessageType
    sender_doc_id: str
    receiver_doc_id: str
    from_code: str
    to_code: str
    title: str
    notation: str
    sent_at: str
    received_at: str  # when the receiver acknowledged (done/fail), "" while pending
    state: DeliveryState
    state_desc: str


@dataclass(slots=True)
class DeliveryView:
    doc_id: str
    package_doc_id: str
    recipient: str
    recipient_system: str
    sender_system: str
    message_type: MessageType
    state: DeliveryState
    state_desc: str
    fetched_at: str
    sha256: str


@dataclass(slots=True)
class DeliveryRow:
    """One delivery as the control API lists it (``GET /control/deliveries``); times as stored."""

    doc_id: str
    package_doc_id: str
    kind: PackageKind
    message_type: MessageType
    from_organ: str
    sender_system: str
    recipient: str
    recipient_system: str
    document_id: str | None
    status_code: str | None
    duplicate_of: str | None
    state: DeliveryState
    state_desc: str
    created_at: str
    updated_at: str
    fetched_at: str
    acked_at: str


# --- statistics (QD28-11): raw facts, aggregated by simulator.hub.stats ---------------------------


@dataclass(slots=True)
class PackageFact:
    """An accepted package (times are the stored ISO 8601 Vietnam-time strings)."""

    doc_id: str
    kind: PackageKind
    from_organ: str
    sender_system: str
    received_at: str
    status_code: str | None
    duplicate_of: str | None
    errors: int  # ERROR findings recorded when it was accepted (lenient intake), status order aside


@dataclass(slots=True)
class DeliveryFact:
    """A delivery row; ``copy`` is 0 for the first delivery of (package, recipient), 1… for extra copies."""

    package_doc_id: str
    kind: PackageKind
    status_code: str | None
    recipient: str
    recipient_system: str
    state: DeliveryState
    created_at: str
    duplicate_of: str | None
    copy: int


@dataclass(slots=True)
class LatencyFact:
    """The first status ``code`` that ``receiver`` sent for a document, and when the hub accepted both."""

    receiver: str
    original_sender: str
    document_id: str
    accepted_at: str  # hub acceptance of the (first) document package delivered to the receiver
    code: str
    status_at: str  # hub acceptance of the first status package with that code


@dataclass(slots=True)
class StatsFacts:
    """What :mod:`simulator.hub.stats` aggregates, read in one snapshot."""

    packages: list[PackageFact]
    deliveries: list[DeliveryFact]
    order_violations: list[StatusEvent]  # status events whose verdict is not legal (neither ok nor repeat)
    latencies: list[LatencyFact]


class StoreTxn(Protocol):
    """Inside one write transaction (the write lock is held)."""

    def agencies(self, codes: Sequence[str]) -> dict[str, AgencyRecord]: ...
    def find_duplicate(self, dup_key: str) -> str | None: ...
    def find_document(
        self, document_id: str, from_organ: str, recipient: str | None = None
    ) -> str | None: ...
    def document_recipients(self, document_id: str, from_organ: str) -> list[str]: ...
    def status_history(self, document_id: str, original_sender: str, receiver: str) -> list[str]: ...
    def insert_package(self, package: PackageRecord, deliveries: Sequence[DeliveryRecord]) -> None: ...
    def add_status_events(self, events: Sequence[StatusEvent]) -> None: ...
    def add_evidence(self, record: EvidenceRecord) -> int: ...
    def delivery(self, doc_id: str) -> DeliveryView | None: ...
    def mark_fetched(self, doc_id: str, at: dt.datetime) -> None: ...
    def set_delivery_state(self, doc_id: str, state: DeliveryState, desc: str, at: dt.datetime) -> None: ...
    def upsert_agency(self, record: AgencyRecord, at: dt.datetime) -> AgencyRecord: ...
    def delete_agency(self, code: str, at: dt.datetime) -> None: ...
    def set_setting(self, key: str, value: Any) -> None: ...
    def get_setting(self, key: str) -> Any | None:
        """The committed value (not the cache): for read-modify-write of a setting."""
        ...

    def delete_setting(self, key: str) -> None: ...
    def clear_fault_counters(self) -> None: ...
    def duplicate_deliveries(self, package_doc_id: str, at: dt.datetime, copies: int = 1) -> list[str]:
        """Add ``copies`` extra deliveries of each recipient's delivery of a package; their docIds."""
        ...

    def reset_traffic(self, record: EvidenceRecord) -> dict[str, int]:
        """Delete packages, deliveries, status history, evidence and fault counters; counts deleted.

        ``record`` becomes the first evidence row, with an id above every deleted one (so a reader
        following ``since_id`` misses nothing)."""
        ...

    def reset_directory(self) -> int:
        """Delete every directory entry; how many."""
        ...


class Store(Protocol):
    settings_refresh_s: float
    """Longest time another process's settings change may take to be seen here."""

    def init(self) -> None:
        """Create the schema if needed (idempotent, safe for several processes at once)."""
        ...

    def close(self) -> None: ...

    def transaction(self) -> AbstractContextManager[StoreTxn]:
        """A write transaction: commits on normal exit (durable before it returns), rolls back on error."""
        ...

    # reads (each its own snapshot)
    def agencies(self, codes: Sequence[str]) -> dict[str, AgencyRecord]: ...
    def list_agencies(
        self, *, include_deleted: bool = False, level: int | None = None
    ) -> list[AgencyRecord]: ...
    def list_received(self, system_id: str, message_type: MessageType, limit: int) -> list[ReceivedItem]: ...
    def count_received(self, system_id: str, message_type: MessageType) -> int: ...
    def list_sent(
        self, system_id: str, message_type: MessageType, sender_doc_id: str | None, limit: int
    ) -> list[SentItem]: ...
    def delivery(self, doc_id: str) -> DeliveryView | None: ...
    def package_data(self, sha256: str) -> bytes | None: ...
    def sent_package(self, doc_id: str, system_id: str) -> tuple[str, MessageType] | None:
        """(sha256, message type) of a package this system sent, by its hub DocId."""
        ...

    def settings(self) -> Mapping[str, Any]:
        """Every runtime setting, decoded, from the cache (see the module docstring); do not mutate."""
        ...

    def get_setting(self, key: str) -> Any | None: ...
    def set_setting(self, key: str, value: Any) -> None: ...
    def delete_setting(self, key: str) -> None: ...
    def add_evidence(self, record: EvidenceRecord) -> int: ...
    def take_fault_slot(self, rule: str, limit: int | None) -> int | None:
        """Count one use of fault rule ``rule`` for every process at once: its 1-based ordinal, or None
        when ``limit`` uses were already counted (``limit=None``: no limit)."""
        ...

    def fault_usage(self) -> dict[str, int]: ...
    def list_deliveries(
        self,
        *,
        recipient: str | None = None,
        from_organ: str | None = None,
        document_id: str | None = None,
        package_doc_id: str | None = None,
        state: DeliveryState | None = None,
        limit: int = 1000,
    ) -> list[DeliveryRow]: ...
    def stats_facts(
        self, start: dt.datetime | None, end: dt.datetime | None, agency: str | None = None
    ) -> StatsFacts:
        """Facts with hub times in ``[start, end)`` (packages and deliveries by acceptance, status-order
        violations by their time, latencies by the document's acceptance); ``agency`` keeps only rows it
        is part of."""
        ...

    def evidence(self, *, since_id: int = 0, limit: int | None = None) -> Iterator[dict[str, Any]]: ...
    def evidence_jsonl(self, *, since_id: int = 0, limit: int | None = None) -> Iterator[str]: ...
