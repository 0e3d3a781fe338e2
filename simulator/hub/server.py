"""Run the simulated hub for real: uvicorn worker processes, SNTP, TLS, restart without loss.

What ``lienthong hub`` does, in order (each step fails with a :class:`ServerStartError` that says what
to change, never a traceback):

1. :func:`build_config` — the TOML file (optional) plus the command-line overrides, validated by
   :func:`simulator.hub.config.parse_config` (a wrong field → ``ConfigError`` naming it).
2. :func:`prepare` — generated settings (system secrets, agency codes, admin token) are created once
   and persisted in ``data_dir/generated.json`` (:func:`~simulator.hub.config.materialize`), so a
   restart on the same data directory prints and accepts the same secrets; the test CA is bound to
   the data directory (``data_dir/pki``, see :func:`link_pki`); the TLS certificate is issued; the
   store is opened once (schema, recovery of a WAL left by a killed hub) to fail early.
3. :func:`serve` — binds the HTTP socket in this process (a port in use → exit 3 naming the port),
   starts SNTP in this process (one server for all workers), writes the *effective* configuration
   to ``data_dir/effective-config.toml`` (0600: it holds secrets) and runs uvicorn with the factory
   :func:`worker_app` (``factory=True``, ``date_header=False``), which calls
   :func:`simulator.hub.app.app_factory`, in ``workers`` processes that inherit the bound socket.
   Every worker builds the same app from that file and exits if the supervisor dies.
   Ctrl-C / SIGTERM stop the workers gracefully (bounded by :data:`GRACEFUL_SHUTDOWN_S`).

Restart without loss: every accepted package is committed (SQLite WAL) before the hub answers, so a
hub killed with SIGKILL — all workers at once — keeps every package it acknowledged and every
acknowledgement it confirmed; ``tests/hub/test_sigkill.py`` proves it.

Trust: the hub verifies signatures against the test CA in ``data_dir/pki`` and serves its TLS
certificate from the same CA, so clients trust one root (``<pki>/root.pem``). By default
``data_dir/pki`` is a symbolic link to the CA of ``lienthong pki`` (``$LIENTHONG_HOME/pki``), so that
packages signed with ``lienthong edxml sign`` verify at the hub.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import math
import os
import signal
import socket
import ssl
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from types import FrameType
from typing import Any, Final, Literal

from simulator.home import lienthong_home
from simulator.hub.config import ConfigError, HubConfig, SystemConfig, materialize, parse_config

__all__ = [
    "EFFECTIVE_CONFIG_NAME",
    "GRACEFUL_SHUTDOWN_S",
    "MAX_SEED_AGENCIES",
    "SUPERVISOR_ENV",
    "HubOverrides",
    "PreparedHub",
    "ServerInfo",
    "ServerStartError",
    "TlsInfo",
    "bind_http",
    "build_config",
    "config_toml",
    "default_workers",
    "is_loopback",
    "link_pki",
    "listen_warnings",
    "prepare",
    "seed_agencies",
    "serve",
    "worker_app",
    "write_effective_config",
]

EFFECTIVE_CONFIG_NAME: Final = "effective-config.toml"
GRACEFUL_SHUTDOWN_S: Final = 5
MAX_SEED_AGENCIES: Final = 500
_APP_FACTORY: Final = "simulator.hub.server:worker_app"
SUPERVISOR_ENV: Final = "LIENTHONG_HUB_SUPERVISOR"
"""Set for the worker processes: the supervisor's pid (workers exit when it dies)."""
_STARTUP_FAILURE: Final = 3  # uvicorn.config.STARTUP_FAILURE
_CLOCK_FILE: Final = "clock.json"  # as simulator.hub.app.create_app


