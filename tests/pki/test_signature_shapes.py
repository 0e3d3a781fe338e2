"""The remembered signature shapes (``_xmldsig._SHAPES``): a speed-up that must never change a verdict.

The hub inspects the same few signers' Signature layouts again and again, so the structural checks are
remembered by the Signature's serialisation with its DigestValue/SignatureValue texts blanked. Every
mutation below is verified twice — once with the good package's shape remembered, once with nothing
remembered — and both verdicts must be identical, word for word.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree

from simulator.edxml.xmlsafe import safe_fromstring
from simulator.pki import _xmldsig
from simulator.pki.ca import Credential, TestCA
from simulator.pki.dsig import SignaturePolicy, Verifier, VerifyFailure, VerifyResult, sign
from tests.pki.samples import SUBJECT, document_package

DS = "http://www.w3.org/2000/09/xmldsig#"
D = f"{{{DS}}}"

Mutation = Callable[[etree._Element, dict[str, Credential]], object]


@pytest.fixture(autouse=True)
def _no_shapes() -> Iterator[None]:
    _xmldsig._SHAPES.clear()
    yield
    _xmldsig._SHAPES.clear()


@pytest.fixture(scope="module")
def good(creds: dict[str, Credential]) -> bytes:
    return sign(document_package(), creds["good-rsa"])


def _one(root: etree._Element, name: str) -> etree._Element:
    found = root.find(f".//{D}{name}")
    assert found is not None, name
    return found


def _flip_b64(el: etree._Element) -> None:
    raw = bytearray(base64.b64decode(el.text or ""))
    raw[3] ^= 0x40
    el.text = base64.b64encode(bytes(raw)).decode()


def _swap_certificate(root: etree._Element, creds: dict[str, Credential]) -> None:
    other = creds["other-rsa"].certificate
    _one(root, "X509Certificate").text = base64.b64encode(other.public_bytes(Encoding.DER)).decode()
    _one(root, "X509SubjectName").text = other.subject.rfc4514_string()


def _move_signature_to_root(root: etree._Element, _: dict[str, Credential]) -> None:
    sig = _one(root, "Signature")
    root.append(sig)


MUTATIONS: dict[str, Mutation] = {
    "untouched": lambda root, _: None,
    "content changed": lambda root, _: root.find(".//{*}Subject").set("x", "1"),  # type: ignore[union-attr]
    "digest value flipped": lambda root, _: _flip_b64(_one(root, "DigestValue")),
    "signature value flipped": lambda root, _: _flip_b64(_one(root, "SignatureValue")),
    "digest value not base64": lambda root, _: setattr(_one(root, "DigestValue"), "text", "@@@@"),
    "signature value empty": lambda root, _: setattr(_one(root, "SignatureValue"), "text", None),
    "comment in the digest value": lambda root, _: _one(root, "DigestValue").append(etree.Comment("x")),
    "element in the signature value": lambda root, _: etree.SubElement(
        _one(root, "SignatureValue"), f"{D}KeyName"
    ),
    "text after the digest value": lambda root, _: setattr(_one(root, "DigestValue"), "tail", " "),
    "subject name renamed": lambda root, _: setattr(
        _one(root, "X509SubjectName"), "text", "CN=Bộ Tài chính,C=VN"
    ),
    "certificate swapped": _swap_certificate,
    "certificate text broken": lambda root, _: setattr(_one(root, "X509Certificate"), "text", "AAAA"),
    "digest method sha1": lambda root, _: _one(root, "DigestMethod").set(
        "Algorithm", "http://www.w3.org/2000/09/xmldsig#sha1"
    ),
    "reference to an id": lambda root, _: _one(root, "Reference").set("URI", "#x"),
    "object added": lambda root, _: etree.SubElement(_one(root, "Signature"), f"{D}Object"),
    "signature moved to the root": _move_signature_to_root,
}


def _verdict(ca: TestCA, data: bytes) -> tuple[object, ...]:
    verifier = Verifier(ca.trust_store(), SignaturePolicy(), engine="fast", in_place=True)
    r: VerifyResult = verifier.verify(safe_fromstring(data))
    return (r.ok, r.failure, r.message, r.requirement, tuple(r.warnings))


@pytest.mark.parametrize("name", list(MUTATIONS))
def test_a_remembered_shape_gives_the_verdict_of_a_fresh_inspection(
    ca: TestCA, creds: dict[str, Credential], good: bytes, name: str
) -> None:
    root = etree.fromstring(good)
    MUTATIONS[name](root, creds)
    data = etree.tostring(root)

    assert _verdict(ca, good)[0] is True  # the good package's shape is now remembered
    assert len(_xmldsig._SHAPES) == 1
    remembered = _verdict(ca, data)
    _xmldsig._SHAPES.clear()
    fresh = _verdict(ca, data)
    assert remembered == fresh


def test_value_only_changes_reuse_the_shape_and_are_still_caught(
    ca: TestCA, creds: dict[str, Credential], good: bytes
) -> None:
    assert _verdict(ca, good)[0] is True
    root = etree.fromstring(good)
    _flip_b64(_one(root, "SignatureValue"))
    verdict = _verdict(ca, etree.tostring(root))
    assert len(_xmldsig._SHAPES) == 1, "a change of the signature value alone must reuse the shape"
    assert verdict[:2] == (False, VerifyFailure.BAD_SIGNATURE_VALUE)

    tampered = good.replace(SUBJECT.encode(), "V/v khác".encode())
    assert _verdict(ca, tampered)[:2] == (False, VerifyFailure.DIGEST_MISMATCH)
    assert len(_xmldsig._SHAPES) == 1


def test_a_rejected_shape_is_not_remembered(ca: TestCA, creds: dict[str, Credential], good: bytes) -> None:
    root = etree.fromstring(good)
    etree.SubElement(_one(root, "Signature"), f"{D}Object")
    assert _verdict(ca, etree.tostring(root))[:2] == (False, VerifyFailure.WRAPPING)
    assert _xmldsig._SHAPES == {}


def test_the_shape_key_keeps_everything_but_the_two_values(good: bytes) -> None:
    sig = _one(etree.fromstring(good), "Signature")
    key = _xmldsig._shape_key(sig)
    digest = (_one(sig, "DigestValue").text or "").encode()
    value = (_one(sig, "SignatureValue").text or "").encode()
    certificate = (_one(sig, "X509Certificate").text or "").encode()
    assert digest not in key and value[:40] not in key
    assert certificate in key and b"Algorithm=" in key
    assert key == etree.tostring(sig, with_tail=False).replace(digest, b"").replace(value, b"")


def test_the_shape_memory_is_bounded(ca: TestCA, good: bytes) -> None:
    for i in range(_xmldsig._SHAPES_MAX + 5):
        root = etree.fromstring(good)
        _one(root, "KeyInfo").set("Id", f"k{i}")  # a new shape each time, still valid (KeyInfo is not signed)
        assert _verdict(ca, etree.tostring(root))[0] is True
    assert 0 < len(_xmldsig._SHAPES) <= _xmldsig._SHAPES_MAX
