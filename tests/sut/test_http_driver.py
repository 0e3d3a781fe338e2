"""HttpDriver: every operation's request and reply mapping (respx), error mapping, DocumentId encoding,
and an end-to-end run against a driver API server (the reference driver app when present)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import socket
from collections.abc import Iterator, Sequence
from typing import Any

import httpx
import pytest
import respx

from simulator.edxml.model import BusinessDocType, Priority, StatusCode
from simulator.sut.driver import (
    AttachmentDigest,
    AttachmentSpec,
    Capability,
    DriverError,
    DriverInfo,
    LegalValidity,
    NotSupported,
    OutgoingDocument,
    ProbeResult,
    SentRef,
    SutDocumentState,
    SutDriver,
)
from simulator.sut.http_driver import (
    HttpDriver,
    WireError,
    outgoing_from_json,
    outgoing_to_json,
    state_from_json,
    state_to_json,
)

URL = "http://sut.test:8090"
DOC_ID = "000.00.00.G22,2026/11/23,7816/VPCP-TTĐT"
# Percent-encoding of DOC_ID as UTF-8 with nothing kept (RFC 3986), worked out by hand: "," → %2C,
# "/" → %2F, "Đ" (U+0110) → C4 90.
DOC_ID_ENCODED = "000.00.00.G22%2C2026%2F11%2F23%2C7816%2FVPCP-TT%C4%90T"
AGENCY = "000.00.12.H29"
INFO = {
    "product": "QLVB Acme",
    "version": "3.2",
    "agencies": [AGENCY, "000.01.12.H29"],
    "capabilities": ["send", "query", "advance", "teleport"],
}
DOCUMENT = OutgoingDocument(
    from_=AGENCY,
    to=("000.00.00.G22", "000.00.00.H41"),
    subject="V/v báo cáo tình hình thực hiện",
    priority=Priority.FLASH,
    attachments=(AttachmentSpec("bao-cao.pdf", b"%PDF-1.7 \x00\xff", "application/pdf"),),
    response_for="000.00.00.G22,2026/11/20,12/VPCP-KSTT",
    sign=False,
)
STATE_JSON: dict[str, Any] = {
    "document_id": DOC_ID,
    "agency": AGENCY,
    "direction": "sent",
    "status": "03",
    "legal_validity": "signed-valid",
    "active": False,
    "priority": 3,
    "subject": "V/v báo cáo",
    "business": 1,
    "attachments": [{"name": "a.pdf", "sha256": "AB" * 32, "size": 12}],
    "statuses_from_receivers": {"000.00.00.G22": "03", "000.00.00.H41": "02"},
    "updated_at": "2026-11-23T09:15:00+07:00",
}


class Recorder:
    """A respx side effect answering every request with the next queued reply, keeping the requests."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.replies: list[httpx.Response | Exception] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        reply = self.replies.pop(0) if self.replies else httpx.Response(200, json={})
        if isinstance(reply, Exception):
            raise reply
        return reply

    def reply(self, status: int = 200, body: Any = None, *, text: str | None = None) -> None:
        if text is not None:
            self.replies.append(httpx.Response(status, text=text))
        else:
            self.replies.append(httpx.Response(status, json={} if body is None else body))

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]

    def last_json(self) -> Any:
        return json.loads(self.last.content)


@pytest.fixture
def rec() -> Iterator[Recorder]:
    recorder = Recorder()
    with respx.mock(base_url=URL, assert_all_called=False) as mock:
        mock.route().mock(side_effect=recorder)
        yield recorder


@pytest.fixture
def driver(rec: Recorder) -> Iterator[HttpDriver]:
    with HttpDriver(URL, timeout=2.0, agencies=[AGENCY, "000.01.12.H29"]) as d:
        yield d


def test_is_a_sut_driver(driver: HttpDriver) -> None:
    assert isinstance(driver, SutDriver)


# ------------------------------------------------------------------------------------------ operations


