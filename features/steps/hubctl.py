"""The harness's hold on the simulated hub: faults, clock offset, runtime settings back to normal.

The hub is always the harness's own (an :class:`~simulator.hub.embedded.EmbeddedHub`, also when the SUT
is a vendor's product), so scenarios steer it through its control API (``/control/...`` with the admin
token) and read its evidence in-process.
"""

from __future__ import annotations

from typing import Any

from simulator.agency.client import ControlClient
from simulator.sut.target import SutTarget

__all__ = ["clear_faults", "inject_faults", "reset_hub", "restore_hub", "set_clock_offset"]


def _control(target: SutTarget) -> ControlClient:
    hub = target.hub
    return ControlClient(hub.endpoint, hub.admin_token, verify=hub.client_verify, timeout=10.0)


def reset_hub(target: SutTarget) -> None:
    """Wipe the hub's traffic (packages, deliveries, statuses, evidence; the directory and systems stay),
    clear faults and the clock offset: each scenario starts from a clean hub."""
    with _control(target) as control:
        control.reset(directory="keep", faults="clear", policies="keep", clock="clear")


def inject_faults(target: SutTarget, rules: list[dict[str, Any]]) -> None:
    """Install fault rules (``PUT /control/faults``); every injected fault lands in the evidence."""
    with _control(target) as control:
        control.set_faults(rules)


def clear_faults(target: SutTarget) -> None:
    with _control(target) as control:
        control.clear_faults()


def set_clock_offset(target: SutTarget, offset_s: float) -> None:
    """Run the hub clock ``offset_s`` seconds ahead of real time (all hub timestamps follow it)."""
    target.hub.clock.set(offset_s=offset_s)


def restore_hub(target: SutTarget) -> None:
    """Undo what a scenario may have changed: faults, clock offset."""
    target.hub.clock.reset()
    clear_faults(target)