class ServerStartError(Exception):
    """The hub cannot start as asked. ``kind`` ``usage`` (exit 2) or ``infrastructure`` (exit 3)."""

    def __init__(
        self, message: str, *, hint: str | None = None, kind: Literal["usage", "infrastructure"]
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.kind = kind


@dataclass(frozen=True, slots=True)
class HubOverrides:
    """What the command line changes over the config file (``None``: keep the file's value)."""

    data_dir: Path | None = None
    host: str | None = None
    port: int | None = None
    policies: Mapping[str, Any] = field(default_factory=dict)
    admin_token: str | None = None
    seed_agencies: int = 0


@dataclass(frozen=True, slots=True)
class TlsInfo:
    variant: str  # "good", "expired", "untrusted", "not-yet-valid"
    cert_path: Path  # PEM: leaf then chain
    key_path: Path
    trust_root: Path  # the root a client must trust (the rogue root's certificate is NOT it)


@dataclass(frozen=True, slots=True)
class PreparedHub:
    """A validated, materialised hub ready to serve."""

    config: HubConfig  # generated values filled in
    pki_dir: Path  # the test CA the hub trusts (data_dir/pki, maybe a link)
    workers: int
    tls: TlsInfo | None = None
    sntp_port: int | None = None  # None: no SNTP
    runtime_systems: tuple[SystemConfig, ...] = ()  # added by the control API on an earlier run (store)
    runtime_policies: Mapping[str, Any] = field(default_factory=dict)  # control API overrides (store)


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """What the banner shows, known once the sockets are bound."""

    prepared: PreparedHub
    endpoint: str  # http(s)://host:port
    port: int
    sntp: tuple[str, int] | None
    config_file: Path  # the effective configuration the workers load
    warnings: tuple[str, ...] = ()


# ---------------------------------------------------------------------------------------- config


def build_config(config_path: Path | None, overrides: HubOverrides) -> HubConfig:
    """The config file (or defaults) with the command-line overrides; ConfigError naming the field."""
    import tomllib

    data: dict[str, Any] = {}
    base_dir: Path | None = None
    if config_path is not None:
        path = Path(config_path)
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read the hub configuration ({exc.strerror or exc})") from None
        try:
            data = tomllib.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{path}: not valid TOML ({exc})") from None
        base_dir = path.parent.resolve()
    if overrides.data_dir is not None:
        data["data_dir"] = str(Path(overrides.data_dir).expanduser().resolve())
    if overrides.host is not None:
        data["host"] = overrides.host
    if overrides.port is not None:
        data["port"] = overrides.port
    if overrides.admin_token is not None:
        data["admin_token"] = overrides.admin_token
    if overrides.policies:
        table = data.get("policies", {})
        if not isinstance(table, dict):
            raise ConfigError("policies: must be a table ([policies])")
        data["policies"] = {**table, **overrides.policies}
    where = f"{config_path}: " if config_path is not None else ""
    try:
        config = parse_config(data, base_dir=base_dir)
        if overrides.seed_agencies:
            extra = seed_agencies(config, overrides.seed_agencies)
            data["agencies"] = [*data.get("agencies", []), *extra]
            config = parse_config(data, base_dir=base_dir)
    except ConfigError as exc:
        raise ConfigError(f"{where}{exc}") from None
    return replace(config, data_dir=config.data_dir.expanduser().absolute())


def seed_agencies(config: HubConfig, count: int, *, seed: int | None = None) -> list[dict[str, Any]]:
    """``count`` simulated directory entries (not hosted by any system), as ``[[agencies]]`` tables.

    Drawn from the faker provider with a fixed seed (``generate.seed``, else 2020), so a restart seeds
    exactly the same entries; codes already used by the config are skipped.
    """
    from simulator.edxml.fake import edxml_provider, make_faker

    if not 0 <= count <= MAX_SEED_AGENCIES:
        raise ConfigError(f"seed_agencies: must be between 0 and {MAX_SEED_AGENCIES}, got {count}")
    taken = {a.code for a in config.agencies} | {c for s in config.systems for c in s.agencies}
    provider = edxml_provider(make_faker(seed if seed is not None else (config.generate.seed or 2020)))
    out: dict[str, dict[str, Any]] = {}
    for _ in range(count * 50):
        if len(out) == count:
            break
        org = provider.agency()
        if org.organ_id in taken or org.organ_id in out:
            continue
        entry: dict[str, Any] = {"code": org.organ_id, "name": org.organ_name}
        if org.email:
            entry["mail"] = org.email
        out[org.organ_id] = entry
    if len(out) < count:
        raise ConfigError(
            f"seed_agencies: only {len(out)} distinct simulated agencies available, asked {count}"
        )
    for code, entry in out.items():
        parent = _parent_code(code)
        if parent is not None and (parent in out or parent in taken):
            entry["parent"] = parent
    return list(out.values())


def _parent_code(code: str) -> str | None:
    """``000.00.01.G04`` → ``000.00.00.G04``: the code with its lowest non-zero level zeroed."""
    parts = code.split(".")
    if len(parts) != 4:
        return None
    for i in range(3):
        if parts[i].strip("0"):
            parts[i] = "0" * len(parts[i])
            return ".".join(parts)
    return None


def config_toml(config: HubConfig) -> str:
    """The configuration as TOML that :func:`simulator.hub.config.load_config` reads back equal.

    Written generically from the dataclasses (field name = TOML key; ``None`` omitted), so fields
    added to :class:`HubConfig` later are carried too; :func:`serve` checks the round trip.
    """
    data = _plain(config)
    assert isinstance(data, dict)
    data.pop("warnings", None)
    lines: list[str] = ["# written by `lienthong hub`: the configuration every worker loads (holds secrets)"]
    tables: list[tuple[str, dict[str, Any]]] = []
    arrays: list[tuple[str, list[dict[str, Any]]]] = []
    for key, value in data.items():
        if isinstance(value, dict):
            tables.append((key, value))
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            arrays.append((key, value))
        else:
            lines.append(f"{_key(key)} = {_value(value)}")
    for key, table in tables:
        lines.append("")
        lines.append(f"[{_key(key)}]")
        lines.extend(f"{_key(k)} = {_value(v)}" for k, v in table.items())
    for key, items in arrays:
        for item in items:
            lines.append("")
            lines.append(f"[[{_key(key)}]]")
            lines.extend(f"{_key(k)} = {_value(v)}" for k, v in item.items())
    return "\n".join(lines) + "\n"


def _plain(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: _plain(getattr(value, f.name))
            for f in fields(value)
            if getattr(value, f.name) is not None
        }
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items() if v is not None}
    return value


