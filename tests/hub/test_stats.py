"""Statistics (QD28-11): percentiles and buckets, and exact agreement with traffic generated against a
hub whose clock the test sets for every call (so every latency is known in advance)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from simulator.edxml.vntime import VN_TZ
from simulator.hub.app import create_app
from simulator.hub.clock import HubClock
from simulator.hub.config import parse_config
from simulator.hub.stats import bucket_start, compute_stats, percentile, summarize
from tests.hub.conftest import (
    SO_NV,
    SO_TC,
    SYS_A,
    SYS_B,
    SYS_C,
    UBND,
    VPCP,
    Hub,
    Pki,
    config_data,
    document,
    status,
)

T0 = dt.datetime(2026, 11, 23, 8, 59, 0, tzinfo=VN_TZ)


# ------------------------------------------------------------------------------------------ pure parts


def test_nearest_rank_percentiles() -> None:
    ten = [float(v) for v in range(1, 11)]
    assert percentile(ten, 50) == 5 and percentile(ten, 95) == 10 and percentile(ten, 10) == 1
    hundred = [float(v) for v in range(1, 101)]
    assert percentile(hundred, 95) == 95 and percentile(hundred, 99) == 99 and percentile(hundred, 100) == 100
    assert summarize([3.0, 1.0, 2.0]) == {"count": 3, "p50": 2.0, "p95": 3.0, "p99": 3.0, "max": 3.0}
    assert summarize([]) == {"count": 0, "p50": None, "p95": None, "p99": None, "max": None}
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)


def test_buckets_are_vietnam_hours_and_days() -> None:
    utc = dt.datetime(2026, 11, 23, 17, 30, tzinfo=dt.UTC)  # 00:30 on the 24th in Vietnam
    assert bucket_start(utc, "hour") == dt.datetime(2026, 11, 24, 0, 0, tzinfo=VN_TZ)
    assert bucket_start(utc, "day") == dt.datetime(2026, 11, 24, tzinfo=VN_TZ)


# ------------------------------------------------------------------------------------------ traffic


class Clocked:
    """A hub whose clock reads whatever the test last set."""

    def __init__(self, hub: Hub, clock: list[float]) -> None:
        self.hub = hub
        self._clock = clock

    def at(self, when: dt.datetime) -> Hub:
        self._clock[0] = when.timestamp()
        return self.hub


@pytest.fixture
def clocked(tmp_path: Path, pki: Pki) -> Iterator[Clocked]:
    data_dir = tmp_path / "hub"
    data_dir.mkdir()
    shutil.copytree(pki.directory, data_dir / "pki")
    config = parse_config(config_data(data_dir, signature="off"))
    now = [T0.timestamp()]
    app = create_app(config, clock=HubClock(None, base=lambda: now[0]))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Clocked(Hub(client, config), now)


def sent(r: Any) -> str:
    assert r.status_code == 200, r.text
    doc_id: str = r.json()["DocId"]
    return doc_id


@pytest.fixture
def traffic(clocked: Clocked, pki: Pki) -> Clocked:
    """7 documents from SO_TC to UBND and SO_NV, one a minute from 08:59; UBND answers 01 after 10·(i+1) s
    and 03 after 100·(i+1) s for the first five, then 01 again for the first (backwards); SO_TC re-sends
    the last one at 10:59 (a duplicate); VPCP sends SO_TC a document without a subject (accepted with an
    ERROR finding, lenient). UBND acknowledges three documents, SO_NV refuses one."""
    docs = [document(SO_TC, [UBND, SO_NV], seed=i + 1) for i in range(7)]
    assert len({d.header.document_id for d in docs}) == 7
    signed = [pki.sign(d) for d in docs]
    accepted = [T0 + dt.timedelta(minutes=i) for i in range(7)]
    for data, when in zip(signed, accepted, strict=True):
        sent(clocked.at(when).send(SYS_A, data, from_=SO_TC))
    for i in range(5):
        for code, delay in (("01", 10 * (i + 1)), ("03", 100 * (i + 1))):
            package = pki.sign(status(docs[i], code, UBND))
            hub = clocked.at(accepted[i] + dt.timedelta(seconds=delay))
            sent(hub.send(SYS_B, package, from_=UBND, messagetype="status"))
    backwards = pki.sign(status(docs[0], "01", UBND, seed=2))
    sent(
        clocked.at(accepted[0] + dt.timedelta(seconds=1000)).send(
            SYS_B, backwards, from_=UBND, messagetype="status"
        )
    )
    sent(clocked.at(T0 + dt.timedelta(hours=2)).send(SYS_A, signed[6], from_=SO_TC))
    bad = document(VPCP, [SO_TC], seed=99)
    bad = dataclasses.replace(bad, header=dataclasses.replace(bad.header, subject=""))
    sent(clocked.at(T0 + dt.timedelta(hours=2, minutes=1)).send(SYS_A, pki.sign(bad), from_=VPCP, to=[SO_TC]))
    hub = clocked.at(T0 + dt.timedelta(hours=3))
    for item in hub.received(SYS_B)[:3]:
        assert hub.ack(SYS_B, item["docId"]).status_code == 200
    assert hub.ack(SYS_C, hub.received(SYS_C)[0]["docId"], "fail").status_code == 200
    return clocked


def by_agency(report: Any) -> dict[str, Any]:
    return {a["agency"]: a for a in report["agencies"]}


def states(**counts: int) -> dict[str, int]:
    return {"initial": 0, "processing": 0, "done": 0, "fail": 0, **counts}


def test_statistics_agree_exactly_with_the_traffic(traffic: Clocked) -> None:
    report = compute_stats(traffic.hub.service.store)
    agencies = by_agency(report)
    assert set(agencies) == {VPCP, SO_TC, UBND, SO_NV}
    tc, b, c, vp = (agencies[k]["total"] for k in (SO_TC, UBND, SO_NV, VPCP))

    assert (
        tc["documents_sent"] == 8 and tc["duplicates_sent"] == 1 and tc["violations"]["package_errors"] == 0
    )
    assert tc["statuses_received"] == {"01": 6, "03": 5} and tc["documents_received"] == 1
    assert tc["deliveries"] == {"edoc": states(initial=1), "status": states(initial=11)}

    assert b["documents_received"] == 8 and b["duplicates_received"] == 1
    assert b["statuses_sent"] == {"01": 6, "03": 5} and b["documents_sent"] == 0
    assert b["deliveries"] == {"edoc": states(initial=5, done=3), "status": states()}
    assert b["violations"] == {"status_order": 1, "package_errors": 0}
    assert b["latency_s"]["01"] == {"count": 5, "p50": 30.0, "p95": 50.0, "p99": 50.0, "max": 50.0}
    assert b["latency_s"]["03"] == {"count": 5, "p50": 300.0, "p95": 500.0, "p99": 500.0, "max": 500.0}
    assert b["latency_s"]["06"]["count"] == 0

    assert c["documents_received"] == 8 and c["deliveries"]["edoc"] == states(initial=7, fail=1)
    assert all(c["latency_s"][k]["count"] == 0 for k in ("01", "03", "06"))
    assert vp["documents_sent"] == 1 and vp["violations"]["package_errors"] == 1


def test_hour_buckets_attribute_latency_to_the_documents_hour(traffic: Clocked) -> None:
    report = compute_stats(traffic.hub.service.store, bucket="hour")
    tc = by_agency(report)[SO_TC]["periods"]
    assert [(p["start"], p["documents_sent"]) for p in tc if p["documents_sent"]] == [
        ("2026-11-23T08:00:00+07:00", 1),
        ("2026-11-23T09:00:00+07:00", 6),
        ("2026-11-23T10:00:00+07:00", 1),
    ]
    b = {p["start"]: p for p in by_agency(report)[UBND]["periods"]}
    eight, nine = b["2026-11-23T08:00:00+07:00"], b["2026-11-23T09:00:00+07:00"]
    assert eight["end"] == "2026-11-23T09:00:00+07:00"
    assert eight["latency_s"]["01"] == {"count": 1, "p50": 10.0, "p95": 10.0, "p99": 10.0, "max": 10.0}
    assert nine["latency_s"]["01"] == {"count": 4, "p50": 30.0, "p95": 50.0, "p99": 50.0, "max": 50.0}
    assert nine["latency_s"]["03"]["p50"] == 300.0 and nine["latency_s"]["03"]["count"] == 4


def test_a_time_range_and_an_agency_filter(traffic: Clocked) -> None:
    store = traffic.hub.service.store
    nine, ten = T0 + dt.timedelta(minutes=1), T0 + dt.timedelta(minutes=61)
    report = compute_stats(store, agency=UBND, start=nine, end=ten)
    assert [a["agency"] for a in report["agencies"]] == [UBND]
    b = report["agencies"][0]["total"]
    # 01s at 08:59:10 (out) and 09:00:20 … 09:03:50; 03s from 09:00:40; the backwards 01 at 09:15:40.
    assert b["statuses_sent"] == {"01": 5, "03": 5}
    assert b["documents_received"] == 6 and b["latency_s"]["01"]["count"] == 4
    assert report["start"] == "2026-11-23T09:00:00+07:00" and b["start"] == report["start"]
    with pytest.raises(ValueError, match="empty"):
        compute_stats(store, start=ten, end=nine)
    assert compute_stats(store, agency="000.00.99.H41")["agencies"][0]["total"]["documents_sent"] == 0


def test_the_control_endpoint_serves_the_same_numbers(traffic: Clocked) -> None:
    hub = traffic.hub
    headers = {"Authorization": f"Bearer {hub.service.config.admin_token}"}
    r = hub.client.get(
        "/control/stats",
        params={
            "agency": UBND,
            "from": "2026-11-23T09:00:00+07:00",
            "to": "2026-11-23 10:00:00",
            "bucket": "day",
        },
        headers=headers,
    )
    assert r.status_code == 200, r.text
    expected = compute_stats(
        hub.service.store,
        agency=UBND,
        start=T0 + dt.timedelta(minutes=1),
        end=T0 + dt.timedelta(minutes=61),
        bucket="day",
    )
    assert r.json() == expected
    assert r.json()["agencies"][0]["periods"][0]["start"] == "2026-11-23T00:00:00+07:00"
    for params, word in [
        ({"bucket": "week"}, "bucket"),
        ({"from": "yesterday"}, "from"),
        ({"from": "2026-11-23T10:00:00+07:00", "to": "2026-11-23T09:00:00+07:00"}, "empty"),
    ]:
        bad = hub.client.get("/control/stats", params=params, headers=headers)
        assert bad.status_code == 400 and word in bad.json()["detail"], bad.text
    assert hub.client.get("/control/stats").status_code == 401
