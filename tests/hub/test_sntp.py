"""The SNTP server: answers from the hub clock, survives garbage, handles NTP eras."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import socket
import struct
from collections.abc import Iterator
from pathlib import Path

import ntplib
import pytest

from simulator.hub.clock import HubClock
from simulator.hub.sntp import SntpBindError, SntpServer, SntpThread, from_ntp, make_reply, to_ntp

NTP_1970 = 2_208_988_800  # seconds from 1900-01-01 to 1970-01-01 (RFC 868 / RFC 5905)


@pytest.fixture
def clock() -> HubClock:
    return HubClock()


@pytest.fixture
def running(clock: HubClock) -> Iterator[SntpThread]:
    with SntpServer(clock, port=0).start_thread() as handle:
        yield handle


def _request(version: int = 4, mode: int = 3, poll: int = 6, transmit: bytes = b"\x12" * 8) -> bytes:
    return bytes([(version << 3) | mode, 0, poll, 0]) + b"\x00" * 36 + transmit


def _exchange(port: int, packets: list[bytes], timeout: float = 2.0) -> bytes:
    """Send every packet in order and return the first reply."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        for packet in packets:
            s.sendto(packet, ("127.0.0.1", port))
        return s.recv(2048)


@pytest.mark.parametrize("version", [3, 4])
def test_ntplib_sees_the_hub_offset(clock: HubClock, running: SntpThread, version: int) -> None:
    clock.set(offset_s=120)
    stats = ntplib.NTPClient().request("127.0.0.1", port=running.address[1], version=version, timeout=2)
    assert stats.offset == pytest.approx(120, abs=0.5)
    assert stats.mode == 4
    assert stats.version == version
    assert stats.stratum == 1
    assert ntplib.ref_id_to_text(stats.ref_id, stats.stratum) == "uncalibrated local clock"  # "LOCL"
    assert stats.leap == 0
    assert 0 <= stats.delay < 0.5


def test_offset_set_by_another_worker_is_served_at_once(tmp_path: Path) -> None:
    state = tmp_path / "clock.json"
    served_by = HubClock(state)  # main process, serving SNTP
    control = HubClock(state)  # a web worker handling the control API
    with SntpServer(served_by, port=0).start_thread() as handle:
        client = ntplib.NTPClient()
        control.set(offset_s=-3600)
        assert client.request("127.0.0.1", port=handle.address[1], timeout=2).offset == pytest.approx(
            -3600, abs=0.5
        )
        control.set(offset_s=45)
        assert client.request("127.0.0.1", port=handle.address[1], timeout=2).offset == pytest.approx(
            45, abs=0.5
        )


def test_reply_fields(running: SntpThread) -> None:
    transmit = os.urandom(8)
    reply = _exchange(running.address[1], [_request(version=4, poll=10, transmit=transmit)])
    assert len(reply) == 48
    first, stratum, poll, precision, root_delay, root_disp, refid = struct.unpack("!BBbbII4s", reply[:16])
    assert first >> 6 == 0  # leap indicator
    assert (first >> 3) & 7 == 4
    assert first & 7 == 4  # server
    assert stratum == 1 and refid == b"LOCL"
    assert poll == 10  # echoed
    assert -30 < precision < 0
    assert root_delay == 0 and 0 < root_disp / 2**16 < 1
    assert reply[24:32] == transmit  # originate = the client's transmit timestamp, bit for bit
    reference, receive, transmit_ts = (
        from_ntp(int.from_bytes(reply[i : i + 8], "big")) for i in (16, 32, 40)
    )
    assert reference <= receive <= transmit_ts
    assert transmit_ts - receive < 0.1


def test_garbage_is_ignored_and_the_server_keeps_answering(running: SntpThread) -> None:
    garbage = [
        b"",
        b"\x1b",
        _request()[:47],  # one byte short
        _request(mode=4),  # a server reply, not a request
        _request(mode=1),  # symmetric active
        _request(mode=6),  # control (ntpq)
        _request(mode=7),  # private (ntpdc monlist: the classic amplifier)
        _request(version=0),
        _request(version=5),
        _request(version=7),
        b"\xff" * 48,  # leap 3, version 7, mode 7
        b"GET / HTTP/1.1\r\n\r\n",
    ]
    marker = b"\xab\xcd\xef\x01\x23\x45\x67\x89"
    reply = _exchange(running.address[1], [*garbage, _request(transmit=marker)])
    assert reply[24:32] == marker  # the first reply is the answer to the valid request
    assert running.server.stats.ignored == len(garbage)
    assert running.server.stats.answered == 1
    assert running.is_alive()


