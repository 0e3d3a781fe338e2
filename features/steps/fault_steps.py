"""Steps that inject hub faults (VPCP19-RES) through the hub's control API."""

from __future__ import annotations

from typing import Any

from pytest_bdd import given, parsers

from features.steps.hubctl import clear_faults, inject_faults
from features.steps.support import Harness, ScenarioState

__all__ = ["answer_503", "drop_reply", "duplicate_delivery"]


def _inject(harness: Harness, ctx: ScenarioState, rule: dict[str, Any]) -> None:
    inject_faults(harness.target, [rule])
    ctx.cleanups.append(lambda: clear_faults(harness.target))


# Each rule is scoped to the system whose calls the scenario is about: the harness's own agencies call the
# hub too (their acknowledgements, statuses and polls), and an unscoped "next 2 calls" could be used up
# by them instead of by the SUT.


@given(parsers.parse('the hub answers 503 to the next {count:d} "{operation}" calls'))
def answer_503(harness: Harness, ctx: ScenarioState, count: int, operation: str) -> None:
    rule = {"operation": operation, "error_rate": 1.0, "count": count, "system": harness.target.sut_system_id}
    _inject(harness, ctx, rule)


@given(parsers.parse('the hub drops its reply to the next "{operation}" call after committing the package'))
def drop_reply(harness: Harness, ctx: ScenarioState, operation: str) -> None:
    rule = {
        "operation": operation,
        "drop_response_after_commit": True,
        "count": 1,
        "system": harness.target.sut_system_id,
    }
    _inject(harness, ctx, rule)


@given("the hub delivers the next document twice")
def duplicate_delivery(harness: Harness, ctx: ScenarioState) -> None:
    # the document comes from the harness's agency A; the SUT's status packages are sendEdoc calls too
    rule = {"operation": "sendEdoc", "duplicate_delivery": 1, "system": harness.target.harness_system_id}
    _inject(harness, ctx, rule)
