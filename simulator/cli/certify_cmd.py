"""``lienthong certify``: smoke check, conformance suite, load profile and a signed report, in one command.

``--sut reference`` certifies the built-in reference QLVB (``--defect NAME`` a deliberately defective
variant); ``--sut path/to/sut.toml`` a vendor's QLVB (see ``examples/sut.example.toml``). The report
goes to ``--out``/<session-id>/ (default ``reports/``), signed with the test PKI's report key or the
regulator's own (``--signing-key``/``--signing-cert``, the key's password in
``$LIENTHONG_SIGNING_KEY_PASSWORD``). Check it with ``lienthong report verify``, show it again with
``lienthong report show``. See :mod:`simulator.certify.orchestrate`.

Exit codes: 0 the SUT conforms (with ``--tags`` and no failure the report concludes PARTIAL: a subset
that passes is not a certification), 1 it does not conform (a requirement FAILs), 2 usage error (unknown
defect or profile, a wrong sut.toml field, an unusable signing key), 3 harness or infrastructure
failure (the hub would not start, the SUT's driver is unreachable, a runner crashed, the run was
interrupted, or the report is INCONCLUSIVE) — never a verdict on the SUT.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from simulator.certify.orchestrate import Observer
from simulator.cli._common import (
    DefectOption,
    ReportsOutOption,
    SessionIdOption,
    SigningCertOption,
    SigningKeyOption,
    SutOption,
)
from simulator.cli._errors import CliError, ExitCode, UsageProblem, cli_errors, err_console, out_console

if TYPE_CHECKING:
    from simulator.certify.orchestrate import CertifyOutcome, PhaseState
    from simulator.load.runner import ProgressEvent

__all__ = ["certify"]

_PHASE_TITLES = {
    "validate": "arguments",
    "smoke": "smoke check",
    "conformance": "conformance suite",
    "load": "load profile",
    "report": "signed report",
}
_MARK = {"ok": ("✓", "green"), "failed": ("✗", "bold red"), "skipped": ("–", "yellow")}


class _Harness(CliError):
    exit_code = ExitCode.INTERNAL


class _Display(Observer):
    """Rich progress: a spinner per phase, a bar for the scenarios and for the load's sending phase; one
    line per finished phase (plain lines when stderr is not a terminal)."""

    def __init__(self, console: Console, *, quiet: bool) -> None:
        self.console = console
        self.quiet = quiet
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.fields[title]}[/]"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            disable=quiet or not console.is_terminal,
        )
        self.task: TaskID | None = None
        self.counts = {"passed": 0, "failed": 0, "not-applicable": 0, "error": 0, "skipped": 0}

    def __enter__(self) -> _Display:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(None, None, None)

    def _line(self, text: Text) -> None:
        if not self.quiet:
            self.progress.console.print(text)

    def phase(self, name: str, state: PhaseState, detail: str = "") -> None:
        title = _PHASE_TITLES.get(name, name)
        if state == "start":
            if self.task is not None:
                self.progress.remove_task(self.task)
            self.task = self.progress.add_task("", total=None, title=title, info=detail)
            return
        if self.task is not None:
            self.progress.remove_task(self.task)
            self.task = None
        mark, style = _MARK.get(state, ("?", ""))
        line = Text(f"{mark} {title}", style=style)
        if detail and state != "failed":  # a failure's message follows as the error line
            line.append(f": {detail}", style="" if state == "ok" else style)
        self._line(line)

    def _counts(self) -> str:
        c = self.counts
        return (
            f"[green]{c['passed']} passed[/] [red]{c['failed'] + c['skipped']} failed[/] "
            f"[yellow]{c['not-applicable']} n/a[/]"
            + (f" [magenta]{c['error']} errors[/]" if c["error"] else "")
        )

    def conformance_event(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if self.task is None:
            return
        if kind == "collected":
            self.progress.update(self.task, total=int(event.get("total", 0)), info=self._counts())
        elif kind == "result":
            outcome = str(event.get("outcome"))
            self.counts[outcome] = self.counts.get(outcome, 0) + 1
            self.progress.update(self.task, advance=1, info=f"{self._counts()} {event.get('tc', '')}")
            if outcome != "passed" and not self.quiet:
                label = {"failed": "FAIL", "not-applicable": "N/A", "error": "ERR", "skipped": "SKIP"}
                self._line(
                    Text(
                        f"  {label.get(outcome, outcome)} {event.get('tc')} {event.get('name')}", style="dim"
                    )
                )

    def load_event(self, event: ProgressEvent) -> None:
        if self.task is None:
            return
        if event.total:
            figures = event.figures
            info = f"{event.phase} · {event.message}"
            if figures:
                info += (
                    f" · {figures.get('documents', 0)} documents · SUT {figures.get('sut_statuses', 0)} "
                    f"statuses, {figures.get('sut_pending', 0)} pending"
                )
            self.progress.update(self.task, completed=round(event.done), total=event.total, info=info)
        elif event.message:
            self.progress.update(self.task, info=f"{event.phase} · {event.message}")

    def note(self, text: str) -> None:
        self._line(Text(f"  note: {text}", style="cyan"))


def _print_outcome(outcome: CertifyOutcome, ca_dir: Path | None, default_signer: bool) -> None:
    from simulator.report.terminal import print_summary
    from simulator.report.verify import verify

    trust = None
    if default_signer:
        from simulator.pki.ca import TestCA

        trust = TestCA.open(ca_dir).trust_store()
    integrity = verify(outcome.report_dir, trust=trust)
    console = out_console()
    print_summary(outcome.report, console, integrity=integrity)
    console.print(Text(f"report: {outcome.report_dir}", style="bold"))
    console.print(
        Text(
            f"session {outcome.session_id} in {outcome.seconds:.1f} s — "
            + " · ".join(f"{p.name} {p.seconds:.1f} s" for p in outcome.phases if p.state != "skipped"),
            style="dim",
        )
    )
    passed_style = "bold green" if outcome.conclusion == "CONFORMS" else "bold yellow"  # PARTIAL
    verdict = {
        0: (f"{outcome.conclusion} (exit 0)", passed_style),
        1: ("DOES NOT CONFORM (exit 1)", "bold red"),
    }.get(
        int(outcome.exit_code),
        (f"{outcome.conclusion}: the harness could not reach a verdict (exit 3)", "bold magenta"),
    )
    console.print(Text(verdict[0], style=verdict[1]))


@cli_errors
def certify(
    sut: SutOption = "reference",
    defect: DefectOption = None,
    profile: Annotated[
        str,
        typer.Option(
            "--profile",
            metavar="NAME|none",
            help="Load profile: smoke, province-peak, national-soak, stress, or none.",
        ),
    ] = "smoke",
    out: ReportsOutOption = Path("reports"),
    signing_key: SigningKeyOption = None,
    signing_cert: SigningCertOption = None,
    session_id: SessionIdOption = None,
    tags: Annotated[
        str | None,
        typer.Option(
            "--tags",
            metavar="EXPR",
            help='Run only these scenarios, e.g. "receive or QD28-9.1" (the report then concludes '
            "PARTIAL at best).",
        ),
    ] = None,
    pdf: Annotated[
        str,
        typer.Option(
            "--pdf", metavar="auto|on|off", help="report.pdf: when an engine exists, required, or never."
        ),
    ] = "auto",
    load_set: Annotated[
        list[str] | None,
        typer.Option(
            "--load-set", metavar="KEY=VALUE", help="Override a load profile setting (lienthong load --set)."
        ),
    ] = None,
    load_duration: Annotated[
        float | None,
        typer.Option("--load-duration", metavar="S", help="Length of the load's sending phase in seconds."),
    ] = None,
    workdir: Annotated[
        Path | None,
        typer.Option(
            "--workdir", metavar="DIR", help="Keep the working runs in DIR/<session-id> (default: temporary)."
        ),
    ] = None,
    ca_dir: Annotated[
        Path | None,
        typer.Option(
            "--ca-dir",
            metavar="DIR",
            help="Test CA of the default report key (default: $LIENTHONG_HOME/pki).",
        ),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress display, only the summary.")
    ] = False,
) -> None:
    """Certify a system under test: smoke check, conformance suite, load profile, signed report."""
    from simulator.certify.orchestrate import CertifyError, CertifyOptions
    from simulator.certify.orchestrate import certify as run_certify

    if load_duration is not None and load_duration <= 0:
        raise UsageProblem(f"--load-duration {load_duration:g}: must be positive (seconds)")
    options = CertifyOptions(
        sut=sut,
        defects=tuple(defect or ()),
        profile=profile,
        out=out,
        signing_key=signing_key,
        signing_cert=signing_cert,
        session_id=session_id,
        tags=tags,
        pdf=pdf,
        ca_dir=ca_dir,
        workdir=workdir,
        load_overrides=tuple(load_set or ()),
        load_duration_s=load_duration,
    )
    try:
        with _Display(err_console(), quiet=quiet) as display:
            outcome = run_certify(options, display)
    except KeyboardInterrupt:  # before the session's own handling began (arguments, key loading)
        raise _Harness("interrupted before the session started; nothing was run", hint="rerun it") from None
    except CertifyError as exc:
        hint = exc.hint
        if exc.workdir is not None:
            hint = (hint + "; " if hint else "") + f"working files kept in {exc.workdir}"
        if exc.kind == "usage":
            raise UsageProblem(exc.message, hint=hint) from None
        raise _Harness(
            f"harness/infrastructure failure in the {exc.phase} phase: {exc.message}", hint=hint
        ) from None
    _print_outcome(outcome, ca_dir, default_signer=signing_key is None)
    raise typer.Exit(int(outcome.exit_code))
