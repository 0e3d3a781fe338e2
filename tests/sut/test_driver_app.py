"""The driver API served for the reference QLVB: every route, percent-encoded DocumentIds, the error
statuses (400/404/405/409/501/503/500), the harness's own client (HttpDriver) against it, and the
``lienthong reference-qlvb`` command serving it on a real socket."""

from __future__ import annotations

import base64
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from starlette.testclient import TestClient

from simulator.agency.client import DriverClient, driver_path
from simulator.edxml.model import Priority, StatusCode
from simulator.sut.defects import DEFECTS
from simulator.sut.driver import (
    Capability,
    DriverError,
    DriverInfo,
    LegalValidity,
    NotSupported,
    OutgoingDocument,
    ProbeResult,
)
from simulator.sut.driver_app import create_driver_app
from simulator.sut.http_driver import HttpDriver
from simulator.sut.reference import HubUnavailable
from tests.sut.reference_world import H1, H2, World, open_world, tamper

S = StatusCode


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    yield from open_world(tmp_path_factory, systems=12)


def _path(*segments: str) -> str:
    return "/driver/v1" + "".join("/" + quote(s, safe="") for s in segments)


def _send_body(agency: str, **extra: Any) -> dict[str, Any]:
    return {
        "from": agency,
        "to": [H1],
        "subject": "V/v thử nghiệm API điều khiển",
        "priority": 2,
        "attachments": [{"name": "a.txt", "content_base64": base64.b64encode(b"noi dung").decode()}],
        "sign": True,
        **extra,
    }


def test_encoded_document_ids_reach_the_handler_intact(world: World) -> None:
    q = world.qlvb()
    a = q.agencies[0]
    app = q.driver_app()
    with TestClient(app) as client:
        sent = world.send(a)
        q.poll_once()
        doc_id = sent.document_id
        assert "/" in doc_id and "," in doc_id
        encoded = _path("documents", doc_id)
        assert "%2F" in encoded and "%2C" in encoded
        r = client.get(encoded, params={"agency": a})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["document_id"] == doc_id and body["status"] == "03" and body["direction"] == "received"
        assert body["legal_validity"] == "signed-valid" and body["active"] is True
        assert body["priority"] == int(sent.model.header.priority) and body["business"] == 0
        assert len(body["attachments"]) == 1 and set(body["attachments"][0]) == {"name", "sha256", "size"}
        assert body["statuses_from_receivers"] == {} and body["updated_at"].endswith("+07:00")
        # the same path built by the harness's client helper
        assert driver_path("documents", doc_id) == encoded
        # advance through the operation-suffixed routes with the encoded id
        for code in ("04", "05"):
            r = client.post(_path("received", doc_id, "status"), params={"agency": a}, json={"status": code})
            assert r.status_code == 200 and r.json() == {}, r.text
        r = client.post(_path("received", doc_id, "status"), params={"agency": a}, json={"status": "04"})
        assert r.status_code == 409 and r.json()["error"] == "conflict" and "backwards" in r.json()["detail"]
        assert world.codes(doc_id) == ["01", "03", "04", "05"]


