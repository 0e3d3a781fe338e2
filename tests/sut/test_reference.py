"""The reference QLVB behaves correctly against a real embedded hub and a hand-rolled harness agency.

Each test takes a fresh SUT system of the module's hub (see ``reference_world``) and drives the QLVB
with ``poll_once()`` (deterministic, no sleeps) unless the polling thread itself is under test.
"""

from __future__ import annotations

import copy
import datetime as dt
import io
import time
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest

from simulator.agency.client import ControlClient, VxpError, VxpTransportError
from simulator.edxml.builder import build
from simulator.edxml.identifiers import parse_document_id
from simulator.edxml.model import BusinessDocType, DocumentPackage, Priority, StatusCode
from simulator.edxml.samples import sample_status
from simulator.edxml.validator import Mode, validate
from simulator.hub.embedded import EmbeddedHub
from simulator.pki.ca import CertVariant
from simulator.pki.dsig import SignatureAlgorithm, Verifier
from simulator.sut.defects import UnknownDefectError
from simulator.sut.driver import (
    AttachmentSpec,
    LegalValidity,
    OutgoingDocument,
    SutDriver,
)
from simulator.sut.reference import BadRequest, Conflict, DocumentNotFound, HubUnavailable, ReferenceQlvb
from simulator.sut.timesync import SyncedClock, TimeSyncError, http_offset, parse_time_reply, sntp_offset
from tests.sut.reference_world import H1, H2, World, open_world, org, sha256, tamper, wait_until

S = StatusCode


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    yield from open_world(tmp_path_factory)


def _errors(pkg: DocumentPackage) -> list[str]:
    return [f"{d.path}: {d.message}" for d in validate(pkg, mode=Mode.STRICT) if d.severity.value == "error"]


# ------------------------------------------------------------------------------------------ receiving


def test_valid_document_gets_01_then_03_and_is_registered_signed(world: World) -> None:
    q = world.qlvb()
    a = q.agencies[0]
    sent = world.send(a)
    assert q.poll_once() == 1
    statuses = world.statuses(sent.document_id)
    assert [s.code for s in statuses] == [S.ARRIVED, S.ACCEPTED]
    for s in statuses:
        rf = s.model.header.response_for
        assert (rf.organ_id, rf.document_id) == (H1, sent.document_id)
        assert rf.code == str(sent.model.header.code)
        assert sent.model.header.promulgation_info is not None
        assert rf.promulgation_date == sent.model.header.promulgation_info.promulgation_date
        assert s.from_code == a
        assert s.model.header.timestamp is not None
    assert world.delivery_state(sent.hub_id) == "done"
    state = q.query(sent.document_id, agency=a)
    assert state is not None
    assert (state.direction, state.status, state.legal_validity, state.active) == (
        "received",
        S.ACCEPTED,
        LegalValidity.SIGNED_VALID,
        True,
    )
    assert state.subject == sent.model.header.subject
    # the digest of the file inside the official ZIP form, computed independently
    payload = sent.model.attachments[0].payload
    with zipfile.ZipFile(io.BytesIO(payload)) as zf:
        inner = zf.read(zf.namelist()[0])
    assert [(d.sha256, d.size) for d in state.attachments] == [(sha256(inner), len(inner))]
    assert q.poll_once() == 0  # nothing answered twice
    assert world.codes(sent.document_id) == ["01", "03"]


def test_unsigned_and_sha1_documents_are_reference_only(world: World) -> None:
    q = world.qlvb()
    a = q.agencies[0]
    unsigned = world.send(a, credential=None)
    legacy = world.send(a, algorithm=SignatureAlgorithm.RSA_SHA1)
    assert q.poll_once() == 2
    for sent in (unsigned, legacy):
        assert world.codes(sent.document_id) == ["01", "03"]
        state = q.query(sent.document_id, agency=a)
        assert state is not None and state.legal_validity is LegalValidity.REFERENCE_ONLY


