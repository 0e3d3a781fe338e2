"""The negative battery: every engine must give the same precise verdict on every sample."""

from __future__ import annotations

import base64
import copy
import hashlib
from collections.abc import Callable

import pytest
from lxml import etree

from simulator.edxml.xmlsafe import UnsafeXmlError, safe_fromstring
from simulator.pki.ca import Credential, TestCA
from simulator.pki.dsig import (
    SignatureAlgorithm,
    SignaturePolicy,
    Verifier,
    VerifyFailure,
    VerifyResult,
    sign,
)
from tests.pki.samples import NS, SUBJECT, document_package, status_package

DS = "http://www.w3.org/2000/09/xmldsig#"
E = f"{{{NS}}}"
D = f"{{{DS}}}"

ENGINES = ["fast", "signxml", "fast-in-place", "fast-hub"]
"""``fast-in-place``: the fast engine on the tree the caller already parsed (``Verifier(in_place=True)``),
checking after every verdict that the caller's tree came back byte-identical. ``fast-hub``: the same
as the hub configures it (``keep_signed_root=False`` too), which digests big attachment texts without
canonicalising them (``_fastverify._document_digest``)."""


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def signed(creds: dict[str, Credential]) -> Callable[[str], bytes]:
    cache: dict[str, bytes] = {}

    def get(name: str) -> bytes:
        if name not in cache:
            cache[name] = sign(document_package(), creds[name])
        return cache[name]

    return get


class _InPlaceVerifier(Verifier):
    """Hands the fast engine a parsed element, as the hub does, and checks it is left untouched."""

    def verify(self, data: bytes | etree._Element) -> VerifyResult:
        if not isinstance(data, bytes):
            return super().verify(data)
        try:
            root = safe_fromstring(data)
        except UnsafeXmlError:
            return super().verify(data)  # the hub never gets here: its parser refused the bytes first
        before = etree.tostring(root)
        result = super().verify(root)
        assert etree.tostring(root) == before, "verify changed the caller's tree"
        return result


def verifier(ca: TestCA, engine: str, **policy: object) -> Verifier:
    if engine == "fast-in-place":
        return _InPlaceVerifier(ca.trust_store(), SignaturePolicy(**policy), engine="fast", in_place=True)  # type: ignore[arg-type]
    if engine == "fast-hub":
        return _InPlaceVerifier(
            ca.trust_store(),
            SignaturePolicy(**policy),  # type: ignore[arg-type]
            engine="fast",
            in_place=True,
            keep_signed_root=False,
        )
    return Verifier(ca.trust_store(), SignaturePolicy(**policy), engine=engine)  # type: ignore[arg-type]


def _signed_root_text(r: VerifyResult, engine: str, name: str) -> str | None:
    """The text of ``name`` in the verified tree; None exactly when the engine keeps no tree (fast-hub)."""
    if engine == "fast-hub":
        assert r.signed_root is None
        return None
    assert r.signed_root is not None
    text = r.signed_root.findtext(f".//{E}{name}")
    assert text is not None
    return text


def edit(data: bytes, fn: Callable[[etree._Element], object]) -> bytes:
    root = etree.fromstring(data)
    fn(root)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def one(node: etree._Element, path: str) -> etree._Element:
    found = node.find(path)
    assert found is not None, path
    return found


def sig_of(root: etree._Element) -> etree._Element:
    found = one(root, f".//{D}Signature")
    assert found is not None
    return found


def exc_c14n_digest_without_signature(data: bytes) -> str:
    """Independent recomputation of what an attacker would put in DigestValue."""
    root = etree.fromstring(data)
    sig = root.find(f".//{D}Signature")
    if sig is not None:
        parent = sig.getparent()
        assert parent is not None
        parent.remove(sig)
    canonical = etree.tostring(root, method="c14n", exclusive=True, with_comments=False)
    return base64.b64encode(hashlib.sha256(canonical).digest()).decode()


# ----------------------------------------------------------------------------- valid samples


def test_valid_rsa(ca: TestCA, engine: str, signed: Callable[[str], bytes]) -> None:
    r = verifier(ca, engine).verify(signed("good-rsa"))
    assert r.ok and r.failure is None and r.signed, r.message
    assert r.algorithm == "rsa-sha256"
    assert r.signer_subject is not None and "Văn phòng Chính phủ" in r.signer_subject
    if engine == "fast-hub":
        assert r.signed_root is None  # the hub asks for the verdict only
    else:
        assert r.signed_root is not None
        assert r.signed_root.findtext(f".//{E}Subject") == SUBJECT
        assert r.signed_root.find(f".//{D}Signature") is None  # what was signed excludes the signature
    assert r.warnings == []


