"""SQLite implementation of the hub store (:mod:`simulator.hub.store`): WAL, one file, many processes.

Durability. The database runs in WAL mode with ``synchronous=NORMAL``. A commit appends the
transaction's pages to the ``-wal`` file with ``write()`` and returns; the WAL is fsync'ed only at
checkpoints. Once ``write()`` returned, the data sits in the operating system's page cache, which
belongs to the kernel, not to the process: a SIGKILL of a worker (or of every worker) right after
the commit loses nothing, and the next connection recovers the committed frames from the WAL. The
hub replies only after the commit returned, so an acknowledged package survives any process kill.
What ``NORMAL`` gives up is durability across a power cut or kernel crash: the last transactions
before it may roll back, and as the checkpointer's finishing pass (below) fsyncs the database file
just after releasing the writers rather than before, a power cut in those ~20 ms can leave the
database damaged. That is out of scope for a simulator whose data directory is disposable;
``synchronous=FULL`` (constructor argument) closes both, at the price of one fsync per commit and a
finishing pass that fsyncs under the lock.

Concurrency. Every worker process opens its own connection (re-opened after a fork). Writers take the
write lock at the start (``BEGIN IMMEDIATE``), so the reads inside a write transaction (duplicate
check, status history) see every earlier commit. Before that they take the store's writer lock, an
``flock`` on ``<db>-writer.lock`` shared by every process (:class:`_FileLock`): SQLite's own busy
handler waits for a held lock by sleeping 1, 2, 5, 10 … ms, which with two workers writing 50 KB
packages idled a worker for about a millisecond per collision; the writer lock is retried every 50 µs
to 1 ms and gives up after the same busy timeout (``StoreUnavailable``). ``busy_timeout`` stays for
everything that does not take the writer lock (a reader during a TRUNCATE checkpoint, another tool).
Readers never block writers (WAL). Inside a process, one lock serialises the use of the connection
(the ASGI event loop is single-threaded anyway; the lock covers test threads).

Checkpoints. No commit checkpoints (``wal_autocheckpoint = 0``): one process's background thread
(:class:`_Checkpointer`) copies committed frames into the database file without blocking anyone
(``PASSIVE``). A passive checkpoint alone never catches up with a steady stream of writes: the WAL
grew to the TRUNCATE bound every two seconds and each TRUNCATE stalled the writers 330–430 ms. So
once the WAL holds 16 MB (a third of a second of writes at full speed), the thread takes the writer
lock for a last pass (~0.3 ms: only frames appended during the unlocked passes are left), and the
next writer starts the WAL again from its beginning.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import logging
import os
import sqlite3
import threading
import time
import uuid
import weakref
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, cast

from simulator.edxml.vntime import VN_TZ
from simulator.hub.store import (
    AgencyRecord,
    DeliveryFact,
    DeliveryRecord,
    DeliveryRow,
    DeliveryState,
    DeliveryView,
    EvidenceRecord,
    LatencyFact,
    MessageType,
    PackageFact,
    PackageRecord,
    ReceivedItem,
    SentItem,
    StatsFacts,
    StatusEvent,
    StoreUnavailable,
)

__all__ = [
    "CHECKPOINTER_LOCK_SUFFIX",
    "CHECKPOINT_INTERVAL_S",
    "COUNT_RECEIVED_SQL",
    "LIST_RECEIVED_SQL",
    "SCHEMA_VERSION",
    "SETTINGS_REFRESH_S",
    "WAL_FINISH_BYTES",
    "WAL_RESTART_BYTES",
    "WRITER_LOCK_SUFFIX",
    "SqliteStore",
]

SCHEMA_VERSION = 1
_log = logging.getLogger(__name__)
SETTINGS_REFRESH_S = 0.02
"""How often (seconds) a process checks the settings version for another process's change: one
primary-key read (~5 µs) at most 50 times a second, instead of a settings read per request."""
_BUMP_SETTINGS_VERSION = (
    "INSERT INTO meta(key, value) VALUES ('settings_version', '1') ON CONFLICT(key) DO UPDATE SET "
    "value = CAST(CAST(value AS INTEGER) + 1 AS TEXT)"
)
_AGENCIES_VERSION = "SELECT value FROM meta WHERE key = 'agencies_version'"
_SET_AGENCIES_VERSION = (
    "INSERT INTO meta(key, value) VALUES ('agencies_version', ?) ON CONFLICT(key) DO UPDATE SET "
    "value = excluded.value"
)
_AGENCY_CACHE_MAX = 4096
_JOURNAL_SIZE_LIMIT = 64 * 1024 * 1024
CHECKPOINT_INTERVAL_S = 0.2
"""How often the background checkpointer copies committed WAL frames into the database file."""
WRITER_LOCK_SUFFIX = "-writer.lock"
"""The writer lock's file beside the database (``hub.db-writer.lock``); it holds no data."""
WAL_FINISH_BYTES = 16 * 1024 * 1024
"""From this size of the ``-wal`` file on, the checkpointer finishes its passes under the writer lock so
the next writer restarts the WAL from its beginning (see :class:`_Checkpointer`)."""
CHECKPOINTER_LOCK_SUFFIX = "-checkpointer.lock"
"""Held by the one process whose background thread checkpoints the database (``hub.db-checkpointer.lock``)."""
WAL_RESTART_BYTES = 128 * 1024 * 1024
"""A ``-wal`` file larger than this (readers kept the passive checkpoints from finishing) gets a
``wal_checkpoint(TRUNCATE)``, so the WAL stays bounded."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS blobs(sha256 TEXT PRIMARY KEY, size INTEGER NOT NULL, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS packages(
    id INTEGER PRIMARY KEY,
    doc_id TEXT NOT NULL UNIQUE,
    sha256 TEXT NOT NULL,
    kind TEXT NOT NULL,
    message_type TEXT NOT NULL,
    service_type TEXT NOT NULL,
    sender_system TEXT NOT NULL,
    from_organ TEXT NOT NULL,
    document_id TEXT,
    business_type INTEGER,
    status_code TEXT,
    title TEXT NOT NULL DEFAULT '',
    notation TEXT NOT NULL DEFAULT '',
    received_at TEXT NOT NULL,
    hub_organ_id TEXT NOT NULL,
    dup_key TEXT NOT NULL,
    original_doc_id TEXT,
    duplicate_of TEXT,
    junk_bytes INTEGER NOT NULL DEFAULT 0,
    signature TEXT NOT NULL DEFAULT '',
    recipients TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX IF NOT EXISTS packages_dup ON packages(dup_key);
CREATE INDEX IF NOT EXISTS packages_document ON packages(document_id, from_organ);
CREATE INDEX IF NOT EXISTS packages_sender ON packages(sender_system, message_type);
CREATE TABLE IF NOT EXISTS deliveries(
    id INTEGER PRIMARY KEY,
    doc_id TEXT NOT NULL UNIQUE,
    package_id INTEGER NOT NULL,
    recipient TEXT NOT NULL,
    recipient_system TEXT NOT NULL,
    message_type TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'initial',
    state_desc TEXT NOT NULL DEFAULT '',
    pending INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    fetched_at TEXT NOT NULL DEFAULT '',
    acked_at TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS deliveries_pending
    ON deliveries(recipient_system, message_type, pending, id) WHERE pending = 1;
CREATE INDEX IF NOT EXISTS deliveries_package ON deliveries(package_id);
CREATE TABLE IF NOT EXISTS status_history(
    id INTEGER PRIMARY KEY,
    document_id TEXT NOT NULL,
    original_sender TEXT NOT NULL,
    receiver TEXT NOT NULL,
    code TEXT NOT NULL,
    verdict TEXT NOT NULL,
    package_doc_id TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS status_history_key ON status_history(document_id, original_sender, receiver);
CREATE TABLE IF NOT EXISTS agencies(
    id INTEGER PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    mail TEXT NOT NULL DEFAULT '',
    parent_code TEXT,
    mobile TEXT NOT NULL DEFAULT '',
    fax TEXT NOT NULL DEFAULT '',
    old_code TEXT NOT NULL DEFAULT '',
    center_code TEXT NOT NULL DEFAULT '',
    is_agency INTEGER NOT NULL DEFAULT 1,
    system_id TEXT,
    level INTEGER NOT NULL DEFAULT 1,
    version INTEGER NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0,
    modified_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS evidence(
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    system TEXT,
    operation TEXT NOT NULL,
    http_status INTEGER NOT NULL,
    error_code TEXT NOT NULL,
    sha256 TEXT,
    doc_ids TEXT NOT NULL DEFAULT '[]',
    findings TEXT NOT NULL DEFAULT '[]',
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS settings(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS fault_counters(rule TEXT PRIMARY KEY, used INTEGER NOT NULL);
"""