def test_tampered_document_gets_01_then_02_with_a_reason(world: World) -> None:
    q = world.qlvb()
    a = q.agencies[0]
    sent = world.send(a, mutate=tamper)
    q.poll_once()
    statuses = world.statuses(sent.document_id)
    assert [s.code for s in statuses] == [S.ARRIVED, S.REFUSED]
    reason = statuses[1].description
    assert "Từ chối" in reason and "digest" in reason.lower() and "QD28-6.1" in reason
    state = q.query(sent.document_id, agency=a)
    assert state is not None and state.legal_validity is LegalValidity.INVALID
    assert state.status is S.REFUSED
    assert world.delivery_state(sent.hub_id) == "done"


@pytest.mark.parametrize(
    ("variant", "words"),
    [
        ("expired", "hết hạn"),
        ("not-yet-valid", "chưa có hiệu lực"),
        ("revoked", "bị thu hồi"),
        ("untrusted", "tin cậy"),
        ("wrong-key-usage", "không được phép dùng để ký"),
    ],
)
def test_bad_certificates_are_refused_naming_the_failure(world: World, variant: str, words: str) -> None:
    q = world.qlvb()
    sent = world.send(q.agencies[0], credential=world.creds[variant])
    q.poll_once()
    statuses = world.statuses(sent.document_id)
    assert [s.code for s in statuses] == [S.ARRIVED, S.REFUSED]
    assert words in statuses[1].description


def test_misaddressed_missing_attachment_and_malformed_code_are_refused(world: World) -> None:
    q = world.qlvb()
    a, b = q.agencies
    # addressed (To) to the other agency, delivered to a by the hub's `to` routing
    misaddressed = world.send_package(world.document(b), to=[a])
    # the manifest announces an attachment the package does not carry (signed as is)
    broken = world.document(a, attachments=2)
    broken.attachments.pop()
    missing = world.send_package(broken)
    # a recipient code that is not NNN.NN.NN.XNN beside the real one
    odd = world.document(a)
    odd.header.to.append(copy_org(odd.header.to[0], "vxp.saas.03"))
    malformed = world.send_package(odd, to=[a])
    q.poll_once()
    expectations = [
        (misaddressed, "không đúng nơi nhận"),
        (missing, "đính kèm"),
        (malformed, "QD28-10.2.a"),
    ]
    for sent, words in expectations:
        statuses = world.statuses(sent.document_id)
        assert [s.code for s in statuses] == [S.ARRIVED, S.REFUSED], sent.document_id
        assert words in statuses[1].description


def copy_org(template: Any, code: str) -> Any:
    other = copy.copy(template)
    other.organ_id = code
    return other


def test_urgent_documents_are_handled_first_after_a_paused_intake(world: World) -> None:
    q = world.qlvb()
    a = q.agencies[0]
    q.pause_intake(True)
    normal1 = world.send(a, priority=Priority.NORMAL)
    urgent = world.send(a, priority=Priority.URGENT)
    flash = world.send(a, priority=Priority.FLASH)
    normal2 = world.send(a, priority=Priority.NORMAL)
    assert q.poll_once() == 0  # paused: nothing fetched
    assert world.codes(flash.document_id) == []
    q.pause_intake(False)
    assert q.poll_once() == 4
    world.statuses(normal1.document_id)
    order = [s.response_for for s in world.statuses_seen if s.code is S.ACCEPTED]
    ids = [flash.document_id, urgent.document_id, normal1.document_id, normal2.document_id]
    assert [i for i in order if i in ids] == ids


def test_duplicate_delivery_is_registered_and_answered_once(world: World) -> None:
    q = world.qlvb()
    a = q.agencies[0]
    first = world.send(a)
    again = world.harness.send_edoc(first.raw, from_=H1)  # the hub delivers the same bytes again
    assert again != first.hub_id
    q.poll_once()
    q.poll_once()
    assert world.codes(first.document_id) == ["01", "03"]
    assert world.delivery_state(first.hub_id) == "done"
    assert world.delivery_state(again) == "done"


