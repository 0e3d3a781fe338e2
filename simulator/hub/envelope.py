"""The reply envelope of every VXP call, and the hub's table of error codes (VXP-ENVELOPE).

Every reply body is a JSON object holding ``status`` (``"OK"`` / ``"FAIL"``), ``ErrorCode`` (``"0"`` on
success) and ``ErrorDesc`` (text), plus the operation's own fields. None of the three is ever JSON
``null`` (the official client breaks on it) and optional fields are omitted rather than null.
sendEdoc's reply always carries ``DocId`` (empty string on failure) and an ASCII-only ``ErrorDesc``:
the client reads that reply as US-ASCII, so Vietnamese text is transliterated (``Đơn vị`` → ``Don vi``).

The official client ignores the HTTP status; other clients do not, so each error also has a fitting
HTTP status. Bad input never yields a 5xx: 500 only for a bug in the hub, 503 when the store is
unavailable (busy beyond its timeout, disk full).

Error codes (``ErrorCode``), HTTP status, and the requirement an ``ErrorDesc`` cites:

======================  ====  ==============  ==============================================================
ErrorCode               HTTP  requirement     meaning
======================  ====  ==============  ==============================================================
``0``                   200   –               success
``AUTH_MISSING``        401   VXP-AUTH        a required authentication header is missing
``AUTH_UNKNOWN_SYSTEM`` 401   VXP-AUTH        ``XroadVnpt-systemid`` names no configured system
``AUTH_BAD_HMAC``       401   VXP-AUTH        ``XroadVnpt-hash-header`` is not the HMAC of the sign-header
``AUTH_BAD_SIGN_HEADER`` 401  VXP-AUTH        the sign-header is not a JSON object of strings
``AUTH_UNSIGNED_PARAM`` 401   VXP-AUTH        a parameter header is unsigned or differs from its signed value
``AUTH_NON_ASCII``      400   VXP-ASCII       a header value holds non-ASCII bytes
``ANONYMOUS_REFUSED``   401   VXP-ANON        a download without any authentication header
``BAD_PARAMETER``       400   (varies)        a parameter is missing or malformed
``HASH_MISMATCH``       400   VXP-HASH        ``hash-file`` does not match the uploaded bytes
``TOO_LARGE``           413   VXP-SIZE        the upload exceeds the hub's size limit
``BAD_XML``             400   EDXML-XML       the upload is not acceptable XML (malformed, DTD, empty)
``INVALID_PACKAGE``     400   EDXML-…         the package is not a valid edXML package (per policy)
``BAD_SIGNATURE``       400   QD28-6.1 …      the package signature fails verification (policy enforce)
``SENDER_FORBIDDEN``    403   VXP-ROUTE       the sender agency does not belong to the calling system
``UNKNOWN_RECIPIENT``   400   VXP-ROUTE       a recipient is not in the hub's directory (or none given)
``NOT_FOUND``           404   VXP-ROUTE       no such docId / agency *for this system* (see below)
``DUPLICATE``           409   VXP-DUP         the same package was already accepted (policy refuse)
``STATUS_ORDER``        409   QD28-14.2       an illegal business-status transition (policy refuse)
``CONFLICT``            409   (varies)        the request contradicts stored state (e.g. re-ack after done)
``UNKNOWN_OPERATION``   404   VXP-ENVELOPE    no such operation
``UNAVAILABLE``         503   –               the store is busy or unavailable: retry later
``INTERNAL``            500   –               a bug in the hub (logged); never caused by bad input alone
======================  ====  ==============  ==============================================================

Another system's docId is answered ``NOT_FOUND`` (404), never 403: a 403 would confirm that the id
exists, leaking other agencies' traffic.
"""

from __future__ import annotations

import json
import unicodedata
from enum import StrEnum
from typing import Any

from starlette.responses import Response

from simulator.edxml.diagnostics import Diagnostic

__all__ = [
    "ErrorCode",
    "HubError",
    "ascii_text",
    "envelope",
    "fail_response",
    "json_response",
    "ok_response",
]


class ErrorCode(StrEnum):
    """Values of ``ErrorCode`` in a reply; ``http_status`` is the HTTP status sent with it."""

    OK = "0"
    AUTH_MISSING = "AUTH_MISSING"
    AUTH_UNKNOWN_SYSTEM = "AUTH_UNKNOWN_SYSTEM"
    AUTH_BAD_HMAC = "AUTH_BAD_HMAC"
    AUTH_BAD_SIGN_HEADER = "AUTH_BAD_SIGN_HEADER"
    AUTH_UNSIGNED_PARAM = "AUTH_UNSIGNED_PARAM"
    AUTH_NON_ASCII = "AUTH_NON_ASCII"
    ANONYMOUS_REFUSED = "ANONYMOUS_REFUSED"
    BAD_PARAMETER = "BAD_PARAMETER"
    HASH_MISMATCH = "HASH_MISMATCH"
    TOO_LARGE = "TOO_LARGE"
    BAD_XML = "BAD_XML"
    INVALID_PACKAGE = "INVALID_PACKAGE"
    BAD_SIGNATURE = "BAD_SIGNATURE"
    SENDER_FORBIDDEN = "SENDER_FORBIDDEN"
    UNKNOWN_RECIPIENT = "UNKNOWN_RECIPIENT"
    NOT_FOUND = "NOT_FOUND"
    DUPLICATE = "DUPLICATE"
    STATUS_ORDER = "STATUS_ORDER"
    CONFLICT = "CONFLICT"
    UNKNOWN_OPERATION = "UNKNOWN_OPERATION"
    UNAVAILABLE = "UNAVAILABLE"
    INTERNAL = "INTERNAL"

    @property
    def http_status(self) -> int:
        return _HTTP[self]


