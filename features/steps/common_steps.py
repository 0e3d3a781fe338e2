"""Steps every feature uses (the Background)."""

from __future__ import annotations

from pytest_bdd import given

from features.steps.support import Harness
from simulator.conformance.expect import fail

__all__ = ["hub_running"]


@given("the simulated hub is running with the SUT connected")
def hub_running(harness: Harness) -> None:
    """The hub runs and the harness's agencies reach it (the SUT itself is checked by the scenarios)."""
    if not harness.target.hub.running:
        raise fail(
            "VPCP19-RES",
            expected=f"the simulated hub at {harness.target.hub_url} to be running",
            actual="it has stopped",
        )
