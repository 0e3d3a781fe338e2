"""Read a conformance run directory and a load run directory into the report's typed data.

Conformance run directory (written by ``lienthong conformance --out DIR``)::

    cucumber.json    pytest-bdd Cucumber JSON: features → elements (scenarios) with tags and steps
    outcomes.jsonl   the runner's progress events (one "result" line per scenario; optional)
    junit.xml        JUnit XML (optional)
    evidence.jsonl   the hub's evidence log, one JSON object per line, tagged with the scenario (optional)
    run.json         {"sut", "kind", "defects", "started", "finished", "exit_code"} (optional;
                     summary.json, the runner's own summary, is read when run.json is absent)
    packages/        exchanged packages (optional; copied into the report's evidence/)

**Scenario outcomes are merged from every source**, because pytest-bdd's Cucumber JSON alone cannot be
trusted with skips: a scenario skipped during its steps (``NOT APPLICABLE: …``) is written there with
every step "passed", and one skipped or failed during setup is not written at all. The runner's
``outcomes.jsonl`` is authoritative when present; ``junit.xml`` (which records skips and their reasons)
and ``cucumber.json`` fill in, and when two sources disagree the more failing outcome wins (with a
warning). Scenarios are matched across files by their pytest test id (``test_x[param]``).

Load run directory (written by ``lienthong load --out DIR``): ``slo.json`` (required) and Locust's
``locust_stats_history.csv`` / ``locust_stats.csv`` (optional, for the charts and the endpoint table).

Everything wrong with an input raises :class:`ReportInputError` naming the file and the field.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import hashlib
import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from simulator.edxml.vntime import VN_TZ
from simulator.report.model import (
    OUTCOMES,
    ConformanceRun,
    EndpointStat,
    EvidenceGroup,
    EvidenceRow,
    HistoryPoint,
    LatencyStats,
    LoadResults,
    Outcome,
    ScenarioResult,
    SloResult,
    SutIdentity,
)

if TYPE_CHECKING:
    from simulator.sut.config import SutConfig

__all__ = [
    "MAX_HISTORY_POINTS",
    "NA_PREFIX",
    "ConformanceInput",
    "ReportInputError",
    "clean_message",
    "make_anchor",
    "read_conformance",
    "read_load",
    "reference_sut",
    "suite_coverage",
    "sut_from_config",
    "sut_identity",
]

NA_PREFIX = "NOT APPLICABLE:"
MAX_HISTORY_POINTS = 600
"""Load history is down-sampled to at most this many points (charts and report.json)."""

_REQ_TAG = re.compile(r"^(?:QD28|VPCP19|CT15|EDXML|VXP|OPS)-")
_TC_TAG = re.compile(r"^TC-[A-Z]+-\d{3}$")
_UUID = re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b")
_EXC_PREFIX = re.compile(r"^(?:[A-Za-z_][\w]*\.)*ConformanceFailure: ")
_RANK: dict[str, int] = {"passed": 0, "not-applicable": 1, "skipped": 2, "error": 3, "failed": 4}
_SOURCE_PRIORITY = ("outcomes.jsonl", "junit.xml", "cucumber.json")
_MAX_MESSAGE = 8000
_CAP_FAILED = 40
_CAP_OTHER = 8
_CAP_REFERENCED = 120
_FINDING_CHARS = 400


class ReportInputError(ValueError):
    """A run directory cannot be read into a report; the message names the file, the field and the fix."""


@dataclass
class ConformanceInput:
    run: ConformanceRun
    scenarios: list[ScenarioResult]
    evidence: list[EvidenceGroup]
    warnings: list[str] = field(default_factory=list)
    packages_dir: Path | None = None


# ----------------------------------------------------------------------------- small helpers


def _read_json(path: Path, what: str) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ReportInputError(f"{path}: {what} is missing") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ReportInputError(f"{path}: cannot read {what} ({exc})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReportInputError(
            f"{path}: {what} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
            "the file is truncated or corrupted — rerun the step that writes it"
        ) from None


def _expect(value: Any, kind: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(value, kind) or (isinstance(value, bool) and kind in (int, float, (int, float))):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise ReportInputError(f"{where}: expected {names}, found {type(value).__name__} {value!r:.60}")
    return value


def clean_message(text: str) -> str:
    """A readable failure message: the ``E   `` lines of a pytest traceback when there are any, without
    the ``…ConformanceFailure: `` prefix, cut at a sane length."""
    lines = text.splitlines()
    e_lines = [ln[4:] if ln.startswith("E   ") else ln[1:].lstrip() for ln in lines if ln.startswith("E ")]
    if e_lines:
        lines = e_lines
    out = "\n".join(lines).strip()
    out = _EXC_PREFIX.sub("", out, count=1)
    if len(out) > _MAX_MESSAGE:
        out = out[: _MAX_MESSAGE - 1] + "…"
    return out


def _test_id(nodeid_or_id: str) -> str:
    """``test_receive.py::test_x[p]`` → ``test_x[p]``."""
    return nodeid_or_id.rsplit("::", 1)[-1]


def _stem_of_module(module: str) -> str:
    """``features/test_receive.py`` → ``receive``."""
    return Path(module).name.removesuffix(".py").removeprefix("test_")


def make_anchor(prefix: str, key: str) -> str:
    """A stable HTML id for ``key``: its ASCII letters plus a short hash (keys hold Vietnamese text)."""
    ascii_part = re.sub(r"[^A-Za-z0-9_-]+", "-", key).strip("-")[:40]
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:8]
    return f"{prefix}-{ascii_part}-{digest}"


def _iso_from_epoch(value: float) -> str:
    return dt.datetime.fromtimestamp(value, VN_TZ).isoformat(timespec="seconds")


# ----------------------------------------------------------------------------- scenario records


@dataclass
class _Rec:
    stem: str
    test_id: str
    tc: str = ""
    name: str = ""
    feature: str = ""
    requirements: set[str] = field(default_factory=set)
    defect: str | None = None
    duration: float = 0.0
    by_source: dict[str, tuple[Outcome, str]] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.stem}::{self.test_id}"


class _Records:
    """Scenario records keyed by ``<stem>::<test id>``.

    Cucumber JSON names the feature file, the other sources the pytest module (``test_<stem>.py``); by
    convention the stems agree. A lookup from another source (``fuzzy``) also accepts the one record
    with the same test id under another stem.
    """

    def __init__(self) -> None:
        self.items: dict[str, _Rec] = {}
        self._by_test_id: dict[str, list[str]] = {}

    def find(self, test_id: str, stem: str, *, fuzzy: bool = True) -> _Rec | None:
        key = f"{stem}::{test_id}"
        if key in self.items:
            return self.items[key]
        candidates = self._by_test_id.get(test_id, [])
        if fuzzy and len(candidates) == 1:
            return self.items[candidates[0]]
        return None

    def get(self, stem: str, test_id: str, *, fuzzy: bool = True) -> _Rec:
        found = self.find(test_id, stem, fuzzy=fuzzy)
        if found is not None:
            return found
        rec = _Rec(stem=stem, test_id=test_id)
        self.items[rec.key] = rec
        self._by_test_id.setdefault(test_id, []).append(rec.key)
        return rec


def _tag_names(tags: Any, where: str) -> list[str]:
    out = []
    for i, tag in enumerate(_expect(tags or [], list, where)):
        name = tag.get("name") if isinstance(tag, dict) else tag
        out.append(str(_expect(name, str, f"{where}[{i}].name")).lstrip("@"))
    return out


def _read_cucumber(path: Path, records: _Records) -> None:
    data = _read_json(path, "the Cucumber JSON of the conformance run")
    features = _expect(data, list, f"{path.name}: top level (a list of features)")
    for fi, feature in enumerate(features):
        fwhere = f"{path.name}: features[{fi}]"
        _expect(feature, dict, fwhere)
        uri = str(feature.get("uri") or feature.get("id") or "")
        fname = Path(uri).name or f"feature-{fi}"
        stem = fname.removesuffix(".feature")
        feature_tags = _tag_names(feature.get("tags"), f"{fwhere}.tags")
        for ei, element in enumerate(_expect(feature.get("elements", []), list, f"{fwhere}.elements")):
            ewhere = f"{fwhere}.elements[{ei}]"
            _expect(element, dict, ewhere)
            if element.get("type", "scenario") != "scenario":
                continue  # a Background
            test_id = str(_expect(element.get("id", ""), str, f"{ewhere}.id")) or f"scenario-{ei}"
            tags = _tag_names(element.get("tags"), f"{ewhere}.tags") + feature_tags
            rec = records.get(stem, test_id, fuzzy=False)
            rec.feature = rec.feature or fname
            rec.name = str(element.get("name") or rec.name or test_id)
            rec.requirements |= {t for t in tags if _REQ_TAG.match(t)}
            tc = next((t for t in tags if _TC_TAG.match(t)), "")
            rec.tc = rec.tc or tc
            steps = _expect(element.get("steps", []), list, f"{ewhere}.steps")
            outcome: Outcome = "passed" if steps else "skipped"
            message = "" if steps else "the scenario recorded no step"
            duration = 0.0
            for si, step in enumerate(steps):
                swhere = f"{ewhere}.steps[{si}]"
                result = _expect(_expect(step, dict, swhere).get("result", {}), dict, f"{swhere}.result")
                status = result.get("status")
                if not isinstance(result.get("duration", 0), int | float):
                    raise ReportInputError(f"{swhere}.result.duration: expected a number of nanoseconds")
                duration += float(result.get("duration", 0) or 0) / 1e9
                text = str(result.get("error_message") or "")
                if status == "failed":
                    if outcome != "failed":
                        outcome, message = "failed", clean_message(text)
                    elif not message and text:
                        message = clean_message(text)
                elif status == "skipped" and outcome == "passed":
                    reason = text.strip()
                    outcome = "not-applicable" if reason.startswith(NA_PREFIX) else "skipped"
                    message = reason or "skipped without a reason"
                elif status not in ("passed", "failed", "skipped", "undefined", "pending"):
                    raise ReportInputError(
                        f"{swhere}.result.status: {status!r} is not a Cucumber step status "
                        "(passed, failed, skipped)"
                    )
                elif status in ("undefined", "pending") and outcome == "passed":
                    outcome, message = "error", f"step «{step.get('name', '')}» is {status} in the suite"
            rec.duration = max(rec.duration, duration)
            rec.by_source["cucumber.json"] = (outcome, message)


def _read_outcomes(path: Path, records: _Records, warnings: list[str]) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    bad = 0
    with path.open("r", encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if not line.strip():
                continue
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                bad += 1
                continue
            if isinstance(event, dict):
                events.append(event)
    if bad:
        warnings.append(f"{path.name}: {bad} line(s) are not JSON and were ignored")
    for event in events:
        if event.get("event") != "result":
            continue
        nodeid = str(event.get("nodeid") or "")
        test_id = _test_id(nodeid)
        stem = _stem_of_module(nodeid.split("::", 1)[0]) if "::" in nodeid else ""
        rec = records.get(stem, test_id)
        outcome = str(event.get("outcome", "error"))
        if outcome not in OUTCOMES:
            warnings.append(f"{path.name}: {nodeid}: unknown outcome {outcome!r}, taken as an error")
            outcome = "error"
        rec.by_source["outcomes.jsonl"] = (
            cast(Outcome, outcome),
            clean_message(str(event.get("message") or "")),
        )
        rec.tc = str(event.get("tc") or rec.tc)
        rec.name = rec.name or str(event.get("name") or "")
        rec.feature = rec.feature or str(event.get("feature") or "")
        rec.requirements |= {str(r) for r in event.get("requirements") or ()}
        rec.defect = event.get("defect") or rec.defect
        if isinstance(event.get("duration"), int | float):
            rec.duration = max(rec.duration, float(event["duration"]))
    return events


def _read_junit(path: Path, records: _Records, warnings: list[str]) -> None:
    from simulator.edxml.xmlsafe import UnsafeXmlError, safe_fromstring

    try:
        root = safe_fromstring(path.read_bytes())
    except (UnsafeXmlError, ValueError) as exc:
        warnings.append(f"{path.name}: not readable as XML ({exc}); its outcomes were not used")
        return
    for case in root.iter("testcase"):
        test_id = case.get("name") or ""
        if not test_id:
            continue
        classname = case.get("classname") or ""
        stem = classname.rsplit(".", 1)[-1].removeprefix("test_") if classname else ""
        rec = records.get(stem, test_id)
        outcome: Outcome = "passed"
        message = ""
        for child in case:
            tag = child.tag if isinstance(child.tag, str) else ""
            text = child.get("message") or (child.text or "")
            if tag == "failure" and _RANK["failed"] > _RANK[outcome]:
                outcome, message = "failed", clean_message(text)
            elif tag == "error" and _RANK["error"] > _RANK[outcome]:
                outcome, message = "error", clean_message(text)
            elif tag == "skipped" and outcome == "passed":
                reason = text.strip().removeprefix("Skipped: ")
                outcome = "not-applicable" if reason.startswith(NA_PREFIX) else "skipped"
                message = reason
            elif tag == "properties":
                for prop in child:
                    if prop.get("name") == "tc" and not rec.tc:
                        rec.tc = prop.get("value") or ""
                    elif prop.get("name") == "requirements":
                        rec.requirements |= set((prop.get("value") or "").split())
        rec.by_source["junit.xml"] = (outcome, message)
        rec.name = rec.name or test_id
        with contextlib.suppress(ValueError):
            rec.duration = max(rec.duration, float(case.get("time") or 0))


def _merge(rec: _Rec, warnings: list[str]) -> tuple[Outcome, str, list[str]]:
    """One outcome and message from every source that reported the scenario (module docstring)."""
    sources = [s for s in _SOURCE_PRIORITY if s in rec.by_source]
    if "outcomes.jsonl" in rec.by_source:
        outcome = rec.by_source["outcomes.jsonl"][0]
        worse = [s for s in sources if _RANK[rec.by_source[s][0]] > _RANK[outcome]]
        if worse:
            worst = max(worse, key=lambda s: _RANK[rec.by_source[s][0]])
            warnings.append(
                f"{rec.tc or rec.key}: outcomes.jsonl says {outcome} but {worst} says "
                f"{rec.by_source[worst][0]}; the report takes {rec.by_source[worst][0]}"
            )
            outcome = rec.by_source[worst][0]
    else:
        outcome = max((rec.by_source[s][0] for s in sources), key=lambda o: _RANK[o])
    agreeing = [rec.by_source[s][1] for s in sources if rec.by_source[s][0] == outcome]
    runner = rec.by_source.get("outcomes.jsonl")
    if runner is not None and runner[0] == outcome and runner[1]:
        message = runner[1]
    else:  # the fullest text: Cucumber's E-lines usually, junit's message attribute otherwise
        message = max(agreeing, key=len, default="")
    return outcome, message, sources


# ----------------------------------------------------------------------------- evidence


def _iter_evidence(path: Path, warnings: list[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    bad = 0
    with path.open("r", encoding="utf-8", errors="replace") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                bad += 1
                continue
            if isinstance(row, dict):
                yield lineno, row
            else:
                bad += 1
    if bad:
        warnings.append(f"{path.name}: {bad} line(s) are not JSON objects and were ignored")


def _interesting(row: Mapping[str, Any]) -> bool:
    status = row.get("http_status")
    code = str(row.get("error_code") if row.get("error_code") is not None else "0")
    op = str(row.get("operation") or "")
    return bool(
        row.get("doc_ids")
        or row.get("findings")
        or (isinstance(status, int) and status >= 400)
        or code not in ("0", "")
        or op.startswith(("fault", "control"))
    )


def _evidence_row(lineno: int, row: Mapping[str, Any], referenced: bool) -> EvidenceRow:
    raw_detail = row.get("detail")
    detail: dict[str, Any] = raw_detail if isinstance(raw_detail, dict) else {}
    to = detail.get("to")
    findings = []
    for f in row.get("findings") or []:
        if isinstance(f, dict):
            text = f"[{f.get('requirement', '?')}] {f.get('message', '')}"
            findings.append(text if len(text) <= _FINDING_CHARS else text[: _FINDING_CHARS - 1] + "…")
    status = row.get("http_status")
    return EvidenceRow(
        line=lineno,
        anchor=f"ev-L{lineno}",
        at=str(row.get("at") or ""),
        system=str(row["system"]) if row.get("system") is not None else None,
        operation=str(row.get("operation") or ""),
        http_status=status if isinstance(status, int) and not isinstance(status, bool) else None,
        error_code=str(row["error_code"]) if row.get("error_code") is not None else None,
        doc_ids=[str(d) for d in row.get("doc_ids") or []],
        document_id=str(detail["document_id"]) if detail.get("document_id") else None,
        kind=str(detail["kind"]) if detail.get("kind") else None,
        sender=str(detail["from"]) if detail.get("from") else None,
        recipients=[str(t) for t in to] if isinstance(to, list) else ([str(to)] if to else []),
        findings=findings,
        referenced=referenced,
    )


def _evidence_groups(
    path: Path, scenarios: list[ScenarioResult], records: _Records, warnings: list[str]
) -> tuple[list[EvidenceGroup], dict[str, str]]:
    """Evidence groups and the anchor of each scenario key that has one."""
    by_key = {s.key: s for s in scenarios}
    rows_by_key: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    order: list[str] = []
    for lineno, row in _iter_evidence(path, warnings):
        nodeid = str(row.get("scenario") or "")
        if nodeid:
            stem = _stem_of_module(nodeid.split("::", 1)[0]) if "::" in nodeid else ""
            rec = records.find(_test_id(nodeid), stem)
            key = rec.key if rec is not None else f"{stem}::{_test_id(nodeid)}"
        else:
            key = "(outside any scenario)"
        if key not in rows_by_key:
            rows_by_key[key] = []
            order.append(key)
        rows_by_key[key].append((lineno, row))
    groups = []
    anchors: dict[str, str] = {}
    for key in order:
        rows = rows_by_key[key]
        scenario = by_key.get(key)
        message = scenario.message if scenario else ""
        mentioned = {u.lower() for u in _UUID.findall(message)}
        failing = scenario is not None and scenario.outcome in ("failed", "skipped", "error")
        cap = _CAP_FAILED if failing else _CAP_OTHER
        picked: dict[int, EvidenceRow] = {}
        for lineno, row in rows:
            ids = {str(d).lower() for d in row.get("doc_ids") or []}
            doc = (
                str((row.get("detail") or {}).get("document_id") or "")
                if isinstance(row.get("detail"), dict)
                else ""
            )
            if (ids & mentioned or (doc and doc in message)) and len(picked) < _CAP_REFERENCED:
                picked[lineno] = _evidence_row(lineno, row, True)
        budget = max(cap - len(picked), 0)
        for lineno, row in rows:
            if budget <= 0:
                break
            if lineno not in picked and _interesting(row):
                picked[lineno] = _evidence_row(lineno, row, False)
                budget -= 1
        if not picked:
            continue
        tc = scenario.tc if scenario else str(rows[0][1].get("tc") or "")
        anchor = make_anchor("ev", key)
        anchors[key] = anchor
        groups.append(
            EvidenceGroup(
                anchor=anchor,
                scenario=key,
                tc=tc,
                rows=[picked[n] for n in sorted(picked)],
                total_rows=len(rows),
                omitted=len(rows) - len(picked),
            )
        )
    return groups, anchors


# ----------------------------------------------------------------------------- run metadata


def _run_meta(run_dir: Path, events: list[dict[str, Any]], warnings: list[str]) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    run_json = run_dir / "run.json"
    summary_json = run_dir / "summary.json"
    if run_json.is_file():
        raw = _expect(_read_json(run_json, "the conformance run's run.json"), dict, "run.json")
        for key, kind in (
            ("sut", str),
            ("kind", str),
            ("started", str),
            ("finished", str),
            ("suite_version", str),
            ("problem", str),
        ):
            if raw.get(key) is not None:
                meta[key] = _expect(raw[key], kind, f"run.json: {key}")
        if raw.get("exit_code") is not None:
            meta["exit_code"] = _expect(raw["exit_code"], int, "run.json: exit_code")
        if raw.get("defects") is not None:
            meta["defects"] = [str(d) for d in _expect(raw["defects"], list, "run.json: defects")]
        if raw.get("notes") is not None:
            meta["notes"] = [str(n) for n in _expect(raw["notes"], list, "run.json: notes")]
        meta["source"] = "run.json"
    elif summary_json.is_file():
        raw = _expect(_read_json(summary_json, "the conformance run's summary.json"), dict, "summary.json")
        raw_options = raw.get("options")
        options: dict[str, Any] = raw_options if isinstance(raw_options, dict) else {}
        sut_opt = str(options.get("sut") or "")
        meta["sut"] = str(raw.get("target") or sut_opt or "")
        meta["kind"] = "reference" if sut_opt == "reference" else ("external" if sut_opt else "unknown")
        meta["config"] = sut_opt if sut_opt and sut_opt != "reference" else None
        meta["defects"] = [str(d) for d in options.get("defects") or []]
        if isinstance(raw.get("exit_code"), int):
            meta["exit_code"] = raw["exit_code"]
        if raw.get("problem"):
            meta["problem"] = str(raw["problem"])
        meta["notes"] = [str(n) for n in raw.get("notes") or []]
        meta["source"] = "summary.json"
        warnings.append(
            "the conformance run has no run.json; SUT name, defects and exit code were taken from "
            "summary.json and the start/end times from outcomes.jsonl"
        )
    else:
        warnings.append(
            "the conformance run has neither run.json nor summary.json: the SUT is unnamed and the "
            "run's exit code unknown"
        )
    stamps = [float(e["at"]) for e in events if isinstance(e.get("at"), int | float)]
    if stamps:
        meta.setdefault("started", _iso_from_epoch(min(stamps)))
        meta.setdefault("finished", _iso_from_epoch(max(stamps)))
    return meta


def read_conformance(run_dir: Path, *, suite_version: str) -> ConformanceInput:
    """Read a conformance run directory (see the module docstring)."""
    if not run_dir.is_dir():
        raise ReportInputError(f"{run_dir}: the conformance run directory does not exist")
    warnings: list[str] = []
    records = _Records()
    cucumber = run_dir / "cucumber.json"
    outcomes = run_dir / "outcomes.jsonl"
    junit = run_dir / "junit.xml"
    if not cucumber.is_file() and not outcomes.is_file():
        raise ReportInputError(
            f"{run_dir}: not a conformance run directory: it has neither cucumber.json nor outcomes.jsonl "
            "(write one with `lienthong conformance --out DIR`)"
        )
    sources = []
    if cucumber.is_file():
        _read_cucumber(cucumber, records)
        sources.append("cucumber.json")
    events: list[dict[str, Any]] = []
    if outcomes.is_file():
        events = _read_outcomes(outcomes, records, warnings)
        sources.append("outcomes.jsonl")
    else:
        warnings.append(
            "the conformance run has no outcomes.jsonl: outcomes come from cucumber.json and junit.xml "
            "(pytest-bdd's Cucumber JSON shows a scenario skipped in a step as passed; junit.xml corrects it)"
        )
    if junit.is_file():
        _read_junit(junit, records, warnings)
        sources.append("junit.xml")
    elif not outcomes.is_file():
        warnings.append(
            "neither outcomes.jsonl nor junit.xml is present: NOT APPLICABLE scenarios cannot be told "
            "from passed ones in cucumber.json alone"
        )

    scenarios: list[ScenarioResult] = []
    for rec in records.items.values():
        if not rec.by_source:
            continue
        outcome, message, rec_sources = _merge(rec, warnings)
        scenarios.append(
            ScenarioResult(
                key=rec.key,
                tc=rec.tc,
                name=rec.name or rec.test_id,
                feature=rec.feature or (f"{rec.stem}.feature" if rec.stem else ""),
                requirements=sorted(rec.requirements),
                defect=rec.defect,
                outcome=outcome,
                message=message,
                duration_s=round(rec.duration, 3),
                evidence_anchor=None,
                sources=rec_sources,
            )
        )

    evidence_groups: list[EvidenceGroup] = []
    evidence = run_dir / "evidence.jsonl"
    if evidence.is_file():
        evidence_groups, anchors = _evidence_groups(evidence, scenarios, records, warnings)
        scenarios = [replace(s, evidence_anchor=anchors.get(s.key)) for s in scenarios]
        sources.append("evidence.jsonl")
    else:
        warnings.append("the conformance run has no evidence.jsonl: the report carries no hub evidence")

    meta = _run_meta(run_dir, events, warnings)
    if "source" in meta:
        sources.append(str(meta["source"]))
    counts = Counter(s.outcome for s in scenarios)
    run = ConformanceRun(
        sut=str(meta.get("sut") or ""),
        kind=str(meta.get("kind") or "unknown"),
        defects=list(meta.get("defects") or []),
        started=meta.get("started"),
        finished=meta.get("finished"),
        exit_code=meta.get("exit_code"),
        suite_version=str(meta.get("suite_version") or suite_version),
        scenario_count=len(scenarios),
        counts={o: counts.get(o, 0) for o in OUTCOMES},
        problem=meta.get("problem"),
        notes=list(meta.get("notes") or []),
        sources=sources,
    )
    packages = run_dir / "packages"
    return ConformanceInput(
        run=run,
        scenarios=scenarios,
        evidence=evidence_groups,
        warnings=warnings,
        packages_dir=packages if packages.is_dir() else None,
    )


def sut_identity(run: ConformanceRun, config: str | None = None) -> SutIdentity:
    """The SUT's identity as far as the run directory tells it (``certify`` passes a fuller one)."""
    return SutIdentity(
        name=run.sut or "unnamed system under test",
        kind=run.kind,
        defects=list(run.defects),
        driver="reference" if run.kind == "reference" else None,
        config=config,
    )


