#!/usr/bin/env python3
"""Listing scalability: getReceivedEdocList must cost the same with 10 thousand or 1 million stored packages.

    python loadtests/bench_listing.py [--sizes 10000,1000000] [--requests 2000] [--json out.json]

For each size a hub store is filled directly with bulk SQL (schema from
``simulator.hub.sqlite_store.SqliteStore.init``; a few small shared package blobs): one delivery per
package, one in ``--share`` deliveries for the measured system (``bench.recv.01``), the rest spread
over ``--other-systems`` other systems. Almost every delivery is acknowledged (``done``); the measured
system has ``--pending`` pending items spread over the whole id range, and one in ``--other-pending``
deliveries of the other systems is pending too. Then, interleaving the sizes so that noise from other
work on the machine hits them alike, it measures

* the store query alone (``SqliteStore.list_received``, the hub's polling query) and
* getReceivedEdocList over HTTP against one single-worker hub per size (signed headers, keep-alive),

and prints p50/p95/p99 per size, the query plan, and p99(largest) / p99(smallest). Exit code 1 when the
plan does not use the partial index ``deliveries_pending``, a reply lists the wrong number of items, or
the HTTP p99 ratio is above ``--max-ratio`` (default 1.5; ``--no-fail`` only reports).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import math
import os
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from loadtests._corpus import RECV_SYSTEM, SEND_SYSTEM, SENDER, call_headers  # noqa: E402
from loadtests.bench_hub import BenchError, HubProcess, loadavg, percentiles, start_hub  # noqa: E402
from simulator.hub.app import DB_NAME  # noqa: E402
from simulator.hub.sqlite_store import LIST_RECEIVED_SQL, SqliteStore  # noqa: E402

__all__ = ["FillSpec", "ListingReport", "SizeResult", "fill_store", "main", "run_listing"]

PENDING_INDEX = "deliveries_pending"
STORE_FACTOR = 10
"""The store query is measured ``STORE_FACTOR`` × ``--requests`` times per size (it is cheap)."""
_TS = "2026-11-23T08:00:00.000+07:00"
_UUID = (
    "substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-4' || substr(h, 14, 3) || '-a' || substr(h, 18, 3) "
    "|| '-' || substr(h, 21, 12)"
)


@dataclass(frozen=True, slots=True)
class FillSpec:
    size: int  # packages (= deliveries)
    pending: int = 20  # pending deliveries of the measured system
    share: int = 10  # one delivery in `share` goes to the measured system
    other_systems: int = 50
    other_pending: int = 100  # one in `other_pending` deliveries of the other systems is pending
    blobs: int = 16


@dataclass
class SizeResult:
    size: int
    fill_s: float = 0.0
    db_mb: float = 0.0
    pending_measured: int = 0
    pending_other: int = 0
    plan: list[str] = field(default_factory=list)
    uses_index: bool = False
    store_us: dict[str, float] = field(default_factory=dict)  # wall clock
    store_cpu_us: dict[str, float] = field(default_factory=dict)  # thread CPU time
    http_ms: dict[str, float] = field(default_factory=dict)
    http_items: list[int] = field(default_factory=list)  # distinct item counts seen in replies


@dataclass
class ListingReport:
    sizes: list[SizeResult]
    requests: int
    store_p99_ratio: float = math.nan
    store_cpu_p99_ratio: float = math.nan
    http_p99_ratio: float = math.nan
    load_avg: float = 0.0
    problems: list[str] = field(default_factory=list)


def fill_store(db_path: Path, spec: FillSpec) -> tuple[int, int]:
    """Create the hub schema at ``db_path`` and bulk-insert ``spec.size`` packages with one delivery each.

    Returns (pending deliveries of the measured system, pending deliveries of the others).
    """
    store = SqliteStore(db_path)
    store.init()
    store.close()
    con = sqlite3.connect(db_path, isolation_level=None)
    try:
        con.execute("PRAGMA journal_mode = OFF")  # a bulk load of a throw-away store: no journal
        con.execute("PRAGMA synchronous = OFF")
        con.execute("PRAGMA cache_size = -400000")
        con.execute("BEGIN")
        con.executemany(
            "INSERT INTO blobs(sha256, size, data) VALUES (?, ?, ?)",
            [(f"{b:064x}", 2048, bytes([b]) * 2048) for b in range(spec.blobs)],
        )
        con.execute(
            f"""
            WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < ?)
            INSERT INTO packages(id, doc_id, sha256, kind, message_type, service_type, sender_system,
                from_organ, document_id, business_type, title, notation, received_at, hub_organ_id,
                dup_key, signature, recipients)
            SELECT i, {_UUID}, printf('%064x', i % ?), 'document',
                CASE WHEN i % 10 = 5 THEN 'status' ELSE 'edoc' END, 'eDoc', ?, ?,
                ? || ',2026/11/23,' || i || '/BENCH', 0, 'Văn bản thử nghiệm ' || i, i || '/BENCH', ?,
                '000.00.00.G22', lower(hex(randomblob(32))), 'valid', '[]'
            FROM (SELECT i, lower(hex(randomblob(16))) AS h FROM c)
            """,
            (spec.size, spec.blobs, SEND_SYSTEM, SENDER, SENDER, _TS),
        )
        measured = max(spec.size // spec.share, 1)
        stride = max(measured // max(spec.pending, 1), 1)
        # measured system: ids ≡ 0 (mod share); pending when (id / share) ≡ 0 (mod stride), at most
        # spec.pending of them; the other systems: pending when id ≡ 1 (mod other_pending).
        con.execute(
            f"""
            INSERT INTO deliveries(id, doc_id, package_id, recipient, recipient_system, message_type, state,
                state_desc, pending, created_at, updated_at, fetched_at, acked_at)
            SELECT p.id, {_UUID}, p.id,
                CASE WHEN p.id % :share = 0 THEN '000.00.00.H41'
                    ELSE printf('000.%02d.%02d.H90', (p.id % :others) / 100, p.id % :others % 100) END,
                CASE WHEN p.id % :share = 0 THEN :recv ELSE printf('bench.other.%02d', p.id % :others) END,
                p.message_type,
                CASE WHEN pend THEN 'initial' ELSE 'done' END,
                CASE WHEN pend THEN 'routed by the hub' ELSE 'received and acknowledged by the receiver' END,
                pend, :ts, :ts, CASE WHEN pend THEN '' ELSE :ts END, CASE WHEN pend THEN '' ELSE :ts END
            FROM (
                SELECT id, message_type, lower(hex(randomblob(16))) AS h,
                    CASE WHEN id % :share = 0
                        THEN (id / :share) % :stride = 0 AND id / :share / :stride <= :pending
                        ELSE id % :other_pending = 1 END AS pend
                FROM packages
            ) AS p
            """,
            {
                "share": spec.share,
                "others": max(spec.other_systems, 1),
                "recv": RECV_SYSTEM,
                "ts": _TS,
                "stride": stride,
                "pending": spec.pending,
                "other_pending": spec.other_pending,
            },
        )
        con.execute("COMMIT")
        pending_measured = con.execute(
            "SELECT count(*) FROM deliveries "
            "WHERE recipient_system = ? AND message_type = 'edoc' AND pending = 1",
            (RECV_SYSTEM,),
        ).fetchone()[0]
        pending_other = con.execute(
            "SELECT count(*) FROM deliveries WHERE recipient_system != ? AND pending = 1", (RECV_SYSTEM,)
        ).fetchone()[0]
        con.execute("PRAGMA journal_mode = WAL")
    finally:
        con.close()
    return int(pending_measured), int(pending_other)


def _interleaved(count: int, n: int) -> Iterator[tuple[int, int]]:
    """(round, index) pairs: every round visits the n targets, starting at a different one each time."""
    for r in range(count):
        for k in range(n):
            yield r, (r + k) % n


def _measure_store(
    stores: Sequence[SqliteStore], requests: int, limit: int
) -> tuple[list[list[float]], list[list[float]]]:
    """Wall and thread-CPU microseconds of ``list_received`` per store (CPU time ignores preemption)."""
    wall: list[list[float]] = [[] for _ in stores]
    cpu: list[list[float]] = [[] for _ in stores]
    for store in stores:  # warm the page cache and the statement cache
        for _ in range(20):
            store.list_received(RECV_SYSTEM, "edoc", limit)
    for _, i in _interleaved(requests, len(stores)):
        c0, t0 = time.thread_time(), time.perf_counter()
        stores[i].list_received(RECV_SYSTEM, "edoc", limit)
        t1, c1 = time.perf_counter(), time.thread_time()
        wall[i].append((t1 - t0) * 1e6)
        cpu[i].append((c1 - c0) * 1e6)
    return wall, cpu


def _measure_http(hubs: Sequence[HubProcess], requests: int) -> tuple[list[list[float]], list[set[int]]]:
    headers = call_headers(RECV_SYSTEM, {"servicetype": "eDoc", "messagetype": "edoc"})
    conns = [http.client.HTTPConnection("127.0.0.1", h.port, timeout=30) for h in hubs]
    times: list[list[float]] = [[] for _ in hubs]
    counts: list[set[int]] = [set() for _ in hubs]

    def call(i: int) -> int:
        conns[i].request("POST", "/getReceivedEdocList", body=b"", headers=headers)
        reply = json.loads(conns[i].getresponse().read())
        if reply.get("ErrorCode") != "0":
            raise BenchError(f"getReceivedEdocList failed: {reply.get('ErrorDesc')}")
        return len(reply.get("data") or [])

    try:
        for i in range(len(hubs)):
            for _ in range(20):
                call(i)
        for _, i in _interleaved(requests, len(hubs)):
            t0 = time.perf_counter()
            n = call(i)
            times[i].append((time.perf_counter() - t0) * 1000)
            counts[i].add(n)
    finally:
        for c in conns:
            c.close()
    return times, counts


def run_listing(
    sizes: Sequence[int],
    requests: int,
    work: Path,
    *,
    http: bool = True,
    pending: int = 20,
    other_systems: int = 50,
    list_limit: int = 1000,
) -> ListingReport:
    results: list[SizeResult] = []
    for size in sizes:
        data_dir = work / f"listing-{size}"
        db = data_dir / DB_NAME
        if data_dir.exists():
            for p in data_dir.glob(f"{DB_NAME}*"):
                p.unlink()
        data_dir.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        mine, other = fill_store(db, FillSpec(size, pending=pending, other_systems=other_systems))
        res = SizeResult(
            size, round(time.perf_counter() - t0, 2), round(db.stat().st_size / 1e6, 1), mine, other
        )
        results.append(res)
    # A million-package fill leaves ~1 GB for the kernel to write back; measuring while it does so put
    # the writeback's stalls in the large store's tail (p99 1.7× in one run, 0.6× in the next).
    os.sync()
    stores = [SqliteStore(work / f"listing-{s}" / DB_NAME) for s in sizes]
    report = ListingReport(results, requests)
    try:
        for res, store in zip(results, stores, strict=True):
            res.plan = store.explain(LIST_RECEIVED_SQL, (RECV_SYSTEM, "edoc", list_limit))
            res.uses_index = any(PENDING_INDEX in line for line in res.plan)
            if not res.uses_index:
                report.problems.append(
                    f"{res.size}: the polling query does not use {PENDING_INDEX}: {res.plan}"
                )
        wall, cpu = _measure_store(stores, requests * STORE_FACTOR, list_limit)
        for res, w, c in zip(results, wall, cpu, strict=True):
            res.store_us = {k: round(v, 1) for k, v in percentiles(w).items()}
            res.store_cpu_us = {k: round(v, 1) for k, v in percentiles(c).items()}
    finally:
        for store in stores:
            store.close()
    if http:
        hubs: list[HubProcess] = []
        try:
            for size in sizes:
                hubs.append(start_hub(work / f"listing-{size}", None, workers=1, fresh=False))
            times, counts = _measure_http(hubs, requests)
        finally:
            for hub in hubs:
                hub.stop()
        for res, t, seen in zip(results, times, counts, strict=True):
            res.http_ms = {k: round(v, 3) for k, v in percentiles(t).items()}
            res.http_items = sorted(seen)
            if res.http_items != [min(res.pending_measured, list_limit)]:
                report.problems.append(
                    f"{res.size}: replies listed {res.http_items} items, expected {res.pending_measured}"
                )
    first, last = results[0], results[-1]
    report.store_p99_ratio = round(last.store_us["p99"] / first.store_us["p99"], 2)
    report.store_cpu_p99_ratio = round(last.store_cpu_us["p99"] / first.store_cpu_us["p99"], 2)
    if http:
        report.http_p99_ratio = round(last.http_ms["p99"] / first.http_ms["p99"], 2)
    report.load_avg = round(loadavg(), 2)
    return report


def _print(report: ListingReport) -> None:
    print(
        f"{'stored':>9} {'fill s':>7} {'db MB':>7} {'pending':>8} {'others':>7}  "
        f"{'store µs p50/p95/p99':>22} {'(CPU µs)':>14}  {'HTTP ms p50/p95/p99':>20}  plan"
    )
    for r in report.sizes:
        store = "/".join(f"{r.store_us.get(k, math.nan):.0f}" for k in ("p50", "p95", "p99"))
        cpu = "/".join(f"{r.store_cpu_us.get(k, math.nan):.0f}" for k in ("p50", "p95", "p99"))
        web = (
            "/".join(f"{r.http_ms.get(k, math.nan):.2f}" for k in ("p50", "p95", "p99")) if r.http_ms else "-"
        )
        plan = "; ".join(r.plan)
        print(
            f"{r.size:>9} {r.fill_s:>7.1f} {r.db_mb:>7.1f} {r.pending_measured:>8} {r.pending_other:>7}  "
            f"{store:>22} {cpu:>14}  {web:>20}  {plan}"
        )
    print(
        f"p99 ratio largest/smallest: HTTP {report.http_p99_ratio}, store {report.store_p99_ratio} "
        f"(CPU time {report.store_cpu_p99_ratio}); {report.requests} HTTP and "
        f"{report.requests * STORE_FACTOR} store requests per size, interleaved; load avg {report.load_avg}"
    )


def _sizes(text: str) -> list[int]:
    try:
        values = [int(x.replace("_", "")) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected sizes separated by commas") from None
    if len(values) < 2 or any(v < 100 for v in values):
        raise argparse.ArgumentTypeError(f"{text!r}: give at least two sizes, each at least 100")
    return values


@contextlib.contextmanager
def _workdir(path: Path | None) -> Iterator[Path]:
    if path is not None:
        path.mkdir(parents=True, exist_ok=True)
        yield path.resolve()
        return
    with tempfile.TemporaryDirectory(prefix="lienthong-listing-") as tmp:
        yield Path(tmp)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--sizes", type=_sizes, default=[10_000, 1_000_000], help="stored packages per run")
    ap.add_argument(
        "--requests", type=int, default=2000, help="measured HTTP requests per size (default 2000)"
    )
    ap.add_argument("--pending", type=int, default=20, help="pending items of the measured system")
    ap.add_argument("--other-systems", type=int, default=50)
    ap.add_argument("--max-ratio", type=float, default=1.5, help="largest HTTP p99 ratio accepted")
    ap.add_argument("--no-http", action="store_true", help="measure the store query only")
    ap.add_argument("--workdir", type=Path, help="keep the filled stores here")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--no-fail", action="store_true")
    args = ap.parse_args(argv)
    try:
        with _workdir(args.workdir) as work:
            report = run_listing(
                args.sizes,
                args.requests,
                work,
                http=not args.no_http,
                pending=args.pending,
                other_systems=args.other_systems,
            )
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    _print(report)
    ratio = report.http_p99_ratio if not args.no_http else report.store_p99_ratio
    if ratio > args.max_ratio:
        report.problems.append(
            f"p99 grows {ratio}× from {args.sizes[0]} to {args.sizes[-1]} (> {args.max_ratio})"
        )
    if args.json:
        args.json.write_text(json.dumps(asdict(report), indent=2, ensure_ascii=False), encoding="utf-8")
    for p in report.problems:
        print(f"PROBLEM: {p}")
    return 1 if report.problems and not args.no_fail else 0


if __name__ == "__main__":
    sys.exit(main())