def test_extension_fields_and_mac_are_ignored(running: SntpThread) -> None:
    marker = os.urandom(8)
    reply = _exchange(
        running.address[1], [_request(version=4, transmit=marker) + b"\x00\x00\x00\x01" + b"\xaa" * 16]
    )
    assert len(reply) == 48
    assert reply[24:32] == marker


def test_versions_1_and_2_are_echoed(running: SntpThread) -> None:
    for version in (1, 2):
        reply = _exchange(running.address[1], [_request(version=version)])
        assert (reply[0] >> 3) & 7 == version


def test_ntp_timestamp_conversion() -> None:
    assert to_ntp(0.0) == NTP_1970 << 32
    assert to_ntp(0.5) == (NTP_1970 << 32) | 2**31
    assert from_ntp(to_ntp(1_700_000_000.25)) == 1_700_000_000.25
    # fraction never overflows into the seconds
    assert to_ntp(1.0 - 1e-12) >> 32 == NTP_1970


def test_ntp_era_rolls_over_in_2036() -> None:
    rollover = dt.datetime(2036, 2, 7, 6, 28, 16, tzinfo=dt.UTC).timestamp()  # RFC 4330 §3
    assert to_ntp(rollover - 1) >> 32 == 2**32 - 1
    assert to_ntp(rollover) >> 32 == 0
    later = dt.datetime(2040, 1, 1, tzinfo=dt.UTC).timestamp()
    assert to_ntp(later) >> 32 < 2**31  # era 1: top bit clear
    assert from_ntp(to_ntp(later)) == later
    reply = make_reply(_request(), later, later)
    assert reply is not None
    assert from_ntp(int.from_bytes(reply[40:48], "big")) == later


def test_hub_set_past_2036_is_served_in_era_1(clock: HubClock, running: SntpThread) -> None:
    import time

    target = dt.datetime(2037, 6, 1, tzinfo=dt.UTC).timestamp()
    clock.set(offset_s=target - time.time())
    reply = _exchange(running.address[1], [_request()])
    assert from_ntp(int.from_bytes(reply[40:48], "big")) == pytest.approx(target, abs=1)


def test_make_reply_refuses_what_it_must_ignore() -> None:
    assert make_reply(b"\x23" * 47, 0.0, 0.0) is None
    assert make_reply(_request(mode=5), 0.0, 0.0) is None
    assert make_reply(_request(version=0), 0.0, 0.0) is None
    assert make_reply(_request(), 0.0, 0.0) is not None


def test_stop_closes_the_port(clock: HubClock) -> None:
    server = SntpServer(clock, port=0)
    handle = server.start_thread()
    port = handle.address[1]
    handle.stop()
    handle.stop()  # idempotent
    assert not handle.is_alive()
    with pytest.raises(RuntimeError, match="not bound"):
        _ = server.address
    # the port is free again
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", port))


def test_port_in_use_is_a_clear_error(clock: HubClock, running: SntpThread) -> None:
    with pytest.raises(SntpBindError, match=rf"udp 127\.0\.0\.1:{running.address[1]}.*another port"):
        SntpServer(clock, port=running.address[1]).start_thread()


def test_bad_port_is_refused(clock: HubClock) -> None:
    with pytest.raises(ValueError, match="between 0 and 65535"):
        SntpServer(clock, port=70000)


def test_serve_as_an_asyncio_task(clock: HubClock) -> None:
    clock.set(offset_s=-90)

    async def scenario() -> float:
        server = SntpServer(clock, port=0)
        host, port = server.bind()
        task = asyncio.create_task(server.serve())
        try:
            stats = await asyncio.to_thread(ntplib.NTPClient().request, host, port=port, version=3, timeout=2)
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        with pytest.raises(RuntimeError, match="not bound"):
            _ = server.address
        return float(stats.offset)

    assert asyncio.run(scenario()) == pytest.approx(-90, abs=0.5)