def sut_from_config(config: SutConfig) -> SutIdentity:
    """The identity of an external SUT from its ``sut.toml`` (what ``certify --sut FILE`` knows)."""
    return SutIdentity(
        name=config.name,
        kind="external",
        agencies=list(config.hub.agencies),
        system_id=config.hub.system_id,
        driver=config.driver.mode,
        config=str(config.source) if config.source is not None else None,
    )


def reference_sut(defects: Iterable[str] = ()) -> SutIdentity:
    """The identity of the built-in reference QLVB (with its deliberate defects, if any)."""
    names = list(defects)
    label = "reference QLVB" + (f" with defects {', '.join(names)}" if names else "")
    return SutIdentity(name=label, kind="reference", defects=names, driver="reference")


def suite_coverage() -> tuple[dict[str, list[str]], str | None]:
    """Requirement ID → the suite's TC IDs that carry it, read from ``features/``; on failure an empty
    map and the reason (the report then cannot tell "not covered" from "not selected")."""
    try:
        from simulator.conformance.catalog import load_scenarios

        specs = load_scenarios()
    except Exception as exc:  # the suite may be absent in an installed copy: degrade, say why
        return {}, f"the conformance suite's scenarios could not be read ({type(exc).__name__}: {exc})"
    cover: dict[str, list[str]] = {}
    for spec in specs:
        for rid in spec.requirements:
            if spec.tc_id and spec.tc_id not in cover.setdefault(rid, []):
                cover[rid].append(spec.tc_id)
    return cover, None


