"""Sign and verify edXML packages with XML-DSig (spec/edxml.md §6).

Signing: one enveloped ``ds:Signature`` in ``edXMLHeader`` right after ``TraceHeaderList`` (or after
``MessageHeader`` in a status package; as the last child of the root for any other document),
``Reference URI=""``, transforms enveloped-signature + exclusive C14N, SignedInfo canonicalised with
exclusive C14N, RSA-SHA256 or ECDSA-SHA256 (P-256, raw r||s), SHA-256 digest, and
``KeyInfo/X509Data`` with ``X509SubjectName``, the signer's ``X509Certificate`` and the issuing CA's.
Legacy options produce the shapes seen in the wild: ``rsa-sha1`` (+ SHA-1 digest), C14N 1.0, and
Signature elements in the edXML namespace.

Verification (:class:`Verifier`) never raises on bad input and never touches the caller's tree. It is
wrapping-resistant: exactly one Signature, where expected, exactly one Reference with ``URI=""``,
exactly the allowed transforms and algorithms, nothing foreign inside the Signature, the certificate
from KeyInfo validated against an explicit :class:`~simulator.pki.trust.TrustStore`. What it returns
as verified (``signed_root``) is a fresh tree parsed from the canonical bytes that were digested:
comments, and any text they split, come back exactly as signed.

Two engines give the same verdicts: ``fast`` (lxml C14N + hashlib + cryptography) and ``signxml``.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from lxml import etree

from simulator.edxml.model import NAMESPACE
from simulator.edxml.xmlsafe import UnsafeXmlError, safe_fromstring, strip_leading_junk
from simulator.pki._fastverify import digest_of, verify_fast
from simulator.pki._signxml_engine import verify_signxml
from simulator.pki._xmldsig import (
    ALG_C14N10,
    ALG_ENVELOPED,
    ALG_EXC_C14N,
    DIGEST_SHA1,
    DIGEST_SHA256,
    DS_NS,
    REQ_INTEGRITY,
    REQ_SIG,
    SIG_ECDSA_SHA256,
    SIG_RSA_SHA1,
    SIG_RSA_SHA256,
    Rejection,
    VerifyFailure,
    check_key_fits,
    find_signature,
    inspect_signature,
    signature_location,
)
from simulator.pki._xmldsig import c14n as canonicalize
from simulator.pki.ca import Credential
from simulator.pki.trust import ChainFailure, TrustStore

__all__ = [
    "Engine",
    "SignatureAlgorithm",
    "SignaturePolicy",
    "SigningError",
    "Verifier",
    "VerifyFailure",
    "VerifyResult",
    "sign",
    "verify",
]

Engine = Literal["fast", "signxml"]

_XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'
_UNSIGNED_NOTE = "unsigned: reference only (QD28-4.1) — an unsigned document has no legal value of paper"


class SignatureAlgorithm(StrEnum):
    RSA_SHA256 = "rsa-sha256"
    ECDSA_SHA256 = "ecdsa-sha256"
    RSA_SHA1 = "rsa-sha1"  # legacy, for producing negative/legacy samples only


_SIG_URI = {
    SignatureAlgorithm.RSA_SHA256: SIG_RSA_SHA256,
    SignatureAlgorithm.ECDSA_SHA256: SIG_ECDSA_SHA256,
    SignatureAlgorithm.RSA_SHA1: SIG_RSA_SHA1,
}


class SigningError(ValueError):
    """The document or the credential cannot be signed as asked (a clear sentence says why)."""


@dataclass(frozen=True)
class SignaturePolicy:
    require_signature: bool = True  # False: an unsigned package is ok=True with a "reference only" warning
    allow_sha1: bool = False  # legacy rsa-sha1 / sha1, accepted with a warning
    accept_edxml_namespace: bool = False  # legacy Signature elements in the edXML namespace
    check_revocation: bool = True
    at: dt.datetime | None = None  # validity time of the certificates (aware); None = now

    def __post_init__(self) -> None:
        if self.at is not None and (self.at.tzinfo is None or self.at.utcoffset() is None):
            raise ValueError("SignaturePolicy.at must be timezone-aware (e.g. with VN_TZ or UTC)")


@dataclass
class VerifyResult:
    ok: bool
    failure: VerifyFailure | None
    message: str  # plain sentence: why, what to fix
    requirement: str  # "QD28-6.1", "EDXML-SIG", "VPCP19-SIG", "QD28-4.1", "EDXML-XML"
    signer_subject: str | None = None
    signer_certificate: x509.Certificate | None = None
    algorithm: str | None = None  # "rsa-sha256", "ecdsa-sha256", "rsa-sha1"
    signed_root: etree._Element | None = None  # fresh tree from the digested canonical bytes
    warnings: list[str] = field(default_factory=list)
    signed: bool = False  # a signature was present and verified
    chain: tuple[x509.Certificate, ...] = ()  # leaf … trust anchor when the chain was built


_CHAIN_TO_FAILURE = {
    ChainFailure.UNTRUSTED: VerifyFailure.UNTRUSTED_CHAIN,
    ChainFailure.BAD_SIGNATURE: VerifyFailure.UNTRUSTED_CHAIN,
    ChainFailure.INVALID: VerifyFailure.UNTRUSTED_CHAIN,
    ChainFailure.EXPIRED: VerifyFailure.EXPIRED,
    ChainFailure.NOT_YET_VALID: VerifyFailure.NOT_YET_VALID,
    ChainFailure.REVOKED: VerifyFailure.REVOKED,
    ChainFailure.WRONG_KEY_USAGE: VerifyFailure.WRONG_KEY_USAGE,
}


# ----------------------------------------------------------------------------- parsing helpers


def _private_root(data: bytes | etree._Element, warnings: list[str]) -> etree._Element:
    """A tree of our own: parsed from bytes, or a copy of the caller's element; without top-level siblings."""
    if isinstance(data, bytes | bytearray):
        raw, dropped = strip_leading_junk(bytes(data))
        if dropped:
            warnings.append(f"{dropped} stray byte(s) before the XML declaration were ignored")
        root = safe_fromstring(raw)
    else:
        root = safe_fromstring(etree.tostring(data))
    if root.getprevious() is not None or root.getnext() is not None:
        # URI="" covers the document element; comments/PIs around it are not signed (and lxml's C14N of
        # an element with siblings is unreliable): continue with the document element alone.
        warnings.append("comments or processing instructions outside the document element are not signed")
        root = safe_fromstring(etree.tostring(root))
    return root


