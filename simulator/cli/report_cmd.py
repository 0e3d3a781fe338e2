"""``lienthong report``: check, show and (re)build signed certification reports.

* ``lienthong report verify DIR`` — the manifest's signature, its signer's trust (default: the local
  test CA; ``--trust-anchor ROOT.pem`` for another PKI; ``--no-trust`` for self-consistency only) and
  every file's size and SHA-256. Exit 0 when everything checks out, 1 naming each altered, missing or
  added file (or the bad signature / truncated manifest / untrusted signer), 2 usage error.
* ``lienthong report show DIR`` — the summary in the terminal (verdict, counts, FAIL and NOT TESTED
  rows, load SLOs) with a one-line integrity check. Exit 0 when shown, 1 when report.json is unreadable.
* ``lienthong report build --conformance RUN [--load RUN] [--out DIR]`` — build a report into
  ``DIR/<session-id>/`` from existing run directories (re-rendering), signed with the test PKI's report
  key or ``--signing-key/--signing-cert`` (password in ``$LIENTHONG_SIGNING_KEY_PASSWORD``). Exit 0
  when the report was written (its conclusion is printed, and is in the report), 2 usage error.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from simulator.cli._common import ReportsOutOption, SessionIdOption, SigningCertOption, SigningKeyOption
from simulator.cli._errors import InvalidInput, UsageProblem, cli_errors, out_console
from simulator.home import lienthong_home

if TYPE_CHECKING:
    from simulator.pki.trust import TrustStore

__all__ = ["app", "build", "show", "verify"]

app = typer.Typer(
    name="report",
    help="Check (verify), show and (re)build signed certification reports.",
    no_args_is_help=True,
)

_CA_OPTION = typer.Option("--ca-dir", metavar="DIR", help="Test CA directory (default: $LIENTHONG_HOME/pki).")


def _ca_dir(ca_dir: Path | None) -> Path:
    return ca_dir if ca_dir is not None else lienthong_home(create=False) / "pki"


def _trust_store(ca_dir: Path | None, anchors: list[Path], *, required: bool) -> TrustStore | None:
    """The trust store for verification: the given anchors, else the test CA's (if it exists)."""
    from simulator.pki.trust import TrustStore

    if anchors:
        for path in anchors:
            if not path.is_file():
                raise UsageProblem("the trust anchor file does not exist", where=str(path))
        try:
            return TrustStore.from_pem_files(anchors=anchors)
        except ValueError as exc:
            raise UsageProblem(
                f"cannot read the trust anchors: {exc}", hint="give PEM root certificates"
            ) from None
    directory = _ca_dir(ca_dir)
    if not (directory / "root.pem").is_file():
        if not required:
            return None
        raise UsageProblem(
            f"no trust anchors: there is no test CA at {directory}",
            hint="give the signer's root with --trust-anchor ROOT.pem, point --ca-dir at the test CA, "
            "or check self-consistency only with --no-trust",
        )
    from simulator.pki.ca import TestCA

    return TestCA.open(directory).trust_store()


def _expected_signer(value: str | None) -> bytes | None:
    if value is None:
        return None
    text = value.strip().replace(":", "").lower()
    if re.fullmatch(r"[0-9a-f]{64}", text):
        return bytes.fromhex(text)
    path = Path(value)
    if path.is_file():
        return path.read_bytes()
    raise UsageProblem(
        f"--expected-signer {value!r} is neither a SHA-256 fingerprint (64 hex digits) nor a certificate file"
    )


