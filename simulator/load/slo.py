"""Service levels measured at the hub during a load run, judged against the profile's thresholds.

Everything is computed from what the hub stored — not from HTTP timings — for the documents the
harness sent to the SUT's agencies:

* **pickup** (OPS-PICKUP): hub acceptance of the document → hub acceptance of the SUT's first status 01
  for it; **acceptance** (OPS-ACCEPT): … → its first status 03. Reported as count/p50/p95/p99/max
  (nearest rank, like :mod:`simulator.hub.stats`), overall and for urgent (khẩn and above) vs normal
  documents. The verdict uses the p95 over *every* document sent to the SUT, a document that never got
  the status counting as infinitely late: a SUT that skips 01 fails even if the few it sent were fast.
* **errors** (OPS-ERRORS): protocol calls the hub answered with an error (evidence rows with an
  ``ErrorCode`` other than ``0``, from any system), plus calls Locust could not complete at all
  (transport failures), over all calls.
* **throughput** (OPS-THROUGHPUT): documents the SUT acknowledged (``updateStatus done``) no later than
  the pickup threshold after the sending phase ended, per second of the sending phase, against
  ``throughput_ratio_min`` × the documents offered to it per second. ``sustained_docs_per_s`` is the
  whole hub's rate: documents accepted from the harness per second of the sending phase.
* **loss** (OPS-LOSS): documents to the SUT whose delivery is not ``done`` at the end (after the drain).
* **duplicates**: packages the hub recorded as re-sends (VXP-DUP) and extra copies of a delivery.

:func:`gather` reads a :class:`~simulator.hub.store.Store`; :func:`measure` is pure (tests feed it
synthetic facts) and returns the ``slo.json`` document; :func:`judge_steps` finds the stress knee.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simulator.edxml.vntime import to_vn
from simulator.hub.stats import LatencySummary, percentile, summarize
from simulator.hub.store import Store
from simulator.load.profiles import SloThresholds, Stage

__all__ = [
    "SLO_IDS",
    "EvidenceTally",
    "SloInputs",
    "StepWindow",
    "SutDocument",
    "gather",
    "judge_steps",
    "knee",
    "measure",
    "p95_with_missing",
    "step_windows",
    "write_slo",
]

SLO_IDS = ("OPS-PICKUP", "OPS-ACCEPT", "OPS-ERRORS", "OPS-THROUGHPUT", "OPS-LOSS")
_EVIDENCE_BATCH = 5000
_NOT_COUNTED = ("control.",)  # the harness's own control calls are not protocol traffic


def _parse(stored: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(stored)
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _iso(value: dt.datetime) -> str:
    """ISO 8601 in Vietnam time (+07:00), like every other time in a report (QD28-14.4)."""
    return to_vn(value).isoformat(timespec="milliseconds")


@dataclass(slots=True)
class SutDocument:
    """One document the harness sent to one of the SUT's agencies, as the hub saw it."""

    document_id: str
    recipient: str
    accepted_at: dt.datetime
    state: str  # the delivery's state at the end: initial, processing, done, fail
    acked_at: dt.datetime | None = None
    status_01_at: dt.datetime | None = None
    status_03_at: dt.datetime | None = None
    priority: int | None = None  # OtherInfo/Priority; None when unknown

    @property
    def urgent(self) -> bool:
        return bool(self.priority)

    def latency(self, code: str) -> float | None:
        at = self.status_01_at if code == "01" else self.status_03_at
        return None if at is None else (at - self.accepted_at).total_seconds()


@dataclass(slots=True)
class EvidenceTally:
    """Protocol calls the hub recorded: ``(time, failed)`` per call, and failures by error code."""

    calls: list[tuple[dt.datetime, bool]] = field(default_factory=list)
    by_code: dict[str, int] = field(default_factory=dict)
    last_id: int = 0

    def add(self, at: dt.datetime, error_code: str, operation: str) -> None:
        failed = error_code != "0"
        self.calls.append((at, failed))
        if failed:
            key = f"{operation}:{error_code}"
            self.by_code[key] = self.by_code.get(key, 0) + 1

    def count(self, start: dt.datetime | None = None, end: dt.datetime | None = None) -> tuple[int, int]:
        """(calls, failed calls) with ``start <= time < end``."""
        calls = failed = 0
        for at, bad in self.calls:
            if (start is None or at >= start) and (end is None or at < end):
                calls += 1
                failed += bad
        return calls, failed


