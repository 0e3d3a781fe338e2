"""Fixtures for the hub tests: a configured hub on a temporary data directory, a test-side SDK signer
(written here from the spec, independently of the server code), and signed sample packages.

The test PKI is created once per session and copied into each hub's ``data_dir/pki``, so key
generation does not repeat per test.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from simulator.edxml.builder import build
from simulator.edxml.model import DocumentPackage, Organization, StatusCode, StatusPackage
from simulator.edxml.samples import sample_document, sample_status
from simulator.hub.app import create_app
from simulator.hub.config import HubConfig, parse_config
from simulator.pki.ca import Credential, TestCA
from simulator.pki.dsig import sign

SECRET_A = "SimSecret-NOT-REAL-0123456789abcdef"
SECRET_B = "SimSecret-B-NOT-REAL-fedcba9876543210"
SECRET_C = "SimSecret-C-NOT-REAL-0000111122223333"
SYS_A, SYS_B, SYS_C = "sim.test.01", "sim.test.02", "sim.test.03"
# A hosts two agencies, B one, C one.
VPCP, SO_TC, UBND, SO_NV = "000.00.00.G22", "002.00.20.H13", "000.00.00.H41", "000.00.01.H41"
SECRETS = {SYS_A: SECRET_A, SYS_B: SECRET_B, SYS_C: SECRET_C}
OWNER = {VPCP: SYS_A, SO_TC: SYS_A, UBND: SYS_B, SO_NV: SYS_C}
NAMES = {VPCP: "Văn phòng Chính phủ", SO_TC: "Sở Tài chính", UBND: "UBND tỉnh Thử nghiệm", SO_NV: "Sở Nội vụ"}
TS = "23112026T083850+0866"


def config_data(data_dir: Path, **policies: Any) -> dict[str, Any]:
    return {
        "data_dir": str(data_dir),
        "systems": [
            {"id": SYS_A, "secret": SECRET_A, "agencies": [VPCP, SO_TC]},
            {"id": SYS_B, "secret": SECRET_B, "agencies": [UBND]},
            {"id": SYS_C, "secret": SECRET_C, "agencies": [SO_NV]},
        ],
        "agencies": [
            {"code": c, "name": n, "mail": f"vt{i}@test.gov.vn"} for i, (c, n) in enumerate(NAMES.items())
        ]
        + [{"code": "000.00.09.H41", "name": "Đơn vị ngoài trục", "parent": UBND}],
        "policies": policies,
        "max_package_bytes": 2 * 1024 * 1024,
    }


# ------------------------------------------------------------------------------------ test-side signer


def sdk_hash_file(data: bytes) -> str:
    return "".join(format(b, "x") for b in hashlib.sha256(data).digest())


def sdk_headers(
    system_id: str,
    secret: str,
    params: Mapping[str, str],
    *,
    content_type: str = "application/json",
    hash_file: str | None = None,
    timestamp: str = TS,
) -> dict[str, str]:
    """The headers the SDK sends (spec §2), signed here from scratch (insertion order)."""
    entries: dict[str, str] = {
        "timestamp": timestamp,
        "systemid": system_id,
        **params,
        "Content-Type": content_type,
    }
    if hash_file is not None:
        entries["hash-file"] = hash_file
    signed = {f"XroadVnpt-{k}": v for k, v in entries.items()}
    sign_header = json.dumps(signed, separators=(",", ":"), ensure_ascii=False)
    mac = hmac.new(secret.encode("utf-8"), sign_header.encode("utf-8"), hashlib.sha256).hexdigest()
    return {
        "Content-Type": content_type,
        **signed,
        "XroadVnpt-sign-header-key": ";".join(entries),
        "XroadVnpt-sign-header": sign_header,
        "XroadVnpt-hash-header": mac,
        "XroadVnpt-version": "3.0.201608",
        "User-Agent": "JAVASDKAgent/1.0.0 XRoad/VPCP",
    }


# ------------------------------------------------------------------------------------------ packages


def org(code: str) -> Organization:
    return Organization(
        organ_id=code, organ_name=NAMES.get(code, "Cơ quan thử nghiệm"), email="vt@test.gov.vn"
    )


@dataclass
class Pki:
    directory: Path
    ca: TestCA
    creds: dict[str, Credential]

    def sign(self, package: DocumentPackage | StatusPackage, organ_id: str | None = None) -> bytes:
        sender = organ_id or package.header.from_.organ_id
        return sign(build(package), self.creds[sender])


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory = tmp_path_factory.mktemp("pki")
    ca = TestCA.open(directory)
    creds = {code: ca.issue(f"agency-{code}", organ_id=code, common_name=NAMES[code]) for code in NAMES}
    return Pki(directory, ca, creds)


def document(sender: str, recipients: list[str], *, seed: int = 1, **kw: Any) -> DocumentPackage:
    return sample_document(
        seed=seed,
        sender=org(sender),
        recipients=[org(r) for r in recipients],
        attachment_size=kw.pop("attachment_size", 2_000),
        **kw,
    )


def status(doc: DocumentPackage, code: str, reporter: str, seed: int = 1) -> StatusPackage:
    return sample_status(doc, StatusCode(code), reporter=org(reporter), seed=seed)


# --------------------------------------------------------------------------------------------- hub


class Hub:
    """A TestClient-driven hub with helpers that sign like the SDK."""

    def __init__(self, client: TestClient, config: HubConfig) -> None:
        self.client = client
        self.config = config

    @property
    def service(self) -> Any:
        return self.client.app.state.hub  # type: ignore[attr-defined]

    def call(
        self,
        system: str,
        operation: str,
        params: Mapping[str, str] | None = None,
        *,
        body: bytes = b"",
        method: str = "POST",
        secret: str | None = None,
        extra: Mapping[str, str] | None = None,
        content_type: str = "application/json",
        hash_file: str | None = None,
    ) -> Any:
        headers = sdk_headers(
            system, secret or SECRETS[system], params or {}, content_type=content_type, hash_file=hash_file
        )
        headers.update(extra or {})
        wire = {k: v.encode("utf-8") for k, v in headers.items()}  # bytes: non-ASCII values go out as UTF-8
        return self.client.request(method, f"/{operation}", headers=wire, content=body)

    def send(
        self,
        system: str,
        data: bytes,
        *,
        from_: str | None,
        messagetype: str = "edoc",
        to: list[str] | None = None,
        hash_file: str | None = None,
        crlf: bool = True,
        secret: str | None = None,
    ) -> Any:
        params: dict[str, str] = {"servicetype": "eDoc", "messagetype": messagetype}
        if from_ is not None:
            params["from"] = from_
        if to is not None:
            params["to"] = json.dumps([{"code": c} for c in to], separators=(",", ":"))
        return self.call(
            system,
            "sendEdoc",
            params,
            body=data + (b"\r\n" if crlf else b""),
            secret=secret,
            content_type="application/octet-stream",
            hash_file=hash_file if hash_file is not None else sdk_hash_file(data),
        )

    def received(self, system: str, messagetype: str = "edoc") -> list[dict[str, Any]]:
        r = self.call(system, "getReceivedEdocList", {"servicetype": "eDoc", "messagetype": messagetype})
        assert r.status_code == 200, r.text
        items: list[dict[str, Any]] = r.json()["data"]
        return items

    def get_edoc(self, system: str, doc_id: str) -> bytes:
        r = self.call(system, "getEdoc", {"docId": doc_id}, body=b"{}")
        assert r.status_code == 200, r.text
        return base64.b64decode(r.json()["data"])

    def ack(self, system: str, doc_id: str, status: str = "done") -> Any:
        return self.call(system, "updateStatus", {"docId": doc_id, "status": status}, body=b"{}")

    def evidence(self) -> list[dict[str, Any]]:
        return list(self.service.store.evidence())


@pytest.fixture
def make_hub(tmp_path: Path, pki: Pki) -> Iterator[Any]:
    clients: list[TestClient] = []

    def make(**policies: Any) -> Hub:
        data_dir = tmp_path / f"hub{len(clients)}"
        data_dir.mkdir()
        shutil.copytree(pki.directory, data_dir / "pki")
        config = parse_config(config_data(data_dir, **policies))
        client = TestClient(create_app(config), raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return Hub(client, config)

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def hub(make_hub: Any) -> Hub:
    return make_hub()
