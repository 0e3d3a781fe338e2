"""Run load-shape scenarios in a process of its own and print what ``tick()`` returned, as JSON.

Importing Locust monkey-patches the interpreter (gevent), which the test process must not suffer, so
``tests/load/test_shapes.py`` runs the real ``loadtests/shapes.py`` classes here. Input (stdin): a JSON
list of scenarios ``{"id", "profile", "duration_s"?, "users"?, "overrides"?, "cls"?, "receivers"?,
"drained_at"?, "fail_step"?, "judge"?, "times": [...], "reset_after"?}``; output (stdout): ``{id: result}``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from loadtests import shapes
from simulator.load.profiles import load_profile


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def run(scenario: dict[str, Any]) -> dict[str, Any]:
    clock = Clock()
    profile = load_profile(
        scenario["profile"],
        duration_s=scenario.get("duration_s"),
        users=scenario.get("users"),
        overrides=scenario.get("overrides", []),
    )
    asked: list[int] = []
    drained_at = scenario.get("drained_at")

    def drained() -> bool:
        return drained_at is not None and clock.t >= drained_at

    def step_failed(index: int) -> bool:
        asked.append(index)
        return index == scenario.get("fail_step")

    kwargs: dict[str, Any] = {"clock": clock, "drained": drained}
    if "receivers" in scenario:
        kwargs["receivers"] = scenario["receivers"]
    if scenario.get("judge", True):
        kwargs["step_failed"] = step_failed
    if "cls" in scenario:
        cls = getattr(shapes, scenario["cls"])
        if cls is not shapes.StressShape:
            kwargs.pop("step_failed", None)
        shape = cls(profile, **kwargs)
    else:
        shape = shapes.shape_for(profile, **kwargs)
    ticks: list[Any] = []
    for t in scenario["times"]:
        clock.t = float(t)
        ticks.append([t, shape.tick()])
    after_reset = None
    if scenario.get("reset_after"):
        shape.reset_time()
        clock.t = 0.0
        after_reset = shape.tick()
    return {
        "class": type(shape).__name__,
        "is_load_test_shape": isinstance(shape, shapes.LoadTestShape),
        "ticks": ticks,
        "events": shape.events,
        "asked": asked,
        "stages": [s.name for s in shape.stages],
        "sending_ended_at": shape.sending_ended_at,
        "knee": getattr(shape, "knee_step", None),
        "broken": getattr(shape, "broken_step", None),
        "after_reset": after_reset,
    }


def main() -> None:
    scenarios = json.loads(sys.stdin.read())
    json.dump({s["id"]: run(s) for s in scenarios}, sys.stdout)


if __name__ == "__main__":
    main()
