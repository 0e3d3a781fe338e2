"""Steps of the processing lifecycle (03→06), recalls, updates and replacements, both directions."""

from __future__ import annotations

import re

from pytest_bdd import parsers, then, when

from features.steps.support import (
    STATUS_NAMES,
    Harness,
    Outbound,
    ScenarioState,
    describe_status,
    not_applicable,
    unique_subject,
)
from simulator.agency.mailbox import ReceivedDocument, ReceivedStatus, SentDocument
from simulator.conformance.expect import check
from simulator.edxml.model import BusinessDocType, ReceiverType, StatusCode
from simulator.edxml.status import check_transition
from simulator.sut.driver import Capability, DriverError, NotSupported, OutgoingDocument, SutDocumentState

__all__ = [
    "a_recalls",
    "a_recalls_by_status",
    "a_replaces",
    "a_updates_subject",
    "answer_reaches_sut",
    "clerk_moves",
    "clerk_tries",
    "legal_order",
    "no_status_after_refusal",
    "receives_recall_package",
    "receives_recall_status",
    "receives_replacement_package",
    "receives_status_for_new",
    "receives_status_for_replaced",
    "receives_update_package",
    "still_active",
    "sut_recalls",
    "sut_recalls_by_status",
    "sut_replaces",
    "sut_shows_subject",
    "sut_updates_adding",
    "withdrawn",
    "withdrawn_replaced",
]

_QUOTED = re.compile(r'"(\d{2})"')


# ------------------------------------------------------------------------------------ the clerk (SUT)


@when(parsers.re(r"the SUT's clerk moves the document through (?P<codes>.+)"))
def clerk_moves(harness: Harness, inbound: SentDocument, codes: str) -> None:
    harness.require(Capability.ADVANCE)
    for code in _QUOTED.findall(codes):
        status = StatusCode(code)

        def advance(status: StatusCode = status) -> None:
            harness.driver.advance(inbound.document_id, agency=harness.sut_agency, status=status)

        harness.drive("QD28-9.2.a", f"move {inbound.document_id} to status {STATUS_NAMES[code]}", advance)


@when(parsers.parse('the SUT\'s clerk tries to move the document to status "{code}"'))
def clerk_tries(harness: Harness, ctx: ScenarioState, inbound: SentDocument, code: str) -> None:
    """An illegal request: the SUT may decline it (recorded) — what matters is what reaches the hub."""
    harness.require(Capability.ADVANCE)
    try:
        harness.driver.advance(inbound.document_id, agency=harness.sut_agency, status=StatusCode(code))
    except NotSupported as exc:
        not_applicable(str(exc))
    except DriverError as exc:
        ctx.refused_requests.append(f"advance to {code}: {exc}")


@then('no status follows the refusal "02" for that document')
def no_status_after_refusal(harness: Harness, inbound: SentDocument) -> None:
    later = [c for c in StatusCode if c not in (StatusCode.ARRIVED, StatusCode.REFUSED)]
    harness.assert_no_status(
        "A",
        inbound.document_id,
        later,
        ["QD28-14.2", "QD28-9.2.a"],
        expected=f"nothing after the final status 02 for {inbound.document_id}",
        sent=inbound,
    )


@then("the statuses the SUT's agency sent for that document follow the legal order")
def legal_order(harness: Harness, inbound: SentDocument) -> None:
    harness.settle("A")
    seen = harness.statuses_from_sut("A", inbound.document_id)
    history: list[StatusCode] = []
    for st in seen:
        verdict = check_transition(history, st.code)
        check(
            verdict.verdict.legal,
            ["QD28-9.2.a", "QD28-14.2"],
            expected="statuses in the legal order 01 → 03 → (04) → (05) → 06, never backwards",
            actual=f"{verdict.describe()}: {describe_status(st)}; sequence "
            + ", ".join(s.code.value for s in seen),
            evidence=harness.evidence_for(inbound),
        )
        history.append(st.code)


# ------------------------------------------------------------------------------ recalls (harness → SUT)


@when(parsers.parse('agency A recalls the document with a recall package and the reason "{reason}"'))
def a_recalls(harness: Harness, inbound: SentDocument, reason: str) -> None:
    harness.agency("A").recall(inbound, form="package", reason=reason)


