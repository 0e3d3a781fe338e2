"""The SQLite store: atomic and idempotent writes, durability across a process kill, several writer
processes on one database, and polling served by the partial index whatever the store's size."""

from __future__ import annotations

import datetime as dt
import hashlib
import multiprocessing as mp
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from simulator.edxml.vntime import VN_TZ
from simulator.hub import sqlite_store
from simulator.hub.sqlite_store import SqliteStore
from simulator.hub.store import (
    AgencyRecord,
    DeliveryRecord,
    DeliveryState,
    EvidenceRecord,
    PackageRecord,
    StatusEvent,
    StoreUnavailable,
)

AT = dt.datetime(2026, 11, 23, 8, 0, tzinfo=VN_TZ)


def package(
    data: bytes,
    *,
    sender: str = "sys.a",
    recipient_system: str = "sys.b",
    recipients: tuple[str, ...] = ("000.00.00.H41",),
) -> tuple[PackageRecord, list[DeliveryRecord]]:
    sha = hashlib.sha256(data).hexdigest()
    rec = PackageRecord(
        doc_id=str(uuid.uuid4()),
        sha256=sha,
        data=data,
        kind="document",
        message_type="edoc",
        service_type="eDoc",
        sender_system=sender,
        from_organ="000.00.00.G22",
        received_at=AT,
        hub_organ_id="000.00.00.G22",
        dup_key=sha + "|" + ",".join(recipients),
        document_id="DOC-1",
        title="V/v thử",
        notation="1/VPCP",
    )
    deliveries = [DeliveryRecord(str(uuid.uuid4()), r, recipient_system, "edoc") for r in recipients]
    return rec, deliveries


def count(db: Path, table: str) -> int:
    con = sqlite3.connect(db)
    try:
        return int(con.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    finally:
        con.close()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(tmp_path / "hub.db")
    s.init()
    s.init()  # idempotent
    yield s
    s.close()


def _checkpointers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("wal-checkpoint ")]


def test_commits_never_checkpoint_and_the_background_thread_does(tmp_path: Path) -> None:
    before = len(_checkpointers())
    s = SqliteStore(tmp_path / "hub.db")
    s.init()
    try:
        assert len(_checkpointers()) == before + 1
        for i in range(20):  # ≈1 MB of pages in the WAL
            rec, deliveries = package(os.urandom(50_000) + str(i).encode())
            with s.transaction() as txn:
                txn.insert_package(rec, deliveries)
        db_size = (tmp_path / "hub.db").stat().st_size
        assert db_size < 500_000, "a commit checkpointed on the request path"
        deadline = time.monotonic() + 5
        while (tmp_path / "hub.db").stat().st_size < 1_000_000 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert (tmp_path / "hub.db").stat().st_size >= 1_000_000, "the checkpointer copied nothing"
    finally:
        s.close()
    assert len(_checkpointers()) == before, "close() left the checkpointer running"
    assert count(tmp_path / "hub.db", "packages") == 20


def test_a_wal_over_the_bound_is_truncated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite_store, "WAL_RESTART_BYTES", 100_000)
    s = SqliteStore(tmp_path / "hub.db")
    s.init()
    try:
        for i in range(10):
            rec, deliveries = package(os.urandom(50_000) + str(i).encode())
            with s.transaction() as txn:
                txn.insert_package(rec, deliveries)
        wal = tmp_path / "hub.db-wal"
        assert wal.stat().st_size > 100_000
        # a PASSIVE checkpoint leaves the file's size as it is; TRUNCATE empties it
        deadline = time.monotonic() + 5
        while wal.stat().st_size > 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert wal.stat().st_size == 0
    finally:
        s.close()


def _wal_sequence(db: Path) -> int:
    """The WAL header's checkpoint sequence number: it goes up by one each time the WAL restarts."""
    with open(f"{db}-wal", "rb") as fh:
        header = fh.read(16)
    return int.from_bytes(header[12:16], "big") if len(header) == 16 else 0


