"""The "fast" engine: exclusive C14N with lxml, hashlib and cryptography, nothing else.

Only the cryptographic core lives here; :mod:`simulator.pki._xmldsig` has already checked the
signature's place, structure and algorithms. The caller hands over a private tree (this engine
detaches the Signature from it, enveloped transform) or asks for the Signature to be put back.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from lxml import etree

from simulator.edxml.model import NAMESPACE
from simulator.pki._xmldsig import (
    ALG_EXC_C14N,
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


_SPLICE_TAG = f"{{{NAMESPACE}}}ContentTransferEncoded"
_SPLICE_MIN_CHARS = 2048
_ESCAPED_IN_TEXT = ("&", "<", ">", "\r")  # the characters C14N writes as references in text


def _spliceable(root: etree._Element, parts: SignatureParts) -> list[tuple[etree._Element, str]]:
    """Attachment leaves whose canonical form is exactly their text in UTF-8, worth skipping in C14N.

    Only with exclusive C14N and no InclusiveNamespaces (an element then renders its own prefix's
    declaration at most, which the stand-in checks), and only leaves with no attribute, no child and no
    character that C14N escapes. libxml2's C14N spends ≈2 ns a byte on text; a 50 KB attachment is
    most of a package's canonicalisation time.
    """
    if parts.ref_c14n_alg != ALG_EXC_C14N or parts.ref_prefixes:
        return []
    found = []
    for el in root.iter(_SPLICE_TAG):
        if len(el) or el.attrib:
            continue
        text = el.text
        if text is None or len(text) < _SPLICE_MIN_CHARS or any(c in text for c in _ESCAPED_IN_TEXT):
            continue
        found.append((el, text))
    return found


def _document_digest(root: etree._Element, parts: SignatureParts, restore: bool) -> bytes:
    """The digest of :func:`_digested_bytes` without canonicalising the big attachment texts.

    Each such leaf is swapped for a stand-in element (same parent, same tag and prefix, same tail)
    whose text is a random token; the canonical bytes are hashed with every token replaced by the
    leaf's UTF-8 text, which is what C14N would have written there. The leaves are put back even on
    error. Whenever a stand-in could render differently (another prefix) or a token does not appear
    exactly once, the plain canonical bytes are digested instead.
    """
    leaves = _spliceable(root, parts)
    if not leaves:
        return digest_of(_digested_bytes(root, parts, restore), parts.digest_alg)
    swapped: list[tuple[etree._Element, etree._Element, str, bytes]] = []
    canonical = b""
    plain = False
    try:
        for el, text in leaves:
            parent = el.getparent()
            if parent is None:
                plain = True
                break
            token = secrets.token_hex(16).encode("ascii")
            stand_in = etree.SubElement(parent, el.tag)
            swapped.append((el, stand_in, text, token))
            if stand_in.prefix != el.prefix:  # compared in place: a detached element gets a prefix of its own
                plain = True
                break
            stand_in.text = token.decode("ascii")
            stand_in.tail = el.tail
            parent.replace(el, stand_in)  # each element's tail travels with it
        if not plain:
            canonical = _digested_bytes(root, parts, restore=True)
    finally:
        for el, stand_in, _, _ in reversed(swapped):
            holder = stand_in.getparent()
            if holder is None:
                continue
            if el.getparent() is None:
                holder.replace(stand_in, el)
            else:  # the swap itself failed: only the stand-in is extra
                holder.remove(stand_in)
    if plain or any(canonical.count(token) != 1 for _, _, _, token in swapped):
        return digest_of(_digested_bytes(root, parts, restore), parts.digest_alg)
    hasher = hashlib.sha1() if parts.digest_alg == DIGEST_SHA1 else hashlib.sha256()  # noqa: S324
    start = 0
    for at, size, text in sorted((canonical.index(token), len(token), text) for _, _, text, token in swapped):
        hasher.update(canonical[start:at])
        hasher.update(text.encode("utf-8"))
        start = at + size
    hasher.update(canonical[start:])
    if not restore:
        remove_keeping_tail(parts.signature)  # as _digested_bytes(restore=False) leaves it
    return hasher.digest()


def verify_fast(
    root: etree._Element, parts: SignatureParts, *, restore: bool = False, canonical: bool = True
) -> bytes | None:
    """Check SignatureValue then the digest; return the canonical bytes that were digested.

    ``restore=False``: ``root`` must be a private copy, the Signature stays detached from it.
    ``restore=True``: the Signature is detached for the digest and put back (see :func:`_digested_bytes`).
    ``canonical=False``: the caller does not need the canonical bytes (None is returned), so big
    attachment texts are hashed without being canonicalised (:func:`_document_digest`).
    """
    check_signature_value(c14n(parts.signed_info, parts.c14n_alg, parts.c14n_prefixes), parts)
    if canonical:
        data: bytes | None = _digested_bytes(root, parts, restore)
        assert data is not None
        digest = digest_of(data, parts.digest_alg)
    else:
        data = None
        digest = _document_digest(root, parts, restore)
    if not hmac.compare_digest(digest, parts.digest_value):
        raise Rejection(
            VerifyFailure.DIGEST_MISMATCH,
            "the digest of the document (without its signature) does not match DigestValue: the content "
            "was changed after signing — refuse it and ask the sender for the original",
            REQ_INTEGRITY,
        )
    return data
