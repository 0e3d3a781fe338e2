"""Property tests: build → parse is the identity on the model; parse never raises, whatever it is fed."""

from __future__ import annotations

import datetime as dt

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from simulator.edxml.builder import build, build_tree, serialize
from simulator.edxml.diagnostics import has_errors
from simulator.edxml.model import (
    NAMESPACE,
    Appendix,
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
from simulator.edxml.parser import ParseResult, parse
from simulator.edxml.vntime import VN_TZ
from simulator.requirements import catalogue

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

VIETNAMESE = "ăâđêôơưàáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệìíỉĩịòóỏõọồốổỗộờớởỡợùúủũụừứửữựỳýỷỹỵĐƯƠ"
# Everything XML 1.0 can carry: no surrogates (Cs), no C0/C1 controls (Cc) but tab/LF/CR added back,
# no unassigned code points (Cn, which holds U+FFFE/U+FFFF). Combining marks (NFD Vietnamese) stay in.
_char = st.one_of(
    st.characters(blacklist_categories=("Cs", "Cc", "Cn")),
    st.sampled_from(VIETNAMESE),
    st.sampled_from("\t\r\n <>&\"'"),
)
text = st.text(_char, max_size=24)
opt_text = st.none() | text
small_int = st.integers(min_value=-3, max_value=10**6)
dates = st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2100, 12, 31))
timestamps = st.datetimes(
    min_value=dt.datetime(1970, 1, 1),
    max_value=dt.datetime(2099, 12, 31),
    timezones=st.sampled_from([VN_TZ, dt.UTC]),
).map(lambda t: t.replace(microsecond=0))


def _list(strategy: st.SearchStrategy, max_size: int = 3) -> st.SearchStrategy:
    return st.lists(strategy, max_size=max_size)


organizations = st.builds(
    Organization,
    organ_id=text,
    organ_name=opt_text,
    organization_in_charge=opt_text,
    organ_add=opt_text,
    email=opt_text,
    telephone=opt_text,
    fax=opt_text,
    website=opt_text,
)
staff = st.builds(StaffInfo, department=opt_text, staff=opt_text, mobile=opt_text, email=opt_text)
response_for = st.builds(
    ResponseFor, organ_id=text, document_id=text, code=opt_text, promulgation_date=st.none() | dates
)
other_info = st.builds(
    OtherInfo,
    priority=st.none() | st.sampled_from(Priority),
    sphere_of_promulgation=opt_text,
    typer_notation=opt_text,
    promulgation_amount=st.none() | small_int,
    page_amount=st.none() | small_int,
    direction=st.none() | st.booleans(),
    appendixes=_list(st.builds(Appendix, text)),
)
headers = st.builds(
    DocumentHeader,
    from_=organizations,
    to=_list(organizations, 4),
    document_id=text,
    subject=text,
    code=st.none() | st.builds(Code, text, text),
    promulgation_info=st.none() | st.builds(PromulgationInfo, opt_text, st.none() | dates),
    document_type=st.none() | st.builds(DocumentType, st.none() | small_int, st.none() | small_int, opt_text),
    content=opt_text,
    signer_info=st.none() | st.builds(SignerInfo, opt_text, opt_text, opt_text),
    due_date=st.none() | dates,
    other_info=st.none() | other_info,
    response_for=_list(response_for, 2),
    steering_type=st.none() | small_int,
    to_places=_list(text),
)
business = st.builds(
    Business,
    document_id=text,
    business_doc_type=st.sampled_from(BusinessDocType),
    business_doc_reason=opt_text,
    paper=st.none() | st.integers(0, 1),
    staff_info=st.none() | staff,
    document_info=st.none()
    | st.builds(
        BusinessDocumentInfo,
        st.booleans(),
        st.booleans(),
        _list(st.builds(ReceiverChange, text, st.sampled_from(ReceiverType))),
    ),
    replacements=_list(st.builds(ReplacementInfo, text, _list(text))),
)
traces = st.builds(
    TraceHeaderList,
    trace_headers=_list(st.builds(TraceHeader, st.none() | timestamps, opt_text)),
    business=st.none() | business,
    attributes=st.dictionaries(
        st.sampled_from(["id", "version", "mustUnderstand", "actor"]), text, max_size=4
    ),
)
documents = st.builds(
    DocumentPackage,
    header=headers,
    trace=st.none() | traces,
    manifest=_list(st.builds(ManifestReference, text, text, opt_text, opt_text)),
    attachments=_list(st.builds(Attachment, text, text, st.binary(max_size=300), opt_text, opt_text)),
    manifest_version=text,
)
statuses = st.builds(
    StatusPackage,
    st.builds(
        StatusHeader,
        from_=organizations,
        response_for=response_for,
        status_code=st.sampled_from(StatusCode),
        timestamp=st.none() | timestamps,
        description=opt_text,
        staff_info=st.none() | staff,
    ),
)


