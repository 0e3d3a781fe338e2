"""Typed model of edXML packages (QCVN 102:2016/BTTTT, amended 2022).

The model mirrors spec/edxml.md §2–§4 element for element. Field names are the snake_case of
the element names (``OrganId`` → ``organ_id``, ``Bussiness`` → ``business``). Values are typed:
dates are :class:`datetime.date`, timestamps are aware :class:`datetime.datetime` (Vietnam time
when built here), integers are ``int``. ``None`` means "element absent"; the parser turns
unreadable values into ``None`` plus a diagnostic, so a model never holds garbage.

Nothing here does I/O or XML; see ``builder`` and ``parser``.
"""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum

__all__ = [
    "NAMESPACE",
    "Appendix",
    "Attachment",
    "Business",
    "BusinessDocType",
    "BusinessDocumentInfo",
    "Code",
    "DocumentHeader",
    "DocumentPackage",
    "DocumentType",
    "ManifestReference",
    "Organization",
    "OtherInfo",
    "Package",
    "Priority",
    "PromulgationInfo",
    "ReceiverChange",
    "ReceiverType",
    "ReplacementInfo",
    "ResponseFor",
    "SignerInfo",
    "StaffInfo",
    "StatusCode",
    "StatusHeader",
    "StatusPackage",
    "TraceHeader",
    "TraceHeaderList",
]

NAMESPACE = "http://www.mic.gov.vn/TBT/QCVN_102_2016"


class Priority(IntEnum):
    """OtherInfo/Priority (độ khẩn)."""

    NORMAL = 0  # thường
    URGENT = 1  # khẩn
    VERY_URGENT = 2  # thượng khẩn
    FLASH = 3  # hỏa tốc
    FLASH_TIMED = 4  # hỏa tốc hẹn giờ

    @property
    def is_urgent(self) -> bool:
        return self is not Priority.NORMAL


class BusinessDocType(IntEnum):
    """TraceHeaderList/Bussiness/BussinessDocType."""

    NEW = 0
    RECALL = 1  # thu hồi
    UPDATE = 2  # cập nhật
    REPLACE = 3  # thay thế


class ReceiverType(IntEnum):
    """ReceiverList/Receiver/ReceiverType in an update."""

    REMOVED = 0
    ADDED = 1


class StatusCode(StrEnum):
    """Business status codes carried by status packages (spec/edxml.md §3)."""

    ARRIVED = "01"  # đã đến
    REFUSED = "02"  # từ chối tiếp nhận (reason required)
    ACCEPTED = "03"  # đã tiếp nhận
    ASSIGNED = "04"  # phân công
    IN_PROGRESS = "05"  # đang xử lý
    COMPLETED = "06"  # hoàn thành
    RECALL_REQUEST = "13"  # yêu cầu lấy lại / thu hồi (sent by the sender)
    RECALL_AGREED = "15"  # đồng ý lấy lại / cập nhật
    RECALL_REFUSED = "16"  # từ chối lấy lại / cập nhật (reason required)

    @property
    def sent_by_sender(self) -> bool:
        """True for codes the original sender emits (13); all others come from the receiver."""
        return self is StatusCode.RECALL_REQUEST

    @property
    def needs_reason(self) -> bool:
        return self in (StatusCode.REFUSED, StatusCode.RECALL_REQUEST, StatusCode.RECALL_REFUSED)


@dataclass(slots=True)
class Organization:
    """From / To: an agency (cơ quan) identified by its OrganId (mã định danh)."""

    organ_id: str
    organ_name: str | None = None
    organization_in_charge: str | None = None
    organ_add: str | None = None
    email: str | None = None
    telephone: str | None = None
    fax: str | None = None
    website: str | None = None


@dataclass(slots=True)
class Code:
    """Số và ký hiệu: number and notation (e.g. 7816 / VPCP-TTĐT)."""

    code_number: str
    code_notation: str

    def __str__(self) -> str:
        return f"{self.code_number}/{self.code_notation}"


@dataclass(slots=True)
class PromulgationInfo:
    place: str | None = None
    promulgation_date: dt.date | None = None


@dataclass(slots=True)
class DocumentType:
    type: int | None = None
    type_detail: int | None = None
    type_name: str | None = None  # e.g. "Công văn"


@dataclass(slots=True)
class SignerInfo:
    competence: str | None = None  # e.g. "TL. BỘ TRƯỞNG"
    position: str | None = None
    full_name: str | None = None


@dataclass(slots=True)
class Appendix:
    text: str


@dataclass(slots=True)
class OtherInfo:
    priority: Priority | None = None
    sphere_of_promulgation: str | None = None
    typer_notation: str | None = None
    promulgation_amount: int | None = None
    page_amount: int | None = None
    direction: bool | None = None
    appendixes: list[Appendix] = field(default_factory=list)


@dataclass(slots=True)
class ResponseFor:
    """The document an answer or a status refers to."""

    organ_id: str
    document_id: str
    code: str | None = None  # "number/notation"
    promulgation_date: dt.date | None = None


@dataclass(slots=True)
class StaffInfo:
    department: str | None = None
    staff: str | None = None
    mobile: str | None = None
    email: str | None = None


@dataclass(slots=True)
class TraceHeader:
    """One hop. ``organ_id`` may be absent (seen in real hub output)."""

    timestamp: dt.datetime | None
    organ_id: str | None = None


