"""``lienthong conformance``: run the Gherkin conformance suite against a system under test.

``--sut reference`` runs it against the built-in reference QLVB (``--defect NAME`` picks deliberately
defective variants; ``--list-defects`` prints their names); ``--sut path/to/sut.toml`` against a
vendor's QLVB (see ``examples/sut.example.toml``). ``--tags`` selects scenarios by tag expression
(``"QD28-9.1 and not TC-SIG-003"``, ``receive or send``), ``-k`` by name. Each run writes
``cucumber.json``, ``junit.xml``, ``evidence.jsonl`` (the hub's evidence log) and ``summary.json`` into
its directory (``--out``, default ``runs/<timestamp>``).

Exit codes: 0 every scenario passed (NOT APPLICABLE allowed), 1 a scenario failed, 2 usage error
(unknown defect, bad sut.toml, unknown tag), 3 harness failure (hub could not start, driver
unreachable).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from simulator.cli._common import DefectOption, SutOption
from simulator.cli._errors import CliError, ExitCode, UsageProblem, cli_errors, err_console, out_console

__all__ = ["conformance"]

_STYLE = {
    "passed": "green",
    "failed": "bold red",
    "not-applicable": "yellow",
    "error": "bold magenta",
    "skipped": "bold red",
}
_LABEL = {
    "passed": "PASS",
    "failed": "FAIL",
    "not-applicable": "N/A ",
    "error": "ERR ",
    "skipped": "SKIP",
}


class _Harness(CliError):
    exit_code = ExitCode.INTERNAL


class _Display:
    """Live progress: a bar with pass/fail/N/A counts, one line per finished scenario."""

    def __init__(self, console: Console, *, quiet: bool) -> None:
        self.console = console
        self.quiet = quiet
        self.counts = {"passed": 0, "failed": 0, "not-applicable": 0, "error": 0, "skipped": 0}
        self.progress = Progress(
            TextColumn("[bold]conformance[/]"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[counts]}"),
            TimeElapsedColumn(),
            TextColumn("{task.description}"),
            console=console,
            transient=True,
            disable=quiet or not console.is_terminal,
        )
        self.task: TaskID | None = None

    def __enter__(self) -> _Display:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(None, None, None)

    def _counts(self) -> str:
        c = self.counts
        return (
            f"[green]{c['passed']} passed[/] [red]{c['failed'] + c['skipped']} failed[/] "
            f"[yellow]{c['not-applicable']} n/a[/]"
            + (f" [magenta]{c['error']} errors[/]" if c["error"] else "")
        )

    def __call__(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "collected":
            self.task = self.progress.add_task("", total=int(event.get("total", 0)), counts=self._counts())
        elif kind == "target" and not self.quiet:
            self.console.print(Text(f"target: {event.get('name')} — hub {event.get('hub')}", style="bold"))
            for note in event.get("notes") or ():
                self.console.print(Text(f"  note: {note}", style="cyan"))
        elif kind == "start" and self.task is not None:
            self.progress.update(self.task, description=f"{event.get('tc')} {event.get('name')}")
        elif kind == "result":
            outcome = str(event.get("outcome"))
            self.counts[outcome] = self.counts.get(outcome, 0) + 1
            if self.task is not None:
                self.progress.update(self.task, advance=1, counts=self._counts())
            if not self.quiet:
                line = Text(f"{_LABEL.get(outcome, outcome)} ", style=_STYLE.get(outcome, ""))
                line.append(f"{event.get('tc')} {event.get('name')}")
                if event.get("defect"):
                    line.append(f" [defect {event.get('defect')}]", style="dim")
                line.append(f" ({float(event.get('duration', 0)):.1f} s)", style="dim")
                self.progress.console.print(line)


def _print_defects() -> None:
    from simulator.sut.defects import list_defects

    out = out_console()
    for defect in list_defects():
        out.print(defect.name)


def _report(console: Console, result: Any) -> None:
    failures = [o for o in result.outcomes if o.outcome in ("failed", "error", "skipped")]
    for o in failures:
        console.print(Text(f"\n{_LABEL[o.outcome]} {o.tc} {o.name} ({o.feature})", style=_STYLE[o.outcome]))
        console.print(Text(o.message.strip() or "(no message)"))
    not_applicable = [o for o in result.outcomes if o.outcome == "not-applicable"]
    if not_applicable:
        table = Table(title="NOT APPLICABLE", show_lines=False)
        table.add_column("TC")
        table.add_column("scenario")
        table.add_column("reason")
        for o in not_applicable:
            table.add_row(o.tc, o.name, o.message.removeprefix("NOT APPLICABLE:").strip())
        console.print(table)
    counts = result.counts
    console.print(
        Text(
            f"\n{len(result.outcomes)} scenario(s): {counts['passed']} passed, "
            f"{counts['failed'] + counts['skipped']} failed, {counts['not-applicable']} not applicable"
            + (f", {counts['error']} harness errors" if counts["error"] else "")
            + f" in {result.wall_s:.1f} s",
            style="bold",
        )
    )
    console.print(f"run directory: {result.out_dir}")
    console.print(f"  JUnit XML:     {result.junit}")
    console.print(f"  Cucumber JSON: {result.cucumber}")
    console.print(f"  hub evidence:  {result.evidence}")


@cli_errors
def conformance(
    sut: SutOption = "reference",
    defect: DefectOption = None,
    list_defects: Annotated[
        bool, typer.Option("--list-defects", help="Print the defect names, one per line, and exit.")
    ] = False,
    tags: Annotated[
        str | None,
        typer.Option("--tags", metavar="EXPR", help='Tag expression, e.g. "QD28-9.1 and not TC-SIG-003".'),
    ] = None,
    keyword: Annotated[
        str | None, typer.Option("-k", metavar="EXPR", help="Select scenarios by name (pytest -k).")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", metavar="DIR", help="Run directory (default runs/<timestamp>).")
    ] = None,
    junit: Annotated[Path | None, typer.Option("--junit", metavar="PATH", help="JUnit XML path.")] = None,
    cucumber: Annotated[
        Path | None, typer.Option("--cucumber", metavar="PATH", help="Cucumber JSON path.")
    ] = None,
    reference_driver: Annotated[
        str,
        typer.Option(
            "--reference-driver",
            metavar="in-process|http",
            help="Drive the reference QLVB in-process or over its HTTP driver API (as a vendor's SUT).",
        ),
    ] = "in-process",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only the summary.")] = False,
) -> None:
    """Run the conformance suite (features/) against a system under test."""
    if list_defects:
        _print_defects()
        return
    from simulator.conformance.runner import RunExit, RunOptions, UsageError, run_conformance

    if reference_driver not in ("in-process", "http"):
        raise UsageProblem(f"--reference-driver {reference_driver!r}: use in-process or http")
    if reference_driver != "in-process" and sut != "reference":
        raise UsageProblem("--reference-driver applies to --sut reference only")
    options = RunOptions(
        reference_driver="http" if reference_driver == "http" else "in-process",
        sut=sut,
        defects=tuple(defect or ()),
        tags=tags,
        keyword=keyword,
        out_dir=out,
        junit=junit,
        cucumber=cucumber,
    )
    console = out_console()
    try:
        with _Display(console, quiet=quiet) as display:
            result = run_conformance(options, on_event=display)
    except UsageError as exc:
        raise UsageProblem(str(exc)) from None
    if result.exit_code in (RunExit.USAGE, RunExit.HARNESS):
        err_console().print(Text(f"see {result.out_dir / 'pytest.log'}", style="dim"))
        if result.exit_code is RunExit.USAGE:
            raise UsageProblem(result.problem or "the run could not start")
        raise _Harness(
            f"harness failure: {result.problem}",
            hint="the simulated hub or the SUT's driver is not usable; see pytest.log in the run directory",
        )
    _report(console, result)
    raise typer.Exit(int(result.exit_code))