@pytest.mark.parametrize("form", ["package", "status"])
def test_recall_before_completion_is_agreed_and_deactivates(world: World, form: str) -> None:
    q = world.qlvb()
    a = q.agencies[0]
    sent = world.send(a)
    q.poll_once()
    if form == "package":
        world.recall_package(sent)
    else:
        world.recall_status(sent)
    q.poll_once()
    assert world.codes(sent.document_id) == ["01", "03", "15"]
    state = q.query(sent.document_id, agency=a)
    assert state is not None and state.active is False
    with pytest.raises(Conflict, match="no longer active"):
        q.advance(sent.document_id, agency=a, status=S.ASSIGNED)


def test_recall_after_completion_is_refused_with_a_reason(world: World) -> None:
    q = world.qlvb()
    a = q.agencies[0]
    sent = world.send(a)
    q.poll_once()
    q.advance(sent.document_id, agency=a, status=S.COMPLETED)
    world.recall_status(sent)
    q.poll_once()
    statuses = world.statuses(sent.document_id)
    assert [s.code.value for s in statuses] == ["01", "03", "06", "16"]
    assert "06" in statuses[-1].description and "QD28-9.2.b" in statuses[-1].description
    state = q.query(sent.document_id, agency=a)
    assert state is not None and state.active
    # the clerk's decision cannot be reversed by a later driver call
    with pytest.raises(Conflict, match="already answered 16"):
        q.answer_recall(sent.document_id, agency=a, agree=True)
    q.answer_recall(sent.document_id, agency=a, agree=False, reason="x")  # idempotent


def test_recall_in_the_same_round_as_its_document_is_handled_after_it(world: World) -> None:
    q = world.qlvb()
    sent = world.send(q.agencies[0])
    status_hub_id = world.recall_status(sent)
    q.poll_once()  # documents first, then statuses
    assert world.codes(sent.document_id) == ["01", "03", "15"]
    assert world.delivery_state(status_hub_id) == "done"


def test_recall_of_an_unknown_document_is_answered_16(world: World) -> None:
    q = world.qlvb()
    a = q.agencies[0]
    never_sent = world.document(a)
    status = sample_status(never_sent, S.RECALL_REQUEST, description="Thu hồi", seed=3)
    world.harness.send_edoc(build(status), from_=H1, messagetype="status", to=[a])
    q.poll_once()
    statuses = world.statuses(never_sent.header.document_id)
    assert [s.code for s in statuses] == [S.RECALL_REFUSED]
    assert "Không tìm thấy" in statuses[0].description


def test_update_changes_the_subject_and_is_agreed(world: World) -> None:
    q = world.qlvb()
    a = q.agencies[0]
    sent = world.send(a)
    q.poll_once()
    update = world.document(a, business=BusinessDocType.UPDATE, original=sent.document_id)
    update.header.subject = "V/v cập nhật trích yếu văn bản"
    assert update.trace is not None and update.trace.business is not None
    update.trace.business.document_info = None  # metadata update without receiver changes
    world.send_package(update, to=[a])
    q.poll_once()
    assert world.codes(sent.document_id) == ["01", "03", "15"]
    state = q.query(sent.document_id, agency=a)
    assert state is not None and state.subject == "V/v cập nhật trích yếu văn bản"


def test_replace_registers_the_new_document_and_retires_the_old(world: World) -> None:
    q = world.qlvb()
    a = q.agencies[0]
    old = world.send(a)
    q.poll_once()
    new = world.send_package(world.document(a, business=BusinessDocType.REPLACE, original=old.document_id))
    q.poll_once()
    assert world.codes(new.document_id) == ["01", "03"]
    assert world.codes(old.document_id) == ["01", "03", "15"]
    old_state, new_state = q.query(old.document_id, agency=a), q.query(new.document_id, agency=a)
    assert old_state is not None and not old_state.active
    assert new_state is not None and new_state.active and new_state.business is BusinessDocType.REPLACE


# ------------------------------------------------------------------------------------------ the driver


