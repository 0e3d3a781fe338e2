"""Attachments: deterministic wrapping, form detection, and safe unwrapping of hostile archives."""

from __future__ import annotations

import hashlib
import io
import stat
import zipfile

import pytest

from simulator.edxml.attachments import (
    AttachmentError,
    detect_form,
    guess_content_type,
    make_attachment,
    unwrap,
    wrap_zip,
)
from simulator.edxml.model import Attachment

PDF = b"%PDF-1.4\n" + bytes(range(256)) * 40


def _zip(*entries: tuple[str | zipfile.ZipInfo, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=method) as zf:
        for name, data in entries:
            zf.writestr(name, data)
    return buf.getvalue()


def _att(
    payload: bytes, content_type: str | None = "application/zip", name: str = "vanban.pdf"
) -> Attachment:
    return Attachment(content_id="cid:7", attachment_name=name, payload=payload, content_type=content_type)


# ---------------------------------------------------------------- wrapping


def test_wrap_zip_holds_exactly_the_file_and_is_deterministic() -> None:
    first = wrap_zip("Công văn 7816.pdf", PDF)
    assert first == wrap_zip("Công văn 7816.pdf", PDF)
    with zipfile.ZipFile(io.BytesIO(first)) as zf:
        infos = zf.infolist()
        assert [i.filename for i in infos] == ["Công văn 7816.pdf"]
        assert infos[0].compress_type == zipfile.ZIP_DEFLATED
        assert infos[0].date_time == (1980, 1, 1, 0, 0, 0)
        assert zf.read(infos[0]) == PDF
        assert zf.testzip() is None


def test_wrap_zip_store_mode() -> None:
    with zipfile.ZipFile(io.BytesIO(wrap_zip("a.pdf", PDF, compress=False))) as zf:
        assert zf.infolist()[0].compress_type == zipfile.ZIP_STORED
        assert zf.read("a.pdf") == PDF


@pytest.mark.parametrize("name", ["../evil.pdf", "/etc/passwd", "dir\\a.pdf", "C:a.pdf", "", "dir/"])
def test_wrap_zip_refuses_unsafe_names(name: str) -> None:
    with pytest.raises(AttachmentError):
        wrap_zip(name, b"x")


def test_make_attachment_zip_form() -> None:
    ref, att = make_attachment(3, "QĐ-28.pdf", PDF, description="Quyết định")
    assert (ref.content_id, att.content_id) == ("cid:3", "cid:3")
    assert ref.content_type == "application/pdf"  # the manifest names the inner type
    assert att.content_type == "application/zip"  # the attachment is the ZIP
    assert ref.attachment_name == att.attachment_name == "QĐ-28.pdf"
    assert ref.description == att.description == "Quyết định"
    assert att.payload == wrap_zip("QĐ-28.pdf", PDF)


def test_make_attachment_plain_form_and_explicit_type() -> None:
    ref, att = make_attachment(
        1, "data.bin", b"\x00\x01", form="plain", inner_content_type="application/x-test"
    )
    assert ref.content_type == att.content_type == "application/x-test"
    assert att.payload == b"\x00\x01"


def test_make_attachment_refuses_bad_arguments() -> None:
    with pytest.raises(ValueError, match="index"):
        make_attachment(-1, "a.pdf", b"")
    with pytest.raises(ValueError, match="form"):
        make_attachment(1, "a.pdf", b"", form="rar")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.pdf", "application/pdf"),
        ("A.PDF", "application/pdf"),
        ("a.doc", "application/msword"),
        ("a.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        ("a.zip", "application/zip"),
        ("noextension", "application/octet-stream"),
        ("a.unknownext", "application/octet-stream"),
    ],
)
def test_guess_content_type(name: str, expected: str) -> None:
    assert guess_content_type(name) == expected


# ---------------------------------------------------------------- form detection


@pytest.mark.parametrize(
    ("payload", "ctype", "name", "form"),
    [
        (b"anything", "Application/ZIP", "a.pdf", "zip"),
        (b"anything", "application/zip; charset=binary", "a.pdf", "zip"),
        (b"PK\x03\x04rest", "application/pdf", "a.pdf", "zip"),  # mislabelled but shaped as a ZIP
        (b"PK\x03\x04rest", None, "a.pdf", "zip"),
        (b"PK\x03\x04rest", None, "phu-luc.docx", "plain"),  # a .docx sent as itself
        (b"PK\x03\x04rest", "application/vnd.oasis.opendocument.text", "x", "plain"),
        (b"%PDF-1.4", "application/pdf", "a.pdf", "plain"),
        (b"", None, "", "plain"),
    ],
)
def test_detect_form(payload: bytes, ctype: str | None, name: str, form: str) -> None:
    assert detect_form(_att(payload, ctype, name)) == form


