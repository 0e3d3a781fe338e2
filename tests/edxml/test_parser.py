"""Parser: lenient inputs read correctly, hostile inputs give one clean diagnostic, never an exception."""

from __future__ import annotations

import base64
import datetime as dt
import time

import pytest
from lxml import etree

from simulator.edxml.builder import build, build_tree, serialize
from simulator.edxml.diagnostics import Diagnostic, EdxmlError, Severity
from simulator.edxml.model import (
    NAMESPACE,
    Attachment,
    BusinessDocType,
    DocumentPackage,
    Priority,
    ReceiverType,
    StatusCode,
    StatusPackage,
)
from simulator.edxml.parser import ParseResult, element_path, parse, parse_or_raise, parse_tree
from simulator.edxml.vntime import VN_TZ
from simulator.requirements import catalogue
from tests.edxml.test_builder import minimal_document, rich_document, status

NS = {"e": NAMESPACE}
DS = "http://www.w3.org/2000/09/xmldsig#"
MH = "/edXML/edXMLEnvelope/edXMLHeader/MessageHeader"
THL = "/edXML/edXMLEnvelope/edXMLHeader/TraceHeaderList"


def _find(root: etree._Element, path: str) -> etree._Element:
    el = root.find(path, NS)
    assert el is not None, path
    return el


def _doc(result: ParseResult) -> DocumentPackage:
    assert isinstance(result.package, DocumentPackage), result.diagnostics
    return result.package


def _only(result: ParseResult, severity: Severity | None = None) -> Diagnostic:
    diags = [d for d in result.diagnostics if severity is None or d.severity is severity]
    assert len(diags) == 1, result.diagnostics
    return diags[0]


def _reparse(root: etree._Element) -> ParseResult:
    return parse(serialize(root))


def _assert_catalogued(result: ParseResult) -> None:
    cat = catalogue()
    assert all(d.requirement in cat for d in result.diagnostics), result.diagnostics


# ---------------------------------------------------------------- lenient inputs


def test_element_order_is_free() -> None:
    pkg = rich_document(BusinessDocType.UPDATE)
    root = build_tree(pkg)
    # reverse the children of every element, except list-valued siblings keep their order
    for el in root.iter():
        kids = list(el)
        by_tag: dict[str, list[etree._Element]] = {}
        for k in kids:
            by_tag.setdefault(str(k.tag), []).append(k)
        order = [k for tag in reversed(list(by_tag)) for k in by_tag[tag]]
        for k in kids:
            el.remove(k)
        el.extend(order)
    mh = _find(root, "e:edXMLEnvelope/e:edXMLHeader/e:MessageHeader")
    assert etree.QName(mh[0]).localname == "ToPlaces"  # really shuffled
    assert etree.QName(root[0]).localname == "AttachmentEncoded"
    result = _reparse(root)
    assert result.diagnostics == []
    assert result.package == pkg


def test_iso_times_are_accepted() -> None:
    pkg = rich_document()
    root = build_tree(pkg)
    _find(root, ".//e:TraceHeader/e:Timestamp").text = "2015-09-30T14:05:09+07:00"
    _find(root, ".//e:PromulgationInfo/e:PromulgationDate").text = "2015-09-30"
    result = _reparse(root)
    assert result.diagnostics == []
    assert result.package == pkg


def test_foreign_offset_is_converted_and_flagged() -> None:
    root = build_tree(rich_document())
    _find(root, ".//e:TraceHeader/e:Timestamp").text = "2015-09-30T07:05:09+00:00"
    result = _reparse(root)
    diag = _only(result)
    assert (diag.severity, diag.requirement) == (Severity.WARNING, "QD28-14.4")
    assert diag.path == f"{THL}/TraceHeader[1]/Timestamp"
    assert "+00:00" in diag.message
    trace = _doc(result).trace
    assert trace is not None
    assert trace.trace_headers[0].timestamp == dt.datetime(2015, 9, 30, 14, 5, 9, tzinfo=VN_TZ)
    assert result.ok  # a warning only


