"""The VXP protocol end to end through the Starlette app (TestClient), headers signed test-side."""

from __future__ import annotations

import json
from typing import Any

import pytest

from simulator.edxml.builder import build
from simulator.edxml.model import BusinessDocType
from simulator.edxml.parser import parse
from simulator.pki.dsig import verify
from tests.hub.conftest import (
    SECRET_A,
    SECRET_B,
    SO_NV,
    SO_TC,
    SYS_A,
    SYS_B,
    SYS_C,
    UBND,
    VPCP,
    Hub,
    Pki,
    document,
    sdk_hash_file,
    status,
)

ENVELOPE = ("status", "ErrorCode", "ErrorDesc")


def ok(r: Any) -> dict[str, Any]:
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    assert body["status"] == "OK" and body["ErrorCode"] == "0" and body["ErrorDesc"] == ""
    return body


def failed(r: Any, http: int, code: str, *words: str, send_edoc: bool = False) -> str:
    """Assert a FAIL envelope (never null, never 5xx) and return its ErrorDesc."""
    assert r.status_code == http, (r.status_code, r.text)
    body = r.json()
    assert body["status"] == "FAIL" and body["ErrorCode"] == code, body
    assert all(isinstance(body[k], str) for k in ENVELOPE)
    desc: str = body["ErrorDesc"]
    assert desc.startswith("[") and "]" in desc, desc  # cites a requirement ID
    for word in words:
        assert word in desc, (word, desc)
    if send_edoc:
        assert body["DocId"] == ""
        assert r.content.isascii() and desc.isascii()
    return desc


def package_count(hub: Hub) -> int:
    return sum(1 for e in hub.evidence() if e["operation"] == "sendEdoc" and e["http_status"] == 200)


# ------------------------------------------------------------------------------------------- flows


def test_full_flow_document_ack_status(hub: Hub, pki: Pki) -> None:
    doc = document(VPCP, [UBND])
    data = pki.sign(doc)
    doc_id = ok(hub.send(SYS_A, data, from_=VPCP))["DocId"]
    assert len(doc_id) == 36

    items = hub.received(SYS_B)
    assert len(items) == 1
    item = items[0]
    assert set(item) == {
        "docId",
        "serviceType",
        "messageType",
        "created_time",
        "updated_time",
        "from",
        "to",
        "status",
        "status_desc",
    }
    assert item["from"] == VPCP and item["to"] == UBND and item["messageType"] == "edoc"
    assert item["status"] == "initial" and item["created_time"].endswith("+07:00")
    assert (
        ok(hub.call(SYS_B, "countReceiveEdoc", {"servicetype": "eDoc", "messagetype": "edoc"}, body=b"{}"))[
            "count"
        ]
        == 1
    )

    fetched = hub.get_edoc(SYS_B, item["docId"])
    assert fetched == data  # stored exactly as received: the sender's signature still verifies
    assert verify(fetched, pki.ca.trust_store()).ok
    raw = hub.call(SYS_B, "downloadEdoc", {"docId": item["docId"]}, method="GET")
    assert raw.status_code == 200 and raw.content == data

    assert len(hub.received(SYS_B)) == 1  # listed until acknowledged
    ok(hub.ack(SYS_B, item["docId"], "processing"))
    assert hub.received(SYS_B)[0]["status"] == "processing"
    ok(hub.ack(SYS_B, item["docId"], "done"))
    assert hub.received(SYS_B) == []
    assert ok(hub.call(SYS_B, "countReceiveEdoc", {}, body=b"{}"))["count"] == 0

    st = pki.sign(status(doc, "01", UBND), UBND)
    ok(hub.send(SYS_B, st, from_=UBND, messagetype="status"))
    assert hub.received(SYS_A) == []  # statuses are listed separately
    assert ok(hub.call(SYS_A, "countReceiveStatus", {}, body=b"{}"))["count"] == 1
    statuses = hub.received(SYS_A, "status")
    assert len(statuses) == 1 and statuses[0]["from"] == UBND and statuses[0]["to"] == VPCP
    got = parse(hub.get_edoc(SYS_A, statuses[0]["docId"]))
    assert got.kind == "status" and got.package is not None
    ok(hub.ack(SYS_A, statuses[0]["docId"]))

    sent = ok(hub.call(SYS_A, "getSentEdocList", {"servicetype": "eDoc", "messagetype": "edoc"}))["data"]
    assert len(sent) == 1
    row = sent[0]
    assert row["senderDocId"] == doc_id and row["receiverDocId"] == item["docId"]
    assert row["fromCode"] == VPCP and row["toCode"] == UBND and row["title"] == doc.header.subject
    assert row["notation"] == str(doc.header.code) and row["receiveStatus"] == "done"
    assert row["receivedTime"].endswith("+07:00") and row["sentTime"].endswith("+07:00")
    assert ok(hub.call(SYS_A, "getSentEdocList", {"messagetype": "edoc", "docId": "nope"}))["data"] == []

    evidence = hub.evidence()
    first = evidence[0]
    assert first["operation"] == "sendEdoc" and first["detail"]["signature"] == "valid"
    assert first["detail"]["hub_trace"]["organ_id"] == hub.config.hub_organ_id
    status_row = next(e for e in evidence if e["operation"] == "sendEdoc" and e["detail"]["kind"] == "status")
    assert status_row["detail"]["original_doc_id"] == doc_id and status_row["findings"] == []


