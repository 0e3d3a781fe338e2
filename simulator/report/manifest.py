"""The signed manifest of a report directory: SHA-256 of every file, and a detached signature.

Files written at the root of the report directory::

    signer.pem     the signing certificate, then its issuing chain (PEM) — itself listed in the manifest
    manifest.json  canonical JSON (UTF-8, keys sorted, no spaces):
                   {"version": 1, "session_id": …, "created": ISO 8601,
                    "files": {"relative/posix/path": {"sha256": hex, "size": bytes}, …},
                    "signer": {"subject": RFC 4514, "sha256_fingerprint": hex of the DER certificate,
                               "algorithm": "rsa-pkcs1v15-sha256" | "ecdsa-sha256"}}
    manifest.sig   the detached signature over the exact bytes of manifest.json, as one line of
                   standard base64 (RSA: the PKCS#1 v1.5 signature block with SHA-256; EC: the DER
                   ECDSA-Sig-Value (r, s) with SHA-256)

Every regular file under the directory is listed except ``manifest.json`` and ``manifest.sig``;
symbolic links are refused (a report holds regular files only). Check with
:func:`simulator.report.verify.verify` or ``openssl dgst -sha256 -verify <(openssl x509 -in signer.pem
-pubkey -noout) -signature <(base64 -d manifest.sig) manifest.json``.

The default signer is the operator's report key issued by the local test PKI
(:func:`default_signer`); a regulator signs with its own key and certificate (:func:`load_signer`,
the key's password from ``$LIENTHONG_SIGNING_KEY_PASSWORD`` when it is encrypted).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from simulator.edxml.vntime import VN_TZ
from simulator.report.model import SignerInfo

if TYPE_CHECKING:
    from simulator.pki.ca import TestCA

__all__ = [
    "MANIFEST",
    "MANIFEST_VERSION",
    "PASSWORD_ENV",
    "SIGNATURE",
    "SIGNER",
    "UNSIGNED",
    "ReportSigner",
    "SignerError",
    "canonical_json",
    "default_signer",
    "file_digest",
    "list_files",
    "load_signer",
    "signature_algorithm",
    "signer_info",
    "verify_signature",
    "write_signed_manifest",
]

MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
SIGNER = "signer.pem"
UNSIGNED = frozenset({MANIFEST, SIGNATURE})
MANIFEST_VERSION = 1
PASSWORD_ENV = "LIENTHONG_SIGNING_KEY_PASSWORD"  # noqa: S105 - the name of the variable, not a password
DEFAULT_SIGNER_NAME = "report-signer"
_CHUNK = 1 << 20

SigningKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


class SignerError(ValueError):
    """The signing key or certificate cannot be used; the message says which file and why."""


@dataclass(frozen=True)
class ReportSigner:
    private_key: SigningKey
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...] = ()  # issuing CA(s) after the leaf

    @property
    def algorithm(self) -> str:
        return signature_algorithm(self.certificate)

    def sign(self, data: bytes) -> bytes:
        if isinstance(self.private_key, rsa.RSAPrivateKey):
            return self.private_key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        return self.private_key.sign(data, ec.ECDSA(hashes.SHA256()))

    def pem(self) -> bytes:
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (self.certificate, *self.chain))

    def info(self) -> SignerInfo:
        return signer_info(self.certificate)


def signature_algorithm(cert: x509.Certificate) -> str:
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return "rsa-pkcs1v15-sha256"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "ecdsa-sha256"
    raise SignerError(
        f"the certificate's key is {type(key).__name__}: reports are signed with RSA or EC (ECDSA) keys only"
    )


def _name(name: x509.Name) -> str:
    try:
        return name.rfc4514_string()
    except ValueError:
        return "<unreadable name>"


def signer_info(cert: x509.Certificate) -> SignerInfo:
    return SignerInfo(
        subject=_name(cert.subject),
        issuer=_name(cert.issuer),
        serial=f"{cert.serial_number:x}",
        sha256_fingerprint=cert.fingerprint(hashes.SHA256()).hex(),
        not_before=cert.not_valid_before_utc.isoformat(),
        not_after=cert.not_valid_after_utc.isoformat(),
        algorithm=signature_algorithm(cert),
    )


def default_signer(ca: TestCA | None = None) -> ReportSigner:
    """The operator's report key from the local test PKI (issued on first use)."""
    from simulator.pki.ca import TestCA

    ca = ca if ca is not None else TestCA.open()
    cred = ca.issue(DEFAULT_SIGNER_NAME, purpose="report")
    return ReportSigner(cred.private_key, cred.certificate, cred.chain)


