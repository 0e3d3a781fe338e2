"""Vietnam time: the edXML forms, ISO 8601 with offsets, impossible values, round trips."""

from __future__ import annotations

import datetime as dt

import pytest

from simulator.edxml.vntime import (
    VN_TZ,
    format_date,
    format_iso,
    format_timestamp,
    now_vn,
    parse_date,
    parse_timestamp,
    to_vn,
)

SEVEN = dt.timedelta(hours=7)
MORNING = dt.datetime(2024, 5, 17, 8, 30, 0, tzinfo=VN_TZ)


def test_vietnam_is_utc_plus_seven_without_dst() -> None:
    for month in (1, 7):  # no daylight saving: the same offset in winter and summer
        assert dt.datetime(2024, month, 1, tzinfo=VN_TZ).utcoffset() == SEVEN


def test_edxml_timestamp_is_read_as_vietnam_time() -> None:
    p = parse_timestamp("2024/05/17 08:30:00")
    assert p.value == MORNING
    assert p.value.utcoffset() == SEVEN
    assert p.form == "edxml"
    assert p.foreign_offset is None
    assert not p.naive_iso


def test_edxml_timestamp_variants_seen_in_the_wild() -> None:
    assert parse_timestamp("2024/05/17 08:30").value == MORNING  # no seconds
    assert parse_timestamp("  2024/5/7 8:30:00 ").value == dt.datetime(2024, 5, 7, 8, 30, tzinfo=VN_TZ)


def test_iso_with_vietnam_offset_is_not_flagged() -> None:
    p = parse_timestamp("2024-05-17T08:30:00+07:00")
    assert p.value == MORNING
    assert p.form == "iso"
    assert p.foreign_offset is None


@pytest.mark.parametrize(
    ("text", "offset"),
    [
        ("2024-05-17T01:30:00Z", dt.timedelta(0)),
        ("2024-05-17T01:30:00+00:00", dt.timedelta(0)),
        ("2024-05-17T10:30:00+09:00", dt.timedelta(hours=9)),
        ("2024-05-16T20:30:00-05:00", dt.timedelta(hours=-5)),  # the day before elsewhere
    ],
)
def test_iso_with_another_offset_is_converted_and_flagged(text: str, offset: dt.timedelta) -> None:
    p = parse_timestamp(text)
    assert p.value == MORNING  # the same instant
    assert p.value.utcoffset() == SEVEN  # expressed in Vietnam time
    assert p.value.hour == 8
    assert p.foreign_offset == offset


def test_naive_iso_is_read_as_vietnam_time_and_marked() -> None:
    p = parse_timestamp("2024-05-17T08:30:00")
    assert p.value == MORNING
    assert p.naive_iso
    assert p.foreign_offset is None


@pytest.mark.parametrize(
    ("text", "clue"),
    [
        ("2014/02/30 10:00:00", "impossible date"),  # appears in a real sample
        ("2023/02/29 10:00:00", "impossible date"),  # not a leap year
        ("2024/13/01 10:00:00", "impossible date"),
        ("2024/05/17 24:00:00", "impossible time"),
        ("2024/05/17 08:60:00", "impossible time"),
        ("2024/05/17 08:30:61", "impossible time"),
        ("2024-02-30T10:00:00+07:00", "impossible ISO 8601"),
        ("17/05/2024 08:30:00", "neither"),
        ("yesterday", "neither"),
        ("", "neither"),
    ],
)
def test_impossible_or_unreadable_timestamps_are_refused(text: str, clue: str) -> None:
    with pytest.raises(ValueError, match=clue):
        parse_timestamp(text)


def test_leap_day_is_possible() -> None:
    assert parse_timestamp("2024/02/29 00:00:00").value.day == 29
    assert parse_date("2024/02/29") == dt.date(2024, 2, 29)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2015/09/30", dt.date(2015, 9, 30)),
        ("2015-09-30", dt.date(2015, 9, 30)),
        (" 2015/9/3 ", dt.date(2015, 9, 3)),
    ],
)
def test_parse_date_forms(text: str, expected: dt.date) -> None:
    assert parse_date(text) == expected


@pytest.mark.parametrize(
    ("text", "clue"),
    [
        ("2014/02/30", "impossible date"),
        ("2015/00/10", "impossible date"),
        ("30/09/2015", "yyyy/MM/dd"),
        ("", "yyyy/MM/dd"),
    ],
)
def test_parse_date_refusals(text: str, clue: str) -> None:
    with pytest.raises(ValueError, match=clue):
        parse_date(text)


def test_format_timestamp_writes_vietnam_local_time() -> None:
    utc = dt.datetime(2024, 5, 17, 1, 30, tzinfo=dt.UTC)
    assert format_timestamp(utc) == "2024/05/17 08:30:00"
    assert format_timestamp(dt.datetime(2024, 5, 17, 8, 30)) == "2024/05/17 08:30:00"  # naive = Vietnam time
    assert format_timestamp(dt.datetime(2024, 12, 31, 20, 0, tzinfo=dt.UTC)) == "2025/01/01 03:00:00"


def test_format_iso_carries_the_offset() -> None:
    assert format_iso(MORNING) == "2024-05-17T08:30:00+07:00"
    assert format_iso(dt.datetime(2024, 5, 17, 1, 30, 0, 999, tzinfo=dt.UTC)) == "2024-05-17T08:30:00+07:00"


@pytest.mark.parametrize(
    "value",
    [
        MORNING,
        dt.datetime(2000, 1, 1, 0, 0, 0, tzinfo=VN_TZ),
        dt.datetime(2024, 2, 29, 23, 59, 59, tzinfo=VN_TZ),
        dt.datetime(2024, 5, 17, 23, 0, 0, tzinfo=dt.UTC),  # crosses midnight in Vietnam
    ],
)
def test_round_trips(value: dt.datetime) -> None:
    assert parse_timestamp(format_timestamp(value)).value == value
    assert parse_timestamp(format_iso(value)).value == value
    assert parse_date(format_date(value.date())) == value.date()


def test_format_date_pads() -> None:
    assert format_date(dt.date(2015, 9, 3)) == "2015/09/03"
    assert format_date(dt.date(999, 1, 2)) == "0999/01/02"


def test_to_vn_and_now_vn() -> None:
    assert to_vn(dt.datetime(2024, 5, 17, 8, 30)) == MORNING
    assert to_vn(dt.datetime(2024, 5, 17, 1, 30, tzinfo=dt.UTC)).hour == 8
    now = now_vn()
    assert now.utcoffset() == SEVEN
    assert now.microsecond == 0
    assert abs(now - dt.datetime.now(dt.UTC)) < dt.timedelta(seconds=5)
