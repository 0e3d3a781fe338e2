"""Builder: namespace layout, element names and order, value formats, attachments; round trips."""

from __future__ import annotations

import base64
import datetime as dt
import re

import pytest
from lxml import etree

from simulator.edxml.attachments import make_attachment
from simulator.edxml.builder import build, build_tree
from simulator.edxml.diagnostics import EdxmlError
from simulator.edxml.model import (
    NAMESPACE,
    Appendix,
    Business,
    BusinessDocType,
    BusinessDocumentInfo,
    Code,
    DocumentHeader,
    DocumentPackage,
    DocumentType,
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
from simulator.edxml.parser import parse
from simulator.edxml.vntime import VN_TZ

NS = {"e": NAMESPACE}
SENT = dt.datetime(2015, 9, 30, 14, 5, 9, tzinfo=VN_TZ)


def org(code: str, name: str | None = None, **extra: str) -> Organization:
    return Organization(organ_id=code, organ_name=name, **extra)


def rich_document(kind: BusinessDocType = BusinessDocType.NEW) -> DocumentPackage:
    """A document with every optional field set, four recipients and two attachments."""
    ref1, att1 = make_attachment(1, "7816-VPCP-TTĐT.pdf", b"%PDF-1.4 minh hoa\n" * 50, description="Văn bản")
    ref2, att2 = make_attachment(2, "phu-luc.docx", b"PK\x03\x04 not really", form="plain")
    business = Business(
        document_id="000.00.00.G22,2015/09/30,7816/VPCP-TTĐT",
        business_doc_type=kind,
        business_doc_reason="Cập nhật nơi nhận" if kind is not BusinessDocType.NEW else None,
        paper=1,
        staff_info=StaffInfo(
            department="Phòng Hành chính",
            staff="Nguyễn Văn Á",
            mobile="0912345678",
            email="van.a@chinhphu.vn",
        ),
    )
    if kind is BusinessDocType.UPDATE:
        business.document_info = BusinessDocumentInfo(
            document_info=True,
            document_receiver=True,
            receivers=[
                ReceiverChange("000.00.00.H29", ReceiverType.ADDED),
                ReceiverChange("000.00.00.G06", ReceiverType.REMOVED),
            ],
        )
    if kind is BusinessDocType.REPLACE:
        business.replacements = [
            ReplacementInfo("000.00.00.G22,2015/09/29,7800/VPCP-TTĐT", ["000.00.00.H29", "000.00.00.G06"]),
            ReplacementInfo("000.00.00.G22,2015/09/28,7790/VPCP-TTĐT", []),
        ]
    header = DocumentHeader(
        from_=org(
            "000.00.00.G22",
            "Văn phòng Chính phủ",
            organization_in_charge="Chính phủ",
            organ_add="16 Lê Hồng Phong, Ba Đình, Hà Nội",
            email="vpcp@chinhphu.vn",
            telephone="080.43162",
            fax="080.44130",
            website="chinhphu.vn",
        ),
        to=[
            org("000.00.00.G06", "Bộ Công Thương"),
            org("000.00.00.H29", "UBND tỉnh Hà Giang"),
            org("000.00.01.H29"),
            org("000.00.00.G12", "Bộ Tài chính", email=""),
        ],
        document_id="000.00.00.G22,2015/09/30,7816/VPCP-TTĐT",
        subject='V/v triển khai gửi, nhận văn bản điện tử <&> "trích yếu"',
        code=Code("7816", "VPCP-TTĐT"),
        promulgation_info=PromulgationInfo("Hà Nội", dt.date(2015, 9, 30)),
        document_type=DocumentType(1, 0, "Công văn"),
        content="Nội dung\r\ncó xuống dòng\tvà tab",
        signer_info=SignerInfo("KT. BỘ TRƯỞNG", "Thứ trưởng", "Trần Văn Bê"),
        due_date=dt.date(2015, 10, 15),
        other_info=OtherInfo(
            priority=Priority.FLASH,
            sphere_of_promulgation="Liên thông văn bản quốc gia",
            typer_notation="TVC",
            promulgation_amount=5,
            page_amount=2,
            direction=False,
            appendixes=[Appendix("Phụ lục I"), Appendix("Phụ lục II")],
        ),
        response_for=[
            ResponseFor(
                "000.00.00.G06", "000.00.00.G06,2015/09/01,12/BCT-VP", "12/BCT-VP", dt.date(2015, 9, 1)
            )
        ],
        steering_type=1,
        to_places=["Như trên", "Lưu: VT, TTĐT"],
    )
    trace = TraceHeaderList(
        trace_headers=[TraceHeader(SENT, "000.00.00.G22"), TraceHeader(SENT + dt.timedelta(seconds=1))],
        business=business,
        attributes={"id": "trace-1", "version": "1.0"},
    )
    return DocumentPackage(header=header, trace=trace, manifest=[ref1, ref2], attachments=[att1, att2])


def status(code: StatusCode, description: str | None = None) -> StatusPackage:
    return StatusPackage(
        StatusHeader(
            from_=org("000.00.00.H29", "UBND tỉnh Hà Giang", email="vanthu@hagiang.gov.vn"),
            response_for=ResponseFor(
                "000.00.00.G22",
                "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT",
                "7816/VPCP-TTĐT",
                dt.date(2015, 9, 30),
            ),
            status_code=code,
            timestamp=SENT + dt.timedelta(minutes=3),
            description=description,
            staff_info=StaffInfo("Văn thư", "Lê Thị Cê", "0987654321", "ce@hagiang.gov.vn"),
        )
    )


def minimal_document() -> DocumentPackage:
    return DocumentPackage(
        header=DocumentHeader(
            from_=org("000.00.00.G22"), to=[org("000.00.00.G06")], document_id="d1", subject="Trích yếu"
        )
    )


def _children(el: etree._Element) -> list[str]:
    return [etree.QName(c).localname for c in el if isinstance(c.tag, str)]


# ---------------------------------------------------------------- namespace layout


def test_declaration_and_namespace_layout_are_exact() -> None:
    data = build(rich_document())
    assert data.startswith(
        b'<?xml version="1.0" encoding="UTF-8"?><edXML xmlns="' + NAMESPACE.encode() + b'">'
    )
    assert b'<edXML:edXMLEnvelope xmlns:edXML="' + NAMESPACE.encode() + b'">' in data
    assert b"<edXML:MessageHeader>" in data and b"<edXML:TraceHeaderList " in data
    assert b'<edXML:edXMLManifest version="1.0">' in data
    assert b"<AttachmentEncoded><Attachment><ContentId>cid:1</ContentId>" in data
    # no other prefix is invented, and the namespace is declared exactly twice
    assert b"ns0" not in data and data.count(b"xmlns") == 2
    envelope = data[data.index(b"<edXML:edXMLEnvelope") : data.index(b"</edXML:edXMLEnvelope>")]
    attachments = data[data.index(b"<AttachmentEncoded>") :]
    # every tag inside the envelope carries the edXML: prefix, none outside it does
    assert re.findall(rb"</?([A-Za-z][\w:]*)", envelope)
    assert all(tag.startswith(b"edXML:") for tag in re.findall(rb"</?([A-Za-z][\w:]*)", envelope))
    assert not any(b":" in tag for tag in re.findall(rb"</?([A-Za-z][\w:]*)", attachments))


def test_tree_elements_are_all_in_the_qcvn_namespace() -> None:
    root = build_tree(rich_document())
    tags = [el.tag for el in root.iter() if isinstance(el.tag, str)]
    assert all(tag.startswith("{" + NAMESPACE + "}") for tag in tags)


def test_pretty_output_round_trips() -> None:
    pkg = rich_document(BusinessDocType.REPLACE)
    data = build(pkg, pretty=True)
    assert b"\n    <edXML:edXMLHeader>" in data
    result = parse(data)
    assert result.ok, result.diagnostics
    assert result.package == pkg


def test_build_is_deterministic() -> None:
    assert build(rich_document()) == build(rich_document())


# ---------------------------------------------------------------- names, order and values


def test_message_header_order_and_names_follow_the_spec() -> None:
    root = build_tree(rich_document())
    mh = root.find("e:edXMLEnvelope/e:edXMLHeader/e:MessageHeader", NS)
    assert mh is not None
    assert _children(mh) == [
        "From", "To", "To", "To", "To", "DocumentId", "Code", "PromulgationInfo", "DocumentType", "Subject",
        "Content", "SignerInfo", "DueDate", "OtherInfo", "ResponseFor", "SteeringType", "ToPlaces",
    ]  # fmt: skip
    assert _children(mh[0]) == [
        "OrganId", "OrganizationInCharge", "OrganName", "OrganAdd", "Email", "Telephone", "Fax", "Website",
    ]  # fmt: skip
    other = mh.find("e:OtherInfo", NS)
    assert other is not None
    assert _children(other) == [
        "Priority", "SphereOfPromulgation", "TyperNotation", "PromulgationAmount", "PageAmount", "Direction",
        "Appendixes",
    ]  # fmt: skip
    assert root.findtext(
        "e:edXMLEnvelope/e:edXMLHeader/e:MessageHeader/e:ToPlaces/e:Place", namespaces=NS
    ) == ("Như trên")


def test_update_uses_the_standard_spelling_and_receiver_list() -> None:
    root = build_tree(rich_document(BusinessDocType.UPDATE))
    thl = root.find("e:edXMLEnvelope/e:edXMLHeader/e:TraceHeaderList", NS)
    assert thl is not None
    assert (thl.get("id"), thl.get("version"), len(thl.attrib)) == ("trace-1", "1.0", 2)
    assert _children(thl) == ["TraceHeader", "TraceHeader", "Bussiness"]
    bus = thl.find("e:Bussiness", NS)
    assert bus is not None
    assert _children(bus) == [
        "DocumentId", "BussinessDocType", "BussinessDocReason", "Paper", "StaffInfo", "BussinessDocumentInfo",
    ]  # fmt: skip
    assert bus.findtext("e:BussinessDocType", namespaces=NS) == "2"
    assert _children(bus.find("e:StaffInfo", NS)) == ["Department", "Staff", "Email", "Mobile"]  # type: ignore[arg-type]
    info = bus.find("e:BussinessDocumentInfo", NS)
    assert info is not None
    assert info.findtext("e:DocumentInfo", namespaces=NS) == "1"
    assert info.findtext("e:DocumentReceiver", namespaces=NS) == "1"
    receivers = info.findall("e:ReceiverList/e:Receiver", NS)
    pairs = [
        (r.findtext("e:OrganId", namespaces=NS), r.findtext("e:ReceiverType", namespaces=NS))
        for r in receivers
    ]
    assert pairs == [("000.00.00.H29", "1"), ("000.00.00.G06", "0")]


def test_replace_emits_replacement_info_list() -> None:
    root = build_tree(rich_document(BusinessDocType.REPLACE))
    infos = root.findall(
        "e:edXMLEnvelope/e:edXMLHeader/e:TraceHeaderList/e:Bussiness/e:ReplacementInfoList/e:ReplacementInfo",
        NS,
    )
    assert len(infos) == 2
    assert [o.text for o in infos[0].findall("e:OrganIdList/e:OrganId", NS)] == [
        "000.00.00.H29",
        "000.00.00.G06",
    ]
    assert infos[1].find("e:OrganIdList", NS) is None  # empty list → omitted


def test_value_formats() -> None:
    pkg = rich_document()
    assert pkg.trace is not None
    # a UTC timestamp is written in Vietnam time without an offset
    pkg.trace.trace_headers[0].timestamp = dt.datetime(2015, 9, 30, 23, 30, 0, tzinfo=dt.UTC)
    root = build_tree(pkg)
    mh = "e:edXMLEnvelope/e:edXMLHeader/e:MessageHeader/"
    assert root.findtext(mh + "e:PromulgationInfo/e:PromulgationDate", namespaces=NS) == "2015/09/30"
    assert root.findtext(mh + "e:DueDate", namespaces=NS) == "2015/10/15"
    assert root.findtext(mh + "e:OtherInfo/e:Priority", namespaces=NS) == "3"
    assert root.findtext(mh + "e:OtherInfo/e:Direction", namespaces=NS) == "false"
    hop = "e:edXMLEnvelope/e:edXMLHeader/e:TraceHeaderList/e:TraceHeader/e:Timestamp"
    assert root.findtext(hop, namespaces=NS) == "2015/10/01 06:30:00"
    assert (
        root.findtext("e:edXMLEnvelope/e:edXMLHeader/e:TraceHeaderList/e:Bussiness/e:Paper", namespaces=NS)
        == "1"
    )


def test_none_is_omitted_and_empty_string_kept() -> None:
    root = build_tree(minimal_document())
    mh = root.find("e:edXMLEnvelope/e:edXMLHeader/e:MessageHeader", NS)
    assert mh is not None
    assert _children(mh) == ["From", "To", "DocumentId", "Subject"]
    assert _children(mh[0]) == ["OrganId"]
    assert root.find("e:edXMLEnvelope/e:edXMLHeader/e:TraceHeaderList", NS) is None
    # the fourth recipient of the rich document has Email="" → an empty element, not omitted
    data = build(rich_document())
    assert b"<edXML:Email></edXML:Email>" in data


def test_status_package_has_only_a_message_header() -> None:
    root = build_tree(status(StatusCode.REFUSED, "Sai thể thức"))
    envelope = root.find("e:edXMLEnvelope", NS)
    assert envelope is not None
    assert _children(root) == ["edXMLEnvelope"]
    assert _children(envelope) == ["edXMLHeader"]
    assert _children(envelope[0]) == ["MessageHeader"]
    mh = envelope[0][0]
    assert _children(mh) == ["From", "ResponseFor", "StaffInfo", "StatusCode", "Description", "Timestamp"]
    assert _children(mh.find("e:StaffInfo", NS)) == ["Department", "Staff", "Mobile", "Email"]  # type: ignore[arg-type]
    assert _children(mh.find("e:ResponseFor", NS)) == ["OrganId", "Code", "PromulgationDate", "DocumentId"]  # type: ignore[arg-type]
    assert mh.findtext("e:StatusCode", namespaces=NS) == "02"
    assert mh.findtext("e:Timestamp", namespaces=NS) == "2015/09/30 14:08:09"


def test_attachments_are_base64_without_line_breaks() -> None:
    pkg = rich_document()
    payload = bytes(range(256)) * 400  # > 76 chars of base64 many times over
    pkg.attachments[0].payload = payload
    root = build_tree(pkg)
    atts = root.findall("e:AttachmentEncoded/e:Attachment", NS)
    assert [_children(a) for a in atts] == [
        ["ContentId", "AttachmentName", "Description", "ContentType", "ContentTransferEncoded"],
        ["ContentId", "AttachmentName", "ContentType", "ContentTransferEncoded"],
    ]
    text = atts[0].findtext("e:ContentTransferEncoded", namespaces=NS)
    assert text == base64.b64encode(payload).decode("ascii")
    assert "\n" not in text
    refs = root.findall("e:edXMLEnvelope/e:edXMLBody/e:edXMLManifest/e:Reference", NS)
    assert _children(refs[0]) == ["ContentId", "ContentType", "Description", "AttachmentName"]


def test_large_attachment_survives_build_and_parse() -> None:
    data = bytes(range(251)) * (5 * 1024 * 1024 // 251)  # ~5 MB, not compressible to nothing
    ref, att = make_attachment(1, "big.pdf", data, compress=False)
    pkg = minimal_document()
    pkg.manifest, pkg.attachments = [ref], [att]
    result = parse(build(pkg))
    assert result.ok and result.package is not None
    assert isinstance(result.package, DocumentPackage)
    assert result.package.attachments[0].payload == att.payload


# ---------------------------------------------------------------- bad models are clear errors


def test_control_character_is_a_clear_error_naming_the_field() -> None:
    pkg = minimal_document()
    pkg.header.subject = "bad \x01 subject"
    with pytest.raises(EdxmlError) as info:
        build(pkg)
    diag = info.value.diagnostics[0]
    assert diag.path == "/edXML/edXMLEnvelope/edXMLHeader/MessageHeader/Subject"
    assert diag.requirement == "EDXML-XML"
    assert "XML 1.0" in diag.message


def test_path_of_a_repeated_element_is_indexed() -> None:
    pkg = minimal_document()
    pkg.header.to.append(org("000.00.00.G01\x00"))
    with pytest.raises(EdxmlError) as info:
        build(pkg)
    assert info.value.diagnostics[0].path == "/edXML/edXMLEnvelope/edXMLHeader/MessageHeader/To[2]/OrganId"


def test_bad_attribute_name_is_a_clear_error() -> None:
    pkg = rich_document()
    assert pkg.trace is not None
    pkg.trace.attributes = {"not a name": "x"}
    with pytest.raises(EdxmlError, match="TraceHeaderList"):
        build(pkg)


def test_wrong_type_is_a_programming_error() -> None:
    with pytest.raises(TypeError):
        build_tree("not a package")  # type: ignore[arg-type]


# ---------------------------------------------------------------- round trips


@pytest.mark.parametrize("kind", list(BusinessDocType))
def test_rich_document_round_trips(kind: BusinessDocType) -> None:
    pkg = rich_document(kind)
    result = parse(build(pkg))
    assert result.diagnostics == []
    assert result.kind == "document"
    assert result.package == pkg


@pytest.mark.parametrize("code", list(StatusCode))
def test_status_round_trips(code: StatusCode) -> None:
    pkg = status(code, "Lý do: thiếu chữ ký số" if code.needs_reason else None)
    result = parse(build(pkg))
    assert result.diagnostics == []
    assert result.kind == "status"
    assert result.package == pkg


def test_minimal_status_round_trips() -> None:
    pkg = StatusPackage(
        StatusHeader(org("000.00.00.H29"), ResponseFor("000.00.00.G22", "d1"), StatusCode.ARRIVED, None)
    )
    assert parse(build(pkg)).package == pkg


def test_minimal_document_round_trips() -> None:
    pkg = minimal_document()
    result = parse(build(pkg))
    assert result.ok
    assert result.package == pkg
