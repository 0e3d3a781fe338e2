"""Reading run directories: outcome merging (pytest-bdd's skip blind spot), messages, evidence, load."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from simulator.report.collect import (
    MAX_HISTORY_POINTS,
    ReportInputError,
    clean_message,
    read_conformance,
    read_load,
)
from tests.report import runs


def by_tc(run_dir: Path) -> dict[str, object]:
    ci = read_conformance(run_dir, suite_version="9.9")
    return {s.tc: s for s in ci.scenarios}


def test_outcomes_merge_cucumber_and_junit(tmp_path: Path) -> None:
    ci = read_conformance(runs.write_conformance(tmp_path / "run"), suite_version="9.9")
    got = {s.tc: s.outcome for s in ci.scenarios}
    assert got == {
        "TC-RECV-001": "passed",
        "TC-SIG-001": "failed",
        "TC-SEC-001": "not-applicable",  # cucumber.json says passed; junit.xml knows better
        "TC-TIME-001": "not-applicable",
        "TC-PRIO-001": "passed",
        "TC-PRIO-002": "not-applicable",
    }
    sec = next(s for s in ci.scenarios if s.tc == "TC-SEC-001")
    assert sec.message == "NOT APPLICABLE: the driver cannot present hub certificates"
    assert sec.sources == ["junit.xml", "cucumber.json"]
    assert ci.run.sut == "QLVB Acme 3.2" and ci.run.exit_code == 1 and ci.run.kind == "external"
    assert ci.run.counts["not-applicable"] == 3 and ci.run.scenario_count == 6


def test_without_junit_cucumber_alone_cannot_see_the_skip_and_says_so(tmp_path: Path) -> None:
    ci = read_conformance(runs.write_conformance(tmp_path / "run", junit_xml=False), suite_version="9.9")
    assert {s.tc: s.outcome for s in ci.scenarios}["TC-SEC-001"] == "passed"
    assert any("cannot be told" in w for w in ci.warnings)


def test_outcomes_jsonl_is_authoritative_and_adds_setup_skips(tmp_path: Path) -> None:
    run_dir = runs.write_conformance(tmp_path / "run")
    events = [
        {"event": "collected", "total": 2, "at": 1795454000.0},
        {
            "event": "result",
            "nodeid": "test_security.py::test_refuses_expired_hub_tls",
            "tc": "TC-SEC-001",
            "name": "n",
            "feature": "security.feature",
            "requirements": ["QD28-13.2"],
            "defect": "trusts-any-hub-tls",
            "outcome": "not-applicable",
            "duration": 0.2,
            "message": "NOT APPLICABLE: from the runner",
            "at": 1795454001.0,
        },
        {
            "event": "result",
            "nodeid": "test_security.py::test_setup_skipped",
            "tc": "TC-SEC-002",
            "name": "Only in outcomes",
            "feature": "security.feature",
            "requirements": ["QD28-13.2"],
            "defect": None,
            "outcome": "not-applicable",
            "duration": 0.0,
            "message": "NOT APPLICABLE: no TLS",
            "at": 1795454060.0,
        },
        {
            "event": "result",
            "nodeid": "test_receive.py::test_valid_document_is_accepted",
            "tc": "TC-RECV-001",
            "name": "n",
            "feature": "receive.feature",
            "requirements": ["QD28-9.1"],
            "defect": None,
            "outcome": "passed",
            "duration": 0.2,
            "message": "",
            "at": 1795454002.0,
        },
    ]
    (run_dir / "outcomes.jsonl").write_text("\n".join(json.dumps(e) for e in events) + "\nnot json\n")
    (run_dir / "junit.xml").write_text(
        runs.junit().replace(
            '<testcase classname="test_receive" name="test_valid_document_is_accepted" time="0.5">'
            "</testcase>",
            '<testcase classname="test_receive" name="test_valid_document_is_accepted" time="0.5">'
            '<failure message="late failure">x</failure></testcase>',
        )
    )
    ci = read_conformance(run_dir, suite_version="9.9")
    scenarios = {s.tc: s for s in ci.scenarios}
    assert scenarios["TC-SEC-001"].message == "NOT APPLICABLE: from the runner"
    assert scenarios["TC-SEC-001"].defect == "trusts-any-hub-tls"
    assert (
        scenarios["TC-SEC-002"].outcome == "not-applicable"
        and scenarios["TC-SEC-002"].name == "Only in outcomes"
    )
    # the runner said passed, junit.xml said failed: the more failing outcome wins, with a warning
    assert scenarios["TC-RECV-001"].outcome == "failed" and scenarios["TC-RECV-001"].message == "late failure"
    assert any("TC-RECV-001" in w and "takes failed" in w for w in ci.warnings)
    assert any("not JSON" in w for w in ci.warnings)
    # run.json gives the times; outcomes.jsonl would only fill in missing ones
    assert ci.run.started == "2026-11-24T00:14:00+07:00"


def test_failure_message_is_the_conformance_failure_not_the_traceback() -> None:
    text = clean_message(runs.FAILURE_TEXT)
    assert text.startswith("[QD28-6.1] Authenticity of origin.")
    assert "fixtures.py" not in text and "  expected: status 02" in text


def test_evidence_keeps_referenced_rows_and_drops_empty_polls(tmp_path: Path) -> None:
    ci = read_conformance(runs.write_conformance(tmp_path / "run"), suite_version="9.9")
    sig = next(s for s in ci.scenarios if s.tc == "TC-SIG-001")
    group = next(g for g in ci.evidence if g.anchor == sig.evidence_anchor)
    assert group.total_rows == 14 and group.omitted == 12  # the 12 empty polls
    # named by the message: the status row by its hub docId, the document row by its edXML DocumentId
    referenced = [r for r in group.rows if r.referenced]
    assert [r.doc_ids for r in referenced] == [[runs.SENT_DOC], [runs.FAILED_DOC]]
    first = group.rows[0]
    assert first.document_id == "000.00.14.H02,2026/11/24,346/GM-SLĐTBXH" and first.recipients == [
        "000.00.02.G08"
    ]
    assert first.findings == ["[QD28-6.1] signature <bad>"] and first.line == 14
    assert next(s for s in ci.scenarios if s.tc == "TC-SEC-001").evidence_anchor is None


def test_truncated_cucumber_json_is_named_precisely(tmp_path: Path) -> None:
    run_dir = runs.write_conformance(tmp_path / "run")
    data = (run_dir / "cucumber.json").read_bytes()
    (run_dir / "cucumber.json").write_bytes(data[: len(data) // 2])
    with pytest.raises(
        ReportInputError, match=r"cucumber.json: the Cucumber JSON .* not valid JSON .*truncated"
    ):
        read_conformance(run_dir, suite_version="9.9")


def test_wrong_field_type_names_the_path(tmp_path: Path) -> None:
    run_dir = runs.write_conformance(tmp_path / "run")
    data = runs.cucumber()
    data[4]["elements"][1]["steps"] = {"oops": 1}
    (run_dir / "cucumber.json").write_text(json.dumps(data))
    with pytest.raises(ReportInputError, match=r"features\[4\]\.elements\[1\]\.steps: expected list"):
        read_conformance(run_dir, suite_version="9.9")


def test_not_a_run_directory(tmp_path: Path) -> None:
    with pytest.raises(ReportInputError, match=r"neither cucumber\.json nor outcomes\.jsonl"):
        read_conformance(tmp_path, suite_version="9.9")


def test_load_results_and_history(tmp_path: Path) -> None:
    load, warnings = read_load(runs.write_load(tmp_path / "load", history_rows=30))
    assert warnings == []
    assert load.profile == "smoke" and not load.passed and load.sustained_docs_per_s == 2.0
    assert [s.id for s in load.slos if not s.passed] == ["OPS-ACCEPT"]
    assert load.latency["to_03"].p95 == 7.5 and load.cpu_s == {"hub": 3.5, "locust": 5.25}
    assert load.history_rows == 30 and len(load.history) == 30
    assert load.history[0].p50_ms is None and load.history[1].p50_ms == 21.0  # "N/A" is a gap, not zero
    assert load.history[-1].t_s == 29.0 and load.history[-1].rps == pytest.approx(14.5)
    assert [e.name for e in load.endpoints] == ["sendEdoc", "Aggregated"] and load.endpoints[
        0
    ].requests == 100


def test_long_history_is_downsampled(tmp_path: Path) -> None:
    load, _ = read_load(runs.write_load(tmp_path / "load", history_rows=2500))
    assert load.history_rows == 2500 and len(load.history) <= MAX_HISTORY_POINTS
    assert load.history[-1].t_s > 2400 and max(p.users for p in load.history) == 10


def test_slo_json_errors_name_the_field(tmp_path: Path) -> None:
    bad = dict(runs.SLO, slos=[dict(runs.SLO["slos"][0], passed="yes")])  # type: ignore[arg-type]
    with pytest.raises(ReportInputError, match=r"slo.json: slos\[0\]\.passed: expected true or false"):
        read_load(runs.write_load(tmp_path / "a", slo=bad))
    bad = {k: v for k, v in runs.SLO.items() if k != "profile"}
    with pytest.raises(ReportInputError, match=r"slo\.json: profile: expected str"):
        read_load(runs.write_load(tmp_path / "b", slo=bad))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ReportInputError, match=r"slo\.json.* is missing"):
        read_load(tmp_path / "empty")