def test_iso_without_offset_is_read_as_vietnam_time_with_info() -> None:
    root = build_tree(status(StatusCode.ACCEPTED))
    _find(root, ".//e:MessageHeader/e:Timestamp").text = "2015-09-30T14:08:09"
    result = _reparse(root)
    diag = _only(result)
    assert (diag.severity, diag.requirement, diag.path) == (Severity.INFO, "QD28-14.4", f"{MH}/Timestamp")
    assert isinstance(result.package, StatusPackage)
    assert result.package.header.timestamp == dt.datetime(2015, 9, 30, 14, 8, 9, tzinfo=VN_TZ)


def test_impossible_date_is_an_error_and_the_field_is_none() -> None:
    root = build_tree(rich_document())
    _find(root, ".//e:PromulgationInfo/e:PromulgationDate").text = "2014/02/30"
    result = _reparse(root)
    diag = _only(result)
    assert (diag.severity, diag.requirement) == (Severity.ERROR, "EDXML-DATE")
    assert diag.path == f"{MH}/PromulgationInfo/PromulgationDate"
    assert "2014/02/30" in diag.message
    info = _doc(result).header.promulgation_info
    assert info is not None and info.promulgation_date is None and info.place == "Hà Nội"
    assert not result.ok


def test_leading_junk_is_dropped_with_a_warning() -> None:
    pkg = minimal_document()
    result = parse(b"\x00\x00\x01\x02" + build(pkg))
    diag = _only(result)
    assert (diag.severity, diag.requirement, diag.path) == (Severity.WARNING, "EDXML-XML", "/")
    assert "4 stray byte" in diag.message
    assert result.junk_bytes == 4
    assert result.package == pkg and result.ok


def test_leading_junk_without_stripping_is_malformed() -> None:
    result = parse(b"junk" + build(minimal_document()), strip_junk=False)
    assert result.package is None
    assert _only(result).requirement == "EDXML-XML"


def test_trace_header_list_attributes_are_kept() -> None:
    root = build_tree(rich_document())
    thl = _find(root, ".//e:TraceHeaderList")
    thl.attrib.clear()
    soap = "http://schemas.xmlsoap.org/soap/envelope/"
    thl.set("id", "TraceHeaderList")
    thl.set("version", "2")
    thl.set(f"{{{soap}}}mustUnderstand", "1")
    thl.set(f"{{{soap}}}actor", "http://schemas.xmlsoap.org/soap/actor/next")
    result = _reparse(root)
    trace = _doc(result).trace
    assert trace is not None
    assert trace.attributes == {
        "id": "TraceHeaderList",
        "version": "2",
        "mustUnderstand": "1",
        "actor": "http://schemas.xmlsoap.org/soap/actor/next",
    }


@pytest.mark.parametrize("sig_ns", [DS, NAMESPACE, None])
def test_signature_in_any_namespace_is_ignored(sig_ns: str | None) -> None:
    pkg = rich_document()
    root = build_tree(pkg)
    header = _find(root, "e:edXMLEnvelope/e:edXMLHeader")
    q = (lambda n: f"{{{sig_ns}}}{n}") if sig_ns else (lambda n: n)
    sig = etree.SubElement(header, q("Signature"))
    signed = etree.SubElement(sig, q("SignedInfo"))
    ref = etree.SubElement(signed, q("Reference"), URI="")
    etree.SubElement(ref, q("DigestValue")).text = "abc="
    etree.SubElement(sig, q("SignatureValue")).text = "!!not base64!!"
    key = etree.SubElement(etree.SubElement(sig, q("KeyInfo")), q("X509Data"))
    etree.SubElement(key, q("X509Certificate")).text = "MIIB"
    result = _reparse(root)
    assert result.diagnostics == []
    assert result.package == pkg


def test_base64_with_line_breaks_is_tolerated() -> None:
    pkg = rich_document()
    root = build_tree(pkg)
    enc = _find(root, "e:AttachmentEncoded/e:Attachment/e:ContentTransferEncoded")
    enc.text = base64.encodebytes(pkg.attachments[0].payload).decode("ascii").replace("\n", "\r\n  ")
    assert "\n" in enc.text
    result = _reparse(root)
    assert result.diagnostics == []
    assert result.package == pkg


