"""Load profiles: ``loadtests/profiles.toml`` read, merged, overridden and checked.

A profile is the settings of ``[defaults]`` with those of ``[profiles.NAME]`` laid over them (tables
merge key by key), then the command line's ``--set key=value`` overrides (dotted keys into the merged
profile, e.g. ``slo.pickup_p95_s=3``, ``priority_mix.flash=0.02``, ``national.events_per_day=40000``),
then ``--duration`` and ``--users``. Every value is checked; a wrong one raises :class:`ProfileError`
naming the file, the field and what to write instead.

The load itself is a piecewise-linear curve of documents per second (:class:`Stage`), derived from the
national figures (:class:`NationalFigures`) and the profile's ``shape``:

* ``smoke`` — a constant rate (``rate_docs_per_s``) for the whole sending phase;
* ``province-peak`` — 15 % at the baseline (peak / multiplier), a 10 % ramp, 60 % at the peak
  (national mean × multiplier, the 08:00 burst), 15 % back at the baseline;
* ``national-soak`` — a short ramp (10 %, at most 60 s) to the steady rate, then steady;
* ``stress`` — ``stress.steps`` steps of equal length, the first at ``stress.start_multiplier`` × the
  national mean, each ``stress.step_factor`` times the previous one.

Sender users send at ``sender_rate_per_user`` documents/s each, so the number of sender users at time
``t`` is ``ceil(rate(t) / sender_rate_per_user)``. ``peak_users`` (``--users``) scales the whole curve
so that the peak needs exactly that many sender users.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from simulator.edxml.model import Priority

__all__ = [
    "DEFAULT_PROFILES_PATH",
    "SHAPES",
    "LoadProfile",
    "NationalFigures",
    "ProfileError",
    "SizeClass",
    "SloThresholds",
    "Stage",
    "StressSettings",
    "load_profile",
    "parse_override",
    "profile_names",
    "read_profiles",
]

DEFAULT_PROFILES_PATH = Path(__file__).resolve().parents[2] / "loadtests" / "profiles.toml"
ShapeName = Literal["smoke", "province-peak", "national-soak", "stress"]
SHAPES: tuple[ShapeName, ...] = ("smoke", "province-peak", "national-soak", "stress")
MAX_PACKAGE_KB = 5000
_PRIORITY_KEYS = {p.name.lower(): p for p in Priority}
_SOAK_RAMP_MAX_S = 60.0
_OPEN_TABLES = frozenset({"recipients_mix"})  # tables whose keys are data (recipient counts), not settings


class ProfileError(ValueError):
    """A wrong profile file, profile name or override; the message names the field and the fix."""


# ------------------------------------------------------------------------------------------- shapes


@dataclass(frozen=True, slots=True)
class NationalFigures:
    """The public figures every rate is derived from (see the comments in profiles.toml)."""

    events_per_day: float = 30_000
    events_are: Literal["documents", "deliveries"] = "documents"
    recipients_per_document: float = 3.6
    working_day_hours: float = 8.0
    connected_endpoints: int = 95

    @property
    def documents_per_day(self) -> float:
        if self.events_are == "deliveries":
            return self.events_per_day / self.recipients_per_document
        return self.events_per_day

    @property
    def mean_docs_per_s(self) -> float:
        """Documents sent per second nationally, averaged over a working day."""
        return self.documents_per_day / (self.working_day_hours * 3600)

    @property
    def average_endpoint_share(self) -> float:
        """Share of the documents an average connected endpoint is a recipient of."""
        return min(self.recipients_per_document / self.connected_endpoints, 1.0)


@dataclass(frozen=True, slots=True)
class SizeClass:
    """Signed package sizes between ``min_bytes`` and ``max_bytes`` (log-uniform), drawn with ``weight``."""

    min_bytes: int
    max_bytes: int
    weight: float


@dataclass(frozen=True, slots=True)
class SloThresholds:
    pickup_p95_s: float = 30.0
    accept_p95_s: float = 60.0
    error_rate_max: float = 0.001
    throughput_ratio_min: float = 0.9
    lost_max: int = 0


@dataclass(frozen=True, slots=True)
class StressSettings:
    start_multiplier: float = 2.0
    step_factor: float = 1.5
    steps: int = 10
    grace_s: float = 5.0


@dataclass(frozen=True, slots=True)
class Stage:
    """Documents/s going linearly from ``rate_from`` to ``rate_to`` over ``[start_s, end_s)``."""

    name: str
    start_s: float
    end_s: float
    rate_from: float
    rate_to: float

    @property
    def length_s(self) -> float:
        return self.end_s - self.start_s

    def rate_at(self, t: float) -> float:
        if self.length_s <= 0:
            return self.rate_to
        frac = min(max((t - self.start_s) / self.length_s, 0.0), 1.0)
        return self.rate_from + (self.rate_to - self.rate_from) * frac

    @property
    def documents(self) -> float:
        """Expected documents sent in the stage (the area under the rate)."""
        return (self.rate_from + self.rate_to) / 2 * self.length_s

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True, slots=True)
class LoadProfile:
    """One resolved profile (defaults + profile + overrides), checked."""

    name: str
    description: str
    shape: ShapeName
    duration_s: float
    rate_docs_per_s: float
    multiplier: float
    sender_rate_per_user: float
    peak_users: int
    sut_share: float
    harness_agencies: int
    harness_systems: int
    receivers: int
    poll_interval_s: float
    drain_s: float
    hub_workers: int
    hub_signature: Literal["off", "warn", "enforce"]
    corpus_seed: int
    corpus_margin: float
    size_mix: tuple[SizeClass, ...]
    priority_mix: tuple[tuple[Priority, float], ...]
    recipients_mix: tuple[tuple[int, float], ...]
    slo: SloThresholds = field(default_factory=SloThresholds)
    stress: StressSettings = field(default_factory=StressSettings)
    national: NationalFigures = field(default_factory=NationalFigures)
    source: str = ""
    overrides: tuple[str, ...] = ()

    # --- the load curve --------------------------------------------------------------------------
    @property
    def nominal_peak_rate(self) -> float:
        """Peak documents/s before ``peak_users`` scaling."""
        mean = self.national.mean_docs_per_s
        if self.shape == "stress":
            start = self.rate_docs_per_s or self.stress.start_multiplier * mean
            return start * self.stress.step_factor ** (self.stress.steps - 1)
        return self.rate_docs_per_s or self.multiplier * mean

    @property
    def scale(self) -> float:
        """Factor applied to every rate so that the peak needs exactly ``peak_users`` sender users."""
        if self.peak_users <= 0:
            return 1.0
        return self.peak_users * self.sender_rate_per_user / self.nominal_peak_rate

    def stages(self) -> list[Stage]:
        """The sending phase as stages of documents/s (scaled for ``peak_users``)."""
        d = self.duration_s
        k = self.scale
        mean = self.national.mean_docs_per_s
        if self.shape == "smoke":
            r = (self.rate_docs_per_s or self.multiplier * mean) * k
            return [Stage("steady", 0.0, d, r, r)]
        if self.shape == "national-soak":
            r = (self.rate_docs_per_s or self.multiplier * mean) * k
            ramp = min(d * 0.1, _SOAK_RAMP_MAX_S)
            return [Stage("ramp", 0.0, ramp, 0.0, r), Stage("steady", ramp, d, r, r)]
        if self.shape == "province-peak":
            peak = (self.rate_docs_per_s or self.multiplier * mean) * k
            base = peak / self.multiplier if self.multiplier > 1 else peak
            cuts = [0.0, 0.15 * d, 0.25 * d, 0.85 * d, d]
            return [
                Stage("baseline", cuts[0], cuts[1], base, base),
                Stage("ramp", cuts[1], cuts[2], base, peak),
                Stage("peak", cuts[2], cuts[3], peak, peak),
                Stage("cool-down", cuts[3], cuts[4], base, base),
            ]
        start = (self.rate_docs_per_s or self.stress.start_multiplier * mean) * k
        step = d / self.stress.steps
        return [
            Stage(
                f"step-{i + 1}",
                i * step,
                (i + 1) * step,
                start * self.stress.step_factor**i,
                start * self.stress.step_factor**i,
            )
            for i in range(self.stress.steps)
        ]

    def rate_at(self, t: float) -> float:
        """Documents/s the senders should offer ``t`` seconds into the run (0 after the sending phase)."""
        for stage in self.stages():
            if stage.start_s <= t < stage.end_s:
                return stage.rate_at(t)
        return 0.0

    def senders_for(self, rate: float) -> int:
        """Sender users needed to offer ``rate`` documents/s."""
        if rate <= 0:
            return 0
        return max(math.ceil(rate / self.sender_rate_per_user - 1e-9), 1)

    @property
    def peak_rate(self) -> float:
        return max((max(s.rate_from, s.rate_to) for s in self.stages()), default=0.0)

    @property
    def peak_senders(self) -> int:
        return self.senders_for(self.peak_rate)

    @property
    def expected_documents(self) -> float:
        return sum(s.documents for s in self.stages())

    def corpus_size(self) -> int:
        """Pre-signed packages needed: expected sends × margin, plus a few."""
        return math.ceil(self.expected_documents * self.corpus_margin) + 20

    @property
    def mean_recipients(self) -> float:
        total = sum(w for _, w in self.recipients_mix)
        return sum(n * w for n, w in self.recipients_mix) / total if total else 0.0

    def as_dict(self) -> dict[str, Any]:
        """Plain data (JSON-able): what the run used, written beside its results."""
        return {
            "name": self.name,
            "description": self.description,
            "shape": self.shape,
            "duration_s": self.duration_s,
            "rate_docs_per_s": self.rate_docs_per_s,
            "multiplier": self.multiplier,
            "sender_rate_per_user": self.sender_rate_per_user,
            "peak_users": self.peak_users,
            "sut_share": self.sut_share,
            "harness_agencies": self.harness_agencies,
            "harness_systems": self.harness_systems,
            "receivers": self.receivers,
            "poll_interval_s": self.poll_interval_s,
            "drain_s": self.drain_s,
            "hub_workers": self.hub_workers,
            "hub_signature": self.hub_signature,
            "corpus_seed": self.corpus_seed,
            "corpus_margin": self.corpus_margin,
            "size_mix": [[c.min_bytes / 1000, c.max_bytes / 1000, c.weight] for c in self.size_mix],
            "priority_mix": {p.name.lower(): w for p, w in self.priority_mix},
            "recipients_mix": {str(n): w for n, w in self.recipients_mix},
            "slo": dataclasses.asdict(self.slo),
            "stress": dataclasses.asdict(self.stress),
            "national": dataclasses.asdict(self.national),
            "source": self.source,
            "overrides": list(self.overrides),
            "derived": {
                "national_mean_docs_per_s": round(self.national.mean_docs_per_s, 4),
                "peak_docs_per_s": round(self.peak_rate, 4),
                "peak_senders": self.peak_senders,
                "expected_documents": round(self.expected_documents, 1),
                "mean_recipients": round(self.mean_recipients, 3),
                "stages": [s.as_dict() for s in self.stages()],
            },
        }


# ------------------------------------------------------------------------------------------ reading


def read_profiles(path: Path | str | None = None) -> dict[str, Any]:
    """The raw TOML of a profiles file (default ``loadtests/profiles.toml``); ProfileError if unreadable."""
    path = Path(path) if path is not None else DEFAULT_PROFILES_PATH
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ProfileError(f"{path}: no such profiles file; give an existing --profiles FILE") from None
    except OSError as exc:
        raise ProfileError(f"{path}: cannot read the profiles file ({exc.strerror or exc})") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ProfileError(f"{path}: not valid UTF-8 TOML ({exc})") from None
    for key in ("defaults", "profiles"):
        if not isinstance(data.get(key), dict):
            raise ProfileError(f"{path}: [{key}]: missing table; see loadtests/profiles.toml for the layout")
    unknown = sorted(set(data) - {"schema", "national", "defaults", "profiles"})
    if unknown:
        raise ProfileError(
            f"{path}: {unknown[0]}: unknown top-level key; expected schema, [national], [defaults], "
            "[profiles.*]"
        )
    return data


def profile_names(path: Path | str | None = None) -> list[str]:
    return sorted(read_profiles(path)["profiles"])


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def parse_override(text: str) -> tuple[str, Any]:
    """``key=value`` → ``(key, value)``; the value is read as TOML (``3``, ``0.5``, ``"x"``, ``[1, 2]``),
    else taken as a plain string (``hub_signature=enforce``)."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ProfileError(f"--set {text!r}: write key=value, e.g. --set slo.pickup_p95_s=3")
    raw = raw.strip()
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key, value