def test_advance_follows_the_legal_order_and_refuses_illegal_moves(world: World) -> None:
    q = world.qlvb()
    a = q.agencies[0]
    sent = world.send(a)
    q.poll_once()
    for code in (S.ASSIGNED, S.IN_PROGRESS, S.COMPLETED):
        q.advance(sent.document_id, agency=a, status=code)
    q.advance(sent.document_id, agency=a, status=S.COMPLETED)  # a repeat is harmless and not re-sent
    assert world.codes(sent.document_id) == ["01", "03", "04", "05", "06"]
    with pytest.raises(Conflict, match="after-final"):
        q.advance(sent.document_id, agency=a, status=S.ASSIGNED)
    with pytest.raises(Conflict, match="02 may only follow 01"):
        q.refuse(sent.document_id, agency=a, reason="muộn")
    with pytest.raises(BadRequest, match="03, 04, 05 or 06"):
        q.advance(sent.document_id, agency=a, status=S.REFUSED)
    with pytest.raises(BadRequest, match="must say why"):
        q.refuse(sent.document_id, agency=a, reason="  ")
    with pytest.raises(DocumentNotFound):
        q.advance("000.00.00.G07,2026/01/01,1/X", agency=a, status=S.ASSIGNED)
    with pytest.raises(BadRequest, match="not hosted"):
        q.query(sent.document_id, agency=H1)
    assert q.query("000.00.00.G07,2026/01/01,1/X", agency=a) is None
    # timestamps ascend in the legal order
    stamps = [s.model.header.timestamp for s in world.statuses(sent.document_id)]
    assert all(x is not None for x in stamps)
    assert stamps == sorted(stamps)  # type: ignore[type-var]


def test_send_through_the_driver_delivers_a_strictly_valid_signed_package(world: World) -> None:
    q = world.qlvb()
    a = q.agencies[0]
    assert isinstance(q, SutDriver)
    pdf = b"%PDF-1.4 test\n" * 50
    ref = q.send_document(
        OutgoingDocument(
            a, [H1, H2], "V/v phối hợp thử nghiệm", Priority.VERY_URGENT, [AttachmentSpec("a.pdf", pdf)]
        )
    )
    ident = parse_document_id(ref.document_id, strict=True)
    assert ident.agency == a and ident.date is not None and ident.form == "dated" and ident.notation
    assert len(ref.hub_doc_ids) == 1
    got = world.documents(lambda d: d.model.header.document_id == ref.document_id)
    assert sorted(d.to for d in got) == [H1, H2]
    verifier = Verifier(world.ca.trust_store())
    for doc in got:
        assert _errors(doc.model) == []
        result = verifier.verify(doc.raw)
        assert result.ok and result.signed and result.algorithm == "rsa-sha256", result.message
        assert doc.model.header.priority is Priority.VERY_URGENT
        assert doc.model.header.signer_info is not None and doc.model.header.signer_info.full_name
        assert doc.model.business_doc_type is BusinessDocType.NEW
    # the receivers answer; the QLVB consumes the statuses of what it sent (QD28-8.2)
    world.answer(got[0], S.ARRIVED, got[0].to)
    world.answer(got[1], S.ARRIVED, got[1].to)
    world.answer(got[1], S.ACCEPTED, got[1].to)
    q.poll_once()
    state = q.query(ref.document_id, agency=a)
    assert state is not None and state.direction == "sent"
    assert state.statuses_from_receivers == {got[0].to: S.ARRIVED, got[1].to: S.ACCEPTED}
    assert state.attachments[0].sha256 == sha256(pdf)
    with pytest.raises(BadRequest, match="not hosted"):
        q.send_document(OutgoingDocument(H1, [a], "x"))
    with pytest.raises(BadRequest, match=r"QD28-10\.2\.a"):
        q.send_document(OutgoingDocument(a, ["vxp.saas.03"], "x"))