def test_valid_ecdsa(ca: TestCA, engine: str, signed: Callable[[str], bytes]) -> None:
    data = signed("good-ec")
    value = base64.b64decode(etree.fromstring(data).findtext(f".//{D}SignatureValue") or "")
    assert len(value) == 64  # XML-DSig ECDSA is raw r||s, not DER
    r = verifier(ca, engine).verify(data)
    assert r.ok and r.algorithm == "ecdsa-sha256", r.message


def test_valid_status_package(ca: TestCA, engine: str, creds: dict[str, Credential]) -> None:
    data = sign(status_package(), creds["good-rsa"])
    header = etree.fromstring(data).find(f"{E}edXMLEnvelope/{E}edXMLHeader")
    assert header is not None
    assert [etree.QName(c).localname for c in header] == ["MessageHeader", "Signature"]
    r = verifier(ca, engine).verify(data)
    assert r.ok, r.message
    assert _signed_root_text(r, engine, "StatusCode") in ("03", None)


def test_signature_sits_after_trace_header_list(signed: Callable[[str], bytes]) -> None:
    header = etree.fromstring(signed("good-rsa")).find(f"{E}edXMLEnvelope/{E}edXMLHeader")
    assert header is not None
    names = [etree.QName(c).localname for c in header]
    assert names == ["MessageHeader", "TraceHeaderList", "Signature"]


# ----------------------------------------------------------------------------- integrity


def test_tampered_content(ca: TestCA, engine: str, signed: Callable[[str], bytes]) -> None:
    data = signed("good-rsa").replace(SUBJECT.encode(), "V/v chuyển 10 tỷ đồng".encode())
    r = verifier(ca, engine).verify(data)
    assert (r.ok, r.failure) == (False, VerifyFailure.DIGEST_MISMATCH)
    assert "digest" in r.message and r.requirement == "QD28-6.1"
    assert r.signed_root is None


def test_tampered_signature_value(ca: TestCA, engine: str, signed: Callable[[str], bytes]) -> None:
    def flip(root: etree._Element) -> None:
        el = one(root, f".//{D}SignatureValue")
        raw = bytearray(base64.b64decode(el.text or ""))
        raw[10] ^= 0x01
        el.text = base64.b64encode(bytes(raw)).decode()

    r = verifier(ca, engine).verify(edit(signed("good-rsa"), flip))
    assert r.failure is VerifyFailure.BAD_SIGNATURE_VALUE and "SignatureValue" in r.message


def test_tampered_signed_info(ca: TestCA, engine: str, signed: Callable[[str], bytes]) -> None:
    """The attacker changes the content and recomputes DigestValue, but cannot re-sign SignedInfo."""
    forged = signed("good-rsa").replace(SUBJECT.encode(), "V/v khác".encode())
    new_digest = exc_c14n_digest_without_signature(forged)

    def set_digest(root: etree._Element) -> None:
        one(root, f".//{D}DigestValue").text = new_digest

    r = verifier(ca, engine).verify(edit(forged, set_digest))
    assert r.failure is VerifyFailure.BAD_SIGNATURE_VALUE and "SignedInfo" in r.message


def test_whitespace_injection_in_text_breaks_digest(
    ca: TestCA, engine: str, signed: Callable[[str], bytes]
) -> None:
    data = signed("good-rsa").replace(SUBJECT.encode(), (SUBJECT + " ").encode())
    assert verifier(ca, engine).verify(data).failure is VerifyFailure.DIGEST_MISMATCH


def test_whitespace_inside_tags_is_canonicalised(
    ca: TestCA, engine: str, signed: Callable[[str], bytes]
) -> None:
    data = signed("good-rsa").replace(b"<edXML:Subject>", b"<edXML:Subject  >")
    assert data != signed("good-rsa")
    r = verifier(ca, engine).verify(data)
    assert r.ok, r.message