def _apply_override(data: dict[str, Any], key: str, value: Any, template: Mapping[str, Any]) -> None:
    parts = key.split(".")
    node: dict[str, Any] = data
    tmpl: Any = template
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if last and i == 1 and parts[0] in _OPEN_TABLES:  # a new recipient count may be added
            node[part] = value
            return
        if not isinstance(tmpl, Mapping) or part not in tmpl:
            where = ".".join(parts[:i]) or "the profile"
            known = ", ".join(sorted(tmpl)) if isinstance(tmpl, Mapping) else "none (not a table)"
            raise ProfileError(f"--set {key}: {where} has no setting {part!r}; known: {known}")
        if last:
            if isinstance(tmpl[part], Mapping):
                raise ProfileError(f"--set {key}: is a table; set one of its keys ({', '.join(tmpl[part])})")
            node[part] = value
            return
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
        tmpl = tmpl[part]


def load_profile(
    name: str,
    *,
    path: Path | str | None = None,
    overrides: Sequence[str] = (),
    duration_s: float | None = None,
    users: int | None = None,
) -> LoadProfile:
    """The profile ``name`` from ``path`` with ``--set`` overrides, ``--duration`` and ``--users``."""
    source = Path(path) if path is not None else DEFAULT_PROFILES_PATH
    data = read_profiles(source)
    profiles = data["profiles"]
    if name not in profiles:
        raise ProfileError(
            f"--profile {name!r}: no such profile in {source}; known: {', '.join(sorted(profiles))}"
        )
    if not isinstance(profiles[name], dict):
        raise ProfileError(f"{source}: profiles.{name}: must be a table")
    national = data.get("national", {})
    if not isinstance(national, dict):
        raise ProfileError(f"{source}: [national]: must be a table")
    merged = _merge(data["defaults"], profiles[name])
    merged["national"] = copy.deepcopy(national)
    # The template of known keys: the defaults (every settable key lives there) + the national figures.
    template = _merge(data["defaults"], {"national": national or dataclasses.asdict(NationalFigures())})
    extra = sorted(set(profiles[name]) - set(template))
    if extra:
        raise ProfileError(
            f"{source}: profiles.{name}.{extra[0]}: unknown setting; known: {', '.join(sorted(template))}"
        )
    for text in overrides:
        key, value = parse_override(text)
        _apply_override(merged, key, value, template)
    if duration_s is not None:
        merged["duration_s"] = duration_s
    if users is not None:
        merged["peak_users"] = users
    where = f"{source}: profiles.{name}"
    return _build(name, merged, where, str(source), tuple(overrides))


