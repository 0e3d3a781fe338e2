"""The real hub in a background thread of the harness: one uvicorn worker on 127.0.0.1.

:class:`EmbeddedHub` builds the hub app (:func:`simulator.hub.app.create_app`) on a data directory
(a temporary one by default), binds a free port (or the given one) with ``TCP_NODELAY``, and serves it
with ``uvicorn.Server`` in a daemon thread (``date_header=False`` so that the hub clock owns ``Date``;
log level ``warning``; optional TLS with a test-CA server certificate of any variant). ``start()``
returns once ``GET /time`` answers (bounded); ``stop()`` shuts down gracefully (bounded, then forced).
Starting again reuses the same port and data directory: everything the hub committed is still there.

The test CA the hub verifies signatures with is ``data_dir/pki``: its own CA there by default, or a
link to a shared one (``pki_dir=``) so that several hubs — e.g. a second one with an untrusted or
expired TLS certificate for the TLS scenarios — and the fake agencies trust the same root.

Systems added with :meth:`EmbeddedHub.add_system` are seeded through the hub's control API
(``POST /control/seed``): the running hub takes them at once and keeps them in its store, so a later
EmbeddedHub on the same data directory knows them too (:attr:`EmbeddedHub.config` lists them).
:meth:`EmbeddedHub.control` gives a client of the whole control API (faults, clock, policies, reset).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import shutil
import ssl
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import uvicorn
from starlette.applications import Starlette

from simulator.agency.client import ControlApiError, ControlClient, VxpClient
from simulator.hub.app import create_app, listening_socket
from simulator.hub.clock import HubClock
from simulator.hub.config import AgencyEntry, HubConfig, Policies, SystemConfig, materialize
from simulator.hub.timeweb import UVICORN_OPTIONS
from simulator.hub.vxp import VxpService
from simulator.pki.ca import CertVariant, TestCA

__all__ = ["EmbeddedHub", "EmbeddedHubError"]

_PROBE_INTERVAL = 0.01
_GRACEFUL_S = 2


class EmbeddedHubError(RuntimeError):
    """The embedded hub could not start or stop as asked; the message says why and what to change."""


class EmbeddedHub:
    """A hub served from a background thread; see the module docstring. Context manager."""

    def __init__(
        self,
        config: HubConfig | None = None,
        *,
        data_dir: Path | str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: CertVariant | str | None = None,
        pki_dir: Path | str | None = None,
        policies: Mapping[str, Any] | None = None,
        sntp: bool = False,
        start_timeout: float = 10.0,
        stop_timeout: float = 5.0,
        log_level: str = "warning",
    ) -> None:
        """``config``: systems, agencies, policies (its ``data_dir`` is used unless it is the default
        home directory or ``data_dir`` is given; ``host``/``port`` come from the arguments). ``tls``: serve
        HTTPS with the test CA's hub certificate of that variant (good, expired, untrusted,
        not-yet-valid). ``pki_dir``: share that test CA instead of creating one in ``data_dir/pki``.
        ``sntp``: also answer SNTP on a free UDP port (:attr:`sntp_address`)."""
        base = config if config is not None else HubConfig()
        self._owns_dir = False
        if data_dir is not None:
            directory = Path(data_dir)
        elif config is not None and config.data_dir != HubConfig().data_dir:
            directory = config.data_dir
        else:
            directory = Path(tempfile.mkdtemp(prefix="lienthong-hub-"))
            self._owns_dir = True
        if policies:
            base = replace(base, policies=base.policies.updated(dict(policies)))
        if not 0 <= port <= 65535:
            raise ValueError(f"port must be between 0 and 65535 (0 = any free port), got {port}")
        self._base = replace(base, data_dir=directory.expanduser().absolute(), host=host, port=port)
        self._tls = CertVariant(tls) if tls is not None else None
        if self._tls is not None and self._tls not in (
            CertVariant.GOOD,
            CertVariant.EXPIRED,
            CertVariant.UNTRUSTED,
            CertVariant.NOT_YET_VALID,
        ):
            raise ValueError(f"tls={self._tls.value!r}: use good, expired, untrusted or not-yet-valid")
        self._pki_dir = Path(pki_dir).expanduser().absolute() if pki_dir is not None else None
        self._sntp_wanted = sntp
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.log_level = log_level
        self._lock = threading.RLock()
        self._config: HubConfig | None = None
        self._hub_config: HubConfig | None = None
        self._ca: TestCA | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._app: Starlette | None = None
        self._failure: BaseException | None = None
        self._sntp: Any = None

    def __repr__(self) -> str:
        state = f"running at {self.endpoint}" if self.running else "stopped"
        return f"EmbeddedHub({state}, data_dir={str(self.data_dir)!r})"

    # ------------------------------------------------------------------------------- properties

    @property
    def data_dir(self) -> Path:
        return self._base.data_dir

    @property
    def config(self) -> HubConfig:
        """The effective configuration: generated systems, secrets and admin token filled in, plus the
        systems seeded at run time (:meth:`add_system`)."""
        if self._config is None:
            self._config = self._materialized()
        return self._config

    def _materialized(self) -> HubConfig:
        """The configuration the hub app is built from (without run-time seeded systems)."""
        if self._hub_config is None:
            self._hub_config = materialize(self._base)
        return self._hub_config

    @property
    def admin_token(self) -> str:
        return self.config.admin_token

    @property
    def ca(self) -> TestCA:
        """The test CA this hub trusts (and serves its TLS certificate from)."""
        if self._ca is None:
            self._ca = self._open_ca()
        return self._ca

    @property
    def tls(self) -> CertVariant | None:
        return self._tls

    @property
    def port(self) -> int:
        """The bound port (known after the first start; 0 before when a free port was asked)."""
        return self._base.port

    @property
    def endpoint(self) -> str:
        """The URL to configure a client with (``http(s)://127.0.0.1:<port>``)."""
        if self._base.port == 0:
            raise EmbeddedHubError("the hub has no port yet: start() it first (a free port is chosen then)")
        scheme = "https" if self._tls is not None else "http"
        host = f"[{self._base.host}]" if ":" in self._base.host else self._base.host
        return f"{scheme}://{host}:{self._base.port}"

    @property
    def client_verify(self) -> bool | str:
        """What to pass as ``VxpClient(verify=...)``: the test root for HTTPS (also for the bad variants,
        which must then fail); False for plain HTTP, where nothing is verified anyway (and building the
        default trust store would cost ~50 ms per client)."""
        return str(self.ca.root_path) if self._tls is not None else False

    @property
    def running(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    @property
    def app(self) -> Starlette:
        """The hub app of the latest start (kept after stop() so that its evidence stays readable)."""
        if self._app is None:
            raise EmbeddedHubError("the hub was never started: start() it first")
        return self._app

    @property
    def service(self) -> VxpService:
        """The running protocol service (config, store, clock, policies), for in-process inspection."""
        service: VxpService = self.app.state.hub
        return service

    @property
    def clock(self) -> HubClock:
        clock: HubClock = self.app.state.clock
        return clock

    @property
    def sntp_address(self) -> tuple[str, int] | None:
        return self._sntp.address if self._sntp is not None else None

    # --------------------------------------------------------------------------------- systems

    def system(self, system_id: str) -> tuple[str, str]:
        """``(system id, secret)`` of a configured system; KeyError naming the known ones."""
        found = self.config.system(system_id)
        if found is None and self.running:
            self._refresh_seeded()  # seeded by someone else through the control API?
            found = self.config.system(system_id)
        if found is None:
            known = ", ".join(s.id for s in self.config.systems) or "none"
            raise KeyError(f"the hub has no system {system_id!r} (systems: {known})")
        return found.id, found.secret

    def client(self, system_id: str, *, timeout: float = 5.0, **kwargs: Any) -> VxpClient:
        """A hub client for ``system_id`` with the right endpoint, secret and TLS trust."""
        sid, secret = self.system(system_id)
        kwargs.setdefault("verify", self.client_verify)
        return VxpClient(self.endpoint, sid, secret, timeout=timeout, **kwargs)

    def control(self, *, timeout: float = 10.0) -> ControlClient:
        """A client of this hub's control API (faults, clock, policies, seed, reset, evidence, stats).

        With a deliberately bad TLS certificate (expired, untrusted, …) the harness still controls its
        own hub: the certificate is then not checked for control calls (it is for :meth:`client`)."""
        verify = self.client_verify if self._tls in (None, CertVariant.GOOD) else False
        return ControlClient(self.endpoint, self.admin_token, timeout=timeout, verify=verify)

    def add_system(
        self,
        system_id: str,
        agencies: Sequence[str],
        secret: str | None = None,
        *,
        names: Mapping[str, str] | None = None,
    ) -> tuple[str, str]:
        """Connect a new system hosting ``agencies`` through the control API's ``seed``; ``(id, secret)``.

        No restart: the running hub takes the credentials at once, and keeps them in its store (a later
        EmbeddedHub on the same data directory knows them). ``names``: directory names of the agencies
        (generated when absent). ValueError for a known system id, an agency hosted by another system or
        a bad agency code; EmbeddedHubError when the hub is not running.
        """
        with self._lock:
            if not self.running:
                raise EmbeddedHubError("add_system needs the running hub (it seeds through the control API)")
            if self._find_system(system_id) is not None:
                raise ValueError(f"the hub already has a system {system_id!r}; pick another id")
            codes = list(dict.fromkeys(a.strip() for a in agencies))
            if not codes:
                raise ValueError("a system hosts at least one agency: give its agency codes")
            owner = self.config.owner_of()
            taken = [f"{code} (system {owner[code]})" for code in codes if code in owner]
            if taken:
                raise ValueError(f"already hosted by another system: {', '.join(taken)} (VXP-ROUTE)")
            system: dict[str, Any] = {"id": system_id, "agencies": codes}
            if secret is not None:
                system["secret"] = secret
            entries = [{"code": code, "name": name} for code, name in (names or {}).items() if code in codes]
            try:
                with self.control() as control:
                    reply = control.seed([system], entries)
            except ControlApiError as exc:
                raise ValueError(
                    f"the hub refused the new system {system_id!r}: {exc.detail or exc}"
                ) from None
            self._refresh_seeded()
            seeded = next(s for s in reply["systems"] if s["id"] == system_id)
            return system_id, str(seeded["secret"])

    def _find_system(self, system_id: str) -> SystemConfig | None:
        return self.config.system(system_id)

    def _refresh_seeded(self) -> None:
        """Learn the systems seeded at run time (by us, the harness, or an earlier run on this data dir)."""
        with self.control() as control:
            systems = [s for s in control.systems() if s.get("source") == "seeded"]
            directory = {a["code"]: a for a in control.agencies()} if systems else {}
        base = self._materialized()
        listed = {a.code for a in base.agencies}
        seeded = tuple(
            SystemConfig(str(s["id"]), str(s["secret"]), tuple(s["agencies"]), str(s.get("name", "")))
            for s in systems
        )
        entries = tuple(
            AgencyEntry(
                code=code,
                name=str(directory[code].get("name", code)),
                mail=str(directory[code].get("mail", "")),
            )
            for s in seeded
            for code in s.agencies
            if code in directory and code not in listed
        )
        self._config = replace(base, systems=(*base.systems, *seeded), agencies=(*base.agencies, *entries))

    # ------------------------------------------------------------------------------- evidence

    def evidence(self, *, since_id: int = 0, limit: int | None = None) -> list[dict[str, Any]]:
        """The hub's evidence rows (one per request), oldest first."""
        return list(self.service.store.evidence(since_id=since_id, limit=limit))

    def set_policies(self, **changes: Any) -> Policies:
        """Change runtime policies (validation, signature, duplicates, status_order, …) for this hub."""
        return self.service.set_policies(changes)

    # ------------------------------------------------------------------------------- lifecycle

    def _open_ca(self) -> TestCA:
        directory = self.data_dir
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        link = directory / "pki"
        if self._pki_dir is not None:
            from simulator.hub.server import ServerStartError, link_pki

            try:
                link = link_pki(directory, self._pki_dir)
            except ServerStartError as exc:
                raise EmbeddedHubError(f"{exc.message}; {exc.hint or ''}".rstrip("; ")) from None
        return TestCA.open(link)

    def _ssl_options(self) -> dict[str, Any]:
        if self._tls is None:
            return {}
        credential = self.ca.server_tls(self._tls)
        return {"ssl_certfile": str(credential.cert_path), "ssl_keyfile": str(credential.key_path)}

    def start(self) -> Self:
        """Serve the hub; returns once ``GET /time`` answers. EmbeddedHubError when it cannot."""
        with self._lock:
            if self.running:
                return self
            self._failure = None
            config = self._materialized()
            _ = self.ca  # the verifier opens data_dir/pki: create or link it before the app starts
            try:
                sock = listening_socket(config.host, config.port)
            except OSError as exc:
                raise EmbeddedHubError(
                    f"cannot listen on {config.host}:{config.port}: {exc.strerror or exc}"
                    + (" (another program holds the port; use port=0 for a free one)" if config.port else "")
                ) from None
            port = int(sock.getsockname()[1])
            if self._base.port != port:
                self._base = replace(self._base, port=port)
                self._hub_config = config = replace(config, port=port)
                self._config = None
            app = create_app(config)
            server = uvicorn.Server(
                uvicorn.Config(
                    app,
                    log_level=self.log_level,
                    access_log=False,
                    lifespan="on",
                    timeout_graceful_shutdown=_GRACEFUL_S,
                    **self._ssl_options(),
                    **UVICORN_OPTIONS,
                )
            )
            thread = threading.Thread(
                target=self._serve, args=(server, sock), name=f"embedded-hub-{port}", daemon=True
            )
            self._app, self._server, self._thread = app, server, thread
            thread.start()
            try:
                self._wait_ready(server, thread)
            except BaseException:
                self._halt(force=True)
                sock.close()
                raise
            self._refresh_seeded()
            if self._sntp_wanted:
                from simulator.hub.sntp import SntpServer

                self._sntp = SntpServer(self.clock, config.host, 0).start_thread()
            return self

    def _serve(self, server: uvicorn.Server, sock: Any) -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as exc:  # SystemExit from a failed startup ends only this thread
            self._failure = exc
        finally:
            sock.close()

    def _wait_ready(self, server: uvicorn.Server, thread: threading.Thread) -> None:
        deadline = time.monotonic() + self.start_timeout
        while not server.started:
            if not thread.is_alive():
                cause = f" ({type(self._failure).__name__}: {self._failure})" if self._failure else ""
                raise EmbeddedHubError(f"the hub stopped during startup{cause}; see the log above")
            if time.monotonic() > deadline:
                raise EmbeddedHubError(f"the hub did not start within {self.start_timeout:g} s")
            time.sleep(_PROBE_INTERVAL)
        remaining = max(deadline - time.monotonic(), 0.5)
        problem = self._probe_time(remaining)
        if problem is not None:
            raise EmbeddedHubError(f"the hub started but GET {self.endpoint}/time failed: {problem}")

    def _probe_time(self, timeout: float) -> str | None:
        """None when ``GET /time`` answers 200 with the hub time, else what went wrong."""
        host, port = self._base.host, self._base.port
        if self._tls is not None:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE  # liveness only; clients check the certificate
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                host, port, timeout=timeout, context=context
            )
        else:
            conn = http.client.HTTPConnection(host, port, timeout=timeout)
        try:
            conn.request("GET", "/time")
            response = conn.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException) as exc:
            return f"{type(exc).__name__}: {exc}"
        finally:
            conn.close()
        if response.status != 200:
            return f"HTTP {response.status}"
        try:
            json.loads(body)
        except ValueError:
            return f"the reply is not JSON: {body[:80]!r}"
        return None

    def _halt(self, *, force: bool) -> bool:
        """Ask the server to exit and join it; True when the thread ended."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return True
        server.should_exit = True
        if force:
            server.force_exit = True
        thread.join(self.stop_timeout)
        if thread.is_alive() and not force:
            server.force_exit = True
            thread.join(1.0)
        return not thread.is_alive()

    def stop(self) -> None:
        """Shut down (graceful, bounded by ``stop_timeout``, then forced); the data directory stays."""
        with self._lock:
            if self._sntp is not None:
                self._sntp.stop()
                self._sntp = None
            if self._thread is None:
                return
            ended = self._halt(force=False)
            app = self._app
            self._server = self._thread = None
            if not ended:
                raise EmbeddedHubError(
                    f"the hub on port {self.port} did not stop within {self.stop_timeout:g} s; its thread is "
                    "left behind (daemon) and the port may stay busy"
                )
            if app is not None:
                with contextlib.suppress(Exception):  # the lifespan closed it unless the exit was forced
                    app.state.hub.store.close()

    def restart(self) -> Self:
        self.stop()
        return self.start()

    def close(self) -> None:
        """Stop, and delete the data directory when it is a temporary one this object created."""
        self.stop()
        if self._owns_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