def test_comment_injection_returns_the_signed_text(
    ca: TestCA, engine: str, signed: Callable[[str], bytes]
) -> None:
    """Comments are outside URI="" digests; a naive reader sees the text cut at the comment, the
    verified tree holds the whole signed text."""
    head, tail = SUBJECT[:4], SUBJECT[4:]
    data = signed("good-rsa").replace(SUBJECT.encode(), f"{head}<!-- x -->{tail}".encode())
    naive = etree.fromstring(data).findtext(f".//{E}Subject")
    assert naive == head
    r = verifier(ca, engine).verify(data)
    assert r.ok, r.message
    assert _signed_root_text(r, engine, "Subject") in (SUBJECT, None)
    assert any("comment" in w for w in r.warnings)


# ----------------------------------------------------------------------------- certificates


@pytest.mark.parametrize(
    ("name", "failure", "words"),
    [
        ("untrusted", VerifyFailure.UNTRUSTED_CHAIN, "trust"),
        ("expired", VerifyFailure.EXPIRED, "expired"),
        ("not-yet-valid", VerifyFailure.NOT_YET_VALID, "not valid yet"),
        ("revoked", VerifyFailure.REVOKED, "revoked"),
        ("wrong-key-usage", VerifyFailure.WRONG_KEY_USAGE, "KeyUsage"),
    ],
)
def test_bad_certificates(
    ca: TestCA, engine: str, signed: Callable[[str], bytes], name: str, failure: VerifyFailure, words: str
) -> None:
    r = verifier(ca, engine).verify(signed(name))
    assert (r.ok, r.failure) == (False, failure)
    assert words in r.message
    assert r.signer_certificate is not None  # the report can name who signed
    assert r.signed_root is None


def test_expired_certificate_is_fine_at_a_time_inside_its_validity(
    ca: TestCA, engine: str, signed: Callable[[str], bytes], creds: dict[str, Credential]
) -> None:
    cert = creds["expired"].certificate
    at = cert.not_valid_before_utc + (cert.not_valid_after_utc - cert.not_valid_before_utc) / 2
    assert verifier(ca, engine, at=at).verify(signed("expired")).ok


def test_revocation_check_can_be_disabled(ca: TestCA, engine: str, signed: Callable[[str], bytes]) -> None:
    assert verifier(ca, engine, check_revocation=False).verify(signed("revoked")).ok


def test_certificate_swapped_in_keyinfo(
    ca: TestCA, engine: str, signed: Callable[[str], bytes], creds: dict[str, Credential]
) -> None:
    from cryptography.hazmat.primitives.serialization import Encoding

    other = creds["other-rsa"].certificate

    def swap(root: etree._Element) -> None:
        one(root, f".//{D}X509Certificate").text = base64.b64encode(other.public_bytes(Encoding.DER)).decode()
        one(root, f".//{D}X509SubjectName").text = other.subject.rfc4514_string()

    r = verifier(ca, engine).verify(edit(signed("good-rsa"), swap))
    assert r.failure is VerifyFailure.BAD_SIGNATURE_VALUE
    assert "certificate" in r.message


def test_subject_name_not_matching_certificate(
    ca: TestCA, engine: str, signed: Callable[[str], bytes]
) -> None:
    def rename(root: etree._Element) -> None:
        one(root, f".//{D}X509SubjectName").text = "CN=Bộ Tài chính,C=VN"

    r = verifier(ca, engine).verify(edit(signed("good-rsa"), rename))
    assert r.failure is VerifyFailure.MALFORMED and "X509SubjectName" in r.message


def test_no_certificate(ca: TestCA, engine: str, signed: Callable[[str], bytes]) -> None:
    def drop(root: etree._Element) -> None:
        sig = sig_of(root)
        sig.remove(one(sig, f"{D}KeyInfo"))

    r = verifier(ca, engine).verify(edit(signed("good-rsa"), drop))
    assert r.failure is VerifyFailure.NO_CERTIFICATE and "X509Certificate" in r.message


def test_embedded_rogue_root_is_not_trusted(ca: TestCA, engine: str, signed: Callable[[str], bytes]) -> None:
    """Carrying the rogue root inside KeyInfo does not make it a trust anchor."""
    from cryptography.hazmat.primitives.serialization import Encoding

    def add_root(root: etree._Element) -> None:
        x509_data = one(root, f".//{D}X509Data")
        el = etree.SubElement(x509_data, f"{D}X509Certificate")
        el.text = base64.b64encode(ca.rogue_root.public_bytes(Encoding.DER)).decode()

    r = verifier(ca, engine).verify(edit(signed("untrusted"), add_root))
    assert r.failure is VerifyFailure.UNTRUSTED_CHAIN and "not a trust anchor" in r.message