def test_a_steady_stream_of_writes_still_restarts_the_wal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Passive checkpoints alone never let the WAL restart while writers keep appending (it grew to the
    TRUNCATE bound and every TRUNCATE stalled writers ~0.4 s); the finishing pass under the writer lock
    does. Here the writer never pauses, and the WAL must still come back to its beginning."""
    monkeypatch.setattr(sqlite_store, "WAL_FINISH_BYTES", 300_000)
    monkeypatch.setattr(sqlite_store, "CHECKPOINT_INTERVAL_S", 0.05)
    s = SqliteStore(tmp_path / "hub.db")
    s.init()
    wal = tmp_path / "hub.db-wal"
    largest = 0
    try:
        deadline = time.monotonic() + 5
        i = 0
        first = _wal_sequence(tmp_path / "hub.db")
        while time.monotonic() < deadline and _wal_sequence(tmp_path / "hub.db") < first + 3:
            rec, deliveries = package(os.urandom(50_000) + str(i).encode())
            with s.transaction() as txn:
                txn.insert_package(rec, deliveries)
            i += 1
            largest = max(largest, wal.stat().st_size)
        restarts = _wal_sequence(tmp_path / "hub.db") - first
        assert restarts >= 3, f"the WAL restarted {restarts} time(s) in {i} back-to-back writes"
        assert largest < sqlite_store.WAL_RESTART_BYTES, "the WAL reached the TRUNCATE bound"
    finally:
        s.close()
    assert count(tmp_path / "hub.db", "packages") == i


def test_one_process_checkpoints_a_database(tmp_path: Path) -> None:
    before = len(_checkpointers())
    a = SqliteStore(tmp_path / "hub.db")
    b = SqliteStore(tmp_path / "hub.db")
    a.init()
    b.init()
    try:
        rec, deliveries = package(os.urandom(50_000))
        with a.transaction() as txn:
            txn.insert_package(rec, deliveries)
        deadline = time.monotonic() + 5
        duty = [a._checkpointer, b._checkpointer]
        while time.monotonic() < deadline and not any(c is not None and c._on_duty for c in duty):
            time.sleep(0.05)
        time.sleep(3 * sqlite_store.CHECKPOINT_INTERVAL_S)
        assert sorted(c is not None and c._on_duty for c in duty) == [False, True]
        holder = a if a._checkpointer is not None and a._checkpointer._on_duty else b
        other = b if holder is a else a
        holder.close()  # the other store's checkpointer takes the duty over
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not (other._checkpointer and other._checkpointer._on_duty):
            time.sleep(0.05)
        assert other._checkpointer is not None and other._checkpointer._on_duty
    finally:
        a.close()
        b.close()
    assert len(_checkpointers()) == before


def test_a_writer_held_up_past_the_busy_timeout_fails_naming_the_lock(tmp_path: Path) -> None:
    import fcntl

    s = SqliteStore(tmp_path / "hub.db", busy_timeout_ms=300)
    s.init()
    rec, deliveries = package(b"<edXML/>")
    lock_path = tmp_path / f"hub.db{sqlite_store.WRITER_LOCK_SUFFIX}"
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # another writer (its own open file) holds the lock
        t0 = time.monotonic()
        with pytest.raises(StoreUnavailable, match="writer lock") as info, s.transaction() as txn:
            txn.insert_package(rec, deliveries)
        assert 0.25 < time.monotonic() - t0 < 5
        assert str(lock_path) in str(info.value)
        fcntl.flock(fd, fcntl.LOCK_UN)
        with s.transaction() as txn:  # released: the same write goes through, nothing was half-done
            txn.insert_package(rec, deliveries)
    finally:
        os.close(fd)
        s.close()
    assert count(tmp_path / "hub.db", "packages") == 1


def test_writers_in_threads_with_their_own_stores_serialise_on_the_writer_lock(tmp_path: Path) -> None:
    stores = [SqliteStore(tmp_path / "hub.db", busy_timeout_ms=10_000) for _ in range(3)]
    for st in stores:
        st.init()
    errors: list[BaseException] = []

    def write(st: SqliteStore, n: int) -> None:
        try:
            for i in range(n):
                rec, deliveries = package(os.urandom(2_000) + f"{id(st)}-{i}".encode())
                with st.transaction() as txn:
                    txn.insert_package(rec, deliveries)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(st, 60)) for st in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for st in stores:
        st.close()
    assert errors == []
    assert count(tmp_path / "hub.db", "packages") == 180


def test_a_package_commits_as_a_whole_or_not_at_all(store: SqliteStore) -> None:
    rec, deliveries = package(b"<edXML/>", recipients=("A", "B"))
    with pytest.raises(RuntimeError), store.transaction() as txn:
        txn.insert_package(rec, deliveries)
        txn.add_evidence(EvidenceRecord(AT, "sendEdoc", 200, "0"))
        raise RuntimeError("crash between insert and commit")
    assert (
        count(store.path, "packages") == count(store.path, "deliveries") == count(store.path, "evidence") == 0
    )
    assert count(store.path, "blobs") == 0
    with store.transaction() as txn:  # the retry then succeeds cleanly
        txn.insert_package(rec, deliveries)
    assert count(store.path, "packages") == 1 and count(store.path, "deliveries") == 2


def test_retried_uploads_store_the_bytes_once_and_find_the_first(store: SqliteStore) -> None:
    first, d1 = package(b"<edXML>same</edXML>")
    again, d2 = package(b"<edXML>same</edXML>")
    with store.transaction() as txn:
        assert txn.find_duplicate(first.dup_key) is None
        txn.insert_package(first, d1)
    with store.transaction() as txn:
        assert txn.find_duplicate(again.dup_key) == first.doc_id
        again.duplicate_of = first.doc_id
        txn.insert_package(again, d2)
    assert count(store.path, "blobs") == 1 and count(store.path, "packages") == 2
    assert store.package_data(first.sha256) == b"<edXML>same</edXML>"
    # A hub id is never reused: inserting the same DocId again fails and changes nothing.
    with pytest.raises(sqlite3.IntegrityError), store.transaction() as txn:
        txn.insert_package(first, [DeliveryRecord(str(uuid.uuid4()), "X", "sys.b", "edoc")])
    assert count(store.path, "packages") == 2 and count(store.path, "deliveries") == 2


def test_committed_data_is_visible_to_a_fresh_connection_before_the_reply(store: SqliteStore) -> None:
    rec, deliveries = package(b"<edXML>x</edXML>")
    with store.transaction() as txn:
        txn.insert_package(rec, deliveries)
    # What the hub would now answer with: another process (a new connection) must already see it.
    other = SqliteStore(store.path)
    assert other.delivery(deliveries[0].doc_id) is not None
    assert [i.doc_id for i in other.list_received("sys.b", "edoc", 10)] == [deliveries[0].doc_id]
    other.close()


def test_delivery_states_and_pending_listing(store: SqliteStore) -> None:
    rec, deliveries = package(b"<edXML>y</edXML>", recipients=("A", "B"))
    with store.transaction() as txn:
        txn.insert_package(rec, deliveries)
    assert store.count_received("sys.b", "edoc") == 2 and store.count_received("sys.b", "status") == 0
    with store.transaction() as txn:
        txn.mark_fetched(deliveries[0].doc_id, AT)
        txn.set_delivery_state(deliveries[0].doc_id, DeliveryState.PROCESSING, "working", AT)
    assert store.count_received("sys.b", "edoc") == 2  # processing stays pending
    with store.transaction() as txn:
        txn.set_delivery_state(deliveries[0].doc_id, DeliveryState.DONE, "ok", AT)
    assert [i.doc_id for i in store.list_received("sys.b", "edoc", 10)] == [deliveries[1].doc_id]
    view = store.delivery(deliveries[0].doc_id)
    assert view is not None and view.state is DeliveryState.DONE and view.fetched_at
    sent = store.list_sent("sys.a", "edoc", None, 10)
    assert {s.state for s in sent} == {DeliveryState.DONE, DeliveryState.INITIAL}
    assert next(s for s in sent if s.state is DeliveryState.DONE).received_at.startswith("2026-11-23T08:00")


def test_status_history_agencies_settings_and_evidence(store: SqliteStore) -> None:
    with store.transaction() as txn:
        txn.add_status_events(
            [
                StatusEvent("DOC-1", "G22", "H41", "01", "ok", "p1", AT),
                StatusEvent("DOC-1", "G22", "H41", "03", "ok", "p2", AT),
                StatusEvent("DOC-1", "G22", "H42", "01", "ok", "p3", AT),
            ]
        )
        assert txn.status_history("DOC-1", "G22", "H41") == ["01", "03"]
        a = txn.upsert_agency(AgencyRecord("000.00.00.H41", "UBND", system_id="sys.b"), AT)
        same = txn.upsert_agency(AgencyRecord("000.00.00.H41", "UBND", system_id="sys.b"), AT)
        assert same.version == a.version  # unchanged entries keep their version
        changed = txn.upsert_agency(AgencyRecord("000.00.00.H41", "UBND tỉnh", system_id="sys.b"), AT)
        assert changed.version > a.version and changed.id == a.id
        txn.delete_agency("000.00.00.H41", AT)
    assert store.list_agencies() == []
    assert store.list_agencies(include_deleted=True)[0].deleted
    store.set_setting("policies", {"duplicates": "refuse"})
    assert store.get_setting("policies") == {"duplicates": "refuse"} and store.get_setting("nope") is None
    first = store.add_evidence(
        EvidenceRecord(
            AT,
            "getEdoc",
            404,
            "NOT_FOUND",
            system="sys.b",
            findings=[{"requirement": "VXP-ROUTE", "message": "Đ"}],
        )
    )
    store.add_evidence(EvidenceRecord(AT, "getEdoc", 200, "0", system="sys.b", doc_ids=["x"]))
    lines = list(store.evidence_jsonl())
    assert len(lines) == 2 and '"Đ"' in lines[0]
    assert [r["doc_ids"] for r in store.evidence(since_id=first)] == [["x"]]


def test_directory_entries_cached_by_a_worker_follow_every_change_by_another(tmp_path: Path) -> None:
    """Two stores on one database stand for two worker processes: each caches directory entries in its
    transactions and must see the other's register, change, delete and reset at once."""
    db = tmp_path / "hub.db"
    a, b = SqliteStore(db), SqliteStore(db)
    a.init()
    try:
        codes = ["000.00.00.H41", "000.00.00.H42"]

        def seen_by_b() -> dict[str, str | None]:
            with b.transaction() as txn:
                found = txn.agencies(codes)
            return {code: (found[code].name if code in found else None) for code in codes}

        assert seen_by_b() == {"000.00.00.H41": None, "000.00.00.H42": None}  # misses are cached too
        with a.transaction() as txn:
            txn.upsert_agency(AgencyRecord("000.00.00.H41", "UBND", system_id="sys.b"), AT)
        assert seen_by_b() == {"000.00.00.H41": "UBND", "000.00.00.H42": None}
        assert seen_by_b() == {"000.00.00.H41": "UBND", "000.00.00.H42": None}  # from the cache
        with a.transaction() as txn:
            txn.upsert_agency(AgencyRecord("000.00.00.H41", "UBND tỉnh", system_id="sys.b"), AT)
            txn.upsert_agency(AgencyRecord("000.00.00.H42", "Sở", system_id="sys.b"), AT)
        assert seen_by_b() == {"000.00.00.H41": "UBND tỉnh", "000.00.00.H42": "Sở"}
        with a.transaction() as txn:
            txn.delete_agency("000.00.00.H42", AT)
        assert seen_by_b()["000.00.00.H42"] == "Sở"  # deleted entries stay listed, flagged
        with b.transaction() as txn:
            assert txn.agencies(["000.00.00.H42"])["000.00.00.H42"].deleted
        with pytest.raises(RuntimeError), a.transaction() as txn:  # a rolled-back change changes nothing
            txn.upsert_agency(AgencyRecord("000.00.00.H41", "rolled back", system_id="sys.b"), AT)
            raise RuntimeError("abort")
        assert seen_by_b()["000.00.00.H41"] == "UBND tỉnh"
        with a.transaction() as txn:
            txn.reset_directory()
        assert seen_by_b() == {"000.00.00.H41": None, "000.00.00.H42": None}
    finally:
        a.close()
        b.close()