# ---------------------------------------------------------------------------------------- checking


class _Reader:
    def __init__(self, data: Mapping[str, Any], where: str) -> None:
        self.data = data
        self.where = where

    def _get(self, key: str) -> Any:
        if key not in self.data:
            raise ProfileError(f"{self.where}.{key}: missing; add it to [defaults] or the profile")
        return self.data[key]

    def number(
        self, key: str, lo: float | None = None, hi: float | None = None, *, above: bool = False
    ) -> float:
        value = self._get(key)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ProfileError(f"{self.where}.{key}: must be a number, got {value!r}")
        if lo is not None and (value <= lo if above else value < lo):
            raise ProfileError(
                f"{self.where}.{key}: must be {'above' if above else 'at least'} {lo:g}, got {value!r}"
            )
        if hi is not None and value > hi:
            raise ProfileError(f"{self.where}.{key}: must be at most {hi:g}, got {value!r}")
        return float(value)

    def integer(self, key: str, lo: int, hi: int) -> int:
        value = self._get(key)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ProfileError(f"{self.where}.{key}: must be a whole number, got {value!r}")
        if not lo <= value <= hi:
            raise ProfileError(f"{self.where}.{key}: must be between {lo} and {hi}, got {value}")
        return value

    def text(self, key: str, choices: Sequence[str] | None = None) -> str:
        value = self._get(key)
        if not isinstance(value, str):
            raise ProfileError(f"{self.where}.{key}: must be text, got {value!r}")
        if choices is not None and value not in choices:
            raise ProfileError(f"{self.where}.{key}: must be one of {', '.join(choices)}, got {value!r}")
        return value

    def table(self, key: str) -> _Reader:
        value = self._get(key)
        if not isinstance(value, Mapping):
            raise ProfileError(f"{self.where}.{key}: must be a table, got {value!r}")
        return _Reader(value, f"{self.where}.{key}")

    def only(self, keys: Sequence[str]) -> None:
        unknown = sorted(set(self.data) - set(keys))
        if unknown:
            raise ProfileError(f"{self.where}.{unknown[0]}: unknown setting; known: {', '.join(keys)}")