def _key(key: str) -> str:
    if key and all(c.isascii() and (c.isalnum() or c in "-_") for c in key):
        return key
    return _string(key)


def _string(text: str) -> str:
    out = ['"']
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cannot write {value!r} to TOML")
        return repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + "}"
    raise ValueError(f"cannot write {type(value).__name__} {value!r} to TOML")


# ----------------------------------------------------------------------------------------- prepare


def default_workers() -> int:
    """The number of CPU cores this process may use (at least 1)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def is_loopback(host: str) -> bool:
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def listen_warnings(host: str) -> list[str]:
    """Warnings about the listening address: anything but loopback is reachable from other machines."""
    if is_loopback(host):
        return []
    return [
        f"the hub listens on {host}, not only on this machine (127.0.0.1): other machines can reach it; "
        "its secrets and test certificates are for testing only"
    ]


def link_pki(data_dir: Path, pki_dir: Path | None) -> Path:
    """Bind the data directory to a test CA: ``data_dir/pki`` (what the hub's verifier opens).

    ``pki_dir`` given: ``data_dir/pki`` becomes a symbolic link to it (replacing an older link); a real
    directory there that is another CA is a usage error. Not given: an existing ``data_dir/pki`` is
    kept, else it links to ``$LIENTHONG_HOME/pki`` (the CA of ``lienthong pki``). Returns the link.
    """
    target = data_dir / "pki"
    if pki_dir is None:
        if target.exists() or target.is_symlink():
            if not target.exists():
                raise ServerStartError(
                    f"{target} is a link to {os.readlink(target)}, which does not exist",
                    hint="point it at a test CA with --pki DIR",
                    kind="usage",
                )
            return target
        pki_dir = lienthong_home() / "pki"
    pki_dir = Path(pki_dir).expanduser().absolute()
    if pki_dir.exists() and not pki_dir.is_dir():
        raise ServerStartError(
            f"--pki {pki_dir}: not a directory", hint="give the test CA's directory", kind="usage"
        )
    if target.is_symlink():
        if Path(os.readlink(target)) == pki_dir:
            return target
    elif target.exists():
        if pki_dir.exists() and target.samefile(pki_dir):
            return target
        raise ServerStartError(
            f"the data directory already has its own test CA in {target}; it cannot also trust {pki_dir}",
            hint="drop --pki to keep that CA, or start with another --data-dir",
            kind="usage",
        )
    pki_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = data_dir / f".pki.{os.getpid()}.tmp"
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    tmp.symlink_to(pki_dir, target_is_directory=True)
    os.replace(tmp, target)
    return target


def prepare(
    config: HubConfig,
    *,
    workers: int | None = None,
    sntp_port: int | None = None,
    tls: str | None = None,
    pki_dir: Path | None = None,
) -> PreparedHub:
    """Materialise ``config`` (generated values persisted), bind the CA, issue TLS, check the store.

    ``tls``: ``None`` (plain HTTP) or a server certificate variant: ``good``, ``expired``,
    ``untrusted``, ``not-yet-valid``.
    """
    if workers is not None and workers < 1:
        raise ServerStartError(f"--workers {workers}: at least 1 worker is needed", kind="usage")
    if sntp_port is not None and not 0 <= sntp_port <= 65535:
        raise ServerStartError(
            f"--sntp-port {sntp_port}: must be between 0 and 65535 (0 = any free port)", kind="usage"
        )
    try:
        config = materialize(config)
    except OSError as exc:
        raise ServerStartError(
            f"cannot create or use the data directory {config.data_dir}: {exc.strerror or exc}",
            hint="choose a writable --data-dir",
            kind="infrastructure",
        ) from None
    try:
        pki_link = link_pki(config.data_dir, pki_dir)
        from simulator.pki.ca import TestCA

        ca = TestCA.open(pki_link)
    except OSError as exc:
        raise ServerStartError(
            f"cannot open the test CA for {config.data_dir}: {exc.strerror or exc}",
            hint="check --pki and the permissions of the data directory",
            kind="infrastructure",
        ) from None
    tls_info = _issue_tls(ca, tls) if tls is not None else None
    runtime_systems, runtime_policies = _check_store(config)
    return PreparedHub(
        config=config,
        pki_dir=pki_link,
        workers=workers if workers is not None else default_workers(),
        tls=tls_info,
        sntp_port=sntp_port,
        runtime_systems=runtime_systems,
        runtime_policies=runtime_policies,
    )


def _issue_tls(ca: Any, variant_name: str) -> TlsInfo:
    from simulator.pki.ca import CertVariant

    try:
        variant = CertVariant(variant_name)
        credential = ca.server_tls(variant)
    except ValueError as exc:
        raise ServerStartError(
            f"--tls-variant {variant_name!r}: {exc}",
            hint="use good, expired, untrusted or not-yet-valid",
            kind="usage",
        ) from None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(credential.cert_path, credential.key_path)
    except (OSError, ssl.SSLError) as exc:
        raise ServerStartError(
            f"the TLS certificate {credential.cert_path} cannot be used: {exc}",
            hint="delete it to have it issued again",
            kind="infrastructure",
        ) from None
    return TlsInfo(
        variant.value,
        credential.cert_path.resolve(),
        credential.key_path.resolve(),
        ca.root_path.resolve(),
    )


def _check_store(config: HubConfig) -> tuple[tuple[SystemConfig, ...], dict[str, Any]]:
    """Open the store once in this process: creates the schema, recovers a WAL left by a killed hub.

    Returns what an earlier run's control API left in the store: systems seeded at run time (not in
    the config) and policy overrides, so the banner can show them.
    """
    from simulator.hub.app import open_store
    from simulator.hub.store import StoreUnavailable
    from simulator.hub.vxp import POLICIES_SETTING, SYSTEMS_SETTING

    try:
        store = open_store(config)
        try:
            raw_systems = store.get_setting(SYSTEMS_SETTING)
            raw_policies = store.get_setting(POLICIES_SETTING)
        finally:
            store.close()
    except (StoreUnavailable, OSError) as exc:
        raise ServerStartError(
            f"cannot open the hub's store in {config.data_dir}: {exc}",
            hint="check the disk and the permissions of the data directory",
            kind="infrastructure",
        ) from None
    systems: list[SystemConfig] = []
    if isinstance(raw_systems, dict):
        for sid, entry in raw_systems.items():
            if (
                config.system(sid) is None
                and isinstance(entry, dict)
                and isinstance(entry.get("secret"), str)
            ):
                agencies = entry.get("agencies")
                codes = tuple(str(c) for c in agencies) if isinstance(agencies, list) else ()
                systems.append(SystemConfig(str(sid), entry["secret"], codes, str(entry.get("name") or "")))
    return tuple(systems), dict(raw_policies) if isinstance(raw_policies, dict) else {}


# ------------------------------------------------------------------------------------------- serve


def bind_http(host: str, port: int) -> socket.socket:
    """A bound (not yet listening), inheritable TCP socket; ServerStartError saying what to change."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise ServerStartError(
            f"--host {host!r} is not a usable address ({exc.strerror})",
            hint="use 127.0.0.1 (the default) or an address of this machine",
            kind="usage",
        ) from None
    family, _, proto, _, sockaddr = infos[0]
    # proto IPPROTO_TCP (not 0): asyncio sets TCP_NODELAY only on sockets that say they are TCP; without
    # it every keep-alive response waits ~40 ms for the client's delayed ACK (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(sockaddr)
    except OSError as exc:
        sock.close()
        raise _bind_error(host, port, exc) from None
    sock.set_inheritable(True)
    return sock


