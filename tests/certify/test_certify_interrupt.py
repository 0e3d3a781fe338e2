"""Ctrl-C during `lienthong certify` stops everything it started (bounded) and exits 3 with a note;
no report is signed for an interrupted session."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.certify.conftest import cli_env

_WAIT_S = 90.0


def _descendants(root: int) -> set[int]:
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as fh:
                    raw = fh.read().decode("ascii", "replace")
            except OSError:
                continue
            parents[int(entry)] = int(raw[raw.rindex(")") + 2 :].split()[1])
    found: set[int] = set()
    frontier = [root]
    while frontier:
        pid = frontier.pop()
        for child, parent in parents.items():
            if parent == pid and child not in found:
                found.add(child)
                frontier.append(child)
    return found


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            raw = fh.read().decode("ascii", "replace")
    except OSError:
        return False
    return raw[raw.rindex(")") + 2 :].split()[0] != "Z"


def test_ctrl_c_during_the_conformance_phase_stops_everything(certify_home: Path, tmp_path: Path) -> None:
    out = tmp_path / "reports"
    lines: list[str] = []
    with subprocess.Popen(
        [
            sys.executable,
            "-m",
            "simulator.cli",
            "certify",
            "--out",
            str(out),
            "--session-id",
            "s",
            "--pdf",
            "off",
        ],
        cwd=tmp_path,
        env=cli_env(certify_home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        reader = threading.Thread(target=lambda: lines.extend(proc.stderr or ()), daemon=True)
        reader.start()
        try:
            deadline = time.monotonic() + _WAIT_S
            # the conformance phase has begun once the smoke check is done and the suite's pytest runs
            while not any("smoke check" in line for line in lines) or not _descendants(proc.pid):
                assert proc.poll() is None, "".join(lines)
                assert time.monotonic() < deadline, "the conformance phase did not start"
                time.sleep(0.1)
            time.sleep(1.0)
            started = _descendants(proc.pid)
            assert started
            t0 = time.monotonic()
            proc.send_signal(signal.SIGINT)
            code = proc.wait(timeout=60)
            stop_s = time.monotonic() - t0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        reader.join(10)
        stdout = proc.stdout.read() if proc.stdout else ""
    stderr = "".join(lines)
    assert code == 3, stdout + stderr
    assert "interrupted during the conformance phase" in stderr and "no report was written" in stderr
    assert stop_s < 30, stop_s
    assert not [pid for pid in started if _running(pid)], "processes of the run survived"
    assert not (out / "s").exists()
    assert "CONFORM" not in stdout