def test_a_document_to_two_systems_gives_each_its_own_docid(hub: Hub, pki: Pki) -> None:
    data = pki.sign(document(VPCP, [UBND, SO_NV]))
    ok(hub.send(SYS_A, data, from_=VPCP))
    b, c = hub.received(SYS_B), hub.received(SYS_C)
    assert len(b) == len(c) == 1 and b[0]["docId"] != c[0]["docId"]
    ok(hub.ack(SYS_B, b[0]["docId"]))
    assert len(hub.received(SYS_C)) == 1  # one receiver's ack does not touch the other delivery


def test_to_parameter_routes_and_a_system_hosting_two_agencies_lists_both(hub: Hub, pki: Pki) -> None:
    data = pki.sign(document(UBND, [VPCP, SO_TC, SO_NV], seed=3), UBND)
    ok(hub.send(SYS_B, data, from_=UBND, to=[VPCP, SO_TC]))  # one package per system, as some QLVBs do
    items = hub.received(SYS_A)
    assert sorted(i["to"] for i in items) == sorted([VPCP, SO_TC])
    assert hub.received(SYS_C) == []


def test_duplicates_are_recorded_and_delivered_again_by_default(hub: Hub, pki: Pki) -> None:
    data = pki.sign(document(VPCP, [UBND]))
    first = ok(hub.send(SYS_A, data, from_=VPCP))["DocId"]
    second = ok(hub.send(SYS_A, data, from_=VPCP))["DocId"]
    assert first != second and len(hub.received(SYS_B)) == 2
    row = [e for e in hub.evidence() if e["operation"] == "sendEdoc"][-1]
    assert row["detail"]["duplicate_of"] == first
    assert any(f["requirement"] == "VXP-DUP" for f in row["findings"])


def test_duplicates_refused_by_policy(make_hub: Any, pki: Pki) -> None:
    hub = make_hub(duplicates="refuse")
    data = pki.sign(document(VPCP, [UBND]))
    first = ok(hub.send(SYS_A, data, from_=VPCP))["DocId"]
    failed(hub.send(SYS_A, data, from_=VPCP), 409, "DUPLICATE", "VXP-DUP", first, send_edoc=True)
    assert len(hub.received(SYS_B)) == 1


def test_illegal_status_order_is_recorded_or_refused(make_hub: Any, pki: Pki) -> None:
    for policy in ("record", "refuse"):
        hub = make_hub(status_order=policy)
        doc = document(VPCP, [UBND], seed=5)
        ok(hub.send(SYS_A, pki.sign(doc), from_=VPCP))
        ok(hub.send(SYS_B, pki.sign(status(doc, "01", UBND), UBND), from_=UBND, messagetype="status"))
        ok(hub.send(SYS_B, pki.sign(status(doc, "03", UBND, seed=2), UBND), from_=UBND, messagetype="status"))
        backwards = hub.send(
            SYS_B, pki.sign(status(doc, "01", UBND, seed=3), UBND), from_=UBND, messagetype="status"
        )
        if policy == "record":
            ok(backwards)
            row = [e for e in hub.evidence() if e["operation"] == "sendEdoc"][-1]
            assert [f["requirement"] for f in row["findings"]] == ["QD28-14.2"]
            assert "backwards" in row["findings"][0]["message"]
            assert len(hub.received(SYS_A, "status")) == 3
        else:
            failed(backwards, 409, "STATUS_ORDER", "QD28-14.2", "backwards", send_edoc=True)
            assert len(hub.received(SYS_A, "status")) == 2


