"""Steps where a harness agency sends the SUT a document and watches the SUT's answers (receive side)."""

from __future__ import annotations

import re
from collections import Counter

from pytest_bdd import given, parsers, then, when

from features.steps.support import STATUS_NAMES, Harness, ScenarioState, describe_status, unique_subject
from simulator.agency.fake_agency import agency_credential
from simulator.agency.mailbox import SentDocument
from simulator.conformance.expect import check, fail
from simulator.edxml.attachments import unwrap
from simulator.edxml.diagnostics import Severity
from simulator.edxml.model import DocumentPackage, StatusCode, StatusPackage
from simulator.edxml.validator import Mode, validate
from simulator.pki.ca import CertVariant
from simulator.pki.dsig import SignatureAlgorithm
from simulator.sut.driver import Capability, LegalValidity

__all__ = [
    "accepted_document",
    "completed_document",
    "delivery_acknowledged",
    "holds_attachments",
    "legal_validity_is",
    "never_accepted",
    "not_signed_valid",
    "receives_status",
    "receives_statuses_in_order",
    "send_altered",
    "send_malformed_code",
    "send_misaddressed",
    "send_missing_attachment",
    "send_same_twice",
    "send_sha1",
    "send_unsigned",
    "send_valid",
    "send_with_attachments",
    "send_with_variant",
    "status_exactly_once",
    "status_has_reason",
    "statuses_are_valid_answers",
]

_VARIANTS = {
    "expired": CertVariant.EXPIRED,
    "not-yet-valid": CertVariant.NOT_YET_VALID,
    "revoked": CertVariant.REVOKED,
    "untrusted": CertVariant.UNTRUSTED,
    "wrong-key-usage": CertVariant.WRONG_KEY_USAGE,
}
_QUOTED = re.compile(r'"(\d{2})"')


def _send(harness: Harness, ctx: ScenarioState, **kwargs: object) -> SentDocument:
    agency = harness.agency("A")
    kwargs.setdefault("subject", unique_subject(harness.label))
    sent = agency.send([harness.sut_agency], **kwargs)  # type: ignore[arg-type]
    ctx.inbound = sent
    return sent


def _package_for(harness: Harness, recipients: list[str], *, attachments: int = 1) -> DocumentPackage:
    """A new document of agency A to ``recipients`` (codes), to be edited before it is sent."""
    return harness.agency("A").draft(
        recipients, attachments=attachments, attachment_size=8_000, subject=unique_subject(harness.label)
    )


# --------------------------------------------------------------------------------------------- sending


@when("agency A sends the SUT's agency a valid signed document", target_fixture="inbound")
def send_valid(harness: Harness, ctx: ScenarioState) -> SentDocument:
    return _send(harness, ctx)


@when("agency A sends the SUT's agency an unsigned document", target_fixture="inbound")
def send_unsigned(harness: Harness, ctx: ScenarioState) -> SentDocument:
    return _send(harness, ctx, sign=False)


@when(
    parsers.re(
        r"agency A sends the SUT's agency a document signed with an? (?P<variant>[a-z-]+) certificate"
    ),
    target_fixture="inbound",
)
def send_with_variant(harness: Harness, ctx: ScenarioState, variant: str) -> SentDocument:
    if variant not in _VARIANTS:
        raise AssertionError(
            f"unknown certificate variant {variant!r} in the feature file: {', '.join(_VARIANTS)}"
        )
    agency = harness.agency("A")
    credential = agency_credential(harness.target.hub.ca, agency.code, variant=_VARIANTS[variant])
    return _send(harness, ctx, credential=credential)


@when(
    "agency A sends the SUT's agency a signed document that was altered after signing",
    target_fixture="inbound",
)
def send_altered(harness: Harness, ctx: ScenarioState) -> SentDocument:
    subject = unique_subject(harness.label)
    original = subject.encode("utf-8")
    altered = subject.replace("phối hợp", "tạm dừng").encode("utf-8")

    def tamper(data: bytes) -> bytes:
        if original not in data:
            raise AssertionError("the harness could not find the subject to alter in its own package")
        return data.replace(original, altered, 1)

    return _send(harness, ctx, subject=subject, mutate=tamper)


@when(
    "agency A sends the SUT's agency a document signed with the legacy SHA-1 algorithm",
    target_fixture="inbound",
)
def send_sha1(harness: Harness, ctx: ScenarioState) -> SentDocument:
    return _send(harness, ctx, algorithm=SignatureAlgorithm.RSA_SHA1)