# ----------------------------------------------------------------------------- unsigned, legacy


def test_unsigned_refused_by_default(ca: TestCA, engine: str) -> None:
    r = verifier(ca, engine).verify(document_package())
    assert (r.ok, r.failure, r.requirement) == (False, VerifyFailure.UNSIGNED, "VPCP19-SIG")
    assert "signed" in r.message


def test_unsigned_allowed_is_reference_only(ca: TestCA, engine: str) -> None:
    r = verifier(ca, engine, require_signature=False).verify(status_package())
    assert r.ok and not r.signed and r.failure is None
    assert any("reference only (QD28-4.1)" in w for w in r.warnings)
    assert _signed_root_text(r, engine, "StatusCode") in ("03", None)


def test_sha1_refused_by_default_and_accepted_with_warning(
    ca: TestCA, engine: str, creds: dict[str, Credential]
) -> None:
    data = sign(document_package(), creds["good-rsa"], algorithm=SignatureAlgorithm.RSA_SHA1)
    root = etree.fromstring(data)
    assert one(root, f".//{D}DigestMethod").get("Algorithm") == "http://www.w3.org/2000/09/xmldsig#sha1"
    r = verifier(ca, engine).verify(data)
    assert r.failure is VerifyFailure.SHA1_REFUSED and "SHA-1" in r.message
    r = verifier(ca, engine, allow_sha1=True).verify(data)
    assert r.ok and r.algorithm == "rsa-sha1", r.message
    assert any("SHA-1" in w for w in r.warnings)


def test_legacy_c14n10_signature(ca: TestCA, engine: str, creds: dict[str, Credential]) -> None:
    data = sign(document_package(), creds["good-rsa"], c14n="c14n10")
    r = verifier(ca, engine).verify(data)
    assert r.ok, r.message
    assert any("C14N 1.0" in w for w in r.warnings)


def test_signature_in_edxml_namespace(ca: TestCA, engine: str, creds: dict[str, Credential]) -> None:
    data = sign(document_package(), creds["good-rsa"], namespace="edxml")
    root = etree.fromstring(data)
    assert root.find(f".//{D}Signature") is None and root.find(f".//{E}Signature") is not None
    r = verifier(ca, engine).verify(data)
    assert r.failure is VerifyFailure.WRONG_NAMESPACE and "namespace" in r.message
    r = verifier(ca, engine, accept_edxml_namespace=True).verify(data)
    assert r.ok, r.message
    assert any("edXML namespace" in w for w in r.warnings)


def test_tampered_legacy_edxml_namespace_signature(
    ca: TestCA, engine: str, creds: dict[str, Credential]
) -> None:
    data = sign(document_package(), creds["good-rsa"], namespace="edxml").replace(SUBJECT.encode(), b"X")
    r = verifier(ca, engine, accept_edxml_namespace=True).verify(data)
    assert r.failure is VerifyFailure.DIGEST_MISMATCH


# ----------------------------------------------------------------------------- wrapping and structure


def test_two_signatures(ca: TestCA, engine: str, signed: Callable[[str], bytes]) -> None:
    def duplicate(root: etree._Element) -> None:
        sig = sig_of(root)
        sig.addnext(copy.deepcopy(sig))

    r = verifier(ca, engine).verify(edit(signed("good-rsa"), duplicate))
    assert r.failure is VerifyFailure.MULTIPLE_SIGNATURES and "2 Signature" in r.message


def test_signed_content_moved_into_ds_object(ca: TestCA, engine: str, signed: Callable[[str], bytes]) -> None:
    """The enveloped transform removes the Signature, so an Object inside it would be unsigned."""

    def wrap(root: etree._Element) -> None:
        sig = sig_of(root)
        obj = etree.SubElement(sig, f"{D}Object")
        evil = copy.deepcopy(one(root, f".//{E}MessageHeader"))
        one(evil, f"{E}Subject").text = "V/v giả mạo"
        obj.append(evil)

    r = verifier(ca, engine).verify(edit(signed("good-rsa"), wrap))
    assert r.failure is VerifyFailure.WRAPPING and "Object" in r.message


