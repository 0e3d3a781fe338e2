"""Configuration of the simulated hub: systems (id, secret, agencies), the agency directory, policies.

A TOML file, every key optional::

    data_dir = "hub-data"            # relative to the file; default $LIENTHONG_HOME/hub
    host = "127.0.0.1"
    port = 8080
    hub_organ_id = "000.00.00.G22"   # recorded as the hub's hop (TraceHeader) of accepted packages
    max_package_bytes = 20971520     # 20 MiB
    list_limit = 1000                # at most this many items per list reply
    admin_token = "…"                # control API (generated when absent)

    [policies]                       # defaults; the control API may override them at run time
    validation = "lenient"           # lenient | strict
    signature = "warn"               # off | warn | enforce
    duplicates = "deliver"           # deliver | refuse
    status_order = "record"          # record | refuse
    legacy_anonymous_download = false
    replay_window_s = 300            # absent = no freshness check

    [[systems]]
    id = "sim.test.01"
    secret = "SimSecret-NOT-REAL-0123456789abcdef"
    agencies = ["002.00.20.H13", "000.00.00.H41"]

    [[agencies]]                     # directory entries; agencies named by systems but not listed here
    code = "000.00.00.H41"           # get generated names
    name = "UBND tỉnh Thử nghiệm"
    mail = "vpubnd@thunghiem.gov.vn"
    parent = "000.00.00.G22"         # optional: parent agency code (pcode)

    [generate]                       # used only when no [[systems]] is declared
    systems = 2
    agencies_per_system = 2
    seed = 7

A declared system must have an ``id`` and a ``secret``; systems with no agencies get generated
ones; with no ``[[systems]]`` at all, ``generate.systems`` systems are generated. Generated values
(secrets from :func:`secrets.token_urlsafe`, agency codes, names, the admin token) are written once to
``data_dir/generated.json`` under a file lock by :func:`materialize`, so every uvicorn worker of one
hub agrees on them and a restart keeps them.

Agency names come from the faker provider ``simulator.edxml.fake`` when it is installed, else from a
small built-in list. Agency codes are checked with ``simulator.edxml.identifiers.parse_agency_code``:
strict validation refuses non-conforming codes, lenient accepts them with a warning (in
``HubConfig.warnings``).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import tempfile
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, cast, get_args

from simulator.edxml.identifiers import IdentifierError, parse_agency_code
from simulator.home import lienthong_home

__all__ = [
    "DEFAULT_MAX_PACKAGE_BYTES",
    "AgencyEntry",
    "ConfigError",
    "GenerateSpec",
    "HubConfig",
    "Policies",
    "SignaturePolicyName",
    "SystemConfig",
    "ValidationPolicy",
    "load_config",
    "materialize",
    "parse_config",
]

DEFAULT_MAX_PACKAGE_BYTES = 20 * 1024 * 1024

ValidationPolicy = Literal["lenient", "strict"]
SignaturePolicyName = Literal["off", "warn", "enforce"]
DuplicatePolicy = Literal["deliver", "refuse"]
StatusOrderPolicy = Literal["record", "refuse"]


class ConfigError(ValueError):
    """A bad configuration value; the message names the field (``systems[1].secret: missing``)."""


@dataclass(frozen=True, slots=True)
class Policies:
    """Runtime policies. Defaults come from the config; the store's ``settings`` may override them."""

    validation: ValidationPolicy = "lenient"
    signature: SignaturePolicyName = "warn"
    duplicates: DuplicatePolicy = "deliver"
    status_order: StatusOrderPolicy = "record"
    legacy_anonymous_download: bool = False
    replay_window_s: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "validation": self.validation,
            "signature": self.signature,
            "duplicates": self.duplicates,
            "status_order": self.status_order,
            "legacy_anonymous_download": self.legacy_anonymous_download,
            "replay_window_s": self.replay_window_s,
        }

    def updated(self, changes: Mapping[str, Any], where: str = "policies") -> Policies:
        """A copy with ``changes`` applied; ConfigError naming the field for unknown keys or bad values."""
        values = self.as_dict()
        for key, value in changes.items():
            if key not in values:
                raise ConfigError(f"{where}.{key}: unknown policy; known: {', '.join(values)}")
            values[key] = value
        return _policies(values, where)