@dataclass(slots=True)
class SloInputs:
    """Everything :func:`measure` needs. ``load_end``: end of the sending phase; ``ended``: end of the
    measurement (after the drain)."""

    profile: str
    started: dt.datetime
    load_end: dt.datetime
    ended: dt.datetime
    documents_sent: int
    sut_documents: list[SutDocument]
    evidence: EvidenceTally
    duplicates: int = 0
    transport_failures: int = 0
    documents_sent_in_load: int | None = None  # accepted before load_end (None: documents_sent)
    sent_at: list[dt.datetime] = field(default_factory=list)  # hub acceptance of each harness document


@dataclass(frozen=True, slots=True)
class StepWindow:
    """One stress step on the wall clock."""

    name: str
    start: dt.datetime
    end: dt.datetime
    offered_docs_per_s: float


# ------------------------------------------------------------------------------------------ gather


def _evidence(store: Store, tally: EvidenceTally, since: dt.datetime) -> None:
    cursor = tally.last_id
    while True:
        rows = list(store.evidence(since_id=cursor, limit=_EVIDENCE_BATCH))
        for row in rows:
            operation = str(row.get("operation") or "")
            if operation.startswith(_NOT_COUNTED):
                continue
            at = _parse(str(row["at"]))
            if at >= since:
                tally.add(at, str(row.get("error_code") or "0"), operation)
        if rows:
            cursor = int(rows[-1]["id"])
        if len(rows) < _EVIDENCE_BATCH:
            break
    tally.last_id = cursor


def gather(
    store: Store,
    *,
    profile: str,
    started: dt.datetime,
    load_end: dt.datetime,
    ended: dt.datetime | None = None,
    sut_agencies: Sequence[str],
    harness_systems: Iterable[str],
    priorities: Mapping[str, int] | None = None,
    transport_failures: int = 0,
    tally: EvidenceTally | None = None,
) -> SloInputs:
    """Read the facts of the run (hub times from ``started`` on) from the hub's store.

    ``priorities``: DocumentId → priority of the harness's documents (from the corpus). ``tally``: an
    earlier tally to continue (its ``last_id`` is where reading resumes)."""
    ended = ended or dt.datetime.now(dt.UTC)
    systems = set(harness_systems)
    sut = set(sut_agencies)
    facts = store.stats_facts(started, None)
    documents = [p for p in facts.packages if p.kind == "document" and p.sender_system in systems]
    sent = len(documents)
    sent_in_load = sum(1 for p in documents if _parse(p.received_at) < load_end)
    duplicates = sum(1 for p in facts.packages if p.duplicate_of)
    duplicates += sum(1 for d in facts.deliveries if d.copy > 0 and not d.duplicate_of)
    latency: dict[tuple[str, str, str], dict[str, dt.datetime]] = {}
    for f in facts.latencies:
        if f.receiver in sut and f.code in ("01", "03"):
            latency.setdefault((f.receiver, f.document_id, f.original_sender), {})[f.code] = _parse(
                f.status_at
            )
    prio = priorities or {}
    sut_docs: list[SutDocument] = []
    for code in sorted(sut):
        for row in store.list_deliveries(recipient=code, limit=10**9):
            if row.kind != "document" or row.sender_system not in systems or row.document_id is None:
                continue
            created = _parse(row.created_at)
            if created < started:
                continue
            statuses = latency.get((code, row.document_id, row.from_organ), {})
            sut_docs.append(
                SutDocument(
                    document_id=row.document_id,
                    recipient=code,
                    accepted_at=created,
                    state=row.state.value,
                    acked_at=_parse(row.acked_at) if row.acked_at else None,
                    status_01_at=statuses.get("01"),
                    status_03_at=statuses.get("03"),
                    priority=prio.get(row.document_id),
                )
            )
    tally = tally if tally is not None else EvidenceTally()
    _evidence(store, tally, started)
    return SloInputs(
        profile=profile,
        started=started,
        load_end=load_end,
        ended=ended,
        documents_sent=sent,
        sut_documents=sut_docs,
        evidence=tally,
        duplicates=duplicates,
        transport_failures=transport_failures,
        documents_sent_in_load=sent_in_load,
        sent_at=[_parse(p.received_at) for p in documents],
    )