def test_info_and_check(driver: HttpDriver, rec: Recorder) -> None:
    rec.reply(body=INFO)
    info = driver.info()
    assert (rec.last.method, rec.last.url.path) == ("GET", "/driver/v1/info")
    assert info.product == "QLVB Acme" and info.version == "3.2"
    assert info.agencies == (AGENCY, "000.01.12.H29")
    # unknown capability names ("teleport") are ignored
    assert info.capabilities == {Capability.SEND, Capability.QUERY, Capability.ADVANCE}
    rec.reply(body=INFO)
    assert driver.check() == info


def test_check_names_both_agency_lists(driver: HttpDriver, rec: Recorder) -> None:
    rec.reply(body={**INFO, "agencies": [AGENCY, "000.00.99.H29"]})
    with pytest.raises(DriverError) as exc:
        driver.check()
    message = str(exc.value)
    assert f"[{AGENCY}, 000.00.99.H29]" in message  # what the driver says
    assert f"[{AGENCY}, 000.01.12.H29]" in message  # what sut.toml says
    assert "missing from the driver: 000.01.12.H29" in message
    assert "not in sut.toml: 000.00.99.H29" in message


def test_send(driver: HttpDriver, rec: Recorder) -> None:
    rec.reply(body={"document_id": DOC_ID, "hub_doc_ids": ["d1", "d2"]})
    ref = driver.send_document(DOCUMENT)
    assert (rec.last.method, rec.last.url.path) == ("POST", "/driver/v1/documents")
    assert rec.last.headers["content-type"] == "application/json"
    assert rec.last_json() == {
        "from": AGENCY,
        "to": ["000.00.00.G22", "000.00.00.H41"],
        "subject": "V/v báo cáo tình hình thực hiện",
        "priority": 3,
        "attachments": [
            {
                "name": "bao-cao.pdf",
                "content_base64": base64.b64encode(b"%PDF-1.7 \x00\xff").decode(),
                "content_type": "application/pdf",
            }
        ],
        "response_for": "000.00.00.G22,2026/11/20,12/VPCP-KSTT",
        "sign": False,
    }
    assert ref.document_id == DOC_ID
    assert ref.hub_doc_ids == ("d1", "d2")


@pytest.mark.parametrize(
    ("call", "suffix", "body"),
    [
        (
            lambda d: d.recall(DOC_ID, agency=AGENCY, form="status", reason="gửi nhầm"),
            "documents/{}/recall",
            {"form": "status", "reason": "gửi nhầm"},
        ),
        (
            lambda d: d.update(
                DOC_ID, agency=AGENCY, reason="bổ sung", subject="V/v mới", add_receivers=["000.00.00.H41"]
            ),
            "documents/{}/update",
            {
                "reason": "bổ sung",
                "subject": "V/v mới",
                "add_receivers": ["000.00.00.H41"],
                "remove_receivers": [],
            },
        ),
        (
            lambda d: d.advance(
                DOC_ID, agency=AGENCY, status=StatusCode.ASSIGNED, description="giao phòng KT"
            ),
            "received/{}/status",
            {"status": "04", "description": "giao phòng KT"},
        ),
        (
            lambda d: d.refuse(DOC_ID, agency=AGENCY, reason="không đúng thẩm quyền"),
            "received/{}/refuse",
            {"reason": "không đúng thẩm quyền"},
        ),
        (
            lambda d: d.answer_recall(DOC_ID, agency=AGENCY, agree=False, reason="đã hoàn thành"),
            "received/{}/recall-answer",
            {"agree": False, "reason": "đã hoàn thành"},
        ),
    ],
)
def test_document_operations_encode_the_document_id(
    driver: HttpDriver, rec: Recorder, call: Any, suffix: str, body: dict[str, Any]
) -> None:
    assert call(driver) is None
    request = rec.last
    assert request.method == "POST"
    assert (
        request.url.raw_path.decode("ascii")
        == "/driver/v1/" + suffix.format(DOC_ID_ENCODED) + f"?agency={AGENCY}"
    )
    assert request.url.params["agency"] == AGENCY
    assert rec.last_json() == body