def test_original_wrapped_inside_forged_document(
    ca: TestCA, engine: str, signed: Callable[[str], bytes]
) -> None:
    """A forged package carries the genuine signed package as a child: the only Signature is not where
    the profile puts it."""
    original = etree.fromstring(signed("good-rsa"))
    forged = etree.fromstring(document_package().replace(SUBJECT.encode(), "V/v giả mạo".encode()))
    attachment = one(forged, f"{E}AttachmentEncoded/{E}Attachment")
    attachment.append(original)
    data = etree.tostring(forged, xml_declaration=True, encoding="UTF-8")
    r = verifier(ca, engine).verify(data)
    assert r.failure is VerifyFailure.WRAPPING and "edXMLHeader" in r.message


def test_copy_of_content_added_outside_signature(
    ca: TestCA, engine: str, signed: Callable[[str], bytes]
) -> None:
    def add(root: etree._Element) -> None:
        envelope = one(root, f"{E}edXMLEnvelope")
        envelope.append(copy.deepcopy(one(root, f".//{E}MessageHeader")))

    assert verifier(ca, engine).verify(edit(signed("good-rsa"), add)).failure is VerifyFailure.DIGEST_MISMATCH


def test_reference_to_an_id(ca: TestCA, engine: str, signed: Callable[[str], bytes]) -> None:
    def point(root: etree._Element) -> None:
        one(root, f".//{E}MessageHeader").set("Id", "mh")
        one(root, f".//{D}Reference").set("URI", "#mh")

    r = verifier(ca, engine).verify(edit(signed("good-rsa"), point))
    assert r.failure is VerifyFailure.WRAPPING and "#mh" in r.message


@pytest.mark.parametrize(
    "algorithm",
    ["http://www.w3.org/TR/1999/REC-xpath-19991116", "http://www.w3.org/TR/1999/REC-xslt-19991116"],
)
def test_extra_transform(ca: TestCA, engine: str, signed: Callable[[str], bytes], algorithm: str) -> None:
    def add(root: etree._Element) -> None:
        transforms = one(root, f".//{D}Transforms")
        t = etree.SubElement(transforms, f"{D}Transform", Algorithm=algorithm)
        etree.SubElement(t, f"{D}XPath").text = "ancestor-or-self::edXML:Subject"

    r = verifier(ca, engine).verify(edit(signed("good-rsa"), add))
    assert r.failure is VerifyFailure.WRAPPING and algorithm in r.message


def test_two_references(ca: TestCA, engine: str, signed: Callable[[str], bytes]) -> None:
    def add(root: etree._Element) -> None:
        ref = one(root, f".//{D}Reference")
        ref.addnext(copy.deepcopy(ref))

    r = verifier(ca, engine).verify(edit(signed("good-rsa"), add))
    assert r.failure is VerifyFailure.BAD_REFERENCE and "2 Reference" in r.message


def test_reference_without_uri(ca: TestCA, engine: str, signed: Callable[[str], bytes]) -> None:
    def drop(root: etree._Element) -> None:
        del one(root, f".//{D}Reference").attrib["URI"]

    r = verifier(ca, engine).verify(edit(signed("good-rsa"), drop))
    assert r.failure is VerifyFailure.BAD_REFERENCE and "URI" in r.message


def test_signed_info_c14n_switched_to_inclusive(
    ca: TestCA, engine: str, signed: Callable[[str], bytes]
) -> None:
    """An allowed algorithm, but SignedInfo no longer is what was signed."""

    def switch(root: etree._Element) -> None:
        one(root, f".//{D}CanonicalizationMethod").set(
            "Algorithm", "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
        )

    r = verifier(ca, engine).verify(edit(signed("good-rsa"), switch))
    assert r.failure is VerifyFailure.BAD_SIGNATURE_VALUE


@pytest.mark.parametrize(
    "algorithm",
    ["http://www.w3.org/2006/12/xml-c14n11", "http://www.w3.org/2001/10/xml-exc-c14n#WithComments"],
)
def test_signed_info_c14n_unsupported(
    ca: TestCA, engine: str, signed: Callable[[str], bytes], algorithm: str
) -> None:
    def switch(root: etree._Element) -> None:
        one(root, f".//{D}CanonicalizationMethod").set("Algorithm", algorithm)

    r = verifier(ca, engine).verify(edit(signed("good-rsa"), switch))
    assert r.failure is VerifyFailure.UNSUPPORTED_ALGORITHM and "canonicalization" in r.message