_AGENCY_COLUMNS = (
    "id, code, name, mail, parent_code, mobile, fax, old_code, center_code, is_agency, system_id, level, "
    "version, deleted, modified_at"
)
_DELIVERY_VIEW = (
    "SELECT d.doc_id, p.doc_id, d.recipient, d.recipient_system, p.sender_system, d.message_type, d.state, "
    "d.state_desc, d.fetched_at, p.sha256 FROM deliveries d JOIN packages p ON p.id = d.package_id "
    "WHERE d.doc_id = ?"
)


LIST_RECEIVED_SQL = (
    "SELECT d.doc_id, d.message_type, p.service_type, d.created_at, d.updated_at, p.from_organ, "
    "d.recipient, d.state, d.state_desc FROM deliveries d JOIN packages p ON p.id = d.package_id "
    "WHERE d.recipient_system = ? AND d.message_type = ? AND d.pending = 1 ORDER BY d.id LIMIT ?"
)
"""The polling query (getReceivedEdocList): served by the partial index ``deliveries_pending``."""
COUNT_RECEIVED_SQL = (
    "SELECT count(*) FROM deliveries WHERE recipient_system = ? AND message_type = ? AND pending = 1"
)
"""countReceiveEdoc / countReceiveStatus: a covering scan of the partial index range."""


def _ts(value: dt.datetime) -> str:
    return value.isoformat(timespec="milliseconds")


def _agency(row: Sequence[Any]) -> AgencyRecord:
    return AgencyRecord(
        id=row[0],
        code=row[1],
        name=row[2],
        mail=row[3],
        parent_code=row[4],
        mobile=row[5],
        fax=row[6],
        old_code=row[7],
        center_code=row[8],
        is_agency=bool(row[9]),
        system_id=row[10],
        level=row[11],
        version=row[12],
        deleted=bool(row[13]),
        modified_at=row[14],
    )


def _delivery(row: Sequence[Any] | None) -> DeliveryView | None:
    if row is None:
        return None
    return DeliveryView(
        doc_id=row[0],
        package_doc_id=row[1],
        recipient=row[2],
        recipient_system=row[3],
        sender_system=row[4],
        message_type=row[5],
        state=DeliveryState(row[6]),
        state_desc=row[7],
        fetched_at=row[8],
        sha256=row[9],
    )


def _unavailable(exc: sqlite3.Error) -> StoreUnavailable:
    return StoreUnavailable(f"the hub's store is unavailable ({exc}); retry later")


def _agencies(con: sqlite3.Connection, codes: Sequence[str]) -> dict[str, AgencyRecord]:
    if not codes:
        return {}
    unique = list(dict.fromkeys(codes))
    marks = ",".join("?" * len(unique))
    rows = con.execute(f"SELECT {_AGENCY_COLUMNS} FROM agencies WHERE code IN ({marks})", unique)  # noqa: S608
    return {r[1]: _agency(r) for r in rows}


class _AgencyCache:
    """Directory entries of one process by code (None: no such agency), valid for one directory version.

    Every change of the agencies table writes a new random ``agencies_version`` in ``meta`` in its own
    transaction; a transaction compares it (one primary-key read) before using the entries, so it
    never sees another state than the database's (a rolled-back change leaves a version that no
    later change reuses).
    """

    __slots__ = ("entries", "version")

    def __init__(self) -> None:
        self.version: str | None = None
        self.entries: dict[str, AgencyRecord | None] = {}


