"""The "signxml" engine: signxml's XMLVerifier does C14N, digest and SignatureValue.

The trust decision stays ours: signxml gets the signer's certificate explicitly (``x509_cert``),
after :mod:`simulator.pki._xmldsig` checked the signature's place, structure and algorithms, and
:class:`simulator.pki.trust.TrustStore` (called by :mod:`simulator.pki.dsig`) decides the chain,
validity, key usage and revocation. signxml's own validity check is neutralised by verifying "at" a
moment inside the certificate's validity, because the verdict on dates belongs to the TrustStore
(at the policy's time, with a precise reason).
"""

from __future__ import annotations

from lxml import etree
from signxml import SignatureConfiguration, XMLVerifier
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod
from signxml.exceptions import InvalidDigest, InvalidInput, InvalidSignature, SignXMLException

from simulator.pki._xmldsig import (
    DS_NS,
    REQ_INTEGRITY,
    Rejection,
    SignatureParts,
    VerifyFailure,
)

__all__ = ["verify_signxml"]


def verify_signxml(root: etree._Element, parts: SignatureParts) -> bytes:
    """Verify with signxml; return the canonical bytes that were digested (signxml's ``signed_data``)."""
    if parts.ns != DS_NS:
        raise ValueError("signxml only handles Signature elements in the XML-DSig namespace")
    cert = parts.certificate
    inside_validity = cert.not_valid_before_utc + (cert.not_valid_after_utc - cert.not_valid_before_utc) / 2
    config = SignatureConfiguration(
        require_x509=True,
        location=".//",
        expect_references=1,
        signature_methods=frozenset({SignatureMethod(parts.sig_alg)}),
        digest_algorithms=frozenset({DigestAlgorithm(parts.digest_alg)}),
        ignore_ambiguous_key_info=True,  # the key comes from the certificate only, as in the fast engine
        verification_time=inside_validity,
        default_reference_c14n_method=CanonicalizationMethod.CANONICAL_XML_1_0,
    )
    try:
        result = XMLVerifier().verify(root, x509_cert=cert, expect_config=config)
    except InvalidDigest:
        raise Rejection(
            VerifyFailure.DIGEST_MISMATCH,
            "the digest of the document (without its signature) does not match DigestValue: the content "
            "was changed after signing — refuse it and ask the sender for the original",
            REQ_INTEGRITY,
        ) from None
    except InvalidSignature as exc:
        raise Rejection(
            VerifyFailure.BAD_SIGNATURE_VALUE,
            "the SignatureValue does not verify over SignedInfo with the certificate's key: SignedInfo or "
            "the SignatureValue was altered, or KeyInfo carries another certificate than the signer's "
            f"(signxml: {exc})",
            REQ_INTEGRITY,
        ) from None
    except etree.DocumentInvalid as exc:
        raise Rejection(
            VerifyFailure.MALFORMED, f"the Signature does not follow the XML-DSig schema: {exc}"
        ) from None
    except (InvalidInput, SignXMLException, ValueError) as exc:
        raise Rejection(VerifyFailure.MALFORMED, f"signxml refused the signature: {exc}") from None
    if isinstance(result, list):  # pragma: no cover - expect_references=1 returns one result
        raise Rejection(VerifyFailure.BAD_REFERENCE, "signxml found several references")
    return result.signed_data
