"""Hub time over HTTP: the Date header on every response and the /time endpoint."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import socket
import threading
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from simulator.hub.clock import HubClock
from simulator.hub.timeweb import UVICORN_OPTIONS, DateHeaderMiddleware, time_endpoint

T0 = dt.datetime(2026, 11, 23, 8, 4, 5, tzinfo=dt.UTC).timestamp()  # 15:04:05 in Vietnam


class FakeBase:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


async def _hello(request: Request) -> Response:
    return PlainTextResponse("hello")


async def _stale_date(request: Request) -> Response:
    return PlainTextResponse("x", headers={"Date": "Thu, 01 Jan 1970 00:00:00 GMT"})


async def _boom(request: Request) -> Response:
    raise RuntimeError("boom")


def _app(clock: HubClock) -> ASGIApp:
    inner = Starlette(
        routes=[
            time_endpoint(clock),
            Route("/hello", _hello),
            Route("/stale", _stale_date),
            Route("/boom", _boom),
        ]
    )
    return DateHeaderMiddleware(inner, clock)


@pytest.fixture
def base() -> FakeBase:
    return FakeBase(T0)


@pytest.fixture
def clock(base: FakeBase) -> HubClock:
    return HubClock(base=base)


class Client:
    """In-process HTTP client (starlette's TestClient now warns about httpx; warnings are errors here)."""

    def __init__(self, app: ASGIApp) -> None:
        self.transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)

    def request(self, method: str, path: str) -> httpx.Response:
        async def go() -> httpx.Response:
            async with httpx.AsyncClient(transport=self.transport, base_url="http://hub.test") as c:
                return await c.request(method, path)

        return asyncio.run(go())

    def get(self, path: str) -> httpx.Response:
        return self.request("GET", path)


@pytest.fixture
def client(clock: HubClock) -> Client:
    return Client(_app(clock))


def _date_of(response: httpx.Response) -> dt.datetime:
    dates = response.headers.get_list("date")
    assert len(dates) == 1, dates
    assert re.fullmatch(r"[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT", dates[0]), dates[0]
    return parsedate_to_datetime(dates[0])


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/hello", 200),
        ("GET", "/stale", 200),  # the app's own Date header is replaced
        ("GET", "/no-such-page", 404),
        ("POST", "/hello", 405),
        ("GET", "/boom", 500),
        ("GET", "/time", 200),
        ("POST", "/time", 200),
        ("HEAD", "/time", 200),
    ],
)
def test_every_response_has_one_date_from_the_hub_clock(
    client: Client, method: str, path: str, status: int
) -> None:
    response = client.request(method, path)
    assert response.status_code == status
    assert _date_of(response) == dt.datetime.fromtimestamp(T0, dt.UTC)


def test_date_header_moves_with_the_offset(client: Client, clock: HubClock, base: FakeBase) -> None:
    assert _date_of(client.get("/hello")) == dt.datetime(2026, 11, 23, 8, 4, 5, tzinfo=dt.UTC)
    clock.set(offset_s=3600 + 5)
    assert _date_of(client.get("/hello")) == dt.datetime(2026, 11, 23, 9, 4, 10, tzinfo=dt.UTC)
    base.t += 0.999  # still the same second: the cached value is right
    assert _date_of(client.get("/hello")) == dt.datetime(2026, 11, 23, 9, 4, 10, tzinfo=dt.UTC)
    base.t += 0.002
    assert _date_of(client.get("/hello")) == dt.datetime(2026, 11, 23, 9, 4, 11, tzinfo=dt.UTC)


ISO_VN = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+07:00$")


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_time_endpoint_needs_no_credentials_and_is_iso_vietnam_time(
    client: Client, clock: HubClock, base: FakeBase, method: str
) -> None:
    base.t = T0 + 0.1234
    clock.set(offset_s=120)
    response = client.request(method, "/time")  # no XroadVnpt-* headers at all
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    body: dict[str, Any] = response.json()
    assert set(body) == {"time", "epoch_ms", "timezone", "offset_s", "drift_ppm"}
    assert ISO_VN.match(body["time"]), body["time"]
    # 2026-11-23T08:04:05.1234Z + 120 s = 15:06:05.123 in Vietnam
    assert body["time"] == "2026-11-23T15:06:05.123+07:00"
    parsed = dt.datetime.fromisoformat(body["time"])
    assert parsed.utcoffset() == dt.timedelta(hours=7)
    assert body["epoch_ms"] == int(T0 * 1000) + 120_000 + 123
    assert round(parsed.timestamp() * 1000) == body["epoch_ms"]
    assert body["timezone"] == "Asia/Ho_Chi_Minh"
    assert body["offset_s"] == pytest.approx(120)
    assert body["drift_ppm"] == 0


def test_time_endpoint_reports_the_offset_with_drift_so_far(
    client: Client, clock: HubClock, base: FakeBase
) -> None:
    clock.set(offset_s=-30, drift_ppm=100)
    base.t += 10_000  # 100 ppm of 10 000 s = 1 s
    body = client.get("/time").json()
    assert body["offset_s"] == pytest.approx(-29)
    assert body["drift_ppm"] == 100
    assert body["epoch_ms"] == int((T0 + 10_000 - 29) * 1000)


def test_websocket_and_lifespan_scopes_pass_through(clock: HubClock) -> None:
    seen: list[str] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    async def noop_receive() -> Any:
        return {}

    async def fail_send(message: Any) -> None:
        raise AssertionError("nothing may be sent for a lifespan scope")

    asyncio.run(DateHeaderMiddleware(inner, clock)({"type": "lifespan"}, noop_receive, fail_send))
    assert seen == ["lifespan"]


# --- through a real uvicorn: the header on the wire -------------------------------------------------


def _serve(app: ASGIApp, **options: Any) -> tuple[uvicorn.Server, threading.Thread, int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, lifespan="off", ws="none", http="h11", log_level="warning", **options)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    return server, thread, port


@pytest.mark.parametrize(("options", "expected_dates"), [(UVICORN_OPTIONS, 1), ({}, 2)])
def test_uvicorn_needs_date_header_off(options: dict[str, Any], expected_dates: int) -> None:
    clock = HubClock()
    clock.set(offset_s=-7 * 86400)  # a week behind: easy to tell from uvicorn's own date
    server, thread, port = _serve(_app(clock), **options)
    try:
        response = None
        for _ in range(100):
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/time", timeout=2)
                break
            except httpx.ConnectError:
                threading.Event().wait(0.05)
        assert response is not None and response.status_code == 200
        dates = [parsedate_to_datetime(d) for d in response.headers.get_list("date")]
        assert len(dates) == expected_dates, response.headers
        hub = dt.datetime.fromisoformat(response.json()["time"])
        assert any(abs((d - hub).total_seconds()) < 2 for d in dates)
    finally:
        server.should_exit = True
        thread.join(5)
