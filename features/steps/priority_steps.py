"""Steps about urgent documents being handled first (QD28-6.2.b)."""

from __future__ import annotations

from pytest_bdd import given, parsers, then, when

from features.steps.support import PRIORITY_NAMES, Harness, ScenarioState, unique_subject
from simulator.conformance.expect import check
from simulator.edxml.model import Priority, StatusCode
from simulator.sut.driver import Capability

__all__ = ["intake_paused", "intake_resumed", "send_batch", "urgent_first"]


@given("the SUT has paused its intake (tạm dừng nhận)")
def intake_paused(harness: Harness, ctx: ScenarioState) -> None:
    harness.require(Capability.PAUSE_INTAKE)
    harness.drive("QD28-6.2.b", "pause its intake", lambda: harness.driver.pause_intake(True))
    ctx.cleanups.append(lambda: harness.driver.pause_intake(False))


@when(
    parsers.parse('agency A sends the SUT\'s agency {count:d} normal documents and then 1 "{name}" document')
)
def send_batch(harness: Harness, ctx: ScenarioState, count: int, name: str) -> None:
    agency = harness.agency("A")
    for _ in range(count):
        ctx.normal_documents.append(
            agency.send([harness.sut_agency], subject=unique_subject(harness.label), attachment_size=4_000)
        )
    ctx.urgent_document = agency.send(
        [harness.sut_agency],
        priority=PRIORITY_NAMES[name],
        subject=unique_subject(harness.label),
        attachment_size=4_000,
    )


@when("the SUT resumes its intake")
def intake_resumed(harness: Harness) -> None:
    harness.drive("QD28-6.2.b", "resume its intake", lambda: harness.driver.pause_intake(False))


@then(parsers.parse('the SUT accepts the "{name}" document before any of the normal ones'))
def urgent_first(harness: Harness, ctx: ScenarioState, name: str) -> None:
    urgent = ctx.urgent_document
    assert urgent is not None, "step order: send the documents first"
    everything = [*ctx.normal_documents, urgent]
    for doc in everything:
        harness.wait_status("A", doc.document_id, StatusCode.ACCEPTED, "QD28-6.2.b", sent=doc)
    order = [
        st
        for st in harness.agency("A").received_statuses()
        if st.code is StatusCode.ACCEPTED and st.from_code in harness.target.sut_agencies
    ]
    ids = [st.response_for_document_id for st in order]
    position = ids.index(urgent.document_id)
    normals = [ids.index(d.document_id) for d in ctx.normal_documents]
    check(
        position < min(normals),
        "QD28-6.2.b",
        expected=f"the {name} document ({Priority(urgent.model.header.priority).name.lower()}) accepted (03) "
        "before the normal ones that arrived earlier",
        actual="the SUT accepted (03) them in this order: "
        + "; ".join(
            f"{'URGENT ' if st.response_for_document_id == urgent.document_id else ''}"
            f"{st.response_for_document_id} (hub docId {st.hub_doc_id}, hub time {st.hub_time or '?'})"
            for st in order
        ),
        evidence=harness.evidence_for(urgent),
    )
