"""The reference QLVB's document register (sổ văn bản): what it received and sent, in memory.

One :class:`Registry` per QLVB, guarded by one lock. Received documents are keyed by (receiving
agency, DocumentId), sent ones by (sending agency, DocumentId). Beside the documents it remembers:

* every hub docId it has handled (``seen_hub``) — a delivery listed again (an acknowledgement that
  was lost, a duplicate copy) is recognised and only acknowledged;
* every (sender, package SHA-256) it has handled — the same package delivered twice under two hub
  docIds is not registered or answered twice;
* the deliveries whose acknowledgement (``updateStatus done``) is still due, and the statuses each
  document still has to send (its ``outbox``): the engine acknowledges a delivery only once the
  document is in the register and its statuses went out, and retries both in later rounds, so a
  hub fault never loses or duplicates anything.

The register is the "commit" of the QLVB: a document is committed when :meth:`Registry.put_received`
returns. (An SQLite-backed register can replace this class behind the same methods.)
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from simulator.edxml.model import BusinessDocType, DocumentPackage, Priority, StatusCode
from simulator.edxml.status import LIFECYCLE
from simulator.sut.driver import AttachmentDigest, LegalValidity, SutDocumentState

__all__ = ["OutgoingStatus", "ReceivedDoc", "Registry", "SentDoc", "StatusEvent"]


@dataclass(slots=True)
class OutgoingStatus:
    """A status the QLVB decided to send and has not sent yet."""

    code: StatusCode
    description: str


@dataclass(slots=True)
class StatusEvent:
    """One status exchanged about a document (sent by this QLVB or received from a peer)."""

    code: StatusCode
    from_code: str
    description: str
    at: dt.datetime
    hub_doc_id: str = ""


@dataclass(slots=True)
class ReceivedDoc:
    agency: str  # the receiving agency (one of the QLVB's)
    document_id: str
    sender: str
    package: DocumentPackage
    package_sha256: str
    legal_validity: LegalValidity
    verdict: str  # why (signature / refusal reason)
    priority: Priority
    subject: str
    business: BusinessDocType
    attachments: tuple[AttachmentDigest, ...]
    receivers: list[str]
    received_at: dt.datetime
    updated_at: dt.datetime
    arrival: int
    hub_doc_ids: list[str] = field(default_factory=list)
    active: bool = True
    history: list[StatusCode] = field(default_factory=list)  # statuses sent by this QLVB (+ 13 received)
    events: list[StatusEvent] = field(default_factory=list)
    outbox: list[OutgoingStatus] = field(default_factory=list)
    recall_pending: bool = False
    recall_answer: StatusCode | None = None  # 15 or 16 once answered
    replaced_by: str | None = None

    @property
    def status(self) -> StatusCode | None:
        """The last lifecycle status (01–06) this QLVB reported."""
        lifecycle = [s for s in self.history if s in LIFECYCLE]
        return lifecycle[-1] if lifecycle else None

    def state(self) -> SutDocumentState:
        return SutDocumentState(
            document_id=self.document_id,
            agency=self.agency,
            direction="received",
            status=self.status,
            legal_validity=self.legal_validity,
            active=self.active,
            priority=self.priority,
            subject=self.subject,
            business=self.business,
            attachments=self.attachments,
            statuses_from_receivers={},
            updated_at=self.updated_at,
        )


@dataclass(slots=True)
class SentDoc:
    agency: str  # the sending agency (one of the QLVB's)
    document_id: str
    package: DocumentPackage
    recipients: list[str]
    legal_validity: LegalValidity
    priority: Priority
    subject: str
    business: BusinessDocType
    attachments: tuple[AttachmentDigest, ...]
    sent_at: dt.datetime
    updated_at: dt.datetime
    hub_doc_ids: list[str] = field(default_factory=list)
    active: bool = True
    recall_pending: bool = False  # a recall was sent; a 15 from a receiver makes the document inactive
    statuses_from_receivers: dict[str, StatusCode] = field(default_factory=dict)
    events: list[StatusEvent] = field(default_factory=list)

    @property
    def status(self) -> StatusCode | None:
        return self.events[-1].code if self.events else None

    def state(self) -> SutDocumentState:
        return SutDocumentState(
            document_id=self.document_id,
            agency=self.agency,
            direction="sent",
            status=self.status,
            legal_validity=self.legal_validity,
            active=self.active,
            priority=self.priority,
            subject=self.subject,
            business=self.business,
            attachments=self.attachments,
            statuses_from_receivers=dict(self.statuses_from_receivers),
            updated_at=self.updated_at,
        )


_Key = tuple[str, str]


class Registry:
    """Received and sent documents plus the bookkeeping for exactly-once handling. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._received: dict[_Key, ReceivedDoc] = {}
        self._sent: dict[_Key, SentDoc] = {}
        self._seen_hub: dict[str, _Key | None] = {}
        self._seen_packages: set[tuple[str, str, str]] = set()  # (agency, sender, sha256)
        self._pending_acks: dict[str, _Key | None] = {}
        self._failures: dict[str, int] = {}
        self._arrivals = 0

    @contextmanager
    def locked(self) -> Iterator[None]:
        with self._lock:
            yield

    # ------------------------------------------------------------------ received
    def next_arrival(self) -> int:
        with self._lock:
            self._arrivals += 1
            return self._arrivals

    def received(self, agency: str, document_id: str) -> ReceivedDoc | None:
        with self._lock:
            return self._received.get((agency, document_id))

    def received_for_sender(self, agency: str, document_id: str, sender: str) -> ReceivedDoc | None:
        with self._lock:
            doc = self._received.get((agency, document_id))
            return doc if doc is not None and doc.sender == sender else None

    def put_received(self, doc: ReceivedDoc) -> None:
        """Commit a received document (replacing an earlier record under the same key)."""
        with self._lock:
            self._received[(doc.agency, doc.document_id)] = doc

    def all_received(self) -> list[ReceivedDoc]:
        with self._lock:
            return list(self._received.values())

    def with_outbox(self) -> list[ReceivedDoc]:
        with self._lock:
            return sorted((d for d in self._received.values() if d.outbox), key=lambda d: d.arrival)

    # ------------------------------------------------------------------ sent
    def sent(self, agency: str, document_id: str) -> SentDoc | None:
        with self._lock:
            return self._sent.get((agency, document_id))

    def sent_by_id(self, document_id: str) -> list[SentDoc]:
        with self._lock:
            return [d for (_, doc_id), d in self._sent.items() if doc_id == document_id]

    def put_sent(self, doc: SentDoc) -> None:
        with self._lock:
            self._sent[(doc.agency, doc.document_id)] = doc

    def all_sent(self) -> list[SentDoc]:
        with self._lock:
            return list(self._sent.values())

    # ------------------------------------------------------------------ exactly-once bookkeeping
    def seen_hub(self, hub_doc_id: str) -> bool:
        with self._lock:
            return hub_doc_id in self._seen_hub

    def mark_hub(self, hub_doc_id: str, key: _Key | None) -> None:
        with self._lock:
            self._seen_hub[hub_doc_id] = key

    def seen_package(self, agency: str, sender: str, sha256: str) -> bool:
        with self._lock:
            return (agency, sender, sha256) in self._seen_packages

    def mark_package(self, agency: str, sender: str, sha256: str) -> None:
        with self._lock:
            self._seen_packages.add((agency, sender, sha256))

    def add_pending_ack(self, hub_doc_id: str, key: _Key | None) -> None:
        """The delivery ``hub_doc_id`` is to be acknowledged once ``key``'s outbox is empty."""
        with self._lock:
            self._pending_acks[hub_doc_id] = key

    def acks_due(self) -> list[str]:
        """Deliveries whose document has no status left to send."""
        with self._lock:
            due: list[str] = []
            for hub_doc_id, key in self._pending_acks.items():
                doc = self._received.get(key) if key is not None else None
                if doc is None or not doc.outbox:
                    due.append(hub_doc_id)
            return due

    def pending_acks(self) -> list[str]:
        with self._lock:
            return list(self._pending_acks)

    def ack_done(self, hub_doc_id: str) -> None:
        with self._lock:
            self._pending_acks.pop(hub_doc_id, None)

    def count_failure(self, hub_doc_id: str) -> int:
        """One more failed attempt at handling ``hub_doc_id``; returns how many so far."""
        with self._lock:
            self._failures[hub_doc_id] = self._failures.get(hub_doc_id, 0) + 1
            return self._failures[hub_doc_id]