def test_recall_update_replace_through_the_driver(world: World) -> None:
    q = world.qlvb()
    a = q.agencies[0]
    first = q.send_document(OutgoingDocument(a, [H1], "V/v văn bản sẽ thu hồi"))
    q.recall(first.document_id, agency=a, form="package", reason="Gửi nhầm")
    second = q.send_document(OutgoingDocument(a, [H1], "V/v văn bản sẽ thu hồi bằng trạng thái"))
    q.recall(second.document_id, agency=a, form="status", reason="Gửi nhầm")
    third = q.send_document(OutgoingDocument(a, [H1], "V/v văn bản sẽ cập nhật"))
    q.update(
        third.document_id, agency=a, reason="Bổ sung nơi nhận", subject="V/v đã cập nhật", add_receivers=[H2]
    )
    fourth = q.send_document(OutgoingDocument(a, [H1], "V/v văn bản sẽ thay thế"))
    new = q.replace(
        fourth.document_id, agency=a, reason="Sai nội dung", new=OutgoingDocument(a, [H1], "V/v thay thế")
    )
    docs = world.documents(lambda d: d.model.header.from_.organ_id == a)
    kinds = {(d.model.header.document_id, d.model.business_doc_type, d.to) for d in docs}
    assert (first.document_id, BusinessDocType.RECALL, H1) in kinds
    assert (third.document_id, BusinessDocType.UPDATE, H1) in kinds
    assert (third.document_id, BusinessDocType.UPDATE, H2) in kinds
    assert (new.document_id, BusinessDocType.REPLACE, H1) in kinds
    for d in docs:
        assert _errors(d.model) == [], d.model.header.document_id
    replacing = next(d for d in docs if d.model.header.document_id == new.document_id)
    assert replacing.model.trace is not None and replacing.model.trace.business is not None
    assert [r.document_id for r in replacing.model.trace.business.replacements] == [fourth.document_id]
    assert world.codes(second.document_id) == ["13"]
    state = q.query(first.document_id, agency=a)
    assert state is not None and state.active  # until a receiver agrees
    recall = next(d for d in docs if d.model.business_doc_type is BusinessDocType.RECALL)
    world.answer(recall, S.RECALL_AGREED, H1)
    q.poll_once()
    state = q.query(first.document_id, agency=a)
    assert state is not None and not state.active and state.statuses_from_receivers == {H1: S.RECALL_AGREED}
    with pytest.raises(DocumentNotFound):
        q.recall("000.00.00.G07,2026/01/01,1/X", agency=a, form="status", reason="x")
    with pytest.raises(BadRequest, match="must say why"):
        q.recall(third.document_id, agency=a, form="package", reason="")


# ------------------------------------------------------------------------------------------ hub faults


def _fail_sends(q: ReferenceQlvb, plan: list[str]) -> list[str]:
    """Make the QLVB's sendEdoc calls fail as ``plan`` says, one entry per call ("503", "drop" = the hub
    commits then the reply is lost, "ok"); returns the log of what happened."""
    client = q._send_client
    real = client.send_edoc
    log: list[str] = []

    def send_edoc(package: bytes, **kw: Any) -> str:
        step = plan.pop(0) if plan else "ok"
        log.append(step)
        if step == "503":
            raise VxpError("sendEdoc", "UNAVAILABLE", "injected fault", 503)
        if step == "drop":
            real(package, **kw)
            raise VxpTransportError("sendEdoc", "injected: connection closed after commit")
        return real(package, **kw)

    client.send_edoc = send_edoc  # type: ignore[method-assign]
    return log


def test_send_retries_through_503_without_duplicates(world: World) -> None:
    q = world.qlvb()
    a = q.agencies[0]
    log = _fail_sends(q, ["503", "503"])
    ref = q.send_document(OutgoingDocument(a, [H1], "V/v gửi khi trục lỗi 503"))
    assert log == ["503", "503", "ok"]
    got = world.documents(lambda d: d.model.header.document_id == ref.document_id)
    assert len(got) == 1 and len(ref.hub_doc_ids) == 1


def test_lost_reply_after_commit_is_detected_not_resent(world: World) -> None:
    q = world.qlvb()
    a = q.agencies[0]
    log = _fail_sends(q, ["drop"])
    ref = q.send_document(OutgoingDocument(a, [H1], "V/v gửi khi mất phản hồi"))
    assert log == ["drop"]  # the second attempt found the package at the hub instead of sending again
    got = world.documents(lambda d: d.model.header.document_id == ref.document_id)
    assert len(got) == 1


