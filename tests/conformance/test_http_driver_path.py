"""The scenarios that drive the SUT pass when the reference QLVB is driven exactly as a vendor's QLVB
is: through its test-driver HTTP API (``HttpDriver`` → ``/driver/v1/...``), not in-process."""

from __future__ import annotations

from pathlib import Path

from simulator.conformance.runner import RunExit, RunOptions, run_conformance

DRIVEN = "send or identifiers or recall or update_replace or status or priority or time or security"


def test_driver_scenarios_pass_over_http(tmp_path: Path) -> None:
    result = run_conformance(
        RunOptions(sut="reference", reference_driver="http", tags=DRIVEN, out_dir=tmp_path)
    )
    bad = [f"{o.tc} {o.outcome}: {o.message[:400]}" for o in result.outcomes if o.outcome != "passed"]
    assert not bad, "\n".join(bad)
    assert result.exit_code is RunExit.PASSED, result.problem
    assert len(result.outcomes) >= 20
    assert any("driver API is served at http://" in note for note in result.notes)
