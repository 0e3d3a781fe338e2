"""Self-validation, negative half: every scenario can fail, and every defect is caught.

``features/defect_map.toml`` says which scenarios each defective reference variant must fail. The fast
test runs exactly those (defect, scenario) pairs — one pytest process per shard of defects, shards in
parallel — and checks each fails with a message naming one of the scenario's requirements. The slow
test runs the full matrix (every defect × every scenario) and regenerates ``docs/defect-matrix.md``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from simulator.conformance.catalog import load_scenarios
from simulator.conformance.defect_map import check_defect_map, load_defect_map
from simulator.conformance.matrix import build_matrix, read_matrix_sets, render_markdown
from simulator.conformance.runner import RunOptions, RunResult, ScenarioOutcome, run_conformance
from simulator.sut.defects import DEFECTS

ROOT = Path(__file__).resolve().parents[2]
MATRIX = ROOT / "docs" / "defect-matrix.md"
STATUS_TIMEOUT_S = 2.0  # the reference answers within milliseconds; failing waits end sooner
_REQS_OF_MESSAGE = re.compile(r"ConformanceFailure: \[([^\]]+)\]")  # "[QD28-9.1, QD28-6.3] <title>"


def _sweep(mode: str, defects: Sequence[str], shards: int, out: Path) -> list[ScenarioOutcome]:
    parts = [tuple(defects[i::shards]) for i in range(shards)]

    def run(i: int) -> RunResult:
        return run_conformance(
            RunOptions(
                sut="reference",
                sweep=mode,  # type: ignore[arg-type]
                sweep_only=parts[i],
                status_timeout_s=STATUS_TIMEOUT_S,
                out_dir=out / f"shard-{i}",
            )
        )

    with ThreadPoolExecutor(shards) as pool:
        results = list(pool.map(run, range(shards)))
    for r in results:
        assert r.problem is None, r.problem  # usage or harness failure, not a verdict
    return [o for r in results for o in r.outcomes]


def test_defect_map_covers_every_scenario_and_every_defect() -> None:
    problems = check_defect_map(load_defect_map(), load_scenarios(), DEFECTS)
    assert not problems, "\n".join(problems)


def test_defect_matrix_document_is_current() -> None:
    scenarios, defects = read_matrix_sets(MATRIX)
    current_s = {s.tc_id for s in load_scenarios()}
    assert scenarios == current_s and defects == set(DEFECTS), (
        f"{MATRIX.relative_to(ROOT)} is stale (scenarios added {sorted(current_s - scenarios)}, removed "
        f"{sorted(scenarios - current_s)}; defects added {sorted(set(DEFECTS) - defects)}, removed "
        f"{sorted(defects - set(DEFECTS))}): regenerate it with "
        "`python -m pytest -m slow tests/conformance/test_defects_are_caught.py`"
    )


def test_each_defect_fails_the_scenarios_meant_to_catch_it(tmp_path: Path) -> None:
    mapping = load_defect_map()
    outcomes = _sweep("map", list(mapping), 3, tmp_path)
    runs: dict[tuple[str | None, str], list[ScenarioOutcome]] = {}
    for o in outcomes:  # a Scenario Outline gives one outcome per example: every one must fail
        runs.setdefault((o.defect, o.tc), []).append(o)
    requirements = {s.tc_id: set(s.requirements) for s in load_scenarios()}
    problems = []
    for defect, tcs in mapping.items():
        for tc in tcs:
            examples = runs.get((defect, tc), [])
            if not examples:
                problems.append(f"{defect} × {tc}: did not run")
            for o in examples:
                if o.outcome != "failed":
                    problems.append(f"{defect} × {tc} ({o.name}): {o.outcome} (it must fail)")
                    continue
                head = _REQS_OF_MESSAGE.search(o.message)
                named = {r.strip() for r in head.group(1).split(",")} if head else set()
                if not named & requirements[tc]:
                    problems.append(
                        f"{defect} × {tc}: the failure names {sorted(named) or 'no requirement'}, none of "
                        "the "
                        f"scenario's {sorted(requirements[tc])}: {o.message[:200]}"
                    )
    assert not problems, "\n".join(problems)


@pytest.mark.slow
def test_full_matrix_every_scenario_fails_on_some_defect(tmp_path: Path) -> None:
    defects = sorted(DEFECTS)
    outcomes = _sweep("all", defects, 4, tmp_path)
    scenarios = load_scenarios()
    matrix = build_matrix(scenarios, defects, outcomes)
    mapping = load_defect_map()
    MATRIX.write_text(render_markdown(matrix, mapping), encoding="utf-8")
    missed = [
        f"{d} × {tc}" for d, tcs in mapping.items() for tc in tcs if matrix.cells.get((tc, d)) != "failed"
    ]
    assert not missed, f"mapped pairs that did not fail: {missed}"
    assert not matrix.uncaught_scenarios(), f"scenarios no defect fails: {matrix.uncaught_scenarios()}"
    assert not matrix.idle_defects(), f"defects that fail nothing: {matrix.idle_defects()}"
