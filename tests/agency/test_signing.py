"""The SDK's request signing (spec/vxp-protocol.md §2), checked against the spec and against real Java."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.agency.signing import (
    RESERVED_KEYS,
    SDK_USER_AGENT,
    SDK_VERSION,
    hash_file,
    hmac_hex,
    java_hashmap_order,
    java_string_hash,
    non_ascii_values,
    sdk_timestamp,
    sdk_wire_bytes,
    sign_headers,
    sign_map,
)
from simulator.edxml.vntime import VN_TZ

# The spec's worked example (made-up secret).
SECRET = "SimSecret-NOT-REAL-0123456789abcdef"
SPEC_SIGN_HEADER = (
    '{"XroadVnpt-systemid":"sim.test.01","XroadVnpt-servicetype":"eDoc","XroadVnpt-messagetype":"edoc",'
    '"XroadVnpt-timestamp":"23112026T083850+0866","XroadVnpt-Content-Type":"application/json"}'
)
SPEC_HASH_HEADER = "23f2cb95812b0489226c1a470858756bd147342497393604e65d8f2d3dfc57f9"

# ---------------------------------------------------------------- worked example


def test_hmac_of_the_spec_sign_header_is_the_spec_hash_header() -> None:
    assert hmac_hex(SECRET, SPEC_SIGN_HEADER) == SPEC_HASH_HEADER


def test_worked_example_is_reproduced_byte_for_byte() -> None:
    headers = sign_headers(
        {"servicetype": "eDoc", "messagetype": "edoc"},
        system_id="sim.test.01",
        secret=SECRET,
        timestamp="23112026T083850+0866",
    )
    assert headers["XroadVnpt-sign-header"] == SPEC_SIGN_HEADER
    assert headers["XroadVnpt-hash-header"] == SPEC_HASH_HEADER
    assert headers["XroadVnpt-sign-header-key"] == "systemid;servicetype;messagetype;timestamp;Content-Type"
    assert headers["Content-Type"] == "application/json"
    assert headers["XroadVnpt-Content-Type"] == "application/json"
    assert headers["XroadVnpt-timestamp"] == "23112026T083850+0866"
    assert headers["User-Agent"] == SDK_USER_AGENT == "JAVASDKAgent/1.0.0 XRoad/VPCP"
    assert headers["XroadVnpt-version"] == SDK_VERSION == "3.0.201608"
    # version and User-Agent are sent but not signed
    assert "XroadVnpt-version" not in json.loads(headers["XroadVnpt-sign-header"])


def test_insertion_order_is_a_different_but_valid_signature() -> None:
    headers = sign_headers(
        {"servicetype": "eDoc", "messagetype": "edoc"},
        system_id="sim.test.01",
        secret=SECRET,
        timestamp="23112026T083850+0866",
        order="insertion",
    )
    assert headers["XroadVnpt-sign-header-key"] == "timestamp;systemid;servicetype;messagetype;Content-Type"
    assert headers["XroadVnpt-sign-header"] != SPEC_SIGN_HEADER
    assert json.loads(headers["XroadVnpt-sign-header"]) == json.loads(SPEC_SIGN_HEADER)
    assert headers["XroadVnpt-hash-header"] == hmac_hex(SECRET, headers["XroadVnpt-sign-header"])


# ---------------------------------------------------------------- hash-file


def test_hash_file_of_the_fips_abc_vector_drops_zero_padding() -> None:
    # FIPS 180-2 test vector: SHA-256("abc") = ba7816bf 8f01cfea 414140de 5dae2223 b00361a3 96177a9c
    # b410ff61 f20015ad. Bytes 01, 03, 00 are written as 1, 3, 0 (unpadded), so 61 chars instead of 64.
    assert hash_file(b"abc") == "ba7816bf8f1cfea414140de5dae2223b0361a396177a9cb410ff61f2015ad"
    assert len(hash_file(b"abc")) == 61


def test_hash_file_differs_from_padded_hex_exactly_when_a_byte_is_below_0x10() -> None:
    for i in range(200):
        data = f"<edXML>{i}</edXML>".encode()
        digest = hashlib.sha256(data).digest()
        padded = digest.hex()
        # independent derivation: strip the leading zero of every two-digit pair
        expected = "".join(padded[j : j + 2].lstrip("0") or "0" for j in range(0, 64, 2))
        assert hash_file(data) == expected
        assert 55 <= len(hash_file(data)) <= 64
        assert (hash_file(data) == padded) == all(b >= 0x10 for b in digest)


# ---------------------------------------------------------------- timestamp


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        (datetime(2026, 11, 23, 8, 38, 50, 866_000, tzinfo=VN_TZ), "23112026T083850+0866"),
        (datetime(2026, 1, 2, 3, 4, 5, 7_000, tzinfo=VN_TZ), "02012026T030405+0007"),
        (datetime(2026, 1, 2, 3, 4, 5, tzinfo=VN_TZ), "02012026T030405+0000"),
        (
            datetime(2026, 1, 2, 3, 4, 5, 999_999, tzinfo=VN_TZ),
            "02012026T030405+0999",
        ),  # truncated, not rounded
        (datetime(2026, 12, 31, 23, 59, 59, 123_456), "31122026T235959+0123"),  # naive = Vietnam local time
        # 17:00 UTC on 31 Dec is already 1 Jan 00:00 in Vietnam (UTC+7)
        (datetime(2026, 12, 31, 17, 0, 0, 50_000, tzinfo=UTC), "01012027T000000+0050"),
        (datetime(2026, 6, 1, 8, 0, tzinfo=UTC) - timedelta(hours=1), "01062026T140000+0000"),
    ],
)
def test_sdk_timestamp(when: datetime, expected: str) -> None:
    assert sdk_timestamp(when) == expected


# ---------------------------------------------------------------- Java HashMap emulation

# Values printed by OpenJDK 17 (`System.out.println(s.hashCode())`) on this machine.
JAVA_HASH_CODES = {
    "timestamp": 55126294,
    "systemid": 1976086410,
    "Content-Type": 949037134,
    "XroadVnpt-Content-Type": -744367321,
    "AaBB": 2031744,
    "BBAa": 2031744,
    "polygenelubricants": -2147483648,
    "": 0,
    "ệ": 7879,
    "k😀": 1875726,  # a non-BMP character counts as two UTF-16 code units
}


@pytest.mark.parametrize(("text", "expected"), sorted(JAVA_HASH_CODES.items()))
def test_java_string_hash_matches_openjdk(text: str, expected: int) -> None:
    assert java_string_hash(text) == expected


# Orders obtained from a real java.util.HashMap<String, String> (OpenJDK 17.0.15): a throwaway program
# that put() each key in the order given and printed String.join(";", map.keySet()). The same program
# agreed with java_hashmap_order on ~8,700 random key sets (1–60 keys, incl. non-BMP and colliding keys).
CONFIRMED_JAVA_ORDERS = [
    (
        "timestamp;systemid;servicetype;messagetype;Content-Type",
        "systemid;servicetype;messagetype;timestamp;Content-Type",
    ),
    (
        "XroadVnpt-timestamp;XroadVnpt-systemid;XroadVnpt-servicetype;XroadVnpt-messagetype;XroadVnpt-Content-Type",
        "XroadVnpt-Content-Type;XroadVnpt-timestamp;XroadVnpt-servicetype;XroadVnpt-systemid;XroadVnpt-messagetype",
    ),
    (
        "servicetype;messagetype;timestamp;systemid;Content-Type",
        "servicetype;systemid;messagetype;timestamp;Content-Type",
    ),
    (
        "timestamp;systemid;from;servicetype;messagetype;to;Content-Type;hash-file",
        "systemid;servicetype;messagetype;hash-file;from;to;timestamp;Content-Type",
    ),
    (
        "timestamp;systemid;docId;status;description;Content-Type",
        "systemid;docId;description;timestamp;status;Content-Type",
    ),
    (  # 14 keys: the table resizes from 16 to 32 buckets at the 13th
        "timestamp;systemid;from;servicetype;messagetype;to;Content-Type;hash-file;docId;docid;status;"
        "description;level;AgencyCode",
        "systemid;messagetype;level;docId;docid;description;servicetype;hash-file;AgencyCode;from;to;"
        "timestamp;Content-Type;status",
    ),
    (  # 10 keys with one hash code: a bucket of 9 makes a 16-slot table resize (twice, to 64)
        "AaAaAaAa;AaAaAaBB;AaAaBBAa;AaAaBBBB;AaBBAaAa;AaBBAaBB;AaBBBBAa;AaBBBBBB;BBAaAaAa;BBAaAaBB;timestamp",
        "AaAaAaAa;AaAaAaBB;AaAaBBAa;AaAaBBBB;AaBBAaAa;AaBBAaBB;AaBBBBAa;AaBBBBBB;BBAaAaAa;BBAaAaBB;timestamp",
    ),
    ("k😀;ệ;Đờ;a;b", "a;k😀;b;ệ;Đờ"),
]


@pytest.mark.parametrize(("inserted", "java_order"), CONFIRMED_JAVA_ORDERS)
def test_java_hashmap_order_matches_real_java(inserted: str, java_order: str) -> None:
    assert java_hashmap_order(inserted.split(";")) == java_order.split(";")


def test_only_the_unprefixed_keys_reproduce_the_worked_example() -> None:
    spec_order = ["systemid", "servicetype", "messagetype", "timestamp", "Content-Type"]
    hits = 0
    for perm in itertools.permutations(spec_order):
        prefixed = java_hashmap_order([f"XroadVnpt-{k}" for k in perm])
        assert prefixed[0] == "XroadVnpt-Content-Type"  # never the spec's order
        hits += java_hashmap_order(list(perm)) == spec_order
    # systemid/servicetype share a bucket and so do timestamp/Content-Type: the spec order needs
    # systemid before servicetype and timestamp before Content-Type, i.e. a quarter of the 120 orders
    assert hits == 30


def test_a_repeated_put_keeps_the_first_position() -> None:
    assert java_hashmap_order(["timestamp", "systemid", "timestamp"]) == java_hashmap_order(
        ["timestamp", "systemid"]
    )


def test_treeified_buckets_are_refused_not_guessed() -> None:
    colliding = ["".join(p) for p in itertools.product(["Aa", "BB"], repeat=4)]  # 16 keys, one hash code
    assert len({java_string_hash(k) for k in colliding}) == 1
    with pytest.raises(ValueError, match="tree"):
        java_hashmap_order(colliding)


_KEY = st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=12)


@settings(max_examples=150, deadline=None)
@given(st.lists(_KEY, max_size=40))
def test_java_hashmap_order_is_a_deterministic_permutation(keys: list[str]) -> None:
    order = java_hashmap_order(keys)
    assert order == java_hashmap_order(keys)
    assert sorted(order) == sorted(set(keys))
    # Within one bucket of the final table the insertion order is kept: keys with equal spread hash
    # (same bucket whatever the capacity) appear in insertion order.
    first_seen = list(dict.fromkeys(keys))
    by_hash: dict[int, list[str]] = {}
    for k in first_seen:
        by_hash.setdefault(java_string_hash(k), []).append(k)
    for group in by_hash.values():
        assert [k for k in order if k in group] == group


# ---------------------------------------------------------------- sign_headers


def _verify_independently(headers: dict[str, str], secret: str) -> dict[str, str]:
    """What a hub does: HMAC the received sign-header as is; each XroadVnpt- param equals its signed value."""
    sign_header = headers["XroadVnpt-sign-header"]
    expected = hmac.new(secret.encode(), sign_header.encode(), hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["XroadVnpt-hash-header"], expected)
    signed: dict[str, str] = json.loads(sign_header)
    assert list(signed) == [f"XroadVnpt-{k}" for k in headers["XroadVnpt-sign-header-key"].split(";")]
    unsigned = {
        "XroadVnpt-sign-header",
        "XroadVnpt-sign-header-key",
        "XroadVnpt-hash-header",
        "XroadVnpt-version",
    }
    params = {k: v for k, v in headers.items() if k.startswith("XroadVnpt-") and k not in unsigned}
    assert params == signed
    assert headers["Content-Type"] == signed["XroadVnpt-Content-Type"]
    return {k.removeprefix("XroadVnpt-"): v for k, v in signed.items()}


_PARAM_NAME = st.from_regex(r"[A-Za-z][A-Za-z0-9_.\-]{0,15}", fullmatch=True).filter(
    lambda k: k.lower() not in RESERVED_KEYS
)
_ASCII_VALUE = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)


@settings(max_examples=100, deadline=None)
@given(
    params=st.dictionaries(_PARAM_NAME, _ASCII_VALUE, max_size=8),
    secret=st.text(min_size=1, max_size=40),
    file_hash=st.none() | st.just("ba7816bf8f1cfea414140de5dae2223b0361a396177a9cb410ff61f2015ad"),
)
def test_sign_headers_verify_with_an_independent_hmac(
    params: dict[str, str], secret: str, file_hash: str | None
) -> None:
    headers = sign_headers(
        params,
        system_id="000.00.00.H41",
        secret=secret,
        timestamp="01012027T000000+0050",
        content_type="application/octet-stream" if file_hash else "application/json",
        hash_file=file_hash,
    )
    signed = _verify_independently(headers, secret)
    expected = {"timestamp": "01012027T000000+0050", "systemid": "000.00.00.H41", **params}
    expected["Content-Type"] = "application/octet-stream" if file_hash else "application/json"
    if file_hash:
        expected["hash-file"] = file_hash
    assert signed == expected


def test_sign_header_is_compact_json_and_escapes_quotes() -> None:
    headers = sign_headers(
        {"to": '[{"code":"000.00.00.H41"}]'}, system_id="s", secret=SECRET, timestamp="t", order="insertion"
    )
    assert headers["XroadVnpt-sign-header"] == (
        '{"XroadVnpt-timestamp":"t","XroadVnpt-systemid":"s",'
        '"XroadVnpt-to":"[{\\"code\\":\\"000.00.00.H41\\"}]","XroadVnpt-Content-Type":"application/json"}'
    )
    _verify_independently(headers, SECRET)


def test_non_ascii_values_are_signed_as_utf8_and_flagged() -> None:
    headers = sign_headers({"description": "Đã nhận"}, system_id="s", secret=SECRET, timestamp="t")
    assert "Đã nhận" in headers["XroadVnpt-sign-header"]  # raw characters, no \\u escapes
    _verify_independently(headers, SECRET)
    assert set(non_ascii_values(headers)) == {"XroadVnpt-description", "XroadVnpt-sign-header"}
    # The SDK's wire bytes (one byte per UTF-16 unit) no longer match what it signed: U+0110 -> 0x10,
    # U+00E3 -> 0xE3, U+1EAD -> 0xAD.
    assert sdk_wire_bytes("Đã nhận") == b"\x10\xe3 nh\xadn"
    assert sdk_wire_bytes("plain ASCII") == b"plain ASCII"


@pytest.mark.parametrize("key", ["timestamp", "SystemId", "content-type", "hash-file", "sign-header"])
def test_reserved_keys_cannot_be_params(key: str) -> None:
    with pytest.raises(ValueError, match="VXP-AUTH"):
        sign_headers({key: "x"}, system_id="s", secret=SECRET, timestamp="t")


@pytest.mark.parametrize("key", ["", "a b", "a:b", "k;x", "Đ"])
def test_param_names_must_be_header_names(key: str) -> None:
    with pytest.raises(ValueError, match="header name"):
        sign_headers({key: "x"}, system_id="s", secret=SECRET, timestamp="t")


def test_sign_map_requires_the_sdk_entries() -> None:
    with pytest.raises(ValueError, match="timestamp"):
        sign_map({"systemid": "s", "Content-Type": "application/json"}, secret=SECRET)
