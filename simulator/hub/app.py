"""The hub's ASGI application: ``create_app(config)`` and ``app_factory()`` for uvicorn workers.

Run several workers on one data directory (they share the SQLite store and the clock file) with
:func:`serve` (``serve(config, workers=2)``), or with uvicorn's own supervisor::

    LIENTHONG_HUB_CONFIG=hub.toml uvicorn --factory simulator.hub.app:app_factory \\
        --workers 2 --no-date-header --host 127.0.0.1 --port 8080

Prefer :func:`serve`: uvicorn's ``--workers`` mode binds its socket with protocol 0, so asyncio does
not set ``TCP_NODELAY`` on accepted connections, and every response written in two pieces (headers,
then body) waits for the client's delayed ACK — measured 40 ms per request, 23 requests/s per
connection. :func:`serve` binds the socket itself (``IPPROTO_TCP`` and ``TCP_NODELAY``, which accepted
sockets inherit on Linux) and runs one ``uvicorn.Server`` per spawned worker on it.

``--no-date-header`` (``date_header=False``, see ``simulator.hub.timeweb.UVICORN_OPTIONS``) leaves the
``Date`` header to the hub clock: every response carries exactly one, from :class:`HubClock` (which
honours the offset/drift in ``data_dir/clock.json``). ``GET /time`` answers without credentials
(ISO 8601, ``+07:00``) and doubles as the readiness probe.

Unknown paths and methods get the JSON envelope too (``UNKNOWN_OPERATION``), never an HTML page.
The running :class:`~simulator.hub.vxp.VxpService` is ``app.state.hub`` (config, store, clock,
policies); ``app.state.faults`` is the :class:`~simulator.hub.faults.FaultInjector`. Mounted beside the
protocol: the control API (``/control/...``, admin token, :mod:`simulator.hub.control`), the OpenAPI
document (``GET /openapi.json``, :mod:`simulator.hub.openapi`) and the fault middleware
(:mod:`simulator.hub.faults`, inside the Date header middleware); extra routes can be passed in.
"""

from __future__ import annotations

import contextlib
import functools
import multiprocessing as mp
import os
import signal
import socket
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from types import FrameType

import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from simulator.hub.clock import HubClock
from simulator.hub.config import HubConfig, load_config, materialize
from simulator.hub.control import control_routes
from simulator.hub.directory import seed_directory
from simulator.hub.envelope import ErrorCode, HubError, fail_response
from simulator.hub.evidence import record
from simulator.hub.faults import FaultInjector, FaultMiddleware
from simulator.hub.openapi import openapi_route
from simulator.hub.sqlite_store import SqliteStore
from simulator.hub.store import Store, StoreUnavailable
from simulator.hub.timeweb import UVICORN_OPTIONS, DateHeaderMiddleware, time_endpoint
from simulator.hub.vxp import OPERATIONS, VxpService, vxp_routes

__all__ = ["CONFIG_ENV", "DB_NAME", "app_factory", "create_app", "listening_socket", "open_store", "serve"]

CONFIG_ENV = "LIENTHONG_HUB_CONFIG"
"""Environment variable naming the hub's TOML config for :func:`app_factory` (unset: defaults)."""
DB_NAME = "hub.db"


def open_store(config: HubConfig) -> Store:
    store = SqliteStore(config.data_dir / DB_NAME)
    store.init()
    return store


async def _not_found(request: Request, exc: Exception) -> Response:
    status = getattr(exc, "status_code", 404)
    name = request.url.path.lstrip("/")
    if status == 405:
        err = HubError(
            ErrorCode.UNKNOWN_OPERATION,
            "VXP-PARAM",
            f"{request.method} is not accepted for /{name}; use POST (GET for downloadEdoc)",
        )
    else:
        err = HubError(
            ErrorCode.UNKNOWN_OPERATION,
            "VXP-PARAM",
            f"no operation /{name}: the hub offers {', '.join(sorted(OPERATIONS))} (and GET /time); "
            "configure the endpoint URL without a path suffix",
        )
    service: VxpService | None = getattr(request.app.state, "hub", None)
    if service is not None:  # a wrong path is worth recording too: a QLVB configured with a bad endpoint
        claimed = request.headers.get("XroadVnpt-systemid", "")
        with contextlib.suppress(StoreUnavailable):
            service.store.add_evidence(
                record(
                    at=service.clock(),
                    operation=name[:100] or "/",
                    http_status=err.http_status,
                    error_code=err.code.value,
                    detail={
                        "method": request.method,
                        "path": request.url.path[:300],
                        "claimed_system": claimed,
                    },
                )
            )
    return fail_response(err, send_edoc=name == "sendEdoc")