def test_hub_down_while_answering_loses_and_duplicates_nothing(world: World) -> None:
    q = world.qlvb(max_attempts=2, retry_budget_s=0.3)
    a = q.agencies[0]
    sent = world.send(a)
    _fail_sends(q, ["503", "503"])
    q.poll_once()  # registered, 01 could not be sent: not acknowledged
    assert world.codes(sent.document_id) == []
    assert world.delivery_state(sent.hub_id) in ("initial", "processing")
    state = q.query(sent.document_id, agency=a)
    assert state is not None and state.status is None
    q.poll_once()  # the hub is back: the outbox goes out in order, then the acknowledgement
    assert world.codes(sent.document_id) == ["01", "03"]
    assert world.delivery_state(sent.hub_id) == "done"
    q.poll_once()
    assert world.codes(sent.document_id) == ["01", "03"]


def test_retries_are_bounded(world: World) -> None:
    q = world.qlvb(max_attempts=3, retry_budget_s=5)
    _fail_sends(q, ["503"] * 10)
    with pytest.raises(HubUnavailable, match="3 time"):
        q.send_document(OutgoingDocument(q.agencies[0], [H1], "V/v không gửi được"))


def test_real_hub_faults_503_dropped_reply_and_duplicate_delivery(world: World) -> None:
    """The same through the hub's own fault injection (control API), end to end over HTTP."""
    q = world.qlvb()
    a = q.agencies[0]
    with ControlClient(world.hub.endpoint, world.hub.admin_token, timeout=10) as control:
        try:
            control.set_faults([{"operation": "sendEdoc", "error_rate": 1.0, "count": 2}])
            ref = q.send_document(OutgoingDocument(a, [H1], "V/v gửi qua 503 thật"))
            control.set_faults([{"operation": "sendEdoc", "drop_response_after_commit": True, "count": 1}])
            dropped = q.send_document(OutgoingDocument(a, [H1], "V/v gửi khi trục cắt kết nối"))
            control.set_faults([{"operation": "sendEdoc", "duplicate_delivery": 1}])
            twice = world.send(a)
            control.clear_faults()
            q.poll_once()
            q.poll_once()
        finally:
            control.clear_faults()
    ids = {ref.document_id, dropped.document_id}
    got = [d.model.header.document_id for d in world.documents(lambda d: d.model.header.document_id in ids)]
    assert sorted(got) == sorted(ids)  # each exactly once
    assert world.codes(twice.document_id) == ["01", "03"]
    assert any("repeats a package already handled" in line for line in q.journal())  # the second copy


# ------------------------------------------------------------------------------------------ time


def test_timestamps_follow_the_hub_clock(world: World) -> None:
    clock = world.hub.clock
    clock.set(offset_s=3 * 3600)
    try:
        for source in ("http", "sntp"):
            kwargs: dict[str, Any] = {"clock_source": source}
            if source == "sntp":
                address = world.hub.sntp_address
                assert address is not None
                kwargs["sntp_port"] = address[1]
            q = world.qlvb(**kwargs)
            q.sync_clock()
            assert abs(q.clock_offset_s - 3 * 3600) < 2, source
            sent = world.send(q.agencies[0])
            q.poll_once()
            stamp = world.statuses(sent.document_id)[0].model.header.timestamp
            assert stamp is not None
            hub_now = clock.now()
            assert abs((hub_now - stamp).total_seconds()) < 3, (source, hub_now, stamp)
            assert stamp.utcoffset() == dt.timedelta(hours=7)
    finally:
        clock.reset()


def test_probe_accepts_only_a_trusted_tls_hub(world: World, tmp_path: Any) -> None:
    q = world.qlvb()
    assert not q.probe_hub(world.hub.endpoint).connected  # plain http: not encrypted
    results = {}
    for variant in (CertVariant.GOOD, CertVariant.EXPIRED, CertVariant.UNTRUSTED):
        hub = EmbeddedHub(data_dir=tmp_path / variant.value, tls=variant, pki_dir=world.ca.directory).start()
        try:
            results[variant] = q.probe_hub(hub.endpoint)
        finally:
            hub.stop()
    assert results[CertVariant.GOOD].connected, results[CertVariant.GOOD].detail
    assert not results[CertVariant.EXPIRED].connected
    assert "expired" in results[CertVariant.EXPIRED].detail
    assert not results[CertVariant.UNTRUSTED].connected
    with pytest.raises(BadRequest):
        q.probe_hub("ftp://example")