@dataclass(frozen=True, slots=True)
class SystemConfig:
    """One connected QLVB platform: credentials and the agencies (OrganIds) it hosts."""

    id: str
    secret: str
    agencies: tuple[str, ...] = ()
    name: str = ""


@dataclass(frozen=True, slots=True)
class AgencyEntry:
    """One directory entry (an agency, or a non-agency unit with ``is_agency = false``)."""

    code: str
    name: str
    mail: str = ""
    parent: str | None = None
    mobile: str = ""
    fax: str = ""
    old_code: str = ""
    center_code: str = ""
    is_agency: bool = True


@dataclass(frozen=True, slots=True)
class GenerateSpec:
    systems: int = 2
    agencies_per_system: int = 2
    seed: int | None = None


@dataclass(frozen=True, slots=True)
class HubConfig:
    data_dir: Path = field(default_factory=lambda: lienthong_home(create=False) / "hub")
    host: str = "127.0.0.1"
    port: int = 8080
    systems: tuple[SystemConfig, ...] = ()
    agencies: tuple[AgencyEntry, ...] = ()
    policies: Policies = field(default_factory=Policies)
    max_package_bytes: int = DEFAULT_MAX_PACKAGE_BYTES
    list_limit: int = 1000
    admin_token: str = ""
    hub_organ_id: str = "000.00.00.G22"
    generate: GenerateSpec = field(default_factory=GenerateSpec)
    warnings: tuple[str, ...] = ()

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def system(self, system_id: str) -> SystemConfig | None:
        return next((s for s in self.systems if s.id == system_id), None)

    def secrets(self) -> dict[str, str]:
        """System id → secret, for the authenticator (built once per process)."""
        return {s.id: s.secret for s in self.systems}

    def owner_of(self) -> dict[str, str]:
        """Agency code → system id."""
        return {code: s.id for s in self.systems for code in s.agencies}


# ------------------------------------------------------------------------------------------- parsing


