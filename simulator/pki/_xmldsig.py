"""XML-DSig profile of edXML shared by the signer and both verification engines.

This module decides *what* may be verified (one enveloped signature, in the expected place, with
exactly the allowed structure, transforms and algorithms) before any engine does the cryptography.
Every refusal is a :class:`Rejection` carrying a :class:`VerifyFailure`, a plain sentence and the
requirement ID it rests on.
"""

from __future__ import annotations

import base64
import binascii
import functools
from dataclasses import dataclass, field
from enum import StrEnum

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from lxml import etree

from simulator.edxml.model import NAMESPACE

__all__ = [
    "ALG_C14N10",
    "ALG_ENVELOPED",
    "ALG_EXC_C14N",
    "DIGEST_SHA1",
    "DIGEST_SHA256",
    "DS_NS",
    "REQ_INTEGRITY",
    "REQ_SIG",
    "SIG_ECDSA_SHA256",
    "SIG_RSA_SHA1",
    "SIG_RSA_SHA256",
    "Rejection",
    "SignatureParts",
    "VerifyFailure",
    "c14n",
    "check_key_fits",
    "find_signature",
    "inspect_signature",
    "load_der_certificate",
    "remove_keeping_tail",
    "signature_location",
]

DS_NS = "http://www.w3.org/2000/09/xmldsig#"
DS11_NS = "http://www.w3.org/2009/xmldsig11#"
EXC_NS = "http://www.w3.org/2001/10/xml-exc-c14n#"

ALG_EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
ALG_C14N10 = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
ALG_ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
SIG_RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
SIG_ECDSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
SIG_RSA_SHA1 = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
DIGEST_SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
DIGEST_SHA1 = "http://www.w3.org/2000/09/xmldsig#sha1"

_C14N_ALGS = {ALG_EXC_C14N: "exc-c14n", ALG_C14N10: "c14n10"}
_SIG_ALGS = {SIG_RSA_SHA256: "rsa-sha256", SIG_ECDSA_SHA256: "ecdsa-sha256", SIG_RSA_SHA1: "rsa-sha1"}
_DIGEST_ALGS = {DIGEST_SHA256: "sha256", DIGEST_SHA1: "sha1"}
_KNOWN_NAMES = frozenset(
    {
        "Signature",
        "SignedInfo",
        "CanonicalizationMethod",
        "SignatureMethod",
        "Reference",
        "Transforms",
        "Transform",
        "DigestMethod",
        "DigestValue",
        "SignatureValue",
        "KeyInfo",
        "KeyName",
        "KeyValue",
        "RSAKeyValue",
        "Modulus",
        "Exponent",
        "ECKeyValue",
        "NamedCurve",
        "PublicKey",
        "X509Data",
        "X509SubjectName",
        "X509Certificate",
        "X509IssuerSerial",
        "X509IssuerName",
        "X509SerialNumber",
        "X509SKI",
        "InclusiveNamespaces",
    }
)

REQ_SIG = "EDXML-SIG"
REQ_INTEGRITY = "QD28-6.1"


class VerifyFailure(StrEnum):
    UNSIGNED = "unsigned"
    MALFORMED = "malformed"
    WRONG_NAMESPACE = "wrong-namespace"
    MULTIPLE_SIGNATURES = "multiple-signatures"
    WRAPPING = "wrapping"
    BAD_REFERENCE = "bad-reference"
    UNSUPPORTED_ALGORITHM = "unsupported-algorithm"
    SHA1_REFUSED = "sha1-refused"
    DIGEST_MISMATCH = "digest-mismatch"
    BAD_SIGNATURE_VALUE = "bad-signature-value"
    NO_CERTIFICATE = "no-certificate"
    UNTRUSTED_CHAIN = "untrusted-chain"
    EXPIRED = "expired"
    NOT_YET_VALID = "not-yet-valid"
    REVOKED = "revoked"
    WRONG_KEY_USAGE = "wrong-key-usage"


