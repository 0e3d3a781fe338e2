"""The validator: each rule fires on a package that breaks it and stays quiet on one that does not."""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from simulator.edxml.diagnostics import Diagnostic, EdxmlError, Severity
from simulator.edxml.model import (
    Attachment,
    Business,
    BusinessDocType,
    BusinessDocumentInfo,
    Code,
    DocumentHeader,
    DocumentPackage,
    DocumentType,
    ManifestReference,
    Organization,
    OtherInfo,
    Priority,
    PromulgationInfo,
    ReceiverChange,
    ReceiverType,
    ReplacementInfo,
    ResponseFor,
    SignerInfo,
    StaffInfo,
    StatusCode,
    StatusHeader,
    StatusPackage,
    TraceHeader,
    TraceHeaderList,
)
from simulator.edxml.validator import RULES, Mode, Rule, ensure_valid, validate, validate_transition
from simulator.edxml.vntime import VN_TZ
from simulator.requirements import catalogue

MH = "/edXML/edXMLEnvelope/edXMLHeader/MessageHeader"
THL = "/edXML/edXMLEnvelope/edXMLHeader/TraceHeaderList"
BUS = f"{THL}/Bussiness"
MANIFEST = "/edXML/edXMLEnvelope/edXMLBody/edXMLManifest"
ATT = "/edXML/AttachmentEncoded"

E, W, N = Severity.ERROR, Severity.WARNING, Severity.INFO

SENDER = "000.00.00.G22"
RECIPIENTS = ["000.00.12.H29", "000.01.12.H29", "000.00.00.H17"]
PROMULGATED = dt.date(2024, 5, 17)
TODAY = dt.date(2024, 5, 20)
DOC_ID = "000.00.00.G22,2024/05/17,1234/VPCP-TTĐT"
SENT_AT = dt.datetime(2024, 5, 17, 9, 15, 0, tzinfo=VN_TZ)