# ----------------------------------------------------------------------------- load


def _opt_num(raw: Mapping[str, Any], key: str, where: str, kind: type = float) -> Any:
    value = raw.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ReportInputError(f"{where}: {key}: expected a number, found {value!r:.60}")
    if kind is int:
        return int(value)
    return float(value) if math.isfinite(float(value)) else None


def _latency(raw: Any, where: str) -> LatencyStats:
    _expect(raw, dict, where)
    return LatencyStats(
        count=_opt_num(raw, "count", where, int) or 0,
        p50=_opt_num(raw, "p50", where),
        p95=_opt_num(raw, "p95", where),
        p99=_opt_num(raw, "p99", where),
        max=_opt_num(raw, "max", where),
    )


def _slo(raw: Any, where: str) -> SloResult:
    _expect(raw, dict, where)
    sid = _expect(raw.get("id"), str, f"{where}.id")
    passed = raw.get("passed")
    if not isinstance(passed, bool):
        raise ReportInputError(f"{where}.passed: expected true or false, found {passed!r:.60}")
    return SloResult(
        id=sid,
        name=str(raw.get("name") or sid),
        value=_opt_num(raw, "value", where),
        threshold=_opt_num(raw, "threshold", where),
        unit=str(raw.get("unit") or ""),
        comparison=str(raw.get("comparison") or ""),
        passed=passed,
        detail=str(raw.get("detail") or ""),
    )


