"""Run the Gherkin conformance suite against a target and collect what happened.

:func:`run_conformance` runs ``pytest`` on ``features/`` in a **subprocess** (every run starts from a
clean interpreter: the embedded hub's threads, pytest-bdd's registries and the reference QLVB's state
never leak from one run into the next, and a hung run can be killed) with the progress plugin
:mod:`simulator.conformance.progress`, whose JSON lines it tails to report each scenario as it ends.

One run directory holds::

    cucumber.json     Cucumber JSON (pytest-bdd), one element per scenario example
    junit.xml         JUnit XML, one <testcase> per scenario example (properties: tc, requirements)
    evidence.jsonl    the hub's evidence rows of every scenario (tagged with the scenario and TC ID)
    outcomes.jsonl    the progress events (one "result" line per scenario example)
    pytest.log        pytest's own output
    summary.json      counts, exit code, wall time, target

Exit codes (:class:`RunExit`): 0 every scenario passed (NOT APPLICABLE allowed), 1 a scenario failed
(or was skipped without a NOT APPLICABLE reason), 2 usage error (unknown defect, bad sut.toml, unknown
tag, nothing selected), 3 harness failure (the hub could not start, the driver is unreachable, a step
crashed in the harness itself).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Any, Literal

from simulator.conformance.catalog import (
    check_scenarios,
    features_dir,
    known_tags,
    load_scenarios,
    tag_expression_problems,
)

__all__ = [
    "Event",
    "RunExit",
    "RunOptions",
    "RunResult",
    "ScenarioOutcome",
    "UsageError",
    "default_out_dir",
    "pytest_command",
    "run_conformance",
    "validate_options",
]

Event = dict[str, Any]
_PYTEST_USAGE = 4
_PYTEST_NO_TESTS = 5
_HARNESS = 3
_TAIL_INTERVAL = 0.05


class RunExit(IntEnum):
    PASSED = 0
    FAILED = 1
    USAGE = 2
    HARNESS = 3


class UsageError(ValueError):
    """The run cannot start as asked; the message says what to change (exit code 2)."""


@dataclass(frozen=True, slots=True)
class RunOptions:
    sut: str = "reference"  # "reference" or the path of a sut.toml
    defects: tuple[str, ...] = ()
    tags: str | None = (
        None  # a pytest -m expression over the tags (@ optional): "QD28-9.1 and not TC-SIG-003"
    )
    keyword: str | None = None  # a pytest -k expression over the scenario names
    out_dir: Path | None = None  # default: runs/<timestamp>
    junit: Path | None = None  # default: <out>/junit.xml
    cucumber: Path | None = None  # default: <out>/cucumber.json
    sweep: Literal["map", "all"] | None = None  # self-validation: every scenario once per defect
    sweep_only: tuple[str, ...] = ()  # with sweep: only these defects (to split a sweep across processes)
    status_timeout_s: float | None = None  # override the target's status timeout (self-validation)
    reference_driver: Literal["in-process", "http"] = "in-process"  # http: through its driver API
    timeout_s: float = 1800.0  # the whole run is killed (harness failure) after this
    extra_args: tuple[str, ...] = ()  # more pytest arguments (tests only)


@dataclass(frozen=True, slots=True)
class ScenarioOutcome:
    nodeid: str
    tc: str
    name: str
    feature: str
    requirements: tuple[str, ...]
    defect: str | None
    outcome: str  # passed | failed | not-applicable | error | skipped
    duration: float
    message: str

    @classmethod
    def from_event(cls, event: Event) -> ScenarioOutcome:
        return cls(
            nodeid=str(event.get("nodeid", "")),
            tc=str(event.get("tc", "")),
            name=str(event.get("name", "")),
            feature=str(event.get("feature", "")),
            requirements=tuple(event.get("requirements") or ()),
            defect=event.get("defect"),
            outcome=str(event.get("outcome", "error")),
            duration=float(event.get("duration", 0.0)),
            message=str(event.get("message", "")),
        )


@dataclass(slots=True)
class RunResult:
    exit_code: RunExit
    out_dir: Path
    junit: Path
    cucumber: Path
    evidence: Path
    outcomes: list[ScenarioOutcome] = field(default_factory=list)
    target: str = ""
    notes: list[str] = field(default_factory=list)
    problem: str | None = None  # why the run ended as a usage error / harness failure
    pytest_exit: int | None = None
    wall_s: float = 0.0

    @property
    def counts(self) -> Counter[str]:
        return Counter(o.outcome for o in self.outcomes)

    def summary(self) -> dict[str, Any]:
        return {
            "exit_code": int(self.exit_code),
            "target": self.target,
            "counts": dict(self.counts),
            "scenarios": len(self.outcomes),
            "wall_s": round(self.wall_s, 3),
            "problem": self.problem,
            "pytest_exit": self.pytest_exit,
            "junit": str(self.junit),
            "cucumber": str(self.cucumber),
            "evidence": str(self.evidence),
            "notes": self.notes,
        }


def default_out_dir(base: Path | None = None) -> Path:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return (base or Path("runs")) / stamp


def validate_options(options: RunOptions) -> None:
    """Refuse, before anything starts, what would make the run a usage error."""
    specs = load_scenarios(features_dir())
    problems = check_scenarios(specs)
    if problems:
        raise UsageError("the feature files are mis-tagged: " + "; ".join(problems))
    if options.tags:
        unknown = tag_expression_problems(options.tags, known_tags(specs))
        if unknown:
            raise UsageError(
                f"--tags {options.tags!r}: unknown tag(s) {', '.join(unknown)}; use TC IDs (TC-RECV-001), "
                "requirement IDs (QD28-9.1) or feature topics (receive, send, …)"
            )
    if options.sut == "reference":
        from simulator.sut.defects import UnknownDefectError, check_defects

        try:
            check_defects([*options.defects, *options.sweep_only])
        except UnknownDefectError as exc:
            raise UsageError(f"--defect: {exc}") from None
    else:
        if options.defects:
            raise UsageError(
                "--defect selects variants of the built-in reference QLVB: use it with --sut reference"
            )
        if options.sweep:
            raise UsageError("a defect sweep runs against the reference QLVB only (--sut reference)")
        from simulator.sut.config import SutConfigError, load_sut_config

        try:
            load_sut_config(Path(options.sut))
        except SutConfigError as exc:
            raise UsageError(str(exc)) from None


def _tag_expression(tags: str) -> str:
    """``@QD28-9.1 and not @TC-SIG-003`` → pytest's ``-m`` form (markers carry no ``@``)."""
    spaced = tags.replace("(", " ( ").replace(")", " ) ")
    return " ".join(token.removeprefix("@") for token in spaced.split())