def test_status_for_a_document_never_received_is_a_recorded_violation(hub: Hub, pki: Pki) -> None:
    doc = document(VPCP, [SO_NV], seed=7)
    ok(hub.send(SYS_A, pki.sign(doc), from_=VPCP))
    # UBND (system B) answers a document that was only sent to SO_NV.
    ok(hub.send(SYS_B, pki.sign(status(doc, "01", UBND), UBND), from_=UBND, messagetype="status"))
    row = [e for e in hub.evidence() if e["operation"] == "sendEdoc"][-1]
    violation = [f for f in row["findings"] if f["requirement"] == "VXP-ROUTE"]
    assert violation and violation[0]["severity"] == "error" and "never received" in violation[0]["message"]


def test_recall_goes_to_every_original_recipient_and_links_the_original(hub: Hub, pki: Pki) -> None:
    doc = document(VPCP, [UBND, SO_NV], seed=11)
    original = ok(hub.send(SYS_A, pki.sign(doc), from_=VPCP))["DocId"]
    recall = document(
        VPCP, [UBND], seed=12, business=BusinessDocType.RECALL, original_document_id=doc.header.document_id
    )
    ok(hub.send(SYS_A, pki.sign(recall), from_=VPCP))
    assert len(hub.received(SYS_B)) == 2 and len(hub.received(SYS_C)) == 2  # SO_NV gets it though not in To
    row = [e for e in hub.evidence() if e["operation"] == "sendEdoc"][-1]
    assert row["detail"]["original_doc_id"] == original
    # The recall request as a status 13 from the sender reaches both recipients too.
    ok(hub.send(SYS_A, pki.sign(status(doc, "13", VPCP)), from_=VPCP, messagetype="status"))
    assert len(hub.received(SYS_B, "status")) == 1 and len(hub.received(SYS_C, "status")) == 1


def test_isolation_between_systems(hub: Hub, pki: Pki) -> None:
    ok(hub.send(SYS_A, pki.sign(document(VPCP, [UBND])), from_=VPCP))
    b_doc = hub.received(SYS_B)[0]["docId"]
    assert hub.received(SYS_C) == [] and hub.received(SYS_C, "status") == []
    assert ok(hub.call(SYS_C, "getSentEdocList", {"messagetype": "edoc"}))["data"] == []
    for op, params in [("getEdoc", {"docId": b_doc}), ("updateStatus", {"docId": b_doc, "status": "done"})]:
        failed(hub.call(SYS_C, op, params, body=b"{}"), 404, "NOT_FOUND", "VXP-ROUTE")
    failed(hub.call(SYS_C, "downloadEdoc", {"docId": b_doc}, method="GET"), 404, "NOT_FOUND")
    # The sender may read back its own package by the DocId it got; another system may not.
    sender_id = ok(hub.call(SYS_A, "getSentEdocList", {"messagetype": "edoc"}))["data"][0]["senderDocId"]
    assert hub.get_edoc(SYS_A, sender_id).startswith(b"<?xml")
    failed(hub.call(SYS_C, "getEdoc", {"docId": sender_id}, body=b"{}"), 404, "NOT_FOUND")
    assert hub.received(SYS_B)[0]["status"] == "initial"  # nothing C did touched B's delivery


# --------------------------------------------------------------------------------------- bad input


def test_authentication_failures(hub: Hub, pki: Pki) -> None:
    data = pki.sign(document(VPCP, [UBND]))
    failed(
        hub.send(SYS_A, data, from_=VPCP, secret="wrong-secret"),
        401,
        "AUTH_BAD_HMAC",
        "[VXP-AUTH] hash-header does not match",
        SYS_A,
        send_edoc=True,
    )
    failed(hub.call("sim.nobody", "getReceivedEdocList", {}, secret=SECRET_A), 401, "AUTH_UNKNOWN_SYSTEM")
    r = hub.client.post("/getReceivedEdocList", headers={"XroadVnpt-systemid": SYS_A})
    failed(r, 401, "AUTH_MISSING", "XroadVnpt-sign-header")
    failed(
        hub.call(
            SYS_B, "getReceivedEdocList", {"messagetype": "edoc"}, extra={"XroadVnpt-messagetype": "status"}
        ),
        401,
        "AUTH_UNSIGNED_PARAM",
    )
    failed(
        hub.call(
            SYS_B,
            "updateStatus",
            {"docId": "x", "status": "done"},
            body=b"{}",
            extra={"XroadVnpt-description": "Đã xử lý"},
        ),
        400,
        "AUTH_NON_ASCII",
        "VXP-ASCII",
        "port",
    )
    assert package_count(hub) == 0
    assert all(e["http_status"] in (400, 401) for e in hub.evidence())