def _num_cell(text: str | None) -> float | None:
    if text is None:
        return None
    text = text.strip()
    if not text or text.upper() == "N/A":
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _csv_rows(path: Path, required: Iterable[str]) -> list[dict[str, str]]:
    with path.open("r", encoding="utf-8", errors="replace", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in required if c not in (reader.fieldnames or [])]
        if missing:
            raise ReportInputError(
                f"{path}: not a Locust CSV as expected: column(s) {', '.join(missing)} missing "
                f"(found {', '.join(reader.fieldnames or []) or 'no header'})"
            )
        return list(reader)


def _history(path: Path) -> tuple[list[HistoryPoint], int]:
    rows = _csv_rows(path, ("Timestamp", "Name", "Requests/s", "Failures/s"))
    points: list[HistoryPoint] = []
    t0: float | None = None
    for row in rows:
        if row.get("Name") != "Aggregated":
            continue
        ts = _num_cell(row.get("Timestamp"))
        if ts is None:
            continue
        t0 = ts if t0 is None else t0
        points.append(
            HistoryPoint(
                t_s=ts - t0,
                users=int(_num_cell(row.get("User Count")) or 0),
                rps=_num_cell(row.get("Requests/s")) or 0.0,
                fps=_num_cell(row.get("Failures/s")) or 0.0,
                p50_ms=_num_cell(row.get("50%")),
                p95_ms=_num_cell(row.get("95%")),
            )
        )
    return _downsample(points), len(points)


