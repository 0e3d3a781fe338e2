"""Locust load shapes of the load profiles (``loadtests/profiles.toml``): smoke, province-peak,
national-soak and stress.

Each shape turns its profile's rate curve (:meth:`simulator.load.profiles.LoadProfile.stages`) into
user counts: ``receivers`` receiver users (fixed count, present from the first second to the end) plus
``ceil(rate(t) / sender_rate_per_user)`` sender users while the sending phase lasts. After it comes the
**drain**: only the receivers stay (they keep answering and acknowledging), until ``drained()`` says the
SUT has acknowledged everything or ``drain_s`` passed; then ``tick()`` returns None and Locust stops.

:class:`StressShape` also ends the sending phase early: ``grace_s`` after each step it asks
``step_failed(step_index)`` (the hub-side SLOs of that step) and, at the first step that broke, goes
to the drain. The knee is the last step before it (``events`` keeps what happened, for the report).

The shapes take their profile and callbacks as constructor arguments (tests pass a fake ``clock``);
Locust instantiates the shape of a locustfile without arguments, so ``loadtests/agency_users.py``
defines one :class:`ProfileShape` subclass that builds the right one from the run's configuration.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, ClassVar

from locust import LoadTestShape

from simulator.load.profiles import LoadProfile, ShapeName, Stage

__all__ = [
    "SHAPE_CLASSES",
    "NationalSoakShape",
    "ProfileShapeBase",
    "ProvincePeakShape",
    "SmokeShape",
    "StressShape",
    "shape_for",
]

MAX_SPAWN_RATE = 100.0  # Locust warns above this; user counts change at most once per second anyway


class ProfileShapeBase(LoadTestShape):
    """A profile's load curve + drain as Locust user counts (see the module docstring)."""

    abstract = True
    use_common_options = True  # --run-time is a hard bound of the runner, not the shape's length
    shape_name: ClassVar[ShapeName]

    def __init__(
        self,
        profile: LoadProfile,
        *,
        receivers: int | None = None,
        drained: Callable[[], bool] | None = None,
        clock: Callable[[], float] | None = None,
        min_drain_s: float = 1.0,
    ) -> None:
        super().__init__()
        if profile.shape != self.shape_name:
            profile = dataclasses.replace(profile, shape=self.shape_name)
        self.profile = profile
        self.receivers = profile.receivers if receivers is None else receivers
        self.stages: list[Stage] = profile.stages()
        self.load_s = max((s.end_s for s in self.stages), default=0.0)
        self._drained = drained
        self._clock = clock
        self.min_drain_s = min_drain_s
        self.sending_ended_at: float | None = None  # run time at which sending stopped (None: still on)
        self.finished_at: float | None = None
        self.events: list[dict[str, Any]] = []

    # time ---------------------------------------------------------------------------------------
    def get_run_time(self) -> float:
        if self._clock is not None:
            return self._clock()
        return float(super().get_run_time())

    def reset_time(self) -> None:
        super().reset_time()
        self.sending_ended_at = self.finished_at = None
        self.events.clear()

    # the curve ----------------------------------------------------------------------------------
    def senders_at(self, t: float) -> int:
        return self.profile.senders_for(self.rate_at(t))

    def rate_at(self, t: float) -> float:
        for stage in self.stages:
            if stage.start_s <= t < stage.end_s:
                return stage.rate_at(t)
        return 0.0

    def sending(self, t: float) -> bool:
        """Whether senders run at ``t`` (subclasses may end the sending phase early)."""
        return t < self.load_s

    def _spawn_rate(self, users: int) -> float:
        return float(min(max(users, 1), MAX_SPAWN_RATE))

    def tick(self) -> tuple[int, float] | None:
        t = self.get_run_time()
        if self.finished_at is not None:
            return None
        if self.sending_ended_at is None and self.sending(t):
            users = self.receivers + self.senders_at(t)
            return users, self._spawn_rate(users)
        if self.sending_ended_at is None:
            self.sending_ended_at = min(t, self.load_s)
            self.events.append({"event": "drain", "t": round(t, 3)})
        in_drain = t - self.sending_ended_at
        done = in_drain >= self.min_drain_s and self._drained is not None and self._drained()
        if done or in_drain >= self.profile.drain_s:
            self.finished_at = t
            self.events.append({"event": "end", "t": round(t, 3), "drained": bool(done)})
            return None
        return self.receivers, self._spawn_rate(self.receivers)


class SmokeShape(ProfileShapeBase):
    """A constant rate for the whole (short) sending phase."""

    shape_name = "smoke"


class ProvincePeakShape(ProfileShapeBase):
    """Baseline, a ramp to the 08:00 burst (multiplier × the national mean), the burst, baseline again."""

    shape_name = "province-peak"


class NationalSoakShape(ProfileShapeBase):
    """A short ramp to the national mean rate, then steady for a long time."""

    shape_name = "national-soak"


class StressShape(ProfileShapeBase):
    """Steps of rising rate; the sending phase ends at the first step whose SLOs broke."""

    shape_name = "stress"

    def __init__(
        self,
        profile: LoadProfile,
        *,
        step_failed: Callable[[int], bool] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(profile, **kwargs)
        self._step_failed = step_failed
        self.judged: dict[int, bool] = {}  # step index -> passed
        self.broken_step: int | None = None

    def reset_time(self) -> None:
        super().reset_time()
        self.judged.clear()
        self.broken_step = None

    def sending(self, t: float) -> bool:
        if self.broken_step is not None:
            return False
        grace = self.profile.stress.grace_s
        for i, stage in enumerate(self.stages):
            if i in self.judged or t < stage.end_s + grace or self._step_failed is None:
                continue
            failed = self._step_failed(i)
            self.judged[i] = not failed
            self.events.append({"event": "step", "t": round(t, 3), "step": stage.name, "passed": not failed})
            if failed:
                self.broken_step = i
                return False
        return t < self.load_s

    @property
    def knee_step(self) -> int | None:
        """Index of the last step judged passing before the first broken one (None: none passed)."""
        last: int | None = None
        for i in range(len(self.stages)):
            if self.judged.get(i) is not True:
                break
            last = i
        return last


SHAPE_CLASSES: dict[str, type[ProfileShapeBase]] = {
    cls.shape_name: cls for cls in (SmokeShape, ProvincePeakShape, NationalSoakShape, StressShape)
}


def shape_for(profile: LoadProfile, **kwargs: Any) -> ProfileShapeBase:
    """The shape class of ``profile.shape``, built with ``kwargs`` (``step_failed`` only for stress)."""
    cls = SHAPE_CLASSES[profile.shape]
    if cls is not StressShape:
        kwargs.pop("step_failed", None)
    return cls(profile, **kwargs)