def test_replace(driver: HttpDriver, rec: Recorder) -> None:
    rec.reply(body={"document_id": "000.00.12.H29,2026/11/24,13/STC-VP"})
    ref = driver.replace(DOC_ID, agency=AGENCY, reason="sai nội dung", new=DOCUMENT)
    assert rec.last.url.raw_path.startswith(f"/driver/v1/documents/{DOC_ID_ENCODED}/replace?".encode())
    assert rec.last_json() == {"reason": "sai nội dung", "new": outgoing_to_json(DOCUMENT)}
    assert ref.document_id == "000.00.12.H29,2026/11/24,13/STC-VP"
    assert ref.hub_doc_ids == ()


def test_query(driver: HttpDriver, rec: Recorder) -> None:
    rec.reply(body=STATE_JSON)
    state = driver.query(DOC_ID, agency=AGENCY)
    assert rec.last.method == "GET"
    assert rec.last.url.raw_path.decode() == f"/driver/v1/documents/{DOC_ID_ENCODED}?agency={AGENCY}"
    assert state == SutDocumentState(
        document_id=DOC_ID,
        agency=AGENCY,
        direction="sent",
        status=StatusCode.ACCEPTED,
        legal_validity=LegalValidity.SIGNED_VALID,
        active=False,
        priority=Priority.FLASH,
        subject="V/v báo cáo",
        business=BusinessDocType.RECALL,
        attachments=(AttachmentDigest("a.pdf", "ab" * 32, 12),),
        statuses_from_receivers={"000.00.00.G22": StatusCode.ACCEPTED, "000.00.00.H41": StatusCode.REFUSED},
        updated_at=dt.datetime(2026, 11, 23, 9, 15, tzinfo=dt.timezone(dt.timedelta(hours=7))),
    )


def test_query_fills_document_id_and_agency_from_the_request(driver: HttpDriver, rec: Recorder) -> None:
    minimal = {"direction": "received", "status": None, "legal_validity": "reference-only", "active": True}
    rec.reply(body=minimal)
    state = driver.query(DOC_ID, agency=AGENCY)
    assert state is not None
    assert (state.document_id, state.agency, state.status) == (DOC_ID, AGENCY, None)
    assert state.legal_validity is LegalValidity.REFERENCE_ONLY
    assert state.business is BusinessDocType.NEW and state.attachments == ()


def test_query_unknown_document_is_none(driver: HttpDriver, rec: Recorder) -> None:
    rec.reply(404, {"error": "not-found", "detail": "no such document"})
    assert driver.query(DOC_ID, agency=AGENCY) is None


def test_system_operations(driver: HttpDriver, rec: Recorder) -> None:
    rec.reply(body={"offset_s": 0.25})
    driver.sync_clock()
    assert (rec.last.method, rec.last.url.path, rec.last_json()) == ("POST", "/driver/v1/clock/sync", {})
    rec.reply(body={"connected": False, "detail": "certificate has expired"})
    probe = driver.probe_hub("https://127.0.0.1:9443")
    assert (rec.last.url.path, rec.last_json()) == ("/driver/v1/hub/probe", {"url": "https://127.0.0.1:9443"})
    assert (probe.connected, probe.detail) == (False, "certificate has expired")
    driver.pause_intake(True)
    assert (rec.last.url.path, rec.last_json()) == ("/driver/v1/intake", {"paused": True})


# ------------------------------------------------------------------------------------------ errors


def test_501_is_not_supported_with_the_servers_capability(driver: HttpDriver, rec: Recorder) -> None:
    rec.reply(501, {"error": "not-supported", "capability": "probe-hub", "detail": "no TLS settings"})
    with pytest.raises(NotSupported) as exc:
        driver.probe_hub("https://x")
    assert exc.value.capability is Capability.PROBE_HUB
    assert "no TLS settings" in str(exc.value)