@when(parsers.parse('agency A recalls the document with status "13" and the reason "{reason}"'))
def a_recalls_by_status(harness: Harness, inbound: SentDocument, reason: str) -> None:
    harness.agency("A").recall(inbound, form="status", reason=reason)


def _state(harness: Harness, document_id: str, requirement: str) -> SutDocumentState | None:
    harness.require(Capability.QUERY)
    return harness.drive(
        requirement,
        f"report what it holds for {document_id}",
        lambda: harness.driver.query(document_id, agency=harness.sut_agency),
    )


def _describe_state(state: SutDocumentState | None) -> str:
    if state is None:
        return "the SUT reports no such document"
    status = state.status.value if state.status is not None else "none"
    return (
        f"active={state.active}, status {status}, subject «{state.subject}», business {int(state.business)}"
    )


def _wait_inactive(harness: Harness, document_id: str, sent: SentDocument | None) -> None:
    last: list[SutDocumentState | None] = [None]

    def probe() -> bool | None:
        state = _state(harness, document_id, "QD28-9.2.b")
        last[0] = state
        return True if state is not None and not state.active else None

    harness.poll_until(
        probe,
        "QD28-9.2.b",
        expected=f"{document_id} no longer active at the SUT (cancelled after the recall)",
        actual=lambda: _describe_state(last[0]),
        evidence=lambda: harness.evidence_for(sent, document_id=document_id),
    )


@then("the SUT no longer shows the document as active")
def withdrawn(harness: Harness, inbound: SentDocument) -> None:
    _wait_inactive(harness, inbound.document_id, inbound)


@then("the SUT still shows the document as active")
def still_active(harness: Harness, inbound: SentDocument) -> None:
    state = _state(harness, inbound.document_id, "QD28-9.2.b")
    check(
        state is not None and state.active,
        "QD28-9.2.b",
        expected=f"{inbound.document_id} still active (the recall was refused with 16)",
        actual=_describe_state(state),
        evidence=harness.evidence_for(inbound),
    )


# ------------------------------------------------------------------------------ recalls (SUT → harness)


def _later_package(harness: Harness, out: Outbound, kind: str) -> ReceivedDocument:
    """The next package at A about ``out``'s DocumentId after the original (a recall/update …)."""
    first = out.received.get("A")
    first_hub = first.hub_doc_id if first is not None else None

    def about(doc: ReceivedDocument) -> bool:
        if doc.hub_doc_id == first_hub or doc.model is None:
            return False
        business = doc.model.trace.business if doc.model.trace is not None else None
        return doc.document_id == out.document_id or (
            business is not None and business.document_id == out.document_id
        )

    return harness.wait_document(
        "A",
        about,
        ["QD28-8.2", "EDXML-TRACE"],
        expected=f"a {kind} package about {out.document_id}",
        document_id=out.document_id,
    )


@when(
    parsers.parse('the SUT\'s agency recalls that document with a recall package and the reason "{reason}"')
)
def sut_recalls(harness: Harness, outbound: Outbound, reason: str) -> None:
    harness.require(Capability.RECALL)
    harness.drive(
        "QD28-8.2",
        f"recall {outbound.document_id} with a recall package",
        lambda: harness.driver.recall(
            outbound.document_id, agency=harness.sut_agency, form="package", reason=reason
        ),
    )


@when(parsers.parse('the SUT\'s agency recalls that document with status "13" and the reason "{reason}"'))
def sut_recalls_by_status(harness: Harness, outbound: Outbound, reason: str) -> None:
    harness.require(Capability.RECALL)
    harness.drive(
        "QD28-8.2",
        f"recall {outbound.document_id} with status 13",
        lambda: harness.driver.recall(
            outbound.document_id, agency=harness.sut_agency, form="status", reason=reason
        ),
    )


@then("agency A receives a recall package for that document with a non-empty reason")
def receives_recall_package(harness: Harness, outbound: Outbound) -> None:
    doc = _later_package(harness, outbound, "recall")
    assert doc.model is not None
    business = doc.model.trace.business if doc.model.trace is not None else None
    reason = (business.business_doc_reason or "").strip() if business is not None else ""
    check(
        doc.business is BusinessDocType.RECALL and bool(reason),
        ["QD28-8.2", "EDXML-TRACE"],
        expected=f"BussinessDocType 1 (thu hồi) about {outbound.document_id} with a BussinessDocReason",
        actual=f"BussinessDocType {int(doc.business)}, reason «{reason}» (hub docId {doc.hub_doc_id})",
        evidence=harness.evidence_for(document_id=outbound.document_id),
    )


