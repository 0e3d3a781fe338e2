"""VxpClient against a respx-mocked hub: what goes on the wire, and how replies are read."""

from __future__ import annotations

import base64
import gzip
import hashlib
import hmac
import json
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from simulator.agency.client import VxpClient, VxpError, VxpTransportError
from simulator.agency.models import AgencyRegistration
from simulator.edxml.vntime import VN_TZ

ENDPOINT = "https://hub.test:8443/vxp"
SYSTEM = "sim.test.01"
SECRET = "SimSecret-NOT-REAL-0123456789abcdef"
PACKAGE = b'<?xml version="1.0" encoding="UTF-8"?><edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016"/>'
OK: dict[str, Any] = {"status": "OK", "ErrorCode": "0", "ErrorDesc": ""}
UNSIGNED = {"sign-header", "sign-header-key", "hash-header", "version"}


class TickingClock:
    """Starts at 2026-11-23 08:38:50.866 Vietnam time and moves 1.5 s on every reading."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 23, 8, 38, 50, 866_000, tzinfo=VN_TZ)

    def __call__(self) -> datetime:
        value = self.now
        self.now += timedelta(seconds=1.5)
        return value


@pytest.fixture
def hub() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=ENDPOINT, assert_all_called=False) as router:
        yield router


@pytest.fixture
def client() -> Iterator[VxpClient]:
    with VxpClient(ENDPOINT, SYSTEM, SECRET, clock=TickingClock()) as c:
        yield c


def _raw(request: httpx.Request) -> dict[str, bytes]:
    """Headers as sent: exact name -> raw value bytes. No name is repeated; apart from parameters (quirks
    mode sends XroadVnpt-docId and XroadVnpt-docid) no two names differ only in case."""
    names = [name.decode() for name, _ in request.headers.raw]
    assert len(names) == len(set(names)), f"repeated header in {names}"
    others = [n.lower() for n in names if not n.startswith("XroadVnpt-")]
    assert len(others) == len(set(others)), f"repeated header in {names}"
    return {name.decode(): value for name, value in request.headers.raw}


def verify_signature(request: httpx.Request, secret: str = SECRET) -> dict[str, str]:
    """Check the request as the hub must (independently of the client code); return the signed map."""
    raw = _raw(request)
    sign_header = raw["XroadVnpt-sign-header"]
    expected = hmac.new(secret.encode(), sign_header, hashlib.sha256).hexdigest()
    assert raw["XroadVnpt-hash-header"].decode() == expected, "HMAC over the received sign-header"
    signed: dict[str, str] = json.loads(sign_header)
    keys = raw["XroadVnpt-sign-header-key"].decode().split(";")
    assert list(signed) == [f"XroadVnpt-{k}" for k in keys], "sign-header-key lists the signed keys in order"
    params = {
        name: value.decode()
        for name, value in raw.items()
        if name.startswith("XroadVnpt-") and name.removeprefix("XroadVnpt-") not in UNSIGNED
    }
    assert params == signed, "every XroadVnpt- parameter header equals its signed value, none unsigned"
    assert raw["Content-Type"].decode() == signed["XroadVnpt-Content-Type"]
    assert raw["User-Agent"] == b"JAVASDKAgent/1.0.0 XRoad/VPCP"
    assert raw["XroadVnpt-version"] == b"3.0.201608"
    assert request.url.query == b"", "parameters travel only as headers"
    return {k.removeprefix("XroadVnpt-"): v for k, v in signed.items()}


def _ts(when: datetime) -> str:
    # the SDK format written out independently: ddMMyyyy'T'HHmmss+SSSS
    return when.strftime("%d%m%YT%H%M%S") + "+" + str(when.microsecond // 1000).zfill(4)


# ---------------------------------------------------------------- every JSON operation


@dataclass
class Case:
    path: str
    invoke: Callable[[VxpClient], Any]
    params: dict[str, str]  # caller keys the spec table lists for this call
    body: bytes
    reply: dict[str, Any]
    check: Callable[[Any], None]


RECEIVED = {
    "docId": "7b0e6a57-1d4c-4b7e-9d5f-2f2c1f0a9e11",
    "serviceType": "eDoc",
    "messageType": "status",
    "created_time": "2026/11/23 08:40:00",
    "updated_time": "2026/11/23 08:41:00",
    "from": "000.00.00.H41",
    "to": "000.00.00.G22",
    "status": "initial",
    "status_desc": "",
    "extraField": "dropped",
}
SENT = {
    "serviceType": "eDoc",
    "messageType": "edoc",
    "senderDocId": "D9",
    "receiverDocId": "R9",
    "fromCode": "000.00.00.G22",
    "toCode": "000.00.00.H41",
    "title": "Về việc thử nghiệm",
    "notation": "12/UBND-VP",
    "sentTime": "2026/11/23 08:40:00",
    "receivedTime": "2026/11/23 08:45:00",
    "sendStatus": "done",
    "sendStatusDesc": "",
    "receiveStatus": "processing",
    "receiveStatusDesc": "",
}
AGENCY = {"id": 12, "pid": 1, "code": "000.00.00.H41", "name": "Bộ Thử", "mail": "a@b.vn", "oldCode": "H41"}
QD20 = {"id": "12", "code": "000.00.00.H41", "name": "Bộ Thử", "mail": "a@b.vn", "code102": "H41"}
SYNC = {
    "id": 12,
    "pid": 1,
    "code": "000.00.00.H41",
    "name": "Bộ Thử",
    "mail": "a@b.vn",
    "centerCode": "C1",
    "version": 3,
    "deleted": False,
    "modifyDate": "2026/11/20 10:00:00",
    "isAgency": True,
}
REGISTRATION: AgencyRegistration = {
    "id": 99,
    "pcode": "000.00.00.H41",
    "code": "000.00.01.H41",
    "name": "Sở Thử nghiệm",
    "mail": "so@thu.vn",
    "mobile": "0900000000",
    "fax": "",
}


def _eq(expected: Any) -> Callable[[Any], None]:
    def check(actual: Any) -> None:
        assert actual == expected

    return check


CASES = [
    Case(
        "getReceivedEdocList",
        lambda c: c.get_received_edoc_list("status"),
        {"servicetype": "eDoc", "messagetype": "status"},
        b"",
        {**OK, "data": [RECEIVED]},
        _eq([{k: v for k, v in RECEIVED.items() if k != "extraField"}]),
    ),
    Case(
        "getEdoc",
        lambda c: c.get_edoc("D1"),
        {"docId": "D1"},
        b"{}",
        {**OK, "data": base64.b64encode(PACKAGE).decode()},
        _eq(PACKAGE),
    ),
    Case(
        "updateStatus",
        lambda c: c.update_status("D1", "done"),
        {"docId": "D1", "status": "done"},
        b"{}",
        OK,
        _eq(None),
    ),
    Case(
        "updateStatus",
        lambda c: c.update_status("D1", "fail", "khong doc duoc goi tin"),
        {"docId": "D1", "status": "fail", "description": "khong doc duoc goi tin"},
        b"{}",
        OK,
        _eq(None),
    ),
    Case(
        "getSentEdocList",
        lambda c: c.get_sent_edoc_list("edoc", doc_id="D9"),
        {"servicetype": "eDoc", "messagetype": "edoc", "docId": "D9"},
        b"",
        {**OK, "data": [SENT]},
        _eq([SENT]),
    ),
    Case(
        "getSentEdocList",
        lambda c: c.get_sent_edoc_list("status"),
        {"servicetype": "eDoc", "messagetype": "status"},
        b"",
        {**OK, "data": []},
        _eq([]),
    ),
    Case(
        "countReceiveEdoc",
        lambda c: c.count_receive_edoc(),
        {"servicetype": "eDoc", "messagetype": "edoc"},
        b"{}",
        {**OK, "count": 3},
        _eq(3),
    ),
    Case(
        "countReceiveStatus",
        lambda c: c.count_receive_status(),
        {"servicetype": "eDoc", "messagetype": "status"},
        b"{}",
        {**OK, "count": 0},
        _eq(0),
    ),
    Case(
        "getAgenciesList", lambda c: c.get_agencies_list(), {}, b"", {**OK, "data": [AGENCY]}, _eq([AGENCY])
    ),
    Case(
        "getAgenciesListQD20",
        lambda c: c.get_agencies_list_qd20(2),
        {"level": "2"},
        b"",
        {**OK, "data": [QD20]},
        _eq([QD20]),
    ),
    Case(
        "getSynchronizeUnit", lambda c: c.get_synchronize_unit(), {}, b"", {**OK, "data": [SYNC]}, _eq([SYNC])
    ),
    Case(
        "deleteAgency",
        lambda c: c.delete_agency("000.00.01.H41"),
        {"AgencyCode": "000.00.01.H41"},
        b"{}",
        OK,
        _eq(None),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[f"{c.path}-{i}" for i, c in enumerate(CASES)])
def test_json_operation_wire_and_reply(case: Case, hub: respx.MockRouter, client: VxpClient) -> None:
    route = hub.post(f"/{case.path}").mock(return_value=httpx.Response(200, json=case.reply))
    case.check(case.invoke(client))
    assert route.call_count == 1
    request = route.calls.last.request
    assert request.method == "POST"
    assert request.url.path == f"/vxp/{case.path}"
    signed = verify_signature(request)
    assert signed == {
        "timestamp": "23112026T083850+0866",
        "systemid": SYSTEM,
        **case.params,
        "Content-Type": "application/json",
    }
    assert request.content == case.body
    raw = _raw(request)
    assert raw["Accept-Encoding"] == b"gzip,deflate"
    assert raw.get("Expect") == (b"100-continue" if case.body else None)


def test_register_agency_sends_the_agency_as_a_json_body(hub: respx.MockRouter, client: VxpClient) -> None:
    route = hub.post("/registerAgency").mock(return_value=httpx.Response(200, json=OK))
    client.register_agency(REGISTRATION)
    request = route.calls.last.request
    assert verify_signature(request) == {
        "timestamp": "23112026T083850+0866",
        "systemid": SYSTEM,
        "Content-Type": "application/json",
    }
    assert json.loads(request.content.decode("utf-8")) == REGISTRATION


def test_send_edoc_wire(hub: respx.MockRouter, client: VxpClient) -> None:
    route = hub.post("/sendEdoc").mock(
        return_value=httpx.Response(200, json={**OK, "DocId": "4f1c6c7e-0000-4000-8000-000000000001"})
    )
    doc_id = client.send_edoc(PACKAGE, from_="000.00.00.G22", to=["000.00.00.H41", "000.00.00.H42"])
    assert doc_id == "4f1c6c7e-0000-4000-8000-000000000001"
    request = route.calls.last.request
    digest = hashlib.sha256(PACKAGE).digest()
    assert verify_signature(request) == {
        "timestamp": "23112026T083850+0866",
        "systemid": SYSTEM,
        "from": "000.00.00.G22",
        "servicetype": "eDoc",
        "messagetype": "edoc",
        "to": '[{"code":"000.00.00.H41"},{"code":"000.00.00.H42"}]',
        "Content-Type": "application/octet-stream",
        "hash-file": "".join(f"{b:x}" for b in digest),
    }
    assert request.content == PACKAGE + b"\r\n"
    raw = _raw(request)
    assert raw["Content-Type"] == b"application/octet-stream"
    assert "Accept-Encoding" not in raw and "Expect" not in raw
    assert raw["Content-Length"] == str(len(PACKAGE) + 2).encode()


def test_send_status_without_to(hub: respx.MockRouter, client: VxpClient) -> None:
    route = hub.post("/sendEdoc").mock(return_value=httpx.Response(200, json={**OK, "DocId": "S1"}))
    assert client.send_edoc(PACKAGE, from_="000.00.00.H41", messagetype="status") == "S1"
    signed = verify_signature(route.calls.last.request)
    assert signed["messagetype"] == "status"
    assert "to" not in signed


def test_timestamp_is_taken_per_call_by_default(hub: respx.MockRouter, client: VxpClient) -> None:
    route = hub.post("/countReceiveEdoc").mock(return_value=httpx.Response(200, json={**OK, "count": 1}))
    client.count_receive_edoc()
    client.count_receive_edoc()
    first, second = (verify_signature(call.request)["timestamp"] for call in route.calls)
    assert (first, second) == ("23112026T083850+0866", "23112026T083852+0366")


# ---------------------------------------------------------------- download


def test_download_edoc_is_a_signed_get_returning_raw_bytes(hub: respx.MockRouter, client: VxpClient) -> None:
    stray = b"\xef\xbb\xbf\x00" + PACKAGE  # bytes come back untouched, junk included
    route = hub.get("/downloadEdoc").mock(
        return_value=httpx.Response(200, content=stray, headers={"Content-Type": "application/octet-stream"})
    )
    assert client.download_edoc("D1") == stray
    request = route.calls.last.request
    assert request.method == "GET"
    assert request.content == b""
    assert verify_signature(request)["docId"] == "D1"


def test_anonymous_download_sends_no_xroad_header(hub: respx.MockRouter, client: VxpClient) -> None:
    route = hub.get("/downloadEdoc").mock(return_value=httpx.Response(200, content=PACKAGE))
    assert client.download_edoc("D1", anonymous=True) == PACKAGE
    raw = _raw(route.calls.last.request)
    assert not [name for name in raw if name.lower().startswith("xroadvnpt-")]
    assert raw["docId"] == b"D1"


def test_download_refusal_envelope_is_a_vxp_error(hub: respx.MockRouter, client: VxpClient) -> None:
    hub.get("/downloadEdoc").mock(
        return_value=httpx.Response(
            401, json={"status": "FAIL", "ErrorCode": "ANONYMOUS_REFUSED", "ErrorDesc": "no anonymous reads"}
        )
    )
    with pytest.raises(VxpError) as info:
        client.download_edoc("D1", anonymous=True)
    assert (info.value.error_code, info.value.http_status) == ("ANONYMOUS_REFUSED", 401)


def test_download_http_error_without_envelope(hub: respx.MockRouter, client: VxpClient) -> None:
    hub.get("/downloadEdoc").mock(return_value=httpx.Response(404, text="<html>Not Found</html>"))
    with pytest.raises(VxpTransportError, match="HTTP 404"):
        client.download_edoc("D1")


# ---------------------------------------------------------------- replies and errors


def test_fail_envelope_is_a_vxp_error(hub: respx.MockRouter, client: VxpClient) -> None:
    hub.post("/getEdoc").mock(
        return_value=httpx.Response(
            404, json={"status": "FAIL", "ErrorCode": "NOT_FOUND", "ErrorDesc": "Không có văn bản D1"}
        )
    )
    with pytest.raises(VxpError) as info:
        client.get_edoc("D1")
    err = info.value
    assert (err.operation, err.error_code, err.error_desc, err.http_status) == (
        "getEdoc",
        "NOT_FOUND",
        "Không có văn bản D1",  # other replies are read as UTF-8
        404,
    )
    assert "NOT_FOUND" in str(err) and "Không có văn bản D1" in str(err)


def test_5xx_with_envelope_is_still_read(hub: respx.MockRouter, client: VxpClient) -> None:
    route = hub.post("/countReceiveEdoc")
    route.mock(
        return_value=httpx.Response(
            503, json={"status": "FAIL", "ErrorCode": "UNAVAILABLE", "ErrorDesc": "busy"}
        )
    )
    with pytest.raises(VxpError) as info:
        client.count_receive_edoc()
    assert (info.value.error_code, info.value.error_desc, info.value.http_status) == (
        "UNAVAILABLE",
        "busy",
        503,
    )
    # like the SDK, the HTTP status itself is ignored: an OK envelope is a success whatever the code
    route.mock(return_value=httpx.Response(500, json={**OK, "count": 7}))
    assert client.count_receive_edoc() == 7


def test_ok_status_with_nonzero_error_code_is_an_error(hub: respx.MockRouter, client: VxpClient) -> None:
    hub.post("/updateStatus").mock(
        return_value=httpx.Response(
            200, json={"status": "OK", "ErrorCode": "CONFLICT", "ErrorDesc": "already done"}
        )
    )
    with pytest.raises(VxpError, match="CONFLICT"):
        client.update_status("D1", "done")


@pytest.mark.parametrize(
    ("response", "message"),
    [
        (httpx.Response(502, text="<html>Bad Gateway</html>"), "not the JSON envelope"),
        (httpx.Response(200, content=b"\xff\xfe{}"), "not the JSON envelope"),
        (httpx.Response(200, json=[OK]), "not an object"),
        (httpx.Response(200, json={"status": "OK", "ErrorCode": "0"}), "'ErrorDesc' is missing"),
        (
            httpx.Response(200, json={"status": "OK", "ErrorCode": None, "ErrorDesc": ""}),
            "'ErrorCode' is null",
        ),
        (httpx.Response(200, json={**OK, "count": "3"}), "whole number"),
        (httpx.Response(200, json={**OK, "count": True}), "whole number"),
    ],
)
def test_unusable_replies_are_transport_errors(
    response: httpx.Response, message: str, hub: respx.MockRouter, client: VxpClient
) -> None:
    hub.post("/countReceiveEdoc").mock(return_value=response)
    with pytest.raises(VxpTransportError, match=message) as info:
        client.count_receive_edoc()
    assert info.value.operation == "countReceiveEdoc"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"serviceType": "eDoc"}, r"data\[0\] has no 'docId'"),
        ({"docId": 5}, r"data\[0\]\.docId should be a string"),
        ("not a list", "JSON array"),
        ([1], "JSON object"),
    ],
)
def test_reply_items_of_the_wrong_shape(
    data: Any, message: str, hub: respx.MockRouter, client: VxpClient
) -> None:
    hub.post("/getReceivedEdocList").mock(
        return_value=httpx.Response(
            200, json={**OK, "data": data if isinstance(data, list | str) else [data]}
        )
    )
    with pytest.raises(VxpTransportError, match=message):
        client.get_received_edoc_list()


def test_sync_unit_types_are_checked(hub: respx.MockRouter, client: VxpClient) -> None:
    hub.post("/getSynchronizeUnit").mock(
        return_value=httpx.Response(200, json={**OK, "data": [{**SYNC, "version": True}]})
    )
    with pytest.raises(VxpTransportError, match="version should be an integer"):
        client.get_synchronize_unit()


def test_null_optional_fields_are_absent(hub: respx.MockRouter, client: VxpClient) -> None:
    hub.post("/getAgenciesList").mock(
        return_value=httpx.Response(
            200, json={**OK, "data": [{"id": 1, "code": "000.00.00.H41", "mail": None}]}
        )
    )
    assert client.get_agencies_list() == [{"id": 1, "code": "000.00.00.H41"}]


def test_get_edoc_base64(hub: respx.MockRouter, client: VxpClient) -> None:
    route = hub.post("/getEdoc")
    wrapped = base64.encodebytes(PACKAGE * 3).decode()  # MIME style, with line breaks
    route.mock(return_value=httpx.Response(200, json={**OK, "data": wrapped}))
    assert client.get_edoc("D1") == PACKAGE * 3
    route.mock(return_value=httpx.Response(200, json={**OK, "data": "PD94bWw*"}))
    with pytest.raises(VxpTransportError, match="not valid base64"):
        client.get_edoc("D1")
    route.mock(return_value=httpx.Response(200, json=OK))
    with pytest.raises(VxpTransportError, match="'data'"):
        client.get_edoc("D1")


def test_gzip_reply_is_decoded(hub: respx.MockRouter, client: VxpClient) -> None:
    body = gzip.compress(json.dumps({**OK, "count": 4}).encode())
    hub.post("/countReceiveEdoc").mock(
        return_value=httpx.Response(200, content=body, headers={"Content-Encoding": "gzip"})
    )
    assert client.count_receive_edoc() == 4


def test_send_edoc_reply_rules(hub: respx.MockRouter, client: VxpClient) -> None:
    route = hub.post("/sendEdoc")
    fail = {"status": "FAIL", "ErrorCode": "HASH_MISMATCH", "ErrorDesc": "hash-file does not match"}
    route.mock(return_value=httpx.Response(400, json={**fail, "DocId": ""}))
    with pytest.raises(VxpError) as info:
        client.send_edoc(PACKAGE, from_="000.00.00.G22", to=["000.00.00.H41"])
    assert (info.value.error_code, info.value.http_status) == ("HASH_MISMATCH", 400)
    # without DocId the SDK loses the error fields: a protocol fault of the hub, reported with them
    route.mock(return_value=httpx.Response(400, json=fail))
    with pytest.raises(VxpTransportError, match=r"no DocId.*HASH_MISMATCH"):
        client.send_edoc(PACKAGE, from_="000.00.00.G22", to=["000.00.00.H41"])
    route.mock(return_value=httpx.Response(200, json={**OK, "DocId": ""}))
    with pytest.raises(VxpTransportError, match="empty DocId"):
        client.send_edoc(PACKAGE, from_="000.00.00.G22", to=["000.00.00.H41"])


def test_send_edoc_reply_is_read_as_us_ascii(hub: respx.MockRouter, client: VxpClient) -> None:
    reply = json.dumps(
        {"status": "FAIL", "ErrorCode": "X", "ErrorDesc": "Đơn vị", "DocId": ""}, ensure_ascii=False
    )
    hub.post("/sendEdoc").mock(return_value=httpx.Response(400, content=reply.encode("utf-8")))
    with pytest.raises(VxpError) as info:
        client.send_edoc(PACKAGE, from_="000.00.00.G22", to=["000.00.00.H41"])
    # 'Đ' and 'ơ' are two UTF-8 bytes each: each byte becomes one U+FFFD, as in Java's US-ASCII decoder
    assert info.value.error_desc == "\ufffd\ufffd\ufffd\ufffdn v\ufffd\ufffd\ufffd"


# ---------------------------------------------------------------- transport errors and retries


def test_timeout_is_a_transport_error(hub: respx.MockRouter, client: VxpClient) -> None:
    hub.post("/getAgenciesList").mock(side_effect=httpx.ReadTimeout("read timed out"))
    with pytest.raises(VxpTransportError, match="within 10 s") as info:
        client.get_agencies_list()
    assert info.value.operation == "getAgenciesList"


def test_no_retry_by_default(hub: respx.MockRouter, client: VxpClient) -> None:
    route = hub.post("/sendEdoc").mock(
        side_effect=[httpx.ConnectError("refused"), httpx.Response(200, json=OK)]
    )
    with pytest.raises(VxpTransportError, match="ConnectError"):
        client.send_edoc(PACKAGE, from_="000.00.00.G22", to=["000.00.00.H41"])
    assert route.call_count == 1


def test_retries_resend_the_identical_request(hub: respx.MockRouter) -> None:
    route = hub.post("/sendEdoc").mock(
        side_effect=[
            httpx.ConnectError("refused"),
            httpx.WriteError("broken pipe"),
            httpx.Response(200, json={**OK, "DocId": "D7"}),
        ]
    )
    with VxpClient(ENDPOINT, SYSTEM, SECRET, clock=TickingClock(), retries=2) as c:
        assert c.send_edoc(PACKAGE, from_="000.00.00.G22", to=["000.00.00.H41"]) == "D7"
    assert route.call_count == 3
    sent = [(call.request.content, call.request.headers.raw) for call in route.calls]
    assert sent[0] == sent[1] == sent[2]  # same body and same signature: a duplicate submission
    assert sent[0][0] == PACKAGE + b"\r\n"


def test_retries_give_up_and_get_is_never_retried(hub: respx.MockRouter) -> None:
    post = hub.post("/getAgenciesList").mock(side_effect=httpx.ConnectError("refused"))
    get = hub.get("/downloadEdoc").mock(side_effect=httpx.ConnectError("refused"))
    with VxpClient(ENDPOINT, SYSTEM, SECRET, retries=2) as c:
        with pytest.raises(VxpTransportError, match="after 3 attempts"):
            c.get_agencies_list()
        with pytest.raises(VxpTransportError):
            c.download_edoc("D1")
    assert (post.call_count, get.call_count) == (3, 1)


# ---------------------------------------------------------------- non-ASCII values


def test_non_ascii_parameter_is_refused_before_sending(hub: respx.MockRouter, client: VxpClient) -> None:
    route = hub.post("/updateStatus").mock(return_value=httpx.Response(200, json=OK))
    with pytest.raises(ValueError, match=r"XroadVnpt-description.*VXP-ASCII"):
        client.update_status("D1", "fail", "Không đọc được")
    assert route.call_count == 0


# ---------------------------------------------------------------- SDK quirks


def test_sdk_quirks_stale_timestamp_and_leftover_keys(hub: respx.MockRouter) -> None:
    clock = TickingClock()
    built_at = clock.now
    send = hub.post("/sendEdoc").mock(return_value=httpx.Response(200, json={**OK, "DocId": "D1"}))
    listing = hub.post("/getReceivedEdocList").mock(return_value=httpx.Response(200, json={**OK, "data": []}))
    ack = hub.post("/updateStatus").mock(return_value=httpx.Response(200, json=OK))
    count = hub.post("/countReceiveStatus").mock(return_value=httpx.Response(200, json={**OK, "count": 0}))
    with VxpClient(ENDPOINT, SYSTEM, SECRET, clock=clock, sdk_quirks=True) as c:
        clock.now += timedelta(hours=5)  # the client lives on; the SDK never refreshes its timestamp
        c.send_edoc(PACKAGE, from_="000.00.00.G22", to=["000.00.00.H41"])
        c.get_received_edoc_list()
        c.update_status("R1", "done")
        c.count_receive_status()
    maps = [verify_signature(route.calls.last.request) for route in (send, listing, ack, count)]
    assert {m["timestamp"] for m in maps} == {_ts(built_at)} == {"23112026T083850+0866"}
    upload_hash = "".join(f"{b:x}" for b in hashlib.sha256(PACKAGE).digest())
    # the listing carries the upload's leftovers and its own Content-Type
    assert maps[1] == {
        "timestamp": "23112026T083850+0866",
        "systemid": SYSTEM,
        "from": "000.00.00.G22",
        "servicetype": "eDoc",
        "messagetype": "edoc",
        "to": '[{"code":"000.00.00.H41"}]',
        "Content-Type": "application/json",
        "hash-file": upload_hash,
    }
    # the acknowledgement sends the id under both spellings; everything before is still there
    assert maps[2]["docId"] == maps[2]["docid"] == "R1"
    assert maps[2]["hash-file"] == upload_hash and maps[2]["status"] == "done"
    # countReceiveStatus sets messagetype=status over the leftover edoc, keeps the stale status=done
    assert maps[3]["messagetype"] == "status" and maps[3]["status"] == "done" and maps[3]["docId"] == "R1"


def test_sdk_quirks_truncate_non_ascii_so_the_signature_breaks(hub: respx.MockRouter) -> None:
    route = hub.post("/updateStatus").mock(return_value=httpx.Response(200, json=OK))
    with VxpClient(ENDPOINT, SYSTEM, SECRET, clock=TickingClock(), sdk_quirks=True) as c:
        c.update_status("D1", "fail", "Đã")
    raw = _raw(route.calls.last.request)
    # U+0110 -> 0x10, U+00E3 -> 0xE3: one byte per character on the wire
    assert raw["XroadVnpt-description"] == b"\x10\xe3"
    assert b'"XroadVnpt-description":"\x10\xe3"' in raw["XroadVnpt-sign-header"]
    received_hmac = hmac.new(SECRET.encode(), raw["XroadVnpt-sign-header"], hashlib.sha256).hexdigest()
    assert raw["XroadVnpt-hash-header"].decode() != received_hmac  # what the hub computes cannot match


# ---------------------------------------------------------------- raw access, construction, other transports


def test_call_gives_raw_access_for_negative_tests(hub: respx.MockRouter, client: VxpClient) -> None:
    route = hub.post("/getEdoc").mock(return_value=httpx.Response(401, json={**OK, "status": "FAIL"}))
    response = client.call(
        "getEdoc",
        {"docId": "D1"},
        body=b"{}",
        extra_headers={
            "XroadVnpt-hash-header": None,
            "XroadVnpt-smuggled": "x",
            "XroadVnpt-systemid": b"other",
        },
    )
    assert response.status_code == 401  # not parsed, not raised
    raw = _raw(route.calls.last.request)
    assert "XroadVnpt-hash-header" not in raw
    assert raw["XroadVnpt-smuggled"] == b"x"
    assert raw["XroadVnpt-systemid"] == b"other"
    assert json.loads(raw["XroadVnpt-sign-header"])["XroadVnpt-systemid"] == SYSTEM


def test_call_can_sign_a_wrong_hash_file(hub: respx.MockRouter, client: VxpClient) -> None:
    route = hub.post("/sendEdoc").mock(return_value=httpx.Response(200, json=OK))
    client.call(
        "sendEdoc",
        {"from": "000.00.00.G22", "servicetype": "eDoc", "messagetype": "edoc"},
        body=PACKAGE + b"\r\n",
        content_type="application/octet-stream",
        hash_file="0",
    )
    assert verify_signature(route.calls.last.request)["hash-file"] == "0"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"endpoint": "hub.test"}, "http"),
        ({"retries": -1}, "retries"),
        ({"secret": ""}, "secret"),
    ],
)
def test_bad_construction_arguments(kwargs: dict[str, Any], message: str) -> None:
    args: dict[str, Any] = {"endpoint": ENDPOINT, "system_id": SYSTEM, "secret": SECRET, **kwargs}
    with pytest.raises(ValueError, match=message):
        VxpClient(**args)


def test_bad_operation_arguments(client: VxpClient) -> None:
    with pytest.raises(ValueError, match="messagetype"):
        client.get_received_edoc_list("doc")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="status"):
        client.update_status("D1", "ok")  # type: ignore[arg-type]


def _self_signed_pem(path: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lienthong test CA")])
    now = datetime.now(VN_TZ)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def test_verify_accepts_a_ca_bundle_path(tmp_path: Path) -> None:
    # httpx 0.28 deprecates verify=<path> (a warning, an error under this suite): the client builds an
    # SSLContext from the file instead. A missing file fails loudly, never falls back to no verification.
    ca = tmp_path / "ca.pem"
    _self_signed_pem(ca)
    VxpClient(ENDPOINT, SYSTEM, SECRET, verify=str(ca)).close()
    with pytest.raises(FileNotFoundError):
        VxpClient(ENDPOINT, SYSTEM, SECRET, verify=str(tmp_path / "missing.pem"))


def test_works_over_a_starlette_test_client() -> None:
    """End to end over ASGI: a tiny hub that checks the signature by itself, on the raw header bytes."""
    with warnings.catch_warnings():
        # starlette 1.x asks for the httpx2 fork and warns when its TestClient falls back to httpx
        warnings.filterwarnings("ignore", message=".*starlette.testclient.*")
        from starlette.testclient import TestClient

    async def count(request: Request) -> JSONResponse:
        raw = dict(request.headers.raw)
        expected = hmac.new(SECRET.encode(), raw[b"xroadvnpt-sign-header"], hashlib.sha256).hexdigest()
        if raw[b"xroadvnpt-hash-header"].decode() != expected:
            return JSONResponse({"status": "FAIL", "ErrorCode": "AUTH_BAD_HMAC", "ErrorDesc": "bad"}, 401)
        signed = json.loads(raw[b"xroadvnpt-sign-header"])
        return JSONResponse({**OK, "count": len(signed), "body": (await request.body()).decode()})

    app = Starlette(routes=[Route("/countReceiveEdoc", count, methods=["POST"])])
    with TestClient(app) as http, VxpClient("http://testserver", SYSTEM, SECRET, http_client=http) as c:
        assert c.count_receive_edoc() == 5  # timestamp, systemid, servicetype, messagetype, Content-Type
    with (
        TestClient(app) as http,
        VxpClient("http://testserver", SYSTEM, "wrong", http_client=http) as c,
        pytest.raises(VxpError, match="AUTH_BAD_HMAC"),
    ):
        c.count_receive_edoc()