@dataclass(slots=True)
class ReceiverChange:
    organ_id: str
    receiver_type: ReceiverType


@dataclass(slots=True)
class BusinessDocumentInfo:
    """For BussinessDocType 2 (update)."""

    document_info: bool = False  # metadata changed
    document_receiver: bool = False  # recipients changed
    receivers: list[ReceiverChange] = field(default_factory=list)


@dataclass(slots=True)
class ReplacementInfo:
    """For BussinessDocType 3 (replace): which document is replaced, for whom."""

    document_id: str
    organ_ids: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Business:
    """TraceHeaderList/Bussiness (sic): the business operation this package carries."""

    document_id: str
    business_doc_type: BusinessDocType = BusinessDocType.NEW
    business_doc_reason: str | None = None
    paper: int | None = None  # 0/1: a paper copy also follows
    staff_info: StaffInfo | None = None
    document_info: BusinessDocumentInfo | None = None  # update only
    replacements: list[ReplacementInfo] = field(default_factory=list)  # replace only


@dataclass(slots=True)
class TraceHeaderList:
    trace_headers: list[TraceHeader] = field(default_factory=list)
    business: Business | None = None
    attributes: dict[str, str] = field(default_factory=dict)  # id, version, mustUnderstand, actor


@dataclass(slots=True)
class DocumentHeader:
    """MessageHeader of a document package (spec/edxml.md §2)."""

    from_: Organization
    to: list[Organization]
    document_id: str
    subject: str
    code: Code | None = None
    promulgation_info: PromulgationInfo | None = None
    document_type: DocumentType | None = None
    content: str | None = None
    signer_info: SignerInfo | None = None
    due_date: dt.date | None = None
    other_info: OtherInfo | None = None
    response_for: list[ResponseFor] = field(default_factory=list)
    steering_type: int | None = None
    to_places: list[str] = field(default_factory=list)

    @property
    def priority(self) -> Priority:
        if self.other_info is None or self.other_info.priority is None:
            return Priority.NORMAL
        return self.other_info.priority


@dataclass(slots=True)
class ManifestReference:
    """edXMLManifest/Reference: announces one attachment."""

    content_id: str  # "cid:1"
    attachment_name: str
    content_type: str | None = None  # may name the inner type (application/pdf) while the attachment says zip
    description: str | None = None


class Attachment:
    """AttachmentEncoded/Attachment.

    ``payload`` is the decoded ContentTransferEncoded bytes: for the official builder's form a ZIP
    archive holding one file (``content_type == "application/zip"``), for the lenient form the
    file itself. ``simulator.edxml.attachments`` wraps and unwraps.

    ``encoded=`` (instead of ``payload``) makes one from base64 text already checked to be valid
    (RFC 4648, no whitespace): ``payload`` decodes it on first use. The hub reads every package it
    routes but never opens an attachment in lenient mode, and decoding 50 KB of base64 costs more
    than verifying the package's signature.
    """

    __slots__ = ("_encoded", "_payload", "attachment_name", "content_id", "content_type", "description")
    __match_args__ = ("content_id", "attachment_name", "payload", "content_type", "description")

    def __init__(
        self,
        content_id: str,
        attachment_name: str,
        payload: bytes | None = None,
        content_type: str | None = "application/zip",
        description: str | None = None,
        *,
        encoded: str | None = None,
    ) -> None:
        if (payload is None) == (encoded is None):
            raise TypeError("Attachment needs either payload (bytes) or encoded (checked base64 text)")
        self.content_id = content_id
        self.attachment_name = attachment_name
        self.content_type = content_type
        self.description = description
        self._payload: bytes | None = payload
        self._encoded: str | None = encoded

    @property
    def payload(self) -> bytes:
        if self._payload is None:
            self._payload = base64.b64decode(self._encoded or "")
            self._encoded = None
        return self._payload

    @payload.setter
    def payload(self, value: bytes) -> None:
        self._payload, self._encoded = value, None

    def _key(self) -> tuple[str, str, bytes, str | None, str | None]:
        return (self.content_id, self.attachment_name, self.payload, self.content_type, self.description)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Attachment):
            return NotImplemented
        return self._key() == other._key()

    __hash__ = None  # type: ignore[assignment]  # mutable, like the dataclasses beside it

    def __repr__(self) -> str:
        return (
            f"Attachment(content_id={self.content_id!r}, attachment_name={self.attachment_name!r}, "
            f"payload=<{len(self.payload)} bytes>, content_type={self.content_type!r}, "
            f"description={self.description!r})"
        )


@dataclass(slots=True)
class DocumentPackage:
    """A document package: header, trace/business, manifest and attachments."""

    header: DocumentHeader
    trace: TraceHeaderList | None = None
    manifest: list[ManifestReference] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    manifest_version: str = "1.0"

    @property
    def business_doc_type(self) -> BusinessDocType:
        if self.trace is None or self.trace.business is None:
            return BusinessDocType.NEW
        return self.trace.business.business_doc_type


@dataclass(slots=True)
class StatusHeader:
    """MessageHeader of a status package (spec/edxml.md §3)."""

    from_: Organization
    response_for: ResponseFor
    status_code: StatusCode
    timestamp: dt.datetime | None
    description: str | None = None
    staff_info: StaffInfo | None = None


@dataclass(slots=True)
class StatusPackage:
    header: StatusHeader


Package = DocumentPackage | StatusPackage
