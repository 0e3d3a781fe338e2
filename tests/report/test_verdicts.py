"""The verdict rules, one by one, on hand-made scenario results."""

from __future__ import annotations

from simulator.report.model import (
    Conclusion,
    ConformanceRun,
    LoadResults,
    Outcome,
    ScenarioResult,
    SloResult,
    Verdict,
)
from simulator.report.verdicts import conclude, failure_gist, requirement_rows, verdict_for
from simulator.requirements import catalogue


def sc(tc: str, outcome: Outcome, reqs: tuple[str, ...] = ("QD28-9.1",), message: str = "") -> ScenarioResult:
    return ScenarioResult(
        key=f"f::{tc}",
        tc=tc,
        name=tc,
        feature="f.feature",
        requirements=list(reqs),
        defect=None,
        outcome=outcome,
        message=message,
        duration_s=0.1,
        evidence_anchor=None,
        sources=["cucumber.json"],
    )


def slo(rid: str, passed: bool) -> SloResult:
    return SloResult(rid, "p95 time to status 01", 7.0 if not passed else 1.0, 5.0, "s", "<=", passed, "")


def load(slos: list[SloResult]) -> LoadResults:
    return LoadResults(
        profile="smoke",
        started=None,
        ended=None,
        duration_s=None,
        documents_sent=None,
        documents_to_sut=None,
        sustained_docs_per_s=None,
        latency={},
        errors=None,
        error_rate=None,
        duplicates=None,
        lost=None,
        cpu_s={},
        slos=slos,
        passed=all(s.passed for s in slos),
        history=[],
        history_rows=0,
        endpoints=[],
        files=[],
    )


def run(exit_code: int | None = 0, problem: str | None = None) -> ConformanceRun:
    return ConformanceRun(
        sut="x",
        kind="reference",
        defects=[],
        started=None,
        finished=None,
        exit_code=exit_code,
        suite_version="9.9",
        scenario_count=1,
        counts={},
        problem=problem,
        notes=[],
        sources=[],
    )


def v(scenarios: list[ScenarioResult], rid: str = "QD28-9.1", **kw: object) -> tuple[Verdict, str]:
    slos = kw.pop("slos", [])
    load_ = kw.pop("load", None)
    return verdict_for(rid, scenarios, slos, suite_version="9.9", load=load_, **kw)  # type: ignore[arg-type]


def test_one_failure_among_passes_fails_and_names_the_scenario() -> None:
    verdict, reason = v(
        [sc("TC-A-001", "passed"), sc("TC-B-001", "failed", message="E\n  expected: 02\n  actual: 03")]
    )
    assert verdict is Verdict.FAIL
    assert "TC-B-001" in reason and "expected 02; actual 03" in reason and "TC-A-001" not in reason


def test_a_skip_without_not_applicable_reason_is_a_failure() -> None:
    verdict, reason = v([sc("TC-A-001", "passed"), sc("TC-B-001", "skipped", message="driver timeout")])
    assert verdict is Verdict.FAIL and "without a NOT APPLICABLE reason" in reason


def test_passed_with_not_applicable_siblings_passes() -> None:
    verdict, reason = v(
        [sc("TC-A-001", "passed"), sc("TC-B-001", "not-applicable", message="NOT APPLICABLE: x")]
    )
    assert verdict is Verdict.PASS and "TC-A-001" in reason and "1 not applicable" in reason


def test_all_not_applicable_lists_the_reasons() -> None:
    verdict, reason = v(
        [
            sc("TC-A-001", "not-applicable", message="NOT APPLICABLE: no driver operation to read the clock"),
            sc("TC-B-001", "not-applicable", message="NOT APPLICABLE: manual mode"),
        ]
    )
    assert verdict is Verdict.NOT_APPLICABLE
    assert "TC-A-001: no driver operation to read the clock" in reason and "TC-B-001: manual mode" in reason


def test_a_harness_error_is_not_a_pass_even_beside_passes() -> None:
    verdict, reason = v([sc("TC-A-001", "passed"), sc("TC-B-001", "error", message="driver unreachable")])
    assert verdict is Verdict.NOT_TESTED and "harness error" in reason and "TC-B-001" in reason


def test_untagged_requirement_reasons() -> None:
    assert v([], "QD28-11") == (Verdict.NOT_TESTED, "no scenario of suite version 9.9 covers it")
    verdict, reason = v([], "QD28-11", suite_scenarios=["TC-X-001"])
    assert verdict is Verdict.NOT_TESTED and "TC-X-001" in reason and "left out" in reason
    assert v([], "OPS-PICKUP") == (Verdict.NOT_TESTED, "no load profile was run")
    verdict, reason = v([], "OPS-LOSS", load=load([slo("OPS-PICKUP", True)]))
    assert verdict is Verdict.NOT_TESTED and "'smoke' did not measure it" in reason


