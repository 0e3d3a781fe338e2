"""``lienthong edxml …``: make, sign, verify, validate and inspect edXML packages."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from simulator.cli._common import (
    ALGORITHMS,
    default_credential,
    load_package,
    open_ca,
    organization_for,
    parse_priority,
    parse_status_code,
    read_file,
    sign_bytes,
    write_file,
)
from simulator.cli._errors import InvalidInput, UsageProblem, cli_errors, out_console
from simulator.edxml.attachments import AttachmentError, unwrap
from simulator.edxml.builder import build
from simulator.edxml.diagnostics import Diagnostic, Severity, has_errors
from simulator.edxml.fake import make_faker
from simulator.edxml.identifiers import IdentifierError, parse_document_id
from simulator.edxml.model import BusinessDocType, DocumentPackage, Priority, StatusCode, StatusPackage
from simulator.edxml.samples import sample_document, sample_status
from simulator.edxml.validator import Mode, validate
from simulator.edxml.vntime import format_timestamp

__all__ = ["app"]

app = typer.Typer(
    name="edxml",
    help="Make, sign, verify, validate and inspect edXML packages (QCVN 102:2016/BTTTT).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


class BusinessOp(StrEnum):
    NEW = "new"
    RECALL = "recall"
    UPDATE = "update"
    REPLACE = "replace"


class Algorithm(StrEnum):
    RSA_SHA256 = "rsa-sha256"
    ECDSA_SHA256 = "ecdsa-sha256"
    RSA_SHA1 = "rsa-sha1"


class Engine(StrEnum):
    FAST = "fast"
    SIGNXML = "signxml"


_BUSINESS = {
    BusinessOp.NEW: BusinessDocType.NEW,
    BusinessOp.RECALL: BusinessDocType.RECALL,
    BusinessOp.UPDATE: BusinessDocType.UPDATE,
    BusinessOp.REPLACE: BusinessDocType.REPLACE,
}
_PRIORITY_VI = {
    Priority.NORMAL: "thường",
    Priority.URGENT: "khẩn",
    Priority.VERY_URGENT: "thượng khẩn",
    Priority.FLASH: "hỏa tốc",
    Priority.FLASH_TIMED: "hỏa tốc hẹn giờ",
}
_STATUS_VI = {
    StatusCode.ARRIVED: "đã đến",
    StatusCode.REFUSED: "từ chối tiếp nhận",
    StatusCode.ACCEPTED: "đã tiếp nhận",
    StatusCode.ASSIGNED: "phân công xử lý",
    StatusCode.IN_PROGRESS: "đang xử lý",
    StatusCode.COMPLETED: "hoàn thành",
    StatusCode.RECALL_REQUEST: "yêu cầu thu hồi / lấy lại",
    StatusCode.RECALL_AGREED: "đồng ý thu hồi / cập nhật",
    StatusCode.RECALL_REFUSED: "từ chối thu hồi / cập nhật",
}
_BUSINESS_VI = {
    BusinessDocType.NEW: "new (văn bản mới)",
    BusinessDocType.RECALL: "recall (thu hồi)",
    BusinessDocType.UPDATE: "update (cập nhật)",
    BusinessDocType.REPLACE: "replace (thay thế)",
}


# ---------------------------------------------------------------- new


def _new_status(
    status: str, for_file: Path, from_code: str | None, description: str | None, seed: int | None
) -> tuple[bytes, str]:
    code = parse_status_code(status)
    _, result = load_package(for_file)
    document = result.package
    if not isinstance(document, DocumentPackage):
        raise UsageProblem(
            "--for must name a document package, not a status package",
            where=str(for_file),
            hint="give the document this status answers",
        )
    reporter = organization_for(from_code, "--from") if from_code else None
    package = sample_status(document, code, reporter=reporter, description=description, seed=seed)
    summary = (
        f"status {code.value} ({_STATUS_VI[code]}) from {package.header.from_.organ_id} "
        f"about {document.header.document_id}"
    )
    return build(package), summary


def _read_attach(paths: list[Path]) -> list[tuple[str, bytes]]:
    return [(p.name, read_file(p, "attachment")) for p in paths]


@app.command("new")
@cli_errors
def new(
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the package (.xml).")],
    recipients: Annotated[
        int, typer.Option("--recipients", min=1, help="How many generated recipients (ignored with --to).")
    ] = 3,
    to: Annotated[
        list[str] | None,
        typer.Option("--to", metavar="CODE", help="A recipient's agency code (repeat for several)."),
    ] = None,
    from_code: Annotated[
        str | None,
        typer.Option(
            "--from", metavar="CODE", help="The sender's agency code (default: a generated agency)."
        ),
    ] = None,
    priority: Annotated[
        str | None,
        typer.Option(
            help="Độ khẩn: 0-4 or normal, khan, thuong-khan, hoa-toc, hoa-toc-hen-gio "
            "(default: a realistic mix)."
        ),
    ] = None,
    attachments: Annotated[int, typer.Option(min=0, help="How many generated PDF-like attachments.")] = 1,
    attachment_size: Annotated[
        int,
        typer.Option("--attachment-size", min=0, metavar="BYTES", help="Size of each generated attachment."),
    ] = 40_000,
    attach: Annotated[
        list[Path] | None,
        typer.Option("--attach", metavar="PATH", help="Attach a real file too (repeat for several)."),
    ] = None,
    business: Annotated[
        BusinessOp, typer.Option(help="Business operation: new, recall, update or replace.")
    ] = BusinessOp.NEW,
    original: Annotated[
        str | None,
        typer.Option(
            metavar="DOCID",
            help="DocumentId of the original document (recall/update/replace); with 'new', the document "
            "this one answers.",
        ),
    ] = None,
    status: Annotated[
        str | None,
        typer.Option(metavar="CODE", help="Write a status package instead (01-06, 13, 15, 16); needs --for."),
    ] = None,
    for_file: Annotated[
        Path | None, typer.Option("--for", metavar="FILE", help="The document package the status answers.")
    ] = None,
    description: Annotated[
        str | None, typer.Option(help="Status Description (a reason for 02, 13, 16; default: a plain note).")
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="Seed: the same seed gives the same names and codes.")
    ] = None,
    sign: Annotated[
        bool, typer.Option("--sign/--no-sign", help="Sign with the sender's test credential.")
    ] = False,
    cert: Annotated[
        str | None, typer.Option(metavar="NAME", help="Sign with this test-CA credential (implies --sign).")
    ] = None,
) -> None:
    """Write a realistic sample document package, or with --status/--for a status package answering one.

    Examples:

      lienthong edxml new -o doc.xml

      lienthong edxml new -o doc.xml --to 000.00.00.G22 --to 000.00.03.H18 --priority khan

      lienthong edxml new -o st.xml --status 03 --for doc.xml
    """
    console = out_console()
    if (status is None) != (for_file is None):
        raise UsageProblem("--status and --for go together", hint="e.g. --status 03 --for doc.xml")
    if status is not None and for_file is not None:
        data, summary = _new_status(status, for_file, from_code, description, seed)
    else:
        prio = parse_priority(priority) if priority is not None else None
        kind = _BUSINESS[business]
        if original is not None:
            try:
                parse_document_id(original, strict=True)
            except IdentifierError as exc:
                raise UsageProblem(f"--original: {exc.message}", requirement=exc.requirement) from None
        fake = make_faker(seed)
        sender = organization_for(from_code, "--from") if from_code else None
        to_orgs = [organization_for(c, "--to") for c in to] if to else None
        if sender is not None and to_orgs and any(o.organ_id == sender.organ_id for o in to_orgs):
            raise UsageProblem("the sender is also a recipient", hint="drop its code from --to")
        if to_orgs and len({o.organ_id for o in to_orgs}) != len(to_orgs):
            raise UsageProblem("a recipient is given twice with --to", requirement="EDXML-DUPTO")
        document = sample_document(
            fake,
            sender=sender,
            recipients=to_orgs if to_orgs else recipients,
            priority=prio,
            attachments=attachments,
            attachment_size=attachment_size,
            business=kind,
            original_document_id=original,
            files=_read_attach(attach or []),
        )
        h = document.header
        data = build(document)
        summary = (
            f"document {h.code} ({h.document_type.type_name if h.document_type else '?'}, "
            f"{_BUSINESS_VI[kind]}) from {h.from_.organ_id} to {len(h.to)} recipient(s), "
            f"{len(document.attachments)} attachment(s)"
        )
    if sign or cert:
        ca = open_ca(None)
        credential = ca.credential(cert) if cert else default_credential(ca, _from_of(data))
        data = sign_bytes(data, credential, None)
        summary += f", signed with {credential.name!r}"
    write_file(output, data)
    console.print(Text.assemble(("wrote ", ""), (str(output), "bold"), f" ({len(data):,} bytes): {summary}"))


def _from_of(data: bytes) -> str:
    from simulator.edxml.parser import parse

    result = parse(data)
    if result.package is None or not result.package.header.from_.organ_id.strip():
        raise InvalidInput(
            "the package has no From/OrganId to pick a signing credential for",
            requirement="EDXML-REQ",
            hint="name one with --cert NAME",
        )
    return result.package.header.from_.organ_id


# ---------------------------------------------------------------- sign / verify


@app.command("sign")
@cli_errors
def sign_cmd(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="The edXML package to sign.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the signed package.")],
    cert: Annotated[
        str | None,
        typer.Option(
            metavar="NAME",
            help="Test-CA credential to sign with (default: the sender's, issued on first use).",
        ),
    ] = None,
    algorithm: Annotated[
        Algorithm | None,
        typer.Option(help="Signature algorithm (default: rsa-sha256, or ecdsa-sha256 for EC keys)."),
    ] = None,
) -> None:
    """Sign a package with an enveloped XML-DSig signature (EDXML-SIG) from the test CA.

    Without --cert the sender's credential (named after From/OrganId) is used, issued on first use.
    """
    data = read_file(file)
    ca = open_ca(None)
    if cert:
        credential = ca.credential(cert)
    else:
        key_type = ALGORITHMS[algorithm.value] if algorithm else "rsa"
        credential = default_credential(ca, _from_of(data), key_type)
    needed = ALGORITHMS[algorithm.value] if algorithm is not None else None
    if needed is not None and needed != credential.key_type:
        raise UsageProblem(
            f"--algorithm {algorithm} needs an {needed.upper()} key but credential "
            f"{credential.name!r} holds an {credential.key_type.upper()} key",
            hint="pick a matching --cert or --algorithm",
        )
    signed = sign_bytes(data, credential, algorithm.value if algorithm else None)
    write_file(output, signed)
    subject = credential.certificate.subject.rfc4514_string()
    out_console().print(f"signed {file} → {output} with {credential.name!r} ({subject})")


@app.command("verify")
@cli_errors
def verify_cmd(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="The signed edXML package.")],
    allow_sha1: Annotated[
        bool, typer.Option("--allow-sha1", help="Accept legacy RSA-SHA1 / SHA-1 digests.")
    ] = False,
    allow_unsigned: Annotated[
        bool, typer.Option("--allow-unsigned", help="Accept a package without a signature.")
    ] = False,
    engine: Annotated[Engine, typer.Option(help="Verification engine.")] = Engine.FAST,
    trust_anchor: Annotated[
        list[Path] | None,
        typer.Option(
            "--trust-anchor",
            metavar="PEM",
            help="Trust these root certificates instead of the test CA (repeatable).",
        ),
    ] = None,
) -> None:
    """Verify a package's signature. Exit 0 valid (prints the signer), 1 invalid (with the reason and
    requirement), 2 usage error."""
    from simulator.pki import dsig
    from simulator.pki.trust import TrustStore

    data = read_file(file)
    if trust_anchor:
        for pem in trust_anchor:
            read_file(pem, "trust anchor")
        try:
            trust = TrustStore.from_pem_files(anchors=trust_anchor)
        except ValueError as exc:
            raise UsageProblem(f"--trust-anchor: {exc}") from None
    else:
        trust = open_ca(None).trust_store()
    policy = dsig.SignaturePolicy(allow_sha1=allow_sha1, require_signature=not allow_unsigned)
    result = dsig.verify(data, trust, policy=policy, engine="signxml" if engine is Engine.SIGNXML else "fast")
    console = out_console()
    if result.ok and not result.signed:
        console.print(Text.assemble(("✓ accepted", "bold yellow"), f" — {file}: {result.message}"))
        return
    if result.ok:
        console.print(
            Text.assemble(
                ("✓ valid", "bold green"),
                f" — {file}: signed by {result.signer_subject} ({result.algorithm})",
            )
        )
        for warning in result.warnings:
            console.print(Text(f"  warning: {warning}", style="yellow"))
        return
    raise InvalidInput(
        f"signature invalid: {_failure_name(result.failure)}: {result.message}",
        where=str(file),
        requirement=result.requirement,
    )


def _failure_name(failure: object) -> str:
    value = getattr(failure, "name", None) or getattr(failure, "value", None) or str(failure)
    return str(value).upper().replace("-", "_")


# ---------------------------------------------------------------- validate


def _diagnostics(path: Path, mode: Mode) -> list[Diagnostic]:
    from simulator.edxml.parser import parse

    result = parse(read_file(path))
    diagnostics = list(result.diagnostics)
    if result.package is not None:
        diagnostics += validate(result.package, mode=mode)
    return diagnostics


_SEVERITY_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}


@app.command("validate")
@cli_errors
def validate_cmd(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="The edXML package to check.")],
    strict: Annotated[
        bool,
        typer.Option(
            "--strict/--lenient",
            help="Strict reports every departure as an error; lenient tolerates what real hubs accept.",
        ),
    ] = True,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per diagnostic (JSON lines).")
    ] = False,
) -> None:
    """Check a package against the edXML rules and print the diagnostics. Exit 1 on any error."""
    mode = Mode.STRICT if strict else Mode.LENIENT
    diagnostics = _diagnostics(file, mode)
    console = out_console()
    if as_json:
        for d in diagnostics:
            console.print(json.dumps(d.as_dict(), ensure_ascii=False), markup=False, highlight=False)
    else:
        if diagnostics:
            table = Table(title=f"{file} ({mode.value})", show_lines=False)
            for col in ("severity", "requirement", "path", "message"):
                table.add_column(col, overflow="fold")
            for d in diagnostics:
                table.add_row(
                    Text(d.severity.value, style=_SEVERITY_STYLE[d.severity]),
                    d.requirement,
                    Text(d.path),
                    Text(d.message),
                )
            console.print(table)
        counts = {s: sum(1 for d in diagnostics if d.severity is s) for s in Severity}
        verdict = ("✗ invalid", "bold red") if counts[Severity.ERROR] else ("✓ valid", "bold green")
        console.print(
            Text.assemble(
                verdict,
                f" ({mode.value}): {counts[Severity.ERROR]} error(s), {counts[Severity.WARNING]} warning(s), "
                f"{counts[Severity.INFO]} note(s) — {file}",
            )
        )
    if has_errors(diagnostics):
        raise typer.Exit(1)


# ---------------------------------------------------------------- inspect


def _signature_status(data: bytes) -> Text:
    if b"Signature" not in data:
        return Text("unsigned", style="yellow")
    try:
        from simulator.pki import dsig

        result = dsig.verify(data, open_ca(None).trust_store(), policy=dsig.SignaturePolicy())
    except Exception as exc:  # inspect reports; it never fails on the signature
        return Text(f"not checked ({type(exc).__name__}: {exc})", style="yellow")
    if result.ok:
        return Text(f"valid — signed by {result.signer_subject}", style="green")
    return Text(
        f"INVALID — {_failure_name(result.failure)}: {result.message} [{result.requirement}]", style="red"
    )


def _org(code: str, name: str | None) -> str:
    return f"{code} {name}" if name else code


@app.command("inspect")
@cli_errors
def inspect_cmd(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="The edXML package to summarise.")],
) -> None:
    """Print a readable summary: sender, recipients, ids, subject, priority, business operation,
    trace hops, attachments (name, size, SHA-256) and the signature status."""
    data, result = load_package(file)
    package = result.package
    console = out_console()
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    if isinstance(package, StatusPackage):
        sh = package.header
        table.add_row("kind", "status package")
        table.add_row("from", _org(sh.from_.organ_id, sh.from_.organ_name))
        table.add_row("status", f"{sh.status_code.value} ({_STATUS_VI[sh.status_code]})")
        table.add_row("about", sh.response_for.document_id)
        table.add_row("original sender", sh.response_for.organ_id)
        if sh.response_for.code:
            table.add_row("code", sh.response_for.code)
        table.add_row("description", sh.description or "—")
        table.add_row("timestamp", format_timestamp(sh.timestamp) if sh.timestamp else "—")
        table.add_row("signature", _signature_status(data))
        console.print(table)
        return
    assert isinstance(package, DocumentPackage)
    h = package.header
    table.add_row("kind", "document package")
    table.add_row("from", _org(h.from_.organ_id, h.from_.organ_name))
    for i, org in enumerate(h.to, start=1):
        table.add_row(f"to [{i}]", _org(org.organ_id, org.organ_name))
    table.add_row("document id", h.document_id)
    table.add_row("code", str(h.code) if h.code else "—")
    if h.document_type is not None:
        table.add_row("type", f"{h.document_type.type_name} (Type {h.document_type.type})")
    table.add_row("subject", h.subject)
    table.add_row("priority", f"{h.priority.value} ({_PRIORITY_VI[h.priority]})")
    table.add_row("business", _BUSINESS_VI[package.business_doc_type])
    if h.signer_info is not None:
        signer = ", ".join(x for x in (h.signer_info.competence, h.signer_info.position) if x)
        table.add_row("signer", f"{h.signer_info.full_name or '?'} ({signer})")
    hops = package.trace.trace_headers if package.trace else []
    for i, hop in enumerate(hops, start=1):
        when = format_timestamp(hop.timestamp) if hop.timestamp else "no timestamp"
        table.add_row(f"trace hop {i}", f"{hop.organ_id or '(no OrganId)'} at {when}")
    table.add_row("signature", _signature_status(data))
    console.print(table)
    if not package.attachments:
        console.print("attachments  none")
        return
    console.print(Text("attachments", style="bold"))  # one line each: the SHA-256 stays whole for copying
    inner = {ref.content_id: ref.content_type for ref in package.manifest}
    for att in package.attachments:
        kind = inner.get(att.content_id) or att.content_type or "?"
        if att.content_type and kind != att.content_type:
            kind = f"{kind} in {att.content_type}"
        try:
            f = unwrap(att)
        except AttachmentError as exc:
            console.print(Text(f"  {att.content_id}  {att.attachment_name}  ({kind})  {exc}", style="red"))
            continue
        console.print(f"  {att.content_id}  {f.name}  ({kind})  {len(f.data):,} bytes  sha256 {f.sha256}")
