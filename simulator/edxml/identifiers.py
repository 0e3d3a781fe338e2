"""Identifiers of QD28-10.2.a/b: agency codes, document identifiers, and "number/notation" codes.

Agency code (mã định danh cơ quan, QD28-10.2.a): 13 characters in four dot-separated groups
``NNN.NN.NN.XNN``, e.g. ``000.00.00.G22``. The right-most group is level 1 (a letter and two digits:
G = ministry or government body, H = province; other letters are accepted); the groups to its left
are levels 2, 3 and 4 (``00`` / ``000`` = none). Real hubs accepted non-conforming ids such as
``28.22.H17`` or ``vxp.saas.03``: strict checking refuses them, lenient checking accepts them with a
warning (spec/edxml.md §5).

Document identifier (QD28-10.2.b): ``<agency>,<yyyy/MM/dd>,<number>/<notation>`` (the form the
official builder emits, e.g. ``000.00.00.G22,2015/09/30,7816/VPCP-TTĐT``) or ``<agency>,<yyyy>,<sequence>``
(the law's own wording: agency, year, sequence number in the year). Both are parsed; the first is
emitted.

Code (số và ký hiệu, QD28-10.2.c-q item c): ``<number>/<notation>``, e.g. ``7816/VPCP-TTĐT``; the notation
may itself contain slashes (``28/2018/QĐ-TTg``), so the split is at the first slash.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass
from typing import Literal

from simulator.edxml.diagnostics import Diagnostic, Severity
from simulator.edxml.model import Code

__all__ = [
    "AGENCY_REQ",
    "CODE_REQ",
    "DOCUMENT_ID_REQ",
    "LEVEL1_KINDS",
    "AgencyCode",
    "DocumentIdentifier",
    "IdentifierError",
    "check_agency_code",
    "check_document_id",
    "format_code",
    "format_document_id",
    "parse_agency_code",
    "parse_code",
    "parse_document_id",
]

AGENCY_REQ = "QD28-10.2.a"
DOCUMENT_ID_REQ = "QD28-10.2.b"
CODE_REQ = "QD28-10.2.c-q"

#: Meaning of the level-1 letter where the spec names it; other uppercase letters are accepted.
LEVEL1_KINDS: dict[str, str] = {"G": "ministry or government body", "H": "province"}

_EXAMPLE = "expected 13 characters NNN.NN.NN.XNN, e.g. 000.00.00.G22"
_DIGITS = re.compile(r"[0-9]+", re.ASCII)
_LEVEL1 = re.compile(r"[A-Z][0-9]{2}", re.ASCII)
_LENIENT_GROUP = re.compile(r"[A-Za-z0-9_\-]+", re.ASCII)
_LENIENT_MAX = 64
_STRICT_WIDTHS = (3, 2, 2)
_DATE = re.compile(r"([0-9]{4})/([0-9]{2})/([0-9]{2})", re.ASCII)
_LOOSE_DATE = re.compile(r"([0-9]{4})[/-]([0-9]{1,2})[/-]([0-9]{1,2})", re.ASCII)
_YEAR = re.compile(r"[0-9]{4}", re.ASCII)


class IdentifierError(ValueError):
    """An identifier that cannot be accepted; ``requirement`` is the catalogue ID it breaks."""

    def __init__(self, message: str, requirement: str) -> None:
        super().__init__(message)
        self.message = message
        self.requirement = requirement


@dataclass(frozen=True, slots=True)
class _Problem:
    message: str
    tolerated: bool  # True: lenient mode accepts it with a warning; False: refused in both modes


def _severity(problem: _Problem, strict: bool) -> Severity:
    return Severity.WARNING if problem.tolerated and not strict else Severity.ERROR


# ---------------------------------------------------------------- agency codes


@dataclass(frozen=True, slots=True)
class AgencyCode:
    """A parsed agency code. ``groups`` are as written, right-aligned: ``groups[3]`` is level 1.

    For a non-conforming code accepted leniently, missing left groups are ``""`` (``28.22.H17`` →
    ``("", "28", "22", "H17")``) and ``conforming`` is False.
    """

    text: str
    groups: tuple[str, str, str, str]
    level1: str
    level1_kind: str | None  # the level-1 letter ("G", "H", ...) or None when level 1 has no letter
    depth: int  # highest level set (1–4); "00"/"000"/"" mean "not set"
    conforming: bool = True

    @property
    def level1_description(self) -> str:
        if self.level1_kind is None:
            return "unknown"
        return LEVEL1_KINDS.get(self.level1_kind, "other level-1 body")

    def level(self, n: int) -> str:
        """The group of level ``n`` (1 = right-most)."""
        if not 1 <= n <= 4:
            raise ValueError(f"agency code levels are 1 to 4, not {n}")
        return self.groups[4 - n]

    @property
    def has_gap(self) -> bool:
        """A level is set while a level between it and level 1 is not (e.g. ``000.05.00.G22``)."""
        return any(_is_set(self.level(n)) and not _is_set(self.level(n - 1)) for n in (3, 4))

    def __str__(self) -> str:
        return self.text


def _is_set(group: str) -> bool:
    return bool(group) and set(group) != {"0"}


def _non_ascii(text: str) -> str | None:
    for ch in text:
        if ord(ch) > 127:
            return ch
    return None


def _describe_char(ch: str) -> str:
    return f"{ch!r} (U+{ord(ch):04X})"


def _strict_agency_defects(s: str) -> list[str]:
    """What keeps ``s`` (already stripped) from being ``NNN.NN.NN.XNN``; empty when it conforms."""
    groups = s.split(".")
    if len(groups) != 4:
        return [f"it has {len(groups)} dot-separated group(s) instead of 4"]
    defects: list[str] = []
    for i, (group, width) in enumerate(zip(groups[:3], _STRICT_WIDTHS, strict=True), start=1):
        if not (_DIGITS.fullmatch(group) and len(group) == width):
            defects.append(f"group {i} {group!r} must be exactly {width} digits 0-9")
    level1 = groups[3]
    if not _LEVEL1.fullmatch(level1):
        if _LEVEL1.fullmatch(level1.upper()):
            defects.append(f"level-1 group {level1!r} must start with an uppercase letter")
        else:
            defects.append(f"level-1 group {level1!r} must be one uppercase letter followed by 2 digits")
    return defects


def _read_agency(text: str) -> tuple[AgencyCode | None, list[_Problem]]:
    """Parse ``text`` as leniently as possible and list every departure from the strict form."""
    problems: list[_Problem] = []
    s = text.strip()
    if not s:
        return None, [_Problem(f"the agency code is empty ({_EXAMPLE})", tolerated=False)]
    if s != text:
        problems.append(_Problem(f"agency code {text!r} has leading or trailing whitespace; remove it", True))
    bad = _non_ascii(s)
    if bad is not None:
        problems.append(
            _Problem(
                f"agency code {s!r} contains the non-ASCII character {_describe_char(bad)}; "
                f"use ASCII digits and letters ({_EXAMPLE})",
                tolerated=False,
            )
        )
        return None, problems
    raw_groups = s.split(".")
    lenient_ok = (
        len(s) <= _LENIENT_MAX
        and len(raw_groups) <= 4
        and all(_LENIENT_GROUP.fullmatch(g) for g in raw_groups)
    )
    if not lenient_ok:
        problems.append(
            _Problem(
                f"agency code {s[:80]!r} cannot be read, not even leniently: expected 1 to 4 non-empty "
                f"dot-separated groups of ASCII letters, digits, '-' or '_' "
                f"(at most {_LENIENT_MAX} characters; {_EXAMPLE})",
                tolerated=False,
            )
        )
        return None, problems
    defects = _strict_agency_defects(s)
    if defects:
        problems.append(
            _Problem(
                f"agency code {s!r} ({len(s)} characters) is not in the form of QD28-10.2.a: "
                f"{'; '.join(defects)} ({_EXAMPLE})",
                tolerated=True,
            )
        )
    padded = ("",) * (4 - len(raw_groups)) + tuple(raw_groups)
    groups: tuple[str, str, str, str] = (padded[0], padded[1], padded[2], padded[3])
    level1 = groups[3]
    kind = level1[0] if level1[:1].isalpha() and level1[:1].isupper() else None
    depth = max([1, *(n for n in (2, 3, 4) if _is_set(groups[4 - n]))])
    code = AgencyCode(s, groups, level1, kind, depth, conforming=not defects)
    return code, problems


@functools.lru_cache(maxsize=4096)
def _analyse_agency(text: str) -> tuple[AgencyCode | None, tuple[_Problem, ...]]:
    """:func:`_read_agency`, remembered: a hub sees the same few hundred codes in every package (a
    validation reads five to ten of them per package). Results are immutable."""
    code, problems = _read_agency(text)
    return code, tuple(problems)


def _gap_note(code: AgencyCode) -> str | None:
    if not (code.conforming and code.has_gap):
        return None
    return (
        f"agency code {code.text!r} sets a level whose parent level is '00' (not set); QD28-10.2.a "
        "describes level 3 as a unit of a level-2 unit and level 4 as a unit of a level-3 unit, so "
        "check the code against the national directory"
    )


def parse_agency_code(text: str, *, strict: bool = True) -> AgencyCode:
    """Parse an agency code. Strict: exactly ``NNN.NN.NN.XNN``. Lenient: also 1–4 ASCII groups.

    Raises :class:`IdentifierError` (requirement ``QD28-10.2.a``) naming what is wrong.
    """
    code, problems = _analyse_agency(text)
    refused = [p for p in problems if strict or not p.tolerated]
    if code is None or refused:
        raise IdentifierError((refused or problems)[0].message, AGENCY_REQ)
    return code


def check_agency_code(text: str, *, strict: bool = True, path: str) -> list[Diagnostic]:
    """Diagnostics for one agency code at ``path``: ERROR when refused, WARNING when tolerated
    (lenient mode), INFO for a level set under an unset parent level."""
    code, problems = _analyse_agency(text)
    out = [Diagnostic(_severity(p, strict), path, AGENCY_REQ, p.message) for p in problems]
    note = _gap_note(code) if code is not None else None
    if note:
        out.append(Diagnostic(Severity.INFO, path, AGENCY_REQ, note))
    return out


# ---------------------------------------------------------------- codes (số và ký hiệu)


def format_code(number: str | int, notation: str) -> str:
    """``7816``, ``VPCP-TTĐT`` → ``7816/VPCP-TTĐT``."""
    num = str(number).strip()
    nota = notation.strip()
    if not num:
        raise IdentifierError("the document number (CodeNumber) is empty; give the number", CODE_REQ)
    if "/" in num:
        raise IdentifierError(f"the document number {num!r} must not contain '/'", CODE_REQ)
    if not nota:
        raise IdentifierError(
            "the document notation (CodeNotation) is empty; give the notation, e.g. VPCP-TTĐT", CODE_REQ
        )
    return f"{num}/{nota}"


def parse_code(text: str) -> Code:
    """``7816/VPCP-TTĐT`` → ``Code("7816", "VPCP-TTĐT")``; the split is at the first '/'."""
    s = text.strip()
    if not s:
        raise IdentifierError(
            "the code (số và ký hiệu) is empty; expected number/notation, e.g. 7816/VPCP-TTĐT", CODE_REQ
        )
    number, sep, notation = s.partition("/")
    if not sep:
        raise IdentifierError(
            f"the code {s!r} has no '/': expected number/notation, e.g. 7816/VPCP-TTĐT", CODE_REQ
        )
    if not number.strip():
        raise IdentifierError(f"the code {s!r} has no number before the '/'", CODE_REQ)
    if not notation.strip():
        raise IdentifierError(f"the code {s!r} has no notation after the '/'", CODE_REQ)
    return Code(number.strip(), notation.strip())


# ---------------------------------------------------------------- document identifiers


@dataclass(frozen=True, slots=True)
class DocumentIdentifier:
    """A parsed document identifier.

    ``number`` is the third part as written: ``7816/VPCP-TTĐT`` (number/notation) in the dated
    form, the sequence in the yearly form (which may also carry a notation).
    """

    agency: str
    date: dt.date | None
    year: int
    number: str
    form: Literal["dated", "yearly"]

    @property
    def sequence(self) -> str:
        """The number part without its notation (``7816`` of ``7816/VPCP-TTĐT``)."""
        return self.number.partition("/")[0]

    @property
    def notation(self) -> str | None:
        nota = self.number.partition("/")[2]
        return nota or None

    def __str__(self) -> str:
        d = self.date
        middle = f"{d.year:04d}/{d.month:02d}/{d.day:02d}" if d else f"{self.year:04d}"
        return f"{self.agency},{middle},{self.number}"


def _read_document_id(text: str) -> tuple[DocumentIdentifier | None, list[_Problem]]:
    problems: list[_Problem] = []
    expected = (
        "expected <agency code>,<yyyy/MM/dd>,<number>/<notation> "
        "(e.g. 000.00.00.G22,2015/09/30,7816/VPCP-TTĐT) or <agency code>,<yyyy>,<sequence>"
    )
    if not text.strip():
        return None, [_Problem(f"the document identifier is empty ({expected})", tolerated=False)]
    parts = text.split(",", 2)
    if len(parts) != 3:
        return None, [
            _Problem(
                f"document identifier {text!r} has {len(parts)} comma-separated part(s) "
                f"instead of 3 ({expected})",
                tolerated=False,
            )
        ]
    if any(p != p.strip() for p in parts):
        problems.append(
            _Problem(f"document identifier {text!r} has whitespace around its parts; remove it", True)
        )
    agency, middle, number = (p.strip() for p in parts)

    # the agency part: the same check as an agency code, reported under QD28-10.2.b
    code, agency_problems = _analyse_agency(agency)
    for p in agency_problems:
        problems.append(_Problem(f"in document identifier {text!r}: {p.message}", p.tolerated))
    if code is None:
        return None, problems

    date: dt.date | None = None
    form: Literal["dated", "yearly"]
    strict_date = _DATE.fullmatch(middle)
    loose_date = strict_date or _LOOSE_DATE.fullmatch(middle)
    if loose_date:
        form = "dated"
        if not strict_date:
            problems.append(
                _Problem(
                    f"the date {middle!r} in document identifier {text!r} must be written yyyy/MM/dd", True
                )
            )
        y, m, d = (int(g) for g in loose_date.groups())
        try:
            date = dt.date(y, m, d)
        except ValueError:
            problems.append(
                _Problem(
                    f"document identifier {text!r} carries the impossible date {middle!r} "
                    "(no such day in the calendar)",
                    tolerated=True,
                )
            )
        year = y
    elif _YEAR.fullmatch(middle):
        form = "yearly"
        year = int(middle)
    else:
        problems.append(
            _Problem(
                f"the second part {middle!r} of document identifier {text!r} is neither a date yyyy/MM/dd "
                f"nor a year yyyy ({expected})",
                tolerated=False,
            )
        )
        return None, problems
    if year < 1:
        problems.append(_Problem(f"document identifier {text!r} has the impossible year {year:04d}", False))
        return None, problems

    if not number:
        problems.append(
            _Problem(f"document identifier {text!r} has no number after the second comma ({expected})", False)
        )
        return None, problems
    sequence, sep, notation = number.partition("/")
    if not _DIGITS.fullmatch(sequence):
        problems.append(
            _Problem(
                f"the number {sequence!r} in document identifier {text!r} must be the sequence number "
                "of the document in its year, in ASCII digits",
                tolerated=True,
            )
        )
    if sep and not notation.strip():
        problems.append(_Problem(f"document identifier {text!r} has an empty notation after '/'", True))
    return DocumentIdentifier(code.text, date, year, number, form), problems


@functools.lru_cache(maxsize=1024)
def _analyse_document_id(text: str) -> tuple[DocumentIdentifier | None, tuple[_Problem, ...]]:
    """:func:`_read_document_id`, remembered (a package's identifier is read by the parser, then by two
    validation rules, and again in the status packages that answer it)."""
    ident, problems = _read_document_id(text)
    return ident, tuple(problems)


def parse_document_id(text: str, *, strict: bool = True) -> DocumentIdentifier:
    """Parse either form of document identifier; raise :class:`IdentifierError` (``QD28-10.2.b``).

    Strict refuses any departure (non-conforming agency code, impossible date, non-digit sequence,
    stray whitespace); lenient accepts those and refuses only what cannot be read at all.
    """
    ident, problems = _analyse_document_id(text)
    refused = [p for p in problems if strict or not p.tolerated]
    if ident is None or refused:
        raise IdentifierError((refused or problems)[0].message, DOCUMENT_ID_REQ)
    return ident


def check_document_id(text: str, *, strict: bool = True, path: str) -> list[Diagnostic]:
    """Diagnostics for one document identifier at ``path`` (ERROR when refused, WARNING when tolerated)."""
    _, problems = _analyse_document_id(text)
    return [Diagnostic(_severity(p, strict), path, DOCUMENT_ID_REQ, p.message) for p in problems]


def format_document_id(
    agency: str, date: dt.date, number: str | int, notation: str | None, *, strict: bool = True
) -> str:
    """Emit ``<agency>,<yyyy/MM/dd>,<number>/<notation>`` (or without ``/<notation>`` when None).

    The agency code is checked (strict by default) so the result always parses back.
    """
    code = parse_agency_code(agency, strict=strict)
    num = str(number).strip()
    if not _DIGITS.fullmatch(num):
        raise IdentifierError(
            f"the document number {num!r} must be the sequence number in ASCII digits", DOCUMENT_ID_REQ
        )
    try:
        third = num if notation is None else format_code(num, notation)
    except IdentifierError as exc:
        raise IdentifierError(exc.message, DOCUMENT_ID_REQ) from None
    return f"{code.text},{date.year:04d}/{date.month:02d}/{date.day:02d},{third}"
