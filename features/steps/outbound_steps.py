"""Steps where the SUT sends (through its driver) and the harness's agencies inspect what arrives."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import Counter

from pytest_bdd import given, parsers, then, when

from features.steps.support import (
    PRIORITY_NAMES,
    Harness,
    Outbound,
    ScenarioState,
    hub_time_of,
    unique_subject,
)
from simulator.agency.mailbox import ReceivedDocument
from simulator.conformance.expect import check, fail
from simulator.edxml.attachments import AttachmentError, unwrap
from simulator.edxml.diagnostics import Severity
from simulator.edxml.identifiers import IdentifierError, parse_agency_code, parse_document_id
from simulator.edxml.model import BusinessDocType, DocumentPackage, Priority, StatusCode
from simulator.edxml.validator import Mode, validate
from simulator.edxml.vntime import VN_TZ
from simulator.pki.ca import organ_id_of
from simulator.sut.driver import AttachmentSpec, Capability, OutgoingDocument

__all__ = [
    "addressed_to_exactly",
    "agency_codes_conform",
    "agency_receives_once",
    "calls_as_the_sdk",
    "carries_priority",
    "document_id_conforms",
    "has_metadata",
    "has_sut_signature",
    "holds_files",
    "is_valid_edxml",
    "is_well_formed",
    "sent_in_time",
    "sut_has_sent",
    "sut_sends",
    "sut_sends_priority",
    "sut_sends_to_two",
    "sut_sends_with_files",
    "sut_shows_receiver_status",
]


def _files(harness: Harness, count: int) -> tuple[AttachmentSpec, ...]:
    out = []
    for i in range(count):
        body = f"%PDF-1.4\n% {harness.label} tệp {i + 1}\n".encode() + bytes(range(256)) * (8 + i)
        out.append(AttachmentSpec(f"van-ban-{i + 1}.pdf", body, "application/pdf"))
    return tuple(out)


def sut_send(
    harness: Harness,
    ctx: ScenarioState,
    letters: tuple[str, ...],
    *,
    priority: Priority = Priority.NORMAL,
    files: int = 1,
) -> Outbound:
    """Ask the SUT to send a document to the harness agencies ``letters``."""
    harness.require(Capability.SEND)
    request = OutgoingDocument(
        from_=harness.sut_agency,
        to=tuple(harness.code(x) for x in letters),
        subject=unique_subject(harness.label),
        priority=priority,
        attachments=_files(harness, files),
    )
    ref = harness.drive(
        ["QD28-8.1", "VPCP19-RES"],
        f"send a document from {request.from_} to {', '.join(request.to)}",
        lambda: harness.driver.send_document(request),
    )
    out = Outbound(request, ref, letters)
    ctx.outbound = out
    return out


def _matches(out: Outbound):  # type: ignore[no-untyped-def]
    def predicate(doc: ReceivedDocument) -> bool:
        return doc.subject == out.request.subject or (
            bool(out.ref.document_id)
            and doc.document_id == out.ref.document_id
            and doc.business is BusinessDocType.NEW
        )

    return predicate


@when("the SUT's agency sends a document to agency A", target_fixture="outbound")
def sut_sends(harness: Harness, ctx: ScenarioState) -> Outbound:
    return sut_send(harness, ctx, ("A",))


@when("the SUT's agency sends a document to agencies A and B", target_fixture="outbound")
def sut_sends_to_two(harness: Harness, ctx: ScenarioState) -> Outbound:
    return sut_send(harness, ctx, ("A", "B"))


@when(parsers.parse('the SUT\'s agency sends a "{name}" document to agency A'), target_fixture="outbound")
def sut_sends_priority(harness: Harness, ctx: ScenarioState, name: str) -> Outbound:
    if name not in PRIORITY_NAMES:
        raise AssertionError(f"unknown priority {name!r} in the feature file: {', '.join(PRIORITY_NAMES)}")
    return sut_send(harness, ctx, ("A",), priority=PRIORITY_NAMES[name])


@when(
    parsers.parse("the SUT's agency sends a document with {count:d} attachments to agency A"),
    target_fixture="outbound",
)
def sut_sends_with_files(harness: Harness, ctx: ScenarioState, count: int) -> Outbound:
    return sut_send(harness, ctx, ("A",), files=count)


@given("the SUT's agency has sent a document to agency A", target_fixture="outbound")
def sut_has_sent(harness: Harness, ctx: ScenarioState) -> Outbound:
    out = sut_send(harness, ctx, ("A",))
    out.received["A"] = harness.wait_document(
        "A",
        _matches(out),
        "QD28-8.1",
        expected=f"the document «{out.request.subject}» from the SUT",
        document_id=out.document_id,
    )
    return out


@then(parsers.parse("agency {letter} receives the document exactly once"))
def agency_receives_once(harness: Harness, outbound: Outbound, letter: str) -> None:
    predicate = _matches(outbound)
    first = harness.wait_document(
        letter,
        predicate,
        ["QD28-8.1", "VPCP19-RES"],
        expected=f"the document «{outbound.request.subject}» ({outbound.document_id}) "
        f"from {harness.sut_agency}",
        document_id=outbound.document_id,
    )
    outbound.received.setdefault(letter, first)
    harness.settle(letter)
    copies = [d for d in harness.agency(letter).received_documents() if predicate(d)]
    check(
        len(copies) == 1,
        ["VPCP19-RES", "VXP-DUP"],
        expected=f"exactly one copy of {outbound.document_id} at agency {letter} ({harness.code(letter)})",
        actual=f"{len(copies)} copies: hub docIds " + ", ".join(d.hub_doc_id for d in copies),
        evidence=harness.evidence_for(document_id=outbound.document_id),
    )


def _model(harness: Harness, outbound: Outbound, requirement: str | list[str]) -> DocumentPackage:
    doc = outbound.package()
    if doc.model is None:
        raise fail(
            requirement,
            expected="a readable edXML document package",
            actual="the package could not be read: "
            + "; ".join(f"{d.path}: {d.message}" for d in doc.diagnostics[:3]),
            evidence=harness.evidence_for(document_id=outbound.document_id),
        )
    return doc.model


@then("the package carries a valid XML signature by the SUT's agency")
def has_sut_signature(harness: Harness, outbound: Outbound) -> None:
    doc = outbound.package()
    verdict = doc.verify_result
    reqs = ["VPCP19-SIG", "QD28-8.1", "EDXML-SIG"]
    check(
        verdict is not None and verdict.ok and verdict.signed,
        reqs,
        expected="an enveloped XML-DSig signature (RSA/ECDSA-SHA256) that verifies against the trusted CA",
        actual=(verdict.message if verdict is not None else "the harness could not verify it")
        + (f" [{verdict.requirement}]" if verdict is not None else ""),
        evidence=harness.evidence_for(document_id=outbound.document_id),
    )
    assert verdict is not None
    signer = organ_id_of(verdict.signer_certificate) if verdict.signer_certificate is not None else None
    check(
        signer in (None, harness.sut_agency),
        ["QD28-6.1", "QD28-8.1"],
        expected=f"a certificate of the sending agency {harness.sut_agency}",
        actual=f"signed with the certificate of {signer} ({verdict.signer_subject})",
        evidence=harness.evidence_for(document_id=outbound.document_id),
    )


@then("the package is valid edXML in strict mode")
def is_valid_edxml(harness: Harness, outbound: Outbound) -> None:
    model = _model(harness, outbound, "QD28-6.4")
    doc = outbound.package()
    errors = [
        d for d in [*doc.diagnostics, *validate(model, mode=Mode.STRICT)] if d.severity is Severity.ERROR
    ]
    errors = [
        d for d in errors if d.requirement not in ("EDXML-SIG", "VPCP19-SIG")
    ]  # signature: its own scenario
    check(
        not errors,
        ["QD28-6.4", "EDXML-REQ"],
        expected="a package that passes strict edXML validation (QCVN 102)",
        actual=f"{len(errors)} error(s): "
        + "; ".join(f"{d.path}: {d.message} [{d.requirement}]" for d in errors[:5]),
        evidence=harness.evidence_for(document_id=outbound.document_id),
    )


_WELL_FORMED = ("EDXML-XML", "EDXML-NS", "EDXML-STRUCT", "EDXML-DUPTO", "EDXML-ATTACH", "EDXML-LEN")


@then("the package is well-formed edXML: structure, namespace, recipients, attachments and field lengths")
def is_well_formed(harness: Harness, outbound: Outbound) -> None:
    model = _model(harness, outbound, "EDXML-STRUCT")
    doc = outbound.package()
    found = [
        d
        for d in [*doc.diagnostics, *validate(model, mode=Mode.STRICT)]
        if d.requirement in _WELL_FORMED and d.severity is not Severity.INFO
    ]
    check(
        not found,
        sorted({d.requirement for d in found}) or list(_WELL_FORMED),
        expected="well-formed XML in the edXML namespace, each element once where one is expected, each "
        "recipient once in To, readable attachments matching the manifest, fields within QCVN 102's lengths",
        actual=f"{len(found)} finding(s): "
        + "; ".join(f"{d.path}: {d.message} [{d.requirement}]" for d in found[:5]),
        evidence=harness.evidence_for(document_id=outbound.document_id),
    )


# What the hub notes about a caller's headers that the official SDK never does. Not VXP-REPLAY: the SDK
# itself re-sends a stale timestamp (its service object keeps the first one), so that is no defect.
_PROTOCOL = ("VXP-AUTH", "VXP-HASH", "VXP-PARAM", "VXP-ASCII")


@then("the SUT's calls to the hub carried the SDK's signed parameters and hash-file")
def calls_as_the_sdk(harness: Harness, outbound: Outbound) -> None:
    rows = [
        r
        for r in harness.target.hub.evidence(since_id=harness.evidence_start, limit=5000)
        if r.get("system") == harness.target.sut_system_id
    ]
    found = [
        f"{r.get('operation')}: {f.get('path')}: {f.get('message')} [{f.get('requirement')}]"
        for r in rows
        for f in r.get("findings") or []
        if f.get("requirement") in _PROTOCOL and f.get("severity") != "info"
    ]
    named = sorted({line.rsplit("[", 1)[1].rstrip("]") for line in found}) or list(_PROTOCOL)
    check(
        bool(rows) and not found,
        named,
        expected="every call of the SUT's system signed as the SDK signs it: each parameter header in the "
        "signed sign-header, XroadVnpt-sign-header-key, hash-file as the SDK's unpadded SHA-256 hex, ASCII "
        "header values",
        actual=(f"{len(found)} finding(s) on {len(rows)} call(s): " + "; ".join(found[:5]))
        if rows
        else "the hub recorded no call of the SUT's system in this scenario",
        evidence=harness.evidence_for(document_id=outbound.document_id),
    )


@then("the package names the number and notation, date, type, subject and signer (người ký)")
def has_metadata(harness: Harness, outbound: Outbound) -> None:
    h = _model(harness, outbound, "QD28-10.2.c-q").header
    missing = []
    if h.code is None or not h.code.code_number.strip() or not h.code.code_notation.strip():
        missing.append("Code (số và ký hiệu)")
    if h.promulgation_info is None or h.promulgation_info.promulgation_date is None:
        missing.append("PromulgationInfo/PromulgationDate (ngày ban hành)")
    if h.document_type is None or not (h.document_type.type_name or "").strip():
        missing.append("DocumentType/TypeName (loại văn bản)")
    if not h.subject.strip():
        missing.append("Subject (trích yếu)")
    if h.signer_info is None or not (h.signer_info.full_name or "").strip():
        missing.append("SignerInfo/FullName (người ký)")
    check(
        not missing,
        ["QD28-10.2.c-q", "EDXML-REQ"],
        expected="number and notation, promulgation date, type, subject and signer in the MessageHeader",
        actual="missing: " + ", ".join(missing),
        evidence=harness.evidence_for(document_id=outbound.document_id),
    )


@then(parsers.parse("the package holds the {count:d} files with the SHA-256 of the files that were attached"))
def holds_files(harness: Harness, outbound: Outbound, count: int) -> None:
    model = _model(harness, outbound, "QD28-10.1")
    sent = Counter(hashlib.sha256(a.data).hexdigest() for a in outbound.request.attachments)
    got: Counter[str] = Counter()
    problems = []
    for att in model.attachments:
        try:
            got[unwrap(att).sha256] += 1
        except AttachmentError as exc:
            problems.append(f"{att.content_id}: {exc}")
    check(
        got == sent and not problems and len(sent) == count,
        ["QD28-10.1", "VPCP19-SIG"],
        expected=f"{count} attachment(s) with SHA-256 " + ", ".join(h[:12] + "…" for h in sent),
        actual=f"{len(model.attachments)} attachment(s) with SHA-256 "
        + (", ".join(h[:12] + "…" for h in got) or "none")
        + (f"; unreadable: {'; '.join(problems)}" if problems else ""),
        evidence=harness.evidence_for(document_id=outbound.document_id),
    )


@then("the package is addressed to exactly agencies A and B")
def addressed_to_exactly(harness: Harness, outbound: Outbound) -> None:
    h = _model(harness, outbound, "QD28-8.1").header
    wanted = sorted(harness.code(x) for x in ("A", "B"))
    got = sorted(o.organ_id for o in h.to)
    check(
        got == wanted,
        ["QD28-8.1", "VXP-ROUTE"],
        expected=f"To = {', '.join(wanted)}",
        actual=f"To = {', '.join(got) or 'nobody'}",
        evidence=harness.evidence_for(document_id=outbound.document_id),
    )


@then(parsers.parse('the SUT shows status "{code}" reported by agency {letter} for its document'))
def sut_shows_receiver_status(harness: Harness, outbound: Outbound, code: str, letter: str) -> None:
    harness.require(Capability.QUERY)
    wanted = StatusCode(code)
    receiver = harness.code(letter)
    seen: list[str] = []

    def probe() -> bool | None:
        state = harness.drive(
            "QD28-8.2",
            f"report what it holds for {outbound.document_id}",
            lambda: harness.driver.query(outbound.document_id, agency=harness.sut_agency),
        )
        if state is None:
            seen[:] = ["the SUT's driver reports no such document"]
            return None
        got = state.statuses_from_receivers.get(receiver)
        held = ", ".join(f"{k}: {v.value}" for k, v in state.statuses_from_receivers.items())
        seen[:] = [f"statuses_from_receivers = {{{held}}}"]
        return True if got is wanted else None

    harness.poll_until(
        probe,
        ["QD28-8.2", "QD28-6.3"],
        expected=f"the SUT to record status {code} reported by {receiver} for {outbound.document_id}",
        actual=lambda: "; ".join(seen),
        evidence=lambda: harness.evidence_for(document_id=outbound.document_id),
        pump=(letter,),
    )


@then("every agency code in the package has the 13-character form")
def agency_codes_conform(harness: Harness, outbound: Outbound) -> None:
    model = _model(harness, outbound, "QD28-10.2.a")
    h = model.header
    codes: list[tuple[str, str]] = [("From/OrganId", h.from_.organ_id)]
    codes += [(f"To[{i + 1}]/OrganId", o.organ_id) for i, o in enumerate(h.to)]
    codes += [(f"ResponseFor[{i + 1}]/OrganId", r.organ_id) for i, r in enumerate(h.response_for)]
    if model.trace is not None:
        codes += [
            (f"TraceHeader[{i + 1}]/OrganId", t.organ_id)
            for i, t in enumerate(model.trace.trace_headers)
            if t.organ_id
        ]
    bad = []
    for path, code in codes:
        try:
            parse_agency_code(code, strict=True)
        except IdentifierError as exc:
            bad.append(f"{path} = {code!r}: {exc.message}")
    check(
        not bad,
        ["QD28-10.2.a", "QD28-14.2"],
        expected="every OrganId in the form NNN.NN.NN.XNN (13 characters, four groups)",
        actual="; ".join(bad),
        evidence=harness.evidence_for(document_id=outbound.document_id),
    )


@then("the package's DocumentId is made of the SUT's agency code, the date and the number")
def document_id_conforms(harness: Harness, outbound: Outbound) -> None:
    h = _model(harness, outbound, "QD28-10.2.b").header
    try:
        ident = parse_document_id(h.document_id, strict=True)
    except IdentifierError as exc:
        raise fail(
            "QD28-10.2.b",
            expected="DocumentId <agency code>,<yyyy/MM/dd>,<number>/<notation> "
            "(or <agency>,<yyyy>,<number>)",
            actual=f"{h.document_id!r}: {exc.message}",
            evidence=harness.evidence_for(document_id=outbound.document_id),
        ) from None
    date = h.promulgation_info.promulgation_date if h.promulgation_info else None
    problems = []
    if ident.agency != harness.sut_agency:
        problems.append(f"its agency part is {ident.agency}, not the sender {harness.sut_agency}")
    if ident.date is not None and date is not None and ident.date != date:
        problems.append(f"its date {ident.date} differs from PromulgationDate {date}")
    if date is not None and ident.year != date.year:
        problems.append(f"its year {ident.year} differs from the year of issue {date.year}")
    check(
        not problems,
        "QD28-10.2.b",
        expected=f"a DocumentId naming {harness.sut_agency}, the date (year) of issue and the number",
        actual=f"{h.document_id!r}: " + "; ".join(problems),
        evidence=harness.evidence_for(document_id=outbound.document_id),
    )


@then(parsers.parse("the package carries the priority {level:d}"))
def carries_priority(harness: Harness, outbound: Outbound, level: int) -> None:
    h = _model(harness, outbound, "QD28-6.2.b").header
    raw = h.other_info.priority if h.other_info is not None else None
    check(
        raw is not None and int(raw) == level,
        ["QD28-6.2.b", "EDXML-ENUM"],
        expected=f"OtherInfo/Priority = {level} ({Priority(level).name.lower()})",
        actual=f"OtherInfo/Priority = {int(raw) if raw is not None else 'absent'}",
        evidence=harness.evidence_for(document_id=outbound.document_id),
    )


def _next_working_noon(day: dt.date) -> dt.datetime:
    nxt = day + dt.timedelta(days=1)
    while nxt.weekday() >= 5:  # Saturday, Sunday (public holidays are not modelled)
        nxt += dt.timedelta(days=1)
    return dt.datetime(nxt.year, nxt.month, nxt.day, 12, 0, tzinfo=VN_TZ)


@then("the hub accepted the document on its promulgation day or the next working morning")
def sent_in_time(harness: Harness, outbound: Outbound) -> None:
    doc = outbound.package()
    h = _model(harness, outbound, "QD28-6.2.a").header
    issued = h.promulgation_info.promulgation_date if h.promulgation_info else None
    accepted = hub_time_of(doc.hub_time)
    if issued is None or accepted is None:
        raise fail(
            "QD28-6.2.a",
            expected="a PromulgationDate and the hub's acceptance time to compare",
            actual=f"PromulgationDate {issued or 'absent'}, hub time {doc.hub_time or 'unknown'}",
            evidence=harness.evidence_for(document_id=outbound.document_id),
        )
    latest = _next_working_noon(issued)
    check(
        issued <= accepted.date() and accepted < latest,
        "QD28-6.2.a",
        expected=f"accepted by the hub between {issued} 00:00 and {latest:%Y/%m/%d %H:%M} "
        "(the next working morning)",
        actual=f"promulgated {issued:%Y/%m/%d}, accepted by the hub at {accepted:%Y/%m/%d %H:%M:%S}",
        evidence=harness.evidence_for(document_id=outbound.document_id),
    )