def _downsample(points: list[HistoryPoint]) -> list[HistoryPoint]:
    if len(points) <= MAX_HISTORY_POINTS:
        return points
    size = math.ceil(len(points) / MAX_HISTORY_POINTS)
    out = []
    for i in range(0, len(points), size):
        chunk = points[i : i + size]
        p50s = [p.p50_ms for p in chunk if p.p50_ms is not None]
        p95s = [p.p95_ms for p in chunk if p.p95_ms is not None]
        out.append(
            HistoryPoint(
                t_s=chunk[0].t_s,
                users=max(p.users for p in chunk),
                rps=sum(p.rps for p in chunk) / len(chunk),
                fps=sum(p.fps for p in chunk) / len(chunk),
                p50_ms=sum(p50s) / len(p50s) if p50s else None,
                p95_ms=max(p95s) if p95s else None,
            )
        )
    return out


def _endpoints(path: Path) -> list[EndpointStat]:
    rows = _csv_rows(path, ("Type", "Name", "Request Count", "Failure Count"))
    return [
        EndpointStat(
            type=row.get("Type") or "",
            name=row.get("Name") or "",
            requests=int(_num_cell(row.get("Request Count")) or 0),
            failures=int(_num_cell(row.get("Failure Count")) or 0),
            median_ms=_num_cell(row.get("Median Response Time")),
            p95_ms=_num_cell(row.get("95%")),
            avg_ms=_num_cell(row.get("Average Response Time")),
            rps=_num_cell(row.get("Requests/s")),
        )
        for row in rows
    ]


