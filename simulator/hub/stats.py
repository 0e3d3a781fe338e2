"""Statistics of the exchange per agency and period (QD28-11), computed from what the hub stored.

Pure functions over :meth:`simulator.hub.store.Store.stats_facts`, so the control API
(``GET /control/stats``) and the report generator compute the same numbers. For each agency:

* ``documents_sent`` / ``statuses_sent`` (by status code): packages the agency sent that the hub
  accepted (a package to three recipients counts once), by the hub's acceptance time;
* ``documents_received`` / ``statuses_received``: packages delivered to the agency (one per package
  and recipient; extra copies are not counted again), by the delivery's creation time;
* ``deliveries``: every delivery row addressed to the agency, by message type (``edoc`` / ``status``)
  and its *current* state (``initial``, ``processing``, ``done``, ``fail``);
* ``duplicates_sent``: accepted packages the hub recorded as a re-send of an earlier one (VXP-DUP);
  ``duplicates_received``: deliveries of such packages to the agency plus extra copies of one
  package to the agency (e.g. injected with the ``duplicate_delivery`` fault);
* ``violations``: ``status_order`` — statuses the agency reported that break the legal order
  (QD28-14.2; the reporter of 13 is the original sender, of every other code the receiver), by the
  status's time; ``package_errors`` — packages it sent that the hub accepted (lenient intake) although
  they carried at least one ERROR finding other than the status order (e.g. a missing subject, a status
  about a document the agency never received);
* ``latency_s``: for every document delivered to the agency, the time from the hub's acceptance of the
  (first) document package to its acceptance of the agency's *first* status 01, 03 and 06 for it
  (QD28-11, OPS-PICKUP, OPS-ACCEPT), attributed to the period in which the document was accepted:
  ``count``, ``p50``, ``p95``, ``p99`` (nearest rank: the value at rank ⌈p·n/100⌉ of the sorted samples)
  and ``max``, in seconds rounded to milliseconds; ``null`` when there are no samples.

Periods (``bucket`` = ``hour`` or ``day``) are Vietnam-time hours or days; only periods with at least one
counted fact are listed. ``total`` covers the whole requested range ``[from, to)``.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal, TypedDict

from simulator.edxml.status import TransitionVerdict
from simulator.edxml.vntime import VN_TZ
from simulator.hub.store import DeliveryState, StatsFacts, Store

__all__ = [
    "BUCKETS",
    "LATENCY_CODES",
    "AgencyStats",
    "Bucket",
    "LatencySummary",
    "PeriodStats",
    "StatsReport",
    "aggregate",
    "bucket_start",
    "compute_stats",
    "percentile",
    "summarize",
]

Bucket = Literal["hour", "day"]
BUCKETS: tuple[Bucket, ...] = ("hour", "day")
LATENCY_CODES = ("01", "03", "06")
_STATES = tuple(s.value for s in DeliveryState)


class LatencySummary(TypedDict):
    count: int
    p50: float | None
    p95: float | None
    p99: float | None
    max: float | None


class PeriodStats(TypedDict):
    start: str | None  # ISO 8601, Vietnam time; None: unbounded
    end: str | None
    documents_sent: int
    documents_received: int
    statuses_sent: dict[str, int]
    statuses_received: dict[str, int]
    deliveries: dict[str, dict[str, int]]  # message type -> state -> count
    duplicates_sent: int
    duplicates_received: int
    violations: dict[str, int]  # status_order, package_errors
    latency_s: dict[str, LatencySummary]  # "01", "03", "06"


class AgencyStats(TypedDict):
    agency: str
    total: PeriodStats
    periods: list[PeriodStats]


class StatsReport(TypedDict):
    requirement: str
    start: str | None
    end: str | None
    bucket: str | None
    agencies: list[AgencyStats]


def percentile(ordered: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of already sorted values: the value at rank ⌈p·n/100⌉ (1-based)."""
    if not ordered:
        raise ValueError("percentile of no values")
    if not 0 < p <= 100:
        raise ValueError(f"percentile rank must be in (0, 100], got {p}")
    rank = math.ceil(p * len(ordered) / 100)
    return ordered[max(rank, 1) - 1]


def summarize(values: Iterable[float]) -> LatencySummary:
    ordered = sorted(values)
    if not ordered:
        return LatencySummary(count=0, p50=None, p95=None, p99=None, max=None)
    return LatencySummary(
        count=len(ordered),
        p50=round(percentile(ordered, 50), 3),
        p95=round(percentile(ordered, 95), 3),
        p99=round(percentile(ordered, 99), 3),
        max=round(ordered[-1], 3),
    )


def bucket_start(when: dt.datetime, bucket: Bucket) -> dt.datetime:
    """The start of the Vietnam-time hour or day holding ``when``."""
    local = when.astimezone(VN_TZ)
    if bucket == "hour":
        return local.replace(minute=0, second=0, microsecond=0)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def _bucket_end(start: dt.datetime, bucket: Bucket) -> dt.datetime:
    return start + (dt.timedelta(hours=1) if bucket == "hour" else dt.timedelta(days=1))


