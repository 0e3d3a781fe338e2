"""Fault injection (VPCP19-RES): rule validation, each fault kind against real behaviour, evidence rows,
sharing between two app instances on one data directory, and dropped replies through a real uvicorn
server on 127.0.0.1 with the retrying client library."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.testclient import TestClient

from simulator.agency.client import ControlClient, VxpClient, VxpError, VxpTransportError
from simulator.edxml.vntime import VN_TZ
from simulator.hub.app import create_app, listening_socket
from simulator.hub.faults import DroppedResponse, FaultError, parse_rules, seeded_fraction
from simulator.hub.timeweb import UVICORN_OPTIONS
from simulator.hub.vxp import OPERATIONS
from tests.hub.conftest import SECRET_A, SECRET_B, SO_TC, SYS_A, SYS_B, UBND, Hub, Pki, document

OPS = frozenset(OPERATIONS)


def control(hub: Hub) -> ControlClient:
    return ControlClient("http://testserver", hub.service.config.admin_token, http_client=hub.client)


def fault_rows(hub: Hub) -> list[dict[str, Any]]:
    return [e for e in hub.evidence() if "fault" in e["detail"]]


def packages(hub: Hub) -> list[dict[str, Any]]:
    return [e for e in hub.evidence() if e["operation"] == "sendEdoc" and e["http_status"] == 200]


# ------------------------------------------------------------------------------------ rule validation


@pytest.mark.parametrize(
    ("rules", "words"),
    [
        ({"rules": "x"}, ["rules"]),
        ("not a list", ["list of rules"]),
        ([{"operation": "sendEdocs", "error_rate": 1}], ["rules[0].operation", "sendEdocs", "getEdoc"]),
        ([{"error_rate": 1.5}], ["rules[0].error_rate", "between 0 and 1"]),
        ([{"latency_ms": -1}], ["rules[0].latency_ms"]),
        ([{"latency_ms": "100"}], ["rules[0].latency_ms", "number"]),
        ([{"timeout": 1e9}], ["rules[0].timeout", "seconds"]),
        ([{"error_rate": 0.5, "timeout": 2}], ["rules[0]", "error_rate and timeout", "one rule for each"]),
        ([{"operation": "getEdoc"}], ["rules[0]", "no effect"]),
        ([{"operation": "getEdoc", "duplicate_delivery": True}], ["rules[0].duplicate_delivery", "sendEdoc"]),
        ([{"duplicate_delivery": 2, "count": 3}], ["duplicate_delivery", "count=3"]),
        ([{"error_rate": 1, "count": 0}], ["rules[0].count", "1 or more"]),
        ([{"error_rate": 1, "until": "tomorrow"}], ["rules[0].until"]),
        ([{"error_rate": 1, "drop": True}], ["rules[0].drop", "unknown field"]),
        ([{"drop_response_after_commit": "yes"}], ["rules[0].drop_response_after_commit", "true or false"]),
        ([{"latency_ms": 1}] * 101, ["at most 100"]),
        ([{"error_rate": 1, "system": 7}], ["rules[0].system", "system id"]),
        ([{"error_rate": 1, "system": " "}], ["rules[0].system"]),
    ],
)
def test_bad_rules_are_refused_naming_the_field(rules: Any, words: list[str]) -> None:
    with pytest.raises(FaultError) as info:
        parse_rules(rules, operations=OPS, generation=1)
    for word in words:
        assert word in str(info.value), (word, str(info.value))


def test_rule_parsing_normalises_and_numbers_rules() -> None:
    rules = parse_rules(
        [
            {"operation": "sendEdoc", "duplicate_delivery": 2},
            {"latency_ms": 50, "until": "2026-11-23 09:00:00"},
        ],
        operations=OPS,
        generation=4,
    )
    assert [r.id for r in rules] == ["4.0", "4.1"]
    assert rules[0].duplicate_delivery and rules[0].count == 2 and rules[0].kind == "duplicate_delivery"
    assert rules[1].operation == "*" and rules[1].kind == "latency"
    assert rules[1].until == dt.datetime(2026, 11, 23, 9, 0, tzinfo=VN_TZ)  # edXML form = Vietnam time


def test_seeded_fraction_is_a_stable_uniform_draw() -> None:
    draws = [seeded_fraction(7, n) for n in range(1, 2001)]
    assert draws == [seeded_fraction(7, n) for n in range(1, 2001)]
    assert all(0 <= d < 1 for d in draws)
    assert 0.45 < sum(draws) / len(draws) < 0.55
    assert draws != [seeded_fraction(8, n) for n in range(1, 2001)]


# ------------------------------------------------------------------------------------ 503 and counts


def test_error_rate_one_with_count_answers_503_then_recovers(hub: Hub, pki: Pki) -> None:
    ctl = control(hub)
    ctl.set_faults([{"operation": "sendEdoc", "error_rate": 1, "count": 2}])
    data = pki.sign(document(SO_TC, [UBND]))
    for _ in range(2):
        r = hub.send(SYS_A, data, from_=SO_TC, to=[UBND])
        assert r.status_code == 503
        body = r.json()
        assert body == {
            "status": "FAIL",
            "ErrorCode": "UNAVAILABLE",
            "ErrorDesc": body["ErrorDesc"],
            "DocId": "",
        }
        assert body["ErrorDesc"].startswith("[VPCP19-RES]") and r.content.isascii()
        assert r.headers.get_list("date") == [r.headers["date"]]  # the hub clock's Date, exactly one
    assert not packages(hub)  # nothing was handled
    assert hub.call(SYS_A, "getAgenciesList").status_code == 200  # other operations untouched
    assert hub.send(SYS_A, data, from_=SO_TC, to=[UBND]).status_code == 200
    state = ctl.faults()
    assert state["rules"][0]["used"] == 2 and state["rules"][0]["count"] == 2
    rows = fault_rows(hub)
    assert [(r["operation"], r["http_status"], r["error_code"], r["system"]) for r in rows] == [
        ("sendEdoc", 503, "UNAVAILABLE", SYS_A)
    ] * 2
    assert [r["detail"]["fault"]["ordinal"] for r in rows] == [1, 2]
    assert all(f["requirement"] == "VPCP19-RES" for r in rows for f in r["findings"])


def test_a_rule_scoped_to_a_system_is_neither_triggered_nor_used_up_by_other_callers(
    hub: Hub, pki: Pki
) -> None:
    ctl = control(hub)
    ctl.set_faults([{"operation": "updateStatus", "error_rate": 1, "count": 2, "system": SYS_B}])
    assert ctl.faults()["rules"][0]["system"] == SYS_B
    doc_id = hub.send(SYS_A, pki.sign(document(SO_TC, [UBND])), from_=SO_TC, to=[UBND]).json()["DocId"]
    for _ in range(3):  # another system's acknowledgements: untouched, and they use nothing up
        assert (
            hub.call(
                SYS_A, "updateStatus", {"docId": "no-such-doc", "status": "done"}, body=b"{}"
            ).status_code
            != 503
        )
    assert ctl.faults()["rules"][0]["used"] == 0
    delivery = hub.received(SYS_B)[0]["docId"]
    assert [hub.ack(SYS_B, delivery).status_code for _ in range(3)] == [503, 503, 200]
    assert ctl.faults()["rules"][0]["used"] == 2
    assert [r["system"] for r in fault_rows(hub)] == [SYS_B, SYS_B]
    assert doc_id


def test_seeded_error_rate_is_reproducible(hub: Hub) -> None:
    ctl = control(hub)
    rule = {"operation": "getAgenciesList", "error_rate": 0.5, "seed": 11, "count": 24}

    def pattern() -> list[int]:
        ctl.set_faults([rule])  # a new generation: use counts start again
        return [hub.call(SYS_B, "getAgenciesList").status_code for _ in range(24)]

    first, second = pattern(), pattern()
    assert first == second
    assert set(first) == {200, 503}
    assert 4 <= first.count(503) <= 20
    expected = [503 if seeded_fraction(11, n) < 0.5 else 200 for n in range(1, 25)]
    assert first == expected  # the documented formula, independent of which request came first
    assert hub.call(SYS_B, "getAgenciesList").status_code == 200  # count used up


def test_until_bounds_a_rule_in_hub_time(hub: Hub) -> None:
    ctl = control(hub)
    now = hub.service.clock()
    ctl.set_faults(
        [
            {
                "operation": "countReceiveEdoc",
                "error_rate": 1,
                "until": (now - dt.timedelta(seconds=1)).isoformat(),
            }
        ]
    )
    assert hub.call(SYS_B, "countReceiveEdoc").status_code == 200
    ctl.set_faults(
        [
            {
                "operation": "countReceiveEdoc",
                "error_rate": 1,
                "until": (now + dt.timedelta(hours=1)).isoformat(),
            }
        ]
    )
    assert hub.call(SYS_B, "countReceiveEdoc").status_code == 503
    ctl.clear_faults()
    assert hub.call(SYS_B, "countReceiveEdoc").status_code == 200
    assert ctl.faults() == {"generation": 3, "rules": []}


# ------------------------------------------------------------------------------------ latency


def test_latency_delays_only_the_matching_operation(hub: Hub) -> None:
    control(hub).set_faults([{"operation": "getAgenciesList", "latency_ms": 300}])
    t0 = time.perf_counter()
    assert hub.call(SYS_B, "getAgenciesList").status_code == 200
    slow = time.perf_counter() - t0
    t0 = time.perf_counter()
    assert hub.call(SYS_B, "countReceiveEdoc").status_code == 200
    fast = time.perf_counter() - t0
    assert 0.3 <= slow < 2.0, slow
    assert fast < 0.25, fast
    (row,) = fault_rows(hub)
    assert row["operation"] == "fault.latency" and row["detail"]["fault"]["latency_ms"] == 300


# ------------------------------------------------------------------------------------ duplicate delivery


def test_duplicate_delivery_gives_the_recipient_a_second_copy_of_the_next_package(hub: Hub, pki: Pki) -> None:
    control(hub).set_faults([{"operation": "sendEdoc", "duplicate_delivery": 1}])
    first = pki.sign(document(SO_TC, [UBND], seed=1))
    second = pki.sign(document(SO_TC, [UBND], seed=2))
    r = hub.send(SYS_A, first, from_=SO_TC, to=[UBND])
    assert r.status_code == 200
    doc_id = r.json()["DocId"]
    items = hub.received(SYS_B)
    assert len(items) == 2 and len({i["docId"] for i in items}) == 2
    assert hub.get_edoc(SYS_B, items[0]["docId"]) == hub.get_edoc(SYS_B, items[1]["docId"]) == first
    assert hub.send(SYS_A, second, from_=SO_TC, to=[UBND]).status_code == 200
    assert len(hub.received(SYS_B)) == 3  # the rule applied to one package only
    (row,) = fault_rows(hub)
    assert row["operation"] == "fault.duplicate_delivery"
    assert row["doc_ids"][0] == doc_id and set(row["doc_ids"][1:]) <= {i["docId"] for i in items}
    rows = hub.service.store.list_deliveries(package_doc_id=doc_id)
    assert [d.recipient for d in rows] == [UBND, UBND]


def test_a_refused_package_is_not_duplicated(hub: Hub, pki: Pki) -> None:
    ctl = control(hub)
    ctl.set_faults([{"operation": "sendEdoc", "duplicate_delivery": 1}])
    data = pki.sign(document(SO_TC, [UBND]))
    assert hub.send(SYS_A, data, from_=SO_TC, to=["000.00.77.H41"]).status_code == 400  # unknown recipient
    assert ctl.faults()["rules"][0]["used"] == 0
    assert hub.send(SYS_A, data, from_=SO_TC, to=[UBND]).status_code == 200
    assert len(hub.received(SYS_B)) == 2


# ------------------------------------------------------------------------------------ two workers


def test_faults_set_through_one_instance_apply_in_another_sharing_the_data_dir(hub: Hub) -> None:
    """Two apps on one data directory stand for two uvicorn workers: the rule and its count are shared."""
    other = TestClient(create_app(hub.service.config), raise_server_exceptions=False)
    with other:
        peer = Hub(other, hub.config)
        control(hub).set_faults([{"operation": "countReceiveStatus", "error_rate": 1, "count": 3}])
        # The control call returned only after settings_refresh_s: the peer must see the rule at once.
        assert peer.call(SYS_B, "countReceiveStatus").status_code == 503
        assert hub.call(SYS_B, "countReceiveStatus").status_code == 503
        assert peer.call(SYS_B, "countReceiveStatus").status_code == 503
        assert hub.call(SYS_B, "countReceiveStatus").status_code == 200
        assert peer.call(SYS_B, "countReceiveStatus").status_code == 200
        control(peer).clear_faults()
        assert control(hub).faults()["rules"] == []


# ------------------------------------------------------------------------------------ real server


class _Collect(logging.Handler):
    def __init__(self, level: int) -> None:
        super().__init__(level)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def serve(app: Starlette, http: str = "auto") -> Iterator[str]:
    """``app`` under a real uvicorn server on 127.0.0.1 (a thread), stopped on exit."""
    sock = listening_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, http=http, log_level="warning", **UVICORN_OPTIONS))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.mark.parametrize("http", ["httptools", "h11"])
def test_dropped_reply_after_commit_under_uvicorn_then_retry_is_a_recorded_duplicate(
    make_hub: Any, pki: Pki, http: str
) -> None:
    hub = make_hub()
    app = create_app(hub.service.config)
    data = pki.sign(document(SO_TC, [UBND]))
    handler = _Collect(logging.ERROR)
    errors = handler.records
    uvicorn_log = logging.getLogger("uvicorn.error")
    with contextlib.ExitStack() as stack:
        endpoint = stack.enter_context(serve(app, http))
        uvicorn_log.addHandler(handler)  # after start: uvicorn's logging setup drops earlier handlers
        stack.callback(uvicorn_log.removeHandler, handler)
        ctl = ControlClient(endpoint, hub.service.config.admin_token)
        # A plain client sees the connection close without a single byte of reply.
        ctl.set_faults([{"operation": "getAgenciesList", "drop_response_after_commit": True, "count": 1}])
        with httpx.Client() as raw:
            with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
                raw.post(f"{endpoint}/getAgenciesList")
            assert raw.post(f"{endpoint}/getAgenciesList").status_code == 401  # used up: a normal reply
        ctl.set_faults([{"operation": "sendEdoc", "drop_response_after_commit": True, "count": 1}])
        with VxpClient(endpoint, SYS_A, SECRET_A, retries=1, timeout=5) as client:
            retry_id = client.send_edoc(data, from_=SO_TC, to=[UBND])
        with VxpClient(endpoint, SYS_B, SECRET_B) as receiver:
            items = receiver.get_received_edoc_list()
        evidence = ctl.evidence()
        ctl.close()
    accepted = [e for e in evidence if e["operation"] == "sendEdoc" and e["http_status"] == 200]
    assert len(accepted) == 2  # the dropped one and the retry: both committed
    first_id = accepted[0]["doc_ids"][0]
    assert accepted[1]["doc_ids"][0] == retry_id != first_id
    assert accepted[1]["detail"]["duplicate_of"] == first_id
    assert any(f["requirement"] == "VXP-DUP" for f in accepted[1]["findings"])
    drops = [e for e in evidence if e["operation"] == "fault.drop_response"]
    assert [d["detail"]["fault"]["operation"] for d in drops] == ["getAgenciesList", "sendEdoc"]
    drop = drops[1]
    assert drop["doc_ids"] == [first_id] and drop["detail"]["fault"]["dropped_status"] == 200
    assert drop["http_status"] == 0 and drop["error_code"] == "NO_REPLY"
    # duplicates policy "deliver" (default): the recipient gets both; the bytes are stored once.
    assert len(items) == 2
    assert accepted[0]["sha256"] == accepted[1]["sha256"]
    assert errors == []  # the deliberate drops stay out of uvicorn's error log


def test_dropped_reply_with_duplicates_refused_gives_the_retry_409_naming_the_first(
    make_hub: Any, pki: Pki
) -> None:
    hub = make_hub(duplicates="refuse")
    data = pki.sign(document(SO_TC, [UBND]))
    with (
        serve(create_app(hub.service.config)) as endpoint,
        ControlClient(endpoint, hub.service.config.admin_token) as ctl,
    ):
        ctl.set_faults([{"operation": "sendEdoc", "drop_response_after_commit": True, "count": 1}])
        with (
            VxpClient(endpoint, SYS_A, SECRET_A, retries=1, timeout=5) as client,
            pytest.raises(VxpError) as info,
        ):
            client.send_edoc(data, from_=SO_TC, to=[UBND])
        evidence = ctl.evidence()
        deliveries = ctl.deliveries(recipient=UBND)
    accepted = [e for e in evidence if e["operation"] == "sendEdoc" and e["http_status"] == 200]
    assert len(accepted) == 1 and len(deliveries) == 1
    assert info.value.error_code == "DUPLICATE" and accepted[0]["doc_ids"][0] in info.value.error_desc


def test_timeout_holds_the_request_then_closes_without_a_reply(make_hub: Any, pki: Pki) -> None:
    hub = make_hub()
    data = pki.sign(document(SO_TC, [UBND]))
    with (
        serve(create_app(hub.service.config)) as endpoint,
        ControlClient(endpoint, hub.service.config.admin_token) as ctl,
    ):
        ctl.set_faults([{"operation": "sendEdoc", "timeout": 0.4, "count": 1}])
        with VxpClient(endpoint, SYS_A, SECRET_A, timeout=5) as client:
            t0 = time.perf_counter()
            with pytest.raises(VxpTransportError, match="without sending a response"):
                client.send_edoc(data, from_=SO_TC, to=[UBND])
            held = time.perf_counter() - t0
            assert client.send_edoc(data, from_=SO_TC, to=[UBND])  # the rule is used up
        evidence = ctl.evidence()
    assert 0.4 <= held < 3, held
    timeouts = [e for e in evidence if e["detail"].get("fault", {}).get("kind") == "timeout"]
    assert [(e["operation"], e["http_status"], e["error_code"]) for e in timeouts] == [
        ("sendEdoc", 0, "NO_REPLY")
    ]
    assert len([e for e in evidence if e["operation"] == "sendEdoc" and e["http_status"] == 200]) == 1


def test_under_a_test_client_a_dropped_reply_surfaces_as_the_exception(hub: Hub, pki: Pki) -> None:
    control(hub).set_faults([{"operation": "getAgenciesList", "drop_response_after_commit": True}])
    with TestClient(hub.client.app, raise_server_exceptions=True) as strict, pytest.raises(DroppedResponse):
        Hub(strict, hub.config).call(SYS_B, "getAgenciesList")


def test_json_of_a_fault_row_is_complete(hub: Hub) -> None:
    control(hub).set_faults([{"operation": "getEdoc", "error_rate": 1, "seed": 3}])
    hub.call(SYS_B, "getEdoc", {"docId": "x"}, body=b"{}")
    (row,) = control(hub).evidence(since=0)[-1:]
    assert row["operation"] == "getEdoc" and json.loads(json.dumps(row)) == row
    assert row["detail"]["fault"] == {
        "rule": row["detail"]["fault"]["rule"],
        "kind": "error",
        "operation": "getEdoc",
        "ordinal": 1,
        "seed": 3,
        "error_rate": 1.0,
    }