class Rejection(Exception):
    """Raised inside the verifier; turned into a VerifyResult, never escapes the public API."""

    def __init__(self, failure: VerifyFailure, message: str, requirement: str = REQ_SIG) -> None:
        super().__init__(message)
        self.failure = failure
        self.message = message
        self.requirement = requirement


@dataclass
class SignatureParts:
    """Everything the engines need, read from a signature that passed the structural checks."""

    ns: str  # DS_NS, or the edXML namespace for legacy signatures
    signature: etree._Element
    signed_info: etree._Element
    c14n_alg: str
    c14n_prefixes: list[str] | None
    sig_alg: str
    ref_c14n_alg: str  # the C14N applied to the referenced document after the enveloped transform
    ref_prefixes: list[str] | None
    digest_alg: str
    digest_value: bytes
    signature_value: bytes
    certificate: x509.Certificate
    extra_certs: list[x509.Certificate]
    subject_name: str | None
    warnings: list[str] = field(default_factory=list)

    @property
    def algorithm_name(self) -> str:
        return _SIG_ALGS[self.sig_alg]


def c14n(node: etree._Element, algorithm: str, prefixes: list[str] | None = None) -> bytes:
    """Canonical bytes of ``node`` (in its document context) without comments."""
    if algorithm == ALG_EXC_C14N:
        return etree.tostring(
            node, method="c14n", exclusive=True, with_comments=False, inclusive_ns_prefixes=prefixes
        )
    return etree.tostring(node, method="c14n", exclusive=False, with_comments=False)


def remove_keeping_tail(element: etree._Element) -> None:
    """Detach ``element`` like the enveloped-signature transform: its tail text stays in the document."""
    parent = element.getparent()
    if parent is None:
        return
    if element.tail:
        prev = element.getprevious()
        if prev is not None:
            prev.tail = (prev.tail or "") + element.tail
        else:
            parent.text = (parent.text or "") + element.tail
    parent.remove(element)


@functools.lru_cache(maxsize=1024)
def load_der_certificate(der: bytes) -> x509.Certificate:
    """Parse a DER certificate once per process (the hub sees the same few signers again and again)."""
    return x509.load_der_x509_certificate(der)


def _q(ns: str, name: str) -> str:
    return f"{{{ns}}}{name}"


def _local(el: etree._Element) -> str:
    return etree.QName(el).localname


def _elements(el: etree._Element) -> list[etree._Element]:
    return [c for c in el if isinstance(c.tag, str)]


_DS_SIGNATURE = _q(DS_NS, "Signature")
_EDXML_SIGNATURE = _q(NAMESPACE, "Signature")
_EDXML_ROOT = _q(NAMESPACE, "edXML")
_HEADER_PATH = f"{_q(NAMESPACE, 'edXMLEnvelope')}/{_q(NAMESPACE, 'edXMLHeader')}"


def find_signature(root: etree._Element, accept_edxml_namespace: bool) -> etree._Element | None:
    """The one signature element of the document, or None when unsigned.

    Raises MULTIPLE_SIGNATURES, or WRONG_NAMESPACE for a legacy edXML-namespace signature that the
    policy does not accept.
    """
    found = list(root.iter(_DS_SIGNATURE, _EDXML_SIGNATURE))  # one walk for both namespaces
    total = len(found)
    if total == 0:
        return None
    if total > 1:
        raise Rejection(
            VerifyFailure.MULTIPLE_SIGNATURES,
            f"the package holds {total} Signature elements; exactly one enveloped signature is allowed "
            "(extra signatures are a wrapping vector): remove the extra ones and sign once",
        )
    if found[0].tag == _DS_SIGNATURE:
        return found[0]
    if not accept_edxml_namespace:
        raise Rejection(
            VerifyFailure.WRONG_NAMESPACE,
            f"the Signature element is in the edXML namespace ({NAMESPACE}) instead of the XML-DSig "
            f"namespace ({DS_NS}); sign with a standard XML-DSig library (legacy packages are accepted "
            "only by the accept_edxml_namespace policy)",
        )
    return found[0]


