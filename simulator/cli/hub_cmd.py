"""``lienthong hub``: run the simulated national hub on this machine until Ctrl-C.

Prints what a QLVB needs to connect (endpoint, system ids and secrets, hosted agencies), the admin
token of the control API, where the data lives, the SNTP address and the TLS trust anchor. A restart
on the same ``--data-dir`` keeps the store and the generated secrets. See :mod:`simulator.hub.server`.

Exit codes: 0 stopped normally, 2 bad option or configuration (naming the field), 3 the hub could not
start (port in use, data directory not writable, workers failed).
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.text import Text

from simulator.cli._errors import CliError, ExitCode, UsageProblem, cli_errors, err_console, out_console

if TYPE_CHECKING:
    from simulator.hub.server import ServerInfo

__all__ = ["hub", "print_banner"]


class _Infrastructure(CliError):
    exit_code = ExitCode.INTERNAL


class TlsVariantName(StrEnum):
    GOOD = "good"
    EXPIRED = "expired"
    UNTRUSTED = "untrusted"
    NOT_YET_VALID = "not-yet-valid"


class ValidationName(StrEnum):
    LENIENT = "lenient"
    STRICT = "strict"


class SignatureName(StrEnum):
    OFF = "off"
    WARN = "warn"
    ENFORCE = "enforce"


class DuplicatesName(StrEnum):
    DELIVER = "deliver"
    REFUSE = "refuse"


class LogLevel(StrEnum):
    WARNING = "warning"
    INFO = "info"
    DEBUG = "debug"


@cli_errors
def hub(
    config: Annotated[
        Path | None, typer.Option("--config", metavar="FILE", help="Hub configuration (TOML).")
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir", metavar="DIR", help="Store and generated settings (default $LIENTHONG_HOME/hub)."
        ),
    ] = None,
    host: Annotated[
        str | None,
        typer.Option("--host", help="Address to listen on (default 127.0.0.1: this machine only)."),
    ] = None,
    port: Annotated[
        int | None, typer.Option("--port", help="HTTP(S) port (default 8080; 0 = any free port).")
    ] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", help="Worker processes (default: one per CPU core).")
    ] = None,
    sntp_port: Annotated[
        int | None, typer.Option("--sntp-port", help="UDP port of the SNTP server (default 1123; 0 = any).")
    ] = None,
    no_sntp: Annotated[bool, typer.Option("--no-sntp", help="Do not serve SNTP.")] = False,
    tls: Annotated[bool, typer.Option("--tls", help="HTTPS with the test CA's server certificate.")] = False,
    tls_variant: Annotated[
        TlsVariantName | None,
        typer.Option(
            "--tls-variant",
            help="HTTPS with a good or a deliberately bad certificate (to test a QLVB's TLS checks).",
        ),
    ] = None,
    pki: Annotated[
        Path | None,
        typer.Option(
            "--pki",
            metavar="DIR",
            help="Test CA the hub trusts and takes its TLS certificate from (default: the data "
            "directory's, else $LIENTHONG_HOME/pki).",
        ),
    ] = None,
    validation: Annotated[
        ValidationName | None, typer.Option("--validation", help="edXML validation policy.")
    ] = None,
    signature: Annotated[
        SignatureName | None, typer.Option("--signature", help="Signature policy of sendEdoc.")
    ] = None,
    duplicates: Annotated[
        DuplicatesName | None, typer.Option("--duplicates", help="What to do with a re-sent package.")
    ] = None,
    legacy_anonymous_download: Annotated[
        bool,
        typer.Option("--legacy-anonymous-download", help="Allow the SDK's unauthenticated downloadEdoc."),
    ] = False,
    admin_token: Annotated[
        str | None, typer.Option("--admin-token", metavar="T", help="Control API token (default: generated).")
    ] = None,
    seed_agencies: Annotated[
        int,
        typer.Option(
            "--seed-agencies", metavar="N", help="Add N simulated agencies (not connected) to the directory."
        ),
    ] = 0,
    print_config_only: Annotated[
        bool,
        typer.Option(
            "--print-config-only",
            help="Print the effective configuration (generated secrets included, and kept) and exit.",
        ),
    ] = False,
    log_level: Annotated[LogLevel, typer.Option("--log-level", help="uvicorn log level.")] = LogLevel.INFO,
    access_log: Annotated[bool, typer.Option("--access-log", help="Log every HTTP request.")] = False,
) -> None:
    """Run the simulated hub (VXP protocol, control API, /time, SNTP) until Ctrl-C."""
    from simulator.hub.config import ConfigError
    from simulator.hub.server import (
        HubOverrides,
        ServerStartError,
        build_config,
        config_toml,
        prepare,
        serve,
    )
    from simulator.hub.sntp import DEFAULT_PORT as DEFAULT_SNTP_PORT

    policies: dict[str, Any] = {}
    if validation is not None:
        policies["validation"] = validation.value
    if signature is not None:
        policies["signature"] = signature.value
    if duplicates is not None:
        policies["duplicates"] = duplicates.value
    if legacy_anonymous_download:
        policies["legacy_anonymous_download"] = True
    if seed_agencies < 0:
        raise UsageProblem(f"--seed-agencies {seed_agencies}: must be 0 or more")
    if no_sntp and sntp_port is not None:
        raise UsageProblem("--sntp-port and --no-sntp exclude each other", hint="give one of them")
    variant = tls_variant.value if tls_variant is not None else ("good" if tls else None)
    try:
        hub_config = build_config(
            config,
            HubOverrides(
                data_dir=data_dir,
                host=host,
                port=port,
                policies=policies,
                admin_token=admin_token,
                seed_agencies=seed_agencies,
            ),
        )
        prepared = prepare(
            hub_config,
            workers=workers,
            sntp_port=None if no_sntp else (DEFAULT_SNTP_PORT if sntp_port is None else sntp_port),
            tls=variant,
            pki_dir=pki,
        )
        if print_config_only:
            typer.echo(config_toml(prepared.config), nl=False)
            return
        code = serve(prepared, on_ready=print_banner, log_level=log_level.value, access_log=access_log)
    except ConfigError as exc:
        raise UsageProblem(str(exc), hint="fix the configuration (see `lienthong hub --help`)") from None
    except ServerStartError as exc:
        if exc.kind == "usage":
            raise UsageProblem(exc.message, hint=exc.hint) from None
        raise _Infrastructure(exc.message, hint=exc.hint) from None
    console = err_console()
    if code:
        raise _Infrastructure(
            "the hub's workers failed to start",
            hint="see the log above; rerun with --workers 1 --log-level debug",
        )
    console.print(Text("hub stopped; everything it acknowledged is kept in the data directory", style="dim"))


def print_banner(info: ServerInfo) -> None:
    """What to configure in a QLVB, on stdout (one fact per line, so it survives pipes and grep)."""
    prepared = info.prepared
    config = prepared.config
    out = out_console()
    names = {a.code: a.name for a in config.agencies}
    out.print(Text("lienthong hub — simulated national document-exchange hub (TEST ONLY)", style="bold"))
    out.print(Text.assemble("  endpoint      ", (info.endpoint, "bold green"), "   (no path suffix)"))
    out.print(f"  workers       {prepared.workers}")
    count = len(config.systems) + len(prepared.runtime_systems)
    out.print(f"  systems       {count} (configure the QLVB with its system id and secret)")
    for system in config.systems:
        out.print(Text.assemble("    system ", (system.id, "bold"), "  secret ", (system.secret, "bold")))
        for code in system.agencies:
            out.print(f"      agency {code}  {names.get(code, '')}")
    for system in prepared.runtime_systems:
        out.print(
            Text.assemble(
                "    system ",
                (system.id, "bold"),
                "  secret ",
                (system.secret, "bold"),
                ("   (added through the control API; kept in the store)", "dim"),
            )
        )
        for code in system.agencies:
            out.print(f"      agency {code}")
    hosted = {c for s in config.systems for c in s.agencies}
    others = len([a for a in config.agencies if a.code not in hosted])
    if others:
        out.print(f"  directory     {len(config.agencies)} agencies ({others} not connected to any system)")
    out.print(
        Text.assemble(
            "  admin token   ", (config.admin_token, "bold"), "   (control API: Authorization: Bearer)"
        )
    )
    out.print(f"  data          {config.data_dir}   (restart with the same --data-dir to keep everything)")
    out.print(f"  config        {info.config_file}")
    out.print(f"  time          {info.endpoint}/time")
    if info.sntp is not None:
        out.print(f"  sntp          udp://{info.sntp[0]}:{info.sntp[1]}")
    else:
        out.print("  sntp          off")
    pki = prepared.pki_dir.resolve()
    out.print(f"  test CA       {pki}   (signatures are verified against {pki / 'root.pem'})")
    if prepared.tls is not None:
        tls = prepared.tls
        out.print(f"  tls           certificate {tls.cert_path} ({tls.variant})")
        out.print(f"  trust         {tls.trust_root}")
        if tls.variant != "good":
            out.print(
                Text(
                    f"  note          the certificate is deliberately {tls.variant}: a QLVB that trusts "
                    f"{tls.trust_root} must refuse this hub",
                    style="yellow",
                )
            )
    policies = config.policies.as_dict()
    out.print("  policies      " + " ".join(f"{k}={v}" for k, v in policies.items() if v is not None))
    if prepared.runtime_policies:
        changed = " ".join(f"{k}={v}" for k, v in prepared.runtime_policies.items())
        out.print(f"                overridden at run time (control API, kept in the store): {changed}")
    out.print("  stop          Ctrl-C (or SIGTERM)")
    err = err_console()
    for warning in info.warnings:
        err.print(Text(f"warning: {warning}", style="yellow"))
    out.file.flush()
