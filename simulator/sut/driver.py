"""The contract for driving a system under test (SUT).

A SUT is a QLVB that polls the hub. Scenarios where the SUT only reacts (receive, refuse a broken
package, answer a recall) need nothing but the hub. Scenarios where the SUT must act first (send,
recall, update, replace, advance a status) or where the harness must look inside the SUT (legal
validity, whether a recalled document is gone) go through a **driver**:

* ``HttpDriver`` — the test-driver HTTP API a vendor implements on its side
  (``simulator/sut/driver-openapi.json``);
* ``ManualDriver`` — prints a numbered instruction for the operator and waits, bounded, for the
  effect to show up at the hub;
* the reference QLVB implements the same API in-process.

An operation a driver cannot perform raises :class:`NotSupported`; the scenario that needs it is
reported NOT APPLICABLE with that reason, never silently skipped.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal, Protocol, runtime_checkable

from simulator.edxml.model import BusinessDocType, Priority, StatusCode

__all__ = [
    "AttachmentDigest",
    "AttachmentSpec",
    "Capability",
    "DriverError",
    "DriverInfo",
    "LegalValidity",
    "NotSupported",
    "OutgoingDocument",
    "ProbeResult",
    "SentRef",
    "SutDocumentState",
    "SutDriver",
]


class Capability(StrEnum):
    """What a driver can do. ``info().capabilities`` lists them; scenarios declare what they need."""

    SEND = "send"
    RECALL = "recall"
    UPDATE = "update"
    REPLACE = "replace"
    ADVANCE = "advance"  # move a received document to 03/04/05/06
    REFUSE = "refuse"  # refuse a received document (02) with a reason
    ANSWER_RECALL = "answer-recall"  # clerk's decision on a recall/update request (15/16)
    QUERY = "query"  # report what the SUT holds for a DocumentId
    SYNC_CLOCK = "sync-clock"  # synchronise the SUT's clock with the hub now
    PROBE_HUB = "probe-hub"  # try to connect to a given hub URL and say whether TLS was accepted
    PAUSE_INTAKE = "pause-intake"  # stop / resume polling the hub (for ordering scenarios)


class LegalValidity(StrEnum):
    """QD28-4: a validly signed e-document has the legal value of paper; otherwise reference only."""

    SIGNED_VALID = "signed-valid"
    REFERENCE_ONLY = "reference-only"
    INVALID = "invalid"  # refused: broken integrity or authenticity


@dataclass(frozen=True, slots=True)
class AttachmentSpec:
    name: str
    data: bytes
    content_type: str | None = None


@dataclass(frozen=True, slots=True)
class OutgoingDocument:
    """What the harness asks the SUT to send."""

    from_: str  # an agency code the SUT hosts
    to: Sequence[str]
    subject: str
    priority: Priority = Priority.NORMAL
    attachments: Sequence[AttachmentSpec] = ()
    response_for: str | None = None  # DocumentId this document answers
    sign: bool = True


@dataclass(frozen=True, slots=True)
class SentRef:
    """The SUT's answer to a send/replace: the DocumentId it gave the document."""

    document_id: str
    hub_doc_ids: tuple[str, ...] = ()  # DocIds the hub returned, when the SUT reports them


@dataclass(frozen=True, slots=True)
class AttachmentDigest:
    name: str
    sha256: str  # hex digest of the file itself (inside the ZIP for the official form)
    size: int


@dataclass(frozen=True, slots=True)
class SutDocumentState:
    """What the SUT holds for one DocumentId at one of its agencies."""

    document_id: str
    agency: str
    direction: Literal["received", "sent"]
    # last business status the SUT recorded (received: its own; sent: latest from receivers)
    status: StatusCode | None
    legal_validity: LegalValidity
    active: bool  # False once recalled (15) or replaced
    priority: Priority | None = None
    subject: str | None = None
    business: BusinessDocType = BusinessDocType.NEW
    attachments: tuple[AttachmentDigest, ...] = ()
    # sent documents: receiver → latest status it reported
    statuses_from_receivers: dict[str, StatusCode] = field(default_factory=dict)
    updated_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class DriverInfo:
    product: str
    version: str
    agencies: tuple[str, ...]
    capabilities: frozenset[Capability]


@dataclass(frozen=True, slots=True)
class ProbeResult:
    connected: bool  # True: the SUT completed a TLS handshake and accepted the hub's certificate
    detail: str


class DriverError(RuntimeError):
    """The driver could not do what was asked (unreachable, refused, bad answer). Message says why."""


class NotSupported(DriverError):
    """The driver (or the operator in manual mode) cannot perform this operation at all."""

    def __init__(self, capability: Capability, detail: str = "") -> None:
        self.capability = capability
        suffix = f": {detail}" if detail else ""
        super().__init__(f"the SUT's driver does not support '{capability.value}'{suffix}")


@runtime_checkable
class SutDriver(Protocol):
    """Every method is bounded in time and raises DriverError / NotSupported, never hangs."""

    def info(self) -> DriverInfo: ...

    def send_document(self, document: OutgoingDocument) -> SentRef: ...

    def recall(
        self, document_id: str, *, agency: str, form: Literal["package", "status"], reason: str
    ) -> None: ...

    def update(
        self,
        document_id: str,
        *,
        agency: str,
        reason: str,
        subject: str | None = None,
        add_receivers: Sequence[str] = (),
        remove_receivers: Sequence[str] = (),
    ) -> None: ...

    def replace(self, document_id: str, *, agency: str, reason: str, new: OutgoingDocument) -> SentRef: ...

    def advance(
        self, document_id: str, *, agency: str, status: StatusCode, description: str | None = None
    ) -> None: ...

    def refuse(self, document_id: str, *, agency: str, reason: str) -> None: ...

    def answer_recall(
        self, document_id: str, *, agency: str, agree: bool, reason: str | None = None
    ) -> None: ...

    def query(self, document_id: str, *, agency: str) -> SutDocumentState | None: ...

    def sync_clock(self) -> None: ...

    def probe_hub(self, url: str) -> ProbeResult: ...

    def pause_intake(self, paused: bool) -> None: ...
