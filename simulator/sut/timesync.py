"""Keeping a QLVB's clock on hub time (QD28-14.4): offset measurement over HTTP ``/time`` or SNTP.

A QLVB does not set the host clock; it measures the hub's offset and adds it to every timestamp it
emits. Two sources, both answered by the simulated hub:

* **HTTP** — ``GET <hub>/time`` returns ``epoch_ms`` (and ``time`` in ISO 8601 with ``+07:00``). The
  offset is the hub instant minus the midpoint of the request's round trip (Cristian's algorithm).
* **SNTP** (RFC 4330) — a 48-byte mode-3 request over UDP; offset ``((T2-T1) + (T3-T4)) / 2`` and
  delay ``(T4-T1) - (T3-T2)``. This is a tiny client of its own (no ``ntplib`` at runtime).

Each measurement takes a few samples and keeps the one with the shortest round trip.
:class:`SyncedClock` holds the current offset and answers ``now()`` in Vietnam time. Nothing here
imports an HTTP library: the HTTP source takes a ``fetch`` callable (the reference QLVB passes one
built on its :class:`~simulator.agency.client.VxpClient`).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from simulator.edxml.vntime import VN_TZ

__all__ = [
    "NTP_EPOCH_OFFSET",
    "OffsetSample",
    "SyncedClock",
    "TimeSource",
    "TimeSyncError",
    "from_ntp",
    "http_offset",
    "parse_time_reply",
    "sntp_offset",
    "to_ntp",
]

NTP_EPOCH_OFFSET = 2_208_988_800  # seconds from 1900-01-01 to 1970-01-01 (UTC)
_NTP_FRACTION = 2**32
_PACKET = struct.Struct("!BBbb11I")  # li/vn/mode, stratum, poll, precision, then 11 32-bit words
_MAX_RTT_S = 5.0

TimeSource = Callable[[], "OffsetSample"]


class TimeSyncError(RuntimeError):
    """The hub's time could not be measured; the message says which source failed and why."""


@dataclass(frozen=True, slots=True)
class OffsetSample:
    offset_s: float  # hub clock minus host clock
    rtt_s: float  # round trip (HTTP) or network delay (SNTP)
    source: str  # "http" | "sntp"
    measured_at: float  # host POSIX time of the measurement


