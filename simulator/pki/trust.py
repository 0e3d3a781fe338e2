"""Trust decisions: which certificate chains the simulator accepts, and why not.

A :class:`TrustStore` holds explicit trust anchors (roots), known intermediates and CRLs. It builds
the path from a signer's certificate to an anchor itself (a careful manual walk: issuer name + AKI/SKI
+ signature of every link, CA flags, path length, key usage, unknown critical extensions, validity
of every certificate at the asked time, CRL revocation) so that each refusal carries one precise
reason. ``cryptography.x509.verification`` was not used as the decision maker: it only speaks TLS
profiles (its client/server verifiers want an ExtendedKeyUsage and report every failure as one
opaque ``VerificationError``), does no revocation, and cannot tell "expired" from "untrusted".

Certificates offered by the signer (``extra_certs``, e.g. from ``KeyInfo``) are only ever used as
path-building candidates, never as anchors: an embedded certificate is never trusted because it is
there.

Speed: the time-independent part of a decision (path, signatures, flags) is cached per
(leaf fingerprint, purpose, offered certificates); validity dates and the CRL lookup are checked on
every call (a few comparisons), so caching never extends a certificate past its expiry. CRL files
are re-read when they change on disk (``TestCA.revoke`` rewrites ``crl.pem``).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

__all__ = [
    "ChainFailure",
    "ChainPurpose",
    "ChainResult",
    "TrustStore",
    "describe",
    "load_pem_certificates",
    "load_pem_crls",
]

ChainPurpose = Literal["signing", "tls-server", "report"]

_MAX_DEPTH = 6
_CACHE_MAX = 4096
_WEAK_HASHES = ("md5", "sha1")
_MIN_RSA_BITS = 2048


class ChainFailure(StrEnum):
    UNTRUSTED = "untrusted"  # no path to a trust anchor
    BAD_SIGNATURE = "bad chain signature"  # a link's signature does not verify with its issuer's key
    INVALID = "invalid chain"  # CA without CA rights, path length, weak algorithm, unknown critical ext
    EXPIRED = "expired"
    NOT_YET_VALID = "not yet valid"
    REVOKED = "revoked"
    WRONG_KEY_USAGE = "wrong key usage"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class ChainResult:
    ok: bool
    reason: ChainFailure | None
    message: str  # a plain sentence: what is wrong with which certificate, and what to do
    chain: tuple[x509.Certificate, ...] = ()  # leaf … anchor when a path was found
    warnings: tuple[str, ...] = ()


def describe(cert: x509.Certificate) -> str:
    """Human label of a certificate: its subject and serial."""
    try:
        subject = cert.subject.rfc4514_string()
    except ValueError:
        subject = "<unreadable subject>"
    return f"'{subject}' (serial {cert.serial_number:x})"


def load_pem_certificates(data: bytes) -> list[x509.Certificate]:
    """Every certificate in a PEM bundle (raises ValueError when there is none)."""
    return x509.load_pem_x509_certificates(data)


def load_pem_crls(data: bytes) -> list[x509.CertificateRevocationList]:
    """Every CRL in a PEM bundle (raises ValueError when there is none)."""
    marker = b"-----BEGIN X509 CRL-----"
    end = b"-----END X509 CRL-----"
    crls: list[x509.CertificateRevocationList] = []
    pos = data.find(marker)
    while pos >= 0:
        stop = data.find(end, pos)
        if stop < 0:
            break
        crls.append(x509.load_pem_x509_crl(data[pos : stop + len(end)]))
        pos = data.find(marker, stop)
    if not crls:
        raise ValueError("no PEM 'X509 CRL' block found")
    return crls


def _fp(cert: x509.Certificate) -> bytes:
    return cert.fingerprint(hashes.SHA256())


def _ext(cert: x509.Certificate, ext_type: type[x509.ExtensionType]) -> x509.ExtensionType | None:
    try:
        return cert.extensions.get_extension_for_class(ext_type).value
    except x509.ExtensionNotFound:
        return None


def _ski(cert: x509.Certificate) -> bytes | None:
    value = _ext(cert, x509.SubjectKeyIdentifier)
    return value.digest if isinstance(value, x509.SubjectKeyIdentifier) else None


def _aki(cert: x509.Certificate) -> bytes | None:
    value = _ext(cert, x509.AuthorityKeyIdentifier)
    return value.key_identifier if isinstance(value, x509.AuthorityKeyIdentifier) else None


@dataclass
class _Static:
    """Time-independent part of a decision."""

    chain: tuple[x509.Certificate, ...]
    failure: ChainFailure | None
    message: str
    key_usage_failure: str | None = None
    windows: tuple[tuple[x509.Certificate, dt.datetime, dt.datetime], ...] = ()
    crl_state: _CrlState | None = None
    crl_links: list[tuple[x509.Certificate, x509.Certificate, list[_CrlIndex]]] = field(default_factory=list)


@dataclass
class _CrlIndex:
    crl: x509.CertificateRevocationList
    revoked: dict[int, dt.datetime]
    next_update: dt.datetime | None


@dataclass
class _CrlState:
    stamps: tuple[tuple[int, int, int], ...] = ()
    by_issuer: dict[x509.Name, list[_CrlIndex]] = field(default_factory=dict)
    loaded: bool = False


class TrustStore:
    """Explicit trust anchors + intermediates + CRLs, and the chain validation that uses them."""

    def __init__(
        self,
        anchors: Iterable[x509.Certificate],
        intermediates: Iterable[x509.Certificate] = (),
        crls: Iterable[x509.CertificateRevocationList] = (),
        *,
        crl_files: Iterable[Path] = (),
    ) -> None:
        self.anchors: tuple[x509.Certificate, ...] = tuple(anchors)
        if not self.anchors:
            raise ValueError("a trust store needs at least one trust anchor (root certificate)")
        self.intermediates: tuple[x509.Certificate, ...] = tuple(intermediates)
        self._static_crls = tuple(crls)
        self._crl_files = tuple(Path(p) for p in crl_files)
        self._anchor_fps = {_fp(c) for c in self.anchors}
        self._by_subject: dict[x509.Name, list[x509.Certificate]] = {}
        for cert in (*self.anchors, *self.intermediates):
            bucket = self._by_subject.setdefault(cert.subject, [])
            if all(_fp(c) != _fp(cert) for c in bucket):
                bucket.append(cert)
        self._lock = threading.Lock()
        self._cache: dict[tuple[x509.Certificate, str, tuple[x509.Certificate, ...]], _Static] = {}
        self._crl_state = _CrlState()
        self._crl_verified: dict[tuple[bytes, bytes], bool] = {}
        self._refresh_crls()

    @classmethod
    def from_pem_files(
        cls,
        *,
        anchors: Iterable[Path | str],
        intermediates: Iterable[Path | str] = (),
        crls: Iterable[Path | str] = (),
    ) -> TrustStore:
        """A store from PEM files (each may hold several blocks); CRL files are re-read when they change."""
        return cls(
            anchors=_read_certs(anchors, "trust anchor"),
            intermediates=_read_certs(intermediates, "intermediate"),
            crl_files=[Path(p) for p in crls],
        )

    @property
    def crls(self) -> tuple[x509.CertificateRevocationList, ...]:
        self._refresh_crls()
        return tuple(idx.crl for lst in self._crl_state.by_issuer.values() for idx in lst)

    # ------------------------------------------------------------------ CRLs
    def _refresh_crls(self) -> None:
        stamps: list[tuple[int, int, int]] = []
        for path in self._crl_files:
            try:
                st = path.stat()
                stamps.append((st.st_mtime_ns, st.st_size, st.st_ino))
            except OSError:
                stamps.append((0, 0, 0))
        stamp_t = tuple(stamps)
        if self._crl_state.loaded and stamp_t == self._crl_state.stamps:
            return
        crls: list[x509.CertificateRevocationList] = list(self._static_crls)
        for path in self._crl_files:
            try:
                crls.extend(load_pem_crls(path.read_bytes()))
            except (OSError, ValueError):
                continue  # reported as "no CRL" warnings at validation time
        by_issuer: dict[x509.Name, list[_CrlIndex]] = {}
        for crl in crls:
            revoked = {r.serial_number: r.revocation_date_utc for r in crl}
            by_issuer.setdefault(crl.issuer, []).append(_CrlIndex(crl, revoked, crl.next_update_utc))
        with self._lock:
            self._crl_state = _CrlState(stamps=stamp_t, by_issuer=by_issuer, loaded=True)

    def _crls_for(self, issuer: x509.Certificate) -> list[_CrlIndex]:
        result: list[_CrlIndex] = []
        issuer_fp = _fp(issuer)
        for idx in self._crl_state.by_issuer.get(issuer.subject, []):
            key = (idx.crl.fingerprint(hashes.SHA256()), issuer_fp)
            ok = self._crl_verified.get(key)
            if ok is None:
                pub = issuer.public_key()
                ok = isinstance(pub, rsa.RSAPublicKey | ec.EllipticCurvePublicKey | dsa.DSAPublicKey) and (
                    idx.crl.is_signature_valid(pub)
                )
                self._crl_verified[key] = ok
            if ok:
                result.append(idx)
        return result

    # ------------------------------------------------------------------ validation
    def validate_chain(
        self,
        cert: x509.Certificate,
        *,
        at: dt.datetime | None = None,
        purpose: ChainPurpose = "signing",
        extra_certs: Sequence[x509.Certificate] = (),
        check_revocation: bool = True,
    ) -> ChainResult:
        """Decide whether ``cert`` chains to an anchor and may be used for ``purpose`` at ``at``.

        ``at`` must be timezone-aware (default: now). ``extra_certs`` are untrusted path-building
        candidates offered by the signer.
        """
        if at is None:
            at = dt.datetime.now(dt.UTC)
        elif at.tzinfo is None or at.utcoffset() is None:
            raise ValueError("validate_chain(at=...) needs a timezone-aware datetime (e.g. VN_TZ or UTC)")
        key = (cert, purpose, tuple(extra_certs))
        static = self._cache.get(key)
        if static is None:
            static = self._analyse(cert, purpose, extra_certs)
            with self._lock:
                if len(self._cache) >= _CACHE_MAX:
                    self._cache.clear()
                self._cache[key] = static
        if static.failure is not None:
            return ChainResult(False, static.failure, static.message, static.chain)

        for c, not_before, not_after in static.windows:
            if not_before <= at <= not_after:
                continue
            role = "the signer's certificate" if c is static.chain[0] else "the CA certificate"
            if at < not_before:
                return ChainResult(
                    False,
                    ChainFailure.NOT_YET_VALID,
                    f"{role} {describe(c)} is not valid yet: its validity starts "
                    f"{not_before.isoformat()} and the check time is {at.isoformat()}; "
                    "sign with a certificate that is already valid (or fix the clock)",
                    static.chain,
                )
            return ChainResult(
                False,
                ChainFailure.EXPIRED,
                f"{role} {describe(c)} expired on {not_after.isoformat()} "
                f"(check time {at.isoformat()}); renew the certificate and sign again",
                static.chain,
            )

        warnings: list[str] = []
        if check_revocation:
            self._refresh_crls()
            state = self._crl_state
            if static.crl_state is not state:
                static.crl_links = [
                    (c, static.chain[i + 1], self._crls_for(static.chain[i + 1]))
                    for i, c in enumerate(static.chain[:-1])
                ]
                static.crl_state = state
            for c, issuer, indexes in static.crl_links:
                if not indexes:
                    warnings.append(
                        f"revocation of {describe(c)} not checked: the trust store has no valid CRL "
                        f"signed by {describe(issuer)}"
                    )
                    continue
                for idx in indexes:
                    when = idx.revoked.get(c.serial_number)
                    if when is not None and when <= at:
                        return ChainResult(
                            False,
                            ChainFailure.REVOKED,
                            f"the certificate {describe(c)} was revoked on {when.isoformat()} "
                            f"(listed in the CRL of {describe(issuer)}); it can no longer sign — "
                            "use a valid certificate",
                            static.chain,
                        )
                    if idx.next_update is not None and idx.next_update < at:
                        warnings.append(
                            f"the CRL of {describe(issuer)} is out of date (next update was due "
                            f"{idx.next_update.isoformat()}); revocation status may be stale"
                        )

        if static.key_usage_failure is not None:
            return ChainResult(
                False, ChainFailure.WRONG_KEY_USAGE, static.key_usage_failure, static.chain, tuple(warnings)
            )
        return ChainResult(True, None, static.message, static.chain, tuple(warnings))

    def _candidates(
        self, cert: x509.Certificate, extra: dict[x509.Name, list[x509.Certificate]]
    ) -> list[x509.Certificate]:
        found = list(self._by_subject.get(cert.issuer, []))
        found_fps = {_fp(c) for c in found}
        for c in extra.get(cert.issuer, []):
            if _fp(c) not in found_fps:
                found.append(c)
        aki = _aki(cert)
        if aki is not None:
            matching = [c for c in found if _ski(c) in (None, aki)]
            if matching:
                found = matching
        # anchors first: shortest paths
        found.sort(key=lambda c: 0 if _fp(c) in self._anchor_fps else 1)
        return found

    def _analyse(
        self, leaf: x509.Certificate, purpose: ChainPurpose, extra_certs: Sequence[x509.Certificate]
    ) -> _Static:
        extra: dict[x509.Name, list[x509.Certificate]] = {}
        for c in extra_certs:
            extra.setdefault(c.subject, []).append(c)
        failures: list[tuple[ChainFailure, str]] = []

        def walk(path: list[x509.Certificate]) -> list[x509.Certificate] | None:
            cert = path[-1]
            if _fp(cert) in self._anchor_fps:
                return path
            if len(path) > _MAX_DEPTH:
                failures.append((ChainFailure.UNTRUSTED, f"the chain above {describe(leaf)} is too long"))
                return None
            candidates = self._candidates(cert, extra)
            if not candidates:
                if cert.issuer == cert.subject:
                    msg = (
                        f"the chain of {describe(leaf)} ends at the self-signed {describe(cert)}, "
                        "which is not a trust anchor of this store"
                    )
                else:
                    msg = (
                        f"the issuer '{cert.issuer.rfc4514_string()}' of {describe(cert)} is unknown to "
                        "this trust store"
                    )
                failures.append((ChainFailure.UNTRUSTED, msg))
                return None
            for cand in candidates:
                if any(_fp(cand) == _fp(p) for p in path):
                    failures.append(
                        (
                            ChainFailure.UNTRUSTED,
                            f"the chain of {describe(leaf)} ends at the self-signed {describe(cand)}, "
                            "which is not a trust anchor of this store",
                        )
                    )
                    continue
                try:
                    cert.verify_directly_issued_by(cand)
                except (ValueError, TypeError, InvalidSignature):
                    failures.append(
                        (
                            ChainFailure.BAD_SIGNATURE,
                            f"the certificate {describe(cert)} names {describe(cand)} as its issuer, but its "
                            "signature does not verify with that CA's key (forged or re-keyed CA)",
                        )
                    )
                    continue
                found = walk([*path, cand])
                if found is not None:
                    return found
            return None

        path = walk([leaf])
        if path is None:
            failure = next((f for f in failures if f[0] is ChainFailure.BAD_SIGNATURE), None) or (
                failures[0] if failures else (ChainFailure.UNTRUSTED, f"{describe(leaf)} is not trusted")
            )
            advice = " (QD28-6.1: use a certificate issued by a CA in the trust store)"
            return _Static((leaf,), failure[0], failure[1] + advice)
        chain = tuple(path)
        problem = _check_chain(chain)
        if problem is not None:
            return _Static(chain, ChainFailure.INVALID, problem)
        return _Static(
            chain,
            None,
            f"the certificate {describe(chain[0])} chains to the trust anchor {describe(chain[-1])}",
            _check_leaf_usage(chain[0], purpose),
            windows=tuple((c, c.not_valid_before_utc, c.not_valid_after_utc) for c in chain),
        )


def _read_certs(paths: Iterable[Path | str], role: str) -> list[x509.Certificate]:
    certs: list[x509.Certificate] = []
    for p in paths:
        path = Path(p)
        try:
            certs.extend(load_pem_certificates(path.read_bytes()))
        except OSError as exc:
            raise ValueError(f"cannot read the {role} file {path}: {exc.strerror}") from None
        except ValueError:
            raise ValueError(f"the {role} file {path} holds no PEM certificate") from None
    return certs


def _check_chain(chain: tuple[x509.Certificate, ...]) -> str | None:
    """CA rights, path length, algorithms and critical extensions of a built path."""
    for i, cert in enumerate(chain):
        try:
            exts = list(cert.extensions)
        except ValueError as exc:
            return f"the certificate {describe(cert)} has malformed extensions ({exc})"
        for ext in exts:
            if ext.critical and isinstance(ext.value, x509.UnrecognizedExtension):
                oid = ext.oid.dotted_string
                return f"the certificate {describe(cert)} has an unknown critical extension {oid}"
        is_anchor = i == len(chain) - 1
        if not is_anchor:
            alg = cert.signature_hash_algorithm
            if alg is not None and alg.name in _WEAK_HASHES:
                return f"the certificate {describe(cert)} is signed with the weak hash {alg.name}"
        pub = cert.public_key()
        if isinstance(pub, rsa.RSAPublicKey) and pub.key_size < _MIN_RSA_BITS:
            return f"the certificate {describe(cert)} has a weak {pub.key_size}-bit RSA key"
        if i == 0:
            continue
        bc = _ext(cert, x509.BasicConstraints)
        if isinstance(bc, x509.BasicConstraints):
            if not bc.ca:
                return f"{describe(cert)} issued a certificate but is not a CA (BasicConstraints CA:false)"
            below = i - 1  # intermediate CAs between this CA and the leaf
            if bc.path_length is not None and below > bc.path_length:
                return f"the CA {describe(cert)} allows path length {bc.path_length}, the chain uses {below}"
        elif not is_anchor:
            return f"the intermediate {describe(cert)} lacks BasicConstraints CA:true"
        ku = _ext(cert, x509.KeyUsage)
        if isinstance(ku, x509.KeyUsage) and not ku.key_cert_sign:
            return f"the CA {describe(cert)} lacks KeyUsage keyCertSign"
    return None


def _check_leaf_usage(leaf: x509.Certificate, purpose: ChainPurpose) -> str | None:
    ku = _ext(leaf, x509.KeyUsage)
    eku = _ext(leaf, x509.ExtendedKeyUsage)
    bc = _ext(leaf, x509.BasicConstraints)
    usages = list(eku) if isinstance(eku, x509.ExtendedKeyUsage) else None
    if purpose == "tls-server":
        if isinstance(ku, x509.KeyUsage) and not (ku.digital_signature or ku.key_encipherment):
            return f"the certificate {describe(leaf)} lacks KeyUsage digitalSignature for a TLS server"
        if usages is None or not (
            ExtendedKeyUsageOID.SERVER_AUTH in usages or ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE in usages
        ):
            return f"the certificate {describe(leaf)} lacks ExtendedKeyUsage serverAuth"
        return None
    if isinstance(bc, x509.BasicConstraints) and bc.ca:
        return (
            f"the certificate {describe(leaf)} is a CA certificate; documents must be signed with an "
            "agency or personal certificate"
        )
    if not isinstance(ku, x509.KeyUsage):
        return (
            f"the certificate {describe(leaf)} has no KeyUsage extension; a signing certificate needs "
            "KeyUsage digitalSignature (or nonRepudiation)"
        )
    if not (ku.digital_signature or ku.content_commitment):
        return (
            f"the certificate {describe(leaf)} is not allowed to sign: its KeyUsage lacks digitalSignature "
            "and nonRepudiation; sign with a signing certificate"
        )
    if usages is not None and set(usages) <= {ExtendedKeyUsageOID.SERVER_AUTH}:
        return f"the certificate {describe(leaf)} is restricted to TLS servers (ExtendedKeyUsage serverAuth)"
    return None
