"""Attachments of an edXML package: wrap a file the official way, unwrap one safely.

The official builder base64-encodes a ZIP archive holding the one file and labels the attachment
``application/zip``, while the manifest reference may name the inner type (``application/pdf``).
Some emitters send the file itself ("plain" form). :func:`unwrap` accepts both and treats every
ZIP as hostile: exactly one regular file, no path traversal, no symlinks, no encryption, a cap on
the uncompressed size (zip bombs) and the CRC checked.

Which form an attachment is in (:func:`detect_form`):

1. ContentType ``application/zip`` (case-insensitive, parameters ignored) → zip;
2. otherwise a payload starting with ``PK\\x03\\x04`` → zip, *unless* the attachment is itself a
   ZIP-based document format (``.docx``, ``.xlsx``, ``.odt`` …, recognised by its ContentType or
   AttachmentName) sent in plain form — such a file starts with the same magic;
3. otherwise → plain.
"""

from __future__ import annotations

import hashlib
import io
import mimetypes
import re
import stat
import zipfile
import zlib
from dataclasses import dataclass
from typing import Literal

from simulator.edxml.model import Attachment, ManifestReference

__all__ = [
    "DEFAULT_MAX_UNCOMPRESSED",
    "ZIP_CONTENT_TYPE",
    "AttachmentError",
    "AttachmentFile",
    "AttachmentForm",
    "detect_form",
    "guess_content_type",
    "make_attachment",
    "unwrap",
    "wrap_zip",
]

AttachmentForm = Literal["zip", "plain"]

ZIP_CONTENT_TYPE = "application/zip"
DEFAULT_MAX_UNCOMPRESSED = 64 * 1024 * 1024  # 64 MiB
_ZIP_MAGIC = b"PK\x03\x04"
_FIXED_DATE = (1980, 1, 1, 0, 0, 0)  # the earliest date ZIP can carry: equal input → equal bytes
_READ_CHUNK = 1024 * 1024
_DRIVE = re.compile(r"^[A-Za-z]:")
_REQ = "EDXML-ATTACH"

# Types Python's built-in table lacks or that differ between systems; /etc/mime.types is never read so
# the guess is the same on every machine.
_EXTRA_TYPES = {
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ".odt": "application/vnd.oasis.opendocument.text",
    ".ods": "application/vnd.oasis.opendocument.spreadsheet",
    ".odp": "application/vnd.oasis.opendocument.presentation",
    ".rar": "application/vnd.rar",
    ".7z": "application/x-7z-compressed",
    ".p7s": "application/pkcs7-signature",
    ".xml": "application/xml",
}
# Document formats that are ZIP archives themselves (plain form starts with PK\x03\x04 too).
_ZIP_BASED_EXT = (".docx", ".docm", ".xlsx", ".xlsm", ".pptx", ".pptm", ".odt", ".ods", ".odp", ".epub")
_ZIP_BASED_TYPES = frozenset(
    [
        _EXTRA_TYPES[".docx"],
        _EXTRA_TYPES[".xlsx"],
        _EXTRA_TYPES[".pptx"],
        _EXTRA_TYPES[".odt"],
        _EXTRA_TYPES[".ods"],
        _EXTRA_TYPES[".odp"],
        "application/epub+zip",
    ]
)
_MIME = mimetypes.MimeTypes()  # built-in table only (no system files): deterministic


class AttachmentError(ValueError):
    """An attachment cannot be wrapped or unwrapped; the message says which one and what to fix."""

    def __init__(self, message: str, *, requirement: str = _REQ, content_id: str | None = None) -> None:
        super().__init__(message)
        self.requirement = requirement
        self.content_id = content_id


@dataclass(frozen=True, slots=True)
class AttachmentFile:
    """The file an attachment carries, after unwrapping."""

    name: str
    data: bytes
    sha256: str  # hex digest of ``data``
    form: AttachmentForm


def guess_content_type(filename: str) -> str:
    """MIME type from the file extension (deterministic table); ``application/octet-stream`` if unknown."""
    lower = filename.lower()
    dot = lower.rfind(".")
    if dot >= 0 and lower[dot:] in _EXTRA_TYPES:
        return _EXTRA_TYPES[lower[dot:]]
    guessed, _encoding = _MIME.guess_type(filename, strict=False)
    return guessed or "application/octet-stream"