@when(
    "agency A sends the SUT's agency a signed document whose manifest announces a missing attachment",
    target_fixture="inbound",
)
def send_missing_attachment(harness: Harness, ctx: ScenarioState) -> SentDocument:
    package = _package_for(harness, [harness.sut_agency], attachments=2)
    package.attachments.pop()  # the manifest still announces it; the package is signed afterwards
    sent = harness.agency("A").send([harness.sut_agency], package=package)
    ctx.inbound = sent
    return sent


@when(
    "agency A sends the SUT's agency a signed document addressed to agency B only", target_fixture="inbound"
)
def send_misaddressed(harness: Harness, ctx: ScenarioState) -> SentDocument:
    package = _package_for(harness, [harness.agency("B").code])
    # the package's To names B only; the hub is asked to deliver it to the SUT's agency
    sent = harness.agency("A").send([harness.sut_agency], package=package)
    ctx.inbound = sent
    return sent


@when(
    parsers.parse(
        "agency A sends the SUT's agency a signed document that also names the malformed agency code "
        '"{code}"'
    ),
    target_fixture="inbound",
)
def send_malformed_code(harness: Harness, ctx: ScenarioState, code: str) -> SentDocument:
    package = _package_for(harness, [harness.sut_agency, code])
    sent = harness.agency("A").send([harness.sut_agency], package=package)
    ctx.inbound = sent
    return sent


@when(
    parsers.parse("agency A sends the SUT's agency a signed document with {count:d} attachments"),
    target_fixture="inbound",
)
def send_with_attachments(harness: Harness, ctx: ScenarioState, count: int) -> SentDocument:
    return _send(harness, ctx, attachments=count, attachment_size=6_000)


@when("agency A sends the SUT's agency the same signed package twice", target_fixture="inbound")
def send_same_twice(harness: Harness, ctx: ScenarioState) -> SentDocument:
    agency = harness.agency("A")
    sent = _send(harness, ctx)
    agency.client.send_edoc(sent.package_bytes, from_=agency.code, to=[harness.sut_agency])
    return sent


@given("agency A has sent the SUT's agency a document that it accepted", target_fixture="inbound")
def accepted_document(harness: Harness, ctx: ScenarioState) -> SentDocument:
    sent = _send(harness, ctx)
    harness.wait_status("A", sent.document_id, StatusCode.ACCEPTED, "QD28-9.1", sent=sent)
    return sent


@given("agency A has sent the SUT's agency a document that it completed", target_fixture="inbound")
def completed_document(harness: Harness, ctx: ScenarioState) -> SentDocument:
    harness.require(Capability.ADVANCE)
    sent = accepted_document(harness, ctx)
    harness.drive(
        "QD28-9.2.a",
        f"complete document {sent.document_id} (06)",
        lambda: harness.driver.advance(
            sent.document_id, agency=harness.sut_agency, status=StatusCode.COMPLETED
        ),
    )
    harness.wait_status("A", sent.document_id, StatusCode.COMPLETED, "QD28-9.2.a", sent=sent)
    return sent


# ------------------------------------------------------------------------------------------ statuses


@then(parsers.parse('agency A receives status "{code}" for that document'))
def receives_status(harness: Harness, inbound: SentDocument, code: str) -> None:
    status = StatusCode(code)
    requirement = {
        StatusCode.ARRIVED: "QD28-6.3",
        StatusCode.REFUSED: "QD28-9.1",
        StatusCode.ACCEPTED: "QD28-9.1",
        StatusCode.RECALL_AGREED: "QD28-9.2.b",
        StatusCode.RECALL_REFUSED: "QD28-9.2.b",
    }.get(status, "QD28-9.2.a")
    harness.wait_status("A", inbound.document_id, status, requirement, sent=inbound)


