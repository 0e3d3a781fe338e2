"""The "fast" engine: exclusive C14N with lxml, hashlib and cryptography, nothing else.

Only the cryptographic core lives here; :mod:`simulator.pki._xmldsig` has already checked the
signature's place, structure and algorithms. The caller hands over a private tree (this engine
detaches the Signature from it, enveloped transform) or asks for the Signature to be put back.
"""

from __future__ import annotations

import hashlib
import hmac

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from lxml import etree

from simulator.pki._xmldsig import (
    DIGEST_SHA1,
    REQ_INTEGRITY,
    SIG_ECDSA_SHA256,
    SIG_RSA_SHA1,
    Rejection,
    SignatureParts,
    VerifyFailure,
    c14n,
    remove_keeping_tail,
)

__all__ = ["check_signature_value", "digest_of", "verify_fast"]


def check_signature_value(signed_info_c14n: bytes, parts: SignatureParts) -> None:
    """Verify SignatureValue over the canonical SignedInfo with the certificate's public key."""
    key = parts.certificate.public_key()
    value = parts.signature_value
    try:
        if parts.sig_alg == SIG_ECDSA_SHA256:
            if not isinstance(key, ec.EllipticCurvePublicKey):
                raise Rejection(
                    VerifyFailure.BAD_SIGNATURE_VALUE,
                    "the signature method is ECDSA but the certificate holds a non-EC key: the "
                    "SignatureMethod does not fit the certificate",
                    REQ_INTEGRITY,
                )
            size = (key.curve.key_size + 7) // 8
            if len(value) != 2 * size:
                raise Rejection(
                    VerifyFailure.BAD_SIGNATURE_VALUE,
                    f"the ECDSA SignatureValue is {len(value)} bytes, expected {2 * size} (r||s)",
                    REQ_INTEGRITY,
                )
            der = encode_dss_signature(
                int.from_bytes(value[:size], "big"), int.from_bytes(value[size:], "big")
            )
            key.verify(der, signed_info_c14n, ec.ECDSA(hashes.SHA256()))
        else:
            if not isinstance(key, rsa.RSAPublicKey):
                raise Rejection(
                    VerifyFailure.BAD_SIGNATURE_VALUE,
                    "the signature method is RSA but the certificate holds a non-RSA key: the "
                    "SignatureMethod does not fit the certificate",
                    REQ_INTEGRITY,
                )
            algorithm = hashes.SHA1() if parts.sig_alg == SIG_RSA_SHA1 else hashes.SHA256()  # noqa: S303
            key.verify(value, signed_info_c14n, padding.PKCS1v15(), algorithm)
    except InvalidSignature:
        raise Rejection(
            VerifyFailure.BAD_SIGNATURE_VALUE,
            "the SignatureValue does not verify over SignedInfo with the certificate's key: SignedInfo or "
            "the SignatureValue was altered, or KeyInfo carries another certificate than the signer's",
            REQ_INTEGRITY,
        ) from None


def digest_of(canonical: bytes, digest_alg: str) -> bytes:
    """Digest of ``canonical`` with the XML-DSig digest algorithm URI ``digest_alg`` (SHA-256/SHA-1)."""
    if digest_alg == DIGEST_SHA1:
        return hashlib.sha1(canonical).digest()  # noqa: S324 — legacy, only when the policy allows it
    return hashlib.sha256(canonical).digest()


def _digested_bytes(root: etree._Element, parts: SignatureParts, restore: bool) -> bytes:
    """Canonical bytes of ``root`` without its Signature (enveloped transform).

    ``restore``: put the Signature back exactly where it was (same position, same surrounding text)
    afterwards, even on error, so the caller's tree is left as it came. Not thread-safe on a shared tree.
    """
    sig = parts.signature
    parent = sig.getparent()
    if not restore or parent is None:
        remove_keeping_tail(sig)
        return c14n(root, parts.ref_c14n_alg, parts.ref_prefixes)
    index = parent.index(sig)
    prev = sig.getprevious()
    saved = prev.tail if prev is not None else parent.text
    remove_keeping_tail(sig)
    try:
        return c14n(root, parts.ref_c14n_alg, parts.ref_prefixes)
    finally:
        parent.insert(index, sig)  # the Signature's own tail travels with it
        if prev is not None:
            prev.tail = saved
        else:
            parent.text = saved


def verify_fast(root: etree._Element, parts: SignatureParts, *, restore: bool = False) -> bytes:
    """Check SignatureValue then the digest; return the canonical bytes that were digested.

    ``restore=False``: ``root`` must be a private copy, the Signature stays detached from it.
    ``restore=True``: the Signature is detached for the digest and put back (see :func:`_digested_bytes`).
    """
    check_signature_value(c14n(parts.signed_info, parts.c14n_alg, parts.c14n_prefixes), parts)
    canonical = _digested_bytes(root, parts, restore)
    if not hmac.compare_digest(digest_of(canonical, parts.digest_alg), parts.digest_value):
        raise Rejection(
            VerifyFailure.DIGEST_MISMATCH,
            "the digest of the document (without its signature) does not match DigestValue: the content "
            "was changed after signing — refuse it and ask the sender for the original",
            REQ_INTEGRITY,
        )
    return canonical