def test_slos_decide_ops_rows() -> None:
    assert v([], "OPS-PICKUP", slos=[slo("OPS-PICKUP", True)], load=load([]))[0] is Verdict.PASS
    verdict, reason = v([], "OPS-PICKUP", slos=[slo("OPS-PICKUP", False)], load=load([]))
    assert verdict is Verdict.FAIL and "7 s > 5 s" in reason


def test_rows_cover_the_whole_catalogue_in_order() -> None:
    cat = catalogue()
    rows = requirement_rows(
        cat, [sc("TC-A-001", "passed", ("QD28-9.1", "EDXML-SIG"))], None, suite_version="9.9"
    )
    assert [r.id for r in rows] == cat.ids()
    by_id = {r.id: r for r in rows}
    assert by_id["QD28-9.1"].verdict is Verdict.PASS and by_id["EDXML-SIG"].verdict is Verdict.PASS
    assert by_id["QD28-9.1"].text_vi == cat["QD28-9.1"].text_vi
    assert [s.tc for s in by_id["QD28-9.1"].scenarios] == ["TC-A-001"]
    assert all(r.verdict is Verdict.NOT_TESTED for r in rows if r.id not in ("QD28-9.1", "EDXML-SIG"))


def test_conclusions() -> None:
    cat = catalogue()
    ok = [sc("TC-A-001", "passed")]
    rows = requirement_rows(cat, ok, None, suite_version="9.9")
    assert conclude(rows, ok, run()).conclusion is Conclusion.CONFORMS
    bad = [sc("TC-A-001", "failed")]
    summary = conclude(requirement_rows(cat, bad, None, suite_version="9.9"), bad, run(1))
    assert summary.conclusion is Conclusion.DOES_NOT_CONFORM and summary.failed == ["QD28-9.1"]
    broken = [sc("TC-A-001", "passed"), sc("TC-B-001", "error", ("QD28-6.1",), "hub did not start")]
    summary = conclude(requirement_rows(cat, broken, None, suite_version="9.9"), broken, run(3, "hub down"))
    assert summary.conclusion is Conclusion.INCONCLUSIVE
    assert any("exit code 3" in p and "hub down" in p for p in summary.harness_problems)
    assert sum(summary.counts.values()) == len(cat.ids())


def test_a_selection_that_left_covered_requirements_out_is_partial_not_conforms() -> None:
    cat = catalogue()
    ran = [sc("TC-A-001", "passed")]
    coverage = {"QD28-9.1": ["TC-A-001"], "QD28-6.1": ["TC-B-001"]}  # the suite also covers QD28-6.1
    rows = requirement_rows(cat, ran, None, suite_version="9.9", suite_coverage=coverage)
    summary = conclude(rows, ran, run(), suite_coverage=coverage)
    assert summary.conclusion is Conclusion.PARTIAL
    assert summary.not_run == ["QD28-6.1"]
    assert "QD28-6.1" in summary.not_tested  # the row itself stays NOT TESTED, with its reason
    # the whole covered set ran: CONFORMS (rows nothing covers do not make a run partial)
    both = [sc("TC-A-001", "passed"), sc("TC-B-001", "passed", ("QD28-6.1",))]
    rows = requirement_rows(cat, both, None, suite_version="9.9", suite_coverage=coverage)
    full = conclude(rows, both, run(), suite_coverage=coverage)
    assert full.conclusion is Conclusion.CONFORMS and full.not_run == []
    # a failure or a broken harness outranks PARTIAL
    bad = [sc("TC-A-001", "failed")]
    rows = requirement_rows(cat, bad, None, suite_version="9.9", suite_coverage=coverage)
    assert conclude(rows, bad, run(1), suite_coverage=coverage).conclusion is Conclusion.DOES_NOT_CONFORM
    broken = [sc("TC-A-001", "error", message="hub did not start")]
    rows = requirement_rows(cat, broken, None, suite_version="9.9", suite_coverage=coverage)
    assert conclude(rows, broken, run(3), suite_coverage=coverage).conclusion is Conclusion.INCONCLUSIVE


def test_failure_gist_falls_back_to_first_line() -> None:
    assert failure_gist("AssertionError: boom\nmore") == "AssertionError: boom"
