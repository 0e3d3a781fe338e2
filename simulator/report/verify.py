"""Check a report directory: the manifest's signature, its signer, and every file's size and SHA-256.

:func:`verify` never raises for a damaged report: it returns a :class:`VerifyReport` whose
``problems`` say precisely what is wrong — which file was altered, deleted or added, whether the
manifest is truncated, whether the signature does not verify with the certificate in
``signer.pem``, whether that certificate chains to the trust store. Only a path that is not a
directory at all raises :class:`NotAReportError` (a usage error).

Trust: with ``trust`` (the command line defaults to the local test CA's trust store, or the anchors
given with ``--trust-anchor``) the signer's certificate must chain to it for purpose "report", checked
at the manifest's ``created`` time (revocation included). Without it the report is only
*self-consistent*: the files match a manifest that the enclosed certificate signed — anyone can make
such a report, and :attr:`VerifyReport.trusted` is ``None`` to say so.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from simulator.pki.trust import TrustStore
from simulator.report.manifest import (
    MANIFEST,
    MANIFEST_VERSION,
    SIGNATURE,
    SIGNER,
    file_digest,
    list_files,
    signer_info,
    verify_signature,
)
from simulator.report.model import SignerInfo

__all__ = ["NotAReportError", "Problem", "VerifyReport", "verify"]

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class NotAReportError(ValueError):
    """The path given is not a directory."""


@dataclass(frozen=True, slots=True)
class Problem:
    kind: str  # manifest-missing | manifest-invalid | signer-missing | signer-invalid | signature-missing |
    # signature-invalid | signer-mismatch | unexpected-signer | untrusted | file-missing | file-altered |
    # file-unlisted | file-not-regular
    path: str  # the file concerned, relative to the report directory
    message: str


@dataclass(slots=True)
class VerifyReport:
    directory: Path
    problems: list[Problem] = field(default_factory=list)
    session_id: str | None = None
    created: str | None = None
    signer: SignerInfo | None = None
    signature_valid: bool = False
    trusted: bool | None = None  # None: no trust store was given (self-consistency only)
    trust_message: str = ""
    files_checked: int = 0
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, kind: str, path: str, message: str) -> None:
        self.problems.append(Problem(kind, path, message))

    def files_named(self) -> list[str]:
        """The report files named by a file-level problem (altered, missing, unlisted)."""
        return [p.path for p in self.problems if p.kind.startswith("file-")]


def _json_error(data: bytes, exc: json.JSONDecodeError) -> str:
    stripped = data.rstrip()
    truncated = (
        not stripped.endswith(b"}") or exc.pos >= len(stripped) - 1 or exc.msg.startswith("Unterminated")
    )
    how = "it ends abruptly (truncated)" if truncated else "it is corrupted"
    return (
        f"{MANIFEST} is not valid JSON: {how} — {exc.msg} (line {exc.lineno}, column {exc.colno}, "
        f"byte {exc.pos} of {len(data)}); the manifest cannot be trusted, rebuild or re-fetch the report"
    )


def _check_structure(manifest: Any, report: VerifyReport) -> dict[str, dict[str, Any]] | None:
    """The ``files`` table when the manifest has the documented shape; problems otherwise."""
    if not isinstance(manifest, dict):
        report.add(
            "manifest-invalid", MANIFEST, f"{MANIFEST} must be a JSON object, found {type(manifest).__name__}"
        )
        return None
    missing = [k for k in ("version", "session_id", "created", "files", "signer") if k not in manifest]
    if missing:
        report.add("manifest-invalid", MANIFEST, f"{MANIFEST} lacks the field(s) {', '.join(missing)}")
        return None
    if manifest["version"] != MANIFEST_VERSION:
        report.add(
            "manifest-invalid",
            MANIFEST,
            f"{MANIFEST}: version {manifest['version']!r} is not supported (this harness reads version "
            f"{MANIFEST_VERSION})",
        )
        return None
    report.session_id = manifest["session_id"] if isinstance(manifest["session_id"], str) else None
    report.created = manifest["created"] if isinstance(manifest["created"], str) else None
    files = manifest["files"]
    if not isinstance(files, dict):
        report.add("manifest-invalid", MANIFEST, f"{MANIFEST}: files must be an object of path → hash")
        return None
    good: dict[str, dict[str, Any]] = {}
    for rel, entry in files.items():
        where = f"{MANIFEST}: files[{rel!r}]"
        pure = PurePosixPath(rel)
        if not rel or pure.is_absolute() or ".." in pure.parts or "\\" in rel or rel in (MANIFEST, SIGNATURE):
            report.add("manifest-invalid", MANIFEST, f"{where}: not a plain relative path inside the report")
            continue
        if not isinstance(entry, dict):
            report.add("manifest-invalid", MANIFEST, f"{where}: expected {{sha256, size}}")
            continue
        sha, size = entry.get("sha256"), entry.get("size")
        if not isinstance(sha, str) or not _HEX64.match(sha):
            report.add("manifest-invalid", MANIFEST, f"{where}.sha256: expected 64 lower-case hex digits")
            continue
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            report.add("manifest-invalid", MANIFEST, f"{where}.size: expected a byte count")
            continue
        good[rel] = entry
    signer = manifest["signer"]
    if not isinstance(signer, dict) or not isinstance(signer.get("sha256_fingerprint"), str):
        report.add("manifest-invalid", MANIFEST, f"{MANIFEST}: signer.sha256_fingerprint is missing")
    return good


def _load_signer_pem(directory: Path, report: VerifyReport) -> list[x509.Certificate] | None:
    path = directory / SIGNER
    if not path.is_file():
        report.add(
            "signer-missing", SIGNER, f"{SIGNER} is missing: the certificate that signed the manifest is gone"
        )
        return None
    try:
        return x509.load_pem_x509_certificates(path.read_bytes())
    except ValueError as exc:
        report.add("signer-invalid", SIGNER, f"{SIGNER} holds no readable PEM certificate ({exc})")
        return None


def _load_signature(directory: Path, report: VerifyReport) -> bytes | None:
    path = directory / SIGNATURE
    if not path.is_file():
        report.add("signature-missing", SIGNATURE, f"{SIGNATURE} is missing: the manifest is not signed")
        return None
    text = path.read_bytes().strip()
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        report.add("signature-invalid", SIGNATURE, f"{SIGNATURE} is not base64 text (corrupted or replaced)")
        return None


def _check_time(report: VerifyReport) -> dt.datetime:
    if report.created:
        try:
            when = dt.datetime.fromisoformat(report.created)
            if when.tzinfo is not None:
                return when
        except ValueError:
            report.warnings.append(
                f"manifest created time {report.created!r} is not ISO 8601; checked at now"
            )
    return dt.datetime.now(dt.UTC)


def _fingerprint(value: bytes) -> bytes:
    """``expected_signer`` as a SHA-256 fingerprint: 32 raw bytes, 64 hex digits, or a PEM/DER certificate."""
    text = value.strip()
    if len(text) == 32:
        return text
    hexed = text.replace(b":", b"").lower()
    if len(hexed) == 64 and re.fullmatch(rb"[0-9a-f]{64}", hexed):
        return bytes.fromhex(hexed.decode())
    try:
        cert = (
            x509.load_pem_x509_certificate(text)
            if b"-----BEGIN" in text
            else x509.load_der_x509_certificate(text)
        )
    except ValueError:
        raise ValueError(
            "expected_signer must be a SHA-256 fingerprint (32 bytes or 64 hex digits) or a certificate"
        ) from None
    return cert.fingerprint(hashes.SHA256())


def verify(
    directory: Path, *, trust: TrustStore | None = None, expected_signer: bytes | None = None
) -> VerifyReport:
    """Check the report in ``directory`` (see the module docstring)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise NotAReportError(
            f"{directory}: not a directory (give the report directory, reports/<session-id>)"
        )
    report = VerifyReport(directory=directory)
    manifest_path = directory / MANIFEST
    if not manifest_path.is_file():
        report.add(
            "manifest-missing",
            MANIFEST,
            f"{MANIFEST} is missing: this directory is not a signed report (or its manifest was deleted)",
        )
        return report
    data = manifest_path.read_bytes()
    try:
        manifest = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        report.add(
            "manifest-invalid", MANIFEST, f"{MANIFEST} is not UTF-8 text (byte {exc.start}); it is corrupted"
        )
        return report
    except json.JSONDecodeError as exc:
        report.add("manifest-invalid", MANIFEST, _json_error(data, exc))
        return report
    files = _check_structure(manifest, report)

    certs = _load_signer_pem(directory, report)
    signature = _load_signature(directory, report)
    if certs:
        leaf = certs[0]
        try:
            report.signer = signer_info(leaf)
        except ValueError as exc:
            report.add("signer-invalid", SIGNER, f"{SIGNER}: {exc}")
        if signature is not None:
            report.signature_valid = verify_signature(leaf, data, signature)
            if not report.signature_valid:
                report.add(
                    "signature-invalid",
                    SIGNATURE,
                    f"the signature in {SIGNATURE} does not verify with the certificate in {SIGNER} "
                    f"({report.signer.subject if report.signer else 'unreadable'}): {MANIFEST} was altered "
                    "after signing, or it was signed with another key",
                )
        fpr = leaf.fingerprint(hashes.SHA256())
        listed = manifest.get("signer", {}).get("sha256_fingerprint") if isinstance(manifest, dict) else None
        if isinstance(listed, str) and listed.lower() != fpr.hex():
            report.add(
                "signer-mismatch",
                SIGNER,
                f"{SIGNER} is not the certificate the manifest names "
                f"(manifest: {listed}, {SIGNER}: {fpr.hex()})",
            )
        if expected_signer is not None and _fingerprint(expected_signer) != fpr:
            report.add(
                "unexpected-signer",
                SIGNER,
                f"the report is signed by {report.signer.subject if report.signer else '?'} "
                f"(SHA-256 {fpr.hex()}), not by the expected signer ({_fingerprint(expected_signer).hex()})",
            )
        if trust is not None:
            result = trust.validate_chain(
                leaf, at=_check_time(report), purpose="report", extra_certs=certs[1:]
            )
            report.trusted = result.ok
            report.trust_message = result.message
            report.warnings.extend(result.warnings)
            if not result.ok:
                report.add(
                    "untrusted",
                    SIGNER,
                    f"the signer is not trusted ({result.reason}): {result.message}; the report is only "
                    "self-consistent — anyone holding that key could have made it",
                )
        else:
            report.trust_message = (
                "no trust store was given: the report is only self-consistent (its files match a manifest "
                "signed by the certificate it carries); check the signer against your trust anchors"
            )

    if files is None:
        return report
    for rel, entry in sorted(files.items()):
        path = directory / rel
        if path.is_symlink():
            report.add(
                "file-not-regular", rel, f"{rel} is a symbolic link; a report holds regular files only"
            )
            continue
        if not path.is_file():
            report.add(
                "file-missing", rel, f"{rel} is missing (listed in the manifest, {entry['size']} bytes)"
            )
            continue
        sha, size = file_digest(path)
        report.files_checked += 1
        if size != entry["size"]:
            report.add(
                "file-altered",
                rel,
                f"{rel} was altered: {size} bytes where the manifest signed {entry['size']}",
            )
        elif sha != entry["sha256"]:
            report.add(
                "file-altered",
                rel,
                f"{rel} was altered: its SHA-256 is {sha}, the manifest signed {entry['sha256']}",
            )
    present, odd = list_files(directory)
    for rel in present:
        if rel not in files:
            report.add("file-unlisted", rel, f"{rel} is not in the manifest: it was added after signing")
    for rel in odd:
        if rel not in files:
            report.add(
                "file-not-regular", rel, f"{rel} is not a regular file (symbolic link?) and is not signed"
            )
    return report