# ----------------------------------------------------------------------------- signing


def _ecdsa_raw(key: ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
    r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
    size = (key.curve.key_size + 7) // 8
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


def sign(
    data: bytes | etree._Element,
    credential: Credential,
    *,
    algorithm: SignatureAlgorithm | None = None,
    c14n: Literal["exc", "c14n10"] = "exc",
    namespace: Literal["xmldsig", "edxml"] = "xmldsig",
) -> bytes:
    """Return ``data`` signed with ``credential`` (an enveloped signature; the input is not modified).

    ``algorithm`` defaults to the key's type (RSA-SHA256 / ECDSA-SHA256). ``c14n="c14n10"``,
    ``algorithm=RSA_SHA1`` (with a SHA-1 digest) and ``namespace="edxml"`` produce legacy shapes.
    Raises :class:`SigningError` when the input is not XML, already signed, or the key does not fit.
    """
    key = credential.private_key
    if algorithm is None:
        algorithm = (
            SignatureAlgorithm.ECDSA_SHA256
            if isinstance(key, ec.EllipticCurvePrivateKey)
            else SignatureAlgorithm.RSA_SHA256
        )
    algorithm = SignatureAlgorithm(algorithm)
    is_ec = isinstance(key, ec.EllipticCurvePrivateKey)
    if is_ec != (algorithm is SignatureAlgorithm.ECDSA_SHA256):
        raise SigningError(
            f"the algorithm {algorithm.value} does not fit the {credential.key_type.upper()} key of "
            f"credential {credential.name!r}"
        )
    if c14n not in ("exc", "c14n10"):
        raise SigningError(f"c14n must be 'exc' or 'c14n10', not {c14n!r}")
    if namespace not in ("xmldsig", "edxml"):
        raise SigningError(f"namespace must be 'xmldsig' or 'edxml', not {namespace!r}")
    warnings: list[str] = []
    try:
        root = _private_root(data, warnings)
    except UnsafeXmlError as exc:
        raise SigningError(f"cannot sign: {exc}") from None
    if (
        root.find(f".//{{{DS_NS}}}Signature") is not None
        or root.find(f".//{{{NAMESPACE}}}Signature") is not None
    ):
        raise SigningError(
            "the document is already signed (it holds a Signature element); sign the unsigned package"
        )
    try:
        parent, index = signature_location(root)
    except ValueError as exc:
        raise SigningError(str(exc)) from None

    c14n_uri = ALG_EXC_C14N if c14n == "exc" else ALG_C14N10
    digest_uri = DIGEST_SHA1 if algorithm is SignatureAlgorithm.RSA_SHA1 else DIGEST_SHA256
    # The digest covers the document without the signature: compute it before inserting one.
    canonical = canonicalize(root, c14n_uri)
    digest = digest_of(canonical, digest_uri)

    ns = DS_NS if namespace == "xmldsig" else NAMESPACE
    if ns == DS_NS:
        sig = etree.Element(f"{{{ns}}}Signature", nsmap={"ds": DS_NS})
    else:  # legacy: reuse the edXML prefix already declared by the envelope
        sig = etree.SubElement(parent, f"{{{ns}}}Signature")
    parent.insert(index, sig)

    def sub(node: etree._Element, name: str, text: str | None = None, **attrs: str) -> etree._Element:
        el = etree.SubElement(node, f"{{{ns}}}{name}", attrs)
        el.text = text
        return el

    signed_info = sub(sig, "SignedInfo")
    sub(signed_info, "CanonicalizationMethod", Algorithm=c14n_uri)
    sub(signed_info, "SignatureMethod", Algorithm=_SIG_URI[algorithm])
    ref = sub(signed_info, "Reference", URI="")
    transforms = sub(ref, "Transforms")
    sub(transforms, "Transform", Algorithm=ALG_ENVELOPED)
    sub(transforms, "Transform", Algorithm=c14n_uri)
    sub(ref, "DigestMethod", Algorithm=digest_uri)
    sub(ref, "DigestValue", base64.b64encode(digest).decode("ascii"))
    value_el = sub(sig, "SignatureValue")
    x509_data = sub(sub(sig, "KeyInfo"), "X509Data")
    sub(x509_data, "X509SubjectName", credential.certificate.subject.rfc4514_string())
    for cert in (credential.certificate, *credential.chain):
        der = cert.public_bytes(serialization.Encoding.DER)
        sub(x509_data, "X509Certificate", base64.b64encode(der).decode("ascii"))

    si_bytes = canonicalize(signed_info, c14n_uri)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        value = _ecdsa_raw(key, si_bytes)
    elif isinstance(key, rsa.RSAPrivateKey):
        hash_alg: hashes.HashAlgorithm = (
            hashes.SHA1() if algorithm is SignatureAlgorithm.RSA_SHA1 else hashes.SHA256()  # noqa: S303
        )
        value = key.sign(si_bytes, padding.PKCS1v15(), hash_alg)
    else:  # pragma: no cover - Credential only holds RSA or EC keys
        raise SigningError(f"credential {credential.name!r} holds an unsupported key type")
    value_el.text = base64.b64encode(value).decode("ascii")
    return _XML_DECLARATION + etree.tostring(root, encoding="UTF-8", xml_declaration=False)


# ----------------------------------------------------------------------------- verification


@functools.lru_cache(maxsize=1024)
def _subject_text(cert: x509.Certificate) -> str:
    """The signer's subject as RFC 4514 text, remembered per certificate (a hub sees few signers and
    formatting a name costs ~50 µs)."""
    return cert.subject.rfc4514_string()


class Verifier:
    """Verify signed packages against an explicit trust store (reuse one instance: caches are per store)."""

    def __init__(
        self,
        trust: TrustStore,
        policy: SignaturePolicy | None = None,
        *,
        engine: Engine = "fast",
        keep_signed_root: bool = True,
        in_place: bool = False,
    ) -> None:
        """``keep_signed_root=False``: leave :attr:`VerifyResult.signed_root` ``None`` (saves re-parsing
        the canonical bytes when the caller does not read the verified tree).

        ``in_place=True``: an element passed to :meth:`verify` (a document root without sibling
        comments/PIs) is verified where it is, without a defensive copy — the fast engine detaches the
        Signature for the digest and puts it back exactly where it was, success or failure. The caller
        must not use that tree from another thread meanwhile, and must have parsed it safely
        (:func:`simulator.edxml.xmlsafe.safe_fromstring`). The unsigned-package verdict's ``signed_root``
        is then the caller's own tree. Bytes, the signxml engine and other elements are copied as usual.
        """
        if engine not in ("fast", "signxml"):
            raise ValueError(f"engine must be 'fast' or 'signxml', not {engine!r}")
        self.trust = trust
        self.policy = policy if policy is not None else SignaturePolicy()
        self.engine: Engine = engine
        self.keep_signed_root = keep_signed_root
        self.in_place = in_place

    def verify(self, data: bytes | etree._Element) -> VerifyResult:
        """Verify ``data`` (bytes or an element, left untouched). Never raises on bad input."""
        warnings: list[str] = []
        try:
            return self._verify(data, warnings)
        except Rejection as rej:
            return VerifyResult(False, rej.failure, rej.message, rej.requirement, warnings=warnings)
        except UnsafeXmlError as exc:
            return VerifyResult(
                False,
                VerifyFailure.MALFORMED,
                f"the package is not acceptable XML: {exc}",
                "EDXML-XML",
                warnings=warnings,
            )
        except Exception as exc:  # defensive: a verifier must answer, not crash, on hostile input
            return VerifyResult(
                False,
                VerifyFailure.MALFORMED,
                f"the signature could not be processed ({type(exc).__name__}: {exc}); treat the package "
                "as unverified",
                REQ_SIG,
                warnings=warnings,
            )

    def _verify(self, data: bytes | etree._Element, warnings: list[str]) -> VerifyResult:
        policy = self.policy
        in_place = (
            self.in_place
            and self.engine == "fast"
            and isinstance(data, etree._Element)
            and data.getparent() is None
            and data.getprevious() is None
            and data.getnext() is None
        )
        root = data if in_place and isinstance(data, etree._Element) else _private_root(data, warnings)
        sig = find_signature(root, policy.accept_edxml_namespace)
        if sig is None:
            if policy.require_signature:
                raise Rejection(
                    VerifyFailure.UNSIGNED,
                    "the package carries no XML-DSig Signature: every document on the hub must be digitally "
                    "signed (VPCP19-SIG); sign it with the agency's certificate",
                    "VPCP19-SIG",
                )
            warnings.append(_UNSIGNED_NOTE)
            return VerifyResult(
                True,
                None,
                "the package is not signed; accepted by policy as a reference-only document (QD28-4.1)",
                "QD28-4.1",
                signed_root=root if self.keep_signed_root else None,
                warnings=warnings,
            )
        parts = inspect_signature(root, sig, allow_sha1=policy.allow_sha1)
        warnings.extend(parts.warnings)
        check_key_fits(parts)
        canonical: bytes | None
        if self.engine == "signxml" and parts.ns == DS_NS:
            canonical = verify_signxml(root, parts)
        else:
            if self.engine == "signxml":
                warnings.append(
                    "signxml cannot read edXML-namespace signatures; the built-in engine verified it"
                )
            canonical = verify_fast(root, parts, restore=in_place, canonical=self.keep_signed_root)
        comments = sum(1 for _ in root.iter(etree.Comment))
        if comments:
            warnings.append(
                f"{comments} comment(s) in the package are not covered by the signature and were dropped "
                "from the verified tree"
            )

        at = policy.at or dt.datetime.now(dt.UTC)
        chain = self.trust.validate_chain(
            parts.certificate,
            at=at,
            purpose="signing",
            extra_certs=parts.extra_certs,
            check_revocation=policy.check_revocation,
        )
        warnings.extend(chain.warnings)
        subject = _subject_text(parts.certificate)
        if not chain.ok:
            assert chain.reason is not None
            return VerifyResult(
                False,
                _CHAIN_TO_FAILURE[chain.reason],
                f"the signature is intact but its certificate is not acceptable: {chain.message}",
                REQ_INTEGRITY,
                signer_subject=subject,
                signer_certificate=parts.certificate,
                algorithm=parts.algorithm_name,
                warnings=warnings,
                chain=chain.chain,
            )
        return VerifyResult(
            True,
            None,
            f"valid {parts.algorithm_name} signature by {subject}; {chain.message}",
            REQ_INTEGRITY,
            signer_subject=subject,
            signer_certificate=parts.certificate,
            algorithm=parts.algorithm_name,
            signed_root=safe_fromstring(canonical) if self.keep_signed_root and canonical else None,
            warnings=warnings,
            signed=True,
            chain=chain.chain,
        )


def verify(
    data: bytes | etree._Element,
    trust: TrustStore,
    policy: SignaturePolicy | None = None,
    *,
    engine: Engine = "fast",
) -> VerifyResult:
    """One-shot :meth:`Verifier.verify` (build a :class:`Verifier` once when verifying many packages)."""
    return Verifier(trust, policy, engine=engine).verify(data)
