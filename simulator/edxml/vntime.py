"""Vietnam time (UTC+07:00, no DST) and the two time forms edXML uses.

* edXML form: ``yyyy/MM/dd HH:mm:ss`` (timestamps) and ``yyyy/MM/dd`` (dates), local Vietnam time, no offset.
* ISO 8601 with an explicit offset, which the law asks for (QD28-14.4).

Parsing accepts both; a timestamp with an offset other than +07:00 is converted and flagged.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

__all__ = [
    "VN_TZ",
    "ParsedTime",
    "format_date",
    "format_iso",
    "format_timestamp",
    "now_vn",
    "parse_date",
    "parse_timestamp",
    "to_vn",
]

VN_TZ = dt.timezone(dt.timedelta(hours=7), "ICT")

_EDXML_TS = re.compile(r"^(\d{4})/(\d{1,2})/(\d{1,2})[ T](\d{1,2}):(\d{2})(?::(\d{2}))?$")
_EDXML_DATE = re.compile(r"^(\d{4})/(\d{1,2})/(\d{1,2})$")
_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")


@dataclass(frozen=True, slots=True)
class ParsedTime:
    value: dt.datetime  # aware, converted to Vietnam time
    form: str  # "edxml" | "iso"
    foreign_offset: dt.timedelta | None = None  # set when the text carried an offset other than +07:00
    naive_iso: bool = False  # ISO 8601 text without any offset (read as Vietnam time)


def now_vn() -> dt.datetime:
    return dt.datetime.now(VN_TZ).replace(microsecond=0)


def to_vn(value: dt.datetime) -> dt.datetime:
    """Aware datetimes are converted; naive ones are taken as Vietnam local time."""
    if value.tzinfo is None:
        return value.replace(tzinfo=VN_TZ)
    return value.astimezone(VN_TZ)


def format_timestamp(value: dt.datetime) -> str:
    v = to_vn(value)
    return f"{v.year:04d}/{v.month:02d}/{v.day:02d} {v.hour:02d}:{v.minute:02d}:{v.second:02d}"


def format_iso(value: dt.datetime) -> str:
    return to_vn(value).isoformat(timespec="seconds")


def format_date(value: dt.date) -> str:
    return f"{value.year:04d}/{value.month:02d}/{value.day:02d}"


def _date_or_raise(text: str, y: str, m: str, d: str) -> dt.date:
    try:
        return dt.date(int(y), int(m), int(d))
    except ValueError:
        raise ValueError(f"{text!r} is an impossible date (no such day in the calendar)") from None


def parse_date(text: str) -> dt.date:
    """Parse ``yyyy/MM/dd`` (or ISO ``yyyy-MM-dd``); raise ValueError saying what is wrong."""
    s = text.strip()
    m = _EDXML_DATE.match(s) or _ISO_DATE.match(s)
    if not m:
        raise ValueError(f"{text!r} is not a date in the form yyyy/MM/dd")
    return _date_or_raise(text, *m.groups())


def parse_timestamp(text: str) -> ParsedTime:
    """Parse an edXML timestamp or ISO 8601; raise ValueError saying what is wrong."""
    s = text.strip()
    m = _EDXML_TS.match(s)
    if m:
        y, mo, d, h, mi, sec = m.groups()
        day = _date_or_raise(text, y, mo, d)
        try:
            t = dt.time(int(h), int(mi), int(sec or 0))
        except ValueError:
            raise ValueError(f"{text!r} has an impossible time of day") from None
        return ParsedTime(dt.datetime.combine(day, t, tzinfo=VN_TZ), "edxml")
    try:
        value = dt.datetime.fromisoformat(s)
    except ValueError:
        if re.match(r"^\d{4}-\d{2}-\d{2}", s):
            raise ValueError(f"{text!r} is an impossible ISO 8601 date or time") from None
        raise ValueError(
            f"{text!r} is neither 'yyyy/MM/dd HH:mm:ss' (Vietnam time) nor ISO 8601 with an offset"
        ) from None
    if value.tzinfo is None:
        return ParsedTime(value.replace(tzinfo=VN_TZ), "iso", naive_iso=True)
    offset = value.utcoffset()
    foreign = offset if offset != dt.timedelta(hours=7) else None
    return ParsedTime(value.astimezone(VN_TZ), "iso", foreign_offset=foreign)