def _parse(stored: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(stored)
    return value if value.tzinfo is not None else value.replace(tzinfo=VN_TZ)


def _legal(verdict: str) -> bool:
    try:
        return TransitionVerdict(verdict).legal
    except ValueError:
        return False


@dataclass(slots=True)
class _Acc:
    """Counters of one (agency, period)."""

    documents_sent: int = 0
    documents_received: int = 0
    statuses_sent: dict[str, int] = field(default_factory=dict)
    statuses_received: dict[str, int] = field(default_factory=dict)
    deliveries: dict[str, dict[str, int]] = field(
        default_factory=lambda: {"edoc": dict.fromkeys(_STATES, 0), "status": dict.fromkeys(_STATES, 0)}
    )
    duplicates_sent: int = 0
    duplicates_received: int = 0
    status_order: int = 0
    package_errors: int = 0
    latency: dict[str, list[float]] = field(default_factory=lambda: {c: [] for c in LATENCY_CODES})

    def result(self, start: str | None, end: str | None) -> PeriodStats:
        return PeriodStats(
            start=start,
            end=end,
            documents_sent=self.documents_sent,
            documents_received=self.documents_received,
            statuses_sent=dict(sorted(self.statuses_sent.items())),
            statuses_received=dict(sorted(self.statuses_received.items())),
            deliveries={k: dict(v) for k, v in self.deliveries.items()},
            duplicates_sent=self.duplicates_sent,
            duplicates_received=self.duplicates_received,
            violations={"status_order": self.status_order, "package_errors": self.package_errors},
            latency_s={code: summarize(self.latency[code]) for code in LATENCY_CODES},
        )


class _Table:
    def __init__(self, bucket: Bucket | None, only: str | None) -> None:
        self.bucket = bucket
        self.only = only
        self.totals: dict[str, _Acc] = {}
        self.periods: dict[str, dict[dt.datetime, _Acc]] = {}
        self._keys: dict[str, dt.datetime] = {}

    def accs(self, agency: str, when: str) -> list[_Acc]:
        """The accumulators a fact of ``agency`` at stored time ``when`` counts in (none if filtered)."""
        if self.only is not None and agency != self.only:
            return []
        total = self.totals.get(agency)
        if total is None:
            total = self.totals[agency] = _Acc()
        if self.bucket is None:
            return [total]
        periods = self.periods.setdefault(agency, {})
        key = self._key(when)
        period = periods.get(key)
        if period is None:
            period = periods[key] = _Acc()
        return [total, period]

    def _key(self, when: str) -> dt.datetime:
        assert self.bucket is not None
        # Stored times are ISO 8601 in Vietnam time: the hour or day is a prefix of the text.
        prefix = when[:13] if self.bucket == "hour" else when[:10]
        key = self._keys.get(prefix) if when.endswith("+07:00") else None
        if key is None:
            key = bucket_start(_parse(when), self.bucket)
            if when.endswith("+07:00"):
                self._keys[prefix] = key
        return key


def aggregate(
    facts: StatsFacts,
    *,
    agency: str | None = None,
    bucket: Bucket | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
) -> StatsReport:
    """Statistics from facts (see the module docstring); ``start``/``end`` only label the total."""
    table = _Table(bucket, agency)
    for p in facts.packages:
        for acc in table.accs(p.from_organ, p.received_at):
            if p.kind == "document":
                acc.documents_sent += 1
            elif p.status_code:
                acc.statuses_sent[p.status_code] = acc.statuses_sent.get(p.status_code, 0) + 1
            if p.duplicate_of:
                acc.duplicates_sent += 1
            if p.errors:
                acc.package_errors += 1
    for d in facts.deliveries:
        for acc in table.accs(d.recipient, d.created_at):
            kind = "edoc" if d.kind == "document" else "status"
            acc.deliveries[kind][d.state.value] += 1
            if d.copy == 0:
                if d.kind == "document":
                    acc.documents_received += 1
                elif d.status_code:
                    acc.statuses_received[d.status_code] = acc.statuses_received.get(d.status_code, 0) + 1
            if d.copy > 0 or d.duplicate_of:
                acc.duplicates_received += 1
    for e in facts.order_violations:
        if _legal(e.verdict):
            continue
        reporter = e.original_sender if e.code == "13" else e.receiver
        for acc in table.accs(reporter, e.at.isoformat(timespec="milliseconds")):
            acc.status_order += 1
    for f in facts.latencies:
        if f.code not in LATENCY_CODES:
            continue
        seconds = (_parse(f.status_at) - _parse(f.accepted_at)).total_seconds()
        for acc in table.accs(f.receiver, f.accepted_at):
            acc.latency[f.code].append(seconds)

    if agency is not None:
        table.totals.setdefault(agency, _Acc())
    lo = start.astimezone(VN_TZ).isoformat() if start is not None else None
    hi = end.astimezone(VN_TZ).isoformat() if end is not None else None
    agencies: list[AgencyStats] = []
    for code in sorted(table.totals):
        periods: list[PeriodStats] = []
        if bucket is not None:
            for key, acc in sorted(table.periods.get(code, {}).items()):
                periods.append(acc.result(key.isoformat(), _bucket_end(key, bucket).isoformat()))
        agencies.append(AgencyStats(agency=code, total=table.totals[code].result(lo, hi), periods=periods))
    return StatsReport(requirement="QD28-11", start=lo, end=hi, bucket=bucket, agencies=agencies)


def compute_stats(
    store: Store,
    *,
    agency: str | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    bucket: Bucket | None = None,
) -> StatsReport:
    """Read the facts of ``[start, end)`` from the store and aggregate them."""
    if start is not None and end is not None and end <= start:
        raise ValueError(
            f"the period is empty: to ({end.isoformat()}) is not after from ({start.isoformat()})"
        )
    facts = store.stats_facts(start, end, agency)
    return aggregate(facts, agency=agency, bucket=bucket, start=start, end=end)
