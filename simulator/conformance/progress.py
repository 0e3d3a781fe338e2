"""A pytest plugin (``-p simulator.conformance.progress``) that writes one JSON line per event.

``lienthong conformance`` runs the suite in a pytest subprocess and tails this file to show live
progress and to decide the exit code; the same lines are the run's machine-readable outcome list
(``outcomes.jsonl`` in the run directory). Events::

    {"event": "collected", "total": 48}
    {"event": "start", "nodeid": …, "tc": "TC-RECV-001", "name": …, "defect": …}
    {"event": "result", "nodeid": …, "tc": …, "name": …, "feature": …, "requirements": [...],
     "defect": …, "outcome": "passed" | "failed" | "not-applicable" | "error" | "skipped",
     "duration": 0.41, "message": …}
    {"event": "harness", "kind": "usage" | "infrastructure", "message": …}   (then pytest exits)

A scenario skipped with a reason starting ``NOT APPLICABLE:`` is ``not-applicable``; any other skip is
``skipped`` (the runner counts it as a failure: nothing is skipped silently).
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from simulator.conformance.catalog import REQUIREMENT_LIKE, TC_TAG

__all__ = [
    "NA_PREFIX",
    "emit",
    "item_defect",
    "item_requirements",
    "item_scenario_name",
    "item_tc",
    "pytest_addoption",
    "pytest_collection_finish",
    "pytest_runtest_logreport",
    "pytest_runtest_logstart",
]

NA_PREFIX = "NOT APPLICABLE:"
_OPTION = "lienthong_events"
_lock = threading.Lock()
_items: dict[str, pytest.Item] = {}
_phase: dict[str, tuple[str, str, float]] = {}  # nodeid -> (outcome, message, duration so far)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--lienthong-events",
        dest=_OPTION,
        default=None,
        metavar="PATH",
        help="write conformance progress events (JSON lines) to PATH",
    )


def emit(config: pytest.Config, event: dict[str, Any]) -> None:
    """Append one event line (no-op without ``--lienthong-events``)."""
    path = config.getoption(_OPTION, default=None)
    if not path:
        return
    line = json.dumps({**event, "at": time.time()}, ensure_ascii=False)
    with _lock, Path(path).open("a", encoding="utf-8") as fh:
        fh.write(line + "\n")


def item_tc(item: pytest.Item) -> str:
    return next((m.name for m in item.iter_markers() if TC_TAG.match(m.name)), "")


def item_requirements(item: pytest.Item) -> list[str]:
    return sorted({m.name for m in item.iter_markers() if REQUIREMENT_LIKE.match(m.name)})


def item_defect(item: pytest.Item) -> str | None:
    callspec = getattr(item, "callspec", None)
    if callspec is not None and "defect_variant" in callspec.params:
        value = callspec.params["defect_variant"]
        return str(value) if value else None
    return None


def item_scenario_name(item: pytest.Item) -> str:
    doc = getattr(getattr(item, "obj", None), "__doc__", None) or item.name
    name = doc.split(": ", 1)[1] if ": " in doc else doc
    callspec = getattr(item, "callspec", None)
    example = callspec.params.get("_pytest_bdd_example") if callspec is not None else None
    if isinstance(example, dict) and example:
        name += " [" + ", ".join(f"{k}={v}" for k, v in example.items()) + "]"
    return name


def _feature(item: pytest.Item) -> str:
    return item.path.stem.removeprefix("test_") + ".feature"


def pytest_collection_finish(session: pytest.Session) -> None:
    for item in session.items:
        _items[item.nodeid] = item
    emit(session.config, {"event": "collected", "total": len(session.items)})


def pytest_runtest_logstart(nodeid: str, location: tuple[str, int | None, str]) -> None:
    item = _items.get(nodeid)
    if item is None:
        return
    emit(
        item.config,
        {
            "event": "start",
            "nodeid": nodeid,
            "tc": item_tc(item),
            "name": item_scenario_name(item),
            "defect": item_defect(item),
        },
    )


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr or "")


def _failure_text(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    message = getattr(crash, "message", None)
    return str(message) if message else report.longreprtext


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    item = _items.get(report.nodeid)
    if item is None:
        return
    outcome, message, duration = _phase.get(report.nodeid, ("passed", "", 0.0))
    duration += report.duration
    if report.when == "setup":
        if report.skipped:
            reason = _skip_reason(report)
            outcome, message = ("not-applicable" if reason.startswith(NA_PREFIX) else "skipped"), reason
        elif report.failed:
            outcome, message = "error", _failure_text(report)
    elif report.when == "call":
        if report.skipped:
            reason = _skip_reason(report)
            outcome, message = ("not-applicable" if reason.startswith(NA_PREFIX) else "skipped"), reason
        elif report.failed:
            outcome, message = "failed", _failure_text(report)
    elif report.failed and outcome in ("passed", "not-applicable"):
        outcome, message = "error", _failure_text(report)
    _phase[report.nodeid] = (outcome, message, duration)
    if report.when != "teardown":
        return
    emit(
        item.config,
        {
            "event": "result",
            "nodeid": report.nodeid,
            "tc": item_tc(item),
            "name": item_scenario_name(item),
            "feature": _feature(item),
            "requirements": item_requirements(item),
            "defect": item_defect(item),
            "outcome": outcome,
            "duration": round(duration, 3),
            "message": message,
        },
    )