# ----------------------------------------------------------------------------------------- measure


def p95_with_missing(values: Sequence[float], missing: int) -> float:
    """Nearest-rank p95 of ``values`` plus ``missing`` infinitely late samples (inf when they reach it)."""
    ordered = sorted(values) + [math.inf] * missing
    if not ordered:
        return math.inf
    return percentile(ordered, 95)


def _summary(docs: Iterable[SutDocument], code: str) -> LatencySummary:
    return summarize(v for d in docs if (v := d.latency(code)) is not None)


def _round(value: float | None, digits: int = 3) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(value, digits)


def _slo(
    ident: str,
    name: str,
    value: float | None,
    threshold: float,
    unit: str,
    comparison: str,
    passed: bool,
    detail: str,
) -> dict[str, Any]:
    return {
        "id": ident,
        "name": name,
        "value": _round(value, 6),
        "threshold": threshold,
        "unit": unit,
        "comparison": comparison,
        "passed": passed,
        "detail": detail,
    }


def _latency_slo(
    ident: str, code: str, docs: Sequence[SutDocument], threshold: float, what: str
) -> tuple[dict[str, Any], float]:
    values = [v for d in docs if (v := d.latency(code)) is not None]
    missing = len(docs) - len(values)
    p95 = p95_with_missing(values, missing)
    passed = bool(docs) and p95 <= threshold
    if not docs:
        detail = (
            "no document reached the SUT's agencies: nothing to measure (raise sut_share or the duration)"
        )
    elif missing and not math.isfinite(p95):
        detail = (
            f"{missing} of {len(docs)} documents sent to the SUT never got status {code} ({what}); "
            f"p95 over all of them is unbounded"
        )
    else:
        late = sum(1 for v in values if v > threshold) + missing
        detail = (
            f"p95 {p95:.3f} s over {len(docs)} documents ({late} later than {threshold:g} s"
            + (f", {missing} without status {code}" if missing else "")
            + ")"
        )
    name = f"p95 time to status {code} ({what})"
    return _slo(ident, name, p95, threshold, "s", "<=", passed, detail), p95


def _seconds(a: dt.datetime, b: dt.datetime) -> float:
    return max((b - a).total_seconds(), 0.0)


def _throughput(
    docs: Sequence[SutDocument], start: dt.datetime, end: dt.datetime, grace_s: float
) -> tuple[int, int, float]:
    """(offered, taken, window seconds): documents to the SUT accepted in [start, end), and those of them
    acknowledged ``done`` by ``end + grace``."""
    deadline = end + dt.timedelta(seconds=grace_s)
    offered = [d for d in docs if start <= d.accepted_at < end]
    taken = sum(1 for d in offered if d.state == "done" and d.acked_at is not None and d.acked_at <= deadline)
    return len(offered), taken, _seconds(start, end)


