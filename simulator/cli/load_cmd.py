"""``lienthong load``: run a load profile (Locust) against the hub and, through it, the system under test.

``--sut reference`` uses the built-in reference QLVB (``--defect NAME`` a deliberately defective
variant); ``--sut path/to/sut.toml`` a vendor's QLVB that is running and configured with the hub port,
system id and secret of the file. Profiles and thresholds come from ``loadtests/profiles.toml``
(``--profiles FILE`` for another file, ``--set key=value`` to override one setting, ``--list-profiles``
to print them). The run directory (``--out``, default ``runs/load-<profile>-<time>``) receives Locust's
CSV/HTML/JSON reports, ``slo.json`` (service levels measured at the hub), ``shape.json``, ``run.json``
and the processes' logs. See :mod:`simulator.load.runner`.

Exit codes: 0 every SLO held, 1 an SLO broke, 2 usage error (unknown profile or setting, bad sut.toml,
unknown defect), 3 harness failure (the hub, the reference QLVB or Locust failed).
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

__all__ = ["load"]


class _Harness(CliError):
    exit_code = ExitCode.INTERNAL


class _Display:
    """A bar for the corpus, one for the sending phase with hub-side counts; plain lines off a terminal."""

    def __init__(self, console: Console, *, quiet: bool) -> None:
        self.console = console
        self.quiet = quiet
        self.live = console.is_terminal and not quiet
        self.progress = Progress(
            TextColumn("[bold]{task.fields[label]}[/]"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            disable=not self.live,
        )
        self.tasks: dict[str, TaskID] = {}
        self.phase = ""

    def __enter__(self) -> _Display:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(None, None, None)

    def _line(self, text: str) -> None:
        if not self.quiet:
            self.progress.console.print(Text(text, style="dim"))

    def __call__(self, event: Any) -> None:
        phase = event.phase
        if phase == "corpus" and event.total:
            task = self.tasks.get("corpus")
            if task is None:
                task = self.tasks["corpus"] = self.progress.add_task(
                    "", total=event.total, label="corpus", info=""
                )
            self.progress.update(task, completed=event.done, total=event.total, info=event.message)
            if event.done >= event.total and self.phase != "corpus-done":
                self.phase = "corpus-done"
                self._line(f"corpus: {int(event.total)} pre-signed packages ready")
            return
        if phase in ("load", "drain") and event.total:
            f = event.figures
            info = (
                f"{phase} · {f.get('documents', 0)} documents accepted · SUT: "
                f"{f.get('sut_statuses', 0)} statuses, {f.get('sut_pending', 0)} pending · "
                f"CPU s hub {f.get('cpu_hub', 0):.1f} locust {f.get('cpu_locust', 0):.1f}"
            )
            task = self.tasks.get("load")
            if task is None:
                task = self.tasks["load"] = self.progress.add_task(
                    "", total=event.total, label="load s", info=""
                )
            self.progress.update(task, completed=round(event.done), total=event.total, info=info)
            if phase != self.phase:
                self.phase = phase
                self._line(f"{phase}: {event.message}")
            return
        if event.message and phase != self.phase:
            self.phase = phase
            self._line(f"{phase}: {event.message}")


def _fmt(value: Any, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "ratio":
        return f"{float(value):.4%}"
    if unit == "s":
        return f"{float(value):.3f} s"
    if unit == "documents/s":
        return f"{float(value):.3f}/s"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _summary(console: Console, result: Any) -> None:
    slo = result.slo or {}
    table = Table(
        title=f"load profile {result.profile.name} — {slo.get('sut', {}).get('name', '')}", show_lines=False
    )
    for column in ("SLO", "measure", "value", "threshold", "verdict"):
        table.add_column(column)
    for s in slo.get("slos", []):
        verdict = Text("PASS", style="green") if s["passed"] else Text("FAIL", style="bold red")
        comparison = s.get("comparison", "")
        table.add_row(
            s["id"],
            s["name"],
            _fmt(s["value"], s["unit"]),
            f"{comparison} {_fmt(s['threshold'], s['unit'])}",
            verdict,
        )
    console.print(table)
    lat = slo.get("latency", {})
    for key in ("to_01", "to_03", "to_01_urgent", "to_01_normal"):
        summary = lat.get(key) or {}
        if summary.get("count"):
            console.print(
                f"  {key:<13} n={summary['count']:<5} p50 {summary['p50']:.3f} s  "
                f"p95 {summary['p95']:.3f} s  p99 {summary['p99']:.3f} s  max {summary['max']:.3f} s"
            )
    cpu = slo.get("cpu_s", {})
    console.print(
        f"  documents sent {slo.get('documents_sent')} ({slo.get('sustained_docs_per_s')}/s sustained), "
        f"to the SUT {slo.get('documents_to_sut')}; errors {slo.get('errors')} of {slo.get('calls')} calls; "
        f"duplicates {slo.get('duplicates')}; lost {slo.get('lost')}"
    )
    console.print(
        "  CPU s in the sending phase: "
        + ", ".join(f"{k} {v}" for k, v in cpu.items())
        + f" (over {slo.get('cpu_window_s')} s)"
    )
    if slo.get("knee") is not None or "steps" in slo:
        knee = slo.get("knee")
        console.print(
            "  knee: "
            + (
                f"{knee['step']} at {knee['offered_docs_per_s']} documents/s"
                if knee
                else "none (the first step broke)"
            )
        )
    for note in result.notes:
        console.print(Text(f"  note: {note}", style="yellow"))
    style = "bold green" if result.passed else "bold red"
    console.print(Text(f"{result.message} — results in {result.run_dir}", style=style))


def _list_profiles(path: Path | None) -> None:
    from simulator.load.profiles import load_profile, profile_names

    out = out_console()
    for name in profile_names(path):
        p = load_profile(name, path=path)
        out.print(
            f"{name:<15} {p.shape:<14} {p.duration_s:>6g} s  peak {p.peak_rate:7.2f} docs/s "
            f"({p.peak_senders} senders)  SUT share {p.sut_share:g}  {p.description}"
        )


@cli_errors
def load(
    profile: Annotated[str, typer.Option("--profile", help="Load profile (see --list-profiles).")] = "smoke",
    sut: SutOption = "reference",
    defect: DefectOption = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", metavar="DIR", help="Run directory (default runs/load-<profile>-<time>)."),
    ] = None,
    duration: Annotated[
        float | None, typer.Option("--duration", metavar="S", help="Length of the sending phase in seconds.")
    ] = None,
    users: Annotated[
        int | None,
        typer.Option("--users", metavar="N", help="Sender users at the profile's peak (scales the load)."),
    ] = None,
    processes: Annotated[
        int,
        typer.Option(
            "--processes", metavar="N", help="Locust processes (> 1: distributed, master + N workers)."
        ),
    ] = 1,
    settings: Annotated[
        list[str] | None,
        typer.Option(
            "--set", metavar="KEY=VALUE", help="Override a profile setting, e.g. slo.pickup_p95_s=3."
        ),
    ] = None,
    profiles: Annotated[
        Path | None,
        typer.Option("--profiles", metavar="FILE", help="Profiles file (default loadtests/profiles.toml)."),
    ] = None,
    hub_workers: Annotated[
        int | None,
        typer.Option("--hub-workers", metavar="N", help="Hub worker processes (default: the profile's)."),
    ] = None,
    workdir: Annotated[
        Path | None,
        typer.Option("--workdir", metavar="DIR", help="Keep the hub's data here (default: temporary)."),
    ] = None,
    list_profiles: Annotated[
        bool, typer.Option("--list-profiles", help="Print the profiles and exit.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.")] = False,
) -> None:
    """Run a load profile with Locust; measure pickup and acceptance times, errors, throughput and losses
    at the hub."""
    from simulator.load.profiles import ProfileError
    from simulator.load.runner import LoadError, LoadExit, LoadOptions, run_load

    if list_profiles:
        try:
            _list_profiles(profiles)
        except ProfileError as exc:
            raise UsageProblem(str(exc)) from None
        return
    if duration is not None and duration <= 0:
        raise UsageProblem(f"--duration {duration:g}: must be positive (seconds of the sending phase)")
    if users is not None and users < 1:
        raise UsageProblem(f"--users {users}: at least 1 sender user")
    options = LoadOptions(
        profile=profile,
        sut=sut,
        defects=tuple(defect or ()),
        out=out,
        duration_s=duration,
        users=users,
        processes=processes,
        overrides=tuple(settings or ()),
        profiles_path=profiles,
        hub_workers=hub_workers,
        workdir=workdir,
        keep_workdir=workdir is not None,
    )
    console = err_console()
    try:
        with _Display(console, quiet=quiet) as display:
            result = run_load(options, progress=display)
    except LoadError as exc:
        if exc.exit_code == LoadExit.USAGE:
            raise UsageProblem(exc.message, hint=exc.hint) from None
        raise _Harness(exc.message, hint=exc.hint) from None
    _summary(out_console(), result)
    raise typer.Exit(int(result.exit_code))