def test_501_with_an_unknown_capability_names_the_operations_own(driver: HttpDriver, rec: Recorder) -> None:
    rec.reply(501, {"error": "not-supported", "capability": "whatever"})
    with pytest.raises(NotSupported) as exc:
        driver.recall(DOC_ID, agency=AGENCY, form="package", reason="r")
    assert exc.value.capability is Capability.RECALL


def test_4xx_carries_the_servers_error_and_detail(driver: HttpDriver, rec: Recorder) -> None:
    rec.reply(409, {"error": "illegal-transition", "detail": "document is at 05; 04 would go backwards"})
    with pytest.raises(DriverError) as exc:
        driver.advance(DOC_ID, agency=AGENCY, status=StatusCode.ASSIGNED)
    assert not isinstance(exc.value, NotSupported)
    message = str(exc.value)
    assert "refused 'advance' (HTTP 409)" in message
    assert "illegal-transition: document is at 05; 04 would go backwards" in message


def test_404_without_json_points_at_the_url(driver: HttpDriver, rec: Recorder) -> None:
    rec.reply(404, text="<html>Not Found</html>")
    with pytest.raises(DriverError, match=r"HTTP 404 without the JSON error body.*driver\.url"):
        driver.query(DOC_ID, agency=AGENCY)


def test_5xx_is_a_driver_failure(driver: HttpDriver, rec: Recorder) -> None:
    rec.reply(500, {"error": "internal", "detail": "NullPointerException"})
    with pytest.raises(DriverError, match=r"failed on 'send' \(HTTP 500\): internal: NullPointerException"):
        driver.send_document(DOCUMENT)


def test_a_success_that_is_not_json(driver: HttpDriver, rec: Recorder) -> None:
    rec.reply(200, text="<html>welcome</html>")
    with pytest.raises(DriverError, match=r"not the driver API's JSON.*driver\.url"):
        driver.info()


@pytest.mark.parametrize(
    ("reply", "field"),
    [
        ({**STATE_JSON, "status": "7"}, "status"),
        ({**STATE_JSON, "legal_validity": "legal"}, "legal_validity"),
        ({**STATE_JSON, "direction": "in"}, "direction"),
        ({**STATE_JSON, "priority": 9}, "priority"),
        ({**STATE_JSON, "active": "yes"}, "active"),
        ({**STATE_JSON, "updated_at": "yesterday"}, "updated_at"),
        ({**STATE_JSON, "attachments": [{"name": "a", "sha256": "x", "size": -1}]}, "attachments[0].size"),
        (
            {**STATE_JSON, "statuses_from_receivers": {"000.00.00.G22": "3"}},
            "statuses_from_receivers.000.00.00.G22",
        ),
    ],
)
def test_malformed_query_reply_names_the_field(
    driver: HttpDriver, rec: Recorder, reply: dict[str, Any], field: str
) -> None:
    rec.reply(body=reply)
    with pytest.raises(DriverError) as exc:
        driver.query(DOC_ID, agency=AGENCY)
    assert f"wrong shape: {field}:" in str(exc.value)
    assert "driver-openapi.json" in str(exc.value)


def test_send_reply_without_document_id(driver: HttpDriver, rec: Recorder) -> None:
    rec.reply(body={"hub_doc_ids": []})
    with pytest.raises(DriverError, match="document_id: missing"):
        driver.send_document(DOCUMENT)


def test_connect_error_says_what_to_check(driver: HttpDriver, rec: Recorder) -> None:
    rec.replies.append(httpx.ConnectError("connection refused"))
    with pytest.raises(DriverError) as exc:
        driver.info()
    message = str(exc.value)
    assert f"the SUT's test driver at {URL} is unreachable" in message
    assert "is the vendor's driver running" in message and "driver.url" in message