def test_sending_side_routes(world: World) -> None:
    q = world.qlvb()
    a = q.agencies[0]
    with TestClient(q.driver_app()) as client:
        r = client.get("/driver/v1/info")
        assert r.status_code == 200
        info = r.json()
        assert info["agencies"] == list(q.agencies) and "send" in info["capabilities"] and info["product"]
        r = client.post("/driver/v1/documents", json=_send_body(a))
        assert r.status_code == 200, r.text
        first = r.json()["document_id"]
        assert len(r.json()["hub_doc_ids"]) == 1
        got = world.documents(lambda d: d.model.header.document_id == first)
        assert len(got) == 1 and got[0].model.header.priority is Priority.VERY_URGENT
        r = client.get(_path("documents", first), params={"agency": a})
        assert r.json()["direction"] == "sent" and r.json()["attachments"][0]["size"] == len(b"noi dung")
        r = client.post(
            _path("documents", first, "update"),
            params={"agency": a},
            json={"reason": "Bổ sung", "subject": "V/v mới", "add_receivers": [H2], "remove_receivers": []},
        )
        assert r.status_code == 200, r.text
        r = client.post(
            _path("documents", first, "replace"),
            params={"agency": a},
            json={"reason": "Thay thế", "new": _send_body(a, subject="V/v thay thế")},
        )
        assert r.status_code == 200, r.text
        replacement = r.json()["document_id"]
        assert replacement != first
        r = client.post(
            _path("documents", replacement, "recall"),
            params={"agency": a},
            json={"form": "status", "reason": "x"},
        )
        assert r.status_code == 200, r.text
        assert world.codes(replacement) == ["13"]
        # errors
        bad = client.post("/driver/v1/documents", json=_send_body(a, to="not-a-list"))
        assert (
            bad.status_code == 400 and bad.json()["error"] == "bad-request" and "to" in bad.json()["detail"]
        )
        bad = client.post(
            "/driver/v1/documents", content=b"{not json", headers={"content-type": "application/json"}
        )
        assert bad.status_code == 400
        bad = client.post("/driver/v1/documents", json=_send_body(H1))
        assert bad.status_code == 400 and "not hosted" in bad.json()["detail"]
        bad = client.post(
            _path("documents", first, "recall"), params={"agency": a}, json={"form": "fax", "reason": "x"}
        )
        assert bad.status_code == 400 and "form" in bad.json()["detail"]
        missing = client.post(
            _path("documents", "000.00.00.G07,2026/01/01,1/X", "recall"),
            params={"agency": a},
            json={"form": "package", "reason": "x"},
        )
        assert missing.status_code == 404 and missing.json()["error"] == "not-found"
        no_agency = client.post(_path("documents", first, "recall"), json={"form": "package", "reason": "x"})
        assert no_agency.status_code == 400 and "agency" in no_agency.json()["detail"]


def test_receiving_side_routes_and_errors(world: World) -> None:
    q = world.qlvb()
    a = q.agencies[0]
    with TestClient(q.driver_app()) as client:
        r = client.post("/driver/v1/intake", json={"paused": True})
        assert r.status_code == 200 and r.json() == {}
        good = world.send(a)
        broken = world.send(a, mutate=tamper)
        assert q.poll_once() == 0
        client.post("/driver/v1/intake", json={"paused": False})
        q.poll_once()
        r = client.post(
            _path("received", good.document_id, "refuse"), params={"agency": a}, json={"reason": "x"}
        )
        assert r.status_code == 409  # 02 after 03
        r = client.post(
            _path("received", good.document_id, "refuse"), params={"agency": a}, json={"reason": ""}
        )
        assert r.status_code == 400
        r = client.post(
            _path("received", broken.document_id, "status"), params={"agency": a}, json={"status": "03"}
        )
        assert r.status_code == 409 and "after-final" in r.json()["detail"]
        r = client.post(
            _path("received", good.document_id, "status"), params={"agency": a}, json={"status": "99"}
        )
        assert r.status_code == 400 and r.json()["error"] == "bad-request"
        world.recall_status(good)
        q.poll_once()
        r = client.post(
            _path("received", good.document_id, "recall-answer"), params={"agency": a}, json={"agree": True}
        )
        assert r.status_code == 200  # already answered 15: idempotent
        r = client.post(
            _path("received", good.document_id, "recall-answer"), params={"agency": a}, json={"agree": False}
        )
        assert r.status_code == 409
        r = client.post(
            _path("received", good.document_id, "recall-answer"), params={"agency": a}, json={"agree": "yes"}
        )
        assert r.status_code == 400
        r = client.get(_path("documents", good.document_id), params={"agency": a})
        assert r.json()["active"] is False
        r = client.get(_path("documents", "000.00.00.G07,2026/01/01,1/X"), params={"agency": a})
        assert r.status_code == 404 and r.json()["error"] == "not-found"
        r = client.post("/driver/v1/clock/sync", json={})
        assert r.status_code == 200 and isinstance(r.json()["offset_s"], float)
        r = client.post("/driver/v1/hub/probe", json={"url": world.hub.endpoint})
        assert r.status_code == 200 and r.json()["connected"] is False and "TLS" in r.json()["detail"]
        r = client.post("/driver/v1/hub/probe", json={})
        assert r.status_code == 400 and "url" in r.json()["detail"]
        r = client.get("/driver/v1/nothing-here")
        assert r.status_code == 404 and r.json()["error"] == "no-such-route"
        r = client.get("/driver/v1/documents")
        assert r.status_code == 405 and r.json()["error"] == "method-not-allowed"