def test_routing_refusals(hub: Hub, pki: Pki) -> None:
    failed(
        hub.send(SYS_A, pki.sign(document(VPCP, ["000.00.77.H41"])), from_=VPCP),
        400,
        "UNKNOWN_RECIPIENT",
        "000.00.77.H41",
        send_edoc=True,
    )
    failed(
        hub.send(SYS_A, pki.sign(document(VPCP, ["000.00.09.H41"])), from_=VPCP),
        400,
        "UNKNOWN_RECIPIENT",
        "not connected",
        send_edoc=True,
    )
    # System A sending as UBND, an agency of system B.
    failed(
        hub.send(SYS_A, pki.sign(document(UBND, [VPCP]), UBND), from_=UBND),
        403,
        "SENDER_FORBIDDEN",
        "[VXP-ROUTE]",
        "not hosted by system sim.test.01",
        send_edoc=True,
    )
    # from parameter contradicting the package.
    failed(hub.send(SYS_A, pki.sign(document(VPCP, [UBND])), from_=SO_TC), 403, "SENDER_FORBIDDEN", "differs")
    doc = pki.sign(document(VPCP, [UBND]))
    failed(hub.send(SYS_A, doc, from_=VPCP, messagetype="status"), 400, "BAD_PARAMETER", "messagetype=status")
    failed(hub.send(SYS_A, doc, from_=VPCP, messagetype="fax"), 400, "BAD_PARAMETER", "VXP-PARAM")
    assert package_count(hub) == 0 and hub.received(SYS_B) == []


def test_upload_failures(hub: Hub, pki: Pki) -> None:
    good = pki.sign(document(VPCP, [UBND]))
    first = ok(hub.send(SYS_A, good, from_=VPCP))["DocId"]
    other = sdk_hash_file(good + b"x")
    failed(
        hub.send(SYS_A, good, from_=VPCP, hash_file=other), 400, "HASH_MISMATCH", "[VXP-HASH]", send_edoc=True
    )
    failed(
        hub.send(SYS_A, b"this is not XML at all", from_=VPCP), 400, "BAD_XML", "[EDXML-XML]", send_edoc=True
    )
    xxe = (
        b'<?xml version="1.0"?><!DOCTYPE edXML [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b'<edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016">&x;</edXML>'
    )
    failed(hub.send(SYS_A, xxe, from_=VPCP), 400, "BAD_XML", "DOCTYPE", send_edoc=True)
    bomb = b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]><l>&b;</l>'
    failed(hub.send(SYS_A, bomb, from_=VPCP), 400, "BAD_XML", send_edoc=True)
    failed(hub.send(SYS_A, b"<a><b></a>", from_=VPCP), 400, "BAD_XML", "well-formed", send_edoc=True)
    failed(
        hub.send(SYS_A, b'<?xml version="1.0"?><other/>', from_=VPCP), 400, "INVALID_PACKAGE", send_edoc=True
    )
    big = b"<x>" + b"a" * (2 * 1024 * 1024) + b"</x>"
    failed(hub.send(SYS_A, big, from_=VPCP), 413, "TOO_LARGE", "[VXP-SIZE]", send_edoc=True)
    failed(
        hub.call(SYS_B, "registerAgency", {}, body=b"{" + b" " * (2 * 1024 * 1024) + b"}"), 413, "TOO_LARGE"
    )
    # Nothing stored was lost or altered.
    assert package_count(hub) == 1
    items = hub.received(SYS_B)
    assert len(items) == 1 and hub.get_edoc(SYS_B, items[0]["docId"]) == good
    assert ok(hub.call(SYS_A, "getSentEdocList", {"messagetype": "edoc"}))["data"][0]["senderDocId"] == first
    assert all(e["http_status"] < 500 for e in hub.evidence())
    refused = [e for e in hub.evidence() if e["operation"] == "sendEdoc" and e["http_status"] == 400]
    assert len(refused) == 6 and all(e["sha256"] and e["system"] == SYS_A for e in refused)
    assert refused[0]["sha256"] != refused[1]["sha256"]
    for row in hub.evidence():
        assert len({json.dumps(f, sort_keys=True) for f in row["findings"]}) == len(row["findings"])


