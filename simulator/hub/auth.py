"""Server side of the SDK's HMAC authentication (spec/vxp-protocol.md §2; VXP-AUTH, VXP-ASCII, VXP-REPLAY).

Checks, in this order, on the raw ASGI header list:

1. ``XroadVnpt-systemid``, ``XroadVnpt-sign-header`` and ``XroadVnpt-hash-header`` are present, once each.
2. Every ``XroadVnpt-*`` value is printable ASCII (VXP-ASCII): with an explicit port in the endpoint URL
   the official SDK truncates each non-ASCII character to one byte on the wire, and then its own HMAC
   cannot match; the error says so instead of a puzzling HMAC mismatch.
3. The system id names a configured system; its secret is looked up in a dict built once.
4. HMAC-SHA256 (key = the secret's UTF-8 bytes, message = the **received** sign-header bytes, never a
   rebuilt JSON: the SDK's key order is its hash map's) as lowercase hex, compared with
   :func:`hmac.compare_digest`.
5. The sign-header parses as a JSON object of strings; its ``XroadVnpt-systemid`` equals the header.
6. Every ``XroadVnpt-<k>`` header on the request (except the unsigned ``sign-header``,
   ``sign-header-key``, ``hash-header`` and ``version``) appears in the signed map and equals its signed
   value; key names match case-insensitively. So no unsigned parameter can be slipped in.

The operation parameters are the signed map with the ``XroadVnpt-`` prefix removed, looked up
case-insensitively (``docId`` and ``docid`` both occur); keys an operation does not use are ignored
(the SDK carries stale keys from earlier calls). Stale timestamps are accepted by default (the SDK
computes its timestamp once per client object); with ``replay_window_s`` set, a timestamp outside the
window and a sign-header seen before are reported as VXP-REPLAY findings, never refused. The replay
memory is per process (bounded); a hub with several workers catches a replay only when it reaches the
same worker — good enough for a finding, which is what the policy asks for.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from simulator.edxml.diagnostics import Diagnostic, Severity
from simulator.edxml.vntime import VN_TZ
from simulator.hub.envelope import ErrorCode, HubError

__all__ = [
    "PREFIX",
    "UNSIGNED_KEYS",
    "AuthResult",
    "Authenticator",
    "Params",
    "compute_hash_header",
    "header_map",
    "parse_sdk_timestamp",
]

PREFIX = "xroadvnpt-"
UNSIGNED_KEYS = frozenset({"sign-header", "sign-header-key", "hash-header", "version"})
_REQUIRED = ("systemid", "sign-header", "hash-header")
_TIMESTAMP = re.compile(r"^(\d{2})(\d{2})(\d{4})T(\d{2})(\d{2})(\d{2})\+(\d{1,4})$")
_REPLAY_MEMORY = 100_000


def compute_hash_header(secret: str, sign_header: bytes) -> str:
    """Lowercase hex HMAC-SHA256 of the sign-header bytes with the secret's UTF-8 bytes as key."""
    return hmac.new(secret.encode("utf-8"), sign_header, hashlib.sha256).hexdigest()


def parse_sdk_timestamp(text: str) -> dt.datetime | None:
    """``ddMMyyyy'T'HHmmss+SSSS`` (Vietnam local time, SSSS = milliseconds) → aware datetime, or None."""
    m = _TIMESTAMP.match(text.strip())
    if not m:
        return None
    d, mo, y, h, mi, s, ms = (int(g) for g in m.groups())
    try:
        return dt.datetime(y, mo, d, h, mi, s, min(ms, 999) * 1000, tzinfo=VN_TZ)
    except ValueError:
        return None


class Params(Mapping[str, str]):
    """Operation parameters: the signed map without the prefix, keys case-insensitive."""

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, str] | None = None) -> None:
        self._data: dict[str, str] = {k.lower(): v for k, v in (data or {}).items()}

    def __getitem__(self, key: str) -> str:
        return self._data[key.lower()]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._data

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def get_str(self, key: str) -> str | None:
        """The value, stripped; None when absent or blank."""
        value = self._data.get(key.lower())
        if value is None:
            return None
        value = value.strip()
        return value or None

    def __repr__(self) -> str:
        return f"Params({self._data!r})"


@dataclass(frozen=True, slots=True)
class AuthResult:
    system_id: str
    params: Params
    sign_header: str
    findings: list[Diagnostic] = field(default_factory=list)


