"""``_fastverify._document_digest``: big attachment texts hashed without canonicalising them.

The digest must equal the digest of the plain exclusive C14N in every layout a package can take —
spliced when the stand-in renders like the original, the plain way otherwise — and the caller's tree
must come back byte-identical. Each variant below is signed by the signer (which canonicalises the
plain way), then digested both ways.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable

import pytest
from lxml import etree

from simulator.edxml.xmlsafe import safe_fromstring
from simulator.pki import _fastverify
from simulator.pki._xmldsig import SignatureParts, find_signature, inspect_signature
from simulator.pki.ca import Credential, TestCA
from simulator.pki.dsig import SignaturePolicy, Verifier, VerifyFailure, sign
from tests.pki.samples import NS, document_package

E = f"{{{NS}}}"
BIG = 30_000  # attachment bytes: 40,000 base64 characters


def _cte(root: etree._Element) -> etree._Element:
    found = root.find(f".//{E}ContentTransferEncoded")
    assert found is not None
    return found


def _wrapped(root: etree._Element) -> None:
    el = _cte(root)
    text = el.text or ""
    el.text = "\n".join(text[i : i + 76] for i in range(0, len(text), 76))


def _second_attachment(root: etree._Element) -> None:
    block = root.find(f"{E}AttachmentEncoded")
    assert block is not None
    att = etree.SubElement(block, f"{E}Attachment")
    etree.SubElement(att, f"{E}ContentId").text = "cid:2"
    etree.SubElement(att, f"{E}ContentTransferEncoded").text = base64.b64encode(
        bytes(range(256)) * 40
    ).decode()
    att.tail = "\n"


def _prefixed(root: etree._Element) -> None:
    """The leaf in the edXML namespace under a prefix its parent does not use."""
    el = _cte(root)
    parent = el.getparent()
    assert parent is not None
    twin = etree.SubElement(parent, f"{E}ContentTransferEncoded", nsmap={"x": NS})
    twin.text, twin.tail = el.text, el.tail
    parent.replace(el, twin)


def _with_attribute(root: etree._Element) -> None:
    _cte(root).set("encoding", "base64")


def _with_comment(root: etree._Element) -> None:
    _cte(root).append(etree.Comment("c"))


def _with_escaped(char: str) -> Callable[[etree._Element], None]:
    def edit(root: etree._Element) -> None:
        el = _cte(root)
        text = el.text or ""
        el.text = text[:100] + char + text[100:]

    return edit


def _vietnamese(root: etree._Element) -> None:
    _cte(root).text = "Văn bản điện tử liên thông " * 200


def _tail_text(root: etree._Element) -> None:
    _cte(root).tail = "\n      text after the attachment  "


VARIANTS: dict[str, Callable[[etree._Element], None]] = {
    "as built": lambda root: None,
    "base64 wrapped at 76": _wrapped,
    "two attachments": _second_attachment,
    "other prefix": _prefixed,
    "attribute on the leaf": _with_attribute,
    "comment in the leaf": _with_comment,
    "ampersand in the text": _with_escaped("&"),
    "less-than in the text": _with_escaped("<"),
    "greater-than in the text": _with_escaped(">"),
    "carriage return in the text": _with_escaped("\r"),
    "non-ASCII text": _vietnamese,
    "text after the leaf": _tail_text,
}


@pytest.fixture(scope="module")
def variants(creds: dict[str, Credential]) -> dict[str, bytes]:
    out = {}
    for name, edit in VARIANTS.items():
        root = etree.fromstring(document_package(BIG))
        edit(root)
        out[name] = sign(etree.tostring(root, xml_declaration=True, encoding="UTF-8"), creds["good-rsa"])
    return out


def _parts(data: bytes) -> tuple[etree._Element, SignatureParts]:
    root = safe_fromstring(data)
    sig = find_signature(root, accept_edxml_namespace=False)
    assert sig is not None
    return root, inspect_signature(root, sig, allow_sha1=False)


@pytest.mark.parametrize("name", list(VARIANTS))
def test_the_spliced_digest_is_the_plain_digest(variants: dict[str, bytes], name: str) -> None:
    root, parts = _parts(variants[name])
    before = etree.tostring(root)
    plain = hashlib.sha256(_fastverify._digested_bytes(root, parts, restore=True)).digest()
    spliced = _fastverify._document_digest(root, parts, restore=True)
    assert spliced == plain == parts.digest_value
    assert etree.tostring(root) == before, "the caller's tree changed"


def test_only_plain_leaves_are_spliced(variants: dict[str, bytes]) -> None:
    expected = {"as built": 1, "base64 wrapped at 76": 1, "two attachments": 2, "other prefix": 1}
    expected |= {"non-ASCII text": 1, "text after the leaf": 1}
    for name in VARIANTS:
        root, parts = _parts(variants[name])
        got = len(_fastverify._spliceable(root, parts))
        assert got == expected.get(name, 0), name


def test_a_stand_in_with_another_prefix_falls_back_to_plain_c14n(
    variants: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, parts = _parts(variants["other prefix"])
    calls: list[bool] = []
    real = _fastverify._digested_bytes

    def counting(*args: object, **kwargs: object) -> bytes:
        calls.append(True)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(_fastverify, "_digested_bytes", counting)
    assert _fastverify._document_digest(root, parts, restore=True) == parts.digest_value
    assert len(calls) == 1, "the prefix check must come before the C14N of the swapped tree"


def _hub_verifier(ca: TestCA) -> Verifier:
    return Verifier(ca.trust_store(), SignaturePolicy(), engine="fast", keep_signed_root=False, in_place=True)


@pytest.mark.parametrize("name", ["as built", "two attachments", "non-ASCII text"])
def test_one_changed_character_in_a_spliced_text_is_caught(
    ca: TestCA, variants: dict[str, bytes], name: str
) -> None:
    root = safe_fromstring(variants[name])
    leaves = list(root.iter(f"{E}ContentTransferEncoded"))
    el = leaves[-1]
    text = el.text or ""
    el.text = text[:500] + ("B" if text[500] != "B" else "C") + text[501:]
    r = _hub_verifier(ca).verify(root)
    assert (r.ok, r.failure) == (False, VerifyFailure.DIGEST_MISMATCH)


def test_a_moved_attachment_is_caught(ca: TestCA, variants: dict[str, bytes]) -> None:
    """The token stands for a text at one place: the same text elsewhere is another document."""
    root = safe_fromstring(variants["two attachments"])
    first, second = root.iter(f"{E}ContentTransferEncoded")
    first.text, second.text = second.text, first.text
    r = _hub_verifier(ca).verify(root)
    assert (r.ok, r.failure) == (False, VerifyFailure.DIGEST_MISMATCH)


def test_the_hub_verifier_accepts_every_variant(ca: TestCA, variants: dict[str, bytes]) -> None:
    for name, data in variants.items():
        root = safe_fromstring(data)
        before = etree.tostring(root)
        r = _hub_verifier(ca).verify(root)
        assert r.ok, (name, r.message)
        assert etree.tostring(root) == before, name