def signature_location(root: etree._Element) -> tuple[etree._Element, int]:
    """Where a new signature goes: (parent, index). In the edXMLHeader after TraceHeaderList, or after
    MessageHeader for a status package; as the last child of the root for other documents."""
    if root.tag != _q(NAMESPACE, "edXML"):
        return root, len(root)
    header = root.find(f"{_q(NAMESPACE, 'edXMLEnvelope')}/{_q(NAMESPACE, 'edXMLHeader')}")
    if header is None:
        raise ValueError(
            "the edXML package has no edXMLEnvelope/edXMLHeader (EDXML-STRUCT): build a complete "
            "package before signing"
        )
    for anchor in ("TraceHeaderList", "MessageHeader"):
        found = header.find(_q(NAMESPACE, anchor))
        if found is not None:
            return header, header.index(found) + 1
    return header, len(header)


def _check_location(root: etree._Element, sig: etree._Element, warnings: list[str]) -> None:
    parent = sig.getparent()
    if parent is None:
        raise Rejection(
            VerifyFailure.WRAPPING,
            "the Signature is the document element (enveloping signature); edXML needs an enveloped "
            "signature inside edXMLHeader",
        )
    if root.tag == _EDXML_ROOT:
        expected = root.find(_HEADER_PATH)
        if parent is not expected:
            raise Rejection(
                VerifyFailure.WRAPPING,
                f"the Signature sits in {_path(sig)} instead of /edXML/edXMLEnvelope/edXMLHeader; a "
                "signature elsewhere is a wrapping attack pattern: place it in edXMLHeader after "
                "TraceHeaderList",
            )
        prev = sig.getprevious()
        while prev is not None and not isinstance(prev.tag, str):
            prev = prev.getprevious()
        want = (
            "TraceHeaderList"
            if parent.find(_q(NAMESPACE, "TraceHeaderList")) is not None
            else "MessageHeader"
        )
        if prev is None or prev.tag != _q(NAMESPACE, want):
            warnings.append(f"the Signature is in edXMLHeader but not right after {want} (EDXML-SIG)")
    elif parent is not root:
        raise Rejection(
            VerifyFailure.WRAPPING,
            f"the Signature sits in {_path(sig)}; it must be a child of the document element",
        )


def _path(el: etree._Element) -> str:
    parts: list[str] = []
    node: etree._Element | None = el
    while node is not None:
        parts.append(_local(node))
        node = node.getparent()
    return "/" + "/".join(reversed(parts))


def _text(el: etree._Element, what: str) -> str:
    if _elements(el):
        raise Rejection(VerifyFailure.MALFORMED, f"{what} must hold text only, not child elements")
    return (el.text or "").strip()


def _b64(text: str, what: str, failure: VerifyFailure = VerifyFailure.MALFORMED) -> bytes:
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise Rejection(failure, f"{what} is not valid base64") from None


def _prefixes(method: etree._Element, algorithm: str) -> list[str] | None:
    if algorithm != ALG_EXC_C14N:
        return None
    incl = method.find(_q(EXC_NS, "InclusiveNamespaces"))
    if incl is None:
        return None
    return [p if p != "#default" else "" for p in (incl.get("PrefixList") or "").split()] or None


def _allowed_tags(ns: str) -> frozenset[str]:
    namespaces = (ns, DS11_NS, EXC_NS) if ns == DS_NS else (ns, DS_NS, DS11_NS, EXC_NS)
    return frozenset(_q(n, name) for n in namespaces for name in _KNOWN_NAMES)


_ALLOWED_TAGS = {DS_NS: _allowed_tags(DS_NS), NAMESPACE: _allowed_tags(NAMESPACE)}


def _check_subtree(sig: etree._Element, ns: str) -> None:
    allowed = _ALLOWED_TAGS[ns]
    for node in sig.iter():
        tag = node.tag
        if not isinstance(tag, str):
            raise Rejection(
                VerifyFailure.MALFORMED,
                "the Signature contains comments or processing instructions; remove them (they can hide "
                "text from naive readers)",
            )
        if tag not in allowed:
            qn = etree.QName(node)
            raise Rejection(
                VerifyFailure.WRAPPING,
                f"the Signature contains the foreign element {qn.localname!r} ({qn.namespace}); content "
                "inside a Signature is not signed and is a wrapping vector — remove it",
            )


