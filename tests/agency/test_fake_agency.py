"""Fake agencies against a real EmbeddedHub: sending, the scripted answers, recall/update/replace,
refusals of broken packages, evidence-rich bounded waits, the background poller; plus the pure
decisions of simulator.agency.behaviour."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from simulator.agency.behaviour import (
    Behaviour,
    Reply,
    advance_path,
    arrival_replies,
    recall_reply,
)
from simulator.agency.fake_agency import FakeAgency, agency_credential, make_agencies
from simulator.agency.mailbox import UnexpectedStatus, WaitTimeout
from simulator.edxml.model import BusinessDocType, Organization, Priority, StatusCode
from simulator.edxml.parser import parse
from simulator.edxml.samples import sample_document
from simulator.hub.config import parse_config
from simulator.hub.embedded import EmbeddedHub
from simulator.pki.ca import CertVariant, TestCA
from simulator.pki.dsig import VerifyFailure

S = StatusCode
SENDER, B, C = "000.00.00.G22", "000.00.00.H41", "000.00.01.H41"
SYS_SEND, SYS_RECV = "sim.send", "sim.recv"
WAIT = 5.0  # generous upper bound; the flows take tens of milliseconds


# ----------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedHub]:
    root = tmp_path_factory.mktemp("fake-agency")
    TestCA.open(root / "pki")
    config = parse_config(
        {
            "systems": [
                {"id": SYS_SEND, "secret": "SimSecret-send-NOT-REAL-0123456789", "agencies": [SENDER]},
                {"id": SYS_RECV, "secret": "SimSecret-recv-NOT-REAL-0123456789", "agencies": [B, C]},
            ],
            "agencies": [
                {"code": SENDER, "name": "Văn phòng Chính phủ"},
                {"code": B, "name": "UBND tỉnh Thử nghiệm"},
                {"code": C, "name": "Sở Nội vụ tỉnh Thử nghiệm"},
            ],
        }
    )
    with EmbeddedHub(config, data_dir=root / "hub", pki_dir=root / "pki") as embedded:
        yield embedded


@pytest.fixture
def agencies(hub: EmbeddedHub) -> Iterator[tuple[FakeAgency, FakeAgency, FakeAgency]]:
    [a] = make_agencies(hub, [SENDER], system_id=SYS_SEND)
    b, c = make_agencies(hub, [B, C], system_id=SYS_RECV)
    for agency in (b, c):  # leftovers of earlier tests are answered here, not in the test
        agency.poll()
    a.poll()
    yield a, b, c
    for agency in (a, b, c):
        agency.close()


def _background(*agencies: FakeAgency) -> list[object]:
    return [agency.run_in_background(0.01) for agency in agencies]


# ------------------------------------------------------------------------------- happy path


def test_both_receivers_answer_01_then_03_automatically(agencies: tuple[FakeAgency, ...]) -> None:
    a, b, c = agencies
    _background(b, c)
    sent = a.send([B, C], priority=Priority.URGENT, attachments=2)
    for receiver in (B, C):
        accepted = a.wait_for_status(sent.document_id, S.ACCEPTED, from_=receiver, timeout=WAIT)
        assert accepted.response_for_organ_id == SENDER
        assert accepted.model.header.response_for.document_id == sent.document_id
    codes = [(s.from_code, s.code) for s in a.received_statuses(sent.document_id)]
    for receiver in (B, C):  # 01 is reported before 03
        assert codes.index((receiver, S.ARRIVED)) < codes.index((receiver, S.ACCEPTED))
    doc = b.wait_for_document(lambda d: d.document_id == sent.document_id, WAIT)
    assert doc.verify_result is not None and doc.verify_result.ok and doc.verify_result.signed
    assert doc.refusal is None and doc.raw == sent.package_bytes
    assert doc.model is not None and doc.model.header.priority is Priority.URGENT
    assert len(doc.model.attachments) == 2
    state = b.state(sent.document_id)
    assert state is not None and state.status is S.ACCEPTED and state.active


def test_advance_to_completed_walks_every_step(agencies: tuple[FakeAgency, ...]) -> None:
    a, b, _ = agencies
    b.behaviour = Behaviour(advance_to=S.COMPLETED)
    _background(b)
    sent = a.send([B])
    a.wait_for_status(sent.document_id, S.COMPLETED, timeout=WAIT)
    assert [s.code for s in a.received_statuses(sent.document_id)] == [
        S.ARRIVED,
        S.ACCEPTED,
        S.ASSIGNED,
        S.IN_PROGRESS,
        S.COMPLETED,
    ]


def test_manual_advance_after_automatic_acceptance(agencies: tuple[FakeAgency, ...]) -> None:
    a, b, _ = agencies
    sent = a.send([B])
    b.poll()
    doc = b.received_documents()[-1]
    assert doc.document_id == sent.document_id
    hub_ids = b.advance(doc, S.IN_PROGRESS, "Đang xử lý gấp")
    assert len(hub_ids) == 2  # 04 then 05
    done = a.wait_for_status(sent.document_id, S.IN_PROGRESS, timeout=WAIT)
    assert done.description == "Đang xử lý gấp"
    assert b.state(sent.document_id).status is S.IN_PROGRESS  # type: ignore[union-attr]


def test_statuses_can_be_signed(agencies: tuple[FakeAgency, ...]) -> None:
    a, b, _ = agencies
    b.behaviour = Behaviour(sign_statuses=True)
    sent = a.send([B])
    b.poll()
    status = a.wait_for_status(sent.document_id, S.ACCEPTED, timeout=WAIT)
    assert b"SignatureValue" in status.raw


# ---------------------------------------------------------------------------------- refusals


def test_refuse_all_sends_02_with_the_reason_and_never_03(agencies: tuple[FakeAgency, ...]) -> None:
    a, b, _ = agencies
    reason = "Văn bản không thuộc thẩm quyền giải quyết"
    b.behaviour = Behaviour(refuse_all=reason)
    _background(b)
    sent = a.send([B])
    refused = a.wait_for_status(sent.document_id, S.REFUSED, from_=B, timeout=WAIT)
    assert refused.description == reason
    a.assert_no_status(sent.document_id, S.ACCEPTED, within=0.2)
    assert b.received_documents()[-1].refusal == reason


def test_tampered_package_is_refused_naming_the_digest(agencies: tuple[FakeAgency, ...]) -> None:
    a, b, _ = agencies

    def tamper(data: bytes) -> bytes:
        subject = parse(data).package.header.subject.encode()  # type: ignore[union-attr]
        assert subject in data
        return data.replace(subject, subject + " (đã sửa)".encode(), 1)

    sent = a.send([B], mutate=tamper)
    b.poll()
    refused = a.wait_for_status(sent.document_id, {S.REFUSED, S.ACCEPTED}, from_=B, timeout=WAIT)
    assert refused.code is S.REFUSED
    assert refused.description is not None and "digest" in refused.description
    doc = b.received_documents()[-1]
    assert doc.verify_result is not None and doc.verify_result.failure is VerifyFailure.DIGEST_MISMATCH


@pytest.mark.parametrize(
    ("variant", "words"),
    [(CertVariant.EXPIRED, "expired"), (CertVariant.UNTRUSTED, "trust"), (CertVariant.REVOKED, "revoked")],
)
def test_bad_signing_certificate_is_refused(
    agencies: tuple[FakeAgency, ...], hub: EmbeddedHub, variant: CertVariant, words: str
) -> None:
    a, b, _ = agencies
    sent = a.send([B], credential=agency_credential(hub.ca, SENDER, variant=variant))
    b.poll()
    refused = a.wait_for_status(sent.document_id, {S.REFUSED, S.ACCEPTED}, timeout=WAIT)
    assert refused.code is S.REFUSED, refused.description
    assert words in (refused.description or "").lower()
    assert agency_credential(hub.ca, SENDER, variant=variant) is agency_credential(
        hub.ca, SENDER, variant=variant
    )


def test_unsigned_is_refused_unless_signatures_are_optional(agencies: tuple[FakeAgency, ...]) -> None:
    a, b, _ = agencies
    sent = a.send([B], sign=False)
    b.poll()
    refused = a.wait_for_status(sent.document_id, {S.REFUSED, S.ACCEPTED}, timeout=WAIT)
    assert refused.code is S.REFUSED and "VPCP19-SIG" in (refused.description or "")
    b.behaviour = Behaviour(require_signature=False)
    again = a.send([B], sign=False)
    b.poll()
    assert a.wait_for_status(again.document_id, {S.REFUSED, S.ACCEPTED}, timeout=WAIT).code is S.ACCEPTED
    assert b.received_documents()[-1].verify_result.signed is False  # type: ignore[union-attr]


def test_document_not_addressed_to_the_receiver_is_refused(agencies: tuple[FakeAgency, ...]) -> None:
    a, b, _ = agencies
    package = sample_document(
        seed=11, sender=Organization(SENDER, "Văn phòng Chính phủ"), recipients=[Organization(C, "Sở Nội vụ")]
    )
    sent = a.send([B], package=package)  # routed to B although the package says C
    b.poll()
    refused = a.wait_for_status(sent.document_id, {S.REFUSED, S.ACCEPTED}, from_=B, timeout=WAIT)
    assert refused.code is S.REFUSED
    assert f"not addressed to {B}" in (refused.description or "") and "QD28-9.1" in (
        refused.description or ""
    )


# ------------------------------------------------------------------------ recall, update, replace


@pytest.mark.parametrize("form", ["package", "status"])
def test_recall_is_agreed_with_15(agencies: tuple[FakeAgency, ...], form: str) -> None:
    a, b, c = agencies
    _background(b, c)
    sent = a.send([B, C])
    for receiver in (B, C):
        a.wait_for_status(sent.document_id, S.ACCEPTED, from_=receiver, timeout=WAIT)
    a.recall(sent, form=form, reason="Thu hồi do gửi nhầm nơi nhận")  # type: ignore[arg-type]
    for receiver, agency in ((B, b), (C, c)):
        a.wait_for_status(sent.document_id, S.RECALL_AGREED, from_=receiver, timeout=WAIT)
        state = agency.state(sent.document_id)
        assert state is not None and not state.active and state.recall_answer is S.RECALL_AGREED
    if form == "status":
        request = b.wait_for_status(sent.document_id, S.RECALL_REQUEST, timeout=WAIT)
        assert request.description == "Thu hồi do gửi nhầm nơi nhận" and request.from_code == SENDER


def test_recall_after_completion_is_refused_with_a_reason(agencies: tuple[FakeAgency, ...]) -> None:
    a, b, _ = agencies
    b.behaviour = Behaviour(advance_to=S.COMPLETED)
    _background(b)
    sent = a.send([B])
    a.wait_for_status(sent.document_id, S.COMPLETED, timeout=WAIT)
    a.recall(sent, form="status", reason="Thu hồi để ban hành lại")
    answer = a.wait_for_status(sent.document_id, {S.RECALL_AGREED, S.RECALL_REFUSED}, timeout=WAIT)
    assert answer.code is S.RECALL_REFUSED and "06" in (answer.description or "")
    assert b.state(sent.document_id).active  # type: ignore[union-attr]


@pytest.mark.parametrize("answer", ["refuse", "ignore"])
def test_recall_answer_refuse_or_ignore(agencies: tuple[FakeAgency, ...], answer: str) -> None:
    a, b, _ = agencies
    b.behaviour = Behaviour(recall_answer=answer, recall_refuse_reason="Đã trình lãnh đạo, không thu hồi")  # type: ignore[arg-type]
    sent = a.send([B])
    b.poll()
    a.recall(sent, form="package", reason="Thu hồi")
    b.poll()
    if answer == "refuse":
        got = a.wait_for_status(sent.document_id, S.RECALL_REFUSED, timeout=WAIT)
        assert got.description == "Đã trình lãnh đạo, không thu hồi"
    else:
        a.assert_no_status(sent.document_id, {S.RECALL_AGREED, S.RECALL_REFUSED}, within=0.2)
        assert b.received_documents()[-1].business is BusinessDocType.RECALL
    assert b.state(sent.document_id).active  # type: ignore[union-attr]


def test_update_subject_and_recipients(agencies: tuple[FakeAgency, ...]) -> None:
    a, b, c = agencies
    _background(b, c)
    sent = a.send([B])
    a.wait_for_status(sent.document_id, S.ACCEPTED, from_=B, timeout=WAIT)
    updated = a.update(sent, subject="Về việc cập nhật trích yếu", add=[C], reason="Bổ sung nơi nhận")
    assert updated.document_id == sent.document_id and updated.business is BusinessDocType.UPDATE
    a.wait_for_status(sent.document_id, S.RECALL_AGREED, from_=B, timeout=WAIT)
    a.wait_for_status(sent.document_id, S.ACCEPTED, from_=C, timeout=WAIT)  # an added receiver: new arrival
    state_b = b.state(sent.document_id)
    assert state_b is not None and state_b.active
    assert state_b.document.subject == "Về việc cập nhật trích yếu"
    a.update(updated, remove=[B], reason="Gửi nhầm nơi nhận")

    def second_agreement() -> bool:
        agreed = [s for s in a.received_statuses(sent.document_id) if s.code is S.RECALL_AGREED]
        return len([s for s in agreed if s.from_code == B]) == 2

    a.wait_until(second_agreement, timeout=WAIT, description="B's answer to the second update")
    assert not b.state(sent.document_id).active  # type: ignore[union-attr]
    assert c.state(sent.document_id).active  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="not a recipient"):
        a.update(updated, remove=["000.00.09.H41"], reason="x")
    with pytest.raises(ValueError, match="changes something"):
        a.update(updated, reason="x")


def test_replace_retires_the_old_document(agencies: tuple[FakeAgency, ...]) -> None:
    a, b, _ = agencies
    _background(b)
    sent = a.send([B])
    a.wait_for_status(sent.document_id, S.ACCEPTED, timeout=WAIT)
    new = a.replace(sent, reason="Thay thế do sai sót nội dung")
    assert new.document_id != sent.document_id and new.business is BusinessDocType.REPLACE
    a.wait_for_status(new.document_id, S.ACCEPTED, from_=B, timeout=WAIT)
    doc = b.state(new.document_id).document  # type: ignore[union-attr]
    assert doc.model is not None and doc.model.trace.business.replacements[0].document_id == sent.document_id  # type: ignore[union-attr]
    assert not b.state(sent.document_id).active  # type: ignore[union-attr]


# ------------------------------------------------------------------------ waits and evidence


def test_wait_timeout_is_bounded_and_lists_the_evidence(agencies: tuple[FakeAgency, ...]) -> None:
    a, b, _ = agencies
    b.behaviour = Behaviour(auto_accept=False)
    sent = a.send([B])
    b.poll()
    arrived = a.wait_for_status(sent.document_id, S.ARRIVED, timeout=WAIT)
    t0 = time.monotonic()
    with pytest.raises(WaitTimeout) as info:
        a.wait_for_status(sent.document_id, S.ACCEPTED, from_=B, timeout=0.3)
    elapsed = time.monotonic() - t0
    assert 0.3 <= elapsed < 1.5
    message = str(info.value)
    assert f"status 03 from {B} for document {sent.document_id}" in message
    assert sent.hub_doc_id in message and arrived.hub_doc_id in message and "received status 01" in message
    assert info.value.timeout == 0.3


def test_assert_no_status_fails_when_the_status_comes(agencies: tuple[FakeAgency, ...]) -> None:
    a, b, _ = agencies
    sent = a.send([B])
    b.poll()
    with pytest.raises(UnexpectedStatus, match=f"status 03 from {B}"):
        a.assert_no_status(sent.document_id, S.ACCEPTED, within=WAIT)


def test_background_poller_start_stop(agencies: tuple[FakeAgency, ...]) -> None:
    a, b, _ = agencies
    poller = b.run_in_background(0.01)
    assert b.polling_in_background
    with pytest.raises(RuntimeError, match="already polling"):
        b.run_in_background()
    sent = a.send([B])
    a.wait_for_status(sent.document_id, S.ACCEPTED, timeout=WAIT)
    t0 = time.monotonic()
    poller.stop()
    assert time.monotonic() - t0 < 1.0 and not b.polling_in_background and poller.rounds > 0
    again = a.send([B])
    with pytest.raises(WaitTimeout):
        a.wait_for_status(again.document_id, S.ARRIVED, timeout=0.2)  # nobody polls B now
    with b.run_in_background(0.01):
        a.wait_for_status(again.document_id, S.ACCEPTED, timeout=WAIT)
    assert not b.polling_in_background


def test_without_acknowledgement_items_stay_listed_but_are_answered_once(
    agencies: tuple[FakeAgency, ...],
) -> None:
    a, b, _ = agencies
    b.behaviour = Behaviour(acknowledge=False)
    sent = a.send([B])
    b.poll()
    b.poll()
    pending = [i for i in b.client.get_received_edoc_list() if i["to"] == B]
    doc = b.received_documents()[-1]
    assert doc.hub_doc_id in {i["docId"] for i in pending}
    a.wait_for_status(sent.document_id, S.ACCEPTED, timeout=WAIT)
    assert [s.code for s in b.mailbox.sent_statuses(sent.document_id)] == [S.ARRIVED, S.ACCEPTED]
    b.behaviour = Behaviour()
    b.client.update_status(doc.hub_doc_id, "done")


@pytest.fixture
def faults(hub: EmbeddedHub) -> Iterator[Callable[[list[dict[str, Any]]], None]]:
    control = hub.control()

    def set_rules(rules: list[dict[str, Any]]) -> None:
        control.set_faults(rules)

    yield set_rules
    control.clear_faults()
    control.close()


def test_replies_survive_injected_hub_faults(
    agencies: tuple[FakeAgency, ...], faults: Callable[[list[dict[str, Any]]], None]
) -> None:
    a, b, _ = agencies
    sent = a.send([B])
    faults([{"operation": "sendEdoc", "error_rate": 1.0, "count": 2}])
    first = b.poll()  # B fetches the document but cannot send its 01
    assert not first.replies and "not sent yet" in first.errors[0] and "503" in first.errors[0]
    b.poll()  # the second injected failure
    b.poll()
    a.wait_for_status(sent.document_id, S.ACCEPTED, timeout=WAIT)
    assert [s.code for s in a.received_statuses(sent.document_id)] == [S.ARRIVED, S.ACCEPTED]
    assert any("not sent yet" in e for e in b.mailbox.errors())


def test_listing_faults_do_not_lose_documents(
    agencies: tuple[FakeAgency, ...], faults: Callable[[list[dict[str, Any]]], None]
) -> None:
    a, b, _ = agencies
    sent = a.send([B])
    faults([{"operation": "getEdoc", "error_rate": 1.0, "count": 1}])
    round_ = b.poll()
    assert not round_.documents and "retried next round" in round_.errors[0]
    b.poll()
    assert a.wait_for_status(sent.document_id, S.ACCEPTED, timeout=WAIT).from_code == B


def test_duplicate_delivery_is_recorded_not_answered_twice(
    agencies: tuple[FakeAgency, ...], faults: Callable[[list[dict[str, Any]]], None]
) -> None:
    a, b, _ = agencies
    faults([{"operation": "sendEdoc", "duplicate_delivery": 1}])
    sent = a.send([B])
    b.poll()
    copies = [d for d in b.received_documents() if d.document_id == sent.document_id]
    assert len(copies) == 2 and copies[1].duplicate_of == copies[0].hub_doc_id
    a.wait_for_status(sent.document_id, S.ACCEPTED, timeout=WAIT)
    a.poll()
    assert [s.code for s in a.received_statuses(sent.document_id)] == [S.ARRIVED, S.ACCEPTED]
    assert "not answered again" in "\n".join(b.mailbox.evidence(sent.document_id))


def test_agencies_of_one_code_never_issue_the_same_document_id(hub: EmbeddedHub) -> None:
    """A conformance run makes a new agency object per scenario; with the same random draws (same seed)
    the second must still number its documents apart from the first's, as one văn thư register would —
    a DocumentId issued twice reads to the receiver as one document re-sent with other content."""
    issued: list[str] = []
    for _ in range(2):
        [a] = make_agencies(hub, [SENDER], system_id=SYS_SEND, seed=7)
        try:
            issued += [a.send([B], attachment_size=500).document_id for _ in range(3)]
        finally:
            a.close()
    assert len(set(issued)) == 6, issued
    numbers = [int(doc_id.split(",")[2].split("/")[0]) for doc_id in issued]
    assert numbers == list(range(numbers[0], numbers[0] + 6)), "one register: numbers in sequence"
    [b] = make_agencies(hub, [B], system_id=SYS_RECV)
    try:
        b.poll()  # answer what arrived, so later tests start from an empty mailbox
    finally:
        b.close()


def test_make_agencies_refuses_agencies_of_another_system(hub: EmbeddedHub) -> None:
    with pytest.raises(ValueError, match=f"does not host {B}.*hosts {SENDER}"):
        make_agencies(hub, [B], system_id=SYS_SEND)
    with pytest.raises(ValueError, match="no system"):
        make_agencies(hub, [B], system_id="nope")


def test_send_arguments_are_checked(agencies: tuple[FakeAgency, ...]) -> None:
    a, _, _ = agencies
    with pytest.raises(ValueError, match="at least one"):
        a.send([])
    with pytest.raises(ValueError, match="twice"):
        a.send([B, B])
    with pytest.raises(TypeError, match="list of agency codes"):
        a.send(B)
    sent = a.send([B])
    with pytest.raises(ValueError, match="reason"):
        a.recall(sent, form="package", reason=" ")


# ---------------------------------------------------------------------------- pure decisions


def test_behaviour_is_validated() -> None:
    with pytest.raises(ValueError, match="non-empty reason"):
        Behaviour(refuse_all="  ")
    with pytest.raises(ValueError, match="agree, refuse, ignore"):
        Behaviour(recall_answer="maybe")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not a processing status"):
        Behaviour(advance_to=S.REFUSED)
    assert Behaviour(advance_to="05").advance_to is S.IN_PROGRESS  # type: ignore[arg-type]


def test_arrival_replies() -> None:
    assert arrival_replies(Behaviour(), None) == [Reply(S.ARRIVED), Reply(S.ACCEPTED)]
    assert arrival_replies(Behaviour(), "bad") == [Reply(S.ARRIVED), Reply(S.REFUSED, "bad")]
    assert arrival_replies(Behaviour(auto_arrived=False, refuse_all="no"), None) == [Reply(S.REFUSED, "no")]
    assert arrival_replies(Behaviour(auto_accept=False, advance_to=S.COMPLETED), None) == [Reply(S.ARRIVED)]
    assert [r.code for r in arrival_replies(Behaviour(advance_to=S.ASSIGNED), None)] == [
        S.ARRIVED,
        S.ACCEPTED,
        S.ASSIGNED,
    ]


def test_advance_path_and_recall_reply() -> None:
    assert advance_path(S.ARRIVED, S.COMPLETED) == [S.ACCEPTED, S.ASSIGNED, S.IN_PROGRESS, S.COMPLETED]
    assert advance_path(S.IN_PROGRESS, S.ASSIGNED) == []
    with pytest.raises(ValueError, match="final"):
        advance_path(S.REFUSED, S.ACCEPTED)
    agree = Behaviour()
    assert recall_reply(agree, S.ACCEPTED, known=True) == Reply(S.RECALL_AGREED)
    late = recall_reply(agree, S.COMPLETED, known=True)
    assert late is not None and late.code is S.RECALL_REFUSED and "06" in (late.description or "")
    unknown = recall_reply(agree, None, known=False)
    assert unknown is not None and unknown.code is S.RECALL_REFUSED
    assert recall_reply(dataclasses.replace(agree, recall_answer="ignore"), S.ACCEPTED, known=True) is None


def test_credentials_are_cached_per_ca(tmp_path: Path, hub: EmbeddedHub) -> None:
    first = agency_credential(hub.ca, C)
    assert agency_credential(hub.ca, C) is first
    assert first.certificate.subject.rfc4514_string().count(C) >= 1