def header_map(raw_headers: Sequence[tuple[bytes, bytes]]) -> dict[str, list[bytes]]:
    """``XroadVnpt-*`` headers of an ASGI request: lowercase key without prefix → raw values."""
    out: dict[str, list[bytes]] = {}
    for name, value in raw_headers:
        lname = name.decode("latin-1").lower()
        if lname.startswith(PREFIX):
            out.setdefault(lname[len(PREFIX) :], []).append(value)
    return out


def _auth_error(code: ErrorCode, message: str) -> HubError:
    return HubError(code, "VXP-AUTH", message)


def _finding(path: str, message: str, requirement: str = "VXP-REPLAY") -> Diagnostic:
    return Diagnostic(Severity.WARNING, path, requirement, message)


_NOT_PRINTABLE_ASCII = re.compile(rb"[^\x20-\x7e\t]")


def _printable_ascii(value: bytes) -> bool:
    return _NOT_PRINTABLE_ASCII.search(value) is None


class Authenticator:
    """Checks requests against the systems' secrets; one per process, secrets looked up in a dict."""

    def __init__(self, secrets: Mapping[str, str], *, clock: Callable[[], dt.datetime] | None = None) -> None:
        self._secrets = dict(secrets)
        self._clock = clock or (lambda: dt.datetime.now(VN_TZ))
        self._seen: OrderedDict[bytes, None] = OrderedDict()

    def is_anonymous(self, raw_headers: Sequence[tuple[bytes, bytes]]) -> bool:
        """True when the request carries no ``XroadVnpt-`` header at all (the anonymous download)."""
        return not any(name.lower().startswith(b"xroadvnpt-") for name, _ in raw_headers)

    def authenticate(
        self, raw_headers: Sequence[tuple[bytes, bytes]], *, replay_window_s: int | None = None
    ) -> AuthResult:
        """Check the request's authentication headers; HubError (VXP-AUTH / VXP-ASCII) when they fail."""
        headers = header_map(raw_headers)
        missing = [f"XroadVnpt-{k}" for k in _REQUIRED if k not in headers]
        if missing:
            raise _auth_error(
                ErrorCode.AUTH_MISSING,
                f"missing authentication header{'s' if len(missing) > 1 else ''} {', '.join(missing)}: every "
                "call carries XroadVnpt-systemid, XroadVnpt-sign-header and XroadVnpt-hash-header "
                "(the HMAC-SHA256 of the sign-header with the system's secret), as the official SDK sends "
                "them",
            )
        for key, values in headers.items():
            if len(set(values)) > 1:  # the SDK may send docId and docid alike: equal values are fine
                raise _auth_error(
                    ErrorCode.AUTH_UNSIGNED_PARAM,
                    f"header XroadVnpt-{key} appears {len(values)} times with different values (names are "
                    "case-insensitive); send each parameter once",
                )
            if not _printable_ascii(values[0]):
                raise HubError(
                    ErrorCode.AUTH_NON_ASCII,
                    "VXP-ASCII",
                    f"header XroadVnpt-{key} holds non-ASCII bytes: header values must be ASCII. The "
                    "official "
                    "SDK truncates each non-ASCII character to one byte when the endpoint URL names a port, "
                    "and its HMAC then fails; send ASCII values (e.g. transliterate Vietnamese text, leave "
                    "names and descriptions to the package itself)",
                )
        system_id = headers["systemid"][0].decode("ascii")
        secret = self._secrets.get(system_id)
        if secret is None:
            raise _auth_error(
                ErrorCode.AUTH_UNKNOWN_SYSTEM,
                f"unknown system {system_id!r} in XroadVnpt-systemid: no system with this id is configured "
                "on the hub; check the system id the hub printed at start-up",
            )
        sign_header = headers["sign-header"][0]
        expected = compute_hash_header(secret, sign_header)
        given = headers["hash-header"][0].strip().lower()
        if not hmac.compare_digest(expected.encode("ascii"), given):
            raise _auth_error(
                ErrorCode.AUTH_BAD_HMAC,
                "hash-header does not match: the HMAC-SHA256 of XroadVnpt-sign-header with the system's "
                f"secret differs; check the secret for system {system_id} (the key is the secret's UTF-8 "
                "text, not base64-decoded, and the message is the sign-header exactly as sent)",
            )
        signed = self._signed_map(sign_header)
        signed_system = signed.get("systemid")
        if signed_system != system_id:
            raise _auth_error(
                ErrorCode.AUTH_UNSIGNED_PARAM,
                f"the signed XroadVnpt-systemid ({signed_system!r}) differs from the XroadVnpt-systemid "
                "header "
                f"({system_id!r}); sign the same system id you send",
            )
        for key, values in headers.items():
            if key in UNSIGNED_KEYS:
                continue
            if key not in signed:
                raise _auth_error(
                    ErrorCode.AUTH_UNSIGNED_PARAM,
                    f"header XroadVnpt-{key} is not in the signed XroadVnpt-sign-header: every parameter "
                    "header must be signed; add it to the signed map or do not send it",
                )
            if values[0].decode("ascii") != signed[key]:
                raise _auth_error(
                    ErrorCode.AUTH_UNSIGNED_PARAM,
                    f"header XroadVnpt-{key} ({values[0].decode('ascii')!r}) differs from its signed value "
                    f"({signed[key]!r}); send each parameter exactly as signed",
                )
        findings: list[Diagnostic] = []
        if "sign-header-key" not in headers:
            findings.append(
                _finding(
                    "header:XroadVnpt-sign-header-key",
                    "XroadVnpt-sign-header-key is missing; the "
                    "official SDK always sends the signed keys joined by ';'",
                    "VXP-AUTH",
                )
            )
        if replay_window_s is not None:
            findings.extend(self._replay_findings(signed.get("timestamp"), sign_header, replay_window_s))
        return AuthResult(system_id, Params(signed), sign_header.decode("ascii"), findings)

    def _signed_map(self, sign_header: bytes) -> dict[str, str]:
        try:
            data = json.loads(sign_header)
        except ValueError as exc:
            raise _auth_error(
                ErrorCode.AUTH_BAD_SIGN_HEADER,
                f"XroadVnpt-sign-header is not JSON ({exc}); send the compact JSON object "
                '{"XroadVnpt-k":"v",...} that was signed',
            ) from None
        if not isinstance(data, dict):
            raise _auth_error(
                ErrorCode.AUTH_BAD_SIGN_HEADER,
                "XroadVnpt-sign-header is not a JSON object; send the compact JSON object "
                '{"XroadVnpt-k":"v",...} that was signed',
            )
        out: dict[str, str] = {}
        for key, value in data.items():
            if not isinstance(value, str):
                raise _auth_error(
                    ErrorCode.AUTH_BAD_SIGN_HEADER,
                    f"signed value of {key!r} is {type(value).__name__}, not text: every value in "
                    "XroadVnpt-sign-header is a JSON string",
                )
            lkey = key.lower()
            name = lkey[len(PREFIX) :] if lkey.startswith(PREFIX) else lkey
            if name in out and out[name] != value:
                raise _auth_error(
                    ErrorCode.AUTH_BAD_SIGN_HEADER,
                    f"XroadVnpt-sign-header signs {key!r} twice with different values (keys are "
                    "case-insensitive); sign each parameter once",
                )
            out[name] = value
        return out

    def _replay_findings(self, timestamp: str | None, sign_header: bytes, window: int) -> list[Diagnostic]:
        findings: list[Diagnostic] = []
        when = parse_sdk_timestamp(timestamp) if timestamp else None
        if when is None:
            findings.append(
                _finding(
                    "header:XroadVnpt-timestamp",
                    f"the signed timestamp {timestamp!r} is not "
                    "ddMMyyyy'T'HHmmss+SSSS; its freshness cannot be checked",
                )
            )
        else:
            skew = (self._clock() - when).total_seconds()
            if abs(skew) > window:
                findings.append(
                    _finding(
                        "header:XroadVnpt-timestamp",
                        f"the signed timestamp {timestamp} is "
                        f"{abs(skew):.0f} s {'old' if skew > 0 else 'in the future'}, outside the replay "
                        f"window of {window} s (the official SDK computes it once per client object)",
                    )
                )
        digest = hashlib.sha256(sign_header).digest()
        if digest in self._seen:
            self._seen.move_to_end(digest)
            findings.append(
                _finding(
                    "header:XroadVnpt-sign-header",
                    "this exact signed header was seen before (a replay, "
                    "or an SDK client reusing its timestamp and parameters)",
                )
            )
        else:
            self._seen[digest] = None
            if len(self._seen) > _REPLAY_MEMORY:
                self._seen.popitem(last=False)
        return findings
