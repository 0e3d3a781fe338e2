"""The report's summary in the terminal (``lienthong report show``, and the end of ``certify``).

Works on the parsed ``report.json`` (a dict checked against ``schema.json``) so that it shows any
report on disk, not only one built in this process.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from simulator.report.schema import validate
from simulator.report.verdicts import failure_gist
from simulator.report.verify import VerifyReport

__all__ = ["ReportJsonError", "load_report_json", "print_summary", "print_verify"]

_VERDICT_STYLE = {"PASS": "bold green", "FAIL": "bold red", "NOT APPLICABLE": "yellow", "NOT TESTED": "dim"}
_CONCLUSION_STYLE = {
    "CONFORMS": "bold white on green",
    "DOES NOT CONFORM": "bold white on red",
    "INCONCLUSIVE": "bold white on magenta",
    "PARTIAL": "bold black on yellow",
}


class ReportJsonError(ValueError):
    """report.json is missing, unreadable or does not match schema.json."""


def load_report_json(directory: Path) -> dict[str, Any]:
    path = directory / "report.json"
    if not path.is_file():
        raise ReportJsonError(f"{path}: missing; is {directory} a report directory (reports/<session-id>)?")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReportJsonError(f"{path}: not valid JSON ({exc}); the file is truncated or corrupted") from None
    problems = validate(data)
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise ReportJsonError(f"{path}: does not match schema.json: {'; '.join(problems[:3])}{more}")
    result: dict[str, Any] = data
    return result


def _first_line(text: str, limit: int = 160) -> str:
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _plain(text: str, style: str = "") -> Text:
    """Text shown as is: run data may hold brackets that rich would take for markup."""
    return Text(text, style=style)


def print_summary(report: dict[str, Any], console: Console, *, integrity: VerifyReport | None = None) -> None:
    """Verdict, counts per verdict, FAIL rows with their failing scenarios, NOT TESTED rows, load SLOs."""
    summary = report["summary"]
    sut = report["sut"]
    console.print(
        Text.assemble(
            ("lienthong report ", "bold"),
            (report["session_id"], "bold cyan"),
            (
                f" — {sut['name']}"
                + (
                    f" (defects: {', '.join(sut['defects'])})"
                    if sut["defects"] and not all(d in sut["name"] for d in sut["defects"])
                    else ""
                ),
                "",
            ),
        )
    )
    console.print(
        _plain(
            f"created {report['created']} · harness {report['harness_version']} · catalogue "
            f"{report['catalogue_version']} · suite {report['suite_version']} · "
            f"signed by {report['signer']['subject']}"
        )
    )
    if integrity is not None:
        if integrity.ok:
            trust = (
                "signer trusted"
                if integrity.trusted
                else "signer NOT checked against a trust store"
                if integrity.trusted is None
                else "signer untrusted"
            )
            console.print(Text(f"integrity: OK ({integrity.files_checked} files, {trust})", style="green"))
        else:
            console.print(
                Text(
                    f"integrity: the report does NOT verify ({len(integrity.problems)} problem(s)); "
                    "run `lienthong report verify` for details",
                    style="bold red",
                )
            )
    conclusion = summary["conclusion"]
    console.print(Text(f" {conclusion} ", style=_CONCLUSION_STYLE.get(conclusion, "bold")))
    counts = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    for verdict in ("PASS", "FAIL", "NOT APPLICABLE", "NOT TESTED"):
        counts.add_column(verdict, justify="center", style=_VERDICT_STYLE[verdict])
    counts.add_row(
        *(str(summary["counts"].get(v, 0)) for v in ("PASS", "FAIL", "NOT APPLICABLE", "NOT TESTED"))
    )
    console.print(counts)
    for problem in summary["harness_problems"]:
        console.print(_plain(f"harness: {problem}", "magenta"))
    not_run = summary.get("not_run") or []  # absent from schema_version 1 reports
    if not_run:
        console.print(
            _plain(
                f"partial session: {len(not_run)} requirement(s) the suite covers were left out by the "
                f"selection (--tags): {', '.join(not_run)}; run the whole suite to certify",
                "yellow",
            )
        )

    rows = {r["id"]: r for r in report["requirements"]}
    if summary["failed"]:
        table = Table(title="FAIL", title_style="bold red", show_lines=True)
        table.add_column("Requirement", style="bold")
        table.add_column("Failing scenarios")
        for rid in summary["failed"]:
            row = rows[rid]
            lines = [
                f"{s['tc'] or s['key']} {s['name']} — {failure_gist(s['message'], 220) or s['outcome']}"
                for s in row["scenarios"]
                if s["outcome"] in ("failed", "skipped")
            ]
            lines += [
                f"SLO {s['name']}: {s['value']} {s['comparison']} {s['threshold']} {s['unit']} missed"
                for s in row["slos"]
                if not s["passed"]
            ]
            table.add_row(
                _plain(f"{rid}\n{_first_line(row['title'], 80)}"), _plain("\n".join(lines) or row["reason"])
            )
        console.print(table)
    for verdict, ids in (
        ("NOT TESTED", summary["not_tested"]),
        ("NOT APPLICABLE", summary["not_applicable"]),
    ):
        if not ids:
            continue
        table = Table(title=verdict, title_style=_VERDICT_STYLE[verdict], show_header=False)
        table.add_column("Requirement", style="bold")
        table.add_column("Why")
        for rid in ids:
            table.add_row(_plain(rid), _plain(rows[rid]["reason"]))
        console.print(table)

    load = report["load"]
    if load is None:
        console.print("load: no load profile was run (OPS-* NOT TESTED)")
    else:
        table = Table(title=_plain(f"Load profile {load['profile']}"), title_style="bold")
        for col in ("SLO", "Objective", "Value", "Threshold", "Result"):
            table.add_column(col)
        for slo in load["slos"]:
            table.add_row(
                slo["id"],
                slo["name"],
                "—" if slo["value"] is None else f"{slo['value']:g} {slo['unit']}",
                "—"
                if slo["threshold"] is None
                else f"{slo['comparison']} {slo['threshold']:g} {slo['unit']}",
                Text("met", style="green") if slo["passed"] else Text("missed", style="bold red"),
            )
        console.print(table)
        if load["sustained_docs_per_s"] is not None:
            console.print(_plain(f"sustained documents/s: {load['sustained_docs_per_s']:g}"))
    pdf = report["pdf"]
    if pdf["produced"]:
        console.print(_plain(f"PDF: report.pdf ({pdf['engine']})"))
    else:
        console.print(_plain(f"PDF: not produced — {pdf['reason']}"))


def print_verify(result: VerifyReport, console: Console) -> None:
    """One line per problem, then the verdict line."""
    if result.signer is not None:
        console.print(
            _plain(f"signed by: {result.signer.subject} (SHA-256 {result.signer.sha256_fingerprint})")
        )
    if result.trusted is True:
        console.print(
            Text(f"trust: the signer chains to the trust store — {result.trust_message}", style="green")
        )
    elif result.trusted is None and result.trust_message:
        console.print(Text(f"trust: {result.trust_message}", style="yellow"))
    for warning in result.warnings:
        console.print(Text(f"warning: {warning}", style="yellow"))
    for problem in result.problems:
        console.print(Text.assemble(("FAILED ", "bold red"), (f"{problem.path}: ", "red"), problem.message))
    if result.ok:
        console.print(
            Text(
                f"OK: signature valid, {result.files_checked} file(s) match the manifest of session "
                f"{result.session_id}",
                style="bold green",
            )
        )
    else:
        console.print(
            Text(f"the report does NOT verify: {len(result.problems)} problem(s)", style="bold red")
        )