def _check_algorithms(
    sig_alg: str, digest_alg: str, c14n_alg: str, allow_sha1: bool, warnings: list[str]
) -> None:
    if c14n_alg not in _C14N_ALGS:
        raise Rejection(
            VerifyFailure.UNSUPPORTED_ALGORITHM,
            f"the SignedInfo canonicalization algorithm {c14n_alg!r} is not supported: use exclusive C14N "
            f"({ALG_EXC_C14N})",
        )
    if c14n_alg == ALG_C14N10:
        warnings.append("legacy inclusive C14N 1.0 is used; exclusive C14N is expected (EDXML-SIG)")
    if sig_alg not in _SIG_ALGS:
        raise Rejection(
            VerifyFailure.UNSUPPORTED_ALGORITHM,
            f"the signature method {sig_alg!r} is not allowed: sign with RSA-SHA256 or ECDSA-SHA256 "
            "(HMAC, DSA and others are refused)",
        )
    if digest_alg not in _DIGEST_ALGS:
        raise Rejection(
            VerifyFailure.UNSUPPORTED_ALGORITHM,
            f"the digest method {digest_alg!r} is not allowed: use SHA-256 ({DIGEST_SHA256})",
        )
    sha1 = [
        what
        for what, alg in (("signature", sig_alg), ("digest", digest_alg))
        if alg in (SIG_RSA_SHA1, DIGEST_SHA1)
    ]
    if sha1:
        if not allow_sha1:
            raise Rejection(
                VerifyFailure.SHA1_REFUSED,
                f"the {' and '.join(sha1)} algorithm is SHA-1, which is refused (collisions are practical): "
                "sign with RSA-SHA256 / SHA-256 (legacy packages are accepted only by the allow_sha1 policy)",
            )
        warnings.append(f"legacy SHA-1 {' and '.join(sha1)} algorithm accepted by policy (EDXML-SIG)")


def _check_transforms(ref: etree._Element, ns: str) -> tuple[str, list[str] | None]:
    transforms_el = ref.find(_q(ns, "Transforms"))
    if transforms_el is None:
        raise Rejection(
            VerifyFailure.BAD_REFERENCE,
            "the Reference has no Transforms: it needs enveloped-signature followed by exclusive C14N",
        )
    transforms = _elements(transforms_el)
    algs = [t.get("Algorithm") or "" for t in transforms]
    for t, alg in zip(transforms, algs, strict=True):
        if t.tag != _q(ns, "Transform"):
            raise Rejection(VerifyFailure.MALFORMED, f"unexpected element {_local(t)!r} inside Transforms")
        if alg not in (ALG_ENVELOPED, ALG_EXC_C14N, ALG_C14N10):
            raise Rejection(
                VerifyFailure.WRAPPING,
                f"the transform {alg!r} is not allowed: only enveloped-signature followed by exclusive C14N "
                "is; XPath/XSLT and other transforms can change what is actually signed",
            )
    if algs == [ALG_ENVELOPED, ALG_EXC_C14N]:
        return ALG_EXC_C14N, _prefixes(transforms[1], ALG_EXC_C14N)
    if algs in ([ALG_ENVELOPED, ALG_C14N10], [ALG_ENVELOPED]):
        return ALG_C14N10, None
    raise Rejection(
        VerifyFailure.BAD_REFERENCE,
        f"the Reference transforms are {[a.rsplit('#', 1)[-1] or a for a in algs]}: exactly "
        "enveloped-signature then exclusive C14N are expected",
    )