def pytest_command(options: RunOptions, out_dir: Path, events: Path) -> list[str]:
    """The pytest command line of a run (the subprocess runs exactly this)."""
    base = features_dir()
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        str(base),
        "-c",
        str(base / "pytest.ini"),
        "--rootdir",
        str(base),
        "-p",
        "simulator.conformance.progress",
        "--lienthong-events",
        str(events),
        "--sut",
        options.sut,
        "--cucumberjson",
        str(options.cucumber or out_dir / "cucumber.json"),
        "--junitxml",
        str(options.junit or out_dir / "junit.xml"),
        "-o",
        "junit_suite_name=lienthong-conformance",
        "--evidence-out",
        str(out_dir / "evidence.jsonl"),
        "--target-workdir",
        str(out_dir / "target"),
        "-q",
        "--tb=short",
    ]
    for defect in options.defects:
        cmd += ["--defect", defect]
    if options.sweep:
        cmd += ["--defect-sweep", options.sweep]
        if options.sweep_only:
            cmd += ["--defect-sweep-only", ",".join(options.sweep_only)]
    if options.reference_driver != "in-process":
        cmd += ["--reference-driver", options.reference_driver]
    if options.status_timeout_s is not None:
        cmd += ["--status-timeout", f"{options.status_timeout_s:g}"]
    if options.tags:
        cmd += ["-m", _tag_expression(options.tags)]
    if options.keyword:
        cmd += ["-k", options.keyword]
    cmd += list(options.extra_args)
    return cmd


def _read_events(path: Path, offset: int) -> tuple[list[Event], int]:
    try:
        with path.open("rb") as fh:
            fh.seek(offset)
            data = fh.read()
    except FileNotFoundError:
        return [], offset
    end = data.rfind(b"\n")
    if end < 0:
        return [], offset
    events = []
    for line in data[: end + 1].splitlines():
        if line.strip():
            try:
                events.append(json.loads(line))
            except ValueError:
                continue
    return events, offset + end + 1