def test_unknown_docids_and_bad_parameters(hub: Hub) -> None:
    failed(hub.call(SYS_B, "getEdoc", {"docId": "0000"}, body=b"{}"), 404, "NOT_FOUND", "0000")
    failed(hub.call(SYS_B, "getEdoc", {}, body=b"{}"), 400, "BAD_PARAMETER", "docId")
    failed(hub.call(SYS_B, "updateStatus", {"docId": "0000", "status": "done"}, body=b"{}"), 404, "NOT_FOUND")
    failed(
        hub.call(SYS_B, "updateStatus", {"docId": "0000", "status": "read"}, body=b"{}"), 400, "BAD_PARAMETER"
    )
    failed(
        hub.call(SYS_B, "getReceivedEdocList", {"messagetype": "fax"}), 400, "BAD_PARAMETER", "messagetype"
    )
    failed(hub.call(SYS_B, "getAgenciesListQD20", {"level": "nine"}), 400, "BAD_PARAMETER", "level")
    failed(hub.call(SYS_B, "deleteAgency", {}, body=b"{}"), 400, "BAD_PARAMETER", "AgencyCode")
    failed(hub.call(SYS_B, "noSuchOperation", {}), 404, "UNKNOWN_OPERATION", "sendEdoc")
    failed(hub.client.put("/getEdoc"), 404, "UNKNOWN_OPERATION", "PUT")
    wrong = [e for e in hub.evidence() if e["error_code"] == "UNKNOWN_OPERATION"]
    assert [(e["operation"], e["detail"]["method"], e["detail"]["claimed_system"]) for e in wrong] == [
        ("noSuchOperation", "POST", SYS_B),
        ("getEdoc", "PUT", ""),
    ]


def test_anonymous_download_refused_unless_legacy(make_hub: Any, pki: Pki) -> None:
    for legacy in (False, True):
        hub = make_hub(legacy_anonymous_download=legacy)
        data = pki.sign(document(VPCP, [UBND]))
        ok(hub.send(SYS_A, data, from_=VPCP))
        doc_id = hub.received(SYS_B)[0]["docId"]
        r = hub.client.get("/downloadEdoc", headers={"docId": doc_id})
        if legacy:
            assert r.status_code == 200 and r.content == data
        else:
            failed(r, 401, "ANONYMOUS_REFUSED", "VXP-ANON")
        row = hub.evidence()[-1]
        assert row["operation"] == "downloadEdoc" and row["system"] is None
        assert [f["requirement"] for f in row["findings"]] == ["VXP-ANON"]


# ------------------------------------------------------------------------------------------ lenience


def test_lenient_inputs_are_accepted_with_findings(hub: Hub, pki: Pki) -> None:
    data = pki.sign(document(VPCP, [UBND]))
    ok(hub.send(SYS_A, b"\x00\x01ab" + data, from_=VPCP, hash_file=sdk_hash_file(b"\x00\x01ab" + data)))
    stored = hub.get_edoc(SYS_B, hub.received(SYS_B)[0]["docId"])
    assert stored == data  # junk dropped, signature intact
    row = [e for e in hub.evidence() if e["operation"] == "sendEdoc"][-1]
    assert row["detail"]["junk_bytes"] == 4 and row["detail"]["signature"] == "valid"
    assert any(f["requirement"] == "EDXML-XML" and "4 stray" in f["message"] for f in row["findings"])

    ok(hub.send(SYS_A, pki.sign(document(VPCP, [UBND], seed=2)), from_=VPCP, crlf=False))  # no trailing CRLF
    padded = pki.sign(document(VPCP, [UBND], seed=4))
    import hashlib

    ok(hub.send(SYS_A, padded, from_=VPCP, hash_file=hashlib.sha256(padded).hexdigest()))


def test_strict_validation_refuses_what_lenient_records(make_hub: Any, pki: Pki) -> None:
    doc = document(VPCP, [UBND], seed=8)
    doc.header.subject = ""  # a required element left empty
    data = pki.sign(doc)
    lenient, strict = make_hub(), make_hub(validation="strict")
    ok(lenient.send(SYS_A, data, from_=VPCP))
    row = [e for e in lenient.evidence() if e["operation"] == "sendEdoc"][-1]
    assert any(f["severity"] == "error" and "Subject" in f["path"] for f in row["findings"])
    failed(strict.send(SYS_A, data, from_=VPCP), 400, "INVALID_PACKAGE", "Subject", send_edoc=True)
    failed(
        strict.send(
            SYS_A,
            b"ab\r\n" + pki.sign(document(VPCP, [UBND])),
            from_=VPCP,
            hash_file=sdk_hash_file(b"ab\r\n" + pki.sign(document(VPCP, [UBND]))),
        ),
        400,
        "BAD_XML",
    )