@then(
    parsers.re(
        r'agency A receives the statuses (?P<codes>(?:"\d{2}"(?:, )?)+) for that document, in that order'
    )
)
def receives_statuses_in_order(harness: Harness, inbound: SentDocument, codes: str) -> None:
    wanted = [StatusCode(c) for c in _QUOTED.findall(codes)]
    requirement = ["QD28-6.3", "QD28-14.2"] if StatusCode.ARRIVED in wanted else ["QD28-9.2.a", "QD28-14.2"]
    doc_id = inbound.document_id
    harness.wait_status("A", doc_id, wanted[-1], requirement, sent=inbound)
    harness.settle("A")  # a late status (e.g. 01 after 03) shows up now
    seen = [s.code for s in harness.statuses_from_sut("A", doc_id)]
    positions = []
    for code in wanted:
        if code not in seen:
            raise fail(
                requirement,
                expected=f"statuses {', '.join(STATUS_NAMES[c.value] for c in wanted)} in that order",
                actual=f"no status {STATUS_NAMES[code.value]} was sent; seen in order: "
                + (", ".join(c.value for c in seen) or "nothing"),
                evidence=harness.evidence_for(inbound),
            )
        positions.append(seen.index(code))
    check(
        positions == sorted(positions),
        requirement,
        expected=f"statuses {', '.join(c.value for c in wanted)} in that order",
        actual="the SUT sent them in the order " + ", ".join(c.value for c in seen),
        evidence=harness.evidence_for(inbound),
    )


@then(parsers.parse('the status "{code}" carries a non-empty reason (lý do)'))
def status_has_reason(harness: Harness, inbound: SentDocument, code: str) -> None:
    status = StatusCode(code)
    requirement = "QD28-5.4" if status is StatusCode.REFUSED else "QD28-9.2.b"
    found = [s for s in harness.statuses_from_sut("A", inbound.document_id) if s.code is status]
    if not found:
        found = [harness.wait_status("A", inbound.document_id, status, requirement, sent=inbound)]
    st = found[0]
    check(
        bool(st.description and st.description.strip()),
        [requirement, "EDXML-STATUS"],
        expected=f"status {STATUS_NAMES[code]} with a Description saying why",
        actual=describe_status(st),
        evidence=harness.evidence_for(inbound),
    )


@then('the SUT never accepted the document (no status "03")')
def never_accepted(harness: Harness, inbound: SentDocument) -> None:
    harness.assert_no_status(
        "A",
        inbound.document_id,
        [StatusCode.ACCEPTED],
        ["QD28-9.1", "QD28-6.1"],
        expected=f"no status 03 (accepted) for {inbound.document_id}, which must be refused",
        sent=inbound,
    )


@then(parsers.parse('the SUT answered status "{code}" exactly once for that document'))
def status_exactly_once(harness: Harness, inbound: SentDocument, code: str) -> None:
    status = StatusCode(code)
    harness.settle("A")
    found = [s for s in harness.statuses_from_sut("A", inbound.document_id) if s.code is status]
    check(
        len(found) == 1,
        ["VXP-DUP", "VPCP19-RES"],
        expected=f"exactly one status {STATUS_NAMES[code]} for {inbound.document_id} (one registration)",
        actual=f"{len(found)}: " + ("; ".join(describe_status(s) for s in found) or "none"),
        evidence=harness.evidence_for(inbound),
    )


def _query_state(harness: Harness, document_id: str, requirement: str) -> object:
    harness.require(Capability.QUERY)

    def probe() -> object | None:
        return harness.drive(
            requirement,
            f"report what it holds for {document_id}",
            lambda: harness.driver.query(document_id, agency=harness.sut_agency),
        )

    return harness.poll_until(
        probe,
        requirement,
        expected=f"the SUT to hold document {document_id} at {harness.sut_agency}",
        actual=lambda: "its driver reports no such document",
        evidence=lambda: harness.evidence_for(document_id=document_id),
    )


@then(parsers.parse('the SUT reports the legal validity of the document as "{validity}"'))
def legal_validity_is(harness: Harness, inbound: SentDocument, validity: str) -> None:
    wanted = LegalValidity(validity)
    harness.require(Capability.QUERY)
    if wanted is LegalValidity.REFERENCE_ONLY:
        harness.wait_status("A", inbound.document_id, StatusCode.ARRIVED, "QD28-6.3", sent=inbound)
    state = _query_state(harness, inbound.document_id, "QD28-4.1")
    actual = getattr(state, "legal_validity", None)
    check(
        actual == wanted,
        "QD28-4.1",
        expected=f"legal validity {wanted.value} for {inbound.document_id}",
        actual=f"the SUT reports {getattr(actual, 'value', actual)}",
        evidence=harness.evidence_for(inbound),
    )


