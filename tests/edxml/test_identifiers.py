"""Agency codes, document identifiers and number/notation codes (spec/edxml.md §5, QD28-10.2.a/b)."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from simulator.edxml.diagnostics import Severity
from simulator.edxml.identifiers import (
    AgencyCode,
    DocumentIdentifier,
    IdentifierError,
    check_agency_code,
    check_document_id,
    format_code,
    format_document_id,
    parse_agency_code,
    parse_code,
    parse_document_id,
)
from simulator.edxml.model import Code

# ---------------------------------------------------------------- agency codes: conforming


def test_the_spec_example_parses_with_level_one_on_the_right() -> None:
    code = parse_agency_code("000.00.00.G22")
    assert code == AgencyCode("000.00.00.G22", ("000", "00", "00", "G22"), "G22", "G", 1, conforming=True)
    assert code.level(1) == "G22"
    assert code.level(4) == "000"
    assert code.level1_description == "ministry or government body"
    assert not code.has_gap
    assert str(code) == "000.00.00.G22"


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("000.00.00.H29", 1),  # a province itself
        ("000.00.12.H29", 2),  # level 2 set (third group)
        ("000.05.12.H29", 3),
        ("001.05.12.H29", 4),
    ],
)
def test_depth_counts_the_levels_that_are_set(text: str, depth: int) -> None:
    code = parse_agency_code(text)
    assert code.depth == depth
    assert code.level1_kind == "H"
    assert code.level1_description == "province"
    assert check_agency_code(text, path="/p") == []


def test_other_level_one_letters_are_accepted_in_strict_mode() -> None:
    code = parse_agency_code("000.00.00.K01")
    assert code.level1_kind == "K"
    assert code.level1_description == "other level-1 body"
    assert check_agency_code("000.00.00.K01", strict=True, path="/p") == []


def test_level_numbers_outside_one_to_four_are_refused() -> None:
    with pytest.raises(ValueError, match="1 to 4"):
        parse_agency_code("000.00.00.G22").level(5)


def test_a_level_set_under_an_unset_parent_is_only_noted() -> None:
    # QD28-10.2.a: level 3 is a unit of a level-2 unit; the law gives no directory here, so INFO only
    code = parse_agency_code("000.05.00.G22")
    assert code.has_gap
    diags = check_agency_code("000.05.00.G22", path="/x/OrganId")
    assert [(d.severity, d.requirement, d.path) for d in diags] == [
        (Severity.INFO, "QD28-10.2.a", "/x/OrganId")
    ]
    assert not parse_agency_code("000.00.05.G22").has_gap


# ---------------------------------------------------------------- agency codes: strict refusals


@pytest.mark.parametrize(
    ("text", "clue"),
    [
        ("000.00.0.G22", "group 3 '0' must be exactly 2 digits"),  # 12 characters
        ("0000.00.00.G22", "group 1 '0000' must be exactly 3 digits"),  # 14 characters
        ("0a0.00.00.G22", "group 1 '0a0'"),  # letter in a digit group
        ("000.00.00.g22", "uppercase letter"),  # lowercase level-1 letter
        ("000.00.00.122", "level-1 group '122'"),  # level 1 without a letter
        ("000.00.00.GG2", "level-1 group 'GG2'"),
        ("000000.00.G22", "3 dot-separated group(s) instead of 4"),  # missing dot
        ("000.00.00G22", "3 dot-separated group(s) instead of 4"),
        (" 000.00.00.G22", "whitespace"),
        ("000.00.00.G22\n", "whitespace"),
        ("28.22.H17", "3 dot-separated group(s)"),  # seen on real hubs
        ("vxp.saas.03", "3 dot-separated group(s)"),  # seen on real hubs
    ],
)
def test_strict_mode_refuses_non_conforming_codes_with_a_precise_reason(text: str, clue: str) -> None:
    with pytest.raises(IdentifierError) as info:
        parse_agency_code(text, strict=True)
    assert info.value.requirement == "QD28-10.2.a"
    assert clue in str(info.value)
    diags = check_agency_code(text, strict=True, path="/edXML/x/OrganId")
    assert diags
    assert {d.severity for d in diags} == {Severity.ERROR}
    assert {d.requirement for d in diags} == {"QD28-10.2.a"}
    assert {d.path for d in diags} == {"/edXML/x/OrganId"}


@pytest.mark.parametrize(
    ("text", "groups", "level1_kind"),
    [
        ("28.22.H17", ("", "28", "22", "H17"), "H"),
        ("vxp.saas.03", ("", "vxp", "saas", "03"), None),
        ("000.00.00.g22", ("000", "00", "00", "g22"), None),
        ("0000.00.00.G22", ("0000", "00", "00", "G22"), "G"),
    ],
)
def test_lenient_mode_accepts_ids_seen_in_the_wild_with_one_warning(
    text: str, groups: tuple[str, str, str, str], level1_kind: str | None
) -> None:
    code = parse_agency_code(text, strict=False)
    assert code.groups == groups
    assert code.level1 == groups[3]
    assert code.level1_kind == level1_kind
    assert code.conforming is False
    diags = check_agency_code(text, strict=False, path="/p")
    assert [(d.severity, d.requirement) for d in diags] == [(Severity.WARNING, "QD28-10.2.a")]


def test_lenient_mode_strips_surrounding_whitespace_but_warns() -> None:
    code = parse_agency_code("  000.00.00.G22 ", strict=False)
    assert code.text == "000.00.00.G22"
    assert code.conforming
    diags = check_agency_code("  000.00.00.G22 ", strict=False, path="/p")
    assert [d.severity for d in diags] == [Severity.WARNING]


@pytest.mark.parametrize(
    ("text", "clue"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("000.00.0０.G22", "U+FF10"),  # full-width digit zero
        ("٠٠٠.00.00.G22", "U+0660"),  # Arabic-Indic digit zero: str.isdigit() would say yes
        ("000.00 .00.G22", "cannot be read"),
        ("a..b", "cannot be read"),
        ("1.2.3.4.5", "cannot be read"),
        ("x" * 65, "cannot be read"),
    ],
)
def test_unreadable_codes_are_refused_in_both_modes(text: str, clue: str) -> None:
    for strict in (True, False):
        with pytest.raises(IdentifierError, match=re.escape(clue)):
            parse_agency_code(text, strict=strict)
        diags = check_agency_code(text, strict=strict, path="/p")
        assert Severity.ERROR in {d.severity for d in diags}


def test_identifier_error_is_a_value_error() -> None:
    # callers that only know ValueError (typer, argument parsing) still catch it
    with pytest.raises(ValueError, match="'nope'"):
        parse_agency_code("nope")


# ---------------------------------------------------------------- document identifiers


def test_dated_form_from_the_spec() -> None:
    ident = parse_document_id("000.00.00.G22,2015/09/30,7816/VPCP-TTĐT")
    assert ident == DocumentIdentifier("000.00.00.G22", dt.date(2015, 9, 30), 2015, "7816/VPCP-TTĐT", "dated")
    assert ident.sequence == "7816"
    assert ident.notation == "VPCP-TTĐT"
    assert str(ident) == "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT"


def test_yearly_form_is_the_law_wording_and_is_accepted_strictly() -> None:
    ident = parse_document_id("000.00.12.H29,2023,145", strict=True)
    assert ident == DocumentIdentifier("000.00.12.H29", None, 2023, "145", "yearly")
    assert ident.notation is None
    assert str(ident) == "000.00.12.H29,2023,145"
    assert check_document_id("000.00.12.H29,2023,145", path="/d") == []


def test_notation_may_hold_slashes_and_vietnamese_letters() -> None:
    ident = parse_document_id("000.00.00.G22,2018/07/12,28/2018/QĐ-TTg")
    assert ident.sequence == "28"
    assert ident.notation == "2018/QĐ-TTg"


def test_impossible_date_is_refused_strictly_and_tolerated_leniently() -> None:
    text = "000.00.00.G22,2014/02/30,12/UBND-VP"  # 2014/02/30 appears in a real sample
    with pytest.raises(IdentifierError, match="impossible date") as info:
        parse_document_id(text, strict=True)
    assert info.value.requirement == "QD28-10.2.b"
    ident = parse_document_id(text, strict=False)
    assert ident.date is None
    assert ident.year == 2014
    assert ident.form == "dated"
    assert [d.severity for d in check_document_id(text, strict=False, path="/d")] == [Severity.WARNING]
    assert [d.severity for d in check_document_id(text, strict=True, path="/d")] == [Severity.ERROR]


@pytest.mark.parametrize(
    ("text", "clue"),
    [
        ("28.22.H17,2020/01/02,5/UBND", "3 dot-separated group"),  # non-conforming agency part
        ("000.00.00.G22,2015/9/30,7816/VPCP", "yyyy/MM/dd"),  # unpadded month
        ("000.00.00.G22,2015-09-30,7816/VPCP", "yyyy/MM/dd"),
        ("000.00.00.G22,2015/09/30,số7/VPCP", "sequence number"),
        ("000.00.00.G22,2015/09/30,7816/", "empty notation"),
        ("000.00.00.G22, 2015/09/30,7816/VPCP", "whitespace"),
    ],
)
def test_departures_refused_strictly_are_warnings_leniently(text: str, clue: str) -> None:
    with pytest.raises(IdentifierError, match=re.escape(clue)):
        parse_document_id(text, strict=True)
    parse_document_id(text, strict=False)
    lenient = check_document_id(text, strict=False, path="/d")
    assert lenient
    assert {(d.severity, d.requirement) for d in lenient} == {(Severity.WARNING, "QD28-10.2.b")}


@pytest.mark.parametrize(
    ("text", "clue"),
    [
        ("", "empty"),
        ("7816/VPCP-TTĐT", "1 comma-separated part"),
        ("000.00.00.G22,2015/09/30", "2 comma-separated part"),
        ("000.00.00.G22,15/09/30,7816/VPCP", "neither a date"),
        ("000.00.00.G22,2015/09/30,", "no number"),
        ("000.00.00.G22,0000,1", "impossible year"),
        (",2015/09/30,7816/VPCP", "empty"),
    ],
)
def test_unreadable_document_ids_are_refused_in_both_modes(text: str, clue: str) -> None:
    for strict in (True, False):
        with pytest.raises(IdentifierError, match=re.escape(clue)) as info:
            parse_document_id(text, strict=strict)
        assert info.value.requirement == "QD28-10.2.b"
        diags = check_document_id(text, strict=strict, path="/d")
        assert Severity.ERROR in {d.severity for d in diags}
        assert {d.requirement for d in diags} == {"QD28-10.2.b"}


def test_format_emits_the_dated_form_and_parses_back() -> None:
    text = format_document_id("000.00.00.G22", dt.date(2015, 9, 30), 7816, "VPCP-TTĐT")
    assert text == "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT"
    ident = parse_document_id(text)
    assert (ident.agency, ident.date, ident.sequence, ident.notation) == (
        "000.00.00.G22",
        dt.date(2015, 9, 30),
        "7816",
        "VPCP-TTĐT",
    )
    assert format_document_id("000.00.12.H29", dt.date(2024, 1, 5), "3", None) == "000.00.12.H29,2024/01/05,3"


@pytest.mark.parametrize(
    ("agency", "number", "notation"),
    [
        ("28.22.H17", "1", "UBND"),
        ("000.00.00.G22", "A1", "UBND"),
        ("000.00.00.G22", "", "UBND"),
        ("000.00.00.G22", "1", "  "),
    ],
)
def test_format_refuses_what_would_not_parse_back(agency: str, number: str, notation: str) -> None:
    with pytest.raises(IdentifierError) as info:
        format_document_id(agency, dt.date(2024, 1, 5), number, notation)
    assert info.value.requirement in {"QD28-10.2.a", "QD28-10.2.b"}


def test_format_with_a_lenient_agency_when_asked() -> None:
    text = format_document_id("vxp.saas.03", dt.date(2024, 1, 5), 9, "X", strict=False)
    assert parse_document_id(text, strict=False).agency == "vxp.saas.03"


# ---------------------------------------------------------------- number/notation codes


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7816/VPCP-TTĐT", Code("7816", "VPCP-TTĐT")),
        ("28/2018/QĐ-TTg", Code("28", "2018/QĐ-TTg")),
        (" 15 / UBND-VP ", Code("15", "UBND-VP")),
    ],
)
def test_parse_code(text: str, expected: Code) -> None:
    assert parse_code(text) == expected


@pytest.mark.parametrize(
    ("text", "clue"), [("", "empty"), ("7816", "no '/'"), ("/VPCP", "no number"), ("7816/", "no notation")]
)
def test_parse_code_refusals_cite_the_law_list(text: str, clue: str) -> None:
    with pytest.raises(IdentifierError, match=re.escape(clue)) as info:
        parse_code(text)
    assert info.value.requirement == "QD28-10.2.c-q"


def test_format_code_round_trips() -> None:
    assert format_code(7816, "VPCP-TTĐT") == "7816/VPCP-TTĐT"
    assert parse_code(format_code("28", "2018/QĐ-TTg")) == Code("28", "2018/QĐ-TTg")
    assert str(parse_code("7816/VPCP-TTĐT")) == "7816/VPCP-TTĐT"
    for number, notation in [("", "X"), ("1/2", "X"), ("1", "")]:
        with pytest.raises(IdentifierError):
            format_code(number, notation)