def test_signature_policy(make_hub: Any, pki: Pki) -> None:
    data = pki.sign(document(VPCP, [UBND]))
    tampered = data.replace(b"<edXML:Subject>", b"<edXML:Subject>X", 1)
    assert tampered != data
    unsigned = build(document(VPCP, [UBND], seed=9))
    warn, enforce, off = make_hub(), make_hub(signature="enforce"), make_hub(signature="off")
    ok(warn.send(SYS_A, tampered, from_=VPCP))
    row = [e for e in warn.evidence() if e["operation"] == "sendEdoc"][-1]
    assert row["detail"]["signature"].startswith("invalid")
    assert any(f["severity"] == "error" and "signature" in f["message"] for f in row["findings"])
    failed(enforce.send(SYS_A, tampered, from_=VPCP), 400, "BAD_SIGNATURE", "does not verify", send_edoc=True)
    failed(enforce.send(SYS_A, unsigned, from_=VPCP), 400, "BAD_SIGNATURE", send_edoc=True)
    ok(enforce.send(SYS_A, data, from_=VPCP))
    ok(off.send(SYS_A, tampered, from_=VPCP))
    assert [e for e in off.evidence() if e["operation"] == "sendEdoc"][-1]["detail"][
        "signature"
    ] == "not checked"
    # Unsigned status packages are fine even under enforce.
    doc = document(VPCP, [UBND], seed=10)
    ok(enforce.send(SYS_A, pki.sign(doc), from_=VPCP))
    ok(enforce.send(SYS_B, build(status(doc, "01", UBND)), from_=UBND, messagetype="status"))


def test_runtime_policy_change_reaches_requests(hub: Hub, pki: Pki) -> None:
    data = pki.sign(document(VPCP, [UBND]))
    ok(hub.send(SYS_A, data, from_=VPCP))
    hub.service.set_policies({"duplicates": "refuse"})
    failed(hub.send(SYS_A, data, from_=VPCP), 409, "DUPLICATE")
    with pytest.raises(ValueError, match="duplicates"):
        hub.service.set_policies({"duplicates": "sometimes"})


def test_ack_rules(hub: Hub, pki: Pki) -> None:
    ok(hub.send(SYS_A, pki.sign(document(VPCP, [UBND])), from_=VPCP))
    doc_id = hub.received(SYS_B)[0]["docId"]
    ok(hub.ack(SYS_B, doc_id, "done"))  # without fetching: allowed, but a finding
    assert any(f["requirement"] == "VXP-ACK" for f in hub.evidence()[-1]["findings"])
    ok(hub.ack(SYS_B, doc_id, "done"))  # idempotent repeat
    failed(hub.ack(SYS_B, doc_id, "processing"), 409, "CONFLICT", "already acknowledged")
    assert hub.received(SYS_B) == []


# ------------------------------------------------------------------------------------------ directory


def test_directory_operations(hub: Hub) -> None:
    agencies = ok(hub.call(SYS_A, "getAgenciesList", {}))["data"]
    codes = {a["code"] for a in agencies}
    assert {VPCP, SO_TC, UBND, SO_NV, "000.00.09.H41"} <= codes
    assert all(set(a) == {"id", "pid", "code", "name", "mail", "oldCode"} for a in agencies)
    by_code = {a["code"]: a for a in agencies}
    assert by_code["000.00.09.H41"]["pid"] == by_code[UBND]["id"]
    assert by_code[VPCP]["name"] == "Văn phòng Chính phủ"

    level1 = ok(hub.call(SYS_A, "getAgenciesListQD20", {"level": "1"}))["data"]
    assert {a["code"] for a in level1} == {VPCP, UBND}  # 000.00.00.X = level 1 only
    assert all(set(a) == {"id", "code", "name", "mail", "code102"} for a in level1)

    new = {
        "id": "",
        "pcode": UBND,
        "code": "000.00.05.H41",
        "name": "Sở Y tế",
        "mail": "syt@test.gov.vn",
        "mobile": "",
        "fax": "",
    }
    ok(hub.call(SYS_B, "registerAgency", {}, body=json.dumps(new, ensure_ascii=False).encode()))
    sync = {u["code"]: u for u in ok(hub.call(SYS_B, "getSynchronizeUnit", {}))["data"]}
    unit = sync["000.00.05.H41"]
    assert unit["name"] == "Sở Y tế" and unit["deleted"] is False and unit["isAgency"] is True
    assert isinstance(unit["version"], int) and unit["version"] == max(u["version"] for u in sync.values())
    # The new agency belongs to system B: it can now receive.
    failed(hub.call(SYS_C, "registerAgency", {}, body=json.dumps(new).encode()), 409, "CONFLICT")
    failed(hub.call(SYS_C, "deleteAgency", {"AgencyCode": "000.00.05.H41"}, body=b"{}"), 404, "NOT_FOUND")
    ok(hub.call(SYS_B, "deleteAgency", {"AgencyCode": "000.00.05.H41"}, body=b"{}"))
    sync = {u["code"]: u for u in ok(hub.call(SYS_B, "getSynchronizeUnit", {}))["data"]}
    assert sync["000.00.05.H41"]["deleted"] is True and sync["000.00.05.H41"]["version"] > unit["version"]
    assert "000.00.05.H41" not in {a["code"] for a in ok(hub.call(SYS_A, "getAgenciesList", {}))["data"]}
    failed(hub.call(SYS_B, "registerAgency", {}, body=b"[1]"), 400, "BAD_PARAMETER")
    failed(
        hub.call(SYS_B, "registerAgency", {}, body=b'{"code": "000.00.06.H41"}'), 400, "BAD_PARAMETER", "name"
    )