def _check_member_name(name: str) -> str | None:
    """Why ``name`` is not a safe relative file name inside an archive, or None if it is."""
    if not name:
        return "has an entry with an empty name"
    if "\x00" in name:
        return f"has an entry name with a NUL character ({name!r})"
    if "\\" in name:
        return f"has an entry name with a backslash ({name!r}); use a plain file name"
    if name.startswith("/"):
        return f"has an absolute entry path ({name!r}); use a plain file name"
    if _DRIVE.match(name):
        return f"has an entry path with a drive letter ({name!r}); use a plain file name"
    if any(part == ".." for part in name.split("/")):
        return f"has an entry path that climbs out of the archive ({name!r}); use a plain file name"
    return None


def wrap_zip(filename: str, data: bytes, *, compress: bool = True) -> bytes:
    """A ZIP archive holding exactly ``filename`` with ``data``, as the official builder makes it.

    Deterministic: fixed date, fixed attributes, so equal input gives equal bytes. ``compress=False``
    stores the file (much faster for already-compressed files such as PDF; still a valid ZIP).
    """
    problem = _check_member_name(filename)
    if problem is None and filename.endswith("/"):
        problem = f"names a directory ({filename!r}); use a file name"
    if problem is not None:
        raise AttachmentError(f"cannot wrap {filename!r}: the name {problem.removeprefix('has an ')}")
    info = zipfile.ZipInfo(filename, date_time=_FIXED_DATE)
    info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    info.create_system = 3  # Unix, so the mode bits below mean "regular file, rw-r--r--"
    info.external_attr = (stat.S_IFREG | 0o644) << 16
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(info, data, compresslevel=6 if compress else None)
    return buf.getvalue()


def make_attachment(
    index: int,
    filename: str,
    data: bytes,
    *,
    description: str | None = None,
    inner_content_type: str | None = None,
    form: AttachmentForm = "zip",
    compress: bool = True,
) -> tuple[ManifestReference, Attachment]:
    """The manifest reference and the attachment for one file, content id ``cid:<index>``.

    Zip form (the official one): the attachment is labelled ``application/zip`` and carries a ZIP of
    the file; the manifest reference names the inner type (``inner_content_type`` or a guess from
    the extension). Plain form: both carry the inner type and the payload is the file itself.
    """
    if index < 0:
        raise ValueError(f"attachment index must be 0 or more, got {index}")
    if form not in ("zip", "plain"):
        raise ValueError(f"attachment form must be 'zip' or 'plain', got {form!r}")
    content_id = f"cid:{index}"
    inner = inner_content_type or guess_content_type(filename)
    reference = ManifestReference(
        content_id=content_id, attachment_name=filename, content_type=inner, description=description
    )
    if form == "zip":
        payload = wrap_zip(filename, data, compress=compress)
        content_type = ZIP_CONTENT_TYPE
    else:
        payload, content_type = data, inner
    attachment = Attachment(
        content_id=content_id,
        attachment_name=filename,
        payload=payload,
        content_type=content_type,
        description=description,
    )
    return reference, attachment


def _is_zip_type(content_type: str | None) -> bool:
    if not content_type:
        return False
    return content_type.split(";", 1)[0].strip().lower() == ZIP_CONTENT_TYPE


def _is_zip_based_document(attachment: Attachment) -> bool:
    ctype = (attachment.content_type or "").split(";", 1)[0].strip().lower()
    if ctype in _ZIP_BASED_TYPES:
        return True
    return attachment.attachment_name.lower().endswith(_ZIP_BASED_EXT)


def detect_form(attachment: Attachment) -> AttachmentForm:
    """Zip or plain, by the rule in the module docstring."""
    if _is_zip_type(attachment.content_type):
        return "zip"
    if attachment.payload.startswith(_ZIP_MAGIC) and not _is_zip_based_document(attachment):
        return "zip"
    return "plain"