def to_ntp(posix: float) -> int:
    """POSIX seconds → 64-bit NTP timestamp (era folded modulo 2**32 seconds)."""
    seconds = posix + NTP_EPOCH_OFFSET
    whole = int(seconds // 1)
    frac = int((seconds - whole) * _NTP_FRACTION)
    return ((whole % 2**32) << 32) | (frac & 0xFFFFFFFF)


def from_ntp(value: int, *, near: float | None = None) -> float:
    """64-bit NTP timestamp → POSIX seconds, in the NTP era closest to ``near`` (default: now)."""
    seconds = (value >> 32) + (value & 0xFFFFFFFF) / _NTP_FRACTION - NTP_EPOCH_OFFSET
    ref = time.time() if near is None else near
    era = 2**32
    while seconds < ref - era / 2:
        seconds += era
    return seconds


# ---------------------------------------------------------------------------------------- HTTP


def parse_time_reply(body: bytes) -> float:
    """The hub instant (POSIX seconds) in a ``/time`` reply: ``epoch_ms``, else the ISO ``time``."""
    try:
        data: Any = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        snippet = body[:80].decode("utf-8", errors="replace")
        raise TimeSyncError(f"the hub's /time reply is not JSON (starts {snippet!r})") from None
    if not isinstance(data, dict):
        raise TimeSyncError("the hub's /time reply is not a JSON object")
    epoch_ms = data.get("epoch_ms")
    if isinstance(epoch_ms, int | float) and not isinstance(epoch_ms, bool):
        return float(epoch_ms) / 1000.0
    text = data.get("time")
    if isinstance(text, str):
        try:
            value = dt.datetime.fromisoformat(text)
        except ValueError:
            raise TimeSyncError(f"the hub's /time reply has an unreadable time {text!r}") from None
        if value.tzinfo is None:
            value = value.replace(tzinfo=VN_TZ)
        return value.timestamp()
    raise TimeSyncError("the hub's /time reply has neither epoch_ms nor time")


def http_offset(
    fetch: Callable[[], bytes], *, samples: int = 2, host_clock: Callable[[], float] = time.time
) -> OffsetSample:
    """Measure the hub offset with ``fetch()`` (returns the body of ``GET /time``)."""
    best: OffsetSample | None = None
    last_error = ""
    for _ in range(max(samples, 1)):
        t0 = host_clock()
        try:
            body = fetch()
        except Exception as exc:  # the fetch callable's own errors (transport, refused)
            last_error = f"{type(exc).__name__}: {exc}"
            continue
        t1 = host_clock()
        hub = parse_time_reply(body)
        sample = OffsetSample(hub - (t0 + t1) / 2, t1 - t0, "http", t1)
        if sample.rtt_s <= _MAX_RTT_S and (best is None or sample.rtt_s < best.rtt_s):
            best = sample
    if best is None:
        raise TimeSyncError(
            f"cannot read the hub time over HTTP /time: {last_error or 'round trip too slow'}"
        )
    return best


# ---------------------------------------------------------------------------------------- SNTP


def _sntp_once(host: str, port: int, timeout: float, host_clock: Callable[[], float]) -> OffsetSample:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        # Transmit timestamp: the send time with random low bits, so a reply can be matched to this request.
        t1 = host_clock()
        transmit = (to_ntp(t1) & ~0xFFFF) | int.from_bytes(os.urandom(2), "big")
        words = [0] * 11
        words[9], words[10] = transmit >> 32, transmit & 0xFFFFFFFF
        request = _PACKET.pack(0x23, 0, 0, 0, *words)  # LI 0, version 4, mode 3 (client)
        try:
            sock.sendto(request, (host, port))
            deadline = time.monotonic() + timeout
            while True:
                sock.settimeout(max(deadline - time.monotonic(), 0.001))
                data, _addr = sock.recvfrom(512)
                t4 = host_clock()
                if len(data) < 48:
                    continue
                fields = _PACKET.unpack(data[:48])
                mode = fields[0] & 0x7
                originate = (fields[9] << 32) | fields[10]
                if mode != 4 or originate != transmit:
                    continue  # not the answer to this request
                break
        except TimeoutError:
            raise TimeSyncError(f"no SNTP answer from {host}:{port} within {timeout:g} s") from None
        except OSError as exc:
            raise TimeSyncError(f"cannot query SNTP at {host}:{port}: {exc}") from None
    if fields[1] == 0:
        raise TimeSyncError(f"SNTP server {host}:{port} answered kiss-o'-death (stratum 0)")
    t2 = from_ntp((fields[11] << 32) | fields[12], near=t1)
    t3 = from_ntp((fields[13] << 32) | fields[14], near=t1)
    offset = ((t2 - t1) + (t3 - t4)) / 2
    delay = (t4 - t1) - (t3 - t2)
    return OffsetSample(offset, max(delay, 0.0), "sntp", t4)


def sntp_offset(
    host: str,
    port: int,
    *,
    samples: int = 3,
    timeout: float = 1.0,
    host_clock: Callable[[], float] = time.time,
) -> OffsetSample:
    """Measure the hub offset over SNTP (RFC 4330), keeping the sample with the shortest delay."""
    best: OffsetSample | None = None
    error: TimeSyncError | None = None
    for _ in range(max(samples, 1)):
        try:
            sample = _sntp_once(host, port, timeout, host_clock)
        except TimeSyncError as exc:
            error = exc
            continue
        if best is None or sample.rtt_s < best.rtt_s:
            best = sample
    if best is None:
        assert error is not None
        raise error
    return best


# ----------------------------------------------------------------------------------- the clock


class SyncedClock:
    """Host clock plus the last measured hub offset; ``now()`` is the hub's time in Vietnam time.

    ``source=None`` never syncs (offset stays 0). Thread-safe.
    """

    def __init__(self, source: TimeSource | None, *, host_clock: Callable[[], float] = time.time) -> None:
        self._source = source
        self._host_clock = host_clock
        self._lock = threading.Lock()
        self._offset = 0.0
        self._last: OffsetSample | None = None

    @property
    def offset_s(self) -> float:
        return self._offset

    @property
    def last_sample(self) -> OffsetSample | None:
        return self._last

    @property
    def synced(self) -> bool:
        return self._last is not None

    def sync(self) -> OffsetSample | None:
        """Measure now and adopt the offset; None without a source. Raises :class:`TimeSyncError`."""
        if self._source is None:
            return None
        sample = self._source()
        with self._lock:
            self._offset = sample.offset_s
            self._last = sample
        return sample

    def due(self, interval_s: float) -> bool:
        """True when a source exists and the last sync is older than ``interval_s`` (or never happened)."""
        if self._source is None:
            return False
        last = self._last
        return last is None or self._host_clock() - last.measured_at >= interval_s

    def timestamp(self) -> float:
        return self._host_clock() + self._offset

    def now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.timestamp(), VN_TZ)
