"""Steps about Vietnam time and clock synchronisation with the hub (QD28-14.4)."""

from __future__ import annotations

from lxml import etree
from pytest_bdd import given, parsers, then

from features.steps.hubctl import set_clock_offset
from features.steps.support import Harness, Outbound, ScenarioState, describe_status, hub_time_of
from simulator.agency.mailbox import SentDocument
from simulator.conformance.expect import check, fail
from simulator.edxml.vntime import VN_TZ, parse_timestamp
from simulator.edxml.xmlsafe import safe_fromstring
from simulator.sut.driver import Capability

__all__ = ["clock_ahead", "package_times_ok", "status_times_ok", "sut_synchronised"]

_ROUNDING_S = 1.0  # edXML timestamps carry whole seconds; the hub's created_time too


def _timestamp_texts(raw: bytes, element: str) -> list[str]:
    root = safe_fromstring(raw)
    found = root.xpath(f"//*[local-name()='{element}']")
    if not isinstance(found, list):
        return []
    return [(e.text or "").strip() for e in found if isinstance(e, etree._Element)]


def _form_problem(text: str) -> str | None:
    """None when ``text`` is edXML Vietnam time or ISO 8601 with +07:00; else what is wrong."""
    try:
        parsed = parse_timestamp(text)
    except ValueError as exc:
        return str(exc)
    if parsed.foreign_offset is not None:
        return f"{text!r} carries the offset {parsed.foreign_offset}, not +07:00 (Vietnam time)"
    return None


@given(parsers.parse("the hub clock runs {minutes:d} minutes ahead"))
def clock_ahead(harness: Harness, ctx: ScenarioState, minutes: int) -> None:
    set_clock_offset(harness.target, minutes * 60.0)
    ctx.cleanups.append(harness.target.hub.clock.reset)


@given("the SUT has synchronised its clock with the hub")
def sut_synchronised(harness: Harness) -> None:
    harness.require(Capability.SYNC_CLOCK)
    harness.drive("QD28-14.4", "synchronise its clock with the hub", harness.driver.sync_clock)


def _check_against_hub(harness: Harness, what: str, text: str, hub_text: str, evidence: list[str]) -> None:
    problem = _form_problem(text)
    check(
        problem is None,
        ["QD28-14.4", "EDXML-DATE"],
        expected=f"{what} as yyyy/MM/dd HH:mm:ss (Vietnam time) or ISO 8601 with +07:00",
        actual=problem or "",
        evidence=evidence,
    )
    value = parse_timestamp(text).value
    hub = hub_time_of(hub_text)
    if hub is None:
        raise fail(
            "QD28-14.4",
            expected="the hub's time of the delivery",
            actual=f"unreadable: {hub_text!r}",
            evidence=evidence,
        )
    skew = (value - hub).total_seconds()
    limit = harness.timing.skew_tolerance + _ROUNDING_S
    check(
        abs(skew) <= limit,
        "QD28-14.4",
        expected=f"{what} within ±{harness.timing.skew_tolerance:g} s of the hub clock "
        f"({hub.astimezone(VN_TZ):%Y/%m/%d %H:%M:%S})",
        actual=f"{text} is {skew:+.0f} s off the hub clock",
        evidence=evidence,
    )


@then("the timestamps of the SUT's statuses are Vietnam time within the skew tolerance of the hub clock")
def status_times_ok(harness: Harness, inbound: SentDocument) -> None:
    statuses = harness.statuses_from_sut("A", inbound.document_id)
    check(
        bool(statuses),
        "QD28-14.4",
        expected="statuses from the SUT to time",
        actual="none",
        evidence=harness.evidence_for(inbound),
    )
    for st in statuses:
        texts = _timestamp_texts(st.raw, "Timestamp")
        if not texts:
            raise fail(
                ["QD28-14.4", "EDXML-STATUS"],
                expected="a Timestamp in every status",
                actual=f"{describe_status(st)} has none",
                evidence=harness.evidence_for(inbound),
            )
        _check_against_hub(
            harness,
            f"Timestamp of status {st.code.value}",
            texts[0],
            st.hub_time,
            harness.evidence_for(inbound),
        )


@then("the package's timestamps are Vietnam time within the skew tolerance of the hub clock")
def package_times_ok(harness: Harness, outbound: Outbound) -> None:
    doc = outbound.package()
    texts = _timestamp_texts(doc.raw, "Timestamp")
    evidence = harness.evidence_for(document_id=outbound.document_id)
    if not texts:
        raise fail(
            ["QD28-14.4", "EDXML-TRACE"],
            expected="the sender's TraceHeader/Timestamp",
            actual="the package carries no Timestamp",
            evidence=evidence,
        )
    _check_against_hub(harness, "the sender's TraceHeader/Timestamp", texts[0], doc.hub_time, evidence)