# ------------------------------------------------------------------------------------------ the thread


def test_polling_thread_answers_and_stops(world: World) -> None:
    q = world.qlvb(idle_interval=0.05)
    with q:
        assert q.running
        sent = world.send(q.agencies[0])
        wait_until(lambda: world.codes(sent.document_id) == ["01", "03"], what="01 and 03 from the thread")
    assert not q.running


def test_polling_thread_survives_hub_errors(world: World) -> None:
    q = world.qlvb(idle_interval=0.05, max_attempts=1)
    client = q._poll_client
    real = client.get_received_edoc_list
    failures = [0]

    def broken(messagetype: Any = "edoc") -> Any:
        if failures[0] < 3:
            failures[0] += 1
            raise VxpTransportError("getReceivedEdocList", "injected")
        return real(messagetype)

    client.get_received_edoc_list = broken  # type: ignore[method-assign]
    with q:
        sent = world.send(q.agencies[0])
        wait_until(lambda: world.codes(sent.document_id) == ["01", "03"], what="recovery after hub errors")
        assert q.last_error is not None and "injected" in q.last_error
        assert q.running


def test_construction_errors_are_clear(world: World) -> None:
    with pytest.raises(UnknownDefectError, match=r"valid names: .*accepts-bad-signature"):
        world.qlvb(defects=["no-such-defect"])
    with pytest.raises(ValueError, match="sntp_port"):
        ReferenceQlvb(world.hub.endpoint, "x", "y", [org(H1)], world.ca, clock_source="sntp")


def test_info_lists_every_capability(world: World) -> None:
    q = world.qlvb()
    info = q.info()
    assert info.agencies == q.agencies and len(info.capabilities) == 11


# ------------------------------------------------------------------------------------------ time sync units


def test_time_reply_parsing_and_offset_arithmetic() -> None:
    assert parse_time_reply(b'{"epoch_ms": 1700000000123, "time": "ignored"}') == 1700000000.123
    iso = parse_time_reply(b'{"time": "2026-11-23T08:38:50.500+07:00"}')
    assert iso == dt.datetime(2026, 11, 23, 1, 38, 50, 500000, tzinfo=dt.UTC).timestamp()
    for bad in (b"<html>", b"[]", b'{"time": "yesterday"}', b"{}"):
        with pytest.raises(TimeSyncError):
            parse_time_reply(bad)
    # host clock at 100 s before and 100.2 s after the call, hub said 1100.1 s: offset 1000 s, rtt 0.2 s
    ticks = iter([100.0, 100.2])
    sample = http_offset(lambda: b'{"epoch_ms": 1100100}', samples=1, host_clock=lambda: next(ticks))
    assert sample.offset_s == pytest.approx(1000.0) and sample.rtt_s == pytest.approx(0.2)
    with pytest.raises(TimeSyncError, match="ConnectionError"):
        http_offset(_refuse, samples=2)
    clock = SyncedClock(lambda: sample, host_clock=lambda: 110.0)  # 9.8 s after the measurement
    assert clock.due(30) and not clock.synced
    clock.sync()
    assert clock.offset_s == pytest.approx(1000.0) and not clock.due(30)
    assert clock.now().timestamp() == pytest.approx(1110.0) and clock.now().utcoffset() == dt.timedelta(
        hours=7
    )
    assert SyncedClock(None).sync() is None and not SyncedClock(None).due(0)


def _refuse() -> bytes:
    raise ConnectionError("refused")


def test_sntp_without_a_server_fails_within_its_timeout() -> None:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))  # a bound port that never answers
        port = sock.getsockname()[1]
        t0 = time.monotonic()
        with pytest.raises(TimeSyncError, match="no SNTP answer"):
            sntp_offset("127.0.0.1", port, samples=2, timeout=0.2)
        assert time.monotonic() - t0 < 2


def test_a_stopped_qlvb_cannot_be_restarted(world: World) -> None:
    q = world.qlvb()
    q.start()
    q.stop()
    with pytest.raises(RuntimeError, match="create a new one"):
        q.start()
