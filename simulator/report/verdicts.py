"""Per-requirement verdicts and the report's conclusion (pure functions over collected results).

For every row of the requirements catalogue, over the scenarios tagged with its ID and the load run's
SLOs that name it:

* **FAIL** — a tagged scenario failed (or was skipped without a ``NOT APPLICABLE:`` reason: nothing is
  skipped silently), or an SLO with this ID was missed;
* **NOT TESTED** (harness) — no failure, but a tagged scenario could not run (harness error): passing
  siblings do not make up for a check that never happened;
* **PASS** — at least one tagged scenario passed (or SLO met) and none failed;
* **NOT APPLICABLE** — every tagged scenario was not applicable to this SUT (the reasons are listed);
* **NOT TESTED** — nothing carries the ID: "no scenario of suite version X covers it"; for ``OPS-*``
  rows "no load profile was run" (or "the load profile P did not measure it"); when the suite does
  cover it but this run's selection left it out, the row says so and names the scenarios.

Conclusion: **DOES NOT CONFORM** iff a row FAILs; else **INCONCLUSIVE** when the harness broke (a
scenario error, or the conformance run ended with exit code 2/3); else **PARTIAL** when the run's
selection (``--tags``) left out requirements the suite covers (a subset that passes is not a
certification); else **CONFORMS** (NOT TESTED and NOT APPLICABLE rows are listed prominently beside it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from simulator.report.model import (
    Conclusion,
    ConformanceRun,
    LoadResults,
    RequirementRow,
    ScenarioRef,
    ScenarioResult,
    SloResult,
    Summary,
    Verdict,
)
from simulator.requirements import Catalogue

__all__ = ["OPS_PREFIX", "conclude", "failure_gist", "first_line", "requirement_rows", "verdict_for"]

OPS_PREFIX = "OPS-"
_FAILING = ("failed", "skipped")
_REF_MESSAGE_CHARS = 600
_REASON_ITEMS = 4


def first_line(text: str, limit: int = 240) -> str:
    """The first non-empty line of ``text``, cut at ``limit`` characters."""
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def failure_gist(message: str, limit: int = 200) -> str:
    """The gist of a failure message: its ``expected:`` / ``actual:`` lines when it has them (the shape of
    :class:`simulator.conformance.expect.ConformanceFailure`), else its first line."""
    found: dict[str, str] = {}
    for raw in message.splitlines():
        line = raw.strip()
        for key in ("expected:", "actual:"):
            if line.startswith(key) and key not in found:
                found[key] = first_line(line.removeprefix(key).strip(), limit // 2)
    if "expected:" in found and "actual:" in found:
        return f"expected {found['expected:']}; actual {found['actual:']}"
    return first_line(message, limit)


def _short(text: str) -> str:
    lines = [ln for ln in text.splitlines() if ln.strip()][:6]
    out = "\n".join(lines)
    return out if len(out) <= _REF_MESSAGE_CHARS else out[: _REF_MESSAGE_CHARS - 1] + "…"


def _ref(s: ScenarioResult) -> ScenarioRef:
    return ScenarioRef(
        key=s.key,
        tc=s.tc,
        name=s.name,
        outcome=s.outcome,
        message=_short(s.message),
        evidence_anchor=s.evidence_anchor,
    )


def _label(s: ScenarioResult) -> str:
    tc = s.tc or s.key
    return f"{tc} [{s.defect}]" if s.defect else tc


def _na_reason(message: str) -> str:
    return message.removeprefix("NOT APPLICABLE:").strip() or "no reason given"


def _joined(items: Sequence[str]) -> str:
    shown = list(dict.fromkeys(items))
    extra = len(shown) - _REASON_ITEMS
    text = "; ".join(shown[:_REASON_ITEMS])
    return f"{text}; and {extra} more" if extra > 0 else text


def _slo_text(slo: SloResult) -> str:
    if slo.value is None or slo.threshold is None:
        return f"{slo.id} {slo.name}: {slo.detail or ('met' if slo.passed else 'missed')}"
    unit = f" {slo.unit}" if slo.unit else ""
    relation = (
        slo.comparison
        if slo.passed
        else {"<=": ">", ">=": "<", "<": ">=", ">": "<=", "==": "!="}.get(slo.comparison, "vs")
    )
    return f"{slo.name} = {slo.value:g}{unit} {relation} {slo.threshold:g}{unit}"


def verdict_for(
    req_id: str,
    scenarios: Sequence[ScenarioResult],
    slos: Sequence[SloResult],
    *,
    suite_version: str,
    load: LoadResults | None,
    suite_scenarios: Sequence[str] = (),
) -> tuple[Verdict, str]:
    """The verdict of one requirement and the sentence that explains it.

    ``scenarios`` and ``slos`` are the ones tagged with ``req_id``; ``suite_scenarios`` the TC IDs of
    the suite that carry it (to tell "not covered" from "not selected in this run").
    """
    failed = [s for s in scenarios if s.outcome in _FAILING]
    missed = [slo for slo in slos if not slo.passed]
    if failed or missed:
        parts = [
            f"{_label(s)} "
            + ("failed" if s.outcome == "failed" else "was skipped without a NOT APPLICABLE reason")
            + (f": {failure_gist(s.message)}" if s.message else "")
            for s in failed
        ]
        parts += [f"SLO missed: {_slo_text(slo)}" for slo in missed]
        return Verdict.FAIL, _joined(parts)
    errors = [s for s in scenarios if s.outcome == "error"]
    if errors:
        parts = [f"{_label(s)} could not run (harness error): {first_line(s.message, 160)}" for s in errors]
        return Verdict.NOT_TESTED, _joined(parts)
    passed = [s for s in scenarios if s.outcome == "passed"]
    met = [slo for slo in slos if slo.passed]
    if passed or met:
        bits = []
        if passed:
            bits.append(f"{len(passed)} scenario(s) passed ({_joined([_label(s) for s in passed])})")
        if met:
            bits.append("SLO met: " + _joined([_slo_text(slo) for slo in met]))
        na = [s for s in scenarios if s.outcome == "not-applicable"]
        if na:
            bits.append(f"{len(na)} not applicable ({_joined([_label(s) for s in na])})")
        return Verdict.PASS, "; ".join(bits)
    na = [s for s in scenarios if s.outcome == "not-applicable"]
    if na:
        return Verdict.NOT_APPLICABLE, _joined([f"{_label(s)}: {_na_reason(s.message)}" for s in na])
    if req_id.startswith(OPS_PREFIX):
        if load is None:
            return Verdict.NOT_TESTED, "no load profile was run"
        return Verdict.NOT_TESTED, f"the load profile {load.profile!r} did not measure it"
    if suite_scenarios:
        return Verdict.NOT_TESTED, (
            f"not run in this session: the suite covers it with {_joined(list(suite_scenarios))}, "
            "which the run's selection left out"
        )
    return Verdict.NOT_TESTED, f"no scenario of suite version {suite_version} covers it"


def requirement_rows(
    catalogue: Catalogue,
    scenarios: Sequence[ScenarioResult],
    load: LoadResults | None,
    *,
    suite_version: str,
    suite_coverage: Mapping[str, Sequence[str]] | None = None,
) -> list[RequirementRow]:
    """One row per catalogue requirement, in catalogue order."""
    by_req: dict[str, list[ScenarioResult]] = {}
    for s in scenarios:
        for rid in s.requirements:
            by_req.setdefault(rid, []).append(s)
    slos_by_req: dict[str, list[SloResult]] = {}
    for slo in load.slos if load is not None else ():
        slos_by_req.setdefault(slo.id, []).append(slo)
    rows = []
    for rid, req in catalogue.requirements.items():
        tagged = by_req.get(rid, [])
        slos = slos_by_req.get(rid, [])
        verdict, reason = verdict_for(
            rid,
            tagged,
            slos,
            suite_version=suite_version,
            load=load,
            suite_scenarios=list((suite_coverage or {}).get(rid, ())),
        )
        rows.append(
            RequirementRow(
                id=rid,
                source=req.source,
                who=req.who,
                title=req.title,
                text_vi=req.text_vi,
                observe=req.observe,
                verdict=verdict,
                reason=reason,
                scenarios=[_ref(s) for s in tagged],
                slos=list(slos),
            )
        )
    return rows


def conclude(
    rows: Sequence[RequirementRow],
    scenarios: Sequence[ScenarioResult],
    run: ConformanceRun,
    *,
    suite_coverage: Mapping[str, Sequence[str]] | None = None,
) -> Summary:
    """The summary: counts per verdict and the conclusion (see the module docstring)."""
    counts = {v.value: 0 for v in Verdict}
    for row in rows:
        counts[row.verdict.value] += 1
    failed = [r.id for r in rows if r.verdict is Verdict.FAIL]
    problems: list[str] = []
    errors = [s for s in scenarios if s.outcome == "error"]
    if errors:
        problems.append(
            f"{len(errors)} scenario(s) could not run (harness error), first {_label(errors[0])}: "
            f"{first_line(errors[0].message, 200)}"
        )
    if run.exit_code in (2, 3):
        what = "a usage error" if run.exit_code == 2 else "a harness or infrastructure failure"
        problems.append(
            f"the conformance run ended with exit code {run.exit_code} ({what})"
            + (f": {first_line(run.problem, 300)}" if run.problem else "")
        )
    if not scenarios:
        problems.append("the conformance run recorded no scenario")
    coverage = suite_coverage or {}
    not_run = [
        r.id
        for r in rows
        if r.verdict is Verdict.NOT_TESTED and coverage.get(r.id) and not r.scenarios and not r.slos
    ]
    if failed:
        conclusion = Conclusion.DOES_NOT_CONFORM
    elif problems:
        conclusion = Conclusion.INCONCLUSIVE
    elif not_run:
        conclusion = Conclusion.PARTIAL
    else:
        conclusion = Conclusion.CONFORMS
    return Summary(
        conclusion=conclusion,
        counts=counts,
        failed=failed,
        not_tested=[r.id for r in rows if r.verdict is Verdict.NOT_TESTED],
        not_applicable=[r.id for r in rows if r.verdict is Verdict.NOT_APPLICABLE],
        harness_problems=problems,
        not_run=not_run,
    )