@app.command("verify")
@cli_errors
def verify(
    directory: Annotated[
        Path, typer.Argument(metavar="DIR", help="The report directory (reports/<session-id>).")
    ],
    trust_anchor: Annotated[
        list[Path] | None,
        typer.Option(
            "--trust-anchor", metavar="PEM", help="Root certificate(s) to trust instead of the test CA."
        ),
    ] = None,
    no_trust: Annotated[
        bool,
        typer.Option(
            "--no-trust", help="Do not check the signer against a trust store (self-consistency only)."
        ),
    ] = False,
    expected_signer: Annotated[
        str | None,
        typer.Option("--expected-signer", metavar="SHA256|PEM", help="Require this signing certificate."),
    ] = None,
    ca_dir: Annotated[Path | None, _CA_OPTION] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Check the signature, the signer and every file of a report; name each altered file."""
    from simulator.report.terminal import print_verify
    from simulator.report.verify import NotAReportError
    from simulator.report.verify import verify as verify_report

    if no_trust and trust_anchor:
        raise UsageProblem("--no-trust and --trust-anchor contradict each other; give one of them")
    if not directory.is_dir():
        raise UsageProblem(
            "not a directory; give the report directory (reports/<session-id>)", where=str(directory)
        )
    trust = None if no_trust else _trust_store(ca_dir, list(trust_anchor or []), required=True)
    try:
        result = verify_report(directory, trust=trust, expected_signer=_expected_signer(expected_signer))
    except NotAReportError as exc:
        raise UsageProblem(str(exc)) from None
    console = out_console()
    if as_json:
        payload = {
            "ok": result.ok,
            "directory": str(result.directory),
            "session_id": result.session_id,
            "signer": asdict(result.signer) if result.signer else None,
            "signature_valid": result.signature_valid,
            "trusted": result.trusted,
            "trust_message": result.trust_message,
            "files_checked": result.files_checked,
            "problems": [asdict(p) for p in result.problems],
            "warnings": result.warnings,
        }
        console.print_json(json.dumps(payload, ensure_ascii=False))
    else:
        print_verify(result, console)
    raise typer.Exit(0 if result.ok else 1)


@app.command("show")
@cli_errors
def show(
    directory: Annotated[
        Path, typer.Argument(metavar="DIR", help="The report directory (reports/<session-id>).")
    ],
    no_verify: Annotated[bool, typer.Option("--no-verify", help="Skip the integrity check.")] = False,
    ca_dir: Annotated[Path | None, _CA_OPTION] = None,
) -> None:
    """Print a report's summary: verdict, counts, FAIL and NOT TESTED rows, load SLOs."""
    from simulator.report.terminal import ReportJsonError, load_report_json, print_summary
    from simulator.report.verify import verify as verify_report

    if not directory.is_dir():
        raise UsageProblem(
            "not a directory; give the report directory (reports/<session-id>)", where=str(directory)
        )
    try:
        data = load_report_json(directory)
    except ReportJsonError as exc:
        raise InvalidInput(str(exc)) from None
    integrity = None
    if not no_verify:
        integrity = verify_report(directory, trust=_trust_store(ca_dir, [], required=False))
    print_summary(data, out_console(), integrity=integrity)


@app.command("build")
@cli_errors
def build(
    conformance: Annotated[
        Path,
        typer.Option(
            "--conformance", metavar="RUN", help="Conformance run directory (lienthong conformance --out)."
        ),
    ],
    load: Annotated[
        Path | None, typer.Option("--load", metavar="RUN", help="Load run directory (lienthong load --out).")
    ] = None,
    out: ReportsOutOption = Path("reports"),
    session_id: SessionIdOption = None,
    signing_key: SigningKeyOption = None,
    signing_cert: SigningCertOption = None,
    sut_name: Annotated[
        str | None,
        typer.Option(
            "--sut-name", metavar="NAME", help="Name of the SUT on the cover (default: from the run)."
        ),
    ] = None,
    pdf: Annotated[
        str, typer.Option("--pdf", metavar="ENGINE", help="auto, weasyprint, chromium or off.")
    ] = "auto",
    ca_dir: Annotated[Path | None, _CA_OPTION] = None,
) -> None:
    """Build a signed report from existing run directories."""
    from simulator.report.build import build_report, new_session_id
    from simulator.report.collect import ReportInputError
    from simulator.report.manifest import SignerError, default_signer, load_signer
    from simulator.report.render_pdf import ENGINES
    from simulator.report.terminal import print_summary

    if pdf not in ENGINES:
        raise UsageProblem(f"--pdf {pdf!r} is not a PDF engine", hint="use " + ", ".join(ENGINES))
    if (signing_key is None) != (signing_cert is None):
        missing = "--signing-cert" if signing_cert is None else "--signing-key"
        raise UsageProblem(f"{missing} is missing: give --signing-key and --signing-cert together")
    if session_id is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", session_id):
        raise UsageProblem(
            f"--session-id {session_id!r} is not usable as a directory name",
            hint="use letters, digits, '.', '_' and '-'",
        )
    for option, path in (("--conformance", conformance), ("--load", load)):
        if path is not None and not path.is_dir():
            raise UsageProblem(f"{option}: the run directory does not exist", where=str(path))
    try:
        if signing_key is not None and signing_cert is not None:
            signer = load_signer(signing_key, signing_cert)
        else:
            from simulator.pki.ca import TestCA

            signer = default_signer(TestCA.open(_ca_dir(ca_dir)))
    except SignerError as exc:
        raise UsageProblem(str(exc)) from None
    session = session_id or new_session_id()
    try:
        result = build_report(
            conformance,
            out / session,
            signer=signer,
            load_dir=load,
            sut_name=sut_name,
            session_id=session,
            pdf=pdf,
        )
    except ReportInputError as exc:
        raise UsageProblem(str(exc)) from None
    console = out_console()
    print_summary(result.report.to_dict(), console)
    console.print(Text(f"report written to {result.directory}"))
