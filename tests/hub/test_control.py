"""The control API: admin-token authentication, every endpoint's happy path and bad input, the
ControlClient, and the settings cache that carries runtime changes to every worker."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from simulator.agency.client import ControlApiError, ControlClient, VxpClient, VxpError
from simulator.hub.app import DB_NAME
from simulator.hub.sqlite_store import SqliteStore
from simulator.hub.store import EvidenceRecord
from simulator.hub.vxp import POLICIES_SETTING
from tests.hub.conftest import (
    SECRET_A,
    SO_NV,
    SO_TC,
    SYS_A,
    SYS_B,
    UBND,
    VPCP,
    Hub,
    Pki,
    document,
    sdk_headers,
)

ENDPOINTS = [
    ("POST", "/control/reset"),
    ("POST", "/control/seed"),
    ("GET", "/control/systems"),
    ("GET", "/control/agencies"),
    ("GET", "/control/faults"),
    ("PUT", "/control/faults"),
    ("DELETE", "/control/faults"),
    ("GET", "/control/clock"),
    ("PUT", "/control/clock"),
    ("DELETE", "/control/clock"),
    ("GET", "/control/policies"),
    ("PUT", "/control/policies"),
    ("DELETE", "/control/policies"),
    ("GET", "/control/evidence"),
    ("GET", "/control/stats"),
    ("GET", "/control/deliveries"),
    ("GET", "/control/packages/" + "0" * 64),
    ("GET", "/control/no-such-thing"),
    ("GET", "/control"),
]


def token(hub: Hub) -> str:
    value: str = hub.service.config.admin_token
    assert len(value) >= 24  # generated when the config has none
    return value


def ctl(hub: Hub) -> ControlClient:
    return ControlClient("http://testserver", token(hub), http_client=hub.client)


def bearer(hub: Hub) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(hub)}"}


def refused(r: Any, status: int, *words: str) -> str:
    assert r.status_code == status, (r.status_code, r.text)
    body = r.json()
    assert set(body) == {"error", "detail"}, body
    for word in words:
        assert word in body["detail"], (word, body["detail"])
    return str(body["detail"])


# ------------------------------------------------------------------------------------------- auth


def test_every_control_path_needs_the_admin_token(hub: Hub) -> None:
    for method, path in ENDPOINTS:
        r = hub.client.request(method, path, content=b"{}")
        refused(r, 401, "Authorization", "Bearer")
        assert r.headers["www-authenticate"].startswith("Bearer")
        refused(hub.client.request(method, path, headers={"Authorization": "Bearer nope"}), 401, "wrong")
        basic = {"Authorization": f"Basic {token(hub)}"}
        refused(hub.client.request(method, path, headers=basic), 401, "Bearer")
    assert [e["operation"] for e in hub.evidence()] == []  # nothing ran


def test_system_credentials_never_grant_control_access(hub: Hub) -> None:
    headers = sdk_headers(SYS_A, SECRET_A, {})  # a perfectly signed VXP call
    refused(hub.client.get("/control/systems", headers=headers), 401, "do not grant access")
    headers["Authorization"] = f"Bearer {SECRET_A}"  # a system secret is not the admin token either
    refused(hub.client.get("/control/systems", headers=headers), 401, "wrong")


def test_unknown_paths_and_methods_answer_in_control_json(hub: Hub) -> None:
    refused(
        hub.client.get("/control/nothing", headers=bearer(hub)), 404, "/control/nothing", "/control/faults"
    )
    refused(hub.client.post("/control/stats", headers=bearer(hub)), 405, "POST", "GET")
    refused(hub.client.get("/control/reset", headers=bearer(hub)), 405, "use POST")
    refused(hub.client.post("/control/packages/" + "a" * 64, headers=bearer(hub)), 405, "use GET")


# ------------------------------------------------------------------------------------- reset / seed


def test_reset_wipes_traffic_and_keeps_reading_evidence_in_order(hub: Hub, pki: Pki) -> None:
    c = ctl(hub)
    data = pki.sign(document(SO_TC, [UBND]))
    assert hub.send(SYS_A, data, from_=SO_TC, to=[UBND]).status_code == 200
    sha = c.evidence()[-1]["sha256"]
    assert c.package(sha) == data
    last = c.evidence()[-1]["id"]
    c.set_faults([{"operation": "getEdoc", "latency_ms": 5}])
    reply = c.reset()
    assert reply["deleted"]["packages"] == 1 and reply["deleted"]["deliveries"] == 1
    assert reply["deleted"]["blobs"] == 1 and reply["deleted"]["evidence"] >= 2
    assert reply["directory"] == "keep" and reply["faults"] == "clear"
    assert hub.received(SYS_B) == []
    after = c.evidence(since=last)
    assert after[0]["operation"] == "control.reset" and after[0]["id"] > last  # a follower misses nothing
    assert c.faults()["rules"] == []
    assert {a["code"] for a in c.agencies()} >= {VPCP, SO_TC, UBND, SO_NV}
    assert c.package(sha) is None


def test_reset_options_and_bad_options(hub: Hub) -> None:
    c = ctl(hub)
    c.set_faults([{"operation": "getEdoc", "latency_ms": 5}])
    c.set_policies(duplicates="refuse")
    c.set_clock(offset_s=120)
    c.reset(faults="keep")
    assert len(c.faults()["rules"]) == 1
    assert c.policies()["duplicates"] == "refuse" and c.clock()["offset_s"] > 100
    c.reset(policies="clear", clock="clear")
    assert c.policies()["duplicates"] == "deliver" and abs(c.clock()["offset_s"]) < 1
    with pytest.raises(ControlApiError) as info:
        c.reset(directory="wipe")  # type: ignore[arg-type]
    assert (
        info.value.status == 400 and "body.directory" in info.value.detail and "reseed" in info.value.detail
    )
    r = hub.client.post("/control/reset", headers=bearer(hub), json={"everything": True})
    refused(r, 400, "body.everything", "unknown field")
    refused(hub.client.post("/control/reset", headers=bearer(hub), content=b"{nope"), 400, "not UTF-8 JSON")


def test_seed_adds_a_system_that_can_authenticate_send_and_receive(hub: Hub, pki: Pki) -> None:
    c = ctl(hub)
    code = "000.00.42.H41"
    reply = c.seed(
        systems=[{"id": "sim.seeded.01", "agencies": [code]}],
        agencies=[{"code": code, "name": "Sở Thử nghiệm", "mail": "vt@seed.gov.vn"}],
    )
    (system,) = reply["systems"]
    assert system["id"] == "sim.seeded.01" and system["agencies"] == [code] and len(system["secret"]) >= 32
    listed = {s["id"]: s for s in c.systems()}
    assert listed["sim.seeded.01"]["source"] == "seeded" and listed[SYS_A]["source"] == "config"
    assert listed["sim.seeded.01"]["secret"] == system["secret"]
    (entry,) = [a for a in c.agencies() if a["code"] == code]
    assert entry["system_id"] == "sim.seeded.01" and entry["name"] == "Sở Thử nghiệm"
    # The new system authenticates, and documents reach it.
    data = pki.sign(document(SO_TC, [code]))
    assert hub.send(SYS_A, data, from_=SO_TC, to=[code]).status_code == 200
    with VxpClient("http://testserver", "sim.seeded.01", system["secret"], http_client=hub.client) as seeded:
        (item,) = seeded.get_received_edoc_list()
        assert seeded.get_edoc(item["docId"]) == data
    # Re-seeding keeps the secret unless a new one is given, and replaces the agencies.
    again = c.seed(systems=[{"id": "sim.seeded.01", "agencies": [code, "000.00.43.H41"]}])
    assert again["systems"][0]["secret"] == system["secret"]
    assert {a["code"]: a["system_id"] for a in c.agencies()}["000.00.43.H41"] == "sim.seeded.01"
    # A reset that reseeds from the config forgets the seeded system.
    c.reset(directory="reseed")
    assert "sim.seeded.01" not in {s["id"] for s in c.systems()}
    assert code not in {a["code"] for a in c.agencies()}
    with (
        VxpClient("http://testserver", "sim.seeded.01", system["secret"], http_client=hub.client) as gone,
        pytest.raises(VxpError) as info,
    ):
        gone.count_receive_edoc()
    assert info.value.error_code == "AUTH_UNKNOWN_SYSTEM"


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        (
            {"systems": [{"id": SYS_A, "agencies": ["000.00.50.H41"]}]},
            409,
            ["systems[0].id", SYS_A, "config"],
        ),
        ({"systems": [{"id": "sim.x", "agencies": [UBND]}]}, 409, ["systems[0].agencies[0]", UBND, SYS_B]),
        ({"systems": [{"id": "sim.x"}]}, 400, ["systems[0].agencies", "at least one"]),
        (
            {"systems": [{"id": "sim x", "agencies": ["000.00.50.H41"]}]},
            400,
            ["systems[0].id", "without spaces"],
        ),
        ({"systems": [{"id": "sim.x", "agencies": [7]}]}, 400, ["systems[0].agencies"]),
        ({"agencies": [{"code": "000.00.51.H41"}]}, 400, ["agencies[0].name", "missing"]),
        ({"sistems": []}, 400, ["body.sistems", "unknown field"]),
        ([], 400, ["JSON object"]),
    ],
)
def test_seed_refusals_name_the_field(hub: Hub, body: Any, status: int, words: list[str]) -> None:
    refused(hub.client.post("/control/seed", headers=bearer(hub), json=body), status, *words)
    assert {s["source"] for s in ctl(hub).systems()} == {"config"}  # nothing half-seeded


# ------------------------------------------------------------------------------------- clock, policies


def test_clock_offset_drift_and_reset(hub: Hub) -> None:
    c = ctl(hub)
    before = c.clock()
    assert before["timezone"] == "Asia/Ho_Chi_Minh" and before["time"].endswith("+07:00")
    reply = c.set_clock(offset_s=600)
    assert 599 < reply["offset_s"] < 601 and reply["configured_offset_s"] == 600
    assert 599 < hub.client.get("/time").json()["offset_s"] < 601  # the hub's own clock moved
    assert c.set_clock(drift_ppm=50)["drift_ppm"] == 50
    assert abs(c.reset_clock()["offset_s"]) < 0.01
    for body, words in [
        ({"offset_s": "ten"}, ["body.offset_s", "number"]),
        ({"drift_ppm": 1e9}, ["drift_ppm", "QD28-14.4"]),
        ({}, ["offset_s", "drift_ppm"]),
        ({"offset": 5}, ["body.offset", "unknown field"]),
    ]:
        refused(hub.client.put("/control/clock", headers=bearer(hub), json=body), 400, *words)


def test_policies_change_what_the_protocol_does(hub: Hub, pki: Pki) -> None:
    c = ctl(hub)
    assert c.policies()["duplicates"] == "deliver"
    data = pki.sign(document(SO_TC, [UBND]))
    assert hub.send(SYS_A, data, from_=SO_TC, to=[UBND]).status_code == 200
    assert c.set_policies(duplicates="refuse")["duplicates"] == "refuse"
    assert hub.send(SYS_A, data, from_=SO_TC, to=[UBND]).json()["ErrorCode"] == "DUPLICATE"
    assert c.reset_policies()["duplicates"] == "deliver"
    assert hub.send(SYS_A, data, from_=SO_TC, to=[UBND]).status_code == 200
    refused(
        hub.client.put("/control/policies", headers=bearer(hub), json={"signature": "always"}),
        400,
        "policies.signature",
        "enforce",
    )
    refused(
        hub.client.put("/control/policies", headers=bearer(hub), json={"colour": 1}), 400, "policies.colour"
    )
    assert [e["detail"] for e in c.evidence() if e["operation"] == "control.policies"] == [
        {"changes": {"duplicates": "refuse"}},
        {"reset": True},
    ]


# ------------------------------------------------------------------------------------- observation


def test_evidence_streams_json_lines_with_since_and_limit(hub: Hub) -> None:
    store = hub.service.store
    now = hub.service.clock()
    for i in range(1_203):  # more than two streaming batches
        store.add_evidence(
            EvidenceRecord(at=now, operation="probe", http_status=200, error_code="0", detail={"i": i})
        )
    r = hub.client.get("/control/evidence", headers=bearer(hub))
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-ndjson")
    lines = r.text.splitlines()
    rows = [json.loads(line) for line in lines]
    assert len(rows) == 1_203 and [row["detail"]["i"] for row in rows] == list(range(1_203))
    assert [row["id"] for row in rows] == sorted(row["id"] for row in rows)
    assert set(rows[0]) >= {
        "id",
        "at",
        "system",
        "operation",
        "http_status",
        "error_code",
        "sha256",
        "doc_ids",
    }
    c = ctl(hub)
    tail = c.evidence(since=rows[600]["id"], limit=550)
    assert [row["detail"]["i"] for row in tail] == list(range(601, 1_151))
    assert c.evidence(since=rows[-1]["id"]) == []
    for query, words in [("since=-1", ["since"]), ("limit=0", ["limit"]), ("limit=x", ["limit"])]:
        refused(hub.client.get(f"/control/evidence?{query}", headers=bearer(hub)), 400, *words)


def test_deliveries_and_package_bytes(hub: Hub, pki: Pki) -> None:
    c = ctl(hub)
    data = pki.sign(document(SO_TC, [UBND, SO_NV]))
    doc_id = hub.send(SYS_A, data, from_=SO_TC).json()["DocId"]
    rows = c.deliveries(package=doc_id)
    assert {r["recipient"] for r in rows} == {UBND, SO_NV} and {r["state"] for r in rows} == {"initial"}
    (item,) = hub.received(SYS_B)
    hub.ack(SYS_B, item["docId"])
    (done,) = c.deliveries(recipient=UBND, state="done")
    assert done["doc_id"] == item["docId"] and done["from_organ"] == SO_TC and done["acked_at"]
    assert c.deliveries(sender=UBND) == []
    sha = next(e for e in c.evidence() if e["operation"] == "sendEdoc")["sha256"]
    assert c.package(sha) == data
    assert c.package("f" * 64) is None
    refused(hub.client.get("/control/packages/xyz", headers=bearer(hub)), 400, "SHA-256")
    refused(hub.client.get("/control/deliveries?state=lost", headers=bearer(hub)), 400, "state", "initial")


def test_control_changes_are_noted_in_the_evidence_without_secrets(hub: Hub) -> None:
    c = ctl(hub)
    secret = c.seed(systems=[{"id": "sim.noted", "agencies": ["000.00.60.H41"]}])["systems"][0]["secret"]
    c.set_faults([{"operation": "getEdoc", "latency_ms": 1}])
    c.set_clock(offset_s=1)
    text = json.dumps(c.evidence())
    assert secret not in text and token(hub) not in text
    assert [e["operation"] for e in c.evidence()] == ["control.seed", "control.faults", "control.clock"]


# ------------------------------------------------------------------------------------- settings cache


def test_settings_cache_sees_other_processes_within_the_refresh_interval(hub: Hub) -> None:
    mine: SqliteStore = hub.service.store
    other = SqliteStore(hub.service.config.data_dir / DB_NAME)  # another worker's connection
    try:
        seen = mine.settings()
        assert mine.settings() is seen  # served from the cache: no re-read
        other.set_setting(POLICIES_SETTING, {"duplicates": "refuse"})
        deadline = time.monotonic() + 2
        while mine.get_setting(POLICIES_SETTING) is None:
            assert time.monotonic() < deadline
            time.sleep(0.005)
        assert mine.get_setting(POLICIES_SETTING) == {"duplicates": "refuse"}
        assert hub.service.policies().duplicates == "refuse"
        mine.delete_setting(POLICIES_SETTING)
        assert mine.get_setting(POLICIES_SETTING) is None  # own writes: at once
    finally:
        other.close()
