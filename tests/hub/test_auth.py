"""Server-side HMAC authentication (VXP-AUTH, VXP-ASCII, VXP-REPLAY) on raw ASGI header lists."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json

import pytest

from simulator.edxml.vntime import VN_TZ
from simulator.hub.auth import Authenticator, compute_hash_header, parse_sdk_timestamp
from simulator.hub.envelope import ErrorCode, HubError
from tests.hub.conftest import SECRET_A, SECRET_B, SYS_A, SYS_B, sdk_headers

SPEC_SIGN_HEADER = (
    '{"XroadVnpt-systemid":"sim.test.01","XroadVnpt-servicetype":"eDoc","XroadVnpt-messagetype":"edoc",'
    '"XroadVnpt-timestamp":"23112026T083850+0866","XroadVnpt-Content-Type":"application/json"}'
)
SPEC_HASH = "23f2cb95812b0489226c1a470858756bd147342497393604e65d8f2d3dfc57f9"


def raw(headers: dict[str, str] | list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    items = headers.items() if isinstance(headers, dict) else headers
    return [(k.lower().encode("latin-1"), v.encode("utf-8")) for k, v in items]


def spec_request() -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "XroadVnpt-systemid": "sim.test.01",
        "XroadVnpt-servicetype": "eDoc",
        "XroadVnpt-messagetype": "edoc",
        "XroadVnpt-timestamp": "23112026T083850+0866",
        "XroadVnpt-Content-Type": "application/json",
        "XroadVnpt-sign-header-key": "systemid;servicetype;messagetype;timestamp;Content-Type",
        "XroadVnpt-sign-header": SPEC_SIGN_HEADER,
        "XroadVnpt-hash-header": SPEC_HASH,
        "XroadVnpt-version": "3.0.201608",
    }


@pytest.fixture
def auth() -> Authenticator:
    return Authenticator({SYS_A: SECRET_A, SYS_B: SECRET_B})


def refused(auth: Authenticator, headers: dict[str, str] | list[tuple[str, str]]) -> HubError:
    with pytest.raises(HubError) as info:
        auth.authenticate(raw(headers))
    return info.value


def test_worked_example_of_the_spec(auth: Authenticator) -> None:
    assert compute_hash_header(SECRET_A, SPEC_SIGN_HEADER.encode()) == SPEC_HASH
    result = auth.authenticate(raw(spec_request()))
    assert result.system_id == "sim.test.01"
    assert result.params["servicetype"] == "eDoc"
    assert result.params["MessageType"] == "edoc"  # case-insensitive lookup
    assert result.findings == []


def test_the_received_bytes_are_hashed_not_a_rebuilt_json(auth: Authenticator) -> None:
    # Same map, other key order and spacing: a server rebuilding the JSON would compute another HMAC.
    reordered = json.dumps(
        dict(reversed(list(json.loads(SPEC_SIGN_HEADER).items()))), separators=(", ", ": ")
    )
    headers = spec_request()
    headers["XroadVnpt-sign-header"] = reordered
    headers["XroadVnpt-hash-header"] = hmac.new(
        SECRET_A.encode(), reordered.encode(), hashlib.sha256
    ).hexdigest()
    assert auth.authenticate(raw(headers)).system_id == SYS_A
    headers["XroadVnpt-hash-header"] = SPEC_HASH  # the HMAC of the compact form no longer fits
    assert refused(auth, headers).code is ErrorCode.AUTH_BAD_HMAC


def test_wrong_secret_is_refused_naming_the_system(auth: Authenticator) -> None:
    headers = sdk_headers(SYS_A, "not-the-secret", {"servicetype": "eDoc"})
    err = refused(auth, headers)
    assert err.code is ErrorCode.AUTH_BAD_HMAC and err.http_status == 401
    assert err.requirement == "VXP-AUTH"
    assert "hash-header does not match" in err.describe() and SYS_A in err.describe()
    assert err.describe().startswith("[VXP-AUTH] ")


def test_hash_header_case_is_tolerated_but_one_changed_digit_is_not(auth: Authenticator) -> None:
    headers = spec_request()
    headers["XroadVnpt-hash-header"] = SPEC_HASH.upper()
    assert auth.authenticate(raw(headers)).system_id == SYS_A
    headers["XroadVnpt-hash-header"] = SPEC_HASH[:-1] + "8"
    assert refused(auth, headers).code is ErrorCode.AUTH_BAD_HMAC


def test_unknown_system(auth: Authenticator) -> None:
    err = refused(auth, sdk_headers("sim.unknown", SECRET_A, {}))
    assert err.code is ErrorCode.AUTH_UNKNOWN_SYSTEM and "sim.unknown" in err.message


@pytest.mark.parametrize("missing", ["XroadVnpt-systemid", "XroadVnpt-sign-header", "XroadVnpt-hash-header"])
def test_missing_headers(auth: Authenticator, missing: str) -> None:
    headers = spec_request()
    del headers[missing]
    err = refused(auth, headers)
    assert err.code is ErrorCode.AUTH_MISSING and missing in err.message


def test_no_headers_at_all(auth: Authenticator) -> None:
    assert refused(auth, {}).code is ErrorCode.AUTH_MISSING
    assert auth.is_anonymous(raw({"Content-Type": "application/json"}))
    assert not auth.is_anonymous(raw(spec_request()))


def test_unsigned_extra_parameter_header_is_refused(auth: Authenticator) -> None:
    headers = sdk_headers(SYS_A, SECRET_A, {"docId": "signed-id"})
    assert auth.authenticate(raw(headers)).params["docid"] == "signed-id"
    # The same name in another case, with another value: present but not equal to the signed one.
    forged = [*headers.items(), ("XroadVnpt-docid", "other-id")]
    assert refused(auth, forged).code is ErrorCode.AUTH_UNSIGNED_PARAM
    headers["XroadVnpt-docId"] = "other-id"
    err = refused(auth, headers)
    assert err.code is ErrorCode.AUTH_UNSIGNED_PARAM and "docid" in err.message.lower()
    # A header whose key was never signed at all.
    headers = sdk_headers(SYS_A, SECRET_A, {})
    headers["XroadVnpt-status"] = "done"
    err = refused(auth, headers)
    assert err.code is ErrorCode.AUTH_UNSIGNED_PARAM and "not in the signed" in err.message


def test_signed_systemid_must_match_the_header(auth: Authenticator) -> None:
    headers = sdk_headers(SYS_B, SECRET_B, {})
    headers["XroadVnpt-systemid"] = SYS_A  # HMAC now checked with A's secret: fails first
    assert refused(auth, headers).code is ErrorCode.AUTH_BAD_HMAC
    # A sign-header signed by B's secret but naming A inside, sent with systemid B.
    entries = {"XroadVnpt-systemid": SYS_A, "XroadVnpt-timestamp": "x"}
    sign_header = json.dumps(entries, separators=(",", ":"))
    forged = {
        "XroadVnpt-systemid": SYS_B,
        "XroadVnpt-sign-header": sign_header,
        "XroadVnpt-hash-header": hmac.new(
            SECRET_B.encode(), sign_header.encode(), hashlib.sha256
        ).hexdigest(),
    }
    err = refused(auth, forged)
    assert err.code is ErrorCode.AUTH_UNSIGNED_PARAM and "systemid" in err.message


def test_parameter_names_are_case_insensitive(auth: Authenticator) -> None:
    for key in ("docId", "docid", "DOCID"):
        result = auth.authenticate(raw(sdk_headers(SYS_A, SECRET_A, {key: "abc"})))
        assert result.params.get_str("docid") == "abc"
        assert result.params["DocId"] == "abc"


def test_leftover_keys_are_ignored(auth: Authenticator) -> None:
    # The SDK keeps every key it was ever given: a list call with stale hash-file/docId/status.
    params = {
        "servicetype": "eDoc",
        "messagetype": "edoc",
        "docId": "old",
        "status": "done",
        "hash-file": "abc",
    }
    result = auth.authenticate(raw(sdk_headers(SYS_A, SECRET_A, params)))
    assert result.params["status"] == "done" and result.findings == []


def test_non_ascii_header_value_gets_the_sdk_explanation(auth: Authenticator) -> None:
    headers = sdk_headers(SYS_A, SECRET_A, {"description": "Đã nhận"})
    err = refused(auth, headers)
    assert err.code is ErrorCode.AUTH_NON_ASCII and err.requirement == "VXP-ASCII"
    assert "truncates" in err.message and "port" in err.message and "XroadVnpt-description" in err.message


def test_sign_header_that_is_not_a_json_object(auth: Authenticator) -> None:
    for text in ("not json", "[1, 2]", '{"XroadVnpt-systemid": 5}'):
        headers = {
            "XroadVnpt-systemid": SYS_A,
            "XroadVnpt-sign-header": text,
            "XroadVnpt-hash-header": hmac.new(SECRET_A.encode(), text.encode(), hashlib.sha256).hexdigest(),
        }
        assert refused(auth, headers).code is ErrorCode.AUTH_BAD_SIGN_HEADER


def test_stale_timestamps_are_accepted_by_default_and_a_finding_with_a_window() -> None:
    now = dt.datetime(2026, 11, 23, 9, 0, tzinfo=VN_TZ)
    auth = Authenticator({SYS_A: SECRET_A}, clock=lambda: now)
    headers = raw(spec_request())  # signed at 08:38:50.866, 21 minutes before "now"
    assert auth.authenticate(headers).findings == []
    first = auth.authenticate(headers, replay_window_s=300).findings
    assert [f.requirement for f in first] == ["VXP-REPLAY"] and "outside the replay window" in first[
        0
    ].message
    second = auth.authenticate(headers, replay_window_s=3600).findings  # fresh enough, but seen before
    assert [f.requirement for f in second] == ["VXP-REPLAY"] and "seen before" in second[0].message


def test_sdk_timestamp_parsing() -> None:
    assert parse_sdk_timestamp("23112026T083850+0866") == dt.datetime(
        2026, 11, 23, 8, 38, 50, 866000, tzinfo=VN_TZ
    )
    assert parse_sdk_timestamp("2026-11-23T08:38:50") is None
    assert parse_sdk_timestamp("31022026T083850+0000") is None  # no 31 February
