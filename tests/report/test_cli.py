"""``lienthong report build | verify | show``: exit codes and what they print."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from simulator.cli import app
from simulator.pki.ca import TestCA
from tests.report import runs


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ca: TestCA) -> Path:
    monkeypatch.setenv("LIENTHONG_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_build_verify_tamper_show(tmp_path: Path, home: Path) -> None:
    conf = runs.write_conformance(tmp_path / "conf")
    load = runs.write_load(tmp_path / "load")
    code, out = invoke(
        "report",
        "build",
        "--conformance",
        str(conf),
        "--load",
        str(load),
        "--out",
        str(tmp_path / "reports"),
        "--session-id",
        "S-1",
        "--pdf",
        "off",
        "--sut-name",
        "QLVB Demo [v2]",
    )
    assert code == 0, out
    report = tmp_path / "reports" / "S-1"
    assert "DOES NOT CONFORM" in out and f"report written to {report}" in out
    assert json.loads((report / "report.json").read_text())["sut"]["name"] == "QLVB Demo [v2]"

    code, out = invoke("report", "verify", str(report))
    assert code == 0, out
    assert "OK: signature valid" in out and "chains to the trust anchor" in out

    code, out = invoke("report", "show", str(report))
    assert code == 0, out
    assert "DOES NOT CONFORM" in out and "integrity: OK" in out
    assert "QD28-9.1" in out and "TC-SIG-001" in out and "expected status 02" in out  # FAIL row + scenario
    assert "NOT TESTED" in out and "OPS-LOSS" in out and "did not measure it" in out
    assert "OPS-ACCEPT" in out and "missed" in out

    target = report / "evidence" / "evidence.jsonl"
    data = bytearray(target.read_bytes())
    data[-5] ^= 0x20
    target.write_bytes(bytes(data))
    code, out = invoke("report", "verify", str(report))
    assert code == 1
    assert "evidence/evidence.jsonl was altered" in out and "does NOT verify: 1 problem" in out
    code, out = invoke("report", "verify", "--json", str(report))
    assert code == 1 and json.loads(out)["problems"][0]["path"] == "evidence/evidence.jsonl"
    code, out = invoke("report", "show", str(report))
    assert code == 0 and "does NOT verify" in out


def test_usage_errors(tmp_path: Path, home: Path) -> None:
    conf = runs.write_conformance(tmp_path / "conf")
    code, out = invoke("report", "verify", str(tmp_path / "missing"))
    assert code == 2 and "not a directory" in out
    code, out = invoke(
        "report", "build", "--conformance", str(conf), "--signing-key", str(tmp_path / "k.pem")
    )
    assert code == 2 and "--signing-cert is missing" in out
    code, out = invoke("report", "build", "--conformance", str(tmp_path / "nope"))
    assert code == 2 and "--conformance: the run directory does not exist" in out
    code, out = invoke("report", "build", "--conformance", str(conf), "--pdf", "word")
    assert code == 2 and "--pdf 'word'" in out
    code, out = invoke("report", "show", str(conf))
    assert code == 1 and "report.json" in out and "missing" in out
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "cucumber.json").write_text("{}")
    code, out = invoke(
        "report", "build", "--conformance", str(tmp_path / "bad"), "--out", str(tmp_path / "r")
    )
    assert code == 2 and "cucumber.json: top level (a list of features): expected list" in out


def test_verify_without_trust_anchors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ca: TestCA) -> None:
    from simulator.report.build import build_report
    from simulator.report.manifest import default_signer

    out_dir = build_report(
        runs.write_conformance(tmp_path / "c"),
        tmp_path / "r",
        signer=default_signer(ca),
        pdf="off",
        coverage={},
    ).directory
    monkeypatch.setenv("LIENTHONG_HOME", str(tmp_path / "empty-home"))
    code, out = invoke("report", "verify", str(out_dir))
    assert code == 2 and "no trust anchors" in out
    code, out = invoke("report", "verify", "--no-trust", str(out_dir))
    assert code == 0 and "only self-consistent" in out
    code, out = invoke("report", "verify", "--trust-anchor", str(ca.root_path), str(out_dir))
    assert code == 0 and "chains to the trust anchor" in out
    code, out = invoke("report", "verify", "--trust-anchor", str(ca.rogue_root_path), str(out_dir))
    assert code == 1 and "not trusted" in out