def read_load(load_dir: Path) -> tuple[LoadResults, list[str]]:
    """Read a load run directory; returns the results (``files`` empty: the builder fills it) and warnings."""
    if not load_dir.is_dir():
        raise ReportInputError(f"{load_dir}: the load run directory does not exist")
    warnings: list[str] = []
    path = load_dir / "slo.json"
    raw = _expect(_read_json(path, "the load run's SLO measurements (slo.json)"), dict, "slo.json")
    where = "slo.json"
    profile = _expect(raw.get("profile"), str, f"{where}: profile")
    slos_raw = _expect(raw.get("slos"), list, f"{where}: slos")
    passed = raw.get("passed")
    if not isinstance(passed, bool):
        raise ReportInputError(f"{where}: passed: expected true or false, found {passed!r:.60}")
    latency_raw = raw.get("latency") or {}
    _expect(latency_raw, dict, f"{where}: latency")
    cpu_raw = raw.get("cpu_s") or {}
    _expect(cpu_raw, dict, f"{where}: cpu_s")
    history: list[HistoryPoint] = []
    history_rows = 0
    hist_path = load_dir / "locust_stats_history.csv"
    if hist_path.is_file():
        history, history_rows = _history(hist_path)
    else:
        warnings.append("the load run has no locust_stats_history.csv: no throughput/latency charts")
    stats_path = load_dir / "locust_stats.csv"
    endpoints = _endpoints(stats_path) if stats_path.is_file() else []
    results = LoadResults(
        profile=profile,
        started=str(raw["started"]) if raw.get("started") is not None else None,
        ended=str(raw["ended"]) if raw.get("ended") is not None else None,
        duration_s=_opt_num(raw, "duration_s", where),
        documents_sent=_opt_num(raw, "documents_sent", where, int),
        documents_to_sut=_opt_num(raw, "documents_to_sut", where, int),
        sustained_docs_per_s=_opt_num(raw, "sustained_docs_per_s", where),
        latency={str(k): _latency(v, f"{where}: latency.{k}") for k, v in latency_raw.items()},
        errors=_opt_num(raw, "errors", where, int),
        error_rate=_opt_num(raw, "error_rate", where),
        duplicates=_opt_num(raw, "duplicates", where, int),
        lost=_opt_num(raw, "lost", where, int),
        cpu_s={str(k): float(_opt_num(cpu_raw, k, f"{where}: cpu_s") or 0.0) for k in cpu_raw},
        slos=[_slo(s, f"{where}: slos[{i}]") for i, s in enumerate(slos_raw)],
        passed=passed,
        history=history,
        history_rows=history_rows,
        endpoints=endpoints,
        files=[],
    )
    return results, warnings
