"""`lienthong load` end to end: a real hub, the reference QLVB and Locust as subprocesses, and the
results counted again from Locust's own CSV; a defective SUT fails the right SLO with exit code 1;
usage errors exit 2 naming the problem."""

from __future__ import annotations

import csv
import json
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from simulator.cli import app
from simulator.load.slo import SLO_IDS

runner = CliRunner()
LOCUST_OUTPUTS = (
    "locust_stats.csv",
    "locust_stats_history.csv",
    "locust_failures.csv",
    "locust.json",
    "locust.html",
)


def run(*args: str | Path) -> tuple[int, str, str]:
    result = runner.invoke(app, ["load", *(str(a) for a in args)], env={"COLUMNS": "200"})
    return result.exit_code, result.stdout, result.stderr


def _locust_row(run_dir: Path, name: str) -> dict[str, str]:
    with open(run_dir / "locust_stats.csv", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["Name"] == name]
    assert len(rows) == 1, name
    return rows[0]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--profile", "rush-hour"], ["rush-hour", "province-peak"]),
        (["--set", "slo.pickup=3"], ["slo", "pickup", "pickup_p95_s"]),
        (["--set", "sut_share=2"], ["sut_share", "at most 1"]),
        (["--defect", "no-such-defect"], ["no-such-defect", "never-acks"]),
        (["--sut", "missing-sut.toml"], ["missing-sut.toml"]),
        (["--sut", "missing-sut.toml", "--defect", "never-acks"], ["--sut reference"]),
        (["--processes", "0"], ["--processes"]),
        (["--duration", "-1"], ["--duration"]),
    ],
)
def test_usage_errors_exit_2_naming_the_problem(
    args: list[str], words: list[str], isolated_home: Path, tmp_path: Path
) -> None:
    code, _, err = run(*args, "--out", tmp_path / "run")
    assert code == 2, err
    for word in words:
        assert word in err


def test_list_profiles() -> None:
    code, out, _ = run("--list-profiles")
    assert code == 0
    for name in ("smoke", "province-peak", "national-soak", "stress"):
        assert name in out


def test_smoke_against_the_reference_passes_with_every_output(isolated_home: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    code, stdout, stderr = run(
        "--profile", "smoke", "--sut", "reference", "--duration", "8", "--out", out, "-q"
    )
    assert code == 0, stdout + stderr
    for name in (*LOCUST_OUTPUTS, "slo.json", "shape.json", "run.json"):
        assert (out / name).is_file(), name
    slo = json.loads((out / "slo.json").read_text(encoding="utf-8"))
    assert slo["passed"] is True and slo["profile"] == "smoke"
    assert [s["id"] for s in slo["slos"]] == list(SLO_IDS) and all(s["passed"] for s in slo["slos"])
    # What the hub stored is what Locust saw succeed: every document send, none lost or doubled.
    sends = _locust_row(out, "sendEdoc")
    assert int(sends["Failure Count"]) == 0
    assert slo["documents_sent"] == int(sends["Request Count"]) > 0
    assert 0 < slo["documents_to_sut"] < slo["documents_sent"]
    assert slo["latency"]["to_01"]["count"] == slo["latency"]["to_03"]["count"] == slo["documents_to_sut"]
    assert slo["lost"] == 0 and slo["duplicates"] == 0 and slo["errors"] == 0
    # the harness's receivers answered the documents addressed to harness agencies (01 and 03 each)
    answers_01 = int(_locust_row(out, "sendEdoc (status 01)")["Request Count"])
    assert answers_01 == int(_locust_row(out, "sendEdoc (status 03)")["Request Count"]) > 0
    assert slo["cpu_s"]["hub"] > 0 and slo["cpu_s"]["locust"] > 0
    run_json = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert run_json["exit_code"] == 0 and run_json["locust_exit_code"] == 0
    assert "OPS-PICKUP" in stdout and "every SLO held" in stdout


def test_a_sut_that_never_acknowledges_loses_documents(isolated_home: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    code, stdout, stderr = run(
        "--profile",
        "smoke",
        "--defect",
        "never-acks",
        "--duration",
        "6",
        "--set",
        "drain_s=2",
        "--out",
        out,
        "-q",
    )
    assert code == 1, stdout + stderr
    slo = json.loads((out / "slo.json").read_text(encoding="utf-8"))
    verdicts = {s["id"]: s["passed"] for s in slo["slos"]}
    assert verdicts["OPS-LOSS"] is False and verdicts["OPS-PICKUP"] is True  # it answers, it never acks
    assert slo["lost"] == slo["documents_to_sut"] > 0
    assert json.loads((out / "run.json").read_text(encoding="utf-8"))["locust_exit_code"] == 1
    assert "OPS-LOSS" in stdout


@pytest.mark.slow
def test_a_sut_that_skips_status_01_fails_pickup(isolated_home: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    code, _stdout, _ = run(
        "--profile", "smoke", "--defect", "skips-01", "--duration", "6", "--out", out, "-q"
    )
    assert code == 1
    slo = json.loads((out / "slo.json").read_text(encoding="utf-8"))
    verdicts = {s["id"]: s["passed"] for s in slo["slos"]}
    assert verdicts == {
        "OPS-PICKUP": False,
        "OPS-ACCEPT": True,
        "OPS-ERRORS": True,
        "OPS-THROUGHPUT": True,
        "OPS-LOSS": True,
    }
    assert slo["latency"]["to_01"]["count"] == 0


@pytest.mark.slow
def test_distributed_locust_processes(isolated_home: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    code, stdout, stderr = run(
        "--profile", "smoke", "--duration", "10", "--processes", "2", "--out", out, "-q"
    )
    assert code == 0, stdout + stderr
    slo = json.loads((out / "slo.json").read_text(encoding="utf-8"))
    sends = _locust_row(out, "sendEdoc")
    assert slo["documents_sent"] == int(sends["Request Count"]) > 0
    assert slo["duplicates"] == 0 and slo["lost"] == 0 and slo["locust_processes"] == 2


def test_a_hub_that_cannot_start_is_a_harness_failure(isolated_home: Path, tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        sut = tmp_path / "sut.toml"
        sut.write_text(
            'name = "QLVB thử"\n[hub]\n'
            f'port = {port}\nsystem_id = "vendor.qlvb.01"\nsecret = "NOT-REAL-secret-0123456789"\n'
            'agencies = ["000.00.12.H29"]\n[driver]\nmode = "manual"\n',
            encoding="utf-8",
        )
        code, _, err = run("--sut", sut, "--duration", "5", "--out", tmp_path / "run", "-q")
    assert code == 3, err
    assert "the hub exited during startup" in err and str(port) in err
    assert not (tmp_path / "run" / "slo.json").exists()