@then('agency A receives status "13" for that document with a non-empty reason')
def receives_recall_status(harness: Harness, outbound: Outbound) -> None:
    st: ReceivedStatus = harness.wait_status("A", outbound.document_id, StatusCode.RECALL_REQUEST, "QD28-8.2")
    check(
        bool(st.description and st.description.strip()),
        ["QD28-8.2", "EDXML-STATUS"],
        expected="status 13 with a Description giving the reason for the recall",
        actual=describe_status(st),
        evidence=harness.evidence_for(document_id=outbound.document_id),
    )


@then(parsers.parse('agency A\'s answer "{code}" reaches the SUT'))
def answer_reaches_sut(harness: Harness, outbound: Outbound, code: str) -> None:
    wanted = StatusCode(code)
    agency = harness.agency("A")
    harness.poll_until(
        lambda: (
            True
            if any(s.code is wanted for s in agency.mailbox.sent_statuses(outbound.document_id))
            else None
        ),
        "QD28-8.2",
        expected=f"agency A to answer {STATUS_NAMES[code]} (harness side)",
        actual=lambda: (
            "agency A sent "
            + (
                ", ".join(s.code.value for s in agency.mailbox.sent_statuses(outbound.document_id))
                or "nothing"
            )
        ),
        evidence=lambda: harness.evidence_for(document_id=outbound.document_id),
        pump=("A",),
    )
    harness.require(Capability.QUERY)
    seen: list[str] = []

    def probe() -> bool | None:
        state = _state(harness, outbound.document_id, "QD28-8.2")
        seen[:] = [_describe_state(state)]
        if state is not None:
            seen.append(
                "statuses_from_receivers = "
                + str({k: v.value for k, v in state.statuses_from_receivers.items()})
            )
        return (
            True if state is not None and state.statuses_from_receivers.get(agency.code) is wanted else None
        )

    harness.poll_until(
        probe,
        "QD28-8.2",
        expected=f"the SUT to record {agency.code}'s answer {STATUS_NAMES[code]} to its recall",
        actual=lambda: "; ".join(seen),
        evidence=lambda: harness.evidence_for(document_id=outbound.document_id),
    )


# ------------------------------------------------------------------------------ update / replace (in)


@when(parsers.parse('agency A updates the document\'s subject to "{subject}"'))
def a_updates_subject(harness: Harness, inbound: SentDocument, subject: str) -> None:
    harness.agency("A").update(inbound, subject=subject, reason="Điều chỉnh trích yếu văn bản")


@then(parsers.parse('the SUT shows the subject "{subject}" for the document'))
def sut_shows_subject(harness: Harness, inbound: SentDocument, subject: str) -> None:
    last: list[SutDocumentState | None] = [None]

    def probe() -> bool | None:
        state = _state(harness, inbound.document_id, "QD28-9.2.b")
        last[0] = state
        return True if state is not None and state.subject == subject else None

    harness.poll_until(
        probe,
        "QD28-9.2.b",
        expected=f"subject «{subject}» for {inbound.document_id} after the agreed update",
        actual=lambda: _describe_state(last[0]),
        evidence=lambda: harness.evidence_for(inbound),
    )


@when("agency A replaces the document with a new one", target_fixture="replacement")
def a_replaces(harness: Harness, ctx: ScenarioState, inbound: SentDocument) -> SentDocument:
    new = harness.agency("A").replace(
        inbound, reason="Thay thế văn bản ban hành nhầm", subject=unique_subject(harness.label)
    )
    ctx.replacement = new
    return new


@then('agency A receives status "15" for the replaced document')
def receives_status_for_replaced(harness: Harness, inbound: SentDocument, replacement: SentDocument) -> None:
    ids = {inbound.document_id, replacement.document_id}

    def probe() -> ReceivedStatus | None:
        for doc_id in ids:
            for st in harness.statuses_from_sut("A", doc_id):
                if st.code in (StatusCode.RECALL_AGREED, StatusCode.RECALL_REFUSED):
                    return st
        return None

    st = harness.poll_until(
        probe,
        "QD28-9.2.b",
        expected=f"status 15 agreeing to replace {inbound.document_id} by {replacement.document_id}",
        actual=lambda: (
            "; ".join(describe_status(s) for d in ids for s in harness.statuses_from_sut("A", d)) or "nothing"
        ),
        evidence=lambda: harness.evidence_for(inbound) + harness.evidence_for(replacement),
        pump=("A",),
    )
    check(
        st.code is StatusCode.RECALL_AGREED,
        "QD28-9.2.b",
        expected="status 15 (đồng ý) to the replacement",
        actual=describe_status(st),
        evidence=harness.evidence_for(inbound),
    )


