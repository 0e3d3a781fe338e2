"""The runner and its contract: exit codes, usage errors before anything starts, NOT APPLICABLE vs
skipped, tag checks, failure messages."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from simulator.cli import app
from simulator.conformance.catalog import check_scenarios, load_scenarios, tag_expression_problems
from simulator.conformance.expect import ConformanceFailure, fail
from simulator.conformance.runner import RunExit, RunOptions, UsageError, pytest_command, run_conformance
from simulator.requirements import UnknownRequirementError
from simulator.sut.defects import DEFECTS

runner = CliRunner()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ------------------------------------------------------------------------------------- usage errors


def test_list_defects_prints_one_name_per_line() -> None:
    result = runner.invoke(app, ["conformance", "--list-defects"])
    assert result.exit_code == 0
    assert result.stdout.split() == sorted(DEFECTS)


def test_unknown_defect_is_a_usage_error_naming_the_valid_ones() -> None:
    result = runner.invoke(app, ["conformance", "--defect", "accepts-everything"])
    assert result.exit_code == 2
    assert "accepts-everything" in result.stderr and "accepts-bad-signature" in result.stderr


def test_unknown_tag_is_a_usage_error() -> None:
    result = runner.invoke(app, ["conformance", "--tags", "QD28-9.1 and not TC-NOPE-001"])
    assert result.exit_code == 2
    assert "TC-NOPE-001" in result.stderr


def test_bad_sut_toml_is_a_usage_error_naming_the_field(tmp_path: Path) -> None:
    cfg = tmp_path / "sut.toml"
    cfg.write_text(
        'name = "X"\n[hub]\nsystem_id = "x.01"\nsecret = "s"\nagencies = ["28.22.H17"]\n'
        '[driver]\nurl = "http://127.0.0.1:1"\n',
        encoding="utf-8",
    )
    result = runner.invoke(app, ["conformance", "--sut", str(cfg)])
    assert result.exit_code == 2
    assert "28.22.H17" in result.stderr


def test_defects_only_apply_to_the_reference(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="reference"):
        run_conformance(RunOptions(sut=str(tmp_path / "sut.toml"), defects=("skips-01",), out_dir=tmp_path))


def test_tag_expressions_accept_at_signs_and_topics() -> None:
    known = {t for s in load_scenarios() for t in s.tags}
    assert tag_expression_problems("@QD28-9.1 and not (@TC-SIG-003 or receive)", known) == []
    assert tag_expression_problems("QD28-99.9 or nonsense", known) == ["QD28-99.9", "nonsense"]
    cmd = pytest_command(RunOptions(tags="@QD28-9.1 and not (@TC-SIG-003)"), Path("/tmp/x"), Path("/tmp/e"))
    marker = len(cmd) - 1 - cmd[::-1].index("-m")  # the last -m (the first one is python's -m pytest)
    assert cmd[marker + 1] == "QD28-9.1 and not ( TC-SIG-003 )"


def test_mis_tagged_features_are_reported(tmp_path: Path) -> None:
    (tmp_path / "bad.feature").write_text(
        textwrap.dedent(
            """\
            @bad
            Feature: Bad
              @TC-BAD-001 @QD28-99.1
              Scenario: unknown requirement
                Given x
              @QD28-9.1
              Scenario: no test-case id
                Given x
              @TC-BAD-001 @QD28-9.1 @wip
              Scenario: duplicate id and a stray tag
                Given x
            """
        ),
        encoding="utf-8",
    )
    problems = "\n".join(check_scenarios(load_scenarios(tmp_path)))
    assert "@QD28-99.1 is not a requirement" in problems
    assert "no test-case ID" in problems
    assert "TC-BAD-001 is already used" in problems
    assert "unknown tag @wip" in problems


def test_the_shipped_features_are_well_tagged() -> None:
    specs = load_scenarios()
    assert check_scenarios(specs) == []
    assert 35 <= len(specs) <= 55


# ------------------------------------------------------------------------------- failure messages


def test_failure_message_states_requirement_expected_actual_and_evidence() -> None:
    err = fail(
        ["QD28-9.1", "QD28-6.1"],
        expected="status 02 for D",
        actual="status 03 at 10:00:01",
        evidence=["hub 10:00:00 sendEdoc DocId abc"],
    )
    text = str(err)
    assert isinstance(err, AssertionError)
    assert text.startswith("[QD28-9.1, QD28-6.1] Before accepting")
    assert "expected: status 02 for D" in text and "actual:   status 03 at 10:00:01" in text
    assert "hub 10:00:00 sendEdoc DocId abc" in text


def test_failure_with_an_unknown_requirement_is_a_bug_in_the_step() -> None:
    with pytest.raises(UnknownRequirementError):
        ConformanceFailure("QD28-99", "x", "y")


# ---------------------------------------------------------------------- NOT APPLICABLE vs skipped


def test_not_applicable_is_reported_with_its_reason_and_other_skips_are_not(tmp_path: Path) -> None:
    test = tmp_path / "test_na.py"
    test.write_text(
        textwrap.dedent(
            """\
            import pytest

            def test_na():
                pytest.skip("NOT APPLICABLE: the driver cannot query")

            def test_silent_skip():
                pytest.skip("later")

            def test_fails():
                assert 1 == 2
            """
        ),
        encoding="utf-8",
    )
    events = tmp_path / "events.jsonl"
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        str(test),
        "-q",
        "-p",
        "no:cacheprovider",
        "-c",
        "/dev/null",
        "-p",
        "simulator.conformance.progress",
        "--lienthong-events",
        str(events),
    ]
    subprocess.run(cmd, cwd=tmp_path, capture_output=True, timeout=60, check=False)
    results = {
        e["nodeid"].split("::")[-1]: e
        for e in map(json.loads, events.read_text().splitlines())
        if e["event"] == "result"
    }
    assert results["test_na"]["outcome"] == "not-applicable"
    assert "the driver cannot query" in results["test_na"]["message"]
    assert results["test_silent_skip"]["outcome"] == "skipped"
    assert results["test_fails"]["outcome"] == "failed"


# ------------------------------------------------------------------------------ runs (subprocess)


def test_nothing_selected_is_a_usage_error(tmp_path: Path) -> None:
    result = run_conformance(RunOptions(keyword="no_such_scenario_anywhere", out_dir=tmp_path))
    assert result.exit_code is RunExit.USAGE
    assert "no scenario matches" in (result.problem or "")


def test_unreachable_driver_is_a_harness_failure(tmp_path: Path) -> None:
    cfg = tmp_path / "sut.toml"
    cfg.write_text(
        f'name = "Unreachable QLVB"\n[hub]\nport = {_free_port()}\nsystem_id = "acme.qlvb.01"\n'
        'secret = "s3cret-0123456789"\nagencies = ["000.00.12.H29"]\n'
        f'[driver]\nurl = "http://127.0.0.1:{_free_port()}"\ntimeout_s = 2\n',
        encoding="utf-8",
    )
    result = run_conformance(RunOptions(sut=str(cfg), tags="TC-RECV-001", out_dir=tmp_path / "run"))
    assert result.exit_code is RunExit.HARNESS
    assert "Unreachable QLVB" in (result.problem or "")
    assert result.outcomes == []
    summary = json.loads((tmp_path / "run" / "summary.json").read_text(encoding="utf-8"))
    assert summary["exit_code"] == 3


def test_pytest_usage_errors_map_to_exit_2(tmp_path: Path) -> None:
    result = run_conformance(RunOptions(extra_args=("--no-such-pytest-option",), out_dir=tmp_path))
    assert result.exit_code is RunExit.USAGE
    assert "no-such-pytest-option" in (result.problem or "")


def test_scenarios_a_driver_cannot_serve_are_not_applicable_with_the_reason(tmp_path: Path) -> None:
    """Manual mode cannot look inside the SUT (query, clock sync, TLS probe, pausing its intake): those
    scenarios end NOT APPLICABLE before anything is sent, with the capability named; the run passes."""
    cfg = tmp_path / "sut.toml"
    cfg.write_text(
        f'name = "Manual QLVB"\n[hub]\nport = {_free_port()}\nsystem_id = "acme.qlvb.01"\n'
        'secret = "s3cret-0123456789"\nagencies = ["000.00.12.H29"]\n[driver]\nmode = "manual"\n',
        encoding="utf-8",
    )
    tags = "TC-RECV-003 or TC-TIME-003 or TC-SEC-001 or TC-PRIO-002"
    result = run_conformance(RunOptions(sut=str(cfg), tags=tags, out_dir=tmp_path / "run"))
    assert result.exit_code is RunExit.PASSED, result.problem
    reasons = {o.tc: o.message for o in result.outcomes}
    assert {o.outcome for o in result.outcomes} == {"not-applicable"}
    assert "query" in reasons["TC-RECV-003"] and "sync-clock" in reasons["TC-TIME-003"]
    assert "probe-hub" in reasons["TC-SEC-001"] and "pause-intake" in reasons["TC-PRIO-002"]
    assert all(m.startswith("NOT APPLICABLE:") and "Manual QLVB" in m for m in reasons.values())