# ---------------------------------------------------------------- unwrapping


def test_unwrap_zip_form() -> None:
    _ref, att = make_attachment(1, "vanban.pdf", PDF)
    got = unwrap(att)
    assert (got.name, got.data, got.form) == ("vanban.pdf", PDF, "zip")
    assert got.sha256 == hashlib.sha256(PDF).hexdigest()


def test_unwrap_plain_form() -> None:
    got = unwrap(_att(PDF, "application/pdf"))
    assert (got.name, got.data, got.form) == ("vanban.pdf", PDF, "plain")
    assert got.sha256 == hashlib.sha256(PDF).hexdigest()


def test_unwrap_accepts_a_file_in_a_subfolder_and_skips_directory_entries() -> None:
    got = unwrap(_att(_zip(("docs/", b""), ("docs/a.pdf", PDF))))
    assert (got.name, got.data) == ("docs/a.pdf", PDF)


def test_unwrap_accepts_a_stored_entry() -> None:
    assert unwrap(_att(_zip(("a.pdf", PDF), method=zipfile.ZIP_STORED))).data == PDF


def _symlink() -> zipfile.ZipInfo:
    info = zipfile.ZipInfo("link.pdf")
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


def _encrypted() -> bytes:
    """A stored entry whose headers set the "encrypted" flag (zipfile cannot write one itself)."""
    data = bytearray(_zip(("secret.pdf", PDF), method=zipfile.ZIP_STORED))
    central = data.index(b"PK\x01\x02")
    data[6] |= 0x1  # general purpose flags of the local header
    data[central + 8] |= 0x1  # … and of the central directory entry
    return bytes(data)


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        (_zip(("a.pdf", PDF), ("b.pdf", PDF)), "holds 2 files ('a.pdf', 'b.pdf')"),
        (_zip(), "holds 0 files"),
        (_zip(("../evil.pdf", PDF)), "climbs out"),
        (_zip(("ok.pdf", PDF), ("../../etc/cron.d/x", b"")), "climbs out"),
        (_zip(("/etc/passwd", PDF)), "absolute"),
        (_zip(("a\\..\\evil.pdf", PDF)), "backslash"),
        (_zip(("C:/evil.pdf", PDF)), "drive letter"),
        (_zip((_symlink(), b"/etc/passwd")), "symbolic link"),
        (_encrypted(), "encrypted"),
        (_zip(("a.pdf", PDF), method=zipfile.ZIP_BZIP2), "compression method 12"),
        (b"this is not a zip", "cannot be opened"),
        (b"PK\x03\x04" + b"\x00" * 40, "cannot be opened"),
    ],
)
def test_unwrap_refuses_hostile_archives(payload: bytes, fragment: str) -> None:
    with pytest.raises(AttachmentError) as info:
        unwrap(_att(payload))
    message = str(info.value)
    assert message.startswith("attachment cid:7 ('vanban.pdf'): ")
    assert fragment in message
    assert info.value.requirement == "EDXML-ATTACH"
    assert info.value.content_id == "cid:7"


def test_zip_bomb_is_refused_by_its_declared_size() -> None:
    bomb = _zip(("bomb.pdf", b"\x00" * (4 * 1024 * 1024)))
    assert len(bomb) < 10_000  # the archive itself is tiny
    with pytest.raises(AttachmentError, match="above the limit of 1,048,576 bytes"):
        unwrap(_att(bomb), max_uncompressed=1024 * 1024)


def test_zip_bomb_with_a_lying_header_is_refused() -> None:
    """The entry claims 100 bytes but inflates to 4 MiB: reading stops at the claim and the CRC fails."""
    data = b"\x00" * (4 * 1024 * 1024)
    bomb = bytearray(_zip(("bomb.pdf", data)))
    size = len(data).to_bytes(4, "little")
    assert bomb.count(size) == 2  # local header and central directory
    bomb = bomb.replace(size, (100).to_bytes(4, "little"))
    with pytest.raises(AttachmentError, match="corrupt"):
        unwrap(_att(bytes(bomb)), max_uncompressed=1024 * 1024)


def test_crc_mismatch_is_refused() -> None:
    good = _zip(("a.pdf", PDF), method=zipfile.ZIP_STORED)
    start = good.index(PDF)
    bad = good[:start] + b"X" + good[start + 1 :]
    with pytest.raises(AttachmentError, match=r"corrupt.*CRC"):
        unwrap(_att(bad))


def test_plain_file_over_the_cap_is_refused() -> None:
    with pytest.raises(AttachmentError, match="above the limit of 100 bytes"):
        unwrap(_att(PDF, "application/pdf"), max_uncompressed=100)