def _zip(*files: tuple[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files:
            zf.writestr(name, data)
    return buf.getvalue()


def rich_document(kind: BusinessDocType = BusinessDocType.NEW) -> DocumentPackage:
    """A document that breaks no rule: every optional field set, three recipients, two attachments."""
    header = DocumentHeader(
        from_=Organization(SENDER, organ_name="Văn phòng Chính phủ", email="vpcp@chinhphu.vn"),
        to=[Organization(oid, organ_name=f"Cơ quan {i}") for i, oid in enumerate(RECIPIENTS, start=1)],
        document_id=DOC_ID,
        subject="V/v triển khai gửi, nhận văn bản điện tử qua Trục liên thông văn bản quốc gia",
        code=Code("1234", "VPCP-TTĐT"),
        promulgation_info=PromulgationInfo("Hà Nội", PROMULGATED),
        document_type=DocumentType(1, 0, "Công văn"),
        content="Nội dung",
        signer_info=SignerInfo("KT. BỘ TRƯỞNG, CHỦ NHIỆM", "Phó Chủ nhiệm", "Nguyễn Văn A"),
        due_date=dt.date(2024, 6, 1),
        other_info=OtherInfo(priority=Priority.URGENT, promulgation_amount=3, page_amount=2, direction=False),
        response_for=[
            ResponseFor(
                "000.00.12.H29", "000.00.12.H29,2024/05/02,88/UBND-KT", "88/UBND-KT", dt.date(2024, 5, 2)
            )
        ],
        steering_type=1,
        to_places=["Như trên", "Lưu: VT"],
    )
    business = Business(DOC_ID, kind, staff_info=StaffInfo("Văn thư", "Trần Thị B"), paper=0)
    if kind is BusinessDocType.RECALL:
        business.business_doc_reason = "Ban hành nhầm"
    elif kind is BusinessDocType.UPDATE:
        business.business_doc_reason = "Bổ sung nơi nhận"
        business.document_info = BusinessDocumentInfo(
            document_info=False,
            document_receiver=True,
            receivers=[ReceiverChange("000.00.00.H31", ReceiverType.ADDED)],
        )
    elif kind is BusinessDocType.REPLACE:
        business.business_doc_reason = "Thay thế văn bản có sai sót"
        business.replacements = [
            ReplacementInfo("000.00.00.G22,2024/05/10,1200/VPCP-TTĐT", ["000.00.12.H29", "000.01.12.H29"])
        ]
    trace = TraceHeaderList(
        trace_headers=[
            TraceHeader(SENT_AT, SENDER),
            TraceHeader(SENT_AT + dt.timedelta(seconds=1)),  # the hub's hop, without OrganId (seen)
        ],
        business=business,
    )
    refs, atts = [], []
    for n, (name, inner) in enumerate([("congvan.pdf", "application/pdf"), ("phuluc.docx", None)], start=1):
        refs.append(ManifestReference(f"cid:{n}", name, content_type=inner or "application/zip"))
        atts.append(Attachment(f"cid:{n}", name, _zip((name, f"file {n}".encode()))))
    return DocumentPackage(header, trace, refs, atts)


def status(code: StatusCode = StatusCode.ACCEPTED, **changes: Any) -> StatusPackage:
    reporter = SENDER if code is StatusCode.RECALL_REQUEST else RECIPIENTS[0]
    header = StatusHeader(
        from_=Organization(reporter, organ_name="Cơ quan"),
        response_for=ResponseFor(SENDER, DOC_ID, "1234/VPCP-TTĐT", PROMULGATED),
        status_code=code,
        timestamp=dt.datetime(2024, 5, 17, 10, 0, 0, tzinfo=VN_TZ),
        description="Lý do" if code.needs_reason else None,
        staff_info=StaffInfo("Văn thư", "Lê C", "0900000000", "vt@example.vn"),
    )
    for name, value in changes.items():
        setattr(header, name, value)
    return StatusPackage(header)


def run(pkg: DocumentPackage | StatusPackage, mode: Mode = Mode.STRICT) -> list[Diagnostic]:
    return validate(pkg, mode=mode, today=TODAY)


def at(diags: list[Diagnostic], requirement: str, path: str) -> list[Severity]:
    return [d.severity for d in diags if d.requirement == requirement and d.path == path]


# ---------------------------------------------------------------- valid packages stay quiet


@pytest.mark.parametrize("kind", list(BusinessDocType))
@pytest.mark.parametrize("mode", list(Mode))
def test_rich_valid_documents_have_no_diagnostics(kind: BusinessDocType, mode: Mode) -> None:
    assert run(rich_document(kind), mode) == []


@pytest.mark.parametrize("code", list(StatusCode))
def test_valid_statuses_of_every_code_have_no_diagnostics(code: StatusCode) -> None:
    assert run(status(code)) == []


def test_minimal_document_only_misses_expected_fields() -> None:
    pkg = DocumentPackage(
        DocumentHeader(
            from_=Organization(SENDER),
            to=[Organization(RECIPIENTS[0])],
            document_id=DOC_ID,
            subject="Trích yếu",
            code=Code("1234", "VPCP-TTĐT"),
            promulgation_info=PromulgationInfo(promulgation_date=PROMULGATED),
            document_type=DocumentType(type_name="Công văn"),
            signer_info=SignerInfo(full_name="Nguyễn Văn A"),
        ),
        TraceHeaderList([TraceHeader(SENT_AT, SENDER)], Business(DOC_ID)),
    )
    strict = run(pkg)
    assert {d.requirement for d in strict} == {"QD28-10.2.c-q"}
    assert {d.severity for d in strict} == {W}
    assert {d.path for d in strict} == {
        f"{MH}/From/OrganName",
        f"{MH}/To/OrganName",  # one recipient: no index
        f"{MH}/SignerInfo/Position",
        f"{MH}/PromulgationInfo/Place",
    }
    assert {d.severity for d in run(pkg, Mode.LENIENT)} == {N}


# ---------------------------------------------------------------- one case per rule violation


@dataclass(frozen=True)
class Case:
    name: str
    mutate: Callable[[DocumentPackage], Any]
    requirement: str
    path: str
    strict: Severity
    lenient: Severity | None  # None: not reported at all in lenient mode


def _set(obj: Any, **values: Any) -> None:
    for k, v in values.items():
        setattr(obj, k, v)


def _trace(p: DocumentPackage) -> TraceHeaderList:
    assert p.trace is not None
    return p.trace


def _bus(p: DocumentPackage) -> Business:
    bus = _trace(p).business
    assert bus is not None
    return bus


def _set_doc_id(p: DocumentPackage, doc_id: str) -> None:
    p.header.document_id = doc_id
    _bus(p).document_id = doc_id


def _two_file_zip(p: DocumentPackage) -> None:
    p.attachments[0].payload = _zip(("a.pdf", b"a"), ("b.pdf", b"b"))


DOC_CASES = [
    # required fields: ERROR in both modes
    Case("no-sender", lambda p: _set(p.header.from_, organ_id=""), "EDXML-REQ", f"{MH}/From/OrganId", E, E),
    Case("no-recipient", lambda p: _set(p.header, to=[]), "EDXML-REQ", f"{MH}/To", E, E),
    Case(
        "blank-recipient",
        lambda p: _set(p.header.to[1], organ_id=" "),
        "EDXML-REQ",
        f"{MH}/To[2]/OrganId",
        E,
        E,
    ),
    Case("no-document-id", lambda p: _set(p.header, document_id=""), "EDXML-REQ", f"{MH}/DocumentId", E, E),
    Case("no-code", lambda p: _set(p.header, code=None), "EDXML-REQ", f"{MH}/Code", E, E),
    Case(
        "no-code-number",
        lambda p: _set(p.header.code, code_number=""),
        "EDXML-REQ",
        f"{MH}/Code/CodeNumber",
        E,
        E,
    ),
    Case(
        "no-code-notation",
        lambda p: _set(p.header.code, code_notation="  "),
        "EDXML-REQ",
        f"{MH}/Code/CodeNotation",
        E,
        E,
    ),
    Case(
        "no-promulgation-date",
        lambda p: _set(p.header.promulgation_info, promulgation_date=None),
        "EDXML-REQ",
        f"{MH}/PromulgationInfo/PromulgationDate",
        E,
        E,
    ),
    Case(
        "no-type-name",
        lambda p: _set(p.header.document_type, type_name=""),
        "EDXML-REQ",
        f"{MH}/DocumentType/TypeName",
        E,
        E,
    ),
    Case("no-subject", lambda p: _set(p.header, subject=" \n"), "EDXML-REQ", f"{MH}/Subject", E, E),
    Case(
        "no-signer",
        lambda p: _set(p.header.signer_info, full_name=None),
        "EDXML-REQ",
        f"{MH}/SignerInfo/FullName",
        E,
        E,
    ),
    Case(
        "no-trace-header",
        lambda p: _set(_trace(p), trace_headers=[]),
        "EDXML-REQ",
        f"{THL}/TraceHeader",
        E,
        E,
    ),
    Case("no-trace-list", lambda p: _set(p, trace=None), "EDXML-REQ", f"{THL}/TraceHeader", E, E),
    Case(
        "response-without-document-id",
        lambda p: _set(p.header.response_for[0], document_id=""),
        "EDXML-REQ",
        f"{MH}/ResponseFor/DocumentId",
        E,
        E,
    ),
    # expected fields: WARNING strict, INFO lenient
    Case(
        "no-sender-name",
        lambda p: _set(p.header.from_, organ_name=None),
        "QD28-10.2.c-q",
        f"{MH}/From/OrganName",
        W,
        N,
    ),
    Case(
        "no-signer-position",
        lambda p: _set(p.header.signer_info, position=""),
        "QD28-10.2.c-q",
        f"{MH}/SignerInfo/Position",
        W,
        N,
    ),
    # lengths and enumerations
    Case("long-subject", lambda p: _set(p.header, subject="x" * 501), "EDXML-LEN", f"{MH}/Subject", E, E),
    Case(
        "priority-7",
        lambda p: _set(p.header.other_info, priority=7),
        "EDXML-ENUM",
        f"{MH}/OtherInfo/Priority",
        E,
        E,
    ),
    Case("steering-4", lambda p: _set(p.header, steering_type=4), "EDXML-ENUM", f"{MH}/SteeringType", E, W),
    Case(
        "steering-negative",
        lambda p: _set(p.header, steering_type=-1),
        "EDXML-ENUM",
        f"{MH}/SteeringType",
        E,
        W,
    ),
    Case("paper-2", lambda p: _set(_bus(p), paper=2), "EDXML-ENUM", f"{BUS}/Paper", E, W),
    Case(
        "doc-type-9",
        lambda p: _set(_bus(p), business_doc_type=9),
        "EDXML-ENUM",
        f"{BUS}/BussinessDocType",
        E,
        E,
    ),
    # recipients
    Case(
        "duplicate-recipient",
        lambda p: _set(p.header.to[2], organ_id=RECIPIENTS[0]),
        "EDXML-DUPTO",
        f"{MH}/To[3]/OrganId",
        E,
        E,
    ),
    Case(
        "duplicate-recipient-case-and-space",
        lambda p: _set(p.header.to[2], organ_id=" " + RECIPIENTS[0].lower()),
        "EDXML-DUPTO",
        f"{MH}/To[3]/OrganId",
        E,
        E,
    ),
    Case(
        "sender-is-recipient",
        lambda p: _set(p.header.to[1], organ_id=SENDER),
        "QD28-8.2",
        f"{MH}/To[2]/OrganId",
        W,
        W,
    ),
    # manifest and attachments
    Case(
        "reference-without-attachment",
        lambda p: p.attachments.pop(1),
        "EDXML-MANIFEST",
        f"{MANIFEST}/Reference[2]/ContentId",
        E,
        E,
    ),
    Case(
        "attachment-without-reference",
        lambda p: p.manifest.pop(0),
        "EDXML-MANIFEST",
        f"{ATT}/Attachment[1]/ContentId",
        E,
        E,
    ),
    Case(
        "duplicate-reference",
        lambda p: _set(p.manifest[1], content_id="cid:1"),
        "EDXML-MANIFEST",
        f"{MANIFEST}/Reference[2]/ContentId",
        E,
        E,
    ),
    Case(
        "duplicate-attachment",
        lambda p: p.attachments.append(Attachment("cid:2", "phuluc.docx", _zip(("phuluc.docx", b"x")))),
        "EDXML-MANIFEST",
        f"{ATT}/Attachment[3]/ContentId",
        E,
        E,
    ),
    Case(
        "reference-without-content-id",
        lambda p: _set(p.manifest[0], content_id=""),
        "EDXML-MANIFEST",
        f"{MANIFEST}/Reference[1]/ContentId",
        E,
        E,
    ),
    Case(
        "attachment-name-mismatch",
        lambda p: _set(p.attachments[0], attachment_name="other.pdf"),
        "EDXML-MANIFEST",
        f"{ATT}/Attachment[1]/AttachmentName",
        W,
        W,
    ),
    Case(
        "manifest-version",
        lambda p: _set(p, manifest_version="2.0"),
        "EDXML-STRUCT",
        f"{MANIFEST}/@version",
        E,
        W,
    ),
    Case(
        "two-file-zip",
        _two_file_zip,
        "EDXML-ATTACH",
        f"{ATT}/Attachment[1]/ContentTransferEncoded",
        E,
        E,
    ),
    Case(
        "zip-label-on-garbage",
        lambda p: _set(p.attachments[1], payload=b"not a zip at all"),
        "EDXML-ATTACH",
        f"{ATT}/Attachment[2]/ContentTransferEncoded",
        E,
        E,
    ),
    # agency codes
    Case(
        "recipient-code-seen-in-the-wild",
        lambda p: _set(p.header.to[0], organ_id="28.22.H17"),
        "QD28-10.2.a",
        f"{MH}/To[1]/OrganId",
        E,
        W,
    ),
    Case(
        "sender-code-lowercase",
        lambda p: _set(p.header.from_, organ_id="000.00.00.g22"),
        "QD28-10.2.a",
        f"{MH}/From/OrganId",
        E,
        W,
    ),
    Case(
        "response-for-code-bad",
        lambda p: _set(p.header.response_for[0], organ_id="vxp.saas.03"),
        "QD28-10.2.a",
        f"{MH}/ResponseFor/OrganId",
        E,
        W,
    ),
    Case(
        "hub-hop-code-is-a-warning",
        lambda p: _set(_trace(p).trace_headers[1], organ_id="vxp.saas.03"),
        "QD28-10.2.a",
        f"{THL}/TraceHeader[2]/OrganId",
        W,
        W,
    ),
    Case(
        "unreadable-code-even-leniently",
        lambda p: _set(p.header.to[0], organ_id="000.00.0０.H29"),
        "QD28-10.2.a",
        f"{MH}/To[1]/OrganId",
        E,
        E,
    ),
    # document identifiers
    Case(
        "document-id-garbage",
        lambda p: _set_doc_id(p, "VPCP-1234"),
        "QD28-10.2.b",
        f"{MH}/DocumentId",
        E,
        E,
    ),
    Case(
        "document-id-impossible-date",
        lambda p: _set_doc_id(p, "000.00.00.G22,2024/02/30,1234/VPCP-TTĐT"),
        "QD28-10.2.b",
        f"{MH}/DocumentId",
        E,
        W,
    ),
    Case(
        "business-document-id-bad-agency",
        lambda p: _set(_bus(p), document_id="28.22.H17,2024/05/17,1234/VPCP-TTĐT"),
        "QD28-10.2.b",
        f"{BUS}/DocumentId",
        E,
        W,
    ),
    Case(
        "document-id-of-another-agency",
        lambda p: _set_doc_id(p, "000.00.00.H17,2024/05/17,1234/VPCP-TTĐT"),
        "QD28-10.2.b",
        f"{MH}/DocumentId",
        W,
        W,
    ),
    Case(
        "document-id-date-not-promulgation-date",
        lambda p: _set_doc_id(p, "000.00.00.G22,2024/05/16,1234/VPCP-TTĐT"),
        "QD28-10.2.b",
        f"{MH}/DocumentId",
        W,
        W,
    ),
    Case(
        "document-id-year-not-promulgation-year",
        lambda p: _set_doc_id(p, "000.00.00.G22,2023,1234"),
        "QD28-10.2.b",
        f"{MH}/DocumentId",
        W,
        W,
    ),
    Case(
        "document-id-number-not-code",
        lambda p: _set_doc_id(p, "000.00.00.G22,2024/05/17,1235/VPCP-TTĐT"),
        "QD28-10.2.b",
        f"{MH}/DocumentId",
        W,
        W,
    ),
    Case(
        "response-for-document-id-bad",
        lambda p: _set(p.header.response_for[0], document_id="000.00.12.H29,2024/5/2,88/UBND-KT"),
        "QD28-10.2.b",
        f"{MH}/ResponseFor/DocumentId",
        E,
        W,
    ),
    Case(
        "response-for-code-without-notation",
        lambda p: _set(p.header.response_for[0], code="88"),
        "QD28-10.2.c-q",
        f"{MH}/ResponseFor/Code",
        E,
        W,
    ),
    # dates
    Case(
        "promulgated-in-the-future",
        lambda p: _set(p.header.promulgation_info, promulgation_date=TODAY + dt.timedelta(days=1)),
        "EDXML-DATE",
        f"{MH}/PromulgationInfo/PromulgationDate",
        W,
        W,
    ),
    Case(
        "due-before-promulgation",
        lambda p: _set(p.header, due_date=PROMULGATED - dt.timedelta(days=1)),
        "EDXML-DATE",
        f"{MH}/DueDate",
        W,
        W,
    ),
    Case(
        "answers-a-later-document",
        lambda p: _set(p.header.response_for[0], promulgation_date=PROMULGATED + dt.timedelta(days=1)),
        "EDXML-DATE",
        f"{MH}/ResponseFor/PromulgationDate",
        W,
        W,
    ),
    # trace and business
    Case("no-business", lambda p: _set(_trace(p), business=None), "EDXML-TRACE", BUS, E, W),
    Case(
        "business-id-differs-for-new",
        lambda p: _set(_bus(p), document_id="000.00.00.G22,2024/05/17,1/VPCP-TTĐT"),
        "EDXML-TRACE",
        f"{BUS}/DocumentId",
        E,
        W,
    ),
    Case(
        "first-hop-not-the-sender",
        lambda p: _set(_trace(p).trace_headers[0], organ_id=RECIPIENTS[0]),
        "EDXML-TRACE",
        f"{THL}/TraceHeader[1]/OrganId",
        W,
        W,
    ),
    Case(
        "first-hop-without-organ",
        lambda p: _set(_trace(p).trace_headers[0], organ_id=None),
        "EDXML-TRACE",
        f"{THL}/TraceHeader[1]/OrganId",
        E,
        W,
    ),
    Case(
        "hops-out-of-order",
        lambda p: _set(_trace(p).trace_headers[1], timestamp=SENT_AT - dt.timedelta(minutes=5)),
        "EDXML-TRACE",
        f"{THL}/TraceHeader[2]/Timestamp",
        W,
        W,
    ),
    Case(
        "hop-without-timestamp",
        lambda p: _set(_trace(p).trace_headers[0], timestamp=None),
        "EDXML-TRACE",
        f"{THL}/TraceHeader[1]/Timestamp",
        E,
        W,
    ),
    Case(
        "update-block-on-a-new-document",
        lambda p: _set(_bus(p), document_info=BusinessDocumentInfo(document_info=True)),
        "EDXML-TRACE",
        f"{BUS}/BussinessDocumentInfo",
        W,
        W,
    ),
    Case(
        "replacement-on-a-new-document",
        lambda p: _set(_bus(p), replacements=[ReplacementInfo(DOC_ID)]),
        "EDXML-TRACE",
        f"{BUS}/ReplacementInfoList",
        W,
        W,
    ),
]


def _as(kind: BusinessDocType, **business: Any) -> Callable[[DocumentPackage], None]:
    def apply(p: DocumentPackage) -> None:
        fresh = rich_document(kind)
        p.header, p.trace = fresh.header, fresh.trace
        _set(_bus(p), **business)

    return apply


BAD_RECEIVER_TYPE: Any = 5  # the model is typed; a caller bypassing the types is what is tested


def _update_receivers(p: DocumentPackage) -> None:
    _as(BusinessDocType.UPDATE)(p)
    info = _bus(p).document_info
    assert info is not None
    info.receivers[0].organ_id = "H31"


OPERATION_CASES = [
    Case(
        "recall-without-reason",
        _as(BusinessDocType.RECALL, business_doc_reason=None),
        "EDXML-TRACE",
        f"{BUS}/BussinessDocReason",
        E,
        W,
    ),
    Case(
        "update-without-info",
        _as(BusinessDocType.UPDATE, document_info=None),
        "EDXML-TRACE",
        f"{BUS}/BussinessDocumentInfo",
        E,
        W,
    ),
    Case(
        "update-receivers-changed-but-none-listed",
        _as(BusinessDocType.UPDATE, document_info=BusinessDocumentInfo(document_receiver=True)),
        "EDXML-TRACE",
        f"{BUS}/BussinessDocumentInfo/ReceiverList",
        E,
        W,
    ),
    Case(
        "update-lists-receivers-without-the-flag",
        _as(
            BusinessDocType.UPDATE,
            document_info=BusinessDocumentInfo(
                True, False, [ReceiverChange(RECIPIENTS[0], ReceiverType.REMOVED)]
            ),
        ),
        "EDXML-TRACE",
        f"{BUS}/BussinessDocumentInfo/DocumentReceiver",
        W,
        W,
    ),
    Case(
        "update-changes-nothing",
        _as(BusinessDocType.UPDATE, document_info=BusinessDocumentInfo(False, False)),
        "EDXML-TRACE",
        f"{BUS}/BussinessDocumentInfo",
        W,
        W,
    ),
    Case(
        "update-receiver-code-bad",
        _update_receivers,
        "QD28-10.2.a",
        f"{BUS}/BussinessDocumentInfo/ReceiverList/Receiver/OrganId",
        E,
        W,
    ),
    Case(
        "update-receiver-type-bad",
        _as(
            BusinessDocType.UPDATE,
            document_info=BusinessDocumentInfo(
                False, True, [ReceiverChange(RECIPIENTS[0], BAD_RECEIVER_TYPE)]
            ),
        ),
        "EDXML-ENUM",
        f"{BUS}/BussinessDocumentInfo/ReceiverList/Receiver/ReceiverType",
        E,
        E,
    ),
    Case(
        "replace-without-replacement",
        _as(BusinessDocType.REPLACE, replacements=[]),
        "EDXML-TRACE",
        f"{BUS}/ReplacementInfoList",
        E,
        W,
    ),
    Case(
        "replacement-without-document-id",
        _as(BusinessDocType.REPLACE, replacements=[ReplacementInfo("", [RECIPIENTS[0]])]),
        "EDXML-TRACE",
        f"{BUS}/ReplacementInfoList/ReplacementInfo/DocumentId",
        E,
        W,
    ),
    Case(
        "replacement-target-code-bad",
        _as(BusinessDocType.REPLACE, replacements=[ReplacementInfo(DOC_ID, [RECIPIENTS[0], "28.22.H17"])]),
        "QD28-10.2.a",
        f"{BUS}/ReplacementInfoList/ReplacementInfo/OrganIdList/OrganId[2]",
        E,
        W,
    ),
    Case(
        "replacement-document-id-bad",
        _as(BusinessDocType.REPLACE, replacements=[ReplacementInfo("000.00.00.G22,2024/13/01,1/X")]),
        "QD28-10.2.b",
        f"{BUS}/ReplacementInfoList/ReplacementInfo/DocumentId",
        E,
        W,
    ),
]

ALL_DOC_CASES = DOC_CASES + OPERATION_CASES


def _mutated(case: Case) -> DocumentPackage:
    pkg = rich_document()
    case.mutate(pkg)
    return pkg


@pytest.mark.parametrize("case", ALL_DOC_CASES, ids=lambda c: c.name)
def test_document_rule_fires_with_the_expected_severity_path_and_requirement(case: Case) -> None:
    pkg = _mutated(case)
    strict = run(pkg, Mode.STRICT)
    assert at(strict, case.requirement, case.path) == [case.strict], strict
    lenient = at(run(pkg, Mode.LENIENT), case.requirement, case.path)
    assert lenient == ([] if case.lenient is None else [case.lenient])
    for d in strict:
        assert d.message.strip()
        assert d.requirement in catalogue()


def test_a_bad_document_id_repeated_in_bussiness_is_reported_once_on_the_header() -> None:
    pkg = rich_document()
    _set_doc_id(pkg, "VPCP-1234")
    assert [d.path for d in run(pkg) if d.requirement == "QD28-10.2.b"] == [f"{MH}/DocumentId"]


def test_duplicate_recipient_message_names_the_agency_and_both_positions() -> None:
    pkg = rich_document()
    pkg.header.to[2].organ_id = RECIPIENTS[0]
    (dup,) = [d for d in run(pkg) if d.requirement == "EDXML-DUPTO"]
    assert RECIPIENTS[0] in dup.message
    assert "To[1]" in dup.message
    assert "To[3]" in dup.message


def test_orphan_reference_message_names_the_content_id() -> None:
    pkg = rich_document()
    pkg.attachments.pop(1)
    (orphan,) = [d for d in run(pkg) if d.requirement == "EDXML-MANIFEST"]
    assert "cid:2" in orphan.message


def test_subject_of_exactly_500_characters_is_fine() -> None:
    pkg = rich_document()
    pkg.header.subject = "ệ" * 500
    assert run(pkg) == []


def test_steering_type_three_and_empty_optional_blocks_are_fine() -> None:
    pkg = rich_document()
    pkg.header.steering_type = 3
    pkg.header.other_info = None
    pkg.header.due_date = None
    pkg.header.response_for = []
    assert run(pkg) == []


def test_plain_attachment_with_its_own_content_type_is_fine() -> None:
    pkg = rich_document()
    pkg.attachments[0] = Attachment("cid:1", "congvan.pdf", b"%PDF-1.7 ...", content_type="application/pdf")
    assert run(pkg) == []


def test_promulgation_today_is_not_in_the_future() -> None:
    pkg = rich_document()
    pkg.header.promulgation_info = PromulgationInfo("Hà Nội", TODAY)
    _set_doc_id(pkg, f"000.00.00.G22,{TODAY:%Y/%m/%d},1234/VPCP-TTĐT")
    assert run(pkg) == []


def test_yearly_document_id_matching_the_promulgation_year_is_fine() -> None:
    pkg = rich_document()
    _set_doc_id(pkg, "000.00.00.G22,2024,1234")
    assert run(pkg) == []


def test_recall_reuses_the_original_document_id_from_another_sender_format() -> None:
    # operations other than NEW may carry an id that does not match this header's From/date/code
    pkg = rich_document(BusinessDocType.RECALL)
    _set_doc_id(pkg, "000.00.00.G22,2024/05/10,1200/VPCP-TTĐT")
    assert run(pkg) == []


def test_default_today_is_the_vietnam_date() -> None:
    pkg = rich_document()
    assert pkg.header.promulgation_info is not None
    pkg.header.promulgation_info.promulgation_date = dt.date(2999, 1, 1)
    diags = validate(pkg)
    assert at(diags, "EDXML-DATE", f"{MH}/PromulgationInfo/PromulgationDate") == [W]


# ---------------------------------------------------------------- status packages


@dataclass(frozen=True)
class StatusCase:
    name: str
    package: Callable[[], StatusPackage]
    requirement: str
    path: str
    strict: Severity
    lenient: Severity | None


STATUS_CASES = [
    StatusCase(
        "no-reporter",
        lambda: status(from_=Organization("")),
        "EDXML-STATUS",
        f"{MH}/From/OrganId",
        E,
        E,
    ),
    StatusCase(
        "no-original-sender",
        lambda: status(response_for=ResponseFor("", DOC_ID)),
        "EDXML-STATUS",
        f"{MH}/ResponseFor/OrganId",
        E,
        E,
    ),
    StatusCase(
        "no-document-id",
        lambda: status(response_for=ResponseFor(SENDER, " ")),
        "EDXML-STATUS",
        f"{MH}/ResponseFor/DocumentId",
        E,
        E,
    ),
    StatusCase("no-timestamp", lambda: status(timestamp=None), "EDXML-STATUS", f"{MH}/Timestamp", E, E),
    StatusCase(
        "refusal-without-reason",
        lambda: status(StatusCode.REFUSED, description=""),
        "EDXML-STATUS",
        f"{MH}/Description",
        E,
        E,
    ),
    StatusCase(
        "recall-request-without-reason",
        lambda: status(StatusCode.RECALL_REQUEST, description=None),
        "EDXML-STATUS",
        f"{MH}/Description",
        E,
        E,
    ),
    StatusCase(
        "recall-refusal-without-reason",
        lambda: status(StatusCode.RECALL_REFUSED, description="  "),
        "EDXML-STATUS",
        f"{MH}/Description",
        E,
        E,
    ),
    StatusCase(
        "receiver-code-from-the-original-sender",
        lambda: status(StatusCode.COMPLETED, from_=Organization(SENDER)),
        "EDXML-STATUS",
        f"{MH}/From/OrganId",
        W,
        W,
    ),
    StatusCase(
        "recall-request-from-someone-else",
        lambda: status(StatusCode.RECALL_REQUEST, from_=Organization(RECIPIENTS[1])),
        "EDXML-STATUS",
        f"{MH}/From/OrganId",
        W,
        W,
    ),
    StatusCase(
        "unknown-code",
        lambda: status(status_code="07"),
        "EDXML-ENUM",
        f"{MH}/StatusCode",
        E,
        E,
    ),
    StatusCase(
        "original-sender-code-bad",
        lambda: status(response_for=ResponseFor("vxp.saas.03", DOC_ID)),
        "QD28-10.2.a",
        f"{MH}/ResponseFor/OrganId",
        E,
        W,
    ),
    StatusCase(
        "reporter-code-bad",
        lambda: status(from_=Organization("28.22.H17")),
        "QD28-10.2.a",
        f"{MH}/From/OrganId",
        E,
        W,
    ),
    StatusCase(
        "document-id-bad",
        lambda: status(response_for=ResponseFor(SENDER, "000.00.00.G22,2014/02/30,1/X")),
        "QD28-10.2.b",
        f"{MH}/ResponseFor/DocumentId",
        E,
        W,
    ),
    StatusCase(
        "response-code-bad",
        lambda: status(response_for=ResponseFor(SENDER, DOC_ID, code="1234")),
        "QD28-10.2.c-q",
        f"{MH}/ResponseFor/Code",
        E,
        W,
    ),
    StatusCase(
        "answers-a-document-from-the-future",
        lambda: status(response_for=ResponseFor(SENDER, DOC_ID, promulgation_date=dt.date(2024, 5, 18))),
        "EDXML-DATE",
        f"{MH}/ResponseFor/PromulgationDate",
        W,
        W,
    ),
]


@pytest.mark.parametrize("case", STATUS_CASES, ids=lambda c: c.name)
def test_status_rule_fires_with_the_expected_severity_path_and_requirement(case: StatusCase) -> None:
    pkg = case.package()
    strict = run(pkg, Mode.STRICT)
    assert at(strict, case.requirement, case.path) == [case.strict], strict
    lenient = at(run(pkg, Mode.LENIENT), case.requirement, case.path)
    assert lenient == ([] if case.lenient is None else [case.lenient])


def test_acceptance_needs_no_reason() -> None:
    assert run(status(StatusCode.ACCEPTED, description=None)) == []


def test_status_timestamp_in_utc_is_compared_as_vietnam_date() -> None:
    # 2024/05/16 20:00 UTC is 2024/05/17 03:00 in Vietnam: the same day as the promulgation
    pkg = status(timestamp=dt.datetime(2024, 5, 16, 20, 0, tzinfo=dt.UTC))
    assert run(pkg) == []


# ---------------------------------------------------------------- the registry


def test_rule_ids_are_unique_and_requirements_catalogued() -> None:
    ids = [r.id for r in RULES]
    assert len(ids) == len(set(ids))
    for rule in RULES:
        assert rule.requirement in catalogue(), rule.id
        assert rule.description.strip()
        assert set(rule.applies_to) <= {"document", "status"}
        assert rule.as_dict()["id"] == rule.id


def _only(rule: Rule) -> set[str]:
    return {r.id for r in RULES} - {rule.id}


def test_every_rule_cites_only_its_own_requirement_and_every_rule_is_exercised() -> None:
    fired: set[str] = set()
    packages: list[DocumentPackage | StatusPackage] = [_mutated(c) for c in ALL_DOC_CASES]
    packages += [c.package() for c in STATUS_CASES]
    for pkg in packages:
        for rule in RULES:
            diags = validate(pkg, today=TODAY, skip=_only(rule))
            assert {d.requirement for d in diags} <= {rule.requirement}, rule.id
            if diags:
                fired.add(rule.id)
    assert fired == {r.id for r in RULES}


def test_skip_leaves_a_rule_out_and_refuses_unknown_ids() -> None:
    pkg = rich_document()
    _two_file_zip(pkg)
    assert run(pkg)
    assert validate(pkg, today=TODAY, skip={"attachment-payload"}) == []
    with pytest.raises(ValueError, match="no-such-rule"):
        validate(pkg, skip={"no-such-rule"})


def test_attachment_size_cap_is_passed_on() -> None:
    pkg = rich_document()
    assert validate(pkg, today=TODAY, max_attachment_bytes=3) != []
    assert validate(pkg, today=TODAY, max_attachment_bytes=1024) == []


def test_validate_refuses_what_is_not_a_package() -> None:
    with pytest.raises(TypeError, match="DocumentPackage or StatusPackage"):
        validate("<edXML/>")  # type: ignore[arg-type]


def test_mode_accepts_its_string_value() -> None:
    pkg = rich_document()
    pkg.header.steering_type = 9
    assert at(validate(pkg, mode="lenient", today=TODAY), "EDXML-ENUM", f"{MH}/SteeringType") == [W]  # type: ignore[arg-type]


def test_ensure_valid_raises_on_errors_and_returns_warnings() -> None:
    pkg = rich_document()
    pkg.header.subject = ""
    with pytest.raises(EdxmlError) as info:
        ensure_valid(pkg, today=TODAY)
    assert any(d.path == f"{MH}/Subject" for d in info.value.diagnostics)
    ok = rich_document()
    ok.header.to[1].organ_id = SENDER
    assert [d.requirement for d in ensure_valid(ok, today=TODAY)] == ["QD28-8.2"]


# ---------------------------------------------------------------- status transitions


S = StatusCode


def test_legal_transition_gives_no_diagnostic() -> None:
    assert validate_transition([S.ARRIVED], S.ACCEPTED) is None
    assert validate_transition([S.ARRIVED, S.ACCEPTED], S.ACCEPTED) is None  # repeat is harmless


@pytest.mark.parametrize(
    ("history", "new", "clue"),
    [
        ([S.ARRIVED, S.ACCEPTED, S.IN_PROGRESS], S.ASSIGNED, "goes backwards"),
        ([S.ARRIVED, S.REFUSED], S.ACCEPTED, "final status 02"),
        ([S.ARRIVED, S.ACCEPTED], S.RECALL_AGREED, "not pending"),
        ([S.ARRIVED, S.ACCEPTED, S.COMPLETED], S.RECALL_REQUEST, "after 06"),
    ],
)
def test_illegal_transitions_are_errors_explaining_the_order(
    history: list[StatusCode], new: StatusCode, clue: str
) -> None:
    for mode in Mode:
        d = validate_transition(history, new, mode=mode)
        assert d is not None
        assert (d.severity, d.requirement, d.path) == (E, "QD28-14.2", f"{MH}/StatusCode")
        assert clue in d.message
        assert "01 → 02 (final) or 03" in d.message


def test_skipped_step_is_an_error_strictly_and_a_warning_leniently() -> None:
    strict = validate_transition([], S.ACCEPTED)
    assert strict is not None
    assert strict.severity is E
    assert "after nothing the next status may be 01" in strict.message
    lenient = validate_transition([], S.ACCEPTED, mode=Mode.LENIENT)
    assert lenient is not None
    assert lenient.severity is W