class _Txn:
    """:class:`simulator.hub.store.StoreTxn` over a connection inside ``BEGIN IMMEDIATE``."""

    def __init__(self, con: sqlite3.Connection, agency_cache: _AgencyCache | None = None) -> None:
        self._con = con
        self._agency_cache = agency_cache or _AgencyCache()
        self.settings_changed = False

    def agencies(self, codes: Sequence[str]) -> dict[str, AgencyRecord]:
        row = self._con.execute(_AGENCIES_VERSION).fetchone()
        version = str(row[0]) if row else ""
        cache = self._agency_cache
        if cache.version != version:
            cache.version, cache.entries = version, {}
        entries = cache.entries
        missing = [code for code in dict.fromkeys(codes) if code not in entries]
        if missing:
            found = _agencies(self._con, missing)
            if len(entries) + len(missing) > _AGENCY_CACHE_MAX:
                entries.clear()
            for code in missing:
                entries[code] = found.get(code)
        return {code: record for code in codes if (record := entries.get(code)) is not None}

    def _directory_changed(self) -> None:
        self._con.execute(_SET_AGENCIES_VERSION, (uuid.uuid4().hex,))

    def find_duplicate(self, dup_key: str) -> str | None:
        row = self._con.execute(
            "SELECT doc_id FROM packages WHERE dup_key = ? ORDER BY id LIMIT 1", (dup_key,)
        ).fetchone()
        return row[0] if row else None

    def find_document(self, document_id: str, from_organ: str, recipient: str | None = None) -> str | None:
        if recipient is None:
            row = self._con.execute(
                "SELECT doc_id FROM packages WHERE document_id = ? AND from_organ = ? AND kind = 'document' "
                "ORDER BY id LIMIT 1",
                (document_id, from_organ),
            ).fetchone()
        else:
            row = self._con.execute(
                "SELECT p.doc_id FROM packages p JOIN deliveries d ON d.package_id = p.id "
                "WHERE p.document_id = ? AND p.from_organ = ? AND p.kind = 'document' AND d.recipient = ? "
                "ORDER BY p.id LIMIT 1",
                (document_id, from_organ, recipient),
            ).fetchone()
        return row[0] if row else None

    def document_recipients(self, document_id: str, from_organ: str) -> list[str]:
        rows = self._con.execute(
            "SELECT DISTINCT d.recipient FROM packages p JOIN deliveries d ON d.package_id = p.id "
            "WHERE p.document_id = ? AND p.from_organ = ? AND p.kind = 'document' ORDER BY d.id",
            (document_id, from_organ),
        )
        return [r[0] for r in rows]

    def status_history(self, document_id: str, original_sender: str, receiver: str) -> list[str]:
        rows = self._con.execute(
            "SELECT code FROM status_history WHERE document_id = ? AND original_sender = ? AND receiver = ? "
            "ORDER BY id",
            (document_id, original_sender, receiver),
        )
        return [r[0] for r in rows]

    def insert_package(self, package: PackageRecord, deliveries: Sequence[DeliveryRecord]) -> None:
        con = self._con
        con.execute(
            "INSERT OR IGNORE INTO blobs(sha256, size, data) VALUES (?, ?, ?)",
            (package.sha256, len(package.data), package.data),
        )
        at = _ts(package.received_at)
        cur = con.execute(
            "INSERT INTO packages(doc_id, sha256, kind, message_type, service_type, sender_system, "
            "from_organ, "
            "document_id, business_type, status_code, title, notation, received_at, hub_organ_id, dup_key, "
            "original_doc_id, duplicate_of, junk_bytes, signature, recipients) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                package.doc_id,
                package.sha256,
                package.kind,
                package.message_type,
                package.service_type,
                package.sender_system,
                package.from_organ,
                package.document_id,
                package.business_type,
                package.status_code,
                package.title,
                package.notation,
                at,
                package.hub_organ_id,
                package.dup_key,
                package.original_doc_id,
                package.duplicate_of,
                package.junk_bytes,
                package.signature,
                json.dumps([d.recipient for d in deliveries]),
            ),
        )
        package_id = cur.lastrowid
        desc = DeliveryState.INITIAL.description
        con.executemany(
            "INSERT INTO deliveries(doc_id, package_id, recipient, recipient_system, message_type, state, "
            "state_desc, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'initial', ?, ?, ?)",
            [
                (d.doc_id, package_id, d.recipient, d.recipient_system, d.message_type, desc, at, at)
                for d in deliveries
            ],
        )

    def add_status_events(self, events: Sequence[StatusEvent]) -> None:
        self._con.executemany(
            "INSERT INTO status_history(document_id, original_sender, receiver, code, verdict, "
            "package_doc_id, at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (e.document_id, e.original_sender, e.receiver, e.code, e.verdict, e.package_doc_id, _ts(e.at))
                for e in events
            ],
        )

    def add_evidence(self, record: EvidenceRecord) -> int:
        return _insert_evidence(self._con, record)

    def delivery(self, doc_id: str) -> DeliveryView | None:
        return _delivery(self._con.execute(_DELIVERY_VIEW, (doc_id,)).fetchone())

    def mark_fetched(self, doc_id: str, at: dt.datetime) -> None:
        self._con.execute(
            "UPDATE deliveries SET fetched_at = ? WHERE doc_id = ? AND fetched_at = ''", (_ts(at), doc_id)
        )

    def set_delivery_state(self, doc_id: str, state: DeliveryState, desc: str, at: dt.datetime) -> None:
        ts = _ts(at)
        self._con.execute(
            "UPDATE deliveries SET state = ?, state_desc = ?, pending = ?, updated_at = ?, "
            "acked_at = CASE WHEN ? THEN ? ELSE acked_at END WHERE doc_id = ?",
            (state.value, desc, 1 if state.pending else 0, ts, 0 if state.pending else 1, ts, doc_id),
        )

    def upsert_agency(self, record: AgencyRecord, at: dt.datetime) -> AgencyRecord:
        con = self._con
        existing = _agencies(con, [record.code]).get(record.code)
        fields = (
            record.name,
            record.mail,
            record.parent_code,
            record.mobile,
            record.fax,
            record.old_code,
            record.center_code,
            int(record.is_agency),
            record.system_id,
            record.level,
        )
        if existing is not None and not existing.deleted:
            same = (
                existing.name,
                existing.mail,
                existing.parent_code,
                existing.mobile,
                existing.fax,
                existing.old_code,
                existing.center_code,
                int(existing.is_agency),
                existing.system_id,
                existing.level,
            )
            if same == fields:
                return existing
        version = con.execute("SELECT coalesce(max(version), 0) + 1 FROM agencies").fetchone()[0]
        con.execute(
            "INSERT INTO agencies(code, name, mail, parent_code, mobile, fax, old_code, center_code, "
            "is_agency, "
            "system_id, level, version, deleted, modified_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
            "0, ?) "
            "ON CONFLICT(code) DO UPDATE SET name = excluded.name, mail = excluded.mail, "
            "parent_code = excluded.parent_code, mobile = excluded.mobile, fax = excluded.fax, "
            "old_code = excluded.old_code, center_code = excluded.center_code, is_agency = "
            "excluded.is_agency, "
            "system_id = excluded.system_id, level = excluded.level, version = excluded.version, deleted = "
            "0, "
            "modified_at = excluded.modified_at",
            (record.code, *fields, version, _ts(at)),
        )
        self._directory_changed()
        return _agencies(con, [record.code])[record.code]

    def delete_agency(self, code: str, at: dt.datetime) -> None:
        con = self._con
        version = con.execute("SELECT coalesce(max(version), 0) + 1 FROM agencies").fetchone()[0]
        con.execute(
            "UPDATE agencies SET deleted = 1, version = ?, modified_at = ? WHERE code = ? AND deleted = 0",
            (version, _ts(at), code),
        )
        self._directory_changed()

    def set_setting(self, key: str, value: Any) -> None:
        self._con.execute(
            "INSERT INTO settings(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = "
            "excluded.value",
            (key, json.dumps(value, ensure_ascii=False)),
        )
        self._con.execute(_BUMP_SETTINGS_VERSION)
        self.settings_changed = True

    def get_setting(self, key: str) -> Any | None:
        row = self._con.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def delete_setting(self, key: str) -> None:
        self._con.execute("DELETE FROM settings WHERE key = ?", (key,))
        self._con.execute(_BUMP_SETTINGS_VERSION)
        self.settings_changed = True

    def clear_fault_counters(self) -> None:
        self._con.execute("DELETE FROM fault_counters")

    def duplicate_deliveries(self, package_doc_id: str, at: dt.datetime, copies: int = 1) -> list[str]:
        con = self._con
        rows = con.execute(
            "SELECT d.package_id, d.recipient, d.recipient_system, d.message_type FROM deliveries d "
            "JOIN packages p ON p.id = d.package_id WHERE p.doc_id = ? "
            "AND d.id IN (SELECT min(id) FROM deliveries WHERE package_id = d.package_id GROUP BY recipient) "
            "ORDER BY d.id",
            (package_doc_id,),
        ).fetchall()
        ts = _ts(at)
        desc = DeliveryState.INITIAL.description
        new = [(str(uuid.uuid4()), *row) for _ in range(copies) for row in rows]
        con.executemany(
            "INSERT INTO deliveries(doc_id, package_id, recipient, recipient_system, message_type, state, "
            "state_desc, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'initial', ?, ?, ?)",
            [(*row, desc, ts, ts) for row in new],
        )
        return [row[0] for row in new]

    def reset_traffic(self, record: EvidenceRecord) -> dict[str, int]:
        con = self._con
        last_evidence = con.execute("SELECT coalesce(max(id), 0) FROM evidence").fetchone()[0]
        counts: dict[str, int] = {}
        for table in ("deliveries", "packages", "blobs", "status_history", "evidence", "fault_counters"):
            counts[table] = con.execute(f"DELETE FROM {table}").rowcount  # noqa: S608 - fixed names
        _insert_evidence(con, record, rowid=last_evidence + 1)
        return counts

    def reset_directory(self) -> int:
        self._directory_changed()
        return int(self._con.execute("DELETE FROM agencies").rowcount)