def test_comments_and_cdata_inside_values() -> None:
    data = build(minimal_document()).replace(
        b"<edXML:Subject>Tr\xc3\xadch y\xe1\xba\xbfu</edXML:Subject>",
        b"<edXML:Subject>Tr\xc3\xadch<!-- note --> <![CDATA[y\xe1\xba\xbfu <b>]]></edXML:Subject>",
    )
    assert b"CDATA" in data
    assert _doc(parse(data)).header.subject == "Trích yếu <b>"


def test_corrected_business_spelling_is_read_with_a_warning() -> None:
    pkg = rich_document(BusinessDocType.UPDATE)
    data = build(pkg).replace(b"Bussiness", b"Business")
    result = parse(data)
    assert result.package == pkg
    assert {d.path.rsplit("/", 1)[-1] for d in result.diagnostics} == {
        "Business",
        "BusinessDocType",
        "BusinessDocReason",
        "BusinessDocumentInfo",
    }
    assert all(d.severity is Severity.WARNING and d.requirement == "EDXML-TRACE" for d in result.diagnostics)


def test_attachment_encoded_inside_the_envelope_is_read_with_a_warning() -> None:
    pkg = rich_document()
    root = build_tree(pkg)
    block = _find(root, "e:AttachmentEncoded")
    _find(root, "e:edXMLEnvelope").append(block)
    result = _reparse(root)
    diag = _only(result)
    assert (diag.severity, diag.requirement) == (Severity.WARNING, "EDXML-STRUCT")
    assert diag.path == "/edXML/edXMLEnvelope/AttachmentEncoded"
    assert result.package == pkg


def test_repeated_single_element_warns_and_reads_the_first() -> None:
    root = build_tree(minimal_document())
    mh = _find(root, "e:edXMLEnvelope/e:edXMLHeader/e:MessageHeader")
    extra = etree.SubElement(mh, f"{{{NAMESPACE}}}Subject")
    extra.text = "second"
    result = _reparse(root)
    diag = _only(result)
    assert (diag.severity, diag.requirement, diag.path) == (
        Severity.WARNING,
        "EDXML-STRUCT",
        f"{MH}/Subject[2]",
    )
    assert _doc(result).header.subject == "Trích yếu"


def test_empty_typed_element_is_absent_with_info() -> None:
    root = build_tree(rich_document())
    _find(root, ".//e:DueDate").text = "  "
    _find(root, ".//e:OtherInfo/e:PageAmount").text = None
    result = _reparse(root)
    assert [(d.severity, d.path) for d in result.diagnostics] == [
        (Severity.INFO, f"{MH}/DueDate"),
        (Severity.INFO, f"{MH}/OtherInfo/PageAmount"),
    ]
    header = _doc(result).header
    assert header.due_date is None and header.other_info is not None and header.other_info.page_amount is None
    assert result.ok


def test_missing_required_strings_become_empty() -> None:
    root = build_tree(rich_document())
    mh = _find(root, "e:edXMLEnvelope/e:edXMLHeader/e:MessageHeader")
    for name in ("DocumentId", "Subject"):
        mh.remove(_find(mh, f"e:{name}"))
    code = _find(mh, "e:Code")
    code.remove(_find(code, "e:CodeNotation"))
    result = _reparse(root)
    header = _doc(result).header
    assert (header.document_id, header.subject) == ("", "")
    assert header.code is not None and header.code.code_notation == ""
    assert result.diagnostics == []  # the validator reports required fields


def test_document_without_from_is_an_error_with_empty_from() -> None:
    root = build_tree(minimal_document())
    mh = _find(root, "e:edXMLEnvelope/e:edXMLHeader/e:MessageHeader")
    mh.remove(_find(mh, "e:From"))
    result = _reparse(root)
    diag = _only(result)
    assert (diag.severity, diag.requirement, diag.path) == (Severity.ERROR, "EDXML-REQ", f"{MH}/From")
    assert _doc(result).header.from_.organ_id == ""


# ---------------------------------------------------------------- typed values