def test_polling_uses_the_partial_index_whatever_the_store_size(store: SqliteStore) -> None:
    # Many acknowledged deliveries and a few pending ones.
    with store.transaction() as txn:
        for i in range(3000):
            rec, deliveries = package(f"<edXML>{i}</edXML>".encode())
            txn.insert_package(rec, deliveries)
            if i % 1000:
                txn.set_delivery_state(deliveries[0].doc_id, DeliveryState.DONE, "", AT)
    assert store.count_received("sys.b", "edoc") == 3
    con = sqlite3.connect(store.path)
    con.execute("ANALYZE")  # statistics must not talk the planner out of the index either
    con.close()
    plans = SqliteStore(store.path).query_plans()
    listing, counting = plans["list_received"], plans["count_received"]
    assert listing[0].startswith("SEARCH d USING INDEX deliveries_pending"), listing
    assert counting[0].startswith("SEARCH deliveries USING COVERING INDEX deliveries_pending"), counting
    assert not any("SCAN" in step or "TEMP B-TREE" in step for step in listing + counting)
    # The partial index holds the pending rows only.
    con = sqlite3.connect(store.path)
    stat = dict(con.execute("SELECT idx, stat FROM sqlite_stat1").fetchall())
    con.close()
    assert int(stat["deliveries_pending"].split()[0]) == 3


