"""``lienthong demo``: the whole edXML + PKI chain on embedded defaults, step by step.

Builds a sample document for three recipients, signs it with the sender's test credential, verifies
it, validates it strictly, then flips one byte of the signed content and checks that verification
now fails for the right reason (a digest mismatch). Exit 0 only when every step behaved; exit 3
otherwise (the harness itself is broken — nothing the user did).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from simulator.cli._common import default_credential, open_ca, sign_bytes, write_file
from simulator.cli._errors import ExitCode, cli_errors, out_console
from simulator.edxml.builder import build
from simulator.edxml.diagnostics import Severity
from simulator.edxml.parser import parse
from simulator.edxml.samples import sample_document
from simulator.edxml.validator import Mode, validate
from simulator.home import lienthong_home

__all__ = ["demo", "tamper_one_byte"]


@dataclass
class _Step:
    title: str
    ok: bool
    detail: str


def tamper_one_byte(data: bytes) -> bytes:
    """Change one byte of signed content: the first character of the Subject's text."""
    marker = data.find(b"Subject>")
    if marker < 0:
        raise ValueError("no Subject element to tamper with")
    pos = marker + len(b"Subject>")
    original = data[pos]
    replacement = b"X"[0] if original != b"X"[0] else b"Y"[0]
    return data[:pos] + bytes([replacement]) + data[pos + 1 :]


def _run(steps: list[_Step], title: str, action: Callable[[], tuple[bool, str]]) -> bool:
    try:
        ok, detail = action()
    except Exception as exc:  # a step that crashes is a step that misbehaved; say so and go on
        ok, detail = False, f"{type(exc).__name__}: {exc}"
    steps.append(_Step(title, ok, detail))
    mark = ("✓", "bold green") if ok else ("✗", "bold red")
    out_console().print(Text.assemble(mark, f" {title}: ", (detail, "" if ok else "red")))
    return ok


@cli_errors
def demo(
    directory: Annotated[
        Path | None,
        typer.Option(
            "--dir", metavar="DIR", help="Where to write the files (default: $LIENTHONG_HOME/demo)."
        ),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed for the sample document.")] = None,
) -> None:
    """Run the edXML + signature chain end to end and show each step (exit 0 when all behave)."""
    from simulator.pki import dsig

    console = out_console()
    workdir = directory if directory is not None else lienthong_home() / "demo"
    workdir.mkdir(parents=True, exist_ok=True)
    console.print(Text.assemble(("lienthong demo", "bold"), f" — files in {workdir}"))
    ca = open_ca(None)
    trust = ca.trust_store()
    doc_path, signed_path, tampered_path = (
        workdir / n for n in ("document.xml", "signed.xml", "tampered.xml")
    )
    state: dict[str, bytes] = {}
    steps: list[_Step] = []

    def make() -> tuple[bool, str]:
        document = sample_document(seed=seed, recipients=3)
        state["doc"] = build(document)
        write_file(doc_path, state["doc"])
        state["sender"] = document.header.from_.organ_id.encode()
        h = document.header
        return len(h.to) == 3, f"{h.code} from {h.from_.organ_id} to {len(h.to)} recipients → {doc_path}"

    def sign() -> tuple[bool, str]:
        credential = default_credential(ca, state["sender"].decode())
        state["signed"] = sign_bytes(state["doc"], credential, None)
        write_file(signed_path, state["signed"])
        return (
            True,
            f"with {credential.name!r} ({credential.certificate.subject.rfc4514_string()}) → {signed_path}",
        )

    def verify() -> tuple[bool, str]:
        result = dsig.verify(state["signed"], trust, policy=dsig.SignaturePolicy())
        return (
            result.ok,
            f"signed by {result.signer_subject}" if result.ok else f"{result.failure}: {result.message}",
        )

    def validate_strict() -> tuple[bool, str]:
        parsed = parse(state["signed"])
        if parsed.package is None:
            return False, "the signed package does not parse"
        diags = parsed.diagnostics + validate(parsed.package, mode=Mode.STRICT)
        errors = [d for d in diags if d.severity is Severity.ERROR]
        warnings = [d for d in diags if d.severity is Severity.WARNING]
        if errors:
            return False, f"{len(errors)} error(s), first: {errors[0]}"
        return True, f"no errors, {len(warnings)} warning(s)"

    def tamper() -> tuple[bool, str]:
        tampered = tamper_one_byte(state["signed"])
        write_file(tampered_path, tampered)
        result = dsig.verify(tampered, trust, policy=dsig.SignaturePolicy())
        reason = str(getattr(result.failure, "name", result.failure)).upper()
        if result.ok:
            return False, "verification still succeeds after tampering"
        return (
            "DIGEST" in reason,
            f"refused as expected: {result.failure} [{result.requirement}] → {tampered_path}",
        )

    for title, action in (
        ("build a sample document for 3 recipients", make),
        ("sign it (XML-DSig, test CA)", sign),
        ("verify the signature", verify),
        ("validate strictly", validate_strict),
        ("tamper one byte and verify again", tamper),
    ):
        if not _run(steps, title, action):
            break
    if len(steps) == 5 and all(s.ok for s in steps):
        console.print(Text("all steps behaved", style="bold green"))
        return
    console.print(Text("the demo did not behave: lienthong is broken here (exit 3)", style="bold red"))
    raise typer.Exit(int(ExitCode.INTERNAL))
