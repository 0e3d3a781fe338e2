"""``sut.toml``: how the harness reaches a vendor's system under test (SUT).

::

    name = "QLVB Acme 3.2"                 # shown in reports (default: the file's name)

    [hub]                                  # the simulated hub the harness starts for the SUT
    port = 8765                            # the SUT is configured with http(s)://127.0.0.1:8765
    tls = false                            # true: HTTPS with a certificate from the test CA
    system_id = "acme.qlvb.01"             # the SUT's credentials on the hub (configured in its QLVB)
    secret = "…"
    agencies = ["000.00.12.H29", "000.01.12.H29"]   # agency codes (mã định danh) the SUT hosts

    [driver]
    mode = "http"                          # http: the vendor's test-driver API | manual: an operator
    url = "http://127.0.0.1:8090"          # base URL of the driver API (http mode only)
    timeout_s = 10                         # per driver call
    interactive = false                    # manual mode: read "skip" from stdin while waiting

    [timing]
    status_timeout_s = 30                  # how long scenarios wait for the SUT (manual mode: 120)
    skew_tolerance_s = 5                   # accepted clock difference between the SUT and the hub
    operator_timeout_s = 120               # manual mode: how long to wait for the operator's action

:func:`load_sut_config` returns frozen dataclasses or raises :class:`SutConfigError` whose message
names the file and the field (``sut.toml: driver.url: must be an http(s) URL …``); unknown keys are
reported as typos with the closest known key. The command line turns the error into exit code 2.
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from simulator.edxml.identifiers import IdentifierError, parse_agency_code

__all__ = [
    "DEFAULT_HUB_PORT",
    "DriverMode",
    "SutConfig",
    "SutConfigError",
    "SutDriverConfig",
    "SutHubConfig",
    "SutTiming",
    "load_sut_config",
    "parse_sut_config",
]

DEFAULT_HUB_PORT = 8765
DriverMode = Literal["http", "manual"]
_MODES: tuple[DriverMode, ...] = ("http", "manual")
_MISSING = object()


class SutConfigError(ValueError):
    """A wrong ``sut.toml``: the message names the file, the field path and what to write instead."""


@dataclass(frozen=True, slots=True)
class SutHubConfig:
    """How the SUT connects to the simulated hub the harness starts."""

    system_id: str
    secret: str
    agencies: tuple[str, ...]
    port: int = DEFAULT_HUB_PORT
    tls: bool = False


@dataclass(frozen=True, slots=True)
class SutDriverConfig:
    mode: DriverMode = "http"
    url: str | None = None  # required in http mode
    timeout_s: float = 10.0
    interactive: bool = False


@dataclass(frozen=True, slots=True)
class SutTiming:
    status_timeout_s: float = 30.0
    skew_tolerance_s: float = 5.0
    operator_timeout_s: float = 120.0


@dataclass(frozen=True, slots=True)
class SutConfig:
    name: str
    hub: SutHubConfig
    driver: SutDriverConfig
    timing: SutTiming
    source: Path | None = None


_TOP = ("name", "hub", "driver", "timing")
_HUB = ("port", "tls", "system_id", "secret", "agencies")
_DRIVER = ("mode", "url", "timeout_s", "interactive")
_TIMING = ("status_timeout_s", "skew_tolerance_s", "operator_timeout_s")


def load_sut_config(path: Path | str) -> SutConfig:
    """Read and check a ``sut.toml``; :class:`SutConfigError` names the file and the bad field."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise SutConfigError(
            f"{path}: no such file; give the path of the SUT's sut.toml (see examples/sut.example.toml) "
            "or 'reference' for the built-in reference QLVB"
        ) from None
    except OSError as exc:
        raise SutConfigError(f"{path}: cannot read the SUT configuration ({exc.strerror or exc})") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise SutConfigError(f"{path}: not UTF-8 text; save the file as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise SutConfigError(f"{path}: not valid TOML ({exc})") from None
    try:
        config = parse_sut_config(data, default_name=path.stem)
    except SutConfigError as exc:
        raise SutConfigError(f"{path}: {exc}") from None
    return SutConfig(config.name, config.hub, config.driver, config.timing, source=path)


def parse_sut_config(data: Mapping[str, Any], *, default_name: str = "SUT") -> SutConfig:
    """Check already-parsed TOML data (errors name the field path but not the file)."""
    _only(data, _TOP, "")
    name = _str(data, "name", "name", default_name).strip()
    if not name:
        raise SutConfigError('name: empty; give the product name shown in reports, e.g. "QLVB Acme 3.2"')
    if "hub" not in data:
        raise SutConfigError(
            "hub: missing; add a [hub] table with system_id, secret and agencies (the SUT's credentials "
            "on the simulated hub)"
        )
    hub = _hub(_table(data, "hub"))
    driver = _driver(_table(data, "driver"))
    timing = _timing(_table(data, "timing"), driver.mode)
    return SutConfig(name, hub, driver, timing)


# ------------------------------------------------------------------------------------------ sections


def _hub(t: Mapping[str, Any]) -> SutHubConfig:
    _only(t, _HUB, "hub")
    port = _int(t, "port", "hub.port", DEFAULT_HUB_PORT)
    if not 1 <= port <= 65535:
        raise SutConfigError(
            f"hub.port: must be a TCP port between 1 and 65535 (the SUT is configured with a fixed hub "
            f"URL), got {port}"
        )
    tls = _bool(t, "tls", "hub.tls", False)
    system_id = _str(t, "system_id", "hub.system_id").strip()
    if not system_id or not system_id.isascii() or any(c.isspace() for c in system_id):
        raise SutConfigError(
            f"hub.system_id: {system_id!r} must be non-empty ASCII without spaces: it travels in the "
            "XroadVnpt-systemid header (VXP-AUTH)"
        )
    secret = _str(t, "secret", "hub.secret")
    if not secret.strip():
        raise SutConfigError(
            "hub.secret: empty; give the secret the SUT is configured with (any text, e.g. 32+ characters)"
        )
    if not secret.isascii():
        raise SutConfigError("hub.secret: must be ASCII (it keys the HMAC of the signed headers, VXP-AUTH)")
    raw = t.get("agencies", _MISSING)
    if raw is _MISSING:
        raise SutConfigError(
            'hub.agencies: missing; list the agency codes the SUT hosts, e.g. agencies = ["000.00.12.H29"]'
        )
    if not isinstance(raw, list) or not raw:
        raise SutConfigError(f"hub.agencies: must be a non-empty list of agency codes (strings), got {raw!r}")
    codes: list[str] = []
    for i, item in enumerate(raw):
        where = f"hub.agencies[{i}]"
        if not isinstance(item, str):
            raise SutConfigError(f"{where}: must be a string agency code, got {type(item).__name__} {item!r}")
        try:
            parse_agency_code(item, strict=True)
        except IdentifierError as exc:
            raise SutConfigError(
                f"{where}: {item!r} is not a 13-character agency code ({exc.requirement}): {exc.message}"
            ) from None
        if item in codes:
            raise SutConfigError(
                f"{where}: {item} is listed twice (first at hub.agencies[{codes.index(item)}])"
            )
        codes.append(item)
    return SutHubConfig(system_id, secret, tuple(codes), port=port, tls=tls)


def _driver(t: Mapping[str, Any]) -> SutDriverConfig:
    _only(t, _DRIVER, "driver")
    mode = t.get("mode", "http")
    if mode not in _MODES:
        hint = _closest(str(mode), _MODES)
        raise SutConfigError(
            f'driver.mode: must be "http" (the vendor\'s test-driver API) or "manual" (an operator '
            f"follows printed instructions), got {mode!r}{hint}"
        )
    url = t.get("url")
    if url is not None:
        if not isinstance(url, str):
            raise SutConfigError(f"driver.url: must be an http(s) URL string, got {url!r}")
        url = url.strip().rstrip("/")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
            raise SutConfigError(
                f'driver.url: must be an http(s) URL such as "http://127.0.0.1:8090", got {url!r}'
            )
        try:
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError:
            raise SutConfigError(f"driver.url: {url!r} has an invalid port") from None
    if mode == "http" and url is None:
        raise SutConfigError(
            "driver.url: missing; http mode needs the base URL of the SUT's test-driver API (e.g. "
            '"http://127.0.0.1:8090"), or set driver.mode = "manual"'
        )
    timeout = _seconds(t, "timeout_s", "driver.timeout_s", 10.0)
    interactive = _bool(t, "interactive", "driver.interactive", False)
    return SutDriverConfig(mode=mode, url=url, timeout_s=timeout, interactive=interactive)


def _timing(t: Mapping[str, Any], mode: DriverMode) -> SutTiming:
    _only(t, _TIMING, "timing")
    default_status = 120.0 if mode == "manual" else 30.0
    return SutTiming(
        status_timeout_s=_seconds(t, "status_timeout_s", "timing.status_timeout_s", default_status),
        skew_tolerance_s=_seconds(t, "skew_tolerance_s", "timing.skew_tolerance_s", 5.0),
        operator_timeout_s=_seconds(t, "operator_timeout_s", "timing.operator_timeout_s", 120.0),
    )


# ------------------------------------------------------------------------------------------ helpers


def _closest(key: str, known: tuple[str, ...]) -> str:
    match = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""


def _only(t: Mapping[str, Any], known: tuple[str, ...], where: str) -> None:
    for key in t:
        if key not in known:
            path = f"{where}.{key}" if where else key
            hint = _closest(key, known)
            scope = f" of [{where}]" if where else ""
            raise SutConfigError(f"{path}: unknown key{hint}; known keys{scope}: {', '.join(known)}")


def _table(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise SutConfigError(f"{key}: must be a table ([{key}]), got {type(value).__name__} {value!r}")
    return value


def _str(t: Mapping[str, Any], key: str, where: str, default: Any = _MISSING) -> str:
    value = t.get(key, default)
    if value is _MISSING:
        raise SutConfigError(f"{where}: missing")
    if not isinstance(value, str):
        raise SutConfigError(f"{where}: must be a string, got {type(value).__name__} {value!r}")
    return value


def _bool(t: Mapping[str, Any], key: str, where: str, default: bool) -> bool:
    value = t.get(key, default)
    if not isinstance(value, bool):
        raise SutConfigError(f"{where}: must be true or false, got {value!r}")
    return value


def _int(t: Mapping[str, Any], key: str, where: str, default: int) -> int:
    value = t.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise SutConfigError(f"{where}: must be a whole number, got {value!r}")
    return value


def _seconds(t: Mapping[str, Any], key: str, where: str, default: float) -> float:
    value = t.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SutConfigError(f"{where}: must be a number of seconds, got {value!r}")
    if not 0 < value <= 3600:
        raise SutConfigError(f"{where}: must be more than 0 and at most 3600 seconds, got {value}")
    return float(value)