# One encoder each, built once (json.dumps with options builds a new encoder per call).
_encode_ascii = json.JSONEncoder().encode
_encode_text = json.JSONEncoder(ensure_ascii=False).encode
_encode_detail = json.JSONEncoder(ensure_ascii=False, default=str).encode


def _insert_evidence(con: sqlite3.Connection, r: EvidenceRecord, rowid: int | None = None) -> int:
    cur = con.execute(
        "INSERT INTO evidence(id, at, system, operation, http_status, error_code, sha256, doc_ids, findings, "
        "detail) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            rowid,
            _ts(r.at),
            r.system,
            r.operation,
            r.http_status,
            r.error_code,
            r.sha256,
            _encode_ascii(r.doc_ids),
            _encode_text(r.findings),
            _encode_detail(r.detail),
        ),
    )
    return int(cur.lastrowid or 0)


_ERRORS_OF_ACCEPTED = (
    "SELECT json_extract(e.doc_ids, '$[0]'), count(*) FROM evidence e, json_each(e.findings) f "
    "WHERE e.operation = 'sendEdoc' AND e.error_code = '0' AND e.at >= ? AND e.at < ? "
    "AND json_extract(f.value, '$.severity') = 'error' "
    "AND json_extract(f.value, '$.requirement') != 'QD28-14.2' GROUP BY e.id"
)
_LATENCY_SQL = """
WITH docs AS (
    SELECT p.document_id, p.from_organ, d.recipient, min(p.received_at) AS accepted_at
    FROM packages p JOIN deliveries d ON d.package_id = p.id
    WHERE p.kind = 'document' AND p.document_id IS NOT NULL AND p.received_at < ?2
        AND (?3 IS NULL OR d.recipient = ?3)
    GROUP BY p.document_id, p.from_organ, d.recipient
    HAVING min(p.received_at) >= ?1
)
SELECT docs.recipient, docs.from_organ, docs.document_id, docs.accepted_at, s.code, min(s.at)
FROM docs JOIN status_history s ON s.document_id = docs.document_id
    AND s.original_sender = docs.from_organ AND s.receiver = docs.recipient
WHERE s.code IN ('01', '03', '06')
GROUP BY docs.document_id, docs.from_organ, docs.recipient, s.code
"""
"""First status 01/03/06 of each (document, receiver) whose first delivery is in range: the join runs
on the ``status_history_key`` index, so only the documents in range are looked up."""


