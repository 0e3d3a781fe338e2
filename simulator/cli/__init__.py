"""The ``lienthong`` command line: one root Typer app, one sub-app per command group.

Groups are added with ``app.add_typer(<module>.app, name=...)``; later groups (hub, conformance,
certify, load, report) plug in the same way. State lives under ``$LIENTHONG_HOME`` (see
:func:`simulator.home.lienthong_home`), created on first use.

Exit codes: 0 ok, 1 invalid / does not conform, 2 usage error, 3 internal or infrastructure failure
(see :mod:`simulator.cli._errors`).
"""

from __future__ import annotations

from typing import Annotated

import typer

from simulator import __version__
from simulator.cli import (
    certify_cmd,
    conformance_cmd,
    demo_cmd,
    edxml_cmd,
    hub_cmd,
    load_cmd,
    pki_cmd,
    reference_cmd,
    report_cmd,
)
from simulator.cli._errors import ExitCode

__all__ = ["ExitCode", "app", "main"]

app = typer.Typer(
    name="lienthong",
    help=(
        "Conformance harness and simulator for Vietnam's national e-document exchange hub "
        "(Trục liên thông văn bản quốc gia). State lives in $LIENTHONG_HOME "
        "(default ~/.local/share/lienthong)."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"lienthong {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """Conformance harness and simulator for Vietnam's national e-document exchange hub."""


app.add_typer(edxml_cmd.app, name="edxml")
app.add_typer(pki_cmd.app, name="pki")
app.command("demo")(demo_cmd.demo)
app.command("hub")(hub_cmd.hub)
app.command("reference-qlvb")(reference_cmd.reference_qlvb)
app.command("conformance")(conformance_cmd.conformance)
app.command("load")(load_cmd.load)
app.add_typer(report_cmd.app, name="report")
app.command("certify")(certify_cmd.certify)


def main() -> None:
    """Console-script entry point (``lienthong``)."""
    app(prog_name="lienthong")