class _StubDriver:
    """A driver that supports nothing but info, and fails in chosen ways."""

    def __init__(self, failure: Exception) -> None:
        self.failure = failure

    def info(self) -> DriverInfo:
        return DriverInfo("stub", "0", ("000.00.00.G22",), frozenset({Capability.QUERY}))

    def send_document(self, document: OutgoingDocument) -> Any:
        raise NotSupported(Capability.SEND, "stub")

    def query(self, document_id: str, *, agency: str) -> Any:
        raise self.failure

    def sync_clock(self) -> None:
        raise self.failure

    def probe_hub(self, url: str) -> ProbeResult:
        raise RuntimeError("bug in the driver")

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(name)


@pytest.mark.parametrize(
    ("failure", "status", "error"),
    [
        (HubUnavailable("the hub is down"), 503, "hub-unavailable"),
        (DriverError("something else"), 502, "driver-error"),
        (NotSupported(Capability.QUERY, "manual mode"), 501, "not-supported"),
    ],
)
def test_error_statuses_of_a_failing_driver(failure: Exception, status: int, error: str) -> None:
    with TestClient(create_driver_app(_StubDriver(failure)), raise_server_exceptions=False) as client:
        r = client.get(_path("documents", "a,b/c"), params={"agency": "000.00.00.G22"})
        assert r.status_code == status and r.json()["error"] == error
        if status == 501:
            assert r.json()["capability"] == "query"
        r = client.post("/driver/v1/documents", json=_send_body("000.00.00.G22"))
        assert r.status_code == 501 and r.json() == {
            "error": "not-supported",
            "detail": "the SUT's driver does not support 'send': stub",
            "capability": "send",
        }
        r = client.post("/driver/v1/hub/probe", json={"url": "https://x"})
        assert (
            r.status_code == 500
            and r.json()["error"] == "internal"
            and "bug in the driver" in r.json()["detail"]
        )


def test_the_harness_http_driver_works_against_it(world: World) -> None:
    q = world.qlvb()
    a = q.agencies[0]
    app = q.driver_app()
    with TestClient(app, base_url="http://driver.test") as http:
        driver = HttpDriver("http://driver.test", client=DriverClient("http://driver.test", http_client=http))
        info = driver.info()
        assert info.agencies == q.agencies and info.capabilities == frozenset(Capability)
        sent = world.send(a)
        q.poll_once()
        state = driver.query(sent.document_id, agency=a)
        assert (
            state is not None
            and state.status is S.ACCEPTED
            and state.legal_validity is LegalValidity.SIGNED_VALID
        )
        driver.advance(sent.document_id, agency=a, status=S.COMPLETED)
        with pytest.raises(DriverError, match="after-final"):
            driver.advance(sent.document_id, agency=a, status=S.ASSIGNED)
        assert driver.query("000.00.00.G07,2026/01/01,1/X", agency=a) is None
        ref = driver.send_document(OutgoingDocument(a, [H1], "V/v qua HttpDriver"))
        assert q.query(ref.document_id, agency=a) is not None
        driver.pause_intake(True)
        driver.pause_intake(False)
        driver.sync_clock()
        assert driver.probe_hub(world.hub.endpoint).connected is False