_HTTP: dict[ErrorCode, int] = {
    ErrorCode.OK: 200,
    ErrorCode.AUTH_MISSING: 401,
    ErrorCode.AUTH_UNKNOWN_SYSTEM: 401,
    ErrorCode.AUTH_BAD_HMAC: 401,
    ErrorCode.AUTH_BAD_SIGN_HEADER: 401,
    ErrorCode.AUTH_UNSIGNED_PARAM: 401,
    ErrorCode.AUTH_NON_ASCII: 400,
    ErrorCode.ANONYMOUS_REFUSED: 401,
    ErrorCode.BAD_PARAMETER: 400,
    ErrorCode.HASH_MISMATCH: 400,
    ErrorCode.TOO_LARGE: 413,
    ErrorCode.BAD_XML: 400,
    ErrorCode.INVALID_PACKAGE: 400,
    ErrorCode.BAD_SIGNATURE: 400,
    ErrorCode.SENDER_FORBIDDEN: 403,
    ErrorCode.UNKNOWN_RECIPIENT: 400,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.DUPLICATE: 409,
    ErrorCode.STATUS_ORDER: 409,
    ErrorCode.CONFLICT: 409,
    ErrorCode.UNKNOWN_OPERATION: 404,
    ErrorCode.UNAVAILABLE: 503,
    ErrorCode.INTERNAL: 500,
}


class HubError(Exception):
    """A refused request: becomes a FAIL envelope. ``requirement`` is cited first in ``ErrorDesc``."""

    def __init__(
        self,
        code: ErrorCode,
        requirement: str | None,
        message: str,
        *,
        findings: list[Diagnostic] | None = None,
    ) -> None:
        self.code = code
        self.requirement = requirement
        self.message = message
        self.findings: list[Diagnostic] = list(findings or [])  # what the hub noted before refusing
        super().__init__(self.describe())

    @property
    def http_status(self) -> int:
        return self.code.http_status

    def describe(self) -> str:
        """``ErrorDesc``: ``[REQ-ID] what is wrong: why; what to fix``."""
        return f"[{self.requirement}] {self.message}" if self.requirement else self.message


_ASCII_MAP = str.maketrans({"đ": "d", "Đ": "D", "‘": "'", "’": "'", "“": '"', "”": '"', "–": "-", "—": "-"})


def ascii_text(text: str) -> str:
    """Vietnamese (or any) text as ASCII: diacritics dropped, ``đ`` → ``d``, other characters → ``?``."""
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFKD", text.translate(_ASCII_MAP))
    out = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return out.encode("ascii", "replace").decode("ascii")


def envelope(code: ErrorCode = ErrorCode.OK, desc: str = "", /, **fields: Any) -> dict[str, Any]:
    """The reply object: envelope keys first, then the operation fields with ``None`` values omitted."""
    body: dict[str, Any] = {
        "status": "OK" if code is ErrorCode.OK else "FAIL",
        "ErrorCode": code.value,
        "ErrorDesc": desc,
    }
    for key, value in fields.items():
        if value is not None:
            body[key] = value
    return body


def json_response(body: dict[str, Any], status_code: int = 200, *, ascii_only: bool = False) -> Response:
    """Serialise compactly; ``ascii_only`` escapes anything left outside ASCII (sendEdoc)."""
    data = json.dumps(body, ensure_ascii=ascii_only, separators=(",", ":")).encode("utf-8")
    return Response(data, status_code=status_code, media_type="application/json")


def ok_response(*, ascii_only: bool = False, **fields: Any) -> Response:
    return json_response(envelope(ErrorCode.OK, "", **fields), 200, ascii_only=ascii_only)


def fail_response(error: HubError, *, send_edoc: bool = False) -> Response:
    """A FAIL envelope with the error's HTTP status; sendEdoc's form adds ``DocId: ""`` and is ASCII."""
    desc = error.describe()
    if send_edoc:
        return json_response(
            envelope(error.code, ascii_text(desc), DocId=""), error.http_status, ascii_only=True
        )
    return json_response(envelope(error.code, desc), error.http_status)
