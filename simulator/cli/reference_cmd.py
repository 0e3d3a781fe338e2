"""``lienthong reference-qlvb``: run the built-in reference QLVB against a hub, with its driver API.

The reference QLVB connects to the hub as a normal client (system id + secret, hosting the given
agencies), polls it, answers documents correctly, and serves the test-driver HTTP API
(``http://HOST:PORT/driver/v1/...``) so that ``lienthong conformance --sut sut.toml`` — or a vendor
comparing notes — can drive it. ``--defect NAME`` (repeatable) turns on a deliberate defect;
``--list-defects`` prints them.

Exit codes: 0 stopped normally (Ctrl-C), 2 bad option (unknown defect, bad agency code, refused
credentials), 3 the hub is unreachable or the driver port cannot be bound.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from simulator.cli._errors import CliError, ExitCode, UsageProblem, cli_errors, err_console, out_console

__all__ = ["reference_qlvb"]


class _Infrastructure(CliError):
    exit_code = ExitCode.INTERNAL


class ClockSourceName(StrEnum):
    HTTP = "http"
    SNTP = "sntp"
    NONE = "none"


class LogLevel(StrEnum):
    WARNING = "warning"
    INFO = "info"
    DEBUG = "debug"


def _print_defects() -> None:
    from simulator.sut.defects import list_defects

    out = out_console()
    rows = list_defects()
    width = max(len(d.name) for d in rows)
    for d in rows:
        out.print(f"{d.name.ljust(width)}  {d.summary} [{', '.join(d.requirement_ids)}]")


@cli_errors
def reference_qlvb(
    hub: Annotated[str | None, typer.Option("--hub", metavar="URL", help="The hub's endpoint URL.")] = None,
    system_id: Annotated[
        str | None, typer.Option("--system-id", metavar="ID", help="System id the hub gave this QLVB.")
    ] = None,
    secret: Annotated[
        str | None,
        typer.Option(
            "--secret",
            metavar="S",
            envvar="LIENTHONG_SUT_SECRET",
            help="The system's secret (or the env var).",
        ),
    ] = None,
    agencies: Annotated[
        str | None,
        typer.Option(
            "--agencies", metavar="CODE,...", help="Agency codes this QLVB hosts (comma-separated)."
        ),
    ] = None,
    driver_host: Annotated[
        str, typer.Option("--driver-host", help="Address of the driver API (default: this machine only).")
    ] = "127.0.0.1",
    driver_port: Annotated[
        int, typer.Option("--driver-port", help="Port of the driver API (0 = any free port).")
    ] = 8090,
    defect: Annotated[
        list[str] | None,
        typer.Option(
            "--defect", metavar="NAME", help="Turn on a named defect (repeatable; see --list-defects)."
        ),
    ] = None,
    list_defects: Annotated[
        bool, typer.Option("--list-defects", help="Print the defect names with what each breaks, and exit.")
    ] = False,
    pki: Annotated[
        Path | None,
        typer.Option(
            "--pki", metavar="DIR", help="Test CA to trust and sign with (default $LIENTHONG_HOME/pki)."
        ),
    ] = None,
    hub_ca: Annotated[
        Path | None,
        typer.Option(
            "--hub-ca", metavar="PEM", help="CA bundle for an https hub (default: the test CA root)."
        ),
    ] = None,
    clock_source: Annotated[
        ClockSourceName, typer.Option("--clock-source", help="How to follow the hub clock.")
    ] = ClockSourceName.HTTP,
    sntp_port: Annotated[
        int | None, typer.Option("--sntp-port", help="The hub's SNTP UDP port (with --clock-source sntp).")
    ] = None,
    poll_interval: Annotated[
        float, typer.Option("--poll-interval", metavar="S", help="Seconds between polls while busy.")
    ] = 0.05,
    log_level: Annotated[LogLevel, typer.Option("--log-level", help="Log level.")] = LogLevel.WARNING,
) -> None:
    """Run the reference QLVB (correct, or with named defects) and serve its test-driver API."""
    if list_defects:
        _print_defects()
        return
    missing = [
        name
        for name, value in (
            ("--hub", hub),
            ("--system-id", system_id),
            ("--secret", secret),
            ("--agencies", agencies),
        )
        if not value
    ]
    if missing:
        raise UsageProblem(
            f"missing {', '.join(missing)}",
            hint="give the hub endpoint, the system id and secret `lienthong hub` printed, and the agencies",
        )
    assert hub is not None and system_id is not None and secret is not None and agencies is not None
    if not hub.startswith(("http://", "https://")):
        raise UsageProblem(f"--hub {hub!r}: must be an http:// or https:// URL")
    if not 0 <= driver_port <= 65535:
        raise UsageProblem(f"--driver-port {driver_port}: must be between 0 and 65535")
    if clock_source is ClockSourceName.SNTP and sntp_port is None:
        raise UsageProblem("--clock-source sntp needs --sntp-port", hint="the port `lienthong hub` printed")
    if poll_interval <= 0:
        raise UsageProblem(f"--poll-interval {poll_interval}: must be positive")

    import logging
    import socket

    import uvicorn

    from simulator.edxml.fake import edxml_provider, make_faker
    from simulator.edxml.identifiers import IdentifierError, parse_agency_code
    from simulator.pki.ca import TestCA
    from simulator.sut.defects import UnknownDefectError, check_defects
    from simulator.sut.driver import DriverError
    from simulator.sut.reference import BadRequest, ReferenceQlvb

    logging.basicConfig(
        level=log_level.value.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        defects = check_defects(defect or [])
    except UnknownDefectError as exc:
        raise UsageProblem(str(exc)) from None
    codes = [c.strip() for c in agencies.split(",") if c.strip()]
    if not codes:
        raise UsageProblem("--agencies: give at least one agency code")
    for code in codes:
        try:
            parse_agency_code(code, strict=False)
        except IdentifierError as exc:
            raise UsageProblem(f"--agencies: {exc.message}", requirement=exc.requirement) from None
    if hub_ca is not None and not hub_ca.is_file():
        raise UsageProblem(f"--hub-ca {hub_ca}: not a file", hint="give the PEM file of the CA to trust")
    ca = TestCA.open(pki)
    provider = edxml_provider(make_faker(0))
    organizations = [provider.agency_for(code) for code in codes]
    qlvb = ReferenceQlvb(
        hub,
        system_id,
        secret,
        organizations,
        ca,
        defects=defects,
        poll_interval=poll_interval,
        tls_verify=str(hub_ca) if hub_ca is not None else True,
        clock_source=clock_source.value,
        sntp_port=sntp_port,
    )
    try:
        pending = qlvb.check_connection()
    except BadRequest as exc:
        qlvb.stop()
        raise UsageProblem(str(exc)) from None
    except DriverError as exc:
        qlvb.stop()
        raise _Infrastructure(
            str(exc), hint="start the hub first (`lienthong hub`) and check --hub"
        ) from None
    try:
        sock = socket.create_server((driver_host, driver_port))
    except OSError as exc:
        qlvb.stop()
        raise _Infrastructure(
            f"cannot listen on {driver_host}:{driver_port} for the driver API: {exc.strerror or exc}",
            hint="pick another --driver-port (0 = any free port)",
        ) from None
    port = int(sock.getsockname()[1])
    qlvb.start()
    out = out_console()
    out.print(Text("lienthong reference QLVB — a correct QLVB for self-tests (TEST ONLY)", style="bold"))
    out.print(f"  hub           {qlvb.hub_url}   (system {system_id}, {pending} document(s) pending)")
    for org in organizations:
        out.print(f"  agency        {org.organ_id}  {org.organ_name or ''}")
    out.print(f"  clock         {clock_source.value}: hub offset {qlvb.clock_offset_s:+.3f} s")
    out.print(f"  test CA       {ca.directory}")
    if defects:
        out.print(Text(f"  defects       {', '.join(sorted(defects))}", style="yellow"))
    else:
        out.print("  defects       none (behaves correctly)")
    out.print(Text.assemble("  driver API    ", (f"http://{driver_host}:{port}/driver/v1", "bold green")))
    out.print("  stop          Ctrl-C")
    out.file.flush()
    server = uvicorn.Server(
        uvicorn.Config(qlvb.driver_app(), log_level=log_level.value, access_log=False, lifespan="off")
    )
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn re-raises the Ctrl-C it handled: a normal stop
        pass
    finally:
        qlvb.stop()
        sock.close()
    err_console().print(Text("reference QLVB stopped", style="dim"))
