"""Self-validation, positive half: the whole suite passes against the correct reference QLVB, and one
run produces Cucumber JSON, JUnit XML (one testcase per scenario example) and the hub's evidence log."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from simulator.conformance.catalog import load_scenarios
from simulator.conformance.runner import RunExit, RunOptions, RunResult, run_conformance


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    return run_conformance(RunOptions(sut="reference", out_dir=tmp_path_factory.mktemp("reference-run")))


def _examples() -> int:
    return sum(max(1, s.examples) for s in load_scenarios())


def test_every_scenario_passes_against_the_reference(reference_run: RunResult) -> None:
    bad = [f"{o.tc} {o.outcome}: {o.message[:400]}" for o in reference_run.outcomes if o.outcome != "passed"]
    assert not bad, "\n".join(bad)
    assert reference_run.exit_code is RunExit.PASSED, reference_run.problem
    assert len(reference_run.outcomes) == _examples()
    assert {o.tc for o in reference_run.outcomes} == {s.tc_id for s in load_scenarios()}
    print(f"\nwhole suite against the reference QLVB: {reference_run.wall_s:.1f} s wall")


def test_junit_has_one_testcase_per_scenario_example(reference_run: RunResult) -> None:
    root = ET.parse(reference_run.junit).getroot()
    cases = root.findall(".//testcase")
    assert len(cases) == _examples()
    for case in cases:
        props = {p.get("name"): p.get("value") for p in case.findall("./properties/property")}
        assert props.get("tc", "").startswith("TC-"), case.get("name")
        assert props.get("requirements"), case.get("name")
        assert case.find("failure") is None and case.find("error") is None


def test_cucumber_json_lists_every_scenario_with_its_tags(reference_run: RunResult) -> None:
    features = json.loads(reference_run.cucumber.read_text(encoding="utf-8"))
    elements = [e for f in features for e in f["elements"]]
    assert len(elements) == _examples()
    for element in elements:
        tags = {t["name"] for t in element["tags"]}
        assert any(t.startswith("TC-") for t in tags), element["name"]
        assert all(step["result"]["status"] == "passed" for step in element["steps"]), element["name"]


def test_evidence_log_holds_the_hub_rows_of_every_scenario(reference_run: RunResult) -> None:
    rows = [
        json.loads(line) for line in Path(reference_run.evidence).read_text(encoding="utf-8").splitlines()
    ]
    assert rows
    for row in rows:
        assert {"scenario", "tc", "id", "at", "operation", "http_status"} <= row.keys()
    with_traffic = {r["tc"] for r in rows if r["operation"] == "sendEdoc" and r["http_status"] == 200}
    assert with_traffic >= {o.tc for o in reference_run.outcomes if not o.tc.startswith("TC-SEC")}
    summary = json.loads((reference_run.out_dir / "summary.json").read_text(encoding="utf-8"))
    assert summary["exit_code"] == 0 and summary["counts"] == {"passed": _examples()}


def test_the_exchanged_packages_are_kept_as_evidence(reference_run: RunResult) -> None:
    """The hub is reset between scenarios, so each scenario's packages are saved before the reset."""
    import hashlib

    rows = [
        json.loads(line) for line in Path(reference_run.evidence).read_text(encoding="utf-8").splitlines()
    ]
    accepted = {r["sha256"] for r in rows if r["operation"] == "sendEdoc" and r["http_status"] == 200}
    folder = reference_run.out_dir / "packages"
    kept = {p.stem: p for p in folder.glob("*.xml")}
    assert accepted and accepted <= kept.keys(), f"missing packages: {sorted(accepted - kept.keys())[:5]}"
    for sha, path in kept.items():
        assert hashlib.sha256(path.read_bytes()).hexdigest() == sha, path