@pytest.mark.parametrize(
    ("xpath", "value", "path"),
    [
        (".//e:OtherInfo/e:Priority", "9", f"{MH}/OtherInfo/Priority"),
        (".//e:OtherInfo/e:Priority", "khẩn", f"{MH}/OtherInfo/Priority"),
        (".//e:OtherInfo/e:PageAmount", "2 trang", f"{MH}/OtherInfo/PageAmount"),
        (".//e:OtherInfo/e:PageAmount", "1_000", f"{MH}/OtherInfo/PageAmount"),
        (".//e:OtherInfo/e:PageAmount", "9" * 5000, f"{MH}/OtherInfo/PageAmount"),
        (".//e:OtherInfo/e:Direction", "yes", f"{MH}/OtherInfo/Direction"),
        (".//e:SteeringType", "1.5", f"{MH}/SteeringType"),
        (".//e:DocumentType/e:Type", "", None),  # empty: INFO, not an error
        (".//e:Bussiness/e:Paper", "x", f"{THL}/Bussiness/Paper"),
        (".//e:Bussiness/e:BussinessDocType", "7", f"{THL}/Bussiness/BussinessDocType"),
    ],
)
def test_unreadable_typed_values_are_errors_with_paths(xpath: str, value: str, path: str | None) -> None:
    root = build_tree(rich_document())
    _find(root, xpath).text = value
    result = _reparse(root)
    assert isinstance(result.package, DocumentPackage)
    diag = _only(result)
    if path is None:
        assert diag.severity is Severity.INFO
        return
    assert (diag.severity, diag.requirement, diag.path) == (Severity.ERROR, "EDXML-ENUM", path)
    assert value[:20] in diag.message


def test_unreadable_values_become_none() -> None:
    root = build_tree(rich_document())
    _find(root, ".//e:OtherInfo/e:Priority").text = "9"
    _find(root, ".//e:OtherInfo/e:Direction").text = "TRUE"  # case-insensitive: fine
    _find(root, ".//e:Bussiness/e:BussinessDocType").text = "7"
    other = _doc(_reparse(root)).header.other_info
    assert other is not None and other.priority is None and other.direction is True
    root = build_tree(rich_document())
    _find(root, ".//e:OtherInfo/e:Priority").text = " 4 "
    other = _doc(_reparse(root)).header.other_info
    assert other is not None and other.priority is Priority.FLASH_TIMED


def test_bad_receiver_type_drops_the_receiver_and_paths_are_indexed() -> None:
    root = build_tree(rich_document(BusinessDocType.UPDATE))
    receivers = root.findall(".//e:ReceiverList/e:Receiver", NS)
    _find(receivers[1], "e:ReceiverType").text = "2"
    _find(root, ".//e:TraceHeader[2]/e:Timestamp").text = "2015/13/01 00:00:00"
    result = _reparse(root)
    assert [(d.requirement, d.path) for d in result.diagnostics] == [
        ("EDXML-DATE", f"{THL}/TraceHeader[2]/Timestamp"),
        ("EDXML-ENUM", f"{THL}/Bussiness/BussinessDocumentInfo/ReceiverList/Receiver[2]/ReceiverType"),
    ]
    trace = _doc(result).trace
    assert trace is not None and trace.business is not None and trace.business.document_info is not None
    assert [(r.organ_id, r.receiver_type) for r in trace.business.document_info.receivers] == [
        ("000.00.00.H29", ReceiverType.ADDED)
    ]
    assert trace.trace_headers[1].timestamp is None


def test_element_path_indexes_only_repeated_siblings() -> None:
    root = build_tree(rich_document())
    to2 = root.findall(".//e:MessageHeader/e:To", NS)[1]
    assert element_path(_find(to2, "e:OrganId")) == f"{MH}/To[2]/OrganId"
    assert element_path(_find(root, ".//e:From/e:OrganId")) == f"{MH}/From/OrganId"
    assert element_path(root) == "/edXML"


# ---------------------------------------------------------------- document or status


def test_status_with_a_document_marker_is_read_as_a_document() -> None:
    root = build_tree(minimal_document())
    mh = _find(root, "e:edXMLEnvelope/e:edXMLHeader/e:MessageHeader")
    etree.SubElement(mh, f"{{{NAMESPACE}}}StatusCode").text = "03"
    result = _reparse(root)
    assert result.kind == "document"
    diag = _only(result)
    assert (diag.severity, diag.requirement, diag.path) == (
        Severity.ERROR,
        "EDXML-STRUCT",
        f"{MH}/StatusCode",
    )


