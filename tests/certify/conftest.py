"""Shared fixtures of the ``lienthong certify`` tests: an isolated $LIENTHONG_HOME (test CA, load corpus
cache), a runner of the real command in a subprocess, and the one full reference session (conformance
suite + smoke load profile) that the end-to-end and the Chromium tests share."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
CERTIFY_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class CertifyRun:
    """One ``lienthong certify`` process: its exit code, output and where the report should be."""

    code: int
    stdout: str
    stderr: str
    out: Path
    session: str
    seconds: float

    @property
    def report_dir(self) -> Path:
        return self.out / self.session

    def report(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.report_dir / "report.json").read_text(encoding="utf-8"))
        return data

    def rows(self) -> dict[str, dict[str, Any]]:
        return {row["id"]: row for row in self.report()["requirements"]}

    def explain(self) -> str:
        return f"exit {self.code}\n--- stdout\n{self.stdout[-4000:]}\n--- stderr\n{self.stderr[-4000:]}"


def cli_env(home: Path) -> dict[str, str]:
    return {**os.environ, "LIENTHONG_HOME": str(home), "COLUMNS": "200", "PYTHONUNBUFFERED": "1"}


def run_lienthong(
    *args: str | Path, home: Path, cwd: Path, timeout: float = CERTIFY_TIMEOUT_S
) -> subprocess.CompletedProcess[str]:
    """``lienthong ARGS`` as a separate process (exactly what an operator runs)."""
    return subprocess.run(
        [sys.executable, "-m", "simulator.cli", *(str(a) for a in args)],
        cwd=cwd,
        env=cli_env(home),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def run_certify(*args: str | Path, home: Path, out: Path, session: str) -> CertifyRun:
    started = time.monotonic()
    proc = run_lienthong("certify", "--out", out, "--session-id", session, *args, home=home, cwd=out.parent)
    return CertifyRun(proc.returncode, proc.stdout, proc.stderr, out, session, time.monotonic() - started)


@pytest.fixture(scope="session")
def certify_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """$LIENTHONG_HOME of every certify test (its test CA signs and verifies the reports)."""
    return tmp_path_factory.mktemp("certify-home")


@pytest.fixture(scope="session")
def reference_run(certify_home: Path, tmp_path_factory: pytest.TempPathFactory) -> CertifyRun:
    """``lienthong certify --sut reference --profile smoke``: the whole suite, the smoke load, a report."""
    out = tmp_path_factory.mktemp("certify-reference") / "reports"
    run = run_certify(
        "--sut", "reference", "--profile", "smoke", home=certify_home, out=out, session="ref-smoke"
    )
    print(f"\ncertify --sut reference --profile smoke: {run.seconds:.1f} s wall")
    return run
