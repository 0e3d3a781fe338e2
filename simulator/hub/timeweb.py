"""Hub time over HTTP: a ``Date`` header on every response and a ``/time`` endpoint (QD28-14.4).

* :class:`DateHeaderMiddleware` is pure ASGI (no ``BaseHTTPMiddleware``, which is slow). Wrap the
  *whole* Starlette app with it (``DateHeaderMiddleware(app, clock)``) rather than listing it in
  ``middleware=[...]``, so that 500 pages from Starlette's outermost error middleware carry the hub
  date too. It replaces any ``Date`` header the app set. uvicorn adds its own ``date`` header from the
  host clock unless started with ``date_header=False`` (CLI ``--no-date-header``); see
  :data:`UVICORN_OPTIONS`.
* :func:`time_endpoint` answers ``GET``/``HEAD``/``POST /time`` without credentials; it doubles as the
  readiness probe.
"""

from __future__ import annotations

import datetime as dt
import math
from email.utils import formatdate
from typing import Any, Final, TypedDict

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from simulator.edxml.vntime import VN_TZ
from simulator.hub.clock import HubClock

__all__ = [
    "TIME_ZONE_NAME",
    "UVICORN_OPTIONS",
    "DateHeaderMiddleware",
    "TimeReply",
    "time_endpoint",
    "time_reply",
]

TIME_ZONE_NAME: Final = "Asia/Ho_Chi_Minh"
UVICORN_OPTIONS: Final[dict[str, Any]] = {"date_header": False}
"""Pass to ``uvicorn.run``/``uvicorn.Config`` (CLI: ``--no-date-header``) or every response carries two
Date headers: uvicorn's (host clock) and ours (hub clock)."""

_UNIX_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


class TimeReply(TypedDict):
    time: str  # ISO 8601, Vietnam time, milliseconds, "+07:00"
    epoch_ms: int  # the same instant as POSIX milliseconds
    timezone: str
    offset_s: float  # hub minus host clock right now (configured offset plus drift accumulated so far)
    drift_ppm: float


def time_reply(clock: HubClock) -> TimeReply:
    """The ``/time`` body; ``time`` and ``epoch_ms`` denote exactly the same millisecond."""
    settings = clock.settings()
    ts = clock.timestamp()
    offset = clock.offset_now()
    epoch_ms = math.floor(ts * 1000)
    instant = (_UNIX_EPOCH + dt.timedelta(milliseconds=epoch_ms)).astimezone(VN_TZ)
    return TimeReply(
        time=instant.isoformat(timespec="milliseconds"),
        epoch_ms=epoch_ms,
        timezone=TIME_ZONE_NAME,
        offset_s=round(offset, 6),
        drift_ppm=settings.drift_ppm,
    )


def time_endpoint(clock: HubClock, path: str = "/time") -> Route:
    """``GET``/``HEAD``/``POST /time`` → :class:`TimeReply` as JSON; no credentials, never cached."""

    async def _time(request: Request) -> JSONResponse:
        return JSONResponse(dict(time_reply(clock)), headers={"Cache-Control": "no-store"})

    return Route(path, _time, methods=["GET", "POST"], name="hub_time")


class DateHeaderMiddleware:
    """Sets an RFC 7231 ``Date`` header from the hub clock on every HTTP response."""

    def __init__(self, app: ASGIApp, clock: HubClock) -> None:
        self.app = app
        self.clock = clock
        self._cached: tuple[int, bytes] = (-(2**62), b"")

    def date_value(self) -> bytes:
        """IMF-fixdate of the hub time now, e.g. ``Mon, 23 Nov 2026 08:04:05 GMT`` (cached per second)."""
        second = math.floor(self.clock.timestamp())
        cached_second, value = self._cached
        if cached_second != second:
            value = formatdate(second, usegmt=True).encode("ascii")
            self._cached = (second, value)
        return value

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_date(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", ()) if k.lower() != b"date"]
                headers.append((b"date", self.date_value()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_date)