def _check(result: ParseResult) -> None:
    """What must hold for any input at all."""
    assert isinstance(result, ParseResult)
    if result.package is None:
        assert has_errors(result.diagnostics), result.diagnostics
    elif result.kind == "document":
        assert isinstance(result.package, DocumentPackage)
    else:
        assert result.kind == "status" and isinstance(result.package, StatusPackage)
    cat = catalogue()
    for diag in result.diagnostics:
        assert diag.requirement in cat, diag
        assert diag.path.startswith("/") and diag.message


# ---------------------------------------------------------------- round trip


@SETTINGS
@given(documents, st.booleans())
def test_document_round_trip(pkg: DocumentPackage, pretty: bool) -> None:
    result = parse(build(pkg, pretty=pretty))
    assert result.diagnostics == []
    assert result.kind == "document"
    assert result.package == pkg


@SETTINGS
@given(statuses)
def test_status_round_trip(pkg: StatusPackage) -> None:
    result = parse(build(pkg))
    assert result.diagnostics == []
    assert result.kind == "status"
    assert result.package == pkg


# ---------------------------------------------------------------- robustness


@SETTINGS
@given(st.binary(max_size=600))
def test_parse_never_raises_on_arbitrary_bytes(data: bytes) -> None:
    _check(parse(data))


@SETTINGS
@given(st.text(st.sampled_from("<>/=\"' ?!-[]&;:xmlnsedXMLabc\n"), max_size=200))
def test_parse_never_raises_on_markup_soup(soup: str) -> None:
    _check(parse(("<?xml version='1.0'?>" + soup).encode("utf-8")))


_NAMES = [
    "edXMLEnvelope", "edXMLHeader", "MessageHeader", "edXMLBody", "AttachmentEncoded", "Attachment",
    "StatusCode", "Subject", "To", "From", "ResponseFor", "Timestamp", "Priority", "DueDate",
    "TraceHeaderList", "Bussiness", "BussinessDocType", "ReceiverType", "ContentTransferEncoded", "ContentId",
    "Signature",
]  # fmt: skip
_VALUES = st.one_of(
    st.sampled_from(
        ["", " ", "2014/02/30", "2015-09-30T07:00:00Z", "9", "-1", "01", "1", "13", "true", "=", "QUJD"]
    ),
    st.sampled_from(
        ["0001/01/01 00:00:00", "9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00", "9" * 5000]
    ),
    text,
)


@SETTINGS
@given(st.one_of(documents, statuses), st.data())
def test_parse_never_raises_on_mutated_packages(
    pkg: DocumentPackage | StatusPackage, data: st.DataObject
) -> None:
    root = build_tree(pkg)
    for _ in range(data.draw(st.integers(1, 4), label="mutations")):
        target = data.draw(st.sampled_from(list(root.iter())), label="target")
        op = data.draw(
            st.sampled_from(["text", "delete", "duplicate", "rename", "namespace", "move"]), label="op"
        )
        parent = target.getparent()
        if op == "text":
            target.text = data.draw(_VALUES, label="value")
        elif op == "delete" and parent is not None:
            parent.remove(target)
        elif op == "duplicate" and parent is not None:
            parent.append(etree.fromstring(etree.tostring(target)))
        elif op == "rename":
            target.tag = f"{{{NAMESPACE}}}{data.draw(st.sampled_from(_NAMES), label='name')}"
        elif op == "namespace":
            target.tag = "{urn:other}" + etree.QName(target).localname
        elif op == "move" and parent is not None:
            new_parent = data.draw(st.sampled_from([e for e in root.iter() if target not in e.iterancestors()
                                                    and e is not target]), label="new parent")  # fmt: skip
            new_parent.append(target)
    raw = serialize(root)
    if data.draw(st.booleans(), label="byte damage"):
        pos = data.draw(st.integers(0, len(raw)), label="pos")
        cut = data.draw(st.integers(0, 12), label="cut")
        raw = raw[:pos] + data.draw(st.binary(max_size=6), label="insert") + raw[pos + cut :]
    result = parse(raw)
    _check(result)
    if result.package is not None:
        # whatever was read is a clean model: it builds, and reads back the same
        again = parse(build(result.package))
        assert again.package == result.package, again.diagnostics