def _kill(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def run_conformance(options: RunOptions, *, on_event: Callable[[Event], None] | None = None) -> RunResult:
    """Run the suite as ``options`` say; ``on_event`` sees every progress event as it happens.

    Raises :class:`UsageError` for what can be refused before starting; everything later ends up in the
    result's ``exit_code`` and ``problem``.
    """
    validate_options(options)
    out_dir = (options.out_dir or default_out_dir()).absolute()
    out_dir.mkdir(parents=True, exist_ok=True)
    events_path = out_dir / "outcomes.jsonl"
    for stale in ("outcomes.jsonl", "evidence.jsonl"):
        (out_dir / stale).unlink(missing_ok=True)
    result = RunResult(
        exit_code=RunExit.HARNESS,
        out_dir=out_dir,
        junit=(options.junit or out_dir / "junit.xml").absolute(),
        cucumber=(options.cucumber or out_dir / "cucumber.json").absolute(),
        evidence=out_dir / "evidence.jsonl",
    )
    cmd = pytest_command(options, out_dir, events_path)
    env = dict(os.environ)
    root = str(features_dir().parent)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("PYTHONUNBUFFERED", "1")
    started = time.monotonic()
    harness_event: Event | None = None
    offset = 0
    with (out_dir / "pytest.log").open("wb") as log:
        proc = subprocess.Popen(  # noqa: S603 - our own interpreter running pytest on our own suite
            cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True, cwd=out_dir
        )
        timed_out = False
        while True:
            finished = proc.poll() is not None
            events, offset = _read_events(events_path, offset)
            for event in events:
                kind = event.get("event")
                if kind == "result":
                    result.outcomes.append(ScenarioOutcome.from_event(event))
                elif kind == "harness":
                    harness_event = event
                elif kind == "target":
                    result.target = str(event.get("name", ""))
                    result.notes.extend(str(n) for n in event.get("notes") or ())
                if on_event is not None:
                    on_event(event)
            if finished:
                break
            if time.monotonic() - started > options.timeout_s:
                timed_out = True
                _kill(proc)
                continue
            time.sleep(_TAIL_INTERVAL)  # tailing a file: a short poll, bounded by the run's timeout
    result.wall_s = time.monotonic() - started
    result.pytest_exit = proc.returncode
    result.exit_code, result.problem = _verdict(result, harness_event, timed_out, options, out_dir)
    (out_dir / "summary.json").write_text(
        json.dumps({**result.summary(), "options": _jsonable(options)}, ensure_ascii=False, indent=2) + "\n",
        encoding="utf-8",
    )
    return result


def _jsonable(options: RunOptions) -> dict[str, Any]:
    return {
        k: (str(v) if isinstance(v, Path) else list(v) if isinstance(v, tuple) else v)
        for k, v in asdict(options).items()
    }


def _log_tail(out_dir: Path, lines: int = 15) -> str:
    try:
        text = (out_dir / "pytest.log").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])


def _verdict(
    result: RunResult, harness: Event | None, timed_out: bool, options: RunOptions, out_dir: Path
) -> tuple[RunExit, str | None]:
    rc = result.pytest_exit
    if timed_out:
        return RunExit.HARNESS, f"the run did not finish within {options.timeout_s:g} s and was stopped"
    if harness is not None:
        kind = RunExit.USAGE if harness.get("kind") == "usage" else RunExit.HARNESS
        return kind, str(harness.get("message", ""))
    if rc == _PYTEST_USAGE:
        return RunExit.USAGE, "pytest refused the arguments: " + _log_tail(out_dir)
    if rc == _PYTEST_NO_TESTS or (rc == 0 and not result.outcomes):
        what = " and ".join(
            x
            for x in (
                f"--tags {options.tags!r}" if options.tags else "",
                f"-k {options.keyword!r}" if options.keyword else "",
            )
            if x
        )
        return RunExit.USAGE, f"no scenario matches {what or 'the selection'}"
    counts = result.counts
    if counts["error"]:
        first = next(o for o in result.outcomes if o.outcome == "error")
        return (
            RunExit.HARNESS,
            f"{counts['error']} scenario(s) could not run (harness error), first {first.tc}: {first.message}",
        )
    if counts["failed"] or counts["skipped"]:
        return RunExit.FAILED, None
    if rc != 0:  # pytest failed although no scenario did: the harness itself broke
        return RunExit.HARNESS, f"pytest ended with exit code {rc}: " + _log_tail(out_dir)
    return RunExit.PASSED, None
