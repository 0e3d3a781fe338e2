"""open_target: config and defect errors, an unreachable or inconsistent driver, an external target in
http and manual mode against a real embedded hub, and the reference target (when it exists)."""

from __future__ import annotations

import importlib.util
import io
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from simulator.agency.client import VxpClient
from simulator.edxml.builder import build
from simulator.edxml.identifiers import parse_agency_code
from simulator.edxml.model import Organization, Priority
from simulator.edxml.samples import sample_document
from simulator.hub.embedded import EmbeddedHubError
from simulator.sut.config import SutConfigError
from simulator.sut.driver import DriverError, OutgoingDocument
from simulator.sut.http_driver import HttpDriver
from simulator.sut.manual_driver import ManualDriver
from simulator.sut.target import HARNESS_SYSTEM_ID, harness_agency_codes, open_target

SUT_AGENCIES = ["000.00.12.H29", "000.01.12.H29"]
SECRET = "acme-secret-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def sut_toml(
    tmp_path: Path, *, driver: str, port: int, system_id: str = "acme.qlvb.01", extra: str = ""
) -> Path:
    path = tmp_path / "sut.toml"
    path.write_text(
        f"""
name = "QLVB Acme 3.2"
[hub]
port = {port}
system_id = "{system_id}"
secret = "{SECRET}"
agencies = {json.dumps(SUT_AGENCIES)}
[driver]
{driver}
timeout_s = 2
[timing]
status_timeout_s = 7
{extra}
""",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def info_server() -> Iterator[tuple[str, dict[str, Any]]]:
    """A stdlib HTTP server answering GET /driver/v1/info with a mutable reply."""
    reply: dict[str, Any] = {
        "product": "QLVB Acme",
        "version": "3.2",
        "agencies": list(SUT_AGENCIES),
        "capabilities": ["send"],
    }

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(reply).encode()
            status = 200 if self.path == "/driver/v1/info" else 404
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", reply
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


# ------------------------------------------------------------------------------------------ errors


def test_missing_sut_toml(tmp_path: Path) -> None:
    with (
        pytest.raises(SutConfigError, match="no such file"),
        open_target(tmp_path / "nope.toml", workdir=tmp_path),
    ):
        pass


def test_defects_are_for_the_reference_only(tmp_path: Path) -> None:
    path = sut_toml(tmp_path, driver='url = "http://127.0.0.1:1"', port=free_port())
    with (
        pytest.raises(
            SutConfigError, match="--defect skips-01: defects are variants of the built-in reference"
        ),
        open_target(path, defects=["skips-01"], workdir=tmp_path),
    ):
        pass


def test_unknown_defect_lists_the_valid_names(tmp_path: Path) -> None:
    with (
        pytest.raises(SutConfigError) as exc,
        open_target("reference", defects=["no-such-defect"], workdir=tmp_path),
    ):
        pass
    assert "'no-such-defect'" in str(exc.value)
    assert "accepts-bad-signature" in str(exc.value)


def test_the_harness_system_id_is_reserved(tmp_path: Path) -> None:
    path = sut_toml(
        tmp_path, driver='url = "http://127.0.0.1:1"', port=free_port(), system_id=HARNESS_SYSTEM_ID
    )
    with pytest.raises(SutConfigError, match="reserved for the harness"), open_target(path, workdir=tmp_path):
        pass


def test_unreachable_driver_stops_the_hub_and_says_what_to_check(tmp_path: Path) -> None:
    port = free_port()
    path = sut_toml(tmp_path, driver=f'url = "http://127.0.0.1:{free_port()}"', port=port)
    with pytest.raises(DriverError) as exc, open_target(path, workdir=tmp_path):
        pytest.fail("open_target yielded although the driver is unreachable")
    message = str(exc.value)
    assert message.startswith(f"QLVB Acme 3.2 ({path}): ")
    assert "is unreachable" in message and "driver.url" in message
    assert port_is_free(port), "the hub was not stopped"


def test_driver_with_other_agencies_is_refused(
    tmp_path: Path, info_server: tuple[str, dict[str, Any]]
) -> None:
    url, reply = info_server
    reply["agencies"] = ["000.00.12.H29"]
    path = sut_toml(tmp_path, driver=f'url = "{url}"', port=free_port())
    with (
        pytest.raises(DriverError, match=r"reports agencies \[000\.00\.12\.H29\] but sut\.toml"),
        open_target(path, workdir=tmp_path),
    ):
        pass


# ------------------------------------------------------------------------------------------ external targets


def test_external_http_target(tmp_path: Path, info_server: tuple[str, dict[str, Any]]) -> None:
    url, _ = info_server
    port = free_port()
    with open_target(sut_toml(tmp_path, driver=f'url = "{url}"', port=port), workdir=tmp_path) as target:
        assert target.kind == "external" and target.name == "QLVB Acme 3.2"
        assert isinstance(target.driver, HttpDriver)
        assert target.info is not None and target.info.product == "QLVB Acme"
        assert target.hub_url == f"http://127.0.0.1:{port}"
        assert target.sut_system_id == "acme.qlvb.01" and target.sut_agencies == tuple(SUT_AGENCIES)
        assert target.timing.status_timeout_s == 7
        # the harness's agencies: three distinct conforming codes, none of the SUT's
        assert len(set(target.harness_agencies)) == 3
        assert not set(target.harness_agencies) & set(SUT_AGENCIES)
        for code in target.harness_agencies:
            assert parse_agency_code(code, strict=True).conforming
        systems = {s.id: s for s in target.hub_config.systems}
        assert systems["acme.qlvb.01"].agencies == tuple(SUT_AGENCIES)
        assert systems[HARNESS_SYSTEM_ID].agencies == target.harness_agencies
        directory = {a.code: a.name for a in target.hub_config.agencies}
        assert all(directory.get(c) for c in target.harness_agencies)
        # the SUT's credentials from sut.toml work at the hub
        with VxpClient(target.hub_url, "acme.qlvb.01", SECRET, timeout=5) as sut:
            assert sut.get_received_edoc_list() == []
        assert any("configure QLVB Acme 3.2" in note for note in target.notes)
    assert port_is_free(port), "the hub was not stopped"


def test_external_manual_target_sees_the_operators_document(tmp_path: Path) -> None:
    out = io.StringIO()
    path = sut_toml(tmp_path, driver='mode = "manual"', port=free_port(), extra="operator_timeout_s = 10")
    with open_target(path, workdir=tmp_path, console=Console(file=out, width=300)) as target:
        driver = target.driver
        assert isinstance(driver, ManualDriver)
        recipient = target.harness_agencies[0]
        subject = "V/v kiểm tra chế độ thủ công"
        package = sample_document(
            seed=3,
            sender=Organization(SUT_AGENCIES[0], "Sở Tài chính"),
            recipients=[Organization(recipient, "Cơ quan nhận")],
            attachments=0,
        )
        package.header.subject = subject
        hub_doc_ids: list[str] = []

        def operator() -> None:  # acts once the instruction is printed, as a person would
            deadline = time.monotonic() + 5
            while driver.steps == 0 and time.monotonic() < deadline:
                time.sleep(0.01)
            with VxpClient(target.hub_url, target.sut_system_id, SECRET, timeout=5) as sut:
                hub_doc_ids.append(sut.send_edoc(build(package), from_=SUT_AGENCIES[0], to=[recipient]))

        thread = threading.Thread(target=operator)
        thread.start()
        try:
            ref = driver.send_document(
                OutgoingDocument(SUT_AGENCIES[0], [recipient], subject, priority=Priority.URGENT)
            )
        finally:
            thread.join(10)
        assert ref.document_id == package.header.document_id
        assert ref.hub_doc_ids == tuple(hub_doc_ids)
    assert "[1] In QLVB Acme 3.2, send a document" in out.getvalue()


# ------------------------------------------------------------------------------------------ reference


def test_harness_agency_codes_are_reproducible_and_exclusive() -> None:
    first = harness_agency_codes(4)
    assert first == harness_agency_codes(4)
    again = harness_agency_codes(4, exclude=first[:2])
    assert not set(again) & set(first[:2])


@pytest.mark.skipif(
    importlib.util.find_spec("simulator.sut.reference") is None,
    reason="simulator/sut/reference.py (the reference QLVB) is not there yet",
)
def test_reference_target_opens_and_closes(tmp_path: Path) -> None:
    with open_target("reference", workdir=tmp_path) as target:
        assert target.kind == "reference" and target.defects == ()
        info = target.driver.info()
        assert set(info.agencies) == set(target.sut_agencies)
        assert not set(target.sut_agencies) & set(target.harness_agencies)
        port = int(target.hub_url.rsplit(":", 1)[1])
        assert not port_is_free(port)
    assert port_is_free(port)


@pytest.mark.skipif(
    importlib.util.find_spec("simulator.sut.reference") is None
    or importlib.util.find_spec("simulator.sut.driver_app") is None,
    reason="the reference QLVB and its driver app (simulator/sut/driver_app.py) are not both there yet",
)
def test_reference_target_driven_over_http(tmp_path: Path) -> None:
    with open_target("reference", workdir=tmp_path, reference_transport="http") as target:
        assert isinstance(target.driver, HttpDriver)
        info = target.driver.check()
        assert set(info.agencies) == set(target.sut_agencies)
        assert target.info == info
        unknown = "000.00.00.G22,2026/11/23,7816/VPCP-TTĐT"
        assert target.driver.query(unknown, agency=target.sut_agencies[0]) is None
        driver_port = int(target.driver.url.rsplit(":", 1)[1])
        assert not port_is_free(driver_port)
    assert port_is_free(driver_port), "the driver API server was not stopped"


def test_hub_port_taken_names_the_setting(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        path = sut_toml(tmp_path, driver='url = "http://127.0.0.1:1"', port=port)
        with pytest.raises(EmbeddedHubError) as exc, open_target(path, workdir=tmp_path):
            pass
    message = str(exc.value)
    assert f"hub.port = {port}: the simulated hub cannot start" in message
    assert "choose another port" in message
