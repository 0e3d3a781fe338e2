"""ManualDriver: numbered instructions, bounded waits for the effect at the hub (a fake hub observer
that plays the operator), NOT SUPPORTED for what only a driver can do, no stdin unless interactive."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from typing import Any

import pytest
from rich.console import Console

from simulator.edxml.builder import build
from simulator.edxml.model import (
    BusinessDocType,
    DocumentPackage,
    Organization,
    Priority,
    StatusCode,
    StatusPackage,
)
from simulator.edxml.samples import sample_document, sample_status
from simulator.sut.driver import Capability, DriverError, NotSupported, OutgoingDocument, SutDriver
from simulator.sut.manual_driver import NOT_INSIDE, ManualDriver, ManualTimeout

SUT_SYSTEM = "acme.qlvb.01"
AGENCY = Organization("000.00.12.H29", "Sở Tài chính tỉnh Thử nghiệm")
HARNESS_A = Organization("000.00.00.G22", "Văn phòng Chính phủ")
HARNESS_B = Organization("000.00.00.H41", "UBND tỉnh Thử nghiệm")
SUBJECT = "V/v báo cáo tình hình thực hiện kế hoạch năm 2026"


class FakeHub:
    """Evidence rows and stored packages; ``later()`` rows appear a given number of polls from now,
    as if the operator acted in the meantime."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.blobs: dict[str, bytes] = {}
        self.polls = 0
        self._scheduled: list[list[Any]] = []  # [step, polls left, row]
        self.step: Callable[[], int] = lambda: 0  # the driver's step counter (set by the fixture)
        self.fail: Exception | None = None
        self.serve_packages = True
        self.batch: int | None = None  # at most this many rows per read, like the control API's limit

    def _row(
        self,
        data: bytes,
        *,
        sender: str,
        to: list[str],
        kind: str,
        document_id: str,
        system: str,
        error_code: str,
    ) -> dict[str, Any]:
        sha = hashlib.sha256(data).hexdigest()
        self.blobs[sha] = data
        hub_id = f"hub-{len(self.blobs)}-{sha[:6]}"
        return {
            "at": "2026-11-23T09:15:00+07:00",
            "system": system,
            "operation": "sendEdoc",
            "http_status": 200 if error_code == "0" else 400,
            "error_code": error_code,
            "sha256": sha,
            "doc_ids": [hub_id, *(f"{hub_id}-{c}" for c in to)],
            "findings": [],
            "detail": {"kind": kind, "from": sender, "to": to, "document_id": document_id},
        }

    def package_row(
        self,
        package: DocumentPackage | StatusPackage,
        *,
        to: list[str] | None = None,
        system: str = SUT_SYSTEM,
        error_code: str = "0",
    ) -> dict[str, Any]:
        data = build(package)
        if isinstance(package, DocumentPackage):
            recipients = to if to is not None else [o.organ_id for o in package.header.to]
            return self._row(
                data,
                sender=package.header.from_.organ_id,
                to=recipients,
                kind="document",
                document_id=package.header.document_id,
                system=system,
                error_code=error_code,
            )
        rf = package.header.response_for
        return self._row(
            data,
            sender=package.header.from_.organ_id,
            to=[rf.organ_id],
            kind="status",
            document_id=rf.document_id,
            system=system,
            error_code=error_code,
        )

    def now(self, row: dict[str, Any]) -> None:
        self._append(row)

    def later(self, row: dict[str, Any], polls: int = 2) -> None:
        """Appear at the ``polls``-th poll after the driver's next instruction was printed."""
        self._scheduled.append([self.step() + 1, polls, row])

    def _append(self, row: dict[str, Any]) -> None:
        row["id"] = len(self.rows) + 1
        self.rows.append(row)

    # HubObserver
    def evidence(self, since_id: int = 0, /) -> list[dict[str, Any]]:
        if self.fail is not None:
            raise self.fail
        self.polls += 1
        for item in list(self._scheduled):
            if self.step() >= item[0]:
                item[1] -= 1
                if item[1] <= 0:
                    self._scheduled.remove(item)
                    self._append(item[2])
        return [r for r in self.rows if r["id"] > since_id][: self.batch]

    def package(self, sha256: str, /) -> bytes | None:
        return self.blobs.get(sha256) if self.serve_packages else None