# ------------------------------------------------------------------------------------- transport bits


def test_date_header_time_endpoint_and_expect_continue(hub: Hub) -> None:
    r = hub.client.get("/time")
    assert r.status_code == 200 and r.json()["time"].endswith("+07:00")
    assert len(r.headers.get_list("date")) == 1
    r = hub.call(SYS_A, "getAgenciesList", {}, body=b"{}", extra={"Expect": "100-continue"})
    ok(r)
    assert r.headers["date"].endswith("GMT")
    failed(hub.call(SYS_A, "getSomething", {}), 404, "UNKNOWN_OPERATION")


def test_round_trip_through_the_client_library(hub: Hub, pki: Pki) -> None:
    from simulator.agency.client import VxpClient, VxpError

    a = VxpClient("http://testserver", SYS_A, SECRET_A, http_client=hub.client)
    b = VxpClient("http://testserver", SYS_B, SECRET_B, http_client=hub.client, sdk_quirks=True)
    doc = document(VPCP, [UBND], seed=21)
    data = pki.sign(doc)
    doc_id = a.send_edoc(data, from_=VPCP)
    items = b.get_received_edoc_list()
    assert len(items) == 1 and items[0]["from"] == VPCP and items[0]["status"] == "initial"
    receiver_id = items[0]["docId"]
    assert b.get_edoc(receiver_id) == data and b.download_edoc(receiver_id) == data
    b.update_status(receiver_id, "done")
    assert b.count_receive_edoc() == 0
    b.send_edoc(pki.sign(status(doc, "01", UBND), UBND), from_=UBND, messagetype="status")
    assert a.count_receive_status() == 1
    assert len(a.get_sent_edoc_list()) == 1 and doc_id
    assert a.get_agencies_list() and a.get_synchronize_unit()
    with pytest.raises(VxpError) as info:
        a.get_edoc("no-such-id")
    assert info.value.error_code == "NOT_FOUND"
    with pytest.raises(VxpError):
        b.download_edoc(receiver_id, anonymous=True)


# ------------------------------------------------------------------------------------------- config


def test_config_file_and_errors_naming_the_field(tmp_path: Any) -> None:
    from simulator.hub.config import ConfigError, load_config, materialize

    path = tmp_path / "hub.toml"
    path.write_text(
        'data_dir = "data"\nport = 8099\n[policies]\nsignature = "enforce"\n'
        '[[systems]]\nid = "sim.test.01"\nsecret = "SimSecret-NOT-REAL-0123456789abcdef"\n'
        'agencies = ["002.00.20.H13", "000.00.00.H41"]\n'
        '[[systems]]\nid = "sim.test.02"\nsecret = "s2"\n',
        encoding="utf-8",
    )
    config = load_config(path)
    assert config.data_dir == tmp_path / "data" and config.port == 8099
    assert config.policies.signature == "enforce" and config.policies.validation == "lenient"
    assert (
        config.systems[0].agencies == ("002.00.20.H13", "000.00.00.H41") and config.systems[1].agencies == ()
    )
    full = materialize(config)
    assert len(full.systems[1].agencies) == 2  # generated for the system that declared none
    assert {a.code for a in full.agencies} >= {"002.00.20.H13", *full.systems[1].agencies}
    assert materialize(config) == full  # a second worker gets the very same generated values
    assert full.admin_token and (tmp_path / "data" / "generated.json").stat().st_mode & 0o777 == 0o600

    cases = {
        '[[systems]]\nid = "a"\n[[systems]]\nid = "b"\nsecret = "x"\n': "systems[0].secret: missing",
        '[[systems]]\nid = "a"\nsecret = "x"\n[[systems]]\nid = "b"\n': "systems[1].secret: missing",
        '[policies]\nsignature = "maybe"\n': "policies.signature",
        "port = 70000\n": "port: must be between",
        'colour = "red"\n': "colour: unknown setting",
        '[[systems]]\nid = "a"\nsecret = "x"\nagencies = ["000.00.00.H41"]\n'
        '[[systems]]\nid = "b"\nsecret = "y"\nagencies = ["000.00.00.H41"]\n': "already belongs to system a",
        '[policies]\nvalidation = "strict"\n'
        '[[systems]]\nid = "a"\nsecret = "x"\nagencies = ["vxp.saas.03"]\n': "systems[0].agencies[0]",
        "not toml [": "not valid TOML",
    }
    for text, expected in cases.items():
        path.write_text(text, encoding="utf-8")
        with pytest.raises(ConfigError, match=expected.replace("[", r"\[").replace(".", r"\.")):
            load_config(path)
    path.write_text('[[systems]]\nid = "a"\nsecret = "x"\nagencies = ["vxp.saas.03"]\n', encoding="utf-8")
    assert "not a conforming agency code" in load_config(path).warnings[0]  # lenient: accepted, warned


