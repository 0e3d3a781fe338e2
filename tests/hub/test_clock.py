"""The hub clock: offset/drift maths, sharing through the state file, tolerance of bad files."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import logging
import os
from pathlib import Path

import pytest

import simulator.hub.clock as clock_mod
from simulator.edxml.vntime import VN_TZ
from simulator.hub.clock import ClockSettings, HubClock


class FakeBase:
    """A host wall clock the test moves by hand."""

    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


T0 = 1_795_000_000.0  # 2026-11-18T11:06:40Z; any fixed instant will do


def test_no_settings_means_host_time() -> None:
    base = FakeBase(T0)
    clock = HubClock(base=base)
    assert clock.timestamp() == T0
    assert clock.settings() == ClockSettings()


def test_offset_is_added() -> None:
    base = FakeBase(T0)
    clock = HubClock(base=base)
    clock.set(offset_s=120)
    assert clock.timestamp() == pytest.approx(T0 + 120)
    base.t += 3600  # the offset stays constant as time passes
    assert clock.timestamp() == pytest.approx(T0 + 3600 + 120)
    clock.set(offset_s=-45.5)
    assert clock.timestamp() == pytest.approx(T0 + 3600 - 45.5)


def test_drift_accumulates_from_when_it_was_set() -> None:
    base = FakeBase(T0)
    clock = HubClock(base=base)
    clock.set(offset_s=10, drift_ppm=500)  # 500 ppm = 0.5 ms per second = 1.8 s per hour
    assert clock.settings().epoch == T0
    assert clock.timestamp() == pytest.approx(T0 + 10)
    base.t = T0 + 3600
    assert clock.timestamp() == pytest.approx(T0 + 3600 + 10 + 1.8)
    assert clock.offset_now() == pytest.approx(11.8)
    clock.set(drift_ppm=-1000)  # slower clock
    base.t = T0 + 7200
    assert clock.timestamp() == pytest.approx(T0 + 7200 + 11.8 - 3.6)


def test_changing_only_the_drift_never_makes_time_jump() -> None:
    base = FakeBase(T0)
    clock = HubClock(base=base)
    clock.set(drift_ppm=1000)
    base.t = T0 + 1000  # 1000 s at 1000 ppm: 1 s ahead
    before = clock.timestamp()
    clock.set(drift_ppm=0)
    assert clock.timestamp() == pytest.approx(before)
    assert clock.settings().offset_s == pytest.approx(1.0)
    base.t += 1000
    assert clock.timestamp() == pytest.approx(T0 + 2000 + 1.0)


def test_setting_the_offset_drops_drift_accumulated_so_far() -> None:
    base = FakeBase(T0)
    clock = HubClock(base=base)
    clock.set(drift_ppm=1000)
    base.t = T0 + 1000
    clock.set(offset_s=5)
    assert clock.timestamp() == pytest.approx(T0 + 1000 + 5)  # "the hub is 5 s ahead from now on"
    assert clock.settings().drift_ppm == 1000  # drift kept, counting again from now


def test_reset_goes_back_to_host_time(tmp_path: Path) -> None:
    base = FakeBase(T0)
    clock = HubClock(tmp_path / "clock.json", base=base)
    clock.set(offset_s=300, drift_ppm=50)
    clock.reset()
    base.t += 10_000
    assert clock.timestamp() == base.t
    assert HubClock(tmp_path / "clock.json", base=base).timestamp() == base.t


def test_now_is_vietnam_time_with_microseconds() -> None:
    base = FakeBase(1_700_000_000.25)  # 2023-11-14 22:13:20.25 UTC
    now = HubClock(base=base).now()
    assert now.tzinfo is not None
    assert now.utcoffset() == dt.timedelta(hours=7)
    assert now.tzinfo == VN_TZ
    assert (now.year, now.month, now.day, now.hour, now.minute, now.second) == (2023, 11, 15, 5, 13, 20)
    assert now.microsecond == 250_000


def test_now_follows_the_offset() -> None:
    base = FakeBase(1_700_000_000.0)
    clock = HubClock(base=base)
    clock.set(offset_s=-86400)  # one day behind
    assert clock.now() == dt.datetime(2023, 11, 14, 5, 13, 20, tzinfo=VN_TZ)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"offset_s": float("nan")}, "offset_s"),
        ({"offset_s": float("inf")}, "offset_s"),
        ({"offset_s": 1e12}, "offset_s"),
        ({"drift_ppm": 2_000_000}, "drift_ppm"),  # would make the clock run backwards
        ({"drift_ppm": True}, "drift_ppm"),
    ],
)
def test_bad_settings_are_refused_with_a_clear_error(kwargs: dict[str, float], field: str) -> None:
    clock = HubClock(base=FakeBase(T0))
    with pytest.raises(ValueError, match=rf"{field}.*QD28-14\.4"):
        clock.set(**kwargs)
    assert clock.settings() == ClockSettings()


def test_a_second_worker_sees_every_write_at_once(tmp_path: Path) -> None:
    state = tmp_path / "data" / "clock.json"
    base = FakeBase(T0)
    writer = HubClock(state, base=base)
    reader = HubClock(state, base=base)  # another worker process: its own cache
    assert reader.timestamp() == T0
    # quick successive writes of the same size: none may be missed by the reader
    mtimes: list[int] = []
    for offset in (11.0, 12.0, 13.0, 14.0, 15.0, 16.0, 17.0, 18.0):
        writer.set(offset_s=offset)
        assert reader.timestamp() == pytest.approx(T0 + offset)
        mtimes.append(state.stat().st_mtime_ns)
    # each write is stamped with a strictly later mtime, so even a reused inode number of the same size
    # cannot make a new version look like the cached one
    assert all(a < b for a, b in itertools.pairwise(mtimes))
    writer.set(drift_ppm=250)
    assert reader.settings().drift_ppm == 250


def test_partial_update_merges_with_what_another_worker_wrote(tmp_path: Path) -> None:
    state = tmp_path / "clock.json"
    base = FakeBase(T0)
    a, b = HubClock(state, base=base), HubClock(state, base=base)
    a.timestamp()
    b.set(offset_s=42)
    a.set(drift_ppm=10)  # a's cache is stale; the write must start from b's offset
    assert b.settings() == ClockSettings(offset_s=42, drift_ppm=10, epoch=T0)


def test_state_file_is_replaced_atomically(tmp_path: Path) -> None:
    state = tmp_path / "clock.json"
    clock = HubClock(state, base=FakeBase(T0))
    clock.set(offset_s=1)
    clock.set(offset_s=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clock.json", "clock.json.lock"]
    data = json.loads(state.read_text())
    assert (data["offset_s"], data["drift_ppm"], data["epoch"]) == (2, 0, T0)


def test_hot_path_does_not_parse_json_per_call(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = 0
    real_parse = clock_mod._parse

    def counting_parse(raw: bytes) -> ClockSettings:
        nonlocal calls
        calls += 1
        return real_parse(raw)

    monkeypatch.setattr(clock_mod, "_parse", counting_parse)
    state = tmp_path / "clock.json"
    HubClock(state, base=FakeBase(T0)).set(offset_s=7)
    clock = HubClock(state, base=FakeBase(T0))
    for _ in range(200):
        clock.now()
    assert calls == 1


def test_missing_file_is_zero_offset_quietly(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="simulator.hub.clock"):
        clock = HubClock(tmp_path / "nowhere" / "clock.json", base=FakeBase(T0))
        assert clock.timestamp() == T0
    assert not caplog.records  # a fresh hub has no clock file: that is normal


@pytest.mark.parametrize(
    "content",
    [b"", b"{not json", b"[1, 2]", b'{"offset_s": "120"}', b'{"offset_s": NaN}', b"\xff\xfe\x00"],
)
def test_corrupt_file_is_zero_offset_and_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, content: bytes
) -> None:
    state = tmp_path / "clock.json"
    base = FakeBase(T0)
    HubClock(state, base=base).set(offset_s=99)
    clock = HubClock(state, base=base)
    assert clock.timestamp() == T0 + 99
    state.write_bytes(content)
    with caplog.at_level(logging.WARNING, logger="simulator.hub.clock"):
        for _ in range(5):
            assert clock.timestamp() == T0
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1  # once per bad file version, not once per call
    assert "clock.json" in warnings[0].getMessage()
    # writing the clock again heals it
    clock.set(offset_s=3)
    assert HubClock(state, base=base).timestamp() == T0 + 3


def test_deleted_file_falls_back_to_zero_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    state = tmp_path / "clock.json"
    clock = HubClock(state, base=FakeBase(T0))
    clock.set(offset_s=60)
    assert clock.timestamp() == T0 + 60
    os.unlink(state)
    with caplog.at_level(logging.WARNING, logger="simulator.hub.clock"):
        assert clock.timestamp() == T0
        assert clock.timestamp() == T0
    assert len(caplog.records) == 1
    assert "disappeared" in caplog.records[0].getMessage()


def test_in_memory_clocks_do_not_share() -> None:
    a, b = HubClock(base=FakeBase(T0)), HubClock(base=FakeBase(T0))
    a.set(offset_s=5)
    assert a.timestamp() == T0 + 5
    assert b.timestamp() == T0
    assert a.state_file is None


def test_real_base_clock_tracks_host_time() -> None:
    import time

    clock = HubClock()
    clock.set(offset_s=120)
    assert clock.timestamp() - time.time() == pytest.approx(120, abs=0.5)
    assert (clock.now() - dt.datetime.now(dt.UTC)).total_seconds() == pytest.approx(120, abs=0.5)