class FakeTime:
    def __init__(self) -> None:
        self.t = 1000.0

    def clock(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


def no_stdin(timeout: float) -> str | None:
    raise AssertionError("the manual driver read stdin although interactive=False")


@pytest.fixture
def hub() -> FakeHub:
    return FakeHub()


@pytest.fixture
def clock() -> FakeTime:
    return FakeTime()


@pytest.fixture
def out() -> io.StringIO:
    return io.StringIO()


@pytest.fixture
def driver(hub: FakeHub, clock: FakeTime, out: io.StringIO) -> ManualDriver:
    d = ManualDriver(
        hub,
        sut_name="QLVB Acme",
        agencies=[AGENCY.organ_id],
        sut_system_id=SUT_SYSTEM,
        timeout_s=30,
        poll_interval=0.5,
        console=Console(file=out, width=300, color_system=None),
        input_line=no_stdin,
        clock=clock.clock,
        sleep=clock.sleep,
    )
    hub.step = lambda: d.steps
    return d


def document(
    subject: str = SUBJECT,
    recipients: list[Organization] | None = None,
    *,
    seed: int = 1,
    business: BusinessDocType = BusinessDocType.NEW,
    original: str | None = None,
) -> DocumentPackage:
    pkg = sample_document(
        seed=seed,
        sender=AGENCY,
        recipients=recipients or [HARNESS_A],
        attachments=0,
        business=business,
        original_document_id=original,
    )
    pkg.header.subject = subject
    return pkg


def received(seed: int = 5) -> DocumentPackage:
    """A document the SUT's agency received from a harness agency."""
    return sample_document(seed=seed, sender=HARNESS_A, recipients=[AGENCY], attachments=0)


OUTGOING = OutgoingDocument(
    from_=AGENCY.organ_id, to=[HARNESS_A.organ_id], subject=SUBJECT, priority=Priority.FLASH
)


def test_is_a_sut_driver_with_the_manual_capabilities(driver: ManualDriver) -> None:
    assert isinstance(driver, SutDriver)
    info = driver.info()
    assert info.agencies == (AGENCY.organ_id,)
    assert Capability.SEND in info.capabilities
    assert Capability.QUERY not in info.capabilities


def test_send_waits_for_the_matching_document(
    driver: ManualDriver, hub: FakeHub, clock: FakeTime, out: io.StringIO
) -> None:
    hub.now(hub.package_row(document()))  # already at the hub before the instruction: not the answer
    hub.later(hub.package_row(document(seed=2), system="someone.else"), polls=1)  # not the SUT's system
    hub.later(hub.package_row(document("V/v một việc khác", seed=3)), polls=1)  # another subject
    hub.later(hub.package_row(document(seed=4), error_code="3"), polls=1)  # refused by the hub
    wanted = document(f"  {SUBJECT.upper()} ", seed=6)  # case and spacing do not matter
    row = hub.package_row(wanted)
    hub.later(row, polls=3)
    start = clock.t
    ref = driver.send_document(OUTGOING)
    assert ref.document_id == wanted.header.document_id
    assert ref.hub_doc_ids == (row["doc_ids"][0],)
    assert clock.t - start == pytest.approx(1.0)  # two polls of 0.5 s before the third one saw it
    text = out.getvalue()
    assert "[1] In QLVB Acme, send a document (văn bản) from 000.00.12.H29 to 000.00.00.G22" in text
    assert f"«{SUBJECT}»" in text and "Hỏa tốc" in text
    assert "waiting up to 30 s for it at the hub" in text
    assert "seen at the hub" in text


def test_a_long_log_read_in_batches_is_skipped_before_the_instruction(
    driver: ManualDriver, hub: FakeHub
) -> None:
    hub.batch = 3
    for seed in range(10, 17):  # seven matching documents already at the hub
        hub.now(hub.package_row(document(seed=seed)))
    wanted = document(seed=30)
    hub.later(hub.package_row(wanted), polls=2)
    assert driver.send_document(OUTGOING).document_id == wanted.header.document_id


def test_send_to_two_recipients_uploaded_one_by_one(driver: ManualDriver, hub: FakeHub) -> None:
    pkg = document(recipients=[HARNESS_A, HARNESS_B])
    first = hub.package_row(pkg, to=[HARNESS_A.organ_id])
    second = hub.package_row(pkg, to=[HARNESS_B.organ_id])
    hub.later(first, polls=1)
    hub.later(second, polls=4)
    outgoing = OutgoingDocument(AGENCY.organ_id, [HARNESS_A.organ_id, HARNESS_B.organ_id], SUBJECT)
    ref = driver.send_document(outgoing)
    assert ref.hub_doc_ids == (first["doc_ids"][0], second["doc_ids"][0])
    assert hub.polls >= 4


def test_send_without_package_bytes_falls_back_to_the_evidence_detail(
    driver: ManualDriver, hub: FakeHub
) -> None:
    hub.serve_packages = False
    pkg = document("anything")  # the subject cannot be checked without the package
    hub.later(hub.package_row(pkg))
    assert driver.send_document(OUTGOING).document_id == pkg.header.document_id


@pytest.mark.parametrize(
    ("code", "act"),
    [
        (StatusCode.ASSIGNED, lambda d, i: d.advance(i, agency=AGENCY.organ_id, status=StatusCode.ASSIGNED)),
        (
            StatusCode.COMPLETED,
            lambda d, i: d.advance(i, agency=AGENCY.organ_id, status=StatusCode.COMPLETED),
        ),
        (StatusCode.REFUSED, lambda d, i: d.refuse(i, agency=AGENCY.organ_id, reason="sai thẩm quyền")),
        (StatusCode.RECALL_AGREED, lambda d, i: d.answer_recall(i, agency=AGENCY.organ_id, agree=True)),
        (
            StatusCode.RECALL_REFUSED,
            lambda d, i: d.answer_recall(i, agency=AGENCY.organ_id, agree=False, reason="đã xong"),
        ),
    ],
)
def test_status_actions_wait_for_that_status(
    driver: ManualDriver, hub: FakeHub, clock: FakeTime, code: StatusCode, act: Any
) -> None:
    doc = received()
    other = received(seed=9)
    hub.later(
        hub.package_row(sample_status(doc, StatusCode.ACCEPTED, reporter=AGENCY)), polls=1
    )  # wrong code
    hub.later(hub.package_row(sample_status(other, code, reporter=AGENCY)), polls=1)  # other document
    hub.later(hub.package_row(sample_status(doc, code, reporter=AGENCY)), polls=3)
    start = clock.t
    assert act(driver, doc.header.document_id) is None
    assert clock.t - start == pytest.approx(1.0)


@pytest.mark.parametrize("form", ["package", "status"])
def test_recall_accepts_either_form(driver: ManualDriver, hub: FakeHub, form: str, out: io.StringIO) -> None:
    sent = document()
    doc_id = sent.header.document_id
    if form == "package":
        effect: DocumentPackage | StatusPackage = document(
            business=BusinessDocType.RECALL, original=doc_id, seed=8
        )
    else:
        effect = sample_status(sent, StatusCode.RECALL_REQUEST)
    hub.later(
        hub.package_row(document(business=BusinessDocType.RECALL, original="000.00.12.H29,2026/01/02,1/X"))
    )
    hub.later(hub.package_row(effect), polls=3)
    driver.recall(doc_id, agency=AGENCY.organ_id, form="status", reason="gửi nhầm")
    assert f"recall (thu hồi) the document {doc_id}" in out.getvalue()


def test_update_and_replace(driver: ManualDriver, hub: FakeHub) -> None:
    doc_id = document().header.document_id
    hub.later(hub.package_row(document(business=BusinessDocType.UPDATE, original=doc_id, seed=3)))
    driver.update(doc_id, agency=AGENCY.organ_id, reason="bổ sung", add_receivers=[HARNESS_B.organ_id])
    replacement = document(business=BusinessDocType.REPLACE, original=doc_id, seed=4)
    hub.later(hub.package_row(replacement))
    ref = driver.replace(doc_id, agency=AGENCY.organ_id, reason="sai nội dung", new=OUTGOING)
    assert ref.document_id == replacement.header.document_id != doc_id
    assert driver.steps == 2


def test_timeout_is_bounded_and_lists_what_arrived(
    driver: ManualDriver, hub: FakeHub, clock: FakeTime
) -> None:
    hub.later(hub.package_row(document("V/v một việc khác", seed=3)), polls=1)
    start = clock.t
    with pytest.raises(ManualTimeout) as exc:
        driver.send_document(OUTGOING)
    assert clock.t - start == pytest.approx(30.0)
    assert hub.polls <= 30 / 0.5 + 2
    message = str(exc.value)
    assert "manual step [1]" in message and "did not arrive within 30 s" in message
    assert "«V/v một việc khác»" in message  # the evidence of what the SUT did send


def test_timeout_when_nothing_arrived(driver: ManualDriver, hub: FakeHub) -> None:
    doc = received()
    with pytest.raises(
        ManualTimeout, match=r"status 04 did not arrive.*accepted no package from system acme"
    ):
        driver.advance(doc.header.document_id, agency=AGENCY.organ_id, status=StatusCode.ASSIGNED)


@pytest.mark.parametrize(
    ("call", "capability"),
    [
        (lambda d: d.query("x", agency=AGENCY.organ_id), Capability.QUERY),
        (lambda d: d.sync_clock(), Capability.SYNC_CLOCK),
        (lambda d: d.probe_hub("https://127.0.0.1:1"), Capability.PROBE_HUB),
        (lambda d: d.pause_intake(True), Capability.PAUSE_INTAKE),
    ],
)
def test_what_needs_a_look_inside_is_not_supported(
    driver: ManualDriver, hub: FakeHub, call: Any, capability: Capability
) -> None:
    with pytest.raises(NotSupported) as exc:
        call(driver)
    assert exc.value.capability is capability
    assert NOT_INSIDE in str(exc.value)
    assert hub.polls == 0 and driver.steps == 0  # no instruction, no wait


def test_interactive_skip(hub: FakeHub, clock: FakeTime, out: io.StringIO) -> None:
    lines = iter([None, "", "skip"])
    asked: list[float] = []

    def operator(timeout: float) -> str | None:
        asked.append(timeout)
        return next(lines)

    driver = ManualDriver(
        hub,
        sut_name="QLVB Acme",
        agencies=[AGENCY.organ_id],
        timeout_s=30,
        poll_interval=0.5,
        console=Console(file=out, width=300, color_system=None),
        interactive=True,
        input_line=operator,
        clock=clock.clock,
        sleep=clock.sleep,
    )
    with pytest.raises(NotSupported) as exc:
        driver.send_document(OUTGOING)
    assert exc.value.capability is Capability.SEND
    assert "operator skipped step [1]" in str(exc.value)
    assert asked == [0.5, 0.5, 0.5]  # bounded reads, never a blocking one
    assert "type skip" in out.getvalue()


def test_observer_failure_is_a_driver_error(driver: ManualDriver, hub: FakeHub) -> None:
    hub.fail = ConnectionError("hub gone")
    with pytest.raises(
        DriverError, match=r"cannot read the hub's evidence log \(ConnectionError: hub gone\)"
    ):
        driver.send_document(OUTGOING)


def test_over_the_hubs_control_api(tmp_path: Any) -> None:
    """The real observer: a ControlClient on an embedded hub; the SUT uploads with its own credentials."""
    import threading

    from simulator.agency.client import ControlClient
    from simulator.hub.config import HubConfig, SystemConfig
    from simulator.hub.embedded import EmbeddedHub

    systems = (
        SystemConfig(SUT_SYSTEM, "sut-secret-0123456789", (AGENCY.organ_id,)),
        SystemConfig("harness", "harness-secret-0123456789", (HARNESS_A.organ_id,)),
    )
    with EmbeddedHub(HubConfig(systems=systems), data_dir=tmp_path) as hub:
        control = ControlClient(hub.endpoint, hub.admin_token, timeout=5)
        out = io.StringIO()
        driver = ManualDriver(
            control,
            sut_name="QLVB Acme",
            agencies=[AGENCY.organ_id],
            sut_system_id=SUT_SYSTEM,
            timeout_s=10,
            poll_interval=0.02,
            console=Console(file=out, width=300, color_system=None),
            input_line=no_stdin,
        )
        pkg = document()

        def operator() -> None:  # acts once the instruction is printed (bounded)
            for _ in range(500):
                if driver.steps:
                    break
                threading.Event().wait(0.01)
            with hub.client(SUT_SYSTEM) as sut:
                sut.send_edoc(build(pkg), from_=AGENCY.organ_id, to=[HARNESS_A.organ_id])

        thread = threading.Thread(target=operator, daemon=True)
        thread.start()
        try:
            ref = driver.send_document(OUTGOING)
        finally:
            thread.join(10)
            control.close()
        assert ref.document_id == pkg.header.document_id