def test_status_with_a_trace_header_list_warns() -> None:
    pkg = status(StatusCode.IN_PROGRESS)
    root = build_tree(pkg)
    etree.SubElement(_find(root, "e:edXMLEnvelope/e:edXMLHeader"), f"{{{NAMESPACE}}}TraceHeaderList")
    result = _reparse(root)
    assert result.kind == "status" and result.package == pkg
    assert _only(result).severity is Severity.WARNING


def test_single_digit_status_code_is_accepted_with_a_warning() -> None:
    pkg = status(StatusCode.ARRIVED)
    root = build_tree(pkg)
    _find(root, ".//e:StatusCode").text = "1"
    result = _reparse(root)
    assert result.package == pkg
    assert _only(result).severity is Severity.WARNING


def test_unknown_status_code_gives_no_package_but_all_diagnostics() -> None:
    root = build_tree(status(StatusCode.ACCEPTED))
    _find(root, ".//e:StatusCode").text = "07"
    _find(root, ".//e:MessageHeader/e:Timestamp").text = "2014/02/30 10:00:00"
    result = _reparse(root)
    assert result.package is None and result.kind == "status" and not result.ok
    assert [(d.requirement, d.path) for d in result.diagnostics] == [
        ("EDXML-ENUM", f"{MH}/StatusCode"),
        ("EDXML-DATE", f"{MH}/Timestamp"),
    ]
    assert "'07'" in result.diagnostics[0].message


@pytest.mark.parametrize("missing", ["From", "ResponseFor"])
def test_status_without_from_or_response_for_gives_no_package(missing: str) -> None:
    root = build_tree(status(StatusCode.ACCEPTED))
    mh = _find(root, "e:edXMLEnvelope/e:edXMLHeader/e:MessageHeader")
    mh.remove(_find(mh, f"e:{missing}"))
    result = _reparse(root)
    assert result.package is None
    diag = _only(result)
    assert (diag.severity, diag.requirement, diag.path) == (Severity.ERROR, "EDXML-STATUS", f"{MH}/{missing}")


# ---------------------------------------------------------------- namespaces


@pytest.mark.parametrize("namespace", ["urn:not-qcvn", None])
def test_wrong_or_missing_namespace_is_an_error_but_the_package_is_read(namespace: str | None) -> None:
    pkg = rich_document()
    new = f'xmlns="{namespace}"'.encode() if namespace else b""
    data = build(pkg).replace(f'xmlns="{NAMESPACE}"'.encode(), new)
    data = data.replace(f'xmlns:edXML="{NAMESPACE}"'.encode(), f'xmlns:edXML="{namespace or ""}"'.encode())
    if namespace is None:  # no namespace at all: drop the prefix too
        data = data.replace(b' xmlns:edXML=""', b"").replace(b"edXML:", b"")
    result = parse(data)
    diag = _only(result)
    assert (diag.severity, diag.requirement, diag.path) == (Severity.ERROR, "EDXML-NS", "/edXML")
    assert result.package == pkg
    assert not result.ok


def test_known_element_in_a_foreign_namespace_is_flagged_and_ignored() -> None:
    root = build_tree(minimal_document())
    subject = _find(root, ".//e:MessageHeader/e:Subject")
    subject.tag = "{urn:other}Subject"
    etree.SubElement(subject.getparent(), "{urn:other}Extension").text = "ignored silently"  # type: ignore[arg-type]
    result = _reparse(root)
    diag = _only(result)
    assert (diag.severity, diag.requirement, diag.path) == (Severity.ERROR, "EDXML-NS", f"{MH}/Subject")
    assert _doc(result).header.subject == ""