def _weights(where: str, items: Sequence[tuple[Any, Any]]) -> None:
    total = 0.0
    for key, weight in items:
        if isinstance(weight, bool) or not isinstance(weight, int | float) or weight < 0:
            raise ProfileError(f"{where}.{key}: a weight must be a number ≥ 0, got {weight!r}")
        total += weight
    if total <= 0:
        raise ProfileError(f"{where}: the weights add up to 0; give at least one positive weight")


def _size_mix(value: Any, where: str) -> tuple[SizeClass, ...]:
    if not isinstance(value, list) or not value:
        raise ProfileError(f"{where}: must be a list of [min_kb, max_kb, weight], e.g. [[5, 50, 0.7]]")
    out: list[SizeClass] = []
    for i, row in enumerate(value):
        here = f"{where}[{i}]"
        if (
            not isinstance(row, list)
            or len(row) != 3
            or any(isinstance(x, bool) or not isinstance(x, int | float) for x in row)
        ):
            raise ProfileError(f"{here}: must be [min_kb, max_kb, weight] (three numbers), got {row!r}")
        lo, hi, weight = row
        if not 0 < lo <= hi <= MAX_PACKAGE_KB:
            raise ProfileError(
                f"{here}: sizes must satisfy 0 < min_kb ≤ max_kb ≤ {MAX_PACKAGE_KB} (the hub's limit), "
                f"got {row!r}"
            )
        if weight < 0:
            raise ProfileError(f"{here}: the weight must be ≥ 0, got {weight!r}")
        out.append(SizeClass(int(lo * 1000), int(hi * 1000), float(weight)))
    if sum(c.weight for c in out) <= 0:
        raise ProfileError(f"{where}: the weights add up to 0; give at least one positive weight")
    return tuple(out)


