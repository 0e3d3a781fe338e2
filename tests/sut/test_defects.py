"""Every named defect of the reference QLVB changes exactly the behaviour it names.

Table-driven: ``CHECKS[name]`` runs one focused scenario against a fresh QLVB and says whether the
behaviour the defect breaks was correct. Each check must pass on the correct reference and fail on the
reference with that one defect — so a check that cannot fail, or a defect that changes nothing, is
caught here.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from simulator.agency.client import VxpError, VxpTransportError
from simulator.agency.signing import hash_file
from simulator.edxml.identifiers import IdentifierError, parse_document_id
from simulator.edxml.model import BusinessDocType, Priority, StatusCode
from simulator.edxml.validator import Mode, validate
from simulator.hub.embedded import EmbeddedHub
from simulator.pki.ca import CertVariant
from simulator.pki.dsig import SignatureAlgorithm, Verifier
from simulator.requirements import catalogue
from simulator.sut.defects import DEFECTS, UnknownDefectError, check_defects, list_defects
from simulator.sut.driver import AttachmentSpec, LegalValidity, OutgoingDocument
from simulator.sut.reference import Conflict, ReferenceQlvb
from tests.sut.reference_world import H1, H2, Sent, World, open_world, tamper

S = StatusCode
Check = Callable[[World, ReferenceQlvb], tuple[bool, str]]
CHECKS: dict[str, Check] = {}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    yield from open_world(tmp_path_factory, systems=2 * len(DEFECTS) + 4)


def check(*names: str) -> Callable[[Check], Check]:
    def register(fn: Check) -> Check:
        for name in names:
            assert name not in CHECKS, name
            CHECKS[name] = fn
        return fn

    return register


def _received(world: World, q: ReferenceQlvb, **send: Any) -> tuple[Sent, list[str]]:
    sent = world.send(q.agencies[0], **send)
    q.poll_once()
    return sent, world.codes(sent.document_id)


def _refused(world: World, q: ReferenceQlvb, **send: Any) -> tuple[bool, str]:
    _, codes = _received(world, q, **send)
    return codes == ["01", "02"], f"statuses {codes}"


def _validity(world: World, q: ReferenceQlvb, **send: Any) -> LegalValidity | None:
    sent, _ = _received(world, q, **send)
    state = q.query(sent.document_id, agency=q.agencies[0])
    return state.legal_validity if state is not None else None


def _sent_docs(world: World, q: ReferenceQlvb, document: OutgoingDocument) -> list[Any]:
    ref = q.send_document(document)
    return world.documents(lambda d: d.model.header.document_id == ref.document_id)


def _one_sent(world: World, q: ReferenceQlvb, **kw: Any) -> Any:
    doc = OutgoingDocument(q.agencies[0], kw.pop("to", [H1]), kw.pop("subject", "V/v kiểm tra lỗi"), **kw)
    got = _sent_docs(world, q, doc)
    assert got, "the harness received nothing"
    return got[0]


def _strict_errors(doc: Any, requirement: str) -> list[str]:
    return [
        d.message
        for d in validate(doc.model, mode=Mode.STRICT)
        if d.severity.value == "error" and d.requirement == requirement
    ]


# ------------------------------------------------------------------------------------ signatures


@check("accepts-bad-signature")
def _tampered(world: World, q: ReferenceQlvb) -> tuple[bool, str]:
    return _refused(world, q, mutate=tamper)


@check("accepts-untrusted-cert")
def _untrusted(world: World, q: ReferenceQlvb) -> tuple[bool, str]:
    return _refused(world, q, credential=world.creds["untrusted"])


@check("accepts-expired-cert")
def _expired(world: World, q: ReferenceQlvb) -> tuple[bool, str]:
    a, why_a = _refused(world, q, credential=world.creds["expired"])
    b, why_b = _refused(world, q, credential=world.creds["not-yet-valid"])
    return a and b, f"expired: {why_a}; not yet valid: {why_b}"


@check("accepts-revoked-cert")
def _revoked(world: World, q: ReferenceQlvb) -> tuple[bool, str]:
    return _refused(world, q, credential=world.creds["revoked"])


@check("accepts-wrong-key-usage")
def _key_usage(world: World, q: ReferenceQlvb) -> tuple[bool, str]:
    return _refused(world, q, credential=world.creds["wrong-key-usage"])


@check("accepts-sha1")
def _sha1(world: World, q: ReferenceQlvb) -> tuple[bool, str]:
    v = _validity(world, q, algorithm=SignatureAlgorithm.RSA_SHA1)
    return v is LegalValidity.REFERENCE_ONLY, f"legal validity {v}"


@check("unsigned-as-valid")
def _unsigned(world: World, q: ReferenceQlvb) -> tuple[bool, str]:
    v = _validity(world, q, credential=None)
    return v is LegalValidity.REFERENCE_ONLY, f"legal validity {v}"


# ------------------------------------------------------------------------------------ intake


@check("accepts-misaddressed")
def _misaddressed(world: World, q: ReferenceQlvb) -> tuple[bool, str]:
    a, b = q.agencies
    sent = world.send_package(world.document(b), to=[a])
    q.poll_once()
    codes = world.codes(sent.document_id)
    return codes == ["01", "02"], f"statuses {codes}"


@check("accepts-missing-attachment")
def _missing_attachment(world: World, q: ReferenceQlvb) -> tuple[bool, str]:
    pkg = world.document(q.agencies[0], attachments=2)
    pkg.attachments.pop()
    sent = world.send_package(pkg)
    q.poll_once()
    codes = world.codes(sent.document_id)
    return codes == ["01", "02"], f"statuses {codes}"


@check("drops-attachment")
def _all_attachments(world: World, q: ReferenceQlvb) -> tuple[bool, str]:
    sent, _ = _received(world, q, attachments=2)
    state = q.query(sent.document_id, agency=q.agencies[0])
    n = len(state.attachments) if state else -1
    return n == 2, f"{n} attachment(s) registered of 2"


@check("accepts-malformed-agency-code")
def _malformed_code(world: World, q: ReferenceQlvb) -> tuple[bool, str]:
    a = q.agencies[0]
    pkg = world.document(a)
    odd = copy.copy(pkg.header.to[0])
    odd.organ_id = "vxp.saas.03"
    pkg.header.to.append(odd)
    sent = world.send_package(pkg, to=[a])
    q.poll_once()
    codes = world.codes(sent.document_id)
    return codes == ["01", "02"], f"statuses {codes}"


@check("urgent-fifo")
def _urgent_first(world: World, q: ReferenceQlvb) -> tuple[bool, str]:
    a = q.agencies[0]
    q.pause_intake(True)
    normal = world.send(a, priority=Priority.NORMAL)
    flash = world.send(a, priority=Priority.FLASH)
    q.pause_intake(False)
    q.poll_once()
    world.codes(flash.document_id)
    order = [s.response_for for s in world.statuses_seen if s.code is S.ACCEPTED]
    ours = [i for i in order if i in (normal.document_id, flash.document_id)]
    return ours == [flash.document_id, normal.document_id], f"accepted in order {ours}"


@check("registers-duplicates")
def _duplicates(world: World, q: ReferenceQlvb) -> tuple[bool, str]:
    sent = world.send(q.agencies[0])
    world.harness.send_edoc(sent.raw, from_=H1)
    q.poll_once()
    q.poll_once()
    codes = world.codes(sent.document_id)
    return codes == ["01", "03"], f"statuses {codes}"


@check("never-acks")
def _acks(world: World, q: ReferenceQlvb) -> tuple[bool, str]:
    sent, _ = _received(world, q)
    state = world.delivery_state(sent.hub_id)
    return state == "done", f"delivery state {state}"


@check("ignores-incoming-statuses")
def _consumes_statuses(world: World, q: ReferenceQlvb) -> tuple[bool, str]:
    doc = _one_sent(world, q)
    world.answer(doc, S.ARRIVED, H1)
    q.poll_once()
    state = q.query(doc.model.header.document_id, agency=q.agencies[0])
    seen = state.statuses_from_receivers if state else None
    return seen == {H1: S.ARRIVED}, f"statuses from receivers {seen}"


# ------------------------------------------------------------------------------------ statuses


@check("skips-01", "late-01", "never-accepts")
def _01_then_03(world: World, q: ReferenceQlvb) -> tuple[bool, str]:
    _, codes = _received(world, q)
    return codes == ["01", "03"], f"statuses {codes}"


@check("goes-backwards")
def _forward(world: World, q: ReferenceQlvb) -> tuple[bool, str]:
    a = q.agencies[0]
    sent, _ = _received(world, q)
    for code in (S.ASSIGNED, S.IN_PROGRESS, S.COMPLETED):
        q.advance(sent.document_id, agency=a, status=code)
    codes = world.codes(sent.document_id)
    return codes == ["01", "03", "04", "05", "06"], f"statuses {codes}"


@check("status-after-final")
def _final(world: World, q: ReferenceQlvb) -> tuple[bool, str]:
    sent, _ = _received(world, q, mutate=tamper)
    refused = False
    try:
        q.advance(sent.document_id, agency=q.agencies[0], status=S.ACCEPTED)
    except Conflict:
        refused = True
    codes = world.codes(sent.document_id)
    return refused and codes == ["01", "02"], f"advance refused: {refused}; statuses {codes}"


@check("wrong-responsefor")
def _response_for(world: World, q: ReferenceQlvb) -> tuple[bool, str]:
    _sent, codes = _received(world, q)
    other = [s.response_for for s in world.statuses_seen[-2:]]
    return codes == ["01", "03"], f"statuses naming the document {codes}; last ResponseFor {other}"


@check("reject-without-reason")
def _reason(world: World, q: ReferenceQlvb) -> tuple[bool, str]:
    sent, _ = _received(world, q, mutate=tamper)
    reasons = [s.description for s in world.statuses(sent.document_id) if s.code is S.REFUSED]
    return len(reasons) == 1 and bool(reasons[0].strip()), f"02 descriptions {reasons}"


# ------------------------------------------------------------------------------------ recall etc.


@check("ignores-recall", "silent-on-recall")
def _recall(world: World, q: ReferenceQlvb) -> tuple[bool, str]:
    sent, _ = _received(world, q)
    world.recall_status(sent)
    q.poll_once()
    codes = world.codes(sent.document_id)
    state = q.query(sent.document_id, agency=q.agencies[0])
    active = state.active if state else None
    return codes == ["01", "03", "15"] and active is False, f"statuses {codes}; active {active}"


@check("agrees-recall-after-completion")
def _late_recall(world: World, q: ReferenceQlvb) -> tuple[bool, str]:
    sent, _ = _received(world, q)
    q.advance(sent.document_id, agency=q.agencies[0], status=S.COMPLETED)
    world.recall_package(sent)
    q.poll_once()
    codes = world.codes(sent.document_id)
    return codes[-1:] == ["16"], f"statuses {codes}"


@check("ignores-update")
def _update(world: World, q: ReferenceQlvb) -> tuple[bool, str]:
    a = q.agencies[0]
    sent, _ = _received(world, q)
    update = world.document(a, business=BusinessDocType.UPDATE, original=sent.document_id)
    update.header.subject = "V/v trích yếu đã cập nhật"
    assert update.trace is not None and update.trace.business is not None
    update.trace.business.document_info = None
    world.send_package(update, to=[a])
    q.poll_once()
    state = q.query(sent.document_id, agency=a)
    subject = state.subject if state else None
    return subject == "V/v trích yếu đã cập nhật", f"subject {subject!r}"


@check("ignores-replace")
def _replace(world: World, q: ReferenceQlvb) -> tuple[bool, str]:
    a = q.agencies[0]
    old, _ = _received(world, q)
    world.send_package(world.document(a, business=BusinessDocType.REPLACE, original=old.document_id))
    q.poll_once()
    state = q.query(old.document_id, agency=a)
    active = state.active if state else None
    return active is False, f"replaced document active: {active}"


# ------------------------------------------------------------------------------------ sending


@check("sends-unsigned", "signs-sha1")
def _signature(world: World, q: ReferenceQlvb) -> tuple[bool, str]:
    doc = _one_sent(world, q)
    result = Verifier(world.ca.trust_store()).verify(doc.raw)
    ok = result.ok and result.signed and result.algorithm == "rsa-sha256"
    return ok, f"signed {result.signed}, algorithm {result.algorithm}: {result.message[:80]}"


@check("malformed-agency-codes")
def _codes(world: World, q: ReferenceQlvb) -> tuple[bool, str]:
    errors = _strict_errors(_one_sent(world, q), "QD28-10.2.a")
    return not errors, f"agency-code errors {errors}"


@check("bad-document-id")
def _document_id(world: World, q: ReferenceQlvb) -> tuple[bool, str]:
    doc = _one_sent(world, q)
    try:
        ident = parse_document_id(doc.model.header.document_id, strict=True)
    except IdentifierError as exc:
        return False, exc.message
    return ident.date is not None, f"parsed {ident}"


@check("drops-priority")
def _priority(world: World, q: ReferenceQlvb) -> tuple[bool, str]:
    doc = _one_sent(world, q, priority=Priority.FLASH)
    got = doc.model.header.other_info.priority if doc.model.header.other_info else None
    return got is Priority.FLASH, f"priority {got}"


@check("omits-signer")
def _signer(world: World, q: ReferenceQlvb) -> tuple[bool, str]:
    signer = _one_sent(world, q).model.header.signer_info
    return signer is not None and bool(signer.full_name), f"signer {signer}"


@check("invalid-edxml")
def _valid_edxml(world: World, q: ReferenceQlvb) -> tuple[bool, str]:
    doc = _one_sent(world, q, attachments=[AttachmentSpec("a.txt", b"noi dung")])
    errors = [d.message for d in validate(doc.model, mode=Mode.STRICT) if d.severity.value == "error"]
    return not errors, f"strict errors {errors}"


@check("duplicate-to")
def _to_once(world: World, q: ReferenceQlvb) -> tuple[bool, str]:
    to = [o.organ_id for o in _one_sent(world, q).model.header.to]
    return len(to) == len(set(to)), f"MessageHeader/To lists {to}"


@check("drops-recipient")
def _recipients(world: World, q: ReferenceQlvb) -> tuple[bool, str]:
    got = _sent_docs(world, q, OutgoingDocument(q.agencies[0], [H1, H2], "V/v gửi hai nơi"))
    to = sorted(d.to for d in got)
    return to == [H1, H2], f"delivered to {to}"


@check("sends-late")
def _on_time(world: World, q: ReferenceQlvb) -> tuple[bool, str]:
    doc = _one_sent(world, q)
    info = doc.model.header.promulgation_info
    date = info.promulgation_date if info else None
    today = world.hub.clock.now().date()
    return date == today, f"promulgated {date}, sent {today}"


@check("wrong-business-type")
def _business_type(world: World, q: ReferenceQlvb) -> tuple[bool, str]:
    a = q.agencies[0]
    ref = q.send_document(OutgoingDocument(a, [H1], "V/v sẽ thu hồi"))
    q.recall(ref.document_id, agency=a, form="package", reason="Gửi nhầm")
    types = [
        d.model.business_doc_type
        for d in world.documents(lambda d: d.model.header.document_id == ref.document_id)
    ]
    return types == [BusinessDocType.NEW, BusinessDocType.RECALL], f"business types {types}"


# ------------------------------------------------------------------------------------ transport


def _faulty(q: ReferenceQlvb, plan: list[str]) -> None:
    client = q._send_client
    real = client.send_edoc

    def send_edoc(package: bytes, **kw: Any) -> str:
        step = plan.pop(0) if plan else "ok"
        if step == "503":
            raise VxpError("sendEdoc", "UNAVAILABLE", "injected fault", 503)
        if step == "drop":
            real(package, **kw)
            raise VxpTransportError("sendEdoc", "injected: connection closed after commit")
        return real(package, **kw)

    client.send_edoc = send_edoc  # type: ignore[method-assign]


@check("omits-hash-file")
def _sdk_hash_file(world: World, q: ReferenceQlvb) -> tuple[bool, str]:
    client = q._send_client
    real = client._request
    seen: list[tuple[str | None, bytes]] = []

    def spy(operation: str, params: Any, **kw: Any) -> Any:
        if operation == "sendEdoc":
            seen.append((kw.get("hash_file"), kw.get("body") or b""))
        return real(operation, params, **kw)

    client._request = spy  # type: ignore[method-assign]
    try:
        _one_sent(world, q)
    finally:
        del client._request
    ok = bool(seen) and all(h == hash_file(body.removesuffix(b"\r\n")) for h, body in seen)
    return ok, f"hash-file {[h for h, _ in seen]}"


@check("no-retry")
def _retry(world: World, q: ReferenceQlvb) -> tuple[bool, str]:
    _faulty(q, ["503"])
    try:
        got = _sent_docs(world, q, OutgoingDocument(q.agencies[0], [H1], "V/v gửi qua lỗi 503"))
    except Exception as exc:
        return False, f"send failed: {exc}"
    return len(got) == 1, f"{len(got)} delivered"


@check("duplicate-on-retry")
def _no_duplicate(world: World, q: ReferenceQlvb) -> tuple[bool, str]:
    _faulty(q, ["drop"])
    got = _sent_docs(world, q, OutgoingDocument(q.agencies[0], [H1], "V/v gửi khi mất phản hồi"))
    return len(got) == 1, f"{len(got)} delivered"


# ------------------------------------------------------------------------------------ time, TLS


def _skew(world: World, q: ReferenceQlvb) -> float:
    q.sync_clock()
    sent, _ = _received(world, q)
    stamp = world.statuses(sent.document_id)[0].model.header.timestamp
    assert stamp is not None
    return abs((world.hub.clock.now() - stamp).total_seconds())


@check("utc-timestamps")
def _vietnam_time(world: World, q: ReferenceQlvb) -> tuple[bool, str]:
    skew = _skew(world, q)
    return skew < 60, f"status timestamp {skew:.0f} s from hub time"


@check("no-time-sync")
def _hub_time(world: World, q: ReferenceQlvb) -> tuple[bool, str]:
    world.hub.clock.set(offset_s=2 * 3600)
    try:
        skew = _skew(world, q)
    finally:
        world.hub.clock.reset()
    return skew < 60, f"status timestamp {skew:.0f} s from the (offset) hub time"


@check("trusts-any-hub-tls")
def _tls(world: World, q: ReferenceQlvb) -> tuple[bool, str]:
    directory = Path(str(world.hub.data_dir)) / f"tls-{q.system_id}"
    hub = EmbeddedHub(data_dir=directory, tls=CertVariant.EXPIRED, pki_dir=world.ca.directory).start()
    try:
        result = q.probe_hub(hub.endpoint)
    finally:
        hub.stop()
    return not result.connected, result.detail


# ------------------------------------------------------------------------------------ the tests


@pytest.mark.parametrize("name", sorted(DEFECTS))
def test_defect_breaks_the_behaviour_it_names(world: World, name: str) -> None:
    probe = CHECKS[name]
    ok, observed = probe(world, world.qlvb())
    assert ok, f"the correct reference QLVB fails the check for {name}: {observed}"
    ok, observed = probe(world, world.qlvb(defects=[name]))
    assert not ok, (
        f"defect {name} did not change the behaviour it names ({DEFECTS[name].summary}): {observed}"
    )


def test_every_defect_has_a_check_and_is_consulted_by_the_qlvb() -> None:
    assert set(CHECKS) == set(DEFECTS)
    sut = Path(__file__).resolve().parents[2] / "simulator" / "sut"
    source = "".join((sut / f"{m}.py").read_text("utf-8") for m in ("reference", "reception", "composer"))
    quoted = set(re.findall(r'"([a-z0-9]+(?:-[a-z0-9]+)+)"', source))
    assert set(DEFECTS) <= quoted, sorted(set(DEFECTS) - quoted)


def test_registry_rows_are_well_formed() -> None:
    cat = catalogue()
    names = [d.name for d in list_defects()]
    assert names == sorted(names) and len(names) >= 30
    for d in DEFECTS.values():
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", d.name)
        assert d.summary and d.requirement_ids
        for rid in d.requirement_ids:
            assert rid in cat, (d.name, rid)


def test_unknown_defect_names_are_refused_listing_the_valid_ones() -> None:
    assert check_defects([" skips-01", "no-retry"]) == {"skips-01", "no-retry"}
    with pytest.raises(UnknownDefectError) as info:
        check_defects(["skips-01", "typo-defect"])
    assert info.value.unknown == ("typo-defect",)
    assert "'typo-defect'" in str(info.value) and "accepts-bad-signature" in str(info.value)