def load_signer(key_path: Path, cert_path: Path, *, password: bytes | None = None) -> ReportSigner:
    """A regulator's own key (PEM, PKCS#8 or traditional; encrypted when ``password`` or
    ``$LIENTHONG_SIGNING_KEY_PASSWORD`` is given) and certificate (PEM: leaf first, then its chain)."""
    if password is None and os.environ.get(PASSWORD_ENV):
        password = os.environ[PASSWORD_ENV].encode("utf-8")
    try:
        key_data = key_path.read_bytes()
    except OSError as exc:
        raise SignerError(f"{key_path}: cannot read the signing key ({exc.strerror or exc})") from None
    try:
        cert_data = cert_path.read_bytes()
    except OSError as exc:
        raise SignerError(
            f"{cert_path}: cannot read the signing certificate ({exc.strerror or exc})"
        ) from None
    try:
        key = serialization.load_pem_private_key(key_data, password=password)
    except TypeError as exc:
        hint = (
            f"set {PASSWORD_ENV} to its password"
            if "encrypted" in str(exc) and password is None
            else "give the key without a password, or the right file"
        )
        raise SignerError(f"{key_path}: {exc}; {hint}") from None
    except ValueError as exc:
        raise SignerError(
            f"{key_path}: not a usable PEM private key ({exc}); a wrong password gives this error too"
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise SignerError(f"{key_path}: a {type(key).__name__}; reports are signed with RSA or EC keys only")
    try:
        certs = x509.load_pem_x509_certificates(cert_data)
    except ValueError as exc:
        raise SignerError(f"{cert_path}: not a PEM certificate ({exc})") from None
    leaf = certs[0]
    if leaf.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) != key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ):
        raise SignerError(
            f"{key_path} does not belong to the first certificate of {cert_path} "
            f"({_name(leaf.subject)}): give the key and certificate of the same signer"
        )
    return ReportSigner(key, leaf, tuple(certs[1:]))


def canonical_json(value: Any) -> bytes:
    """UTF-8 JSON with sorted keys and no spaces (the bytes that are signed)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def file_digest(path: Path) -> tuple[str, int]:
    """SHA-256 (hex) and size of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def list_files(directory: Path) -> tuple[list[str], list[str]]:
    """Relative POSIX paths of the regular files under ``directory`` (sorted, manifest and signature
    excluded), and the paths that are neither regular files nor directories (symbolic links, …)."""
    files: list[str] = []
    odd: list[str] = []
    for root, dirs, names in os.walk(directory, followlinks=False):
        base = Path(root)
        for d in list(dirs):
            if (base / d).is_symlink():
                odd.append((base / d).relative_to(directory).as_posix())
                dirs.remove(d)
        for name in names:
            path = base / name
            rel = path.relative_to(directory).as_posix()
            if rel in UNSIGNED:
                continue
            if path.is_symlink() or not path.is_file():
                odd.append(rel)
            else:
                files.append(rel)
    return sorted(files), sorted(odd)


def verify_signature(cert: x509.Certificate, data: bytes, signature: bytes) -> bool:
    key = cert.public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        else:
            return False
    except InvalidSignature:
        return False
    return True


def write_signed_manifest(
    directory: Path, session_id: str, signer: ReportSigner, *, created: dt.datetime | None = None
) -> dict[str, Any]:
    """Write ``signer.pem``, then ``manifest.json`` over every file, then ``manifest.sig``."""
    (directory / SIGNER).write_bytes(signer.pem())
    files, odd = list_files(directory)
    if odd:
        raise SignerError(
            f"{directory}: {', '.join(odd)} is not a regular file; a report holds regular files only"
        )
    entries = {}
    for rel in files:
        sha, size = file_digest(directory / rel)
        entries[rel] = {"sha256": sha, "size": size}
    info = signer.info()
    manifest = {
        "version": MANIFEST_VERSION,
        "session_id": session_id,
        "created": (created or dt.datetime.now(VN_TZ)).astimezone(VN_TZ).isoformat(timespec="seconds"),
        "files": entries,
        "signer": {
            "subject": info.subject,
            "sha256_fingerprint": info.sha256_fingerprint,
            "algorithm": info.algorithm,
        },
    }
    data = canonical_json(manifest)
    (directory / MANIFEST).write_bytes(data)
    (directory / SIGNATURE).write_bytes(base64.b64encode(signer.sign(data)) + b"\n")
    return manifest