def _stats_facts(con: sqlite3.Connection, lo: str, hi: str, agency: str | None) -> StatsFacts:
    errors = {r[0]: int(r[1]) for r in con.execute(_ERRORS_OF_ACCEPTED, (lo, hi))}
    packages = [
        PackageFact(r[0], r[1], r[2], r[3], r[4], r[5], r[6], errors.get(r[0], 0))
        for r in con.execute(
            "SELECT p.doc_id, p.kind, p.from_organ, p.sender_system, p.received_at, p.status_code, "
            "p.duplicate_of FROM packages p "
            "WHERE p.received_at >= ? AND p.received_at < ? "
            "AND (?3 IS NULL OR p.from_organ = ?3) ORDER BY p.id",
            (lo, hi, agency),
        )
    ]
    deliveries = [
        DeliveryFact(r[0], r[1], r[2], r[3], r[4], DeliveryState(r[5]), r[6], r[7], r[8])
        for r in con.execute(
            "SELECT p.doc_id, p.kind, p.status_code, d.recipient, d.recipient_system, d.state, d.created_at, "
            "p.duplicate_of, (SELECT count(*) FROM deliveries e WHERE e.package_id = d.package_id "
            "AND e.recipient = d.recipient AND e.id < d.id) "
            "FROM deliveries d JOIN packages p ON p.id = d.package_id "
            "WHERE d.created_at >= ? AND d.created_at < ? AND (?3 IS NULL OR d.recipient = ?3) ORDER BY d.id",
            (lo, hi, agency),
        )
    ]
    violations = [
        StatusEvent(r[0], r[1], r[2], r[3], r[4], r[5], dt.datetime.fromisoformat(r[6]))
        for r in con.execute(
            "SELECT document_id, original_sender, receiver, code, verdict, package_doc_id, at "
            "FROM status_history WHERE at >= ? AND at < ? AND verdict NOT IN ('ok', 'repeat') "
            "AND (?3 IS NULL OR receiver = ?3 OR original_sender = ?3) ORDER BY id",
            (lo, hi, agency),
        )
    ]
    latencies = [LatencyFact(*r) for r in con.execute(_LATENCY_SQL, (lo, hi, agency))]
    return StatsFacts(packages, deliveries, violations, latencies)