def _bind_error(host: str, port: int, exc: OSError) -> ServerStartError:
    if exc.errno == errno.EADDRINUSE:
        return ServerStartError(
            f"port {port} on {host} is already in use (another hub or another program listens there)",
            hint=f"stop that program, or start the hub on another port with --port (e.g. --port {port + 1}; "
            "0 = any free port)",
            kind="infrastructure",
        )
    if exc.errno in (errno.EACCES, errno.EPERM):
        return ServerStartError(
            f"no permission to listen on port {port} of {host}",
            hint="ports below 1024 need privileges; use --port 8080 (the default) or any port above 1023",
            kind="infrastructure",
        )
    if exc.errno == errno.EADDRNOTAVAIL:
        return ServerStartError(
            f"{host} is not an address of this machine",
            hint="use 127.0.0.1 (the default) or one of this machine's addresses",
            kind="usage",
        )
    return ServerStartError(f"cannot listen on {host}:{port}: {exc.strerror or exc}", kind="infrastructure")


def write_effective_config(config: HubConfig) -> Path:
    """Write ``data_dir/effective-config.toml`` (0600, atomically) and check it reads back equal."""
    from simulator.hub.config import load_config

    text = config_toml(config)
    path = config.data_dir / EFFECTIVE_CONFIG_NAME
    fd, tmp = tempfile.mkstemp(dir=config.data_dir, prefix=".effective-config.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    back = load_config(path)
    if replace(back, warnings=()) != replace(config, warnings=()):
        raise ServerStartError(
            f"internal error: {path} does not read back as the configuration it was written from",
            hint="this is a lienthong bug; please report it with the file",
            kind="infrastructure",
        )
    return path


def serve(
    prepared: PreparedHub,
    *,
    on_ready: Callable[[ServerInfo], None] | None = None,
    log_level: str = "info",
    access_log: bool = False,
) -> int:
    """Bind, start SNTP, run uvicorn until Ctrl-C/SIGTERM; returns 0, or 3 when the workers failed."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from simulator.hub.app import CONFIG_ENV
    from simulator.hub.clock import HubClock
    from simulator.hub.sntp import SntpBindError, SntpServer
    from simulator.hub.timeweb import UVICORN_OPTIONS

    config = prepared.config
    sock = bind_http(config.host, config.port)
    sntp_thread = None
    with contextlib.ExitStack() as stack:
        stack.callback(sock.close)
        port = int(sock.getsockname()[1])
        config = replace(config, port=port)
        if prepared.sntp_port is not None:
            sntp = SntpServer(HubClock(config.data_dir / _CLOCK_FILE), config.host, prepared.sntp_port)
            try:
                sntp_thread = sntp.start_thread()
            except SntpBindError as exc:
                raise ServerStartError(
                    str(exc),
                    hint="choose another --sntp-port (0 = any free port) or --no-sntp",
                    kind="infrastructure",
                ) from None
            stack.callback(sntp_thread.stop)
        config_file = write_effective_config(config)
        stack.enter_context(
            _environment(
                {
                    CONFIG_ENV: str(config_file),
                    SUPERVISOR_ENV: str(os.getpid()) if prepared.workers > 1 else None,
                }
            )
        )
        scheme = "https" if prepared.tls is not None else "http"
        shown_host = f"[{config.host}]" if ":" in config.host else config.host
        warnings = [*config.warnings, *listen_warnings(config.host)]
        info = ServerInfo(
            prepared=replace(prepared, config=config),
            endpoint=f"{scheme}://{shown_host}:{port}",
            port=port,
            sntp=sntp_thread.address if sntp_thread is not None else None,
            config_file=config_file,
            warnings=tuple(warnings),
        )
        uv_config = uvicorn.Config(
            _APP_FACTORY,
            factory=True,
            host=config.host,
            port=port,
            workers=prepared.workers,
            log_level=log_level,
            access_log=access_log,
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
            ssl_certfile=str(prepared.tls.cert_path) if prepared.tls else None,
            ssl_keyfile=str(prepared.tls.key_path) if prepared.tls else None,
            **UVICORN_OPTIONS,
        )
        if on_ready is not None:
            on_ready(info)
        if prepared.workers > 1:
            supervisor = Multiprocess(uv_config, sockets=[sock])
            supervisor.run()
            failed = any(p.exitcode == _STARTUP_FAILURE for p in supervisor.processes)
            return _STARTUP_FAILURE if failed else 0
        server = uvicorn.Server(uv_config)
        try:
            with _sigterm_as_exception():
                server.run(sockets=[sock])
        except (KeyboardInterrupt, _Terminated):
            pass
        except SystemExit as exc:  # uvicorn exits on a broken app; its log says why
            return exc.code if isinstance(exc.code, int) and exc.code else _STARTUP_FAILURE
        return 0 if server.started else _STARTUP_FAILURE
    return 0  # pragma: no cover - the with block always returns


def worker_app() -> Any:
    """uvicorn factory of the hub's workers: :func:`simulator.hub.app.app_factory`, bound to the supervisor.

    A worker whose supervisor dies (``kill -9`` of the main process only) gets SIGTERM from the kernel
    (Linux ``PR_SET_PDEATHSIG``) and shuts down, instead of holding the port as an orphan.
    """
    _exit_with_supervisor()
    from simulator.hub.app import app_factory

    return app_factory()


def _exit_with_supervisor() -> None:
    supervisor = os.environ.get(SUPERVISOR_ENV)
    if not supervisor or not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(1, int(signal.SIGTERM), 0, 0, 0) != 0:  # PR_SET_PDEATHSIG
            return
    except (OSError, AttributeError):
        return
    if str(os.getppid()) != supervisor:  # it died before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)


@contextlib.contextmanager
def _environment(values: Mapping[str, str | None]) -> Iterator[None]:
    """Set (``None``: unset) environment variables for the workers; restore them afterwards."""
    previous = {key: os.environ.get(key) for key in values}
    try:
        for key, value in values.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        yield
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class _Terminated(Exception):
    """SIGTERM, re-raised by uvicorn after its graceful shutdown."""


@contextlib.contextmanager
def _sigterm_as_exception() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _raise(signum: int, frame: FrameType | None) -> None:
        raise _Terminated

    previous = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
