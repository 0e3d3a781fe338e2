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
* **Runtime settings** (policies and the like) live in the store, so that a control API changing them
  reaches every worker process.

Delivery states (``status`` / ``status_desc`` in replies): ``initial`` (routed, not yet fetched or
acknowledged), ``processing`` (the receiver said it is working on it), ``done`` (acknowledged), ``fail``
(the receiver could not take it). ``initial`` and ``processing`` are pending: listed and counted until
acknowledged with ``done`` or ``fail``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal, Protocol

__all__ = [
    "PENDING_STATES",
    "AgencyRecord",
    "DeliveryRecord",
    "DeliveryState",
    "DeliveryView",
    "EvidenceRecord",
    "PackageRecord",
    "ReceivedItem",
    "SentItem",
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


@dataclass(slots=True)
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


class Store(Protocol):
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

    def get_setting(self, key: str) -> Any | None: ...
    def set_setting(self, key: str, value: Any) -> None: ...
    def add_evidence(self, record: EvidenceRecord) -> int: ...
    def evidence(self, *, since_id: int = 0, limit: int | None = None) -> Iterator[dict[str, Any]]: ...
    def evidence_jsonl(self, *, since_id: int = 0, limit: int | None = None) -> Iterator[str]: ...