# ---------------------------------------------------------------- hostile and broken inputs

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016">&lol3;</edXML>"""
XXE = b"""<?xml version="1.0"?>
<!DOCTYPE edXML [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016"><edXMLEnvelope><edXMLHeader><MessageHeader>
<Subject>&xxe;</Subject></MessageHeader></edXMLHeader></edXMLEnvelope></edXML>"""
# the DOCTYPE hidden beyond the first 4 KiB that xmlsafe pre-screens
LATE_DOCTYPE = b"<?xml version='1.0'?>" + b"<!--" + b"x" * 5000 + b"-->" + XXE.split(b"?>", 1)[1]


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"", "empty"),
        (b"   \n", "empty"),
        (b"<edXML><unclosed></edXML>", "not well-formed"),
        (b"\xff\xfe\x00garbage", "not well-formed"),
        (BILLION_LAUGHS, "DOCTYPE"),
        (XXE, "DOCTYPE"),
        (LATE_DOCTYPE, "DOCTYPE"),
        (b"<a>" * 300 + b"</a>" * 300, "not well-formed"),  # too deep for the hardened parser
    ],
)
def test_hostile_xml_gives_one_clean_error(data: bytes, fragment: str) -> None:
    started = time.perf_counter()
    result = parse(data)
    assert time.perf_counter() - started < 2.0
    assert result.package is None and result.root is None and not result.ok
    diag = _only(result, Severity.ERROR)
    assert (diag.requirement, diag.path) == ("EDXML-XML", "/")
    assert fragment in diag.message
    assert "root:" not in diag.message  # nothing of /etc/passwd leaked


def test_oversize_is_refused_by_max_bytes() -> None:
    data = build(rich_document())
    result = parse(data, max_bytes=1000)
    diag = _only(result)
    assert diag.requirement == "EDXML-XML" and "above the limit of 1,000 bytes" in diag.message


def test_not_an_edxml_root() -> None:
    result = parse(b"<?xml version='1.0'?><html><body/></html>")
    diag = _only(result)
    assert (diag.severity, diag.requirement, diag.path) == (Severity.ERROR, "EDXML-STRUCT", "/html")
    assert result.package is None and result.root is not None


@pytest.mark.parametrize(
    ("remove", "path"),
    [
        ("e:edXMLEnvelope", "/edXML/edXMLEnvelope"),
        ("e:edXMLEnvelope/e:edXMLHeader", "/edXML/edXMLEnvelope/edXMLHeader"),
        ("e:edXMLEnvelope/e:edXMLHeader/e:MessageHeader", MH),
    ],
)
def test_missing_structure_gives_no_package(remove: str, path: str) -> None:
    root = build_tree(minimal_document())
    el = _find(root, remove)
    parent = el.getparent()
    assert parent is not None
    parent.remove(el)
    result = _reparse(root)
    diag = _only(result)
    assert (diag.severity, diag.requirement, diag.path) == (Severity.ERROR, "EDXML-STRUCT", path)
    assert result.package is None and result.kind is None


@pytest.mark.parametrize("bad", ["not base64!", "QUJD=", "QUJDRA", "QUJD\u00e9RA=="])
def test_bad_base64_skips_only_that_attachment(bad: str) -> None:
    pkg = rich_document()
    root = build_tree(pkg)
    _find(root, "e:AttachmentEncoded/e:Attachment/e:ContentTransferEncoded").text = bad
    result = _reparse(root)
    diag = _only(result)
    assert (diag.severity, diag.requirement) == (Severity.ERROR, "EDXML-ATTACH")
    assert diag.path == "/edXML/AttachmentEncoded/Attachment[1]/ContentTransferEncoded"
    assert "cid:1" in diag.message
    doc = _doc(result)
    assert [a.content_id for a in doc.attachments] == ["cid:2"]
    assert doc.attachments[0] == pkg.attachments[1]
    assert len(doc.manifest) == 2


def test_missing_content_transfer_encoded_skips_the_attachment() -> None:
    root = build_tree(rich_document())
    att = _find(root, "e:AttachmentEncoded/e:Attachment")
    att.remove(_find(att, "e:ContentTransferEncoded"))
    result = _reparse(root)
    diag = _only(result)
    assert diag.requirement == "EDXML-ATTACH" and "cid:1" in diag.message
    assert [a.content_id for a in _doc(result).attachments] == ["cid:2"]


def test_empty_attachment_is_an_empty_payload() -> None:
    pkg = rich_document()
    pkg.attachments[1].payload = b""
    assert parse(build(pkg)).package == pkg


# ---------------------------------------------------------------- API


