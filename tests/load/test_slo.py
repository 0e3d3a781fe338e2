"""simulator/load/slo.py on synthetic facts: exact percentiles, urgent vs normal, missing statuses, errors,
throughput, losses, verdicts and the stress knee."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from simulator.load.profiles import SloThresholds, Stage
from simulator.load.slo import (
    SLO_IDS,
    EvidenceTally,
    SloInputs,
    SutDocument,
    judge_steps,
    knee,
    measure,
    p95_with_missing,
    step_windows,
    write_slo,
)

T0 = dt.datetime(2026, 3, 2, 1, 0, 0, tzinfo=dt.UTC)
THRESHOLDS = SloThresholds(pickup_p95_s=5.0, accept_p95_s=10.0, error_rate_max=0.01, throughput_ratio_min=0.9)


def _at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def _doc(
    i: int,
    sent: float,
    t01: float | None,
    t03: float | None,
    *,
    priority: int = 0,
    state: str = "done",
    acked: float | None = None,
) -> SutDocument:
    return SutDocument(
        document_id=f"000.00.01.H01,2026/03/02,{i}/CV",
        recipient="000.00.09.H09",
        accepted_at=_at(sent),
        state=state,
        acked_at=None if state != "done" else _at(acked if acked is not None else sent + (t03 or 0.1) + 0.01),
        status_01_at=None if t01 is None else _at(sent + t01),
        status_03_at=None if t03 is None else _at(sent + t03),
        priority=priority,
    )


def _tally(calls: int, failed: int, *, start: float = 0.0, step: float = 0.1) -> EvidenceTally:
    tally = EvidenceTally()
    for i in range(calls):
        tally.add(_at(start + i * step), "UNAVAILABLE" if i < failed else "0", "sendEdoc")
    return tally


def _inputs(docs: list[SutDocument], tally: EvidenceTally | None = None, **kw: object) -> SloInputs:
    return SloInputs(
        profile="smoke",
        started=T0,
        load_end=_at(20),
        ended=_at(30),
        documents_sent=kw.pop("documents_sent", 50),  # type: ignore[arg-type]
        sut_documents=docs,
        evidence=tally or _tally(100, 0),
        **kw,  # type: ignore[arg-type]
    )


def test_nearest_rank_percentiles_and_urgent_split() -> None:
    # 20 normal documents with pickup 0.1 … 2.0 s, 5 urgent ones with 0.05 … 0.25 s
    normal = [_doc(i, i * 0.5, (i + 1) / 10, (i + 1) / 5) for i in range(20)]
    urgent = [_doc(100 + i, i, (i + 1) / 20, (i + 1) / 10, priority=3) for i in range(5)]
    out = measure(_inputs(normal + urgent), THRESHOLDS)
    lat = out["latency"]
    # nearest rank: the value at rank ceil(p·n/100) of the sorted samples
    assert lat["to_01_normal"] == {"count": 20, "p50": 1.0, "p95": 1.9, "p99": 2.0, "max": 2.0}
    assert lat["to_01_urgent"] == {"count": 5, "p50": 0.15, "p95": 0.25, "p99": 0.25, "max": 0.25}
    all01 = sorted([(i + 1) / 10 for i in range(20)] + [(i + 1) / 20 for i in range(5)])
    assert lat["to_01"]["count"] == 25
    assert lat["to_01"]["p95"] == all01[24 - 1]  # ceil(0.95 × 25) = 24
    assert lat["to_03_normal"]["p95"] == pytest.approx(3.8)
    assert out["urgent_documents"] == 5
    assert out["documents_to_sut"] == 25
    assert out["passed"] is True
    assert [s["id"] for s in out["slos"]] == list(SLO_IDS)
    pickup = out["slos"][0]
    assert pickup["value"] == all01[23] and pickup["threshold"] == 5.0 and pickup["passed"]


def test_missing_statuses_count_as_unbounded() -> None:
    # 19 documents answered quickly, 1 never got 01: 1/20 = 5 % missing -> p95 rank 19 is still finite
    docs = [_doc(i, i, 0.2, 0.3) for i in range(19)] + [_doc(99, 1, None, 0.5)]
    out = measure(_inputs(docs), THRESHOLDS)
    assert out["slos"][0]["passed"] and out["slos"][0]["value"] == 0.2
    # 2 of 20 missing: rank 19 falls on a missing one -> unbounded -> FAIL (value null)
    docs[0] = _doc(0, 0, None, 0.3)
    out = measure(_inputs(docs), THRESHOLDS)
    pickup = out["slos"][0]
    assert pickup["passed"] is False and pickup["value"] is None
    assert "2 of 20 documents sent to the SUT never got status 01" in pickup["detail"]
    assert out["latency"]["to_01"]["count"] == 18
    assert p95_with_missing([1.0, 2.0], 0) == 2.0
    assert p95_with_missing([], 0) == float("inf")


def test_a_slow_acceptance_fails_only_accept() -> None:
    docs = [_doc(i, i * 0.5, 0.1, 12.0 if i % 2 else 0.5) for i in range(20)]
    out = measure(_inputs(docs), THRESHOLDS)
    verdicts = {s["id"]: s["passed"] for s in out["slos"]}
    assert verdicts == {
        "OPS-PICKUP": True,
        "OPS-ACCEPT": False,
        "OPS-ERRORS": True,
        "OPS-THROUGHPUT": True,
        "OPS-LOSS": True,
    }
    assert out["slos"][1]["value"] == 12.0
    assert "10 later than 10 s" in out["slos"][1]["detail"]
    assert out["passed"] is False


def test_errors_include_transport_failures() -> None:
    docs = [_doc(i, i, 0.1, 0.2) for i in range(10)]
    out = measure(_inputs(docs, _tally(198, 1), transport_failures=2), THRESHOLDS)
    assert out["errors"] == 3 and out["calls"] == 200
    assert out["error_rate"] == pytest.approx(0.015)
    errors = out["slos"][2]
    assert errors["passed"] is False and errors["value"] == pytest.approx(0.015)
    assert "sendEdoc:UNAVAILABLE ×1" in errors["detail"]
    ok = measure(_inputs(docs, _tally(1000, 5)), THRESHOLDS)
    assert ok["slos"][2]["passed"] and ok["error_rate"] == 0.005


def test_throughput_counts_acknowledgements_within_the_grace() -> None:
    # 10 documents offered during the 20 s sending phase; 8 acknowledged in time, 2 only 30 s later
    docs = [_doc(i, i * 2, 0.1, 0.2) for i in range(8)]
    docs += [_doc(8, 16, 0.1, 0.2, acked=50), _doc(9, 18, 0.1, 0.2, acked=51)]
    out = measure(_inputs(docs), THRESHOLDS)
    slo = out["slos"][3]
    assert out["sut_offered_docs_per_s"] == 0.5  # 10 / 20 s
    assert slo["value"] == pytest.approx(0.4)  # 8 / 20 s
    assert slo["threshold"] == pytest.approx(0.45)  # 0.9 × 0.5
    assert slo["passed"] is False
    assert "8 of 10 documents" in slo["detail"]
    assert out["sustained_docs_per_s"] == 2.5  # 50 documents from the harness in 20 s


def test_lost_documents_and_states() -> None:
    docs = [_doc(i, i, 0.1, 0.2) for i in range(10)]
    docs += [_doc(10, 3, 0.1, 0.2, state="initial"), _doc(11, 4, None, None, state="fail")]
    out = measure(_inputs(docs), THRESHOLDS)
    loss = out["slos"][4]
    assert out["lost"] == 2 and loss["passed"] is False and loss["value"] == 2.0
    assert "(fail: 1, initial: 1)" in loss["detail"]
    relaxed = measure(_inputs(docs), SloThresholds(lost_max=2, pickup_p95_s=5, accept_p95_s=10))
    assert relaxed["slos"][4]["passed"]


def test_nothing_sent_to_the_sut_cannot_pass() -> None:
    out = measure(_inputs([]), THRESHOLDS)
    assert not out["slos"][0]["passed"] and "no document reached" in out["slos"][0]["detail"]
    assert not out["slos"][3]["passed"]
    assert out["passed"] is False


def test_stress_steps_and_knee() -> None:
    stages = [Stage(f"step-{i + 1}", i * 10.0, (i + 1) * 10.0, 2.0 * 1.5**i, 2.0 * 1.5**i) for i in range(3)]
    windows = step_windows(stages, T0)
    docs = [_doc(i, t, 0.2, 0.4) for i, t in enumerate((1, 3, 5, 7, 9))]  # step 1: fine
    docs += [_doc(10 + i, t, 1.0, 2.0) for i, t in enumerate((11, 13, 15, 17, 19))]  # step 2: fine
    docs += [_doc(20 + i, t, 9.0, 12.0) for i, t in enumerate((21, 23, 25, 27, 29))]  # step 3: too slow
    # the harness documents the hub accepted: each step's rate (2, 3, 4.5 documents/s)
    sent_at = [_at(i / 2) for i in range(20)] + [_at(10 + i / 3) for i in range(30)]
    sent_at += [_at(20 + i / 4.5) for i in range(45)]
    steps = judge_steps(_inputs(docs, _tally(300, 0), sent_at=sent_at), windows, THRESHOLDS)
    assert [s["passed"] for s in steps] == [True, True, False]
    assert [s["achieved_docs_per_s"] for s in steps] == [2.0, 3.0, 4.5]
    assert not any(s["harness_limited"] for s in steps)
    # step 3 (20-30 s): acknowledged 12.01 s after acceptance; only the one sent at 21 s is acknowledged
    # before the step's end + the 5 s pickup threshold (35 s)
    assert steps[2]["failed"] == ["OPS-ACCEPT", "OPS-PICKUP", "OPS-THROUGHPUT"]
    assert steps[2]["sut_taken_ratio"] == 0.2
    assert steps[1]["pickup_p95_s"] == 1.0 and steps[1]["offered_docs_per_s"] == 3.0
    assert steps[0]["documents_to_sut"] == 5
    assert knee(steps) == {
        "step": "step-2",
        "offered_docs_per_s": 3.0,
        "sut_docs_per_s": 0.5,
        "limited_by": "slo",
    }
    assert knee([{**steps[0], "passed": False}]) is None
    assert knee(steps[:2])["limited_by"] == "none"  # type: ignore[index]
    # a step the load generator could not offer (the hub accepted < 80 % of its rate) ends the search
    starved = judge_steps(_inputs(docs, _tally(300, 0), sent_at=sent_at[:50]), windows, THRESHOLDS)
    assert [s["harness_limited"] for s in starved] == [False, False, True]
    assert knee(starved) == {**knee(steps), "limited_by": "harness"}  # type: ignore[dict-item]


def test_slo_json_shape(tmp_path: Path) -> None:
    out = measure(_inputs([_doc(1, 1, 0.1, 0.2)]), THRESHOLDS)
    path = write_slo(tmp_path / "slo.json", out)
    data = json.loads(path.read_text(encoding="utf-8"))
    for key in (
        "profile", "started", "ended", "duration_s", "documents_sent", "documents_to_sut",
        "sustained_docs_per_s", "latency", "errors", "error_rate", "duplicates", "lost", "cpu_s", "slos",
        "passed",
    ):  # fmt: skip
        assert key in data, key
    assert set(data["latency"]) >= {"to_01", "to_03", "to_01_urgent", "to_01_normal"}
    assert set(data["cpu_s"]) == {"hub", "locust"}
    for slo in data["slos"]:
        assert set(slo) == {"id", "name", "value", "threshold", "unit", "comparison", "passed", "detail"}
    assert data["duration_s"] == 30.0