def _build(
    name: str, data: Mapping[str, Any], where: str, source: str, overrides: tuple[str, ...]
) -> LoadProfile:
    r = _Reader(data, where)
    known = (
        "description", "shape", "duration_s", "rate_docs_per_s", "multiplier", "sender_rate_per_user",
        "peak_users", "sut_share", "harness_agencies", "harness_systems", "receivers", "poll_interval_s",
        "drain_s", "hub_workers", "hub_signature", "corpus_seed", "corpus_margin", "size_mix",
        "priority_mix", "recipients_mix", "slo", "stress", "national",
    )  # fmt: skip
    r.only(known)
    shape: Any = r.text("shape", SHAPES)
    signature: Any = r.text("hub_signature", ("off", "warn", "enforce"))
    pr = r.table("priority_mix")
    pr.only(tuple(_PRIORITY_KEYS))
    _weights(pr.where, list(pr.data.items()))
    priority_mix = tuple((_PRIORITY_KEYS[k], float(v)) for k, v in pr.data.items())
    rc = r.table("recipients_mix")
    rec: list[tuple[int, float]] = []
    for key, weight in rc.data.items():
        if not str(key).isdigit() or not 1 <= int(key) <= 100:
            raise ProfileError(f'{rc.where}.{key}: keys are recipient counts from 1 to 100 ("1", "2", …)')
        rec.append((int(key), weight))
    _weights(rc.where, rec)
    s = r.table("slo")
    s.only(tuple(f.name for f in dataclasses.fields(SloThresholds)))
    slo = SloThresholds(
        pickup_p95_s=s.number("pickup_p95_s", 0, above=True),
        accept_p95_s=s.number("accept_p95_s", 0, above=True),
        error_rate_max=s.number("error_rate_max", 0, 1),
        throughput_ratio_min=s.number("throughput_ratio_min", 0, 1),
        lost_max=s.integer("lost_max", 0, 10**9),
    )
    st = r.table("stress")
    st.only(tuple(f.name for f in dataclasses.fields(StressSettings)))
    stress = StressSettings(
        start_multiplier=st.number("start_multiplier", 0, above=True),
        step_factor=st.number("step_factor", 1, 100, above=True),
        steps=st.integer("steps", 1, 100),
        grace_s=st.number("grace_s", 0, 600),
    )
    n = r.table("national")
    n.only(tuple(f.name for f in dataclasses.fields(NationalFigures)))
    defaults = NationalFigures()
    nat = NationalFigures(
        events_per_day=n.number("events_per_day", 0, above=True)
        if "events_per_day" in n.data
        else defaults.events_per_day,
        events_are=n.text("events_are", ("documents", "deliveries"))
        if "events_are" in n.data
        else defaults.events_are,  # type: ignore[arg-type]
        recipients_per_document=n.number("recipients_per_document", 1)
        if "recipients_per_document" in n.data
        else defaults.recipients_per_document,
        working_day_hours=n.number("working_day_hours", 0, 24, above=True)
        if "working_day_hours" in n.data
        else defaults.working_day_hours,
        connected_endpoints=n.integer("connected_endpoints", 1, 100_000)
        if "connected_endpoints" in n.data
        else defaults.connected_endpoints,
    )
    agencies = r.integer("harness_agencies", 2, 1000)
    systems = r.integer("harness_systems", 1, 100)
    if systems > agencies:
        raise ProfileError(
            f"{where}.harness_systems: {systems} systems cannot host {agencies} agencies (each hosts at "
            "least one); lower harness_systems or raise harness_agencies"
        )
    profile = LoadProfile(
        name=name,
        description=r.text("description"),
        shape=shape,
        duration_s=r.number("duration_s", 1, 7 * 24 * 3600),
        rate_docs_per_s=r.number("rate_docs_per_s", 0, 10_000),
        multiplier=r.number("multiplier", 0, 10_000, above=True),
        sender_rate_per_user=r.number("sender_rate_per_user", 0, 1000, above=True),
        peak_users=r.integer("peak_users", 0, 100_000),
        sut_share=r.number("sut_share", 0, 1),
        harness_agencies=agencies,
        harness_systems=systems,
        receivers=r.integer("receivers", 1, 1000),
        poll_interval_s=r.number("poll_interval_s", 0.01, 600),
        drain_s=r.number("drain_s", 0, 3600),
        hub_workers=r.integer("hub_workers", 1, 64),
        hub_signature=signature,
        corpus_seed=r.integer("corpus_seed", 0, 2**31 - 1),
        corpus_margin=r.number("corpus_margin", 1, 10),
        size_mix=_size_mix(data.get("size_mix"), f"{where}.size_mix"),
        priority_mix=priority_mix,
        recipients_mix=tuple(sorted(rec)),
        slo=slo,
        stress=stress,
        national=nat,
        source=source,
        overrides=overrides,
    )
    if profile.peak_rate <= 0:
        raise ProfileError(
            f"{where}: the profile sends nothing (peak rate 0 documents/s); set rate_docs_per_s or multiplier"
        )
    return profile