def _check_reference(signed_info: etree._Element, ns: str) -> etree._Element:
    refs = [c for c in _elements(signed_info) if c.tag == _q(ns, "Reference")]
    if len(refs) != 1:
        raise Rejection(
            VerifyFailure.BAD_REFERENCE,
            f'SignedInfo holds {len(refs)} Reference elements; exactly one Reference with URI="" '
            "(the whole document) is expected",
        )
    ref = refs[0]
    uri = ref.get("URI")
    if uri is None:
        raise Rejection(
            VerifyFailure.BAD_REFERENCE,
            'the Reference has no URI attribute; it must be URI="" (the whole document)',
        )
    if uri.startswith("#"):
        raise Rejection(
            VerifyFailure.WRAPPING,
            f'the Reference points at the element {uri!r} instead of the whole document (URI=""); '
            "signing a part by Id is the classic signature-wrapping pattern and is refused",
        )
    if uri != "":
        raise Rejection(
            VerifyFailure.BAD_REFERENCE,
            f'the Reference URI is {uri!r}; only URI="" (the whole document) is allowed',
        )
    return ref


def _read_keyinfo(
    sig: etree._Element, ns: str
) -> tuple[x509.Certificate, list[x509.Certificate], str | None]:
    key_info = sig.find(_q(ns, "KeyInfo"))
    certs_text: list[str] = []
    subject: str | None = None
    if key_info is not None:
        for x509_data in key_info.findall(_q(ns, "X509Data")):
            certs_text += [_text(c, "X509Certificate") for c in x509_data.findall(_q(ns, "X509Certificate"))]
            names = x509_data.findall(_q(ns, "X509SubjectName"))
            if names and subject is None:
                subject = _text(names[0], "X509SubjectName")
    if not certs_text:
        raise Rejection(
            VerifyFailure.NO_CERTIFICATE,
            "the Signature carries no KeyInfo/X509Data/X509Certificate: include the signer's certificate "
            "so that it can be checked against the trusted CA",
        )
    certs = [_certificate_from_text(text, i) for i, text in enumerate(certs_text, 1)]
    signer = next((c for c in certs if not _is_ca(c)), certs[0])
    return signer, [c for c in certs if c is not signer], subject


@functools.lru_cache(maxsize=1024)
def _certificate_from_text(text: str, index: int) -> x509.Certificate:
    """X509Certificate element text → certificate, cached on the text (the hub sees few signers)."""
    der = _b64(text, f"X509Certificate #{index}", VerifyFailure.NO_CERTIFICATE)
    try:
        return load_der_certificate(der)
    except ValueError:
        raise Rejection(
            VerifyFailure.NO_CERTIFICATE, f"X509Certificate #{index} is not a readable X.509 certificate"
        ) from None


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except (x509.ExtensionNotFound, ValueError):
        return False
    return bc.ca


def _check_subject_name(subject: str | None, cert: x509.Certificate, warnings: list[str]) -> None:
    if subject is None:
        warnings.append("KeyInfo/X509Data has no X509SubjectName (EDXML-SIG)")
        return
    verdict = _subject_verdict(subject, cert)
    if verdict is None:
        return
    if verdict.startswith("warning:"):
        warnings.append(verdict.removeprefix("warning:"))
        return
    raise Rejection(VerifyFailure.MALFORMED, verdict)


@functools.lru_cache(maxsize=1024)
def _subject_verdict(subject: str, cert: x509.Certificate) -> str | None:
    """None when X509SubjectName names ``cert``; "warning:…" when it cannot be compared; else an error."""
    try:
        named = x509.Name.from_rfc4514_string(subject)
    except ValueError:
        return f"warning:X509SubjectName {subject!r} could not be parsed and was not compared"
    if set(named) == set(cert.subject):
        return None
    return (
        f"X509SubjectName {subject!r} does not name the certificate's subject "
        f"{cert.subject.rfc4514_string()!r}: KeyInfo was edited or assembled wrongly"
    )


def check_key_fits(parts: SignatureParts) -> None:
    """The SignatureMethod must fit the certificate's key type (RSA method, RSA key; ECDSA, EC key)."""
    key = parts.certificate.public_key()
    want_ec = parts.sig_alg == SIG_ECDSA_SHA256
    if (want_ec and not isinstance(key, ec.EllipticCurvePublicKey)) or (
        not want_ec and not isinstance(key, rsa.RSAPublicKey)
    ):
        raise Rejection(
            VerifyFailure.BAD_SIGNATURE_VALUE,
            f"the signature method {parts.algorithm_name} does not fit the certificate's "
            f"{type(key).__name__.removeprefix('_')} key: SignatureMethod and KeyInfo do not belong together",
            REQ_INTEGRITY,
        )