def test_generated_systems_when_none_are_declared(tmp_path: Any) -> None:
    from simulator.hub.config import materialize, parse_config

    config = materialize(
        parse_config({"data_dir": str(tmp_path), "generate": {"systems": 3, "agencies_per_system": 2}})
    )
    assert [s.id for s in config.systems] == ["sim.gen.01", "sim.gen.02", "sim.gen.03"]
    codes = [c for s in config.systems for c in s.agencies]
    assert len(codes) == len(set(codes)) == 6 and all(len(s.secret) >= 32 for s in config.systems)
    assert all(a.name for a in config.agencies)


# ---------------------------------------------------------------------------------- running workers


def test_listening_socket_gives_accepted_connections_tcp_nodelay() -> None:
    import socket

    from simulator.hub.app import listening_socket

    server = listening_socket("127.0.0.1", 0)
    client = socket.create_connection(server.getsockname()[:2])
    conn, _ = server.accept()
    try:
        # Without it, responses written as headers + body wait ~40 ms for the client's delayed ACK.
        assert conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        assert conn.proto == socket.IPPROTO_TCP  # what asyncio checks before setting TCP_NODELAY itself
    finally:
        for s in (conn, client, server):
            s.close()


_SERVE_SCRIPT = """
import sys
from pathlib import Path
sys.path.insert(0, {root!r})
from simulator.hub.app import serve
from simulator.hub.config import parse_config
if __name__ == "__main__":
    serve(parse_config({data!r}), workers=2)
"""


def test_serve_runs_two_workers_on_one_store(tmp_path: Any, pki: Pki) -> None:
    import shutil
    import socket
    import subprocess
    import sys
    import time
    from pathlib import Path

    import httpx

    from tests.hub.conftest import config_data, sdk_headers

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    data_dir = tmp_path / "hub"
    data_dir.mkdir()
    shutil.copytree(pki.directory, data_dir / "pki")
    data = {**config_data(data_dir), "port": port}
    script = tmp_path / "serve.py"
    script.write_text(_SERVE_SCRIPT.format(root=str(Path(__file__).resolve().parents[2]), data=data))
    with subprocess.Popen([sys.executable, str(script)]) as proc:
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(f"{base}/time").status_code == 200:
                        break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
            package = pki.sign(document(VPCP, [UBND], seed=30))
            params = {"from": VPCP, "servicetype": "eDoc", "messagetype": "edoc"}
            headers = sdk_headers(
                SYS_A,
                SECRET_A,
                params,
                content_type="application/octet-stream",
                hash_file=sdk_hash_file(package),
            )
            with httpx.Client(base_url=base) as client:
                start = time.perf_counter()
                for _ in range(10):  # ten sequential calls on one kept-alive connection
                    assert client.post("/time").status_code == 200
                elapsed = time.perf_counter() - start
                ok(client.post("/sendEdoc", headers=headers, content=package + b"\r\n"))
            listing = httpx.post(f"{base}/getReceivedEdocList", headers=sdk_headers(SYS_B, SECRET_B, {}))
            assert len(ok(listing)["data"]) == 1
            assert elapsed < 0.4, f"10 calls took {elapsed:.2f} s: delayed-ACK stalls (TCP_NODELAY missing?)"
        finally:
            proc.terminate()
            proc.wait(20)
