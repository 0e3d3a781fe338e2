"""Routing decisions (VXP-ROUTE) and status bookkeeping (QD28-14.2) against a small in-memory history."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest

from simulator.edxml.diagnostics import Severity
from simulator.edxml.model import (
    BusinessDocType,
    BusinessDocumentInfo,
    DocumentPackage,
    ReceiverChange,
    ReceiverType,
    ReplacementInfo,
    StatusCode,
)
from simulator.edxml.status import TransitionVerdict
from simulator.edxml.validator import Mode
from simulator.hub.envelope import ErrorCode, HubError
from simulator.hub.routing import RoutePlan, parse_to_header, plan_document, plan_status
from tests.hub.conftest import SO_NV, SO_TC, UBND, VPCP, document, status


@dataclass
class FakeTxn:
    """What routing reads inside the transaction: documents carried and statuses exchanged."""

    documents: dict[tuple[str, str], dict[str, str]] = field(
        default_factory=dict
    )  # (doc id, sender) -> recipient -> hub id
    history: dict[tuple[str, str, str], list[str]] = field(default_factory=dict)

    def carried(self, document_id: str, sender: str, *recipients: str, hub_id: str = "hub-1") -> None:
        self.documents.setdefault((document_id, sender), {}).update({r: hub_id for r in recipients})

    def find_document(self, document_id: str, from_organ: str, recipient: str | None = None) -> str | None:
        got = self.documents.get((document_id, from_organ), {})
        if recipient is None:
            return next(iter(got.values()), None)
        return got.get(recipient)

    def document_recipients(self, document_id: str, from_organ: str) -> list[str]:
        return list(self.documents.get((document_id, from_organ), {}))

    def status_history(self, document_id: str, original_sender: str, receiver: str) -> list[str]:
        return self.history.get((document_id, original_sender, receiver), [])


def plan_doc(pkg: DocumentPackage, txn: FakeTxn, to: Sequence[str] | None = None) -> RoutePlan:
    return plan_document(pkg, pkg.header.from_.organ_id, to, txn)


def test_parse_to_header_forms() -> None:
    assert parse_to_header(None) is None and parse_to_header("  ") is None
    assert parse_to_header('[{"code":"000.00.00.H41"},{"code":"000.00.01.H41"}]') == [UBND, SO_NV]
    assert parse_to_header('["000.00.00.H41", "000.00.00.H41"]') == [UBND]
    assert parse_to_header("000.00.00.H41, 000.00.01.H41") == [UBND, SO_NV]
    for bad in ('[{"code": 5}]', "[not json", '[{"name":"x"}]'):
        with pytest.raises(HubError) as info:
            parse_to_header(bad)
        assert info.value.code is ErrorCode.BAD_PARAMETER and info.value.requirement == "VXP-PARAM"


def test_new_document_goes_to_its_to_list_or_the_to_parameter() -> None:
    doc = document(VPCP, [UBND, SO_NV])
    plan = plan_doc(doc, FakeTxn())
    assert plan.recipients == [UBND, SO_NV] and plan.findings == [] and plan.original_doc_id is None
    assert plan.document_id == doc.header.document_id
    narrowed = plan_doc(doc, FakeTxn(), to=[SO_NV])
    assert narrowed.recipients == [SO_NV] and narrowed.findings == []
    widened = plan_doc(doc, FakeTxn(), to=[SO_NV, SO_TC])
    assert widened.recipients == [SO_NV, SO_TC]
    assert [f.requirement for f in widened.findings] == ["VXP-ROUTE"] and SO_TC in widened.findings[0].message


def test_recall_reaches_every_original_recipient_and_links_the_original() -> None:
    original = document(VPCP, [UBND, SO_NV], seed=2)
    txn = FakeTxn()
    txn.carried(original.header.document_id, VPCP, UBND, SO_NV, hub_id="orig")
    recall = document(
        VPCP,
        [UBND],
        seed=3,
        business=BusinessDocType.RECALL,
        original_document_id=original.header.document_id,
    )
    plan = plan_doc(recall, txn)
    assert plan.recipients == [UBND, SO_NV] and plan.original_doc_id == "orig" and plan.findings == []
    unknown = plan_doc(recall, FakeTxn())
    assert unknown.recipients == [UBND] and unknown.original_doc_id is None
    assert unknown.findings and "never carried" in unknown.findings[0].message


def test_update_adds_the_changed_receivers() -> None:
    original = document(VPCP, [UBND], seed=4)
    txn = FakeTxn()
    txn.carried(original.header.document_id, VPCP, UBND)
    update = document(
        VPCP,
        [UBND],
        seed=5,
        business=BusinessDocType.UPDATE,
        original_document_id=original.header.document_id,
    )
    assert update.trace is not None and update.trace.business is not None
    update.trace.business.document_info = BusinessDocumentInfo(
        document_info=False,
        document_receiver=True,
        receivers=[ReceiverChange(SO_NV, ReceiverType.ADDED), ReceiverChange(SO_TC, ReceiverType.REMOVED)],
    )
    plan = plan_doc(update, txn)
    assert plan.recipients == [UBND, SO_NV, SO_TC] and plan.original_doc_id == "hub-1"


def test_replace_goes_to_the_replacement_organs_and_the_replaced_documents_recipients() -> None:
    replaced = document(VPCP, [UBND], seed=6)
    txn = FakeTxn()
    txn.carried(replaced.header.document_id, VPCP, UBND, hub_id="old")
    new = document(VPCP, [SO_TC], seed=7)
    assert new.trace is not None and new.trace.business is not None
    new.trace.business.business_doc_type = BusinessDocType.REPLACE
    new.trace.business.replacements = [ReplacementInfo(replaced.header.document_id, [SO_NV])]
    plan = plan_doc(new, txn)
    assert plan.recipients == [SO_TC, SO_NV, UBND] and plan.original_doc_id == "old"


def test_receiver_status_goes_to_the_original_sender_with_its_verdict() -> None:
    doc = document(VPCP, [UBND], seed=8)
    txn = FakeTxn()
    txn.carried(doc.header.document_id, VPCP, UBND, hub_id="doc")
    plan = plan_status(status(doc, "01", UBND), UBND, None, txn, mode=Mode.LENIENT)
    assert plan.recipients == [VPCP] and plan.original_doc_id == "doc"
    assert plan.findings == [] and plan.order_violations == []
    assert [(s.receiver, s.code, s.verdict) for s in plan.statuses] == [
        (UBND, StatusCode.ARRIVED, TransitionVerdict.OK)
    ]
    other = plan_status(status(doc, "01", UBND), UBND, [SO_TC], txn, mode=Mode.LENIENT)
    assert other.recipients == [VPCP] and "differs from ResponseFor" in other.findings[0].message


def test_status_about_a_document_never_received_is_a_violation() -> None:
    doc = document(VPCP, [UBND], seed=9)
    txn = FakeTxn()
    txn.carried(doc.header.document_id, VPCP, SO_NV)  # sent to SO_NV, not to UBND
    plan = plan_status(status(doc, "01", UBND), UBND, None, txn, mode=Mode.LENIENT)
    assert plan.recipients == [VPCP] and plan.original_doc_id is None
    assert plan.findings[0].severity is Severity.ERROR and "never received" in plan.findings[0].message


def test_illegal_order_backwards_and_skips() -> None:
    doc = document(VPCP, [UBND], seed=10)
    key = (doc.header.document_id, VPCP, UBND)
    txn = FakeTxn(history={key: ["01", "03", "05"]})
    txn.carried(doc.header.document_id, VPCP, UBND)
    back = plan_status(status(doc, "03", UBND), UBND, None, txn, mode=Mode.LENIENT)
    assert back.statuses[0].verdict is TransitionVerdict.BACKWARDS
    assert [v.requirement for v in back.order_violations] == ["QD28-14.2"]
    assert back.order_violations[0].severity is Severity.ERROR and UBND in back.order_violations[0].message
    fresh = FakeTxn()
    fresh.carried(doc.header.document_id, VPCP, UBND)
    skip_lenient = plan_status(status(doc, "03", UBND), UBND, None, fresh, mode=Mode.LENIENT)
    skip_strict = plan_status(status(doc, "03", UBND), UBND, None, fresh, mode=Mode.STRICT)
    assert skip_lenient.statuses[0].verdict is TransitionVerdict.SKIPPED
    assert skip_lenient.order_violations[0].severity is Severity.WARNING
    assert skip_strict.order_violations[0].severity is Severity.ERROR


def test_recall_request_status_goes_to_the_recipients() -> None:
    doc = document(VPCP, [UBND, SO_NV], seed=11)
    txn = FakeTxn(history={(doc.header.document_id, VPCP, SO_NV): ["01", "03", "06"]})
    txn.carried(doc.header.document_id, VPCP, UBND, SO_NV)
    plan = plan_status(status(doc, "13", VPCP), VPCP, None, txn, mode=Mode.LENIENT)
    assert plan.recipients == [UBND, SO_NV]
    verdicts = {s.receiver: s.verdict for s in plan.statuses}
    assert verdicts == {UBND: TransitionVerdict.OK, SO_NV: TransitionVerdict.RECALL_TOO_LATE}
    assert len(plan.order_violations) == 1 and SO_NV in plan.order_violations[0].message
    only = plan_status(status(doc, "13", VPCP), VPCP, [UBND], txn, mode=Mode.LENIENT)
    assert only.recipients == [UBND]
    nothing = plan_status(status(doc, "13", VPCP), VPCP, None, FakeTxn(), mode=Mode.LENIENT)
    assert nothing.recipients == [] and "never carried" in nothing.findings[0].message


def test_status_without_response_for_cannot_be_routed() -> None:
    doc = document(VPCP, [UBND], seed=12)
    st = status(doc, "01", UBND)
    st.header.response_for.document_id = " "
    with pytest.raises(HubError) as info:
        plan_status(st, UBND, None, FakeTxn(), mode=Mode.LENIENT)
    assert info.value.code is ErrorCode.INVALID_PACKAGE and info.value.requirement == "EDXML-STATUS"
