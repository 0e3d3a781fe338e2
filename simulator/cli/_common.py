"""Helpers shared by the command groups: files, packages, option values, the test CA, signing."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from simulator.cli._errors import InvalidInput, UsageProblem
from simulator.edxml.diagnostics import Severity
from simulator.edxml.fake import describe_agency, edxml_provider, make_faker
from simulator.edxml.identifiers import IdentifierError, parse_agency_code
from simulator.edxml.model import DocumentPackage, Organization, Priority, StatusCode, StatusPackage
from simulator.edxml.parser import ParseResult, parse

if TYPE_CHECKING:
    from simulator.pki.ca import Credential, TestCA

__all__ = [
    "ALGORITHMS",
    "PRIORITY_NAMES",
    "DefectOption",
    "ReportsOutOption",
    "SessionIdOption",
    "SigningCertOption",
    "SigningKeyOption",
    "SutOption",
    "default_credential",
    "load_package",
    "open_ca",
    "organization_for",
    "parse_priority",
    "parse_status_code",
    "read_file",
    "sign_bytes",
    "write_file",
]

#: --priority values: numbers 0–4 and the Vietnamese names without diacritics.
PRIORITY_NAMES: dict[str, Priority] = {
    "normal": Priority.NORMAL,
    "thuong": Priority.NORMAL,
    "khan": Priority.URGENT,
    "thuong-khan": Priority.VERY_URGENT,
    "hoa-toc": Priority.FLASH,
    "hoa-toc-hen-gio": Priority.FLASH_TIMED,
}
#: --algorithm values → the key type they need.
ALGORITHMS: dict[str, str] = {"rsa-sha256": "rsa", "ecdsa-sha256": "ec", "rsa-sha1": "rsa"}


def read_file(path: Path, what: str = "package") -> bytes:
    """The bytes of ``path``, or a usage error saying what is wrong with the path."""
    if not path.exists():
        raise UsageProblem(f"the {what} file does not exist", where=str(path), hint="check the path")
    if path.is_dir():
        raise UsageProblem(f"expected a {what} file but this is a directory", where=str(path))
    try:
        return path.read_bytes()
    except OSError as exc:
        raise UsageProblem(f"cannot read the {what} file ({exc.strerror})", where=str(path)) from None


def write_file(path: Path, data: bytes) -> None:
    if path.is_dir():
        raise UsageProblem("the output path is a directory; give a file name", where=str(path))
    if not path.parent.is_dir():
        raise UsageProblem(
            "the output directory does not exist", where=str(path.parent), hint="create it first"
        )
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise UsageProblem(f"cannot write the output file ({exc.strerror})", where=str(path)) from None


def load_package(path: Path) -> tuple[bytes, ParseResult]:
    """Read and parse ``path``; an unreadable package is an invalid-input error (exit 1)."""
    data = read_file(path)
    result = parse(data)
    if result.package is None:
        first = next((d for d in result.diagnostics if d.severity is Severity.ERROR), None)
        if first is None:
            raise InvalidInput(
                "the file is not an edXML package", where=str(path), requirement="EDXML-STRUCT"
            )
        raise InvalidInput(
            f"{first.message} (at {first.path})", where=str(path), requirement=first.requirement
        )
    return data, result


def sender_of(package: DocumentPackage | StatusPackage) -> Organization:
    return package.header.from_


def parse_priority(text: str) -> Priority:
    value = text.strip().lower().replace("_", "-").replace(" ", "-")
    if value.isdigit() and int(value) in {p.value for p in Priority}:
        return Priority(int(value))
    if value in PRIORITY_NAMES:
        return PRIORITY_NAMES[value]
    raise UsageProblem(
        f"--priority {text!r} is not a priority",
        requirement="EDXML-ENUM",
        hint="use 0-4 or " + ", ".join(PRIORITY_NAMES),
    )


def parse_status_code(text: str) -> StatusCode:
    value = text.strip()
    if value.isdigit():
        value = f"{int(value):02d}"
    try:
        return StatusCode(value)
    except ValueError:
        legal = ", ".join(c.value for c in StatusCode)
        raise UsageProblem(
            f"--status {text!r} is not a status code", requirement="EDXML-ENUM", hint=f"use one of {legal}"
        ) from None


def organization_for(code: str, option: str) -> Organization:
    """The agency for a code given on the command line; the code must conform (QD28-10.2.a)."""
    try:
        parse_agency_code(code, strict=True)
    except IdentifierError as exc:
        raise UsageProblem(f"{option} {code!r}: {exc.message}", requirement=exc.requirement) from None
    return edxml_provider(make_faker(_code_seed(code))).agency_for(code)


def _code_seed(code: str) -> int:
    """A stable seed per agency code, so its simulated address and phone stay the same run after run."""
    return int.from_bytes(code.strip().encode("ascii", "replace")[:16].ljust(16, b"\0"), "big")


def open_ca(directory: Path | None) -> TestCA:
    from simulator.pki.ca import TestCA

    return TestCA.open(directory)


def default_credential(ca: TestCA, organ_id: str, key_type: str = "rsa") -> Credential:
    """The agency's signing credential, issued on first use: named after its code (``-ec`` for EC)."""
    code = organ_id.strip()
    name = code if key_type == "rsa" else f"{code}-ec"
    info = describe_agency(code)
    try:
        return ca.issue(
            name,
            organ_id=code,
            common_name=info.name if info is not None else None,
            key_type="ec" if key_type == "ec" else "rsa",
        )
    except ValueError as exc:
        raise UsageProblem(
            f"cannot issue a default credential for the sender {code!r}: {exc}",
            hint="pick one with --cert NAME (see `lienthong pki list`)",
        ) from None


def sign_bytes(data: bytes, credential: Credential, algorithm: str | None) -> bytes:
    """Sign ``data`` (an edXML package) with ``credential``; ``algorithm`` as named in :data:`ALGORITHMS`
    (None: the key's own, RSA-SHA256 or ECDSA-SHA256)."""
    from simulator.pki import dsig

    try:
        return dsig.sign(
            data, credential, algorithm=dsig.SignatureAlgorithm(algorithm) if algorithm else None
        )
    except dsig.SigningError as exc:
        raise UsageProblem(f"cannot sign: {exc}", requirement="EDXML-SIG") from None


# ---------------------------------------------------------------- options shared by the SUT commands

SutOption = Annotated[
    str,
    typer.Option(
        "--sut",
        metavar="reference|SUT.TOML",
        help="'reference' (the built-in reference QLVB) or the path of your sut.toml.",
    ),
]
DefectOption = Annotated[
    list[str] | None,
    typer.Option(
        "--defect",
        metavar="NAME",
        help="Run the reference QLVB with this deliberate defect (repeatable; "
        "`lienthong conformance --list-defects` names them).",
    ),
]
ReportsOutOption = Annotated[
    Path,
    typer.Option("--out", metavar="DIR", help="Reports directory; the report goes to DIR/<session-id>/."),
]
SessionIdOption = Annotated[
    str | None, typer.Option("--session-id", metavar="ID", help="Session ID (default: date-time-random).")
]
SigningKeyOption = Annotated[
    Path | None, typer.Option("--signing-key", metavar="PEM", help="The regulator's own signing key.")
]
SigningCertOption = Annotated[
    Path | None, typer.Option("--signing-cert", metavar="PEM", help="Its certificate (then its chain).")
]
