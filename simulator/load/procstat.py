"""CPU time of process trees from ``/proc`` (Linux), sampled over a run.

:class:`CpuMeter` follows named process trees (e.g. ``hub``, ``locust``, ``sut``: a root pid and every
descendant, found through ``/proc/<pid>/stat``'s parent pid). Each :meth:`CpuMeter.sample` records the
CPU seconds (user + system) each tree used since the meter started: a process seen at the start
counts from its value then, a process born later from zero, and a process that ended keeps its last
sampled value (so at most one sampling interval of a short-lived process is missed).
:meth:`CpuMeter.between` interpolates the samples to get the CPU used in a wall-clock window.
On systems without ``/proc`` every figure is ``None``.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["CpuMeter", "proc_table", "tree_pids"]

_TICK = float(os.sysconf("SC_CLK_TCK")) if hasattr(os, "sysconf") else 100.0


def proc_table() -> dict[int, tuple[int, float]]:
    """pid → (parent pid, CPU seconds user+system) of every live process; empty without ``/proc``."""
    table: dict[int, tuple[int, float]] = {}
    try:
        entries = list(os.scandir("/proc"))
    except OSError:
        return table
    for entry in entries:
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                raw = fh.read().decode("ascii", "replace")
        except OSError:
            continue
        rest = raw[raw.rindex(")") + 2 :].split()
        table[int(entry.name)] = (int(rest[1]), (int(rest[11]) + int(rest[12])) / _TICK)
    return table


def tree_pids(root: int, table: Mapping[int, tuple[int, float]]) -> set[int]:
    """``root`` and its live descendants."""
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    pids = {root} if root in table else set()
    frontier = [root]
    while frontier:
        for child in children.get(frontier.pop(), ()):
            if child not in pids:
                pids.add(child)
                frontier.append(child)
    return pids


@dataclass
class CpuMeter:
    """CPU seconds of named process trees since the meter's first sample (see the module docstring)."""

    roots: dict[str, int] = field(default_factory=dict)
    samples: list[tuple[float, dict[str, float]]] = field(default_factory=list)
    _base: dict[int, float] = field(default_factory=dict)
    _last: dict[str, dict[int, float]] = field(default_factory=dict)
    _started: bool = False

    def watch(self, name: str, pid: int) -> None:
        self.roots[name] = pid

    def sample(self, now: float | None = None) -> dict[str, float]:
        """Record one sample (wall-clock ``time.time()``); returns the cumulative CPU per tree."""
        table = proc_table()
        first = not self._started
        self._started = True
        totals: dict[str, float] = {}
        for name, root in self.roots.items():
            seen = self._last.setdefault(name, {})
            for pid in tree_pids(root, table):
                cpu = table[pid][1]
                if first:
                    self._base[pid] = cpu
                seen[pid] = cpu - self._base.get(pid, 0.0)
            totals[name] = sum(seen.values())
        self.samples.append((time.time() if now is None else now, totals))
        return totals

    def between(self, start: float, end: float) -> dict[str, float | None]:
        """CPU seconds each tree used between two wall-clock times (interpolated; None if unknown)."""
        return {name: self._delta(name, start, end) for name in self.roots}

    def _at(self, name: str, when: float) -> float | None:
        points = [(t, v[name]) for t, v in self.samples if name in v]
        if not points or when < points[0][0] - 2.0 or when > points[-1][0] + 2.0:
            return None
        if when <= points[0][0]:
            return points[0][1]
        for (t0, v0), (t1, v1) in itertools.pairwise(points):
            if t0 <= when <= t1:
                return v0 + (v1 - v0) * ((when - t0) / (t1 - t0) if t1 > t0 else 1.0)
        return points[-1][1]

    def _delta(self, name: str, start: float, end: float) -> float | None:
        a, b = self._at(name, start), self._at(name, end)
        if a is None or b is None or not os.path.isdir("/proc"):
            return None
        return round(max(b - a, 0.0), 3)