def load_config(path: Path) -> HubConfig:
    """Read a TOML config file; ConfigError naming the file and the bad field."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the hub configuration ({exc.strerror or exc})") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    try:
        return parse_config(data, base_dir=path.parent)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def parse_config(data: Mapping[str, Any], *, base_dir: Path | None = None) -> HubConfig:
    """Build a :class:`HubConfig` from already-parsed TOML (or JSON) data."""
    known = {
        "data_dir",
        "host",
        "port",
        "systems",
        "agencies",
        "policies",
        "max_package_bytes",
        "list_limit",
        "admin_token",
        "hub_organ_id",
        "generate",
    }
    for key in data:
        if key not in known:
            raise ConfigError(f"{key}: unknown setting; known settings: {', '.join(sorted(known))}")
    default = HubConfig()
    data_dir = default.data_dir
    if "data_dir" in data:
        data_dir = Path(_str(data, "data_dir", "data_dir")).expanduser()
        if not data_dir.is_absolute() and base_dir is not None:
            data_dir = base_dir / data_dir
    policies = _policies(_table(data, "policies"), "policies")
    strict = policies.validation == "strict"
    warnings: list[str] = []
    systems = _systems(data.get("systems", []), strict, warnings)
    agencies = _agencies(data.get("agencies", []), strict, warnings)
    gen = _table(data, "generate")
    _only(gen, {"systems", "agencies_per_system", "seed"}, "generate")
    generate = GenerateSpec(
        systems=_int(gen, "systems", "generate.systems", 2, minimum=0, maximum=1000),
        agencies_per_system=_int(gen, "agencies_per_system", "generate.agencies_per_system", 2, 1, 1000),
        seed=_opt_int(gen, "seed", "generate.seed"),
    )
    owner: dict[str, str] = {}
    for i, system in enumerate(systems):
        for j, code in enumerate(system.agencies):
            if code in owner and owner[code] != system.id:
                raise ConfigError(
                    f"systems[{i}].agencies[{j}]: {code} already belongs to system {owner[code]}; "
                    "an agency is hosted by exactly one system"
                )
            owner[code] = system.id
    return HubConfig(
        data_dir=data_dir,
        host=_str(data, "host", "host", default.host),
        port=_int(data, "port", "port", default.port, minimum=0, maximum=65535),
        systems=tuple(systems),
        agencies=tuple(agencies),
        policies=policies,
        max_package_bytes=_int(
            data, "max_package_bytes", "max_package_bytes", default.max_package_bytes, 1024
        ),
        list_limit=_int(data, "list_limit", "list_limit", default.list_limit, 1, 100_000),
        admin_token=_str(data, "admin_token", "admin_token", ""),
        hub_organ_id=_str(data, "hub_organ_id", "hub_organ_id", default.hub_organ_id),
        generate=generate,
        warnings=tuple(warnings),
    )


def _policies(p: Mapping[str, Any], where: str) -> Policies:
    _only(p, set(Policies.__slots__), where)
    replay = _opt_int(p, "replay_window_s", f"{where}.replay_window_s")
    if replay is not None and replay <= 0:
        raise ConfigError(f"{where}.replay_window_s: must be a positive number of seconds, got {replay}")
    legacy = p.get("legacy_anonymous_download", False)
    if not isinstance(legacy, bool):
        raise ConfigError(f"{where}.legacy_anonymous_download: must be true or false, got {legacy!r}")
    return Policies(
        validation=cast(ValidationPolicy, _choice(p, "validation", where, ValidationPolicy, "lenient")),
        signature=cast(SignaturePolicyName, _choice(p, "signature", where, SignaturePolicyName, "warn")),
        duplicates=cast(DuplicatePolicy, _choice(p, "duplicates", where, DuplicatePolicy, "deliver")),
        status_order=cast(StatusOrderPolicy, _choice(p, "status_order", where, StatusOrderPolicy, "record")),
        legacy_anonymous_download=legacy,
        replay_window_s=replay,
    )


def _check_code(code: str, where: str, strict: bool, warnings: list[str]) -> str:
    try:
        parsed = parse_agency_code(code, strict=strict)
    except IdentifierError as exc:
        raise ConfigError(f"{where}: {exc.message} [{exc.requirement}]") from None
    if not parsed.conforming:
        warnings.append(
            f"{where}: {code!r} is not a conforming agency code (QD28-10.2.a); accepted (lenient)"
        )
    return code


def _systems(raw: Any, strict: bool, warnings: list[str]) -> list[SystemConfig]:
    if not isinstance(raw, list):
        raise ConfigError("systems: must be an array of tables ([[systems]])")
    out: list[SystemConfig] = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        where = f"systems[{i}]"
        if not isinstance(item, dict):
            raise ConfigError(f"{where}: must be a table with id, secret and agencies")
        _only(item, {"id", "secret", "agencies", "name"}, where)
        sid = _str(item, "id", f"{where}.id")
        if not sid.isascii() or not sid.strip() or any(c.isspace() for c in sid):
            raise ConfigError(f"{where}.id: {sid!r} must be ASCII without spaces (it travels in a header)")
        if sid in seen:
            raise ConfigError(f"{where}.id: system {sid} is declared twice")
        seen.add(sid)
        secret = _str(item, "secret", f"{where}.secret")
        if not secret.strip():
            raise ConfigError(
                f"{where}.secret: empty; give the system a secret (any text, e.g. 32+ characters)"
            )
        agencies = item.get("agencies", [])
        if not isinstance(agencies, list) or not all(isinstance(a, str) for a in agencies):
            raise ConfigError(f"{where}.agencies: must be a list of agency codes (strings)")
        codes = [_check_code(a, f"{where}.agencies[{j}]", strict, warnings) for j, a in enumerate(agencies)]
        out.append(SystemConfig(sid, secret, tuple(codes), _str(item, "name", f"{where}.name", "")))
    return out


def _agencies(raw: Any, strict: bool, warnings: list[str]) -> list[AgencyEntry]:
    if not isinstance(raw, list):
        raise ConfigError("agencies: must be an array of tables ([[agencies]])")
    out: list[AgencyEntry] = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        where = f"agencies[{i}]"
        if not isinstance(item, dict):
            raise ConfigError(f"{where}: must be a table with code and name")
        _only(item, set(AgencyEntry.__slots__), where)
        code = _check_code(_str(item, "code", f"{where}.code"), f"{where}.code", strict, warnings)
        if code in seen:
            raise ConfigError(f"{where}.code: agency {code} is listed twice")
        seen.add(code)
        is_agency = item.get("is_agency", True)
        if not isinstance(is_agency, bool):
            raise ConfigError(f"{where}.is_agency: must be true or false")
        parent = item.get("parent")
        if parent is not None and not isinstance(parent, str):
            raise ConfigError(f"{where}.parent: must be an agency code (string)")
        out.append(
            AgencyEntry(
                code=code,
                name=_str(item, "name", f"{where}.name"),
                mail=_str(item, "mail", f"{where}.mail", ""),
                parent=parent or None,
                mobile=_str(item, "mobile", f"{where}.mobile", ""),
                fax=_str(item, "fax", f"{where}.fax", ""),
                old_code=_str(item, "old_code", f"{where}.old_code", ""),
                center_code=_str(item, "center_code", f"{where}.center_code", ""),
                is_agency=is_agency,
            )
        )
    return out


_MISSING = object()


def _only(table: Mapping[str, Any], allowed: set[str], where: str) -> None:
    for key in table:
        if key not in allowed:
            raise ConfigError(f"{where}.{key}: unknown key; allowed: {', '.join(sorted(allowed))}")


def _table(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{key}: must be a table ([{key}])")
    return value


def _str(data: Mapping[str, Any], key: str, where: str, default: Any = _MISSING) -> str:
    value = data.get(key, default)
    if value is _MISSING:
        raise ConfigError(f"{where}: missing")
    if not isinstance(value, str):
        raise ConfigError(f"{where}: must be a string, got {type(value).__name__} {value!r}")
    return value


def _int(
    data: Mapping[str, Any], key: str, where: str, default: int, minimum: int = 0, maximum: int | None = None
) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{where}: must be an integer, got {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
        raise ConfigError(f"{where}: must be {bound}, got {value}")
    return value


def _opt_int(data: Mapping[str, Any], key: str, where: str) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{where}: must be an integer, got {value!r}")
    return value


def _choice(data: Mapping[str, Any], key: str, where: str, kind: Any, default: str) -> str:
    value = data.get(key, default)
    allowed = get_args(kind)
    if value not in allowed:
        raise ConfigError(f"{where}.{key}: must be one of {', '.join(map(repr, allowed))}, got {value!r}")
    return str(value)


# -------------------------------------------------------------------------------------- generation

_BUILTIN_NAMES = (
    "Sở Tài chính",
    "Sở Nội vụ",
    "Sở Kế hoạch và Đầu tư",
    "Sở Tư pháp",
    "Sở Y tế",
    "Sở Giáo dục và Đào tạo",
    "Sở Thông tin và Truyền thông",
    "Văn phòng UBND",
    "Sở Xây dựng",
    "Sở Công Thương",
)
_GENERATED_FILE = "generated.json"


def _name_source(seed: int | None) -> Iterator[str]:
    """Agency names: the faker provider when present (simulator.edxml.fake), else a built-in list."""
    try:
        from simulator.edxml.fake import make_faker  # optional: written by another module
    except ImportError:
        n = 0
        while True:
            name = _BUILTIN_NAMES[n % len(_BUILTIN_NAMES)]
            yield f"{name} (mô phỏng {n + 1})" if n >= len(_BUILTIN_NAMES) else name
            n += 1
    fake = make_faker(seed)
    while True:
        yield str(fake.agency().organ_name or "Cơ quan mô phỏng")


def _generated_code(n: int, taken: set[str]) -> str:
    """A conforming, simulated code ``000.00.NN.H9x`` not in ``taken`` (H90–H99 are unused by provinces)."""
    while True:
        code = f"000.00.{n % 100:02d}.H{90 + (n // 100) % 10:02d}"
        n += 1
        if code not in taken:
            taken.add(code)
            return code


@contextlib.contextmanager
def _lock(directory: Path) -> Iterator[None]:
    fd = os.open(directory / ".generate.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def materialize(config: HubConfig) -> HubConfig:
    """Fill in generated systems, agencies and the admin token, the same for every process of a hub.

    Creates ``data_dir`` (mode 0700). The first caller generates and writes ``generated.json``
    (atomically, under a lock); later callers, including other uvicorn workers, read it back.
    """
    config.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = config.data_dir / _GENERATED_FILE
    with _lock(config.data_dir):
        try:
            stored: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            stored = {}
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{path}: unreadable generated settings ({exc}); delete the file") from None
        result, changed = _apply_generated(config, stored)
        if changed:
            fd, tmp = tempfile.mkstemp(dir=config.data_dir, prefix=".generated.", suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(stored, fh, ensure_ascii=False, indent=1)
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
    return result


def _apply_generated(config: HubConfig, stored: dict[str, Any]) -> tuple[HubConfig, bool]:
    changed = False
    if not config.admin_token and "admin_token" not in stored:
        stored["admin_token"] = secrets.token_urlsafe(24)
        changed = True
    admin_token = config.admin_token or str(stored["admin_token"])
    gen_systems: dict[str, Any] = stored.setdefault("systems", {})
    gen_agencies: dict[str, Any] = stored.setdefault("agencies", {})
    taken = {a.code for a in config.agencies} | {c for s in config.systems for c in s.agencies}
    taken |= {c for s in gen_systems.values() for c in s.get("agencies", [])}
    names = _name_source(config.generate.seed)
    counter = len(taken)

    systems = list(config.systems)
    if not systems:
        for i in range(config.generate.systems):
            sid = f"sim.gen.{i + 1:02d}"
            if sid not in gen_systems:
                gen_systems[sid] = {"secret": secrets.token_urlsafe(32), "agencies": []}
                changed = True
            systems.append(SystemConfig(sid, str(gen_systems[sid]["secret"]), ()))
    for i, system in enumerate(systems):
        if system.agencies:
            continue
        entry = gen_systems.setdefault(system.id, {})
        codes = entry.get("agencies") or []
        if not codes:
            for _ in range(config.generate.agencies_per_system):
                codes.append(_generated_code(counter, taken))
                counter += 1
            entry["agencies"] = codes
            changed = True
        systems[i] = replace(system, agencies=tuple(codes))

    listed = {a.code for a in config.agencies}
    agencies = list(config.agencies)
    for system in systems:
        for code in system.agencies:
            if code in listed:
                continue
            if code not in gen_agencies:
                name = next(names)
                gen_agencies[code] = {
                    "name": name,
                    "mail": f"vt.{code.replace('.', '')}@mophong.gov.vn".lower(),
                }
                changed = True
            info = gen_agencies[code]
            agencies.append(AgencyEntry(code=code, name=str(info["name"]), mail=str(info.get("mail", ""))))
            listed.add(code)
    return replace(config, systems=tuple(systems), agencies=tuple(agencies), admin_token=admin_token), changed