@then("the SUT does not hold the document as signed-valid")
def not_signed_valid(harness: Harness, inbound: SentDocument) -> None:
    doc_id = inbound.document_id
    decided = {StatusCode.REFUSED, StatusCode.ACCEPTED}
    st = harness.poll_until(
        lambda: next((s for s in harness.statuses_from_sut("A", doc_id) if s.code in decided), None),
        "QD28-4.1",
        expected=f"the SUT to refuse (02) or register (03) {doc_id}",
        actual=lambda: harness._seen_statuses("A", doc_id),
        evidence=lambda: harness.evidence_for(inbound),
        pump=("A",),
    )
    if st.code is StatusCode.REFUSED:
        return  # refused: certainly not held as legally valid
    harness.require(Capability.QUERY)
    state = _query_state(harness, doc_id, "QD28-4.1")
    actual = getattr(state, "legal_validity", None)
    check(
        actual != LegalValidity.SIGNED_VALID,
        ["QD28-4.1", "QD28-6.1"],
        expected=f"{doc_id}, signed with legacy RSA-SHA1, refused or held as reference-only",
        actual=f"the SUT accepted it (03) and reports legal validity {getattr(actual, 'value', actual)}",
        evidence=harness.evidence_for(inbound),
    )


@then("every status the SUT's agency sent for that document is a valid status package answering it")
def statuses_are_valid_answers(harness: Harness, inbound: SentDocument) -> None:
    statuses = harness.statuses_from_sut("A", inbound.document_id)
    check(
        bool(statuses),
        "EDXML-STATUS",
        expected=f"status packages answering {inbound.document_id}",
        actual="none arrived",
        evidence=harness.evidence_for(inbound),
    )
    agency_a = harness.agency("A").code
    for st in statuses:
        pkg: StatusPackage = st.model
        rf = pkg.header.response_for
        problems = []
        if rf.organ_id != agency_a:
            problems.append(f"ResponseFor/OrganId is {rf.organ_id!r}, not the original sender {agency_a}")
        if rf.document_id != inbound.document_id:
            problems.append(f"ResponseFor/DocumentId is {rf.document_id!r}")
        if pkg.header.from_.organ_id != harness.sut_agency:
            problems.append(f"From/OrganId is {pkg.header.from_.organ_id!r}, not {harness.sut_agency}")
        errors = [d for d in validate(pkg, mode=Mode.STRICT) if d.severity is Severity.ERROR]
        problems += [f"{d.path}: {d.message} [{d.requirement}]" for d in errors[:5]]
        check(
            not problems,
            ["EDXML-STATUS", "QD28-14.2"],
            expected=f"a well-formed status package whose ResponseFor names {inbound.document_id} "
            f"of {agency_a}",
            actual=f"{describe_status(st)}: " + "; ".join(problems),
            evidence=harness.evidence_for(inbound),
        )


@then("the hub shows the delivery to the SUT's agency acknowledged as done")
def delivery_acknowledged(harness: Harness, inbound: SentDocument) -> None:
    agency = harness.agency("A")
    last: list[str] = []

    def probe() -> bool | None:
        items = agency.client.get_sent_edoc_list("edoc", doc_id=inbound.hub_doc_id)
        mine = [i for i in items if i.get("toCode") == harness.sut_agency]
        last[:] = [
            f"delivery {i.get('receiverDocId')} to {i.get('toCode')}: {i.get('receiveStatus')} "
            f"({i.get('receiveStatusDesc')}), received {i.get('receivedTime') or 'never'}"
            for i in mine
        ]
        return True if mine and all(i.get("receiveStatus") == "done" for i in mine) else None

    harness.poll_until(
        probe,
        "VXP-ACK",
        expected=f"the SUT to acknowledge hub DocId {inbound.hub_doc_id} with updateStatus done",
        actual=lambda: "; ".join(last) or "the hub lists no delivery of it to the SUT",
        evidence=lambda: harness.evidence_for(inbound),
    )


@then(parsers.parse("the SUT holds the {count:d} attachments with the SHA-256 they were sent with"))
def holds_attachments(harness: Harness, inbound: SentDocument, count: int) -> None:
    harness.require(Capability.QUERY)
    sent = Counter(unwrap(a).sha256 for a in inbound.model.attachments)
    last: list[str] = []

    def probe() -> bool | None:
        state = _query_state(harness, inbound.document_id, "QD28-10.1")
        held = Counter(a.sha256.lower() for a in getattr(state, "attachments", ()))
        last[:] = [
            f"{sum(held.values())} attachment(s): " + (", ".join(h[:12] + "…" for h in held) or "none")
        ]
        return True if held == sent else None

    harness.poll_until(
        probe,
        "QD28-10.1",
        expected=f"{count} attachment(s) held with SHA-256 " + ", ".join(h[:12] + "…" for h in sent),
        actual=lambda: "; ".join(last),
        evidence=lambda: harness.evidence_for(inbound),
    )