def test_hmac_signature_method(ca: TestCA, engine: str, signed: Callable[[str], bytes]) -> None:
    def switch(root: etree._Element) -> None:
        one(root, f".//{D}SignatureMethod").set(
            "Algorithm", "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256"
        )

    r = verifier(ca, engine).verify(edit(signed("good-rsa"), switch))
    assert r.failure is VerifyFailure.UNSUPPORTED_ALGORITHM and "HMAC" in r.message


def test_signature_method_not_fitting_the_key(
    ca: TestCA, engine: str, signed: Callable[[str], bytes]
) -> None:
    def switch(root: etree._Element) -> None:
        one(root, f".//{D}SignatureMethod").set(
            "Algorithm", "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
        )

    r = verifier(ca, engine).verify(edit(signed("good-rsa"), switch))
    assert r.failure is VerifyFailure.BAD_SIGNATURE_VALUE and "does not fit" in r.message


@pytest.mark.parametrize(
    ("data", "requirement"),
    [
        (b"<edXML><unclosed></edXML>", "EDXML-XML"),
        (b'<!DOCTYPE x [<!ENTITY a "b">]><edXML>&a;</edXML>', "EDXML-XML"),
        (b"", "EDXML-XML"),
    ],
)
def test_not_xml(ca: TestCA, engine: str, data: bytes, requirement: str) -> None:
    r = verifier(ca, engine).verify(data)
    assert (r.ok, r.failure, r.requirement) == (False, VerifyFailure.MALFORMED, requirement)


def test_comment_inside_signature_is_refused(ca: TestCA, engine: str, signed: Callable[[str], bytes]) -> None:
    def add(root: etree._Element) -> None:
        one(root, f".//{D}DigestValue").append(etree.Comment("x"))

    r = verifier(ca, engine).verify(edit(signed("good-rsa"), add))
    assert r.failure is VerifyFailure.MALFORMED and "comment" in r.message


# ----------------------------------------------------------------------------- hub options


def test_in_place_verification_leaves_the_tree_verifiable_again(
    ca: TestCA, signed: Callable[[str], bytes]
) -> None:
    root = safe_fromstring(signed("good-rsa"))
    before = etree.tostring(root)
    v = Verifier(ca.trust_store(), engine="fast", in_place=True)
    for _ in range(2):  # a Signature left detached would make the second verdict "unsigned"
        r = v.verify(root)
        assert r.ok and r.signed, r.message
    assert etree.tostring(root) == before
    assert root.find(f".//{D}Signature") is not None


def test_in_place_restores_the_tree_after_a_digest_failure(
    ca: TestCA, signed: Callable[[str], bytes]
) -> None:
    root = safe_fromstring(signed("good-rsa"))
    subject = one(root, f".//{E}Subject")
    subject.text = (subject.text or "") + " (altered)"
    before = etree.tostring(root)
    r = Verifier(ca.trust_store(), engine="fast", in_place=True).verify(root)
    assert r.failure is VerifyFailure.DIGEST_MISMATCH
    assert etree.tostring(root) == before


def test_without_in_place_an_element_is_copied(ca: TestCA, signed: Callable[[str], bytes]) -> None:
    root = safe_fromstring(signed("good-rsa"))
    r = Verifier(ca.trust_store(), engine="fast").verify(root)
    assert r.ok and r.signed_root is not None and r.signed_root is not root
    assert root.find(f".//{D}Signature") is not None


def test_keep_signed_root_false_gives_the_same_verdict_without_the_tree(
    ca: TestCA, signed: Callable[[str], bytes]
) -> None:
    data = signed("good-rsa")
    lean = Verifier(ca.trust_store(), engine="fast", keep_signed_root=False).verify(data)
    full = Verifier(ca.trust_store(), engine="fast").verify(data)
    assert lean.ok and lean.signed and lean.signed_root is None
    assert (lean.message, lean.signer_subject, lean.algorithm) == (
        full.message,
        full.signer_subject,
        full.algorithm,
    )
    bad = Verifier(ca.trust_store(), engine="fast", keep_signed_root=False).verify(signed("revoked"))
    assert not bad.ok and bad.failure is VerifyFailure.REVOKED