def test_timeout_says_what_to_check(driver: HttpDriver, rec: Recorder) -> None:
    rec.replies.append(httpx.ReadTimeout("slow"))
    with pytest.raises(DriverError, match=r"did not answer 'send' .* within 2 s.*driver\.timeout_s"):
        driver.send_document(DOCUMENT)


def test_real_connection_refused() -> None:
    with socket.socket() as s:  # a port that nothing listens on once closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with (
        HttpDriver(f"http://127.0.0.1:{port}", timeout=2.0) as d,
        pytest.raises(DriverError, match="unreachable"),
    ):
        d.info()


# ------------------------------------------------------------------------------------------ wire shapes


def test_outgoing_round_trip() -> None:
    assert outgoing_from_json(outgoing_to_json(DOCUMENT)) == OutgoingDocument(
        from_=DOCUMENT.from_,
        to=tuple(DOCUMENT.to),
        subject=DOCUMENT.subject,
        priority=DOCUMENT.priority,
        attachments=tuple(DOCUMENT.attachments),
        response_for=DOCUMENT.response_for,
        sign=DOCUMENT.sign,
    )


def test_outgoing_defaults_and_errors() -> None:
    doc = outgoing_from_json({"from": AGENCY, "to": ["000.00.00.G22"], "subject": "s"})
    assert (doc.priority, doc.attachments, doc.response_for, doc.sign) == (Priority.NORMAL, (), None, True)
    with pytest.raises(WireError, match=r"^to\[1\]: must be a string"):
        outgoing_from_json({"from": AGENCY, "to": ["a", 5], "subject": "s"})
    with pytest.raises(WireError, match=r"^attachments\[0\]\.content_base64: is not valid base64"):
        outgoing_from_json(
            {
                "from": AGENCY,
                "to": ["a"],
                "subject": "s",
                "attachments": [{"name": "x", "content_base64": "!!"}],
            }
        )


def test_state_round_trip() -> None:
    state = state_from_json(STATE_JSON)
    assert state_from_json(state_to_json(state)) == state


# ------------------------------------------------------------------------------------------ end to end


