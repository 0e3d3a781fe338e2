"""The one hardened XML parser every part of lienthong uses.

No DTD loading or validation, no entity expansion, no network, no huge-tree mode, comments kept
(they are part of the signed C14N input only if present; exclusive C14N without comments drops
them). Documents that declare a DOCTYPE are refused outright: edXML never needs one, and refusing
is the only safe answer to entity bombs and XXE.
"""

from __future__ import annotations

from lxml import etree

__all__ = ["DEFAULT_MAX_BYTES", "UnsafeXmlError", "safe_fromstring", "strip_leading_junk"]

DEFAULT_MAX_BYTES = 64 * 1024 * 1024  # 64 MiB: above the largest real package (attachments in base64)


class UnsafeXmlError(ValueError):
    """The input is not acceptable XML: too large, malformed, or declares a DTD/entities."""

    def __init__(self, message: str, *, kind: str) -> None:
        super().__init__(message)
        self.kind = kind  # "size" | "malformed" | "doctype" | "empty"


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_blank_text=False,
        collect_ids=False,
    )


def strip_leading_junk(data: bytes) -> tuple[bytes, int]:
    """Drop stray bytes before ``<?xml`` or the first ``<`` (seen in the wild: 4 bytes).

    Returns the cleaned bytes and how many bytes were dropped. A UTF-8 BOM is not junk.
    """
    if data.startswith(b"\xef\xbb\xbf"):
        return data, 0
    idx = data.find(b"<?xml")
    if idx < 0:
        idx = data.find(b"<")
    if idx <= 0:
        return data, 0
    return data[idx:], idx


def safe_fromstring(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> etree._Element:
    """Parse ``data`` safely or raise :class:`UnsafeXmlError` naming the problem."""
    if not data or not data.strip():
        raise UnsafeXmlError("the file is empty: expected an edXML document", kind="empty")
    if len(data) > max_bytes:
        raise UnsafeXmlError(
            f"the file is {len(data):,} bytes, above the limit of {max_bytes:,} bytes", kind="size"
        )
    head = data[:4096].lower()
    if b"<!doctype" in head or b"<!entity" in head:
        raise UnsafeXmlError(
            "the file declares a DOCTYPE or entities; edXML needs neither and they are refused "
            "(entity expansion and external entities are an attack vector)",
            kind="doctype",
        )
    try:
        root = etree.fromstring(data, parser=_parser())
    except etree.XMLSyntaxError as exc:
        raise UnsafeXmlError(f"the file is not well-formed XML: {exc}", kind="malformed") from None
    if getattr(root.getroottree().docinfo, "doctype", ""):
        raise UnsafeXmlError("the file declares a DOCTYPE; refused", kind="doctype")
    return root