def create_app(
    config: HubConfig,
    *,
    store: Store | None = None,
    clock: HubClock | None = None,
    extra_routes: Sequence[BaseRoute] = (),
) -> Starlette:
    """Build the hub: materialise generated settings, open the store, seed the directory, mount routes."""
    config = materialize(config)
    clock = clock or HubClock(config.data_dir / "clock.json")
    store = store or open_store(config)
    seed_directory(store, config, clock.now())
    service = VxpService(config, store, clock.now)
    injector = FaultInjector(store, operations=OPERATIONS)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        store.close()

    app = Starlette(
        # Starlette tries routes in order: the VXP operations (the hot path; exact top-level paths no
        # other route uses) go right after any extra routes instead of behind the ~20 control routes.
        routes=[
            *extra_routes,
            *vxp_routes(service),
            time_endpoint(clock),
            openapi_route(),
            *control_routes(service, clock, injector),
        ],
        middleware=[  # outermost first: injected 503s carry the hub's Date header too
            Middleware(DateHeaderMiddleware, clock=clock),
            Middleware(FaultMiddleware, injector=injector, clock=clock.now, known_systems=service.secrets),
        ],
        exception_handlers={404: _not_found, 405: _not_found},
        lifespan=lifespan,
    )
    app.state.hub = service
    app.state.clock = clock
    app.state.faults = injector
    return app


def app_factory() -> Starlette:
    """uvicorn ``--factory`` entry point: the config file named by ``$LIENTHONG_HUB_CONFIG`` (or defaults)."""
    path = os.environ.get(CONFIG_ENV)
    config = load_config(Path(path)) if path else HubConfig()
    return create_app(config)


def listening_socket(host: str, port: int, *, backlog: int = 2048) -> socket.socket:
    """A listening TCP socket with ``TCP_NODELAY`` (inherited by accepted sockets), shareable by workers."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto or socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind(address)
        sock.listen(backlog)
        sock.set_inheritable(True)
    except OSError:
        sock.close()
        raise
    return sock


def _run_worker(sock: socket.socket, config: HubConfig, log_level: str, access_log: bool) -> None:
    uv = uvicorn.Config(
        functools.partial(create_app, config),
        factory=True,
        log_level=log_level,
        access_log=access_log,
        **UVICORN_OPTIONS,
    )
    uvicorn.Server(uv).run(sockets=[sock])


def serve(
    config: HubConfig, *, workers: int = 1, log_level: str = "warning", access_log: bool = False
) -> None:
    """Run the hub on ``config.host:config.port`` with ``workers`` processes; blocks until SIGINT/SIGTERM.

    Generated settings and the schema are created once here, before the workers start. Workers are
    *spawned*, so a script calling this needs the usual ``if __name__ == "__main__":`` guard.
    """
    if workers < 1:
        raise ValueError(f"workers must be 1 or more, got {workers}")
    config = materialize(config)
    open_store(config).close()
    sock = listening_socket(config.host, config.port)
    if workers == 1:
        try:
            _run_worker(sock, config, log_level, access_log)
        finally:
            sock.close()
        return
    ctx = mp.get_context("spawn")
    procs = [
        ctx.Process(target=_run_worker, args=(sock, config, log_level, access_log)) for _ in range(workers)
    ]
    for proc in procs:
        proc.start()

    def stop(signum: int, frame: FrameType | None) -> None:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()  # SIGTERM: uvicorn shuts the worker down gracefully

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        for proc in procs:
            proc.join()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sock.close()