def test_parse_tree_reuses_the_root() -> None:
    data = build(rich_document())
    result = parse(data)
    assert result.root is not None
    again = parse_tree(result.root)
    assert again.package == result.package and again.root is result.root and again.junk_bytes == 0


def test_parse_or_raise() -> None:
    pkg = status(StatusCode.COMPLETED)
    assert parse_or_raise(build(pkg)) == pkg
    with pytest.raises(EdxmlError, match="EDXML-XML"):
        parse_or_raise(b"<broken")
    root = build_tree(rich_document())
    _find(root, ".//e:DueDate").text = "2014/02/30"
    with pytest.raises(EdxmlError) as info:
        parse_or_raise(serialize(root))
    assert info.value.diagnostics[0].requirement == "EDXML-DATE"


def test_every_cited_requirement_is_catalogued() -> None:
    root = build_tree(rich_document(BusinessDocType.UPDATE))
    for xpath, value in [
        (".//e:DueDate", "2014/02/30"),
        (".//e:OtherInfo/e:Priority", "x"),
        (".//e:TraceHeader/e:Timestamp", "2015-09-30T00:00:00Z"),
        ("e:AttachmentEncoded/e:Attachment/e:ContentTransferEncoded", "%%%"),
    ]:
        _find(root, xpath).text = value
    result = _reparse(root)
    assert len(result.diagnostics) == 4
    _assert_catalogued(result)


# --- deferred attachments (the hub's lenient path checks base64 without decoding it) ---------------


@pytest.mark.parametrize("wrapped", [False, True])
def test_deferred_attachments_read_like_decoded_ones(wrapped: bool) -> None:
    pkg = rich_document()
    root = build_tree(pkg)
    if wrapped:
        enc = _find(root, "e:AttachmentEncoded/e:Attachment/e:ContentTransferEncoded")
        enc.text = base64.encodebytes(pkg.attachments[0].payload).decode("ascii").replace("\n", "\r\n  ")
    data = serialize(root)
    eager, lazy = parse(data), parse(data, decode_attachments=False)
    assert lazy.diagnostics == eager.diagnostics == []
    lazy_doc = _doc(lazy)
    assert all(a._payload is None for a in lazy_doc.attachments), "decoded although deferred"
    assert lazy_doc == _doc(eager) == pkg  # comparing decodes
    assert [a.payload for a in lazy_doc.attachments] == [a.payload for a in pkg.attachments]


@pytest.mark.parametrize("bad", ["not base64!", "QUJD=", "QUJDRA", "QUJD\u00e9RA==", "QU=D", "A===", "===="])
def test_deferred_attachments_refuse_the_same_bad_base64(bad: str) -> None:
    pkg = rich_document()
    root = build_tree(pkg)
    _find(root, "e:AttachmentEncoded/e:Attachment/e:ContentTransferEncoded").text = bad
    data = serialize(root)
    eager, lazy = parse(data), parse(data, decode_attachments=False)
    assert [(d.severity, d.requirement, d.path) for d in lazy.diagnostics] == [
        (d.severity, d.requirement, d.path) for d in eager.diagnostics
    ]
    assert [a.content_id for a in _doc(lazy).attachments] == ["cid:2"]


def test_the_base64_check_agrees_with_the_decoder_on_random_text() -> None:
    import random

    from simulator.edxml.parser import _b64check, _b64decode

    rng = random.Random(20261123)
    alphabet = "ABCDabcd0189+/" + "=" * 4 + " \n\r\t" + "é-_!"
    for _ in range(5_000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 14)))
        decoded, _ = _b64decode(text)
        checked, _ = _b64check(text)
        assert (checked is None) == (decoded is None), text
        if checked is not None:
            assert base64.b64decode(checked) == decoded, text


def test_a_deferred_attachment_set_explicitly_drops_its_text() -> None:
    att = Attachment("cid:1", "a.txt", None, "text/plain", encoded=base64.b64encode(b"abc").decode())
    assert att.payload == b"abc" and att._encoded is None
    att.payload = b"xyz"
    assert att == Attachment("cid:1", "a.txt", b"xyz", "text/plain")
    assert "payload=<3 bytes>" in repr(att)
    with pytest.raises(TypeError, match="either payload"):
        Attachment("cid:1", "a.txt")
