"""How the official client SDK 2.0.1 signs a hub call (spec/vxp-protocol.md §2). Pure functions.

No HTTP library here on purpose: the Locust load tests import this module to sign requests with
their own HTTP client. ``simulator.agency.client`` builds on it.

The signed map
--------------
For every call the SDK puts into one ``java.util.HashMap<String, String>``, in this order:
``timestamp``, ``systemid``, each key of the caller's parameters, ``Content-Type`` and, for sendEdoc,
``hash-file``. It then walks the map in the map's own iteration order and sends

* ``XroadVnpt-<k>: <v>`` for every entry, plus the plain ``Content-Type`` header;
* ``XroadVnpt-sign-header-key``: the keys joined by ``;``;
* ``XroadVnpt-sign-header``: compact JSON ``{"XroadVnpt-k":"v",...}`` in the same order;
* ``XroadVnpt-hash-header``: lowercase hex HMAC-SHA256(key = secret as UTF-8, msg = sign-header as UTF-8);
* unsigned ``User-Agent`` and ``XroadVnpt-version``.

Order (``order="java"``, the default) is the iteration order of a Java 8+ ``HashMap`` into which the
**unprefixed** keys were put in the order above. This reproduces the spec's worked example exactly
(``systemid, servicetype, messagetype, timestamp, Content-Type``); the same emulation over the
``XroadVnpt-``-prefixed keys never does (it always puts ``XroadVnpt-Content-Type`` first). The
emulation was checked against a real ``java.util.HashMap`` (OpenJDK 17); see tests/agency/test_signing.py.

Non-ASCII values
----------------
The sign-header JSON keeps non-ASCII characters as they are (no ``\\uXXXX`` escapes, like the common
Java JSON writers), and the HMAC is over its UTF-8 bytes. What goes on the wire is the HTTP layer's
business: header values should be ASCII (VXP-ASCII). ``non_ascii_values`` lists offending headers
and ``sdk_wire_bytes`` reproduces the SDK's one-byte truncation (the case where the hub's HMAC fails).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Literal

from simulator.edxml.vntime import to_vn

__all__ = [
    "HEADER_PREFIX",
    "RESERVED_KEYS",
    "SDK_USER_AGENT",
    "SDK_VERSION",
    "check_param_names",
    "hash_file",
    "hmac_hex",
    "java_hashmap_order",
    "java_string_hash",
    "non_ascii_values",
    "sdk_timestamp",
    "sdk_wire_bytes",
    "sign_headers",
    "sign_map",
]

HEADER_PREFIX = "XroadVnpt-"
SDK_USER_AGENT = "JAVASDKAgent/1.0.0 XRoad/VPCP"
SDK_VERSION = "3.0.201608"
# Keys the signer itself puts into the map (or sends beside it); a caller parameter must not use them.
RESERVED_KEYS = frozenset(
    {
        "timestamp",
        "systemid",
        "content-type",
        "hash-file",
        "sign-header",
        "sign-header-key",
        "hash-header",
        "version",
    }
)

# java.util.HashMap constants (OpenJDK 8 through 21).
_INITIAL_CAPACITY = 16
_LOAD_FACTOR = 0.75
_TREEIFY_THRESHOLD = 8
_MIN_TREEIFY_CAPACITY = 64


def sdk_timestamp(when: datetime) -> str:
    """``ddMMyyyy'T'HHmmss+SSSS`` in Vietnam local time; ``+`` is literal, SSSS = milliseconds, 4 digits.

    Naive datetimes are taken as Vietnam local time; aware ones are converted.
    """
    t = to_vn(when)
    return f"{t:%d%m%Y}T{t:%H%M%S}+{t.microsecond // 1000:04d}"


def hash_file(data: bytes) -> str:
    """SHA-256 of the package bytes (without the trailing CRLF) in the SDK's unpadded hex (55–64 chars).

    Each digest byte is written as lowercase hex without zero padding, so ``0x0a`` becomes ``a``.
    """
    return "".join(format(b, "x") for b in hashlib.sha256(data).digest())


def hmac_hex(secret: str, message: str) -> str:
    """Lowercase hex HMAC-SHA256 with the secret's UTF-8 bytes as key (not base64-decoded)."""
    return hmac.new(secret.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).hexdigest()


def java_string_hash(s: str) -> int:
    """``java.lang.String.hashCode()``: signed 32-bit, over UTF-16 code units."""
    units = s.encode("utf-16-be")
    h = 0
    for i in range(0, len(units), 2):
        h = (31 * h + ((units[i] << 8) | units[i + 1])) & 0xFFFFFFFF
    return h - (1 << 32) if h & 0x80000000 else h


def _spread(h: int) -> int:
    """``HashMap.hash``: ``h ^ (h >>> 16)`` on the unsigned 32-bit value."""
    u = h & 0xFFFFFFFF
    return u ^ (u >> 16)


def _resize(table: list[list[tuple[int, str]]]) -> list[list[tuple[int, str]]]:
    """Double the table; each bucket splits into lo (same index) and hi (index + old capacity), order kept."""
    old_cap = len(table)
    new: list[list[tuple[int, str]]] = [[] for _ in range(old_cap * 2)]
    for j, bucket in enumerate(table):
        for node in bucket:
            new[j + old_cap if node[0] & old_cap else j].append(node)
    return new