def measure(inputs: SloInputs, thresholds: SloThresholds) -> dict[str, Any]:
    """The ``slo.json`` document (without CPU figures: the runner adds ``cpu_s``)."""
    docs = inputs.sut_documents
    urgent = [d for d in docs if d.urgent]
    normal = [d for d in docs if not d.urgent]
    pickup, _ = _latency_slo("OPS-PICKUP", "01", docs, thresholds.pickup_p95_s, "arrived")
    accept, _ = _latency_slo("OPS-ACCEPT", "03", docs, thresholds.accept_p95_s, "accepted")

    calls, failed = inputs.evidence.count(inputs.started, None)
    errors = failed + inputs.transport_failures
    total_calls = calls + inputs.transport_failures
    error_rate = errors / total_calls if total_calls else 0.0
    top = sorted(inputs.evidence.by_code.items(), key=lambda kv: -kv[1])[:5]
    err_detail = (
        f"{errors} failed of {total_calls} protocol calls ({failed} answered with an error by the hub"
    )
    err_detail += f", {inputs.transport_failures} without an answer)"
    if top:
        err_detail += "; most frequent: " + ", ".join(f"{k} ×{n}" for k, n in top)
    errors_slo = _slo(
        "OPS-ERRORS",
        "error rate of protocol calls",
        error_rate,
        thresholds.error_rate_max,
        "ratio",
        "<=",
        total_calls > 0 and error_rate <= thresholds.error_rate_max,
        err_detail,
    )

    window = _seconds(inputs.started, inputs.load_end)
    offered, taken, _ = _throughput(docs, inputs.started, inputs.load_end, thresholds.pickup_p95_s)
    offered_rate = offered / window if window else 0.0
    taken_rate = taken / window if window else 0.0
    target = thresholds.throughput_ratio_min * offered_rate
    throughput_slo = _slo(
        "OPS-THROUGHPUT",
        "documents/s the SUT took (acknowledged) vs offered to it",
        taken_rate,
        round(target, 6),
        "documents/s",
        ">=",
        offered > 0 and taken_rate >= target - 1e-12,
        f"{taken} of {offered} documents offered to the SUT during the {window:.1f} s sending phase were "
        f"acknowledged within {thresholds.pickup_p95_s:g} s after it ({offered_rate:.3f}/s offered; "
        f"threshold {thresholds.throughput_ratio_min:g} × offered)",
    )

    not_done = [d for d in docs if d.state != "done"]
    by_state: dict[str, int] = {}
    for d in not_done:
        by_state[d.state] = by_state.get(d.state, 0) + 1
    loss_slo = _slo(
        "OPS-LOSS",
        "documents sent to the SUT never acknowledged",
        float(len(not_done)),
        float(thresholds.lost_max),
        "documents",
        "<=",
        len(not_done) <= thresholds.lost_max,
        f"{len(not_done)} of {len(docs)} documents to the SUT not acknowledged (done) by the end of the drain"
        + (" (" + ", ".join(f"{k}: {v}" for k, v in sorted(by_state.items())) + ")" if by_state else ""),
    )
    slos = [pickup, accept, errors_slo, throughput_slo, loss_slo]
    sent_in_load = (
        inputs.documents_sent if inputs.documents_sent_in_load is None else inputs.documents_sent_in_load
    )
    return {
        "profile": inputs.profile,
        "started": _iso(inputs.started),
        "ended": _iso(inputs.ended),
        "load_ended": _iso(inputs.load_end),
        "duration_s": round(_seconds(inputs.started, inputs.ended), 3),
        "load_duration_s": round(window, 3),
        "documents_sent": inputs.documents_sent,
        "documents_to_sut": len(docs),
        "sustained_docs_per_s": round(sent_in_load / window, 4) if window else 0.0,
        "sut_docs_per_s": round(taken_rate, 4),
        "sut_offered_docs_per_s": round(offered_rate, 4),
        "latency": {
            "to_01": _summary(docs, "01"),
            "to_03": _summary(docs, "03"),
            "to_01_urgent": _summary(urgent, "01"),
            "to_01_normal": _summary(normal, "01"),
            "to_03_urgent": _summary(urgent, "03"),
            "to_03_normal": _summary(normal, "03"),
        },
        "urgent_documents": len(urgent),
        "errors": errors,
        "error_rate": round(error_rate, 6),
        "calls": total_calls,
        "transport_failures": inputs.transport_failures,
        "duplicates": inputs.duplicates,
        "lost": len(not_done),
        "cpu_s": {"hub": None, "locust": None},
        "slos": slos,
        "passed": all(s["passed"] for s in slos),
    }


HARNESS_LIMIT = 0.8
"""A stress step is harness-limited when the hub accepted less than this share of the step's rate."""


def _known_p95(
    docs: Sequence[SutDocument], code: str, threshold: float, now: dt.datetime | None
) -> tuple[float, int]:
    """(p95 with missing statuses as unbounded, documents judged). With ``now`` (a judgement while the
    run goes on) a document still without the status is judged only once it is older than
    ``threshold`` — before that it may still come in time."""
    values: list[float] = []
    missing = 0
    for d in docs:
        value = d.latency(code)
        if value is not None:
            values.append(value)
        elif now is None or (now - d.accepted_at).total_seconds() > threshold:
            missing += 1
    return p95_with_missing(values, missing), len(values) + missing


