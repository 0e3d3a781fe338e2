"""loadtests/shapes.py: user counts over (fake) time for every profile shape, the drain, the stress knee.

The shapes are Locust ``LoadTestShape`` classes; importing Locust would monkey-patch this test process,
so the scenarios run in one child process (``_shape_probe.py``) that calls ``tick()`` at the given
times with a fake clock and reports the results. The expectations are computed here from the public
figures, independently of the shape code.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

MEAN = 30_000 / (8 * 3600)  # national mean documents/s
PER_USER = 0.2  # sender_rate_per_user of the shipped profiles
PROBE = Path(__file__).with_name("_shape_probe.py")

SCENARIOS: list[dict[str, Any]] = [
    {
        "id": "smoke",
        "profile": "smoke",
        "duration_s": 10,
        "receivers": 2,
        "drained_at": 10.5,
        "times": [0, 3.3, 9.99, 10.0, 10.6, 11.2, 12],
    },
    {
        "id": "never-drained",
        "profile": "smoke",
        "duration_s": 5,
        "overrides": ["drain_s=7"],
        "times": [6, 11.9, 12.0],
    },
    {
        "id": "province-peak",
        "profile": "province-peak",
        "duration_s": 100,
        "receivers": 4,
        "times": [5, 15, 20, 24.9, 50, 90],
    },
    {"id": "soak", "profile": "national-soak", "receivers": 1, "times": [0, 60, 600, 1799]},
    {
        "id": "users",
        "profile": "province-peak",
        "duration_s": 100,
        "users": 40,
        "receivers": 0,
        "times": [50],
    },
    {
        "id": "stress",
        "profile": "stress",
        "duration_s": 100,
        "overrides": ["stress.steps=5", "stress.grace_s=2"],
        "receivers": 1,
        "fail_step": 2,
        "drained_at": 0,
        "times": [5, 25, 45, 61, 62.5, 64],
    },
    {
        "id": "stress-unjudged",
        "profile": "stress",
        "duration_s": 50,
        "overrides": ["stress.steps=5"],
        "receivers": 0,
        "judge": False,
        "times": [49],
    },
    {"id": "cls-smoke", "profile": "smoke", "cls": "SmokeShape", "times": []},
    {"id": "cls-peak", "profile": "smoke", "duration_s": 100, "cls": "ProvincePeakShape", "times": []},
    {"id": "cls-soak", "profile": "national-soak", "cls": "NationalSoakShape", "times": []},
    {"id": "cls-stress", "profile": "stress", "cls": "StressShape", "times": []},
    {
        "id": "reset",
        "profile": "province-peak",
        "duration_s": 20,
        "overrides": ["drain_s=1"],
        "drained_at": 0,
        "times": [30, 31, 32],
        "reset_after": True,
    },
]


@pytest.fixture(scope="module")
def probe() -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, str(PROBE)],
        input=json.dumps(SCENARIOS),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _senders(rate: float) -> int:
    return math.ceil(rate / PER_USER - 1e-9)


def _users(result: dict[str, Any]) -> list[int | None]:
    return [None if tick is None else tick[0] for _, tick in result["ticks"]]


def test_smoke_constant_users_then_drain_until_drained(probe: dict[str, Any]) -> None:
    r = probe["smoke"]
    receivers, senders = 2, _senders(2.0)  # 2 documents/s at 0.2 each: 10 senders
    assert r["is_load_test_shape"]
    # sending: receivers + senders; drain: receivers only; drained at 10.5 but the drain lasts ≥ 1 s
    assert _users(r) == [12, 12, 12, receivers, receivers, None, None]
    assert receivers + senders == 12
    assert r["ticks"][3][1] == [2, 2.0]  # spawn rate: all at once
    assert r["events"] == [{"event": "drain", "t": 10.0}, {"event": "end", "t": 11.2, "drained": True}]


def test_drain_is_bounded_when_the_sut_never_acknowledges(probe: dict[str, Any]) -> None:
    r = probe["never-drained"]
    assert _users(r)[:2] == [2, 2]  # the smoke profile's 2 receivers
    assert _users(r)[2] is None  # 5 s of sending + 7 s of drain
    assert r["events"][-1]["drained"] is False


def test_province_peak_users_follow_the_burst(probe: dict[str, Any]) -> None:
    senders = [u - 4 for u in _users(probe["province-peak"]) if u is not None]
    baseline, ramp_mid, ramp_end, peak = _senders(MEAN), _senders(5.5 * MEAN), _senders(10 * MEAN), 53
    assert senders[0] == baseline == 6  # 5 s: baseline (the daily mean)
    assert senders[1] == baseline  # 15 s: the ramp starts at the baseline
    assert senders[2] == ramp_mid  # 20 s: half-way up the ramp
    assert baseline < senders[3] <= ramp_end  # 24.9 s: almost at the top
    assert senders[4] == peak == _senders(10 * MEAN)  # 50 s: the 08:00 burst
    assert senders[5] == baseline  # 90 s: back to the baseline


def test_national_soak_ramps_then_holds(probe: dict[str, Any]) -> None:
    assert _users(probe["soak"]) == [1, 1 + _senders(MEAN), 1 + _senders(MEAN), 1 + _senders(MEAN)]


def test_users_option_sets_the_peak(probe: dict[str, Any]) -> None:
    assert probe["users"]["ticks"] == [[50, [40, 40.0]]]


def test_stress_stops_at_the_first_broken_step_and_keeps_the_knee(probe: dict[str, Any]) -> None:
    r = probe["stress"]
    rates = [2 * MEAN * 1.5**i for i in range(5)]  # start 2 × mean, × 1.5 per 20 s step
    users = _users(r)
    assert users[:3] == [1 + _senders(rates[0]), 1 + _senders(rates[1]), 1 + _senders(rates[2])]
    assert len(set(users[:3])) == 3  # rising
    assert users[3] == 1 + _senders(rates[3])  # 61 s: step 4; step 3 (ended at 60 s) not judged yet (grace)
    assert users[4] == 1  # 62.5 s: step 3 broke: senders gone, draining
    assert users[5] is None
    assert r["asked"] == [0, 1, 2]
    assert r["broken"] == 2 and r["knee"] == 1
    assert r["sending_ended_at"] == 62.5
    assert [e["passed"] for e in r["events"] if e["event"] == "step"] == [True, True, False]


def test_stress_without_a_judge_runs_every_step(probe: dict[str, Any]) -> None:
    r = probe["stress-unjudged"]
    assert _users(r) == [_senders(2 * MEAN * 1.5**4)]
    assert r["knee"] is None


def test_each_shape_class_imposes_its_curve(probe: dict[str, Any]) -> None:
    assert probe["cls-smoke"]["stages"] == ["steady"]
    assert probe["cls-peak"]["stages"] == ["baseline", "ramp", "peak", "cool-down"]
    assert probe["cls-soak"]["stages"] == ["ramp", "steady"]
    assert probe["cls-stress"]["stages"] == [f"step-{i}" for i in range(1, 11)]
    assert all(probe[k]["is_load_test_shape"] for k in ("cls-smoke", "cls-peak", "cls-soak", "cls-stress"))


def test_reset_time_restarts_the_shape(probe: dict[str, Any]) -> None:
    r = probe["reset"]
    assert _users(r)[-1] is None  # finished
    assert r["after_reset"] is not None  # and sending again from t = 0