def java_hashmap_order(keys: Sequence[str]) -> list[str]:
    """Iteration order of a ``java.util.HashMap<String, String>`` after ``put`` of ``keys`` in this order.

    Emulates OpenJDK 8+: default capacity 16 and load factor 0.75 (resize when size exceeds 3/4 of
    the capacity), ``hash = h ^ (h >>> 16)``, bucket = ``hash & (n - 1)``, new keys appended to their
    bucket, order-preserving lo/hi split on resize, and the resize a bucket of 9 triggers while the
    table is smaller than 64. A repeated key keeps its first position (``put`` on an existing key only
    replaces the value). Treeification (a bucket of 9 in a table of 64 or more) needs dozens of keys
    or deliberately colliding ones, which no hub call has; it raises ``ValueError`` rather than guess.
    """
    table: list[list[tuple[int, str]]] = [[] for _ in range(_INITIAL_CAPACITY)]
    threshold = int(_INITIAL_CAPACITY * _LOAD_FACTOR)
    size = 0
    for key in keys:
        h = _spread(java_string_hash(key))
        bucket = table[h & (len(table) - 1)]
        if any(k == key for _, k in bucket):
            continue
        bucket.append((h, key))
        if len(bucket) > _TREEIFY_THRESHOLD:  # putVal: binCount >= TREEIFY_THRESHOLD - 1 -> treeifyBin
            if len(table) >= _MIN_TREEIFY_CAPACITY:
                raise ValueError(
                    f"java_hashmap_order: {len(bucket)} keys share one bucket of a {len(table)}-slot table; "
                    "Java would turn it into a tree, whose order this emulation does not model"
                )
            table = _resize(table)
            threshold *= 2
        size += 1
        if size > threshold:
            table = _resize(table)
            threshold *= 2
    return [k for bucket in table for _, k in bucket]


def sign_map(
    entries: Mapping[str, str], *, secret: str, order: Literal["java", "insertion"] = "java"
) -> dict[str, str]:
    """Sign a complete map (keys unprefixed, in insertion order) and return every header to send.

    ``entries`` must already hold ``timestamp``, ``systemid`` and ``Content-Type``; this is the low
    level used by :func:`sign_headers` and by the client's SDK-quirks mode, whose map outlives a call.
    """
    for required in ("timestamp", "systemid", "Content-Type"):
        if required not in entries:
            raise ValueError(f"sign_map: the signed map has no {required!r} entry (VXP-AUTH); add it")
    for key, value in entries.items():
        if not isinstance(value, str):
            raise TypeError(
                f"sign_map: the value of {key!r} is {type(value).__name__}; every signed value is text "
                "(VXP-AUTH)"
            )
    keys = java_hashmap_order(list(entries)) if order == "java" else list(entries)
    signed = {f"{HEADER_PREFIX}{k}": entries[k] for k in keys}
    sign_header = json.dumps(signed, separators=(",", ":"), ensure_ascii=False)
    headers: dict[str, str] = {"Content-Type": entries["Content-Type"]}
    headers.update(signed)
    headers[f"{HEADER_PREFIX}sign-header-key"] = ";".join(keys)
    headers[f"{HEADER_PREFIX}sign-header"] = sign_header
    headers[f"{HEADER_PREFIX}hash-header"] = hmac_hex(secret, sign_header)
    headers["User-Agent"] = SDK_USER_AGENT
    headers[f"{HEADER_PREFIX}version"] = SDK_VERSION
    return headers


def check_param_names(params: Iterable[str]) -> None:
    """Refuse caller keys the signer owns (``RESERVED_KEYS``, any case) or that cannot be header names."""
    for key in params:
        if key.lower() in RESERVED_KEYS:
            raise ValueError(
                f"parameter {key!r} is set by the signer itself (VXP-AUTH); remove it from the call's "
                "parameters (the timestamp, Content-Type and hash-file are arguments of their own)"
            )
        if not key or not key.isascii() or any(not (c.isalnum() or c in "-_.") for c in key):
            raise ValueError(
                f"parameter name {key!r} cannot become a header name 'XroadVnpt-<name>' (VXP-AUTH); use "
                "ASCII letters, digits, '-', '_' or '.'"
            )


def sign_headers(
    params: Mapping[str, str],
    *,
    system_id: str,
    secret: str,
    timestamp: str,
    content_type: str = "application/json",
    hash_file: str | None = None,
    order: Literal["java", "insertion"] = "java",
) -> dict[str, str]:
    """All headers of one SDK call: map ``timestamp, systemid, *params, Content-Type[, hash-file]``, signed.

    ``order="java"``: Java HashMap order of the unprefixed keys (what the SDK sends; reproduces the
    spec's worked example). ``order="insertion"``: the map's insertion order, for tests that need a
    second valid order. Caller keys may not be one of the keys the signer owns (``RESERVED_KEYS``,
    compared case-insensitively); pass ``hash_file`` and ``content_type`` as arguments instead.
    """
    check_param_names(params)
    entries: dict[str, str] = {"timestamp": timestamp, "systemid": system_id}
    entries.update(params)
    entries["Content-Type"] = content_type
    if hash_file is not None:
        entries["hash-file"] = hash_file
    return sign_map(entries, secret=secret, order=order)


def non_ascii_values(headers: Mapping[str, str]) -> list[str]:
    """Names of the headers whose value is not pure ASCII (they break the SDK's signature, VXP-ASCII)."""
    return [name for name, value in headers.items() if not value.isascii()]


def sdk_wire_bytes(value: str) -> bytes:
    """The bytes the SDK puts on the wire for a header value when the endpoint names a port.

    Every UTF-16 code unit is truncated to its low byte (``'ệ'`` U+1EC7 becomes ``0xC7``), so the
    hub sees different bytes from those the SDK signed and the HMAC check fails (VXP-ASCII).
    """
    units = value.encode("utf-16-be")
    return bytes(units[i + 1] for i in range(0, len(units), 2))