def test_cli_serves_the_driver_api_on_a_real_socket(world: World, tmp_path: Any) -> None:
    system_id, secret = world.hub.system("sut.11")
    agencies = ",".join(next(s.agencies for s in world.hub.config.systems if s.id == system_id))
    env = {**os.environ, "LIENTHONG_HOME": str(tmp_path / "home"), "LIENTHONG_SUT_SECRET": secret}
    cmd = [
        sys.executable, "-c", "from simulator.cli import main; main()", "reference-qlvb",
        "--hub", world.hub.endpoint, "--system-id", system_id, "--agencies", agencies,
        "--driver-port", "0", "--pki", str(world.ca.directory), "--defect", "skips-01",
    ]  # fmt: skip
    with subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None and proc.stderr is not None
            url = None
            deadline = time.monotonic() + 20
            lines = []
            while url is None and time.monotonic() < deadline:
                line = proc.stdout.readline()
                if not line:
                    break
                lines.append(line)
                found = re.search(r"(http://127\.0\.0\.1:\d+)/driver/v1", line)
                if found:
                    url = found.group(1)
            assert url is not None, "".join(lines) + (proc.stderr.read() if proc.poll() is not None else "")
            assert any("skips-01" in line for line in lines)
            with DriverClient(url, timeout=5) as client:
                driver = HttpDriver(url, client=client)
                _wait_for_server(driver)
                a = agencies.split(",")[0]
                sent = world.send(a)
                deadline = time.monotonic() + 10
                while world.codes(sent.document_id) != ["03"] and time.monotonic() < deadline:
                    time.sleep(0.05)
                assert world.codes(sent.document_id) == ["03"]  # the defect: no 01
                state = driver.query(sent.document_id, agency=a)  # the encoded id through uvicorn's decoding
                assert state is not None and state.document_id == sent.document_id
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        stderr = proc.stderr.read() if proc.stderr else ""
    assert proc.returncode == 0, stderr


def _wait_for_server(driver: HttpDriver) -> None:
    deadline = time.monotonic() + 10
    while True:
        try:
            driver.info()
            return
        except DriverError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_cli_usage_errors(world: World, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from simulator.cli import app

    monkeypatch.setenv("LIENTHONG_HOME", str(tmp_path / "home"))
    runner = CliRunner()
    listed = runner.invoke(app, ["reference-qlvb", "--list-defects"])
    assert listed.exit_code == 0 and "accepts-bad-signature" in listed.stdout and "QD28-6.1" in listed.stdout
    assert len(listed.stdout.strip().splitlines()) == len(DEFECTS)
    missing = runner.invoke(app, ["reference-qlvb", "--hub", "http://127.0.0.1:9"])
    assert missing.exit_code == 2 and "--system-id" in missing.output
    args = ["reference-qlvb", "--hub", "http://127.0.0.1:9", "--system-id", "x", "--secret", "y"]
    args += ["--agencies", "000.00.00.G22", "--pki", str(world.ca.directory)]
    unknown = runner.invoke(app, [*args, "--defect", "typo"])
    assert unknown.exit_code == 2 and "valid names" in unknown.output
    bad_code = runner.invoke(app, [*args[:-4], "--agencies", "x y", "--pki", str(world.ca.directory)])
    assert bad_code.exit_code == 2 and "QD28-10.2.a" in bad_code.output
    down = runner.invoke(app, args)
    assert down.exit_code == 3 and "cannot reach the hub" in down.output
    system_id, _ = world.hub.system("sut.10")
    refused = runner.invoke(
        app, ["reference-qlvb", "--hub", world.hub.endpoint, "--system-id", system_id, "--secret", "wrong",
              "--agencies", "000.00.00.G22", "--pki", str(world.ca.directory)],
    )  # fmt: skip
    assert refused.exit_code == 2 and "VXP-AUTH" in refused.output
