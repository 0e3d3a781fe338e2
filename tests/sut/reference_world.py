"""A small world for testing the reference QLVB: one embedded hub, a harness agency, many SUT systems.

The hub (real app, real uvicorn, 127.0.0.1) is started once per test module with ``SYSTEMS`` SUT
systems pre-declared, so each test takes a fresh system (its own agencies, its own mailbox) without a
hub restart. The harness side is hand-rolled on :class:`VxpClient` (independent of the reference's
code): it sends realistic signed packages (``sample_document``), reads the statuses and documents the
SUT sent, verifies and validates them.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from simulator.agency.client import VxpClient
from simulator.edxml.builder import build
from simulator.edxml.model import (
    Business,
    BusinessDocType,
    DocumentPackage,
    Organization,
    Priority,
    StatusCode,
    StatusPackage,
)
from simulator.edxml.parser import parse
from simulator.edxml.samples import sample_document, sample_status
from simulator.hub.config import parse_config
from simulator.hub.embedded import EmbeddedHub
from simulator.pki.ca import CertVariant, Credential, TestCA
from simulator.pki.dsig import SignatureAlgorithm, sign
from simulator.sut.reference import ReferenceQlvb

SYSTEMS = 70
HARNESS = "harness.test"
HARNESS_SECRET = "harness-secret-NOT-REAL-0123456789"
H1, H2 = "000.00.00.G07", "000.00.00.G09"  # Bộ Tài chính, Bộ Tư pháp (harness agencies)
NAMES = {H1: "Bộ Tài chính", H2: "Bộ Tư pháp"}


def sut_codes(index: int) -> tuple[str, str]:
    return f"000.00.{index + 1:02d}.H31", f"000.00.{index + 1:02d}.H32"


def org(code: str) -> Organization:
    return Organization(
        organ_id=code, organ_name=NAMES.get(code, f"Sở thử nghiệm {code}"), email="vt@test.gov.vn"
    )


@dataclass
class Sent:
    """A package the harness sent."""

    document_id: str
    hub_id: str
    model: DocumentPackage
    raw: bytes


@dataclass
class SeenStatus:
    hub_id: str
    code: StatusCode
    description: str
    from_code: str
    response_for: str  # ResponseFor/DocumentId
    model: StatusPackage


@dataclass
class SeenDocument:
    hub_id: str
    to: str
    raw: bytes
    model: DocumentPackage


@dataclass
class World:
    hub: EmbeddedHub
    ca: TestCA
    creds: dict[str, Credential]
    harness: VxpClient
    systems: int = SYSTEMS
    _next: Iterator[int] = field(default_factory=itertools.count)
    _qlvbs: list[ReferenceQlvb] = field(default_factory=list)
    statuses_seen: list[SeenStatus] = field(default_factory=list)
    documents_seen: list[SeenDocument] = field(default_factory=list)
    _seed: Iterator[int] = field(default_factory=lambda: itertools.count(100))

    # ------------------------------------------------------------------ the SUT
    def qlvb(self, defects: Sequence[str] = (), **kwargs: object) -> ReferenceQlvb:
        """A reference QLVB on a fresh system of the hub (stopped at the end of the module)."""
        index = next(self._next)
        if index >= self.systems:
            raise RuntimeError(f"the test module used more than the {self.systems} SUT systems of its hub")
        system_id = f"sut.{index:02d}"
        _, secret = self.hub.system(system_id)
        codes = sut_codes(index)
        q = ReferenceQlvb(
            self.hub.endpoint,
            system_id,
            secret,
            [org(c) for c in codes],
            self.ca,
            defects=defects,
            **kwargs,  # type: ignore[arg-type]
        )
        self._qlvbs.append(q)
        return q

    def close(self) -> None:
        for q in self._qlvbs:
            q.stop()
        self.harness.close()

    # ------------------------------------------------------------------ the harness sends
    def document(
        self,
        to: str | Sequence[str],
        *,
        sender: str = H1,
        priority: Priority = Priority.NORMAL,
        attachments: int = 1,
        business: BusinessDocType = BusinessDocType.NEW,
        original: str | None = None,
    ) -> DocumentPackage:
        recipients = [to] if isinstance(to, str) else list(to)
        return sample_document(
            seed=next(self._seed),
            sender=org(sender),
            recipients=[org(c) for c in recipients],
            priority=priority,
            attachments=attachments,
            attachment_size=1500,
            business=business,
            original_document_id=original,
        )

    def send_package(
        self,
        pkg: DocumentPackage,
        *,
        credential: Credential | str | None = "own",
        algorithm: SignatureAlgorithm | None = None,
        mutate: Callable[[bytes], bytes] | None = None,
        to: Sequence[str] | None = None,
    ) -> Sent:
        data = build(pkg)
        sender = pkg.header.from_.organ_id
        if credential == "own":
            credential = self.creds[sender]
        if isinstance(credential, Credential):
            data = sign(data, credential, algorithm=algorithm)
        if mutate is not None:
            data = mutate(data)
        hub_id = self.harness.send_edoc(data, from_=sender, to=list(to) if to is not None else None)
        return Sent(pkg.header.document_id, hub_id, pkg, data)

    def send(self, to: str | Sequence[str], **kwargs: object) -> Sent:
        doc_kw = {k: kwargs.pop(k) for k in ("sender", "priority", "attachments") if k in kwargs}
        return self.send_package(self.document(to, **doc_kw), **kwargs)  # type: ignore[arg-type]

    def recall_package(self, sent: Sent, reason: str = "Thu hồi do ban hành sai thể thức") -> Sent:
        pkg = copy.deepcopy(sent.model)
        pkg.manifest, pkg.attachments = [], []
        assert pkg.trace is not None
        pkg.trace.business = Business(sent.document_id, BusinessDocType.RECALL, reason, paper=0)
        return self.send_package(pkg)

    def recall_status(self, sent: Sent, reason: str = "Đề nghị thu hồi văn bản") -> str:
        status = sample_status(sent.model, StatusCode.RECALL_REQUEST, description=reason, seed=1)
        to = [o.organ_id for o in sent.model.header.to]
        return self.harness.send_edoc(
            build(status), from_=sent.model.header.from_.organ_id, messagetype="status", to=to
        )

    def answer(self, document: SeenDocument, code: StatusCode, reporter: str) -> str:
        status = sample_status(document.model, code, reporter=org(reporter), seed=2)
        return self.harness.send_edoc(build(status), from_=reporter, messagetype="status")

    # ------------------------------------------------------------------ the harness reads
    def _read(self) -> None:
        for item in self.harness.get_received_edoc_list("status"):
            raw = self.harness.get_edoc(item["docId"])
            pkg = parse(raw).package
            assert isinstance(pkg, StatusPackage), raw[:200]
            h = pkg.header
            self.statuses_seen.append(
                SeenStatus(
                    item["docId"],
                    h.status_code,
                    h.description or "",
                    h.from_.organ_id,
                    h.response_for.document_id,
                    pkg,
                )
            )
            self.harness.update_status(item["docId"], "done")
        for item in self.harness.get_received_edoc_list("edoc"):
            raw = self.harness.get_edoc(item["docId"])
            pkg = parse(raw).package
            assert isinstance(pkg, DocumentPackage), raw[:200]
            self.documents_seen.append(SeenDocument(item["docId"], item.get("to", ""), raw, pkg))
            self.harness.update_status(item["docId"], "done")

    def statuses(self, document_id: str) -> list[SeenStatus]:
        """Statuses the harness received about ``document_id`` (ResponseFor), in hub order."""
        self._read()
        return [s for s in self.statuses_seen if s.response_for == document_id]

    def codes(self, document_id: str) -> list[str]:
        return [s.code.value for s in self.statuses(document_id)]

    def documents(self, predicate: Callable[[SeenDocument], bool]) -> list[SeenDocument]:
        self._read()
        return [d for d in self.documents_seen if predicate(d)]

    def delivery_state(self, hub_id: str) -> str:
        """The delivery state (initial/processing/done/fail) of a package the harness sent, as the hub's
        getSentEdocList reports it (one recipient)."""
        items = self.harness.get_sent_edoc_list("edoc", doc_id=hub_id) or self.harness.get_sent_edoc_list(
            "status", doc_id=hub_id
        )
        states = {i.get("receiveStatus", "") for i in items}
        assert len(states) == 1, (hub_id, items)
        return states.pop()


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.02)


def tamper(data: bytes) -> bytes:
    """Change one character of the subject after signing."""
    marker = b"<edXML:Subject>"
    i = data.index(marker) + len(marker)
    return data[:i] + (b"X" if data[i : i + 1] != b"X" else b"Y") + data[i + 1 :]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_world(directory: Path, pki_dir: Path, systems: int = SYSTEMS) -> World:
    declared = [
        {"id": HARNESS, "secret": HARNESS_SECRET, "agencies": [H1, H2]},
        *(
            {
                "id": f"sut.{i:02d}",
                "secret": f"sut-secret-{i:02d}-NOT-REAL-0123456789",
                "agencies": list(sut_codes(i)),
            }
            for i in range(systems)
        ),
    ]
    config = parse_config(
        {
            "data_dir": str(directory),
            "systems": declared,
            "agencies": [{"code": c, "name": n} for c, n in NAMES.items()],
        }
    )
    hub = EmbeddedHub(config, pki_dir=pki_dir, sntp=True).start()
    ca = hub.ca
    creds = {c: ca.issue(f"harness-{c}", organ_id=c, common_name=NAMES[c]) for c in (H1, H2)}
    for variant in CertVariant:
        if variant is not CertVariant.GOOD:
            creds[variant.value] = ca.issue(f"harness-{H1}-{variant.value}", organ_id=H1, variant=variant)
    return World(hub, ca, creds, hub.client(HARNESS), systems)


_PKI_DIRS: dict[Path, Path] = {}


def open_world(factory: pytest.TempPathFactory, systems: int = SYSTEMS) -> Iterator[World]:
    """Generator for a module-scoped fixture: a started world, torn down after the module.

    The test CA (the slow part: RSA keys) is made once per test session and shared by every hub.
    """
    base = factory.getbasetemp()
    if base not in _PKI_DIRS:
        directory = factory.mktemp("sut-pki")
        TestCA.open(directory)
        _PKI_DIRS[base] = directory
    w = make_world(factory.mktemp("sut-hub"), _PKI_DIRS[base], systems)
    try:
        yield w
    finally:
        w.close()
        w.hub.stop()