@dataclass(frozen=True, slots=True)
class _Shape:
    """What :func:`inspect_signature` reads from a Signature apart from its two values and its place.

    ``*_at`` locate the SignedInfo, DigestValue and SignatureValue elements by child index from the
    Signature (lxml indexes count comments too; a shape is only reused for a subtree that serialises
    the same, so the indexes point at the same elements).
    """

    c14n_alg: str
    c14n_prefixes: tuple[str, ...] | None
    sig_alg: str
    ref_c14n_alg: str
    ref_prefixes: tuple[str, ...] | None
    digest_alg: str
    certificate: x509.Certificate
    extra_certs: tuple[x509.Certificate, ...]
    subject_name: str | None
    warnings: tuple[str, ...]
    signed_info_at: int
    digest_value_at: tuple[int, ...]
    signature_value_at: int


_SHAPES: dict[tuple[str, bool, bytes], _Shape] = {}
"""Shapes of signatures that passed every structural check, by their serialisation with the values
blanked (see :func:`_shape_key`): the hub sees the same few signers' signature layouts again and again."""
_SHAPES_MAX = 256
_VALUE_TAG_END = b"Value>"


def _shape_key(sig: etree._Element) -> bytes:
    """The Signature serialised with the text after every tag ending in ``Value>`` blanked.

    That removes the DigestValue and SignatureValue texts (read again from the tree on every use) and
    nothing a shape depends on: tag names, attributes, comments, child elements and the
    X509Certificate / X509SubjectName texts all stay (``>`` inside text or attributes is serialised
    as ``&gt;``, so the marker only ends a tag). Mixed text after ``…Value>`` closing tags is blanked
    too; no rule of the profile reads it.
    """
    serialised = etree.tostring(sig, with_tail=False)
    parts: list[bytes] = []
    start = 0
    while (found := serialised.find(_VALUE_TAG_END, start)) >= 0:
        end = serialised.find(b"<", found)
        if end < 0:
            end = len(serialised)
        parts.append(serialised[start : found + len(_VALUE_TAG_END)])
        start = end
    parts.append(serialised[start:])
    return b"".join(parts)