def _label(attachment: Attachment) -> str:
    cid = attachment.content_id or "(no ContentId)"
    if attachment.attachment_name:
        return f"attachment {cid} ({attachment.attachment_name!r})"
    return f"attachment {cid}"


def _mode_problem(info: zipfile.ZipInfo) -> str | None:
    if info.flag_bits & 0x1:
        return f"entry {info.filename!r} is encrypted; send it unencrypted"
    if info.create_system == 3:  # Unix: the high 16 bits are st_mode
        mode = info.external_attr >> 16
        kind = stat.S_IFMT(mode)
        if kind == stat.S_IFLNK:
            return f"entry {info.filename!r} is a symbolic link; only regular files are allowed"
        if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
            return f"entry {info.filename!r} is not a regular file (mode {oct(mode)})"
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        return (
            f"entry {info.filename!r} uses compression method {info.compress_type}; "
            "only stored (0) and deflate (8) are accepted"
        )
    return None


def _read_capped(zf: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int, label: str) -> bytes:
    out = bytearray()
    with zf.open(info) as member:
        while True:
            chunk = member.read(_READ_CHUNK)
            if not chunk:
                break
            out += chunk
            if len(out) > cap:
                raise AttachmentError(
                    f"{label}: the ZIP entry {info.filename!r} expands beyond {cap:,} bytes "
                    "(zip bomb or a file too large to accept)",
                )
    return bytes(out)


def _unzip(attachment: Attachment, max_uncompressed: int) -> tuple[str, bytes]:
    label = _label(attachment)
    cid = attachment.content_id

    def fail(what: str) -> AttachmentError:
        return AttachmentError(f"{label}: {what}", content_id=cid)

    try:
        zf = zipfile.ZipFile(io.BytesIO(attachment.payload))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, OSError) as exc:
        raise fail(
            f"labelled or shaped as a ZIP archive but cannot be opened ({exc}); "
            "send a valid ZIP holding one file, or the file itself with its own content type"
        ) from None
    with zf:
        infos = zf.infolist()
        files = [i for i in infos if not i.is_dir()]
        for info in infos:
            problem = _check_member_name(info.filename)
            if problem is not None:
                raise fail(f"the ZIP archive {problem}")
        if len(files) != 1:
            names = ", ".join(repr(i.filename) for i in files[:5]) or "none"
            raise fail(
                f"the ZIP archive holds {len(files)} files ({names}); the official form holds "
                "exactly one — send one file per attachment"
            )
        info = files[0]
        problem = _mode_problem(info)
        if problem is not None:
            raise fail(f"the ZIP archive's {problem}")
        if info.file_size > max_uncompressed:
            raise fail(
                f"the ZIP entry {info.filename!r} declares {info.file_size:,} bytes uncompressed, "
                f"above the limit of {max_uncompressed:,} bytes"
            )
        try:
            data = _read_capped(zf, info, max_uncompressed, label)
        except AttachmentError as exc:
            exc.content_id = cid
            raise
        except (zipfile.BadZipFile, zlib.error, ValueError, EOFError, OSError, NotImplementedError) as exc:
            # BadZipFile: CRC mismatch or local/central header disagreement; zlib.error: broken deflate.
            raise fail(f"the ZIP entry {info.filename!r} is corrupt ({exc})") from None
    return info.filename, data


def unwrap(attachment: Attachment, *, max_uncompressed: int = DEFAULT_MAX_UNCOMPRESSED) -> AttachmentFile:
    """The file an attachment carries; raise :class:`AttachmentError` if it cannot be taken safely."""
    form = detect_form(attachment)
    if form == "zip":
        name, data = _unzip(attachment, max_uncompressed)
    else:
        if len(attachment.payload) > max_uncompressed:
            raise AttachmentError(
                f"{_label(attachment)}: the file is {len(attachment.payload):,} bytes, above the limit "
                f"of {max_uncompressed:,} bytes",
                content_id=attachment.content_id,
            )
        name, data = attachment.attachment_name, attachment.payload
    return AttachmentFile(name=name, data=data, sha256=hashlib.sha256(data).hexdigest(), form=form)
