"""Where an accepted package goes (VXP-ROUTE), and the business-status bookkeeping (QD28-14.2).

Runs inside the package's write transaction, so its lookups see every earlier commit.

Documents (``messagetype=edoc``)
    The addressees are the ``to`` header's codes when the sender gives one (the SDK's routing
    instruction; a QLVB may send one package per recipient) and otherwise the package's ``To`` list; a
    ``to`` code absent from ``To`` is a finding. By ``BussinessDocType``:

    * 0 new — the addressees.
    * 1 recall, 2 update — the addressees, plus every agency that received a document with the same
      ``Bussiness/DocumentId`` (else the header's DocumentId) from the same sender, plus for an update
      every agency in ``ReceiverList`` (added ones must get it; removed ones must learn it).
    * 3 replace — the addressees, plus each ``ReplacementInfo``'s ``OrganIdList`` and the recipients of
      the replaced document.

    The package is linked to the original document (``original_doc_id``) when the hub carried it;
    otherwise a finding says the original is unknown (the package is still routed).

Statuses (``messagetype=status``)
    A receiver's status (01–06, 15, 16) goes to ``ResponseFor/OrganId``, the original sender; a status
    from an agency that never received that document through the hub is a recorded violation. A 13
    (recall request) comes from the original sender and goes to the ``to`` codes, else to every
    recipient of the document. Each status is judged against the history of its (DocumentId, original
    sender, receiver) with :func:`simulator.edxml.status.check_transition`; illegal moves are findings
    (``QD28-14.2``) that the intake refuses or records, per policy.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from simulator.edxml.diagnostics import Diagnostic, Severity
from simulator.edxml.model import BusinessDocType, DocumentPackage, StatusCode, StatusPackage
from simulator.edxml.status import TransitionVerdict, check_transition
from simulator.edxml.validator import Mode, validate_transition
from simulator.hub.envelope import ErrorCode, HubError

__all__ = ["PlannedStatus", "RoutePlan", "RoutingView", "parse_to_header", "plan_document", "plan_status"]


class RoutingView(Protocol):
    """What routing reads (a :class:`simulator.hub.store.StoreTxn` provides it)."""

    def find_document(
        self, document_id: str, from_organ: str, recipient: str | None = None
    ) -> str | None: ...
    def document_recipients(self, document_id: str, from_organ: str) -> list[str]: ...
    def status_history(self, document_id: str, original_sender: str, receiver: str) -> list[str]: ...


@dataclass(slots=True)
class PlannedStatus:
    document_id: str
    original_sender: str
    receiver: str
    code: StatusCode
    verdict: TransitionVerdict


@dataclass(slots=True)
class RoutePlan:
    recipients: list[str]
    document_id: str | None = None
    original_doc_id: str | None = None
    statuses: list[PlannedStatus] = field(default_factory=list)
    findings: list[Diagnostic] = field(default_factory=list)
    order_violations: list[Diagnostic] = field(default_factory=list)


def _route_finding(message: str, severity: Severity = Severity.WARNING, path: str = "/") -> Diagnostic:
    return Diagnostic(severity, path, "VXP-ROUTE", message)


def _unique(codes: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(c.strip() for c in codes if c and c.strip()))


def parse_to_header(text: str | None) -> list[str] | None:
    """The ``to`` parameter: JSON ``[{"code": "…"}]`` (the SDK's form), a JSON list of codes, or a
    comma-separated list. None when absent or blank; HubError (VXP-PARAM) when unreadable."""
    if text is None or not text.strip():
        return None
    s = text.strip()
    if not s.startswith("["):
        return _unique(s.split(","))
    try:
        data = json.loads(s)
    except ValueError as exc:
        raise HubError(
            ErrorCode.BAD_PARAMETER,
            "VXP-PARAM",
            f'the to parameter is not valid JSON ({exc}); send e.g. [{{"code":"000.00.00.H41"}}]',
        ) from None
    codes: list[str] = []
    for item in data if isinstance(data, list) else [None]:
        if isinstance(item, dict) and isinstance(item.get("code"), str):
            codes.append(item["code"])
        elif isinstance(item, str):
            codes.append(item)
        else:
            raise HubError(
                ErrorCode.BAD_PARAMETER,
                "VXP-PARAM",
                f'the to parameter holds {item!r}; send a JSON list like [{{"code":"000.00.00.H41"}}]',
            )
    return _unique(codes)


def plan_document(
    pkg: DocumentPackage, sender: str, to_header: Sequence[str] | None, txn: RoutingView
) -> RoutePlan:
    header = pkg.header
    declared = _unique(o.organ_id for o in header.to)
    findings: list[Diagnostic] = []
    if to_header is not None:
        base = list(to_header)
        extra = [c for c in base if c not in declared]
        if extra:
            findings.append(
                _route_finding(
                    f"the to parameter names {', '.join(extra)}, not among the package's To recipients "
                    f"({', '.join(declared) or 'none'}); routed as the to parameter says"
                )
            )
    else:
        base = declared
    recipients = list(base)
    business = pkg.trace.business if pkg.trace is not None else None
    btype = pkg.business_doc_type
    document_id = header.document_id.strip() or None
    original: str | None = None
    if btype in (BusinessDocType.RECALL, BusinessDocType.UPDATE):
        about = (business.document_id.strip() if business is not None else "") or (document_id or "")
        if about:
            original = txn.find_document(about, sender)
            recipients += txn.document_recipients(about, sender)
        if btype is BusinessDocType.UPDATE and business is not None and business.document_info is not None:
            recipients += [r.organ_id for r in business.document_info.receivers]
        if original is None:
            findings.append(
                _route_finding(
                    f"{btype.name.lower()} of document {about or '(no DocumentId)'}, which the hub never "
                    "carried "
                    f"from {sender}; routed to the named recipients only",
                    path="/edXML/edXMLEnvelope/edXMLHeader/TraceHeaderList/Bussiness/DocumentId",
                )
            )
    elif btype is BusinessDocType.REPLACE and business is not None:
        for info in business.replacements:
            recipients += info.organ_ids
            replaced = info.document_id.strip()
            if replaced:
                recipients += txn.document_recipients(replaced, sender)
                original = original or txn.find_document(replaced, sender)
        if original is None:
            findings.append(
                _route_finding(
                    "replacement of a document the hub never carried from this sender; routed to the named "
                    "recipients only",
                    path="/edXML/edXMLEnvelope/edXMLHeader/TraceHeaderList/Bussiness/ReplacementInfoList",
                )
            )
    recipients = _unique(recipients)
    if sender in recipients:
        findings.append(_route_finding(f"the sender {sender} is among its own recipients"))
    return RoutePlan(recipients, document_id, original, findings=findings)


def _judge(
    plan: RoutePlan,
    txn: RoutingView,
    document_id: str,
    original_sender: str,
    receiver: str,
    code: StatusCode,
    mode: Mode,
) -> None:
    history = [
        StatusCode(c)
        for c in txn.status_history(document_id, original_sender, receiver)
        if c in StatusCode._value2member_map_
    ]
    verdict = check_transition(history, code).verdict
    plan.statuses.append(PlannedStatus(document_id, original_sender, receiver, code, verdict))
    if not verdict.legal:
        diag = validate_transition(history, code, mode=mode)
        if diag is not None:
            plan.order_violations.append(
                Diagnostic(
                    diag.severity,
                    diag.path,
                    diag.requirement,
                    f"{diag.message} (document {document_id}, receiver {receiver})",
                )
            )


def plan_status(
    pkg: StatusPackage, sender: str, to_header: Sequence[str] | None, txn: RoutingView, *, mode: Mode
) -> RoutePlan:
    header = pkg.header
    rf = header.response_for
    document_id = rf.document_id.strip()
    original_sender = rf.organ_id.strip()
    code = header.status_code
    plan = RoutePlan([], document_id or None)
    if not document_id or not original_sender:
        raise HubError(
            ErrorCode.INVALID_PACKAGE,
            "EDXML-STATUS",
            "the status has no ResponseFor/DocumentId or ResponseFor/OrganId, so the hub cannot route it; "
            "name the document and its original sender in ResponseFor",
        )
    if code.sent_by_sender:
        if sender != original_sender:
            plan.findings.append(
                _route_finding(
                    f"status 13 comes from {sender}, but ResponseFor/OrganId names {original_sender} as the "
                    "original sender; a recall request is sent by the original sender",
                    Severity.ERROR,
                )
            )
        plan.original_doc_id = txn.find_document(document_id, sender)
        received_by = txn.document_recipients(document_id, sender)
        plan.recipients = list(to_header) if to_header is not None else received_by
        if plan.original_doc_id is None:
            plan.findings.append(
                _route_finding(
                    f"status 13 asks to recall document {document_id}, which the hub never carried from "
                    f"{sender}",
                    Severity.ERROR,
                )
            )
        for receiver in plan.recipients:
            _judge(plan, txn, document_id, sender, receiver, code, mode)
        return plan
    plan.recipients = [original_sender]
    if to_header is not None and list(to_header) != [original_sender]:
        plan.findings.append(
            _route_finding(
                f"the to parameter ({', '.join(to_header) or 'empty'}) differs from ResponseFor/OrganId "
                f"({original_sender}); a status goes to the original sender, routed there"
            )
        )
    plan.original_doc_id = txn.find_document(document_id, original_sender, recipient=sender)
    if plan.original_doc_id is None:
        plan.findings.append(
            _route_finding(
                f"status {code.value} from {sender} answers document {document_id} of {original_sender}, "
                "which "
                f"{sender} never received through the hub",
                Severity.ERROR,
                path="/edXML/edXMLEnvelope/edXMLHeader/MessageHeader/ResponseFor",
            )
        )
    _judge(plan, txn, document_id, original_sender, sender, code, mode)
    return plan
