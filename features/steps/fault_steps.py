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


@given(parsers.parse('the hub answers 503 to the next {count:d} "{operation}" calls'))
def answer_503(harness: Harness, ctx: ScenarioState, count: int, operation: str) -> None:
    _inject(harness, ctx, {"operation": operation, "error_rate": 1.0, "count": count})


@given(parsers.parse('the hub drops its reply to the next "{operation}" call after committing the package'))
def drop_reply(harness: Harness, ctx: ScenarioState, operation: str) -> None:
    _inject(harness, ctx, {"operation": operation, "drop_response_after_commit": True, "count": 1})


@given("the hub delivers the next document twice")
def duplicate_delivery(harness: Harness, ctx: ScenarioState) -> None:
    _inject(harness, ctx, {"operation": "sendEdoc", "duplicate_delivery": 1})