class RecordingDriver:
    """An in-process SutDriver that records what reached it (behind the reference driver app)."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def info(self) -> DriverInfo:
        return DriverInfo("Fake QLVB", "1.0", (AGENCY, "000.01.12.H29"), frozenset(Capability))

    def send_document(self, document: OutgoingDocument) -> SentRef:
        self.calls.append(("send", document))
        return SentRef(DOC_ID, ("hub-1",))

    def recall(self, document_id: str, *, agency: str, form: str, reason: str) -> None:
        self.calls.append(("recall", document_id, agency, form, reason))

    def update(
        self,
        document_id: str,
        *,
        agency: str,
        reason: str,
        subject: str | None = None,
        add_receivers: Sequence[str] = (),
        remove_receivers: Sequence[str] = (),
    ) -> None:
        self.calls.append(
            ("update", document_id, agency, reason, subject, list(add_receivers), list(remove_receivers))
        )

    def replace(self, document_id: str, *, agency: str, reason: str, new: OutgoingDocument) -> SentRef:
        self.calls.append(("replace", document_id, agency, reason, new))
        return SentRef("000.00.12.H29,2026/11/24,13/STC-VP", ())

    def advance(
        self, document_id: str, *, agency: str, status: StatusCode, description: str | None = None
    ) -> None:
        self.calls.append(("advance", document_id, agency, status, description))

    def refuse(self, document_id: str, *, agency: str, reason: str) -> None:
        self.calls.append(("refuse", document_id, agency, reason))

    def answer_recall(self, document_id: str, *, agency: str, agree: bool, reason: str | None = None) -> None:
        self.calls.append(("answer-recall", document_id, agency, agree, reason))

    def query(self, document_id: str, *, agency: str) -> SutDocumentState | None:
        self.calls.append(("query", document_id, agency))
        return state_from_json(STATE_JSON) if document_id == DOC_ID else None

    def sync_clock(self) -> None:
        self.calls.append(("sync-clock",))

    def probe_hub(self, url: str) -> ProbeResult:
        self.calls.append(("probe-hub", url))
        return ProbeResult(False, "certificate has expired")

    def pause_intake(self, paused: bool) -> None:
        raise NotSupported(Capability.PAUSE_INTAKE, "this QLVB cannot pause its intake")


def test_end_to_end_through_the_reference_driver_app_over_http() -> None:
    """HttpDriver → real HTTP (uvicorn) → simulator.sut.driver_app → an in-process driver, every
    operation, with a DocumentId holding '/', ',' and 'Đ' in the path."""
    from simulator.sut.driver_app import create_driver_app
    from simulator.sut.target import _ServedApp

    fake = RecordingDriver()
    served = _ServedApp(create_driver_app(fake), "127.0.0.1").start()
    try:
        with HttpDriver(served.url, timeout=5.0, agencies=[AGENCY, "000.01.12.H29"]) as driver:
            assert driver.check().capabilities == frozenset(Capability)
            assert driver.send_document(DOCUMENT) == SentRef(DOC_ID, ("hub-1",))
            driver.recall(DOC_ID, agency=AGENCY, form="package", reason="gửi nhầm")
            driver.update(DOC_ID, agency=AGENCY, reason="bổ sung", remove_receivers=["000.00.00.H41"])
            new = driver.replace(DOC_ID, agency=AGENCY, reason="sai", new=DOCUMENT)
            driver.advance(DOC_ID, agency=AGENCY, status=StatusCode.IN_PROGRESS)
            driver.refuse(DOC_ID, agency=AGENCY, reason="không đúng thẩm quyền")
            driver.answer_recall(DOC_ID, agency=AGENCY, agree=True)
            state = driver.query(DOC_ID, agency=AGENCY)
            missing = driver.query(DOC_ID + "9", agency=AGENCY)
            driver.sync_clock()
            probe = driver.probe_hub("https://127.0.0.1:9443")
            with pytest.raises(NotSupported) as exc:
                driver.pause_intake(True)
    finally:
        served.stop()
    sent = OutgoingDocument(
        DOCUMENT.from_,
        tuple(DOCUMENT.to),
        DOCUMENT.subject,
        DOCUMENT.priority,
        tuple(DOCUMENT.attachments),
        DOCUMENT.response_for,
        DOCUMENT.sign,
    )
    assert fake.calls == [
        ("send", sent),
        ("recall", DOC_ID, AGENCY, "package", "gửi nhầm"),
        ("update", DOC_ID, AGENCY, "bổ sung", None, [], ["000.00.00.H41"]),
        ("replace", DOC_ID, AGENCY, "sai", sent),
        ("advance", DOC_ID, AGENCY, StatusCode.IN_PROGRESS, None),
        ("refuse", DOC_ID, AGENCY, "không đúng thẩm quyền"),
        ("answer-recall", DOC_ID, AGENCY, True, None),
        ("query", DOC_ID, AGENCY),
        ("query", DOC_ID + "9", AGENCY),
        ("sync-clock",),
        ("probe-hub", "https://127.0.0.1:9443"),
    ]
    assert new.document_id == "000.00.12.H29,2026/11/24,13/STC-VP"
    assert state == state_from_json(STATE_JSON)
    assert missing is None
    assert probe == ProbeResult(False, "certificate has expired")
    assert exc.value.capability is Capability.PAUSE_INTAKE


def test_a_404_that_is_not_not_found_is_a_wrong_url(driver: HttpDriver, rec: Recorder) -> None:
    rec.reply(404, {"error": "no-such-route", "detail": "no driver operation at /api/driver/v1/..."})
    with pytest.raises(DriverError, match=r"HTTP 404\): no-such-route.*is driver\.url the base URL"):
        driver.query(DOC_ID, agency=AGENCY)
