"""The Faker provider and the sample packages: reproducible, conforming codes, strictly valid output."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from faker import Faker

from simulator.edxml.builder import build
from simulator.edxml.diagnostics import Severity
from simulator.edxml.fake import (
    MINISTRIES,
    PROVINCES,
    EdxmlProvider,
    describe_agency,
    edxml_provider,
    make_faker,
)
from simulator.edxml.identifiers import parse_agency_code, parse_document_id
from simulator.edxml.model import (
    BusinessDocType,
    DocumentType,
    Organization,
    Package,
    Priority,
    ReceiverType,
    StatusCode,
)
from simulator.edxml.parser import parse
from simulator.edxml.samples import sample_document, sample_status, sized_document
from simulator.edxml.validator import Mode, validate
from simulator.edxml.vntime import VN_TZ

AT = dt.datetime(2025, 3, 4, 9, 30, tzinfo=VN_TZ)
TODAY = dt.date(2025, 3, 5)
ASCII_EMAIL = re.compile(r"^[a-z0-9._-]+@[a-z0-9.-]+\.[a-z]{2,}$")


def _errors_and_warnings(package: Package) -> list[str]:
    diags = validate(package, mode=Mode.STRICT, today=TODAY)
    return [str(d) for d in diags if d.severity is not Severity.INFO]


# ---------------------------------------------------------------- reproducibility


def test_same_seed_gives_the_same_data_and_other_seeds_do_not() -> None:
    def draw(seed: int) -> list[object]:
        p = edxml_provider(make_faker(seed))
        return [p.agency(), p.signer(), p.subject(), p.staff(), p.document_type(), p.attachment_bytes(500)]

    assert draw(11) == draw(11)
    assert draw(11) != draw(12)


def test_same_seed_gives_byte_identical_documents() -> None:
    one = build(sample_document(seed=7, at=AT, attachment_size=2000))
    two = build(sample_document(seed=7, at=AT, attachment_size=2000))
    assert one == two
    assert build(sample_document(seed=8, at=AT, attachment_size=2000)) != one


def test_seeded_fakers_are_independent_of_each_other() -> None:
    alone = edxml_provider(make_faker(3)).agency()
    a, b = edxml_provider(make_faker(3)), edxml_provider(make_faker(99))
    b.agency()  # drawing from another instance must not disturb the first
    assert a.agency() == alone


# ---------------------------------------------------------------- agencies


def test_every_generated_agency_code_conforms_and_has_no_gap() -> None:
    p = edxml_provider(make_faker(1))
    depths = set()
    for _ in range(400):
        org = p.agency()
        code = parse_agency_code(org.organ_id, strict=True)
        assert not code.has_gap, org.organ_id
        assert code.level1_kind in {"G", "H"}
        depths.add(code.depth)
        assert org.organ_name and org.organ_add and org.telephone
        assert org.email and ASCII_EMAIL.match(org.email), org.email
    assert depths >= {1, 2, 3}


def test_sub_units_fill_the_next_level_down_to_level_4() -> None:
    p = edxml_provider(make_faker(2))
    org = p.province_agency()
    for depth in (2, 3, 4):
        child = p.sub_unit(org)
        parent_code, code = parse_agency_code(org.organ_id), parse_agency_code(child.organ_id)
        assert code.depth == depth
        assert code.level1 == parent_code.level1
        for level in range(1, depth):  # the parent's levels are kept
            assert code.level(level) == parent_code.level(level)
        assert child.organization_in_charge == org.organ_name
        org = child
    with pytest.raises(ValueError, match="level 4"):
        p.sub_unit(org)
    with pytest.raises(ValueError, match="not in the simulated directory"):
        p.sub_unit(Organization(organ_id="000.00.00.Z99"))


def test_directory_tables() -> None:
    # spec/edxml.md §5: Văn phòng Chính phủ is 000.00.00.G22 (the one real code of the tables)
    vpcp = describe_agency("000.00.00.G22")
    assert vpcp is not None and vpcp.name == "Văn phòng Chính phủ"
    assert len(PROVINCES) == 63 and len({p.code for p in PROVINCES}) == 63
    assert len({p.name for p in PROVINCES}) == 63
    assert all(p.code.startswith("H") for p in PROVINCES)
    assert len({m.code for m in MINISTRIES}) == len(MINISTRIES) == 22
    assert all(m.code.startswith("G") for m in MINISTRIES)
    assert all(p.domain.isascii() and m.domain.isascii() for p in PROVINCES for m in MINISTRIES)
    bac_ninh = next(p for p in PROVINCES if p.place == "Bắc Ninh")
    assert bac_ninh.name == "UBND tỉnh Bắc Ninh"
    assert next(p for p in PROVINCES if p.place == "Hà Nội").domain == "hanoi.gov.vn"
    assert describe_agency("000.00.00.X01") is None
    assert describe_agency("000.05.00.G22") is None  # a level-3 unit without level 2


def test_agency_for_a_known_code_and_an_unknown_one() -> None:
    p = edxml_provider(make_faker(4))
    btc = p.agency_for("000.00.00.G07")
    assert btc.organ_name == "Bộ Tài chính"
    assert btc.email == "vanthu@mof.gov.vn"
    unknown = p.agency_for("123.45.67.Q89")
    assert unknown.organ_id == "123.45.67.Q89" and unknown.organ_name


# ---------------------------------------------------------------- document metadata


def test_signer_matches_the_agency_kind() -> None:
    p = edxml_provider(make_faker(5))
    province = p.province_agency()
    competences = {p.signer(province).competence for _ in range(60)}
    assert competences <= {"TM. ỦY BAN NHÂN DÂN", "KT. CHỦ TỊCH"}
    assert competences == {"TM. ỦY BAN NHÂN DÂN", "KT. CHỦ TỊCH"}
    ministry = p.agency_for("000.00.00.G07")
    for _ in range(40):
        s = p.signer(ministry)
        assert s.competence in {"BỘ TRƯỞNG", "KT. BỘ TRƯỞNG", "TL. BỘ TRƯỞNG"}
        assert s.full_name and len(s.full_name.split()) >= 3


def test_subjects_numbers_types_and_notations() -> None:
    p = edxml_provider(make_faker(6))
    for _ in range(200):
        subject = p.subject()
        assert subject.startswith("V/v ") and len(subject) <= 500
        assert p.document_number().isdigit()
    names = {p.document_type().type_name for _ in range(300)}
    assert {"Công văn", "Quyết định", "Thông báo"} <= names
    province = p.agency_for("000.00.00.H18")
    assert p.document_notation(province, DocumentType(type_name="Quyết định")) == "QĐ-UBND"
    assert p.document_notation(province, DocumentType(type_name="Công văn")).startswith("UBND-")
    tax = p.agency_for("000.00.10.G07")  # Tổng cục Thuế under Bộ Tài chính: the brief's BTC-TCT
    assert p.document_notation(tax, DocumentType(type_name="Công văn")) == "BTC-TCT"
    assert p.notation("VPCP").startswith("VPCP-")


def test_priority_mix_is_mostly_normal_but_has_every_level() -> None:
    p = edxml_provider(make_faker(7))
    draws = [p.priority() for _ in range(3000)]
    share = draws.count(Priority.NORMAL) / len(draws)
    assert 0.7 < share < 0.9
    assert set(draws) == set(Priority)


@pytest.mark.parametrize("size", [0, 1, 7, 60, 95, 96, 97, 100, 999, 10_000, 123_457])
def test_attachment_bytes_have_the_exact_size(size: int) -> None:
    data = edxml_provider(make_faker(8)).attachment_bytes(size)
    assert len(data) == size
    assert data == b"%PDF-1.7"[:size] or data.startswith(b"%PDF-1.7")
    if size >= 200:
        assert data.endswith(b"%%EOF\n")
        length = int(re.search(rb"/Length (\d+)", data).group(1))  # type: ignore[union-attr]
        assert length > size - 200


# ---------------------------------------------------------------- sample packages


@pytest.mark.parametrize("business", list(BusinessDocType))
def test_sample_documents_are_strictly_valid(business: BusinessDocType) -> None:
    for seed in range(12):
        doc = sample_document(seed=seed, business=business, at=AT, attachments=seed % 3, attachment_size=300)
        assert _errors_and_warnings(doc) == [], (seed, business)
        reparsed = parse(build(doc))
        assert reparsed.ok and reparsed.package is not None
        assert _errors_and_warnings(reparsed.package) == []


def test_document_identifier_and_trace_are_consistent() -> None:
    doc = sample_document(seed=21, at=AT)
    h = doc.header
    ident = parse_document_id(h.document_id, strict=True)
    assert ident.form == "dated" and ident.agency == h.from_.organ_id and ident.date == AT.date()
    assert h.code is not None and ident.number == f"{h.code.code_number}/{h.code.code_notation}"
    assert doc.trace is not None and doc.trace.business is not None
    assert doc.trace.trace_headers[0].organ_id == h.from_.organ_id
    assert doc.trace.business.document_id == h.document_id
    assert len(h.to) == 3 and len({o.organ_id for o in h.to} | {h.from_.organ_id}) == 4


def test_business_operations_refer_to_the_original() -> None:
    original = sample_document(seed=30, at=AT)
    oid = original.header.document_id
    recall = sample_document(seed=31, business=BusinessDocType.RECALL, original_document_id=oid, at=AT)
    assert recall.header.document_id == oid
    assert recall.trace and recall.trace.business and recall.trace.business.business_doc_reason
    update = sample_document(seed=32, business=BusinessDocType.UPDATE, original_document_id=oid, at=AT)
    info = update.trace.business.document_info if update.trace and update.trace.business else None
    assert info is not None and info.document_receiver
    assert {r.organ_id for r in info.receivers if r.receiver_type is ReceiverType.ADDED} <= {
        o.organ_id for o in update.header.to
    }
    replace = sample_document(seed=33, business=BusinessDocType.REPLACE, original_document_id=oid, at=AT)
    assert replace.header.document_id != oid
    reps = replace.trace.business.replacements if replace.trace and replace.trace.business else []
    assert [r.document_id for r in reps] == [oid]
    answer = sample_document(seed=34, original_document_id=oid, at=AT)
    assert [rf.document_id for rf in answer.header.response_for] == [oid]
    for doc in (recall, update, replace, answer):
        assert _errors_and_warnings(doc) == []


def test_explicit_sender_recipients_priority_and_files() -> None:
    f = make_faker(40)
    p = edxml_provider(f)
    sender, to = p.agency_for("000.00.00.G22"), [p.agency_for("000.00.03.H18")]
    doc = sample_document(
        f,
        sender=sender,
        recipients=to,
        priority=Priority.FLASH,
        attachments=2,
        files=[("note.txt", b"hi")],
        at=AT,
    )
    assert doc.header.from_ is sender and doc.header.to == to
    assert doc.header.priority is Priority.FLASH
    assert [a.content_id for a in doc.attachments] == ["cid:1", "cid:2", "cid:3"]
    assert doc.manifest[2].attachment_name == "note.txt"
    assert _errors_and_warnings(doc) == []
    with pytest.raises(ValueError, match="recipient"):
        sample_document(seed=1, recipients=0, at=AT)


@pytest.mark.parametrize("code", list(StatusCode))
def test_sample_statuses_are_strictly_valid_and_answer_the_document(code: StatusCode) -> None:
    doc = sample_document(seed=50, at=AT, attachment_size=100)
    status = sample_status(doc, code, at=AT + dt.timedelta(hours=2), seed=50)
    rf = status.header.response_for
    assert rf.document_id == doc.header.document_id
    assert rf.organ_id == doc.header.from_.organ_id
    assert rf.code == str(doc.header.code)
    expected_reporter = doc.header.from_ if code is StatusCode.RECALL_REQUEST else doc.header.to[0]
    assert status.header.from_.organ_id == expected_reporter.organ_id
    assert _errors_and_warnings(status) == []
    reparsed = parse(build(status))
    assert reparsed.ok and reparsed.kind == "status"


@pytest.mark.parametrize("target", [5_000, 50_000, 1_000_000])
def test_sized_document_is_close_to_the_target(target: int) -> None:
    doc = sized_document(target, seed=3, at=AT)
    size = len(build(doc))
    assert abs(size - target) <= max(target // 100, 50), size
    assert _errors_and_warnings(doc) == []


def test_provider_does_not_shadow_faker_methods() -> None:
    fake = make_faker(9)
    assert isinstance(
        fake.address(), str
    )  # vi_VN's address() uses its own province(); ours must not replace it
    plain = Faker("vi_VN")
    ours = [n for n in vars(EdxmlProvider) if not n.startswith("_") and callable(getattr(EdxmlProvider, n))]
    assert ours and not [n for n in ours if hasattr(plain, n)]