def judge_steps(
    inputs: SloInputs,
    steps: Sequence[StepWindow],
    thresholds: SloThresholds,
    *,
    now: dt.datetime | None = None,
) -> list[dict[str, Any]]:
    """Per stress step: the documents to the SUT accepted during it, their p95 times to 01 and 03
    (missing = unbounded), the error rate of the calls during it and the SUT's share taken within the
    pickup threshold after it; ``passed`` when all hold (loss is judged for the whole run only).

    ``now``: judge while the run goes on, with what is known at that time — documents without a status
    count only once older than the threshold, and the throughput only once the step's end + the pickup
    threshold has passed (without ``now`` everything is final, as after the drain).

    ``harness_limited``: the hub accepted less than :data:`HARNESS_LIMIT` × the step's rate — the load
    generator (or the hub) could not offer the step, so the step says nothing about the SUT."""
    out: list[dict[str, Any]] = []
    for step in steps:
        docs = [d for d in inputs.sut_documents if step.start <= d.accepted_at < step.end]
        p01, judged01 = _known_p95(docs, "01", thresholds.pickup_p95_s, now)
        p03, judged03 = _known_p95(docs, "03", thresholds.accept_p95_s, now)
        calls, failed = inputs.evidence.count(step.start, step.end)
        rate = failed / calls if calls else 0.0
        offered, taken, window = _throughput(
            inputs.sut_documents, step.start, step.end, thresholds.pickup_p95_s
        )
        ratio = taken / offered if offered else 0.0
        achieved = sum(1 for at in inputs.sent_at if step.start <= at < step.end) / window if window else 0.0
        settled = now is None or now >= step.end + dt.timedelta(seconds=thresholds.pickup_p95_s)
        checks = {
            "OPS-PICKUP": p01 <= thresholds.pickup_p95_s if judged01 else now is not None,
            "OPS-ACCEPT": p03 <= thresholds.accept_p95_s if judged03 else now is not None,
            "OPS-ERRORS": rate <= thresholds.error_rate_max,
            "OPS-THROUGHPUT": (offered > 0 and ratio >= thresholds.throughput_ratio_min) if settled else True,
        }
        out.append(
            {
                "name": step.name,
                "start": _iso(step.start),
                "end": _iso(step.end),
                "offered_docs_per_s": round(step.offered_docs_per_s, 4),
                "documents_to_sut": len(docs),
                "pickup_p95_s": _round(p01),
                "accept_p95_s": _round(p03),
                "error_rate": round(rate, 6),
                "sut_taken_ratio": round(ratio, 4),
                "sut_docs_per_s": round(taken / window, 4) if window else 0.0,
                "achieved_docs_per_s": round(achieved, 4),
                "harness_limited": achieved < HARNESS_LIMIT * step.offered_docs_per_s,
                "failed": sorted(k for k, ok in checks.items() if not ok),
                "passed": all(checks.values()),
            }
        )
    return out


def knee(steps: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The last step of the unbroken run of passing, not harness-limited steps from the first one (None:
    the first step failed). ``limited_by``: what ended the run of steps — ``slo`` (an SLO broke: the
    SUT's knee), ``harness`` (the load could not be offered: the knee lies above what this machine can
    generate) or ``none`` (every step held)."""
    last: Mapping[str, Any] | None = None
    limited_by = "none"
    for step in steps:
        if step.get("harness_limited"):
            limited_by = "harness"
            break
        if not step["passed"]:
            limited_by = "slo"
            break
        last = step
    if last is None:
        return None
    return {
        "step": last["name"],
        "offered_docs_per_s": last["offered_docs_per_s"],
        "sut_docs_per_s": last["sut_docs_per_s"],
        "limited_by": limited_by,
    }


def step_windows(stages: Sequence[Stage], started: dt.datetime) -> list[StepWindow]:
    return [
        StepWindow(
            s.name,
            started + dt.timedelta(seconds=s.start_s),
            started + dt.timedelta(seconds=s.end_s),
            (s.rate_from + s.rate_to) / 2,
        )
        for s in stages
    ]


def write_slo(path: Path, document: Mapping[str, Any]) -> Path:
    """Write ``slo.json`` atomically (UTF-8, indented)."""
    path = Path(path)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(document, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path