@then("the SUT no longer shows the replaced document as active")
def withdrawn_replaced(harness: Harness, inbound: SentDocument) -> None:
    _wait_inactive(harness, inbound.document_id, inbound)


@then('agency A receives status "03" for the new document')
def receives_status_for_new(harness: Harness, replacement: SentDocument) -> None:
    harness.wait_status("A", replacement.document_id, StatusCode.ACCEPTED, "QD28-9.1", sent=replacement)


# ----------------------------------------------------------------------------- update / replace (out)


@when("the SUT's agency updates that document adding agency B as a receiver")
def sut_updates_adding(harness: Harness, outbound: Outbound) -> None:
    harness.require(Capability.UPDATE)
    b = harness.code("B")
    harness.drive(
        "QD28-8.2",
        f"update {outbound.document_id} adding receiver {b}",
        lambda: harness.driver.update(
            outbound.document_id, agency=harness.sut_agency, reason="Bổ sung nơi nhận", add_receivers=(b,)
        ),
    )


@then("agency A receives an update package for that document that adds agency B")
def receives_update_package(harness: Harness, outbound: Outbound) -> None:
    doc = _later_package(harness, outbound, "update")
    assert doc.model is not None
    business = doc.model.trace.business if doc.model.trace is not None else None
    info = business.document_info if business is not None else None
    b = harness.code("B")
    changes = info.receivers if info is not None else []
    added = any(r.organ_id == b and r.receiver_type is ReceiverType.ADDED for r in changes)
    check(
        doc.business is BusinessDocType.UPDATE and added,
        ["QD28-8.2", "EDXML-TRACE"],
        expected=f"BussinessDocType 2 (cập nhật) about {outbound.document_id} whose ReceiverList adds {b}",
        actual=f"BussinessDocType {int(doc.business)}, receivers changed: "
        + (", ".join(f"{r.organ_id}:{int(r.receiver_type)}" for r in changes) or "none"),
        evidence=harness.evidence_for(document_id=outbound.document_id),
    )


@when("the SUT's agency replaces that document with a new one")
def sut_replaces(harness: Harness, ctx: ScenarioState, outbound: Outbound) -> None:
    harness.require(Capability.REPLACE)
    new = OutgoingDocument(
        from_=harness.sut_agency,
        to=tuple(outbound.request.to),
        subject=unique_subject(harness.label),
        priority=outbound.request.priority,
        attachments=outbound.request.attachments,
    )
    ref = harness.drive(
        "QD28-8.2",
        f"replace {outbound.document_id} with a new document",
        lambda: harness.driver.replace(
            outbound.document_id, agency=harness.sut_agency, reason="Thay thế văn bản", new=new
        ),
    )
    ctx.new_outbound = Outbound(new, ref, outbound.recipients)


@then("agency A receives a replacement package that names the replaced document")
def receives_replacement_package(harness: Harness, ctx: ScenarioState, outbound: Outbound) -> None:
    new = ctx.new_outbound
    assert new is not None, "step order: the SUT must replace the document first"
    doc = harness.wait_document(
        "A",
        lambda d: d.subject == new.request.subject,
        ["QD28-8.2", "EDXML-TRACE"],
        expected=f"the replacing document «{new.request.subject}»",
        document_id=new.document_id,
    )
    assert doc.model is not None
    business = doc.model.trace.business if doc.model.trace is not None else None
    named = [r.document_id for r in business.replacements] if business is not None else []
    check(
        doc.business is BusinessDocType.REPLACE and outbound.document_id in named,
        ["QD28-8.2", "EDXML-TRACE"],
        expected=f"BussinessDocType 3 (thay thế) whose ReplacementInfo names {outbound.document_id}",
        actual=f"BussinessDocType {int(doc.business)}, ReplacementInfo names "
        + (", ".join(named) or "nothing"),
        evidence=harness.evidence_for(document_id=outbound.document_id),
    )
