"""An SNTP server (RFC 4330; RFC 5905 server mode) answering from the hub clock (QD28-14.4).

A QLVB can synchronise with the hub over SNTP instead of HTTP (``/time``). The server answers only
client requests (mode 3) of versions 1-4 with a mode 4 reply that echoes the version and the poll
interval, copies the client's transmit timestamp into the originate field, and takes the receive and
transmit timestamps from the hub clock — offset and drift included, so a hub set off by the
conformance suite is seen off over SNTP too.

Choices (documented, not accidental):

* **Stratum 1, reference id ``LOCL``** — RFC 4330 §4 lists ``LOCL`` ("uncalibrated local clock") as a
  stratum 1 reference identifier. The hub clock *is* the reference for the exchange by definition (the
  law asks systems to be synchronised with the hub), it has no upstream server to name, and a stratum 2
  reply would have to carry an upstream IPv4 address as reference id, which clients use for loop
  detection; a made-up one could collide with the client's own. Root delay is 0 and root dispersion
  about 10 ms, so clients that bound the root distance (chrony: 3 s) accept the server.
* **Leap indicator 0** always: the hub never announces a leap second.
* **Ignored, no reply**: datagrams shorter than 48 bytes, modes other than 3, version 0 or 5-7. Bytes
  beyond the 48-byte header (extension fields, MAC) are ignored; the reply is unauthenticated.
* **No rate limiting** and no kiss-o'-death: the server binds to 127.0.0.1 by default, a load test may
  have many simulated agencies poll it, and a reply (48 bytes) is never larger than the request it
  answers (at least 48 bytes), so even on a public address it cannot amplify traffic.
* **NTP eras**: timestamps are 32.32 fixed point since 1900-01-01 UTC, seconds taken modulo 2**32, so
  a hub clock set past 2036-02-07 06:28:16 UTC rolls into era 1 as RFC 4330 §3 prescribes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import select
import socket
import struct
import threading
from dataclasses import dataclass
from typing import Any, Final, cast

from simulator.hub.clock import HubClock

__all__ = [
    "DEFAULT_PORT",
    "NTP_EPOCH_OFFSET",
    "REFERENCE_ID",
    "STRATUM",
    "SntpBindError",
    "SntpServer",
    "SntpStats",
    "SntpThread",
    "from_ntp",
    "make_reply",
    "to_ntp",
]

_log = logging.getLogger(__name__)

DEFAULT_PORT: Final = 1123
NTP_EPOCH_OFFSET: Final = 2_208_988_800  # seconds from 1900-01-01 to 1970-01-01 (UTC)
STRATUM: Final = 1
REFERENCE_ID: Final = b"LOCL"
PRECISION: Final = -20  # log2 seconds, about 1 µs
ROOT_DISPERSION: Final = 0x0000028F  # 16.16 fixed point seconds: 655/65536 ≈ 10 ms

_HEADER = struct.Struct("!BBbbII4sQQQQ")  # 48 bytes
_MODE_CLIENT = 3
_MODE_SERVER = 4
_ERA = 2**32
_RECV_BUFFER = 2048


def to_ntp(posix: float) -> int:
    """A POSIX time as a 64-bit NTP timestamp (32.32 fixed point since 1900, seconds modulo 2**32)."""
    seconds = math.floor(posix)
    fraction = min(int((posix - seconds) * 2**32), 2**32 - 1)
    return (((seconds + NTP_EPOCH_OFFSET) % _ERA) << 32) | fraction


def from_ntp(value: int) -> float:
    """A 64-bit NTP timestamp as POSIX time, era chosen as in RFC 4330 §3.

    Seconds with the top bit set are era 0 (1968-2036); without it, era 1 (2036-2104).
    """
    seconds, fraction = value >> 32, value & 0xFFFFFFFF
    if not seconds & 0x80000000:
        seconds += _ERA
    return seconds - NTP_EPOCH_OFFSET + fraction / 2**32


def make_reply(request: bytes, receive_ts: float, transmit_ts: float) -> bytes | None:
    """The mode 4 reply to ``request``, or ``None`` when the request must be ignored.

    ``receive_ts``/``transmit_ts`` are hub POSIX times (``HubClock.timestamp()``).
    """
    if len(request) < _HEADER.size:
        return None
    first = request[0]
    version, mode = (first >> 3) & 0x7, first & 0x7
    if mode != _MODE_CLIENT or not 1 <= version <= 4:
        return None
    (_, _, poll, *_rest) = _HEADER.unpack_from(request)
    client_transmit = int.from_bytes(request[40:48], "big")
    return _HEADER.pack(
        (0 << 6) | (version << 3) | _MODE_SERVER,
        STRATUM,
        poll,  # RFC 5905 server mode copies the poll interval
        PRECISION,
        0,  # root delay: the hub is its own reference
        ROOT_DISPERSION,
        REFERENCE_ID,
        to_ntp(math.floor(receive_ts)),  # reference: "set" at the start of the current second
        client_transmit,  # originate = the client's transmit timestamp, bit for bit
        to_ntp(receive_ts),
        to_ntp(transmit_ts),
    )


@dataclass(slots=True)
class SntpStats:
    answered: int = 0
    ignored: int = 0  # short, malformed or non-client datagrams


class SntpBindError(OSError):
    """The UDP port could not be opened; the message says what to change."""


class SntpServer:
    """SNTP on UDP ``host:port`` answering from ``clock``; ``port=0`` picks a free port.

    Run it either in a background thread (:meth:`start_thread`, returns a handle with ``stop()``) or as
    an asyncio task (``await server.serve()``, runs until cancelled). :meth:`bind` opens the socket
    ahead of time so :attr:`address` is known before serving (both runners bind if needed).
    """

    def __init__(self, clock: HubClock, host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> None:
        if not 0 <= port <= 65535:
            raise ValueError(f"SNTP port must be between 0 and 65535 (0 = any free port); got {port}")
        self.clock = clock
        self.host = host
        self.port = port
        self.stats = SntpStats()
        self._sock: socket.socket | None = None
        self._running = False

    # --- socket ---------------------------------------------------------------------------------
    def bind(self) -> tuple[str, int]:
        """Open and bind the UDP socket (idempotent); returns the actual (host, port)."""
        if self._sock is None:
            try:
                family, _, _, _, sockaddr = socket.getaddrinfo(
                    self.host, self.port, type=socket.SOCK_DGRAM, proto=socket.IPPROTO_UDP
                )[0]
            except socket.gaierror as exc:
                raise SntpBindError(
                    f"cannot listen for SNTP: {self.host!r} is not a usable address ({exc.strerror})"
                ) from None
            sock = socket.socket(family, socket.SOCK_DGRAM)
            try:
                sock.bind(sockaddr)
            except OSError as exc:
                sock.close()
                hint = (
                    " (ports below 1024 need privileges; the default 1123 does not)"
                    if isinstance(exc, PermissionError)
                    else " (choose another port, or 0 for any free port)"
                )
                raise SntpBindError(
                    exc.errno, f"cannot listen for SNTP on udp {self.host}:{self.port}: {exc.strerror}{hint}"
                ) from None
            sock.setblocking(False)
            self._sock = sock
        return self.address

    @property
    def address(self) -> tuple[str, int]:
        """The bound (host, port); the real port when 0 was asked for."""
        if self._sock is None:
            raise RuntimeError(
                "the SNTP server is not bound yet: call bind(), start_thread() or serve() first"
            )
        name: Any = self._sock.getsockname()
        return str(name[0]), int(name[1])

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    # --- answering --------------------------------------------------------------------------------
    def _answer(self, data: bytes) -> bytes | None:
        received = self.clock.timestamp()
        try:
            probe = make_reply(data, received, received)
        except Exception:  # never let one datagram stop the server
            _log.exception("SNTP: could not answer a %d-byte datagram", len(data))
            probe = None
        if probe is None:
            self.stats.ignored += 1
            _log.debug("SNTP: ignored a %d-byte datagram that is not an SNTP client request", len(data))
            return None
        self.stats.answered += 1
        # transmit timestamp as late as possible
        return probe[:40] + to_ntp(self.clock.timestamp()).to_bytes(8, "big")

    # --- thread runner ---------------------------------------------------------------------------
    def start_thread(self) -> SntpThread:
        """Serve in a daemon thread; ``handle.stop()`` ends it and closes the socket."""
        self._claim()
        try:
            self.bind()
        except BaseException:
            self._running = False
            raise
        return SntpThread(self)

    start = start_thread

    def _claim(self) -> None:
        if self._running:
            raise RuntimeError("this SNTP server is already running")
        self._running = True

    def _run_blocking(self, wake: socket.socket) -> None:
        sock = self._sock
        assert sock is not None
        try:
            while True:
                readable, _, _ = select.select([sock, wake], [], [])
                if wake in readable:
                    return
                self._drain(sock)
        finally:
            self._running = False
            self.close()

    def _drain(self, sock: socket.socket) -> None:
        while True:
            try:
                data, peer = sock.recvfrom(_RECV_BUFFER)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # e.g. ICMP port unreachable from an earlier reply
                _log.debug("SNTP: receive error %s", exc)
                continue
            reply = self._answer(data)
            if reply is not None:
                try:
                    sock.sendto(reply, peer)
                except OSError as exc:
                    _log.debug("SNTP: could not reply to %s: %s", peer, exc)

    # --- asyncio runner ----------------------------------------------------------------------------
    async def serve(self) -> None:
        """Serve on the running event loop until cancelled; closes the socket on the way out."""
        self._claim()
        try:
            self.bind()
            assert self._sock is not None
            loop = asyncio.get_running_loop()
            transport, _ = await loop.create_datagram_endpoint(lambda: _Protocol(self), sock=self._sock)
            try:
                await asyncio.Future()  # until cancelled
            finally:
                transport.close()
                self._sock = None  # the transport owns and closes the socket
        finally:
            self._running = False


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, server: SntpServer) -> None:
        self._server = server
        self._transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # the selector loop's datagram transport does not subclass DatagramTransport on every Python
        self._transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        reply = self._server._answer(data)
        if reply is not None and self._transport is not None:
            self._transport.sendto(reply, addr)

    def error_received(self, exc: Exception) -> None:
        _log.debug("SNTP: socket error %s", exc)


class SntpThread:
    """Handle of an SNTP server running in a background thread; also a context manager."""

    def __init__(self, server: SntpServer) -> None:
        self.server = server
        self.address = server.address
        self._wake_r, self._wake_w = socket.socketpair()
        self._thread = threading.Thread(target=self._run, name=f"sntp-{self.address[1]}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self.server._run_blocking(self._wake_r)
        finally:
            self._wake_r.close()

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving and close the socket (idempotent)."""
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")
        self._thread.join(timeout)
        with contextlib.suppress(OSError):
            self._wake_w.close()

    def __enter__(self) -> SntpThread:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