def _shape(sig: etree._Element, ns: str, allow_sha1: bool) -> _Shape:
    """Apply every structural and algorithm rule that does not depend on the Signature's place."""
    warnings: list[str] = []
    children = _elements(sig)
    names = [c.tag for c in children]
    for c in children:
        if c.tag not in (_q(ns, "SignedInfo"), _q(ns, "SignatureValue"), _q(ns, "KeyInfo")):
            raise Rejection(
                VerifyFailure.WRAPPING,
                f"the Signature contains {_local(c)!r}; only SignedInfo, SignatureValue and KeyInfo are "
                "allowed (content inside the Signature, e.g. ds:Object, is not signed)",
            )
    if names[:2] != [_q(ns, "SignedInfo"), _q(ns, "SignatureValue")] or len(names) != len(set(names)):
        raise Rejection(
            VerifyFailure.MALFORMED,
            "the Signature must hold SignedInfo, SignatureValue and KeyInfo once each, in that order",
        )
    signed_info = children[0]
    si_children = _elements(signed_info)
    if (
        len(si_children) < 3
        or si_children[0].tag != _q(ns, "CanonicalizationMethod")
        or si_children[1].tag != _q(ns, "SignatureMethod")
    ):
        raise Rejection(
            VerifyFailure.MALFORMED,
            "SignedInfo must start with CanonicalizationMethod and SignatureMethod, then one Reference",
        )
    extra = [_local(c) for c in si_children[2:] if c.tag != _q(ns, "Reference")]
    if extra:
        raise Rejection(VerifyFailure.MALFORMED, f"SignedInfo contains unexpected elements {extra}")
    c14n_method, sig_method = si_children[0], si_children[1]
    c14n_alg = c14n_method.get("Algorithm") or ""
    sig_alg = sig_method.get("Algorithm") or ""
    ref = _check_reference(signed_info, ns)
    ref_c14n_alg, ref_prefixes = _check_transforms(ref, ns)
    ref_children = [c for c in _elements(ref) if c.tag != _q(ns, "Transforms")]
    if [c.tag for c in ref_children] != [_q(ns, "DigestMethod"), _q(ns, "DigestValue")]:
        raise Rejection(
            VerifyFailure.MALFORMED, "the Reference must hold Transforms, DigestMethod and DigestValue"
        )
    digest_alg = ref_children[0].get("Algorithm") or ""
    _check_algorithms(sig_alg, digest_alg, c14n_alg, allow_sha1, warnings)
    if ref_c14n_alg == ALG_C14N10:
        warnings.append(
            "the Reference uses inclusive C14N 1.0 (legacy); exclusive C14N is expected (EDXML-SIG)"
        )
    _check_subtree(sig, ns)
    cert, extra_certs, subject = _read_keyinfo(sig, ns)
    _check_subject_name(subject, cert, warnings)
    c14n_prefixes = _prefixes(c14n_method, c14n_alg)
    return _Shape(
        c14n_alg=c14n_alg,
        c14n_prefixes=None if c14n_prefixes is None else tuple(c14n_prefixes),
        sig_alg=sig_alg,
        ref_c14n_alg=ref_c14n_alg,
        ref_prefixes=None if ref_prefixes is None else tuple(ref_prefixes),
        digest_alg=digest_alg,
        certificate=cert,
        extra_certs=tuple(extra_certs),
        subject_name=subject,
        warnings=tuple(warnings),
        signed_info_at=sig.index(signed_info),
        digest_value_at=(sig.index(signed_info), signed_info.index(ref), ref.index(ref_children[1])),
        signature_value_at=sig.index(children[1]),
    )


def _shape_of(sig: etree._Element, ns: str, allow_sha1: bool) -> _Shape:
    """:func:`_shape`, remembered for signatures that serialise the same but for their values."""
    key = (ns, allow_sha1, _shape_key(sig))
    shape = _SHAPES.get(key)
    if shape is None:
        shape = _shape(sig, ns, allow_sha1)  # a Rejection is never remembered
        if len(_SHAPES) >= _SHAPES_MAX:
            _SHAPES.clear()
        _SHAPES[key] = shape
    return shape


def inspect_signature(root: etree._Element, sig: etree._Element, *, allow_sha1: bool) -> SignatureParts:
    """Apply every structural and algorithm rule of the profile; return the parts to verify."""
    ns = etree.QName(sig).namespace or ""
    warnings: list[str] = []
    if ns != DS_NS:
        warnings.append("the Signature is in the edXML namespace (legacy); accepted by policy (EDXML-SIG)")
    _check_location(root, sig, warnings)
    shape = _shape_of(sig, ns, allow_sha1)
    warnings.extend(shape.warnings)
    signed_info = sig[shape.signed_info_at]
    at = shape.digest_value_at
    digest_value = _b64(_text(sig[at[0]][at[1]][at[2]], "DigestValue"), "DigestValue")
    signature_value = _b64(_text(sig[shape.signature_value_at], "SignatureValue"), "SignatureValue")
    return SignatureParts(
        ns=ns,
        signature=sig,
        signed_info=signed_info,
        c14n_alg=shape.c14n_alg,
        c14n_prefixes=None if shape.c14n_prefixes is None else list(shape.c14n_prefixes),
        sig_alg=shape.sig_alg,
        ref_c14n_alg=shape.ref_c14n_alg,
        ref_prefixes=None if shape.ref_prefixes is None else list(shape.ref_prefixes),
        digest_alg=shape.digest_alg,
        digest_value=digest_value,
        signature_value=signature_value,
        certificate=shape.certificate,
        extra_certs=list(shape.extra_certs),
        subject_name=shape.subject_name,
        warnings=warnings,
    )