def _writer(db: str, wid: int, n: int) -> None:
    s = SqliteStore(Path(db))
    for i in range(n):
        rec, deliveries = package(f"<edXML>{wid}-{i}</edXML>".encode(), recipients=("A", "B"))
        with s.transaction() as txn:
            txn.find_duplicate(rec.dup_key)
            txn.insert_package(rec, deliveries)
            txn.add_evidence(EvidenceRecord(AT, "sendEdoc", 200, "0", doc_ids=[rec.doc_id]))
    s.close()


def test_two_processes_write_one_database(store: SqliteStore) -> None:
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(store.path), w, 150)) for w in range(2)]
    for p in procs:
        p.start()
    _writer(str(store.path), 9, 50)  # and this process at the same time
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert count(store.path, "packages") == 350
    assert count(store.path, "deliveries") == 700 and count(store.path, "evidence") == 350
    assert store.count_received("sys.b", "edoc") == 700
    con = sqlite3.connect(store.path)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()


_KILLED_WRITER = textwrap.dedent(
    """
    import sys, uuid, hashlib, datetime as dt
    from pathlib import Path
    sys.path.insert(0, {root!r})
    from tests.hub.test_store import package
    from simulator.hub.sqlite_store import SqliteStore
    s = SqliteStore(Path({db!r}))
    i = 0
    while True:
        rec, deliveries = package(b"<edXML>" + str(i).encode() * 2000 + b"</edXML>")
        with s.transaction() as txn:
            txn.insert_package(rec, deliveries)
        print(rec.doc_id, flush=True)  # the "reply": only after the commit returned
        i += 1
    """
)


def test_acknowledged_packages_survive_sigkill(store: SqliteStore) -> None:
    root = str(Path(__file__).resolve().parents[2])
    script = _KILLED_WRITER.format(root=root, db=str(store.path))
    with subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None
        acknowledged = [proc.stdout.readline().strip() for _ in range(200)]
        os.kill(proc.pid, signal.SIGKILL)  # mid-stream: the writer is committing the next one
        proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    after = SqliteStore(store.path)
    con = sqlite3.connect(store.path)
    stored = {r[0] for r in con.execute("SELECT doc_id FROM packages")}
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()
    assert set(acknowledged) <= stored
    assert all(d for d in acknowledged)
    after.close()
