"""``lienthong pki …``: the test CA that plays the government CA (Ban Cơ yếu Chính phủ)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from simulator.cli._common import open_ca
from simulator.cli._errors import UsageProblem, cli_errors, err_console, out_console
from simulator.edxml.identifiers import IdentifierError, parse_agency_code
from simulator.pki.ca import CertVariant

__all__ = ["app"]

app = typer.Typer(
    name="pki",
    help="The test CA: create it, issue agency certificates (good and deliberately bad), list them.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

DirOption = Annotated[
    Path | None,
    typer.Option("--dir", metavar="DIR", help="CA directory (default: $LIENTHONG_HOME/pki)."),
]


@app.command("init")
@cli_errors
def init(directory: DirOption = None) -> None:
    """Create the test CA (root, issuing CA, CRLs, rogue root) if it does not exist yet; print where."""
    ca = open_ca(directory)
    console = out_console()
    console.print(Text.assemble(("test CA ready in ", ""), (str(ca.directory), "bold")))
    console.print(f"  trust anchor (root):  {ca.root_path}")
    console.print(f"  issuing CA:           {ca.issuing_path}")
    console.print(f"  revocation list:      {ca.crl_path}")
    console.print("  (a TEST CA: its certificates have no legal value)")


@app.command("issue")
@cli_errors
def issue(
    name: Annotated[str, typer.Argument(metavar="NAME", help="Credential name (letters, digits, . _ -).")],
    organ_id: Annotated[
        str | None, typer.Option("--organ-id", metavar="CODE", help="Agency code to put in the certificate.")
    ] = None,
    ec: Annotated[bool, typer.Option("--ec", help="ECDSA P-256 key instead of RSA.")] = False,
    variant: Annotated[
        CertVariant,
        typer.Option(help="good, or a deliberately bad certificate for negative tests."),
    ] = CertVariant.GOOD,
    directory: DirOption = None,
) -> None:
    """Issue a signing certificate (idempotent: the same name and options return the stored one)."""
    if organ_id is not None:
        try:
            parse_agency_code(organ_id, strict=True)
        except IdentifierError as exc:
            try:
                parse_agency_code(organ_id, strict=False)
            except IdentifierError:
                raise UsageProblem(f"--organ-id: {exc.message}", requirement=exc.requirement) from None
            err_console().print(
                Text(f"warning: --organ-id: {exc.message} [{exc.requirement}]", style="yellow")
            )
    ca = open_ca(directory)
    try:
        credential = ca.issue(name, organ_id=organ_id, key_type="ec" if ec else "rsa", variant=variant)
    except ValueError as exc:
        raise UsageProblem(str(exc)) from None
    cert = credential.certificate
    console = out_console()
    console.print(
        Text.assemble(("issued ", ""), (name, "bold"), f" ({variant.value}, {credential.key_type})")
    )
    console.print(f"  subject:     {cert.subject.rfc4514_string()}")
    console.print(
        f"  valid:       {cert.not_valid_before_utc:%Y-%m-%d} → {cert.not_valid_after_utc:%Y-%m-%d}"
    )
    console.print(f"  certificate: {credential.cert_path}")
    console.print(f"  key:         {credential.key_path}")


@app.command("list")
@cli_errors
def list_cmd(directory: DirOption = None) -> None:
    """List the issued credentials."""
    ca = open_ca(directory)
    infos = ca.list()
    console = out_console()
    if not infos:
        console.print(f"no credentials yet in {ca.directory} — issue one with `lienthong pki issue NAME`")
        return
    table = Table(title=f"test CA {ca.directory}")
    for col in ("name", "organ id", "subject", "key", "purpose", "variant", "valid until", "revoked"):
        table.add_column(col, overflow="fold")
    for info in infos:
        table.add_row(
            info.name,
            info.organ_id or "—",
            info.subject,
            info.key_type,
            info.purpose,
            Text(info.variant.value, style="green" if info.variant is CertVariant.GOOD else "yellow"),
            f"{info.not_after:%Y-%m-%d}",
            Text("yes", style="red") if info.revoked else "no",
        )
    console.print(table)
