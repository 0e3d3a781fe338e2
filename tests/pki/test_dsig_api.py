"""sign()/verify() contract: inputs untouched, element input, what is returned, interop with signxml."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree
from signxml import SignatureMethod, XMLSigner, XMLVerifier, methods
from signxml.algorithms import CanonicalizationMethod

from simulator.pki.ca import Credential, TestCA
from simulator.pki.dsig import SignatureAlgorithm, SigningError, Verifier, VerifyFailure, sign, verify
from tests.pki.samples import NS, SUBJECT, document_package, status_package

DS = "http://www.w3.org/2000/09/xmldsig#"
E = f"{{{NS}}}"
D = f"{{{DS}}}"


@pytest.mark.parametrize("engine", ["fast", "signxml"])
@pytest.mark.parametrize("tamper", [False, True])
def test_verify_does_not_mutate_an_element(
    ca: TestCA, creds: dict[str, Credential], engine: str, tamper: bool
) -> None:
    data = sign(document_package(), creds["good-rsa"])
    if tamper:
        data = data.replace(SUBJECT.encode(), b"X")
    root = etree.fromstring(data)
    before = etree.tostring(root)
    r = Verifier(ca.trust_store(), engine=engine).verify(root)  # type: ignore[arg-type]
    assert r.ok is (not tamper)
    assert etree.tostring(root) == before
    assert root.find(f".//{D}Signature") is not None
    if r.signed_root is not None:
        assert r.signed_root is not root
        r.signed_root.find(f".//{E}Subject").text = "changed"  # type: ignore[union-attr]
        assert root.findtext(f".//{E}Subject") == SUBJECT


def test_sign_does_not_mutate_an_element(creds: dict[str, Credential]) -> None:
    root = etree.fromstring(document_package())
    before = etree.tostring(root)
    signed = sign(root, creds["good-ec"])
    assert etree.tostring(root) == before
    assert etree.fromstring(signed).find(f".//{D}Signature") is not None


def test_signed_root_is_the_canonical_form(ca: TestCA, creds: dict[str, Credential]) -> None:
    """The returned tree is re-parsed from the digested canonical bytes: its exclusive C14N is those
    bytes again, and it is a different object from anything the caller holds."""
    r = verify(sign(document_package(), creds["good-rsa"]), ca.trust_store())
    assert r.ok and r.signed_root is not None
    original = etree.fromstring(document_package())
    expected = etree.tostring(original, method="c14n", exclusive=True)
    assert etree.tostring(r.signed_root, method="c14n", exclusive=True) == expected


def test_leading_junk_and_pi_outside_root(ca: TestCA, creds: dict[str, Credential]) -> None:
    data = sign(document_package(), creds["good-rsa"])
    data = b"\x00\x01\x02\x03" + data.replace(
        b"?>\n<edXML", b'?>\n<?xml-stylesheet href="x.xsl"?>\n<edXML', 1
    )
    r = verify(data, ca.trust_store())
    assert r.ok, r.message
    assert any("stray byte" in w for w in r.warnings)
    assert any("outside the document element" in w for w in r.warnings)


def test_signature_not_right_after_trace_header_list_is_a_warning(
    ca: TestCA, creds: dict[str, Credential]
) -> None:
    root = etree.fromstring(sign(document_package(), creds["good-rsa"]))
    header = root.find(f"{E}edXMLEnvelope/{E}edXMLHeader")
    sig = root.find(f".//{D}Signature")
    header.insert(0, sig)  # type: ignore[union-attr, arg-type]
    r = verify(etree.tostring(root), ca.trust_store())
    assert r.ok
    assert any("not right after TraceHeaderList" in w for w in r.warnings)


def test_sign_refuses_already_signed_and_not_xml(creds: dict[str, Credential]) -> None:
    signed = sign(document_package(), creds["good-rsa"])
    with pytest.raises(SigningError, match="already signed"):
        sign(signed, creds["good-rsa"])
    with pytest.raises(SigningError, match="not well-formed"):
        sign(b"<edXML>", creds["good-rsa"])
    with pytest.raises(SigningError, match="does not fit"):
        sign(document_package(), creds["good-ec"], algorithm=SignatureAlgorithm.RSA_SHA256)


def test_keyinfo_layout(creds: dict[str, Credential]) -> None:
    cred = creds["good-rsa"]
    sig = etree.fromstring(sign(status_package(), cred)).find(f".//{D}Signature")
    assert sig is not None
    certs = [base64.b64decode(c.text or "") for c in sig.iterfind(f".//{D}X509Certificate")]
    assert certs[0] == cred.certificate.public_bytes(Encoding.DER)
    assert certs[1:] == [c.public_bytes(Encoding.DER) for c in cred.chain]
    assert sig.findtext(f".//{D}X509SubjectName") == cred.certificate.subject.rfc4514_string()
    transforms = [t.get("Algorithm") for t in sig.iterfind(f".//{D}Transform")]
    assert transforms == [
        "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
        "http://www.w3.org/2001/10/xml-exc-c14n#",
    ]


# ----------------------------------------------------------------------------- interop with signxml


def _signxml_sign(cred: Credential, data: bytes) -> etree._Element:
    signer = XMLSigner(
        method=methods.enveloped,
        signature_algorithm=SignatureMethod.RSA_SHA256,
        digest_algorithm="sha256",
        c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
    )
    cert_pem = b"".join(c.public_bytes(Encoding.PEM) for c in (cred.certificate, *cred.chain))
    return signer.sign(etree.fromstring(data), key=cred.private_key, cert=cert_pem.decode())


@pytest.mark.parametrize("engine", ["fast", "signxml"])
def test_signature_made_by_signxml_verifies(ca: TestCA, creds: dict[str, Credential], engine: str) -> None:
    """An independent signer's output (moved from the root to edXMLHeader, which exclusive C14N and the
    enveloped transform allow) verifies; left where signxml puts it, it is refused as misplaced."""
    root = _signxml_sign(creds["good-rsa"], document_package())
    sig = root.find(f"{D}Signature")
    assert sig is not None
    misplaced = etree.tostring(root)
    r = Verifier(ca.trust_store(), engine=engine).verify(misplaced)  # type: ignore[arg-type]
    assert r.failure is VerifyFailure.WRAPPING

    root.find(f".//{E}TraceHeaderList").addnext(sig)  # type: ignore[union-attr]
    r = Verifier(ca.trust_store(), engine=engine).verify(etree.tostring(root))  # type: ignore[arg-type]
    assert r.ok, r.message
    assert any("X509SubjectName" in w for w in r.warnings)  # signxml does not write one


@pytest.mark.parametrize("c14n", ["exc", "c14n10"])
def test_our_signature_verifies_with_plain_signxml(creds: dict[str, Credential], c14n: str) -> None:
    cred = creds["good-rsa"]
    data = sign(document_package(), cred, c14n=c14n)  # type: ignore[arg-type]
    result = XMLVerifier().verify(data, x509_cert=cred.certificate)
    assert result.signed_xml is not None  # type: ignore[union-attr]
    assert result.signed_xml.findtext(f".//{E}Subject") == SUBJECT  # type: ignore[union-attr]


def test_builder_package_signs_and_verifies(ca: TestCA, creds: dict[str, Credential]) -> None:
    builder = pytest.importorskip("simulator.edxml.builder")
    samples = pytest.importorskip("simulator.edxml.samples")
    package = samples.sample_document(seed=7, attachment_size=2000)
    data = sign(builder.build(package), creds["good-ec"])
    r = verify(data, ca.trust_store())
    assert r.ok, r.message
    assert r.signed_root is not None
    assert r.signed_root.findtext(f".//{E}Subject") == package.header.subject


def test_policy_time_must_be_aware() -> None:
    import datetime as dt

    from simulator.pki.dsig import SignaturePolicy

    with pytest.raises(ValueError, match="timezone-aware"):
        SignaturePolicy(at=dt.datetime(2026, 1, 1))
    assert SignaturePolicy(at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC)).at is not None