class _FileLock:
    """A cross-process lock: ``flock`` on a file beside the database (it holds no data).

    The writer lock (``<db>-writer.lock``): every writer of this store (each worker process, each store
    object in a process, the checkpointer's finishing pass) holds it from before ``BEGIN IMMEDIATE`` to
    after ``COMMIT``, so SQLite's write lock is always free when asked for and its sleeping busy
    handler never runs between our own writers. The checkpointer's duty lock
    (``<db>-checkpointer.lock``) is held for as long as a process's checkpointer runs.
    The file descriptor is opened per process (an inherited one would share the lock with the parent).
    Waiting polls with a non-blocking ``flock`` (50 µs, doubling to 1 ms) up to a deadline, so a stuck
    holder makes a writer fail with :class:`StoreUnavailable` after the busy timeout, as before, instead
    of hanging. The kernel drops the locks of a killed process.
    """

    _FIRST_PAUSE_S = 50e-6
    _LONGEST_PAUSE_S = 1e-3

    def __init__(self, db_path: Path, suffix: str = WRITER_LOCK_SUFFIX) -> None:
        self.path = Path(f"{db_path}{suffix}")
        self._fd = -1
        self._pid = 0

    def _descriptor(self) -> int:
        if self._fd < 0 or self._pid != os.getpid():
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            self._pid = os.getpid()
        return self._fd

    def acquire(self, timeout_s: float) -> bool:
        """Take the lock; False if another holder kept it for ``timeout_s``."""
        pause = self._FIRST_PAUSE_S
        deadline = 0.0
        while True:
            if self.try_acquire():
                return True
            now = time.monotonic()
            if not deadline:
                deadline = now + timeout_s
            elif now >= deadline:
                return False
            time.sleep(pause)
            pause = min(pause * 2, self._LONGEST_PAUSE_S)

    def try_acquire(self) -> bool:
        try:
            fcntl.flock(self._descriptor(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def release(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._fd >= 0 and self._pid == os.getpid():
            os.close(self._fd)
        self._fd = -1


class _Checkpointer:
    """A daemon thread with its own connection that checkpoints the WAL every ``CHECKPOINT_INTERVAL_S``.

    A ``PASSIVE`` checkpoint never blocks writers or readers; it copies (and fsyncs) what was committed
    when it started. The next writer restarts the WAL from its beginning only if every frame had been
    copied when its transaction began, which under a steady stream of writes never happens (the WAL
    grew to the TRUNCATE bound every two seconds). So the thread then takes the writer lock
    (:class:`_FileLock`, no SQLite busy wait) and runs a second ``PASSIVE``, which copies only the
    frames appended during the unlocked ones (a few milliseconds of writes); the next writer restarts
    the WAL and the file stays small. One process checkpoints a database at a time (an ``flock`` on
    ``<db>-checkpointer.lock``; another process takes over when it stops). If readers keep even that
    from finishing and the file grows past ``WAL_RESTART_BYTES``, a ``TRUNCATE`` checkpoint waits (up
    to the busy timeout) for them.
    The thread holds only a weak reference to the store: a store dropped without
    :meth:`SqliteStore.close` stops its thread at the next tick.
    """

    _FINISH_LOCK_TIMEOUT_S = 0.5
    _UNLOCKED_PASSES = 4
    _SHORT_PASS_S = 0.003

    def __init__(self, store: SqliteStore) -> None:
        self._path = store.path
        self._wal = Path(f"{store.path}-wal")
        self._busy_timeout_ms = min(store._busy_timeout_ms, 2_000)
        self._store = weakref.ref(store)
        self._writer_lock = _FileLock(store.path)
        self._duty = _FileLock(store.path, CHECKPOINTER_LOCK_SUFFIX)
        self._on_duty = False
        self._synchronous = store._synchronous
        self._frame_bytes = 4096 + 24  # a WAL frame: page + frame header
        self._finished: tuple[int, ...] = ()  # result of the last checkpoint under the writer lock
        self._stop = threading.Event()
        self._pid = os.getpid()
        self._thread = threading.Thread(
            target=self._run, name=f"wal-checkpoint {store.path.name}", daemon=True
        )

    @classmethod
    def start(cls, store: SqliteStore) -> _Checkpointer:
        old = store._checkpointer
        if old is not None and old._thread.is_alive() and old._pid == os.getpid():
            return old
        new = cls(store)
        new._thread.start()
        return new

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)

    def _run(self) -> None:
        con: sqlite3.Connection | None = None
        try:
            while not self._stop.wait(CHECKPOINT_INTERVAL_S):
                if self._store() is None:
                    return
                if not self._on_duty:
                    self._on_duty = self._duty.try_acquire()  # another process's checkpointer runs
                    if not self._on_duty:
                        continue
                try:
                    big = self._wal.stat().st_size > WAL_RESTART_BYTES  # module global: tests lower it
                except OSError:
                    continue  # no WAL file (yet, or any more): nothing to copy
                try:
                    if con is None:
                        con = sqlite3.connect(
                            self._path, isolation_level=None, timeout=self._busy_timeout_ms / 1000
                        )
                        con.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms}")
                        con.execute("PRAGMA wal_autocheckpoint = 0")
                        con.execute(f"PRAGMA journal_size_limit = {_JOURNAL_SIZE_LIMIT}")
                        self._frame_bytes = int(con.execute("PRAGMA page_size").fetchone()[0]) + 24
                    if big:
                        con.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
                    else:
                        self._passive(con)
                except sqlite3.Error as exc:  # busy, disk full …: the next tick tries again
                    _log.debug("WAL checkpoint of %s failed: %s", self._path, exc)
        finally:
            if con is not None:
                con.close()
            self._writer_lock.close()
            self._duty.close()  # hands the duty to another process's checkpointer

    def _passive(self, con: sqlite3.Connection) -> None:
        # Unlocked passes first, each copying what the writers appended during the one before (a
        # pass copies some 100,000 frames a second, writers append about 10,000), until one is short;
        # then the locked pass has only a millisecond or two of frames left to copy.
        for _ in range(self._UNLOCKED_PASSES):
            t0 = time.perf_counter()
            result = tuple(con.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone())
            busy, frames = result[0], result[1]
            if busy or frames <= 0 or result == self._finished:
                return  # another checkpoint runs, an empty WAL, or nothing written since the last finish
            if time.perf_counter() - t0 < self._SHORT_PASS_S:
                break
        # The frame counts are those of the checkpoint's start: writers may have appended since, and
        # the next writer restarts the WAL only if *everything* was copied when its transaction began.
        # Under the writer lock nobody appends, so this pass copies the rest for good. It holds the
        # writers up, so it runs once the WAL holds WAL_FINISH_BYTES; a smaller WAL is left to grow.
        if result[1] * self._frame_bytes < WAL_FINISH_BYTES:  # frames in use, not the file's size
            return  # module global: tests lower it
        if not self._writer_lock.acquire(self._FINISH_LOCK_TIMEOUT_S):
            return
        fast = self._synchronous == "NORMAL"
        try:
            if fast:  # no fsync under the lock: a complete pass's fsync takes 20-30 ms, the copy 0.3 ms
                con.execute("PRAGMA synchronous = OFF")
            self._finished = tuple(con.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone())
        finally:
            if fast:
                con.execute("PRAGMA synchronous = NORMAL")
            self._writer_lock.release()
        if fast:  # the copied pages reach the disk right after, outside the lock
            fd = os.open(self._path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


class SqliteStore:
    """:class:`simulator.hub.store.Store` on one SQLite file shared by every worker process."""

    def __init__(
        self,
        path: Path,
        *,
        busy_timeout_ms: int = 15_000,
        synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
        settings_refresh_s: float = SETTINGS_REFRESH_S,
    ) -> None:
        self.path = Path(path)
        self.settings_refresh_s = settings_refresh_s
        # (settings version, decoded settings, monotonic time of the last version check)
        self._settings_cache: tuple[str, dict[str, Any], float] | None = None
        self._agency_cache = _AgencyCache()
        self._busy_timeout_ms = busy_timeout_ms
        self._synchronous = synchronous
        self._lock = threading.RLock()
        self._writer_lock = _FileLock(self.path)
        self._con: sqlite3.Connection | None = None
        self._pid = 0
        self._checkpointer: _Checkpointer | None = None

    # --- connection --------------------------------------------------------------------------------
    def _connection(self) -> sqlite3.Connection:
        con = self._con
        if con is not None and self._pid == os.getpid():
            return con
        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(
            self.path,
            isolation_level=None,  # we issue BEGIN/COMMIT ourselves
            check_same_thread=False,  # guarded by self._lock
            timeout=self._busy_timeout_ms / 1000,
            cached_statements=256,
        )
        con.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")
        mode = con.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise StoreUnavailable(f"{self.path}: cannot switch the database to WAL mode (got {mode})")
        con.execute(f"PRAGMA synchronous = {self._synchronous}")
        # No checkpoint inside a request's COMMIT (it fsyncs and stalled requests 140–215 ms): the
        # background checkpointer of this process does them (:class:`_Checkpointer`).
        con.execute("PRAGMA wal_autocheckpoint = 0")
        con.execute(f"PRAGMA journal_size_limit = {_JOURNAL_SIZE_LIMIT}")
        con.execute("PRAGMA temp_store = MEMORY")
        con.execute("PRAGMA cache_size = -16000")
        self._con, self._pid = con, os.getpid()
        # Started with the connection, so every process that opens the store (each uvicorn worker, the
        # CLI, an embedded hub) checkpoints; a forked child gets a new connection and a new thread.
        self._checkpointer = _Checkpointer.start(self)
        return con

    def init(self) -> None:
        with self._lock:
            try:
                con = self._connection()
                con.execute("BEGIN IMMEDIATE")
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        con.execute(statement)
                con.execute(
                    "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?)",
                    (str(SCHEMA_VERSION),),
                )
                con.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise _unavailable(exc) from None

    def close(self) -> None:
        checkpointer = self._checkpointer
        self._checkpointer = None
        if checkpointer is not None and self._pid == os.getpid():
            checkpointer.stop()
        with self._lock:
            if self._con is not None and self._pid == os.getpid():
                self._con.close()
            self._con = None
            self._writer_lock.close()

    def checkpoint(self, mode: Literal["PASSIVE", "RESTART", "TRUNCATE"] = "PASSIVE") -> tuple[int, int, int]:
        """Run ``PRAGMA wal_checkpoint(mode)`` on this process's connection: (busy, WAL frames,
        frames checkpointed). The background checkpointer does this on its own connection."""
        with self._read() as con:
            row = con.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
        return int(row[0]), int(row[1]), int(row[2])

    def _rollback(self) -> None:
        con = self._con
        if con is not None and con.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                con.execute("ROLLBACK")

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """Hold the cross-process writer lock (:class:`_FileLock`) for a write."""
        if not self._writer_lock.acquire(self._busy_timeout_ms / 1000):
            raise StoreUnavailable(
                f"{self.path}: another writer held the store's writer lock for "
                f"{self._busy_timeout_ms / 1000:g} s ({self._writer_lock.path})"
            )
        try:
            yield
        finally:
            self._writer_lock.release()

    @contextmanager
    def transaction(self) -> Iterator[_Txn]:
        with self._lock:
            try:
                con = self._connection()
            except sqlite3.Error as exc:
                raise _unavailable(exc) from None
            with self._writing():
                try:
                    con.execute("BEGIN IMMEDIATE")
                except sqlite3.Error as exc:
                    raise _unavailable(exc) from None
                txn = _Txn(con, self._agency_cache)
                try:
                    yield txn
                except BaseException:
                    self._rollback()
                    raise
                try:
                    con.execute("COMMIT")
                except sqlite3.Error as exc:
                    self._rollback()
                    raise _unavailable(exc) from None
                finally:
                    if txn.settings_changed:
                        self._settings_cache = None  # this process sees its own change at once

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                yield self._connection()
            except sqlite3.OperationalError as exc:
                raise _unavailable(exc) from None

    # --- reads --------------------------------------------------------------------------------------
    def agencies(self, codes: Sequence[str]) -> dict[str, AgencyRecord]:
        with self._read() as con:
            return _agencies(con, codes)

    def list_agencies(self, *, include_deleted: bool = False, level: int | None = None) -> list[AgencyRecord]:
        sql = f"SELECT {_AGENCY_COLUMNS} FROM agencies"  # noqa: S608
        clauses, args = [], []
        if not include_deleted:
            clauses.append("deleted = 0")
        if level is not None:
            clauses.append("level = ?")
            args.append(level)
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        with self._read() as con:
            return [_agency(r) for r in con.execute(sql + " ORDER BY id", args)]

    def list_received(self, system_id: str, message_type: MessageType, limit: int) -> list[ReceivedItem]:
        with self._read() as con:
            rows = con.execute(LIST_RECEIVED_SQL, (system_id, message_type, limit)).fetchall()
        return [
            ReceivedItem(r[0], r[1], r[2], r[3], r[4], r[5], r[6], DeliveryState(r[7]), r[8]) for r in rows
        ]

    def count_received(self, system_id: str, message_type: MessageType) -> int:
        with self._read() as con:
            row = con.execute(COUNT_RECEIVED_SQL, (system_id, message_type)).fetchone()
        return int(row[0])

    def list_sent(
        self, system_id: str, message_type: MessageType, sender_doc_id: str | None, limit: int
    ) -> list[SentItem]:
        sql = (
            "SELECT p.service_type, p.message_type, p.doc_id, d.doc_id, p.from_organ, d.recipient, p.title, "
            "p.notation, p.received_at, d.acked_at, d.state, d.state_desc FROM packages p "
            "JOIN deliveries d ON d.package_id = p.id WHERE p.sender_system = ? AND p.message_type = ?"
        )
        args: list[Any] = [system_id, message_type]
        if sender_doc_id is not None:
            sql += " AND p.doc_id = ?"
            args.append(sender_doc_id)
        sql += " ORDER BY p.id DESC, d.id LIMIT ?"
        args.append(limit)
        with self._read() as con:
            rows = con.execute(sql, args).fetchall()
        return [
            SentItem(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], DeliveryState(r[10]), r[11])
            for r in rows
        ]

    def delivery(self, doc_id: str) -> DeliveryView | None:
        with self._read() as con:
            return _delivery(con.execute(_DELIVERY_VIEW, (doc_id,)).fetchone())

    def package_data(self, sha256: str) -> bytes | None:
        with self._read() as con:
            row = con.execute("SELECT data FROM blobs WHERE sha256 = ?", (sha256,)).fetchone()
        return bytes(row[0]) if row else None

    def sent_package(self, doc_id: str, system_id: str) -> tuple[str, MessageType] | None:
        with self._read() as con:
            row = con.execute(
                "SELECT sha256, message_type FROM packages WHERE doc_id = ? AND sender_system = ?",
                (doc_id, system_id),
            ).fetchone()
        return (row[0], cast(MessageType, row[1])) if row else None

    def settings(self) -> Mapping[str, Any]:
        """Every setting, decoded. Served from a cache that re-reads the settings only when their version
        (bumped by every write) changed, and checks the version at most every ``settings_refresh_s``:
        another process's change is seen within that time, this process's own at once. The returned
        mapping and its values are shared: do not mutate them."""
        cache = self._settings_cache
        now = time.monotonic()
        if cache is not None and now - cache[2] < self.settings_refresh_s:
            return cache[1]
        with self._read() as con:
            row = con.execute("SELECT value FROM meta WHERE key = 'settings_version'").fetchone()
            version = str(row[0]) if row else "0"
            if cache is not None and cache[0] == version:
                values = cache[1]
            else:
                values = {k: json.loads(v) for k, v in con.execute("SELECT key, value FROM settings")}
        self._settings_cache = (version, values, now)
        return values

    def get_setting(self, key: str) -> Any | None:
        """One setting from :meth:`settings` (cached; do not mutate the value)."""
        return self.settings().get(key)

    def set_setting(self, key: str, value: Any) -> None:
        with self.transaction() as txn:
            txn.set_setting(key, value)

    def delete_setting(self, key: str) -> None:
        with self.transaction() as txn:
            txn.delete_setting(key)

    def take_fault_slot(self, rule: str, limit: int | None) -> int | None:
        """One atomic statement (an upsert with a guard), so every worker process shares the count."""
        with self._lock, self._writing():
            try:
                rows = (
                    self._connection()
                    .execute(
                        "INSERT INTO fault_counters(rule, used) VALUES (?1, 1) ON CONFLICT(rule) DO UPDATE "
                        "SET used = used + 1 WHERE ?2 IS NULL OR used < ?2 RETURNING used",
                        (rule, limit),
                    )
                    .fetchall()  # step to the end: the statement (and its autocommit) completes
                )
            except sqlite3.Error as exc:
                raise _unavailable(exc) from None
        return int(rows[0][0]) if rows else None

    def fault_usage(self) -> dict[str, int]:
        with self._read() as con:
            return {r[0]: int(r[1]) for r in con.execute("SELECT rule, used FROM fault_counters")}

    def list_deliveries(
        self,
        *,
        recipient: str | None = None,
        from_organ: str | None = None,
        document_id: str | None = None,
        package_doc_id: str | None = None,
        state: DeliveryState | None = None,
        limit: int = 1000,
    ) -> list[DeliveryRow]:
        sql = (
            "SELECT d.doc_id, p.doc_id, p.kind, d.message_type, p.from_organ, p.sender_system, d.recipient, "
            "d.recipient_system, p.document_id, p.status_code, p.duplicate_of, d.state, d.state_desc, "
            "d.created_at, d.updated_at, d.fetched_at, d.acked_at "
            "FROM deliveries d JOIN packages p ON p.id = d.package_id"
        )
        clauses: list[str] = []
        args: list[Any] = []
        for column, value in (
            ("d.recipient", recipient),
            ("p.from_organ", from_organ),
            ("p.document_id", document_id),
            ("p.doc_id", package_doc_id),
            ("d.state", state.value if state is not None else None),
        ):
            if value is not None:
                clauses.append(f"{column} = ?")
                args.append(value)
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += " ORDER BY d.id LIMIT ?"
        args.append(limit)
        with self._read() as con:
            rows = con.execute(sql, args).fetchall()
        return [
            DeliveryRow(
                doc_id=r[0],
                package_doc_id=r[1],
                kind=r[2],
                message_type=r[3],
                from_organ=r[4],
                sender_system=r[5],
                recipient=r[6],
                recipient_system=r[7],
                document_id=r[8],
                status_code=r[9],
                duplicate_of=r[10],
                state=DeliveryState(r[11]),
                state_desc=r[12],
                created_at=r[13],
                updated_at=r[14],
                fetched_at=r[15],
                acked_at=r[16],
            )
            for r in rows
        ]

    def stats_facts(
        self, start: dt.datetime | None, end: dt.datetime | None, agency: str | None = None
    ) -> StatsFacts:
        lo = _ts(start.astimezone(VN_TZ)) if start is not None else ""
        hi = _ts(end.astimezone(VN_TZ)) if end is not None else "\uffff"
        with self._lock:
            try:
                con = self._connection()
                con.execute("BEGIN")  # one read snapshot for the four queries
                try:
                    return _stats_facts(con, lo, hi, agency)
                finally:
                    con.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise _unavailable(exc) from None

    def add_evidence(self, record: EvidenceRecord) -> int:
        """Append one evidence row in its own (autocommit) transaction."""
        with self._lock:
            try:
                return _insert_evidence(self._connection(), record)
            except sqlite3.Error as exc:
                raise _unavailable(exc) from None

    def evidence(self, *, since_id: int = 0, limit: int | None = None) -> Iterator[dict[str, Any]]:
        """Evidence rows with ``id > since_id``, oldest first, JSON columns decoded."""
        with self._read() as con:
            rows = con.execute(
                "SELECT id, at, system, operation, http_status, error_code, sha256, doc_ids, findings, "
                "detail "
                "FROM evidence WHERE id > ? ORDER BY id LIMIT ?",
                (since_id, -1 if limit is None else limit),
            ).fetchall()
        for r in rows:
            yield {
                "id": r[0],
                "at": r[1],
                "system": r[2],
                "operation": r[3],
                "http_status": r[4],
                "error_code": r[5],
                "sha256": r[6],
                "doc_ids": json.loads(r[7]),
                "findings": json.loads(r[8]),
                "detail": json.loads(r[9]),
            }

    def evidence_jsonl(self, *, since_id: int = 0, limit: int | None = None) -> Iterator[str]:
        for row in self.evidence(since_id=since_id, limit=limit):
            yield json.dumps(row, ensure_ascii=False, separators=(",", ":"))

    # --- diagnostics for tests and the control API --------------------------------------------------
    def explain(self, sql: str, args: Sequence[Any] = ()) -> list[str]:
        """``EXPLAIN QUERY PLAN`` details of ``sql``."""
        with self._read() as con:
            return [str(r[3]) for r in con.execute("EXPLAIN QUERY PLAN " + sql, args)]

    def query_plans(self) -> dict[str, list[str]]:
        """Plans of the polling queries (proof that listing cost does not grow with the store)."""
        return {
            "list_received": self.explain(LIST_RECEIVED_SQL, ("s", "edoc", 10)),
            "count_received": self.explain(COUNT_RECEIVED_SQL, ("s", "edoc")),
        }
