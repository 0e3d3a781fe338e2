"""Reliability: SIGKILL the whole hub (supervisor and both workers) under load, restart, lose nothing.

Several sender threads upload distinct signed packages while a receiver thread lists, fetches and
acknowledges them; mid-flight the hub's process group gets SIGKILL. Every send either got a DocId
(the hub acknowledged it) or failed (ambiguous: it may or may not have been committed). After the
restart on the same data directory:

(a) every package that got a DocId is still there: recorded in the hub's evidence under that DocId
    and retrievable by its recipient, byte for byte;
(b) nothing acknowledged by the recipient (updateStatus done, answered OK) is ever listed again —
    checked on every list call, and again after a second SIGKILL;
(c) senders retry their failed sends with the very same bytes: every retry is accepted; a package
    whose first attempt had been committed is recorded as a duplicate of it (``duplicate_of``) and
    delivered again (policy ``deliver``); none is lost, none is half stored (the recipient sees exactly
    as many deliveries of each package as the hub recorded acceptances).

The short version runs in CI (one kill after about a second of load); ``-m slow`` runs three kill rounds
under longer load and kills the hub once more after the final acknowledgements.
"""

from __future__ import annotations

import hashlib
import queue
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from simulator.agency.client import VxpClient, VxpError, VxpTransportError
from simulator.edxml.builder import build
from simulator.edxml.samples import sample_document
from simulator.hub.app import DB_NAME
from simulator.hub.config import parse_config
from simulator.hub.server import config_toml
from simulator.hub.sqlite_store import SqliteStore
from simulator.pki.dsig import sign
from tests.hub.conftest import SECRET_A, SECRET_B, SO_TC, SYS_A, SYS_B, UBND, VPCP, Pki, config_data, org
from tests.hub.hubproc import HubProcess, HubRunner

CLIENT_TIMEOUT_S = 5.0
JOIN_TIMEOUT_S = 15.0


@dataclass(repr=False)
class Ledger:
    """What the clients saw, to be checked against the hub after the restart."""

    packages: list[bytes]
    sha: list[str] = field(default_factory=list)
    doc_ids: dict[int, list[str]] = field(default_factory=lambda: defaultdict(list))  # idx → DocIds got
    failed: set[int] = field(default_factory=set)  # last attempt failed: retry pending
    attempted: set[int] = field(default_factory=set)
    transport_failures: int = 0
    refused: list[str] = field(default_factory=list)  # VxpError: the hub said no (must stay empty)
    acked: dict[str, str] = field(default_factory=dict)  # delivery docId → sha, updateStatus answered OK
    ack_unknown: dict[str, str] = field(default_factory=dict)  # updateStatus sent, no answer
    seen: dict[str, str] = field(
        default_factory=dict
    )  # every delivery docId ever listed → sha (once fetched)
    problems: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.sha = [hashlib.sha256(p).hexdigest() for p in self.packages]
        assert len(set(self.sha)) == len(self.packages), "the packages must be distinct"


def _no_problems(ledger: Ledger) -> None:
    if ledger.problems:
        pytest.fail(f"{len(ledger.problems)} problem(s):\n" + "\n".join(ledger.problems[:5]), pytrace=False)


def _packages(pki: Pki, count: int) -> list[bytes]:
    senders = (VPCP, SO_TC)
    out = []
    for i in range(count):
        sender = senders[i % 2]
        package = sample_document(
            seed=10_000 + i, sender=org(sender), recipients=[org(UBND)], attachment_size=800
        )
        out.append(sign(build(package), pki.creds[sender]))
    return out


def _send(endpoint: str, ledger: Ledger, todo: queue.Queue[int], stop: threading.Event) -> None:
    """One sender: send until told to stop or until its connection breaks (as a real QLVB backs off)."""
    with VxpClient(endpoint, SYS_A, SECRET_A, timeout=CLIENT_TIMEOUT_S) as client:
        while not stop.is_set():
            try:
                idx = todo.get_nowait()
            except queue.Empty:
                return
            sender = VPCP if idx % 2 == 0 else SO_TC
            with ledger.lock:
                ledger.attempted.add(idx)
            try:
                doc_id = client.send_edoc(ledger.packages[idx], from_=sender, to=[UBND])
            except VxpTransportError:
                with ledger.lock:
                    ledger.failed.add(idx)
                    ledger.transport_failures += 1
                return
            except VxpError as exc:
                with ledger.lock:
                    ledger.refused.append(str(exc))
                return
            with ledger.lock:
                ledger.doc_ids[idx].append(doc_id)
                ledger.failed.discard(idx)


def _receive_once(client: VxpClient, ledger: Ledger) -> int:
    """List, fetch (checking the bytes) and acknowledge every pending delivery once; how many were listed.

    Raises VxpTransportError when the hub goes away; records a problem when an acknowledged delivery
    shows up again or the bytes differ.
    """
    items = client.get_received_edoc_list()
    for item in items:
        delivery = item["docId"]
        with ledger.lock:
            if delivery in ledger.acked:
                ledger.problems.append(f"delivery {delivery} listed again after its acknowledgement")
        data = client.get_edoc(delivery)
        sha = hashlib.sha256(data).hexdigest()
        with ledger.lock:
            if sha not in ledger.sha:
                ledger.problems.append(f"delivery {delivery}: bytes of no package sent (sha256 {sha})")
            ledger.seen[delivery] = sha
            ledger.ack_unknown[delivery] = sha
        client.update_status(delivery, "done")
        with ledger.lock:
            del ledger.ack_unknown[delivery]
            ledger.acked[delivery] = sha
    return len(items)


def _receive(endpoint: str, ledger: Ledger, stop: threading.Event) -> None:
    with VxpClient(endpoint, SYS_B, SECRET_B, timeout=CLIENT_TIMEOUT_S) as client:
        while not stop.is_set():
            try:
                if not _receive_once(client, ledger):
                    time.sleep(0.02)
            except VxpTransportError:
                return
            except VxpError as exc:
                with ledger.lock:
                    ledger.problems.append(f"receiver refused: {exc}")
                return


def _load_and_kill(
    hub: HubProcess, ledger: Ledger, todo: queue.Queue[int], load_s: float, senders: int
) -> None:
    """Run senders and the receiver against ``hub``; SIGKILL its process group mid-flight."""
    stop = threading.Event()
    threads = [
        threading.Thread(target=_send, args=(hub.endpoint, ledger, todo, stop), name=f"sender-{i}")
        for i in range(senders)
    ]
    threads.append(threading.Thread(target=_receive, args=(hub.endpoint, ledger, stop), name="receiver"))
    for t in threads:
        t.start()
    try:
        baseline = sum(len(v) for v in ledger.doc_ids.values())
        deadline = time.monotonic() + 30
        while sum(len(v) for v in ledger.doc_ids.values()) < baseline + 10:  # the load is really running
            assert time.monotonic() < deadline, f"no traffic got through\n{ledger.refused[:3]}\n{hub.logs()}"
            assert not ledger.refused, f"the hub refused a valid package: {ledger.refused[:3]}"
            time.sleep(0.02)
        # kill after load_s, or earlier while packages are still queued (the senders must be mid-flight)
        until = time.monotonic() + load_s
        while time.monotonic() < until and todo.qsize() > 4 * senders:
            time.sleep(0.01)
        assert not todo.empty(), "the senders ran out of packages before the kill: build more"
    finally:
        hub.kill()  # SIGKILL to the supervisor and every worker at once
        stop.set()
        for t in threads:
            t.join(JOIN_TIMEOUT_S)
    assert not any(t.is_alive() for t in threads), "a client thread hung after the kill"


def _received_until_empty(client: VxpClient, ledger: Ledger) -> None:
    deadline = time.monotonic() + 60
    while _receive_once(client, ledger):
        assert time.monotonic() < deadline, "the recipient's list never became empty"


def _kill_scenario(
    runner: HubRunner,
    pki: Pki,
    *,
    rounds: int,
    load_s: float,
    packages: int,
    senders: int,
    kill_after_acks: bool = False,
) -> None:
    data_dir = runner.tmp / "data"
    cfg = runner.tmp / "hub.toml"
    cfg.write_text(config_toml(parse_config(config_data(data_dir, signature="enforce"))), encoding="utf-8")
    extra = ["--config", str(cfg)]
    ledger = Ledger(_packages(pki, packages))

    port: int | None = None
    quota = packages // rounds  # new packages per round: a fast hub must not use them all up in round 1
    fresh = list(range(packages))
    for k in range(rounds):
        hub = runner.start(data_dir=data_dir, port=port, workers=2, extra=extra)
        port = hub.port
        todo = queue.Queue[int]()  # failed sends of the previous round go first, then new packages
        for idx in sorted(ledger.failed):
            todo.put(idx)
        for idx in fresh[k * quota : (k + 1) * quota]:
            todo.put(idx)
        _load_and_kill(hub, ledger, todo, load_s, senders)
        assert not ledger.refused, ledger.refused[:3]
        _no_problems(ledger)
    assert ledger.transport_failures, "the kill hit no send in flight: the test proved nothing"

    # restart; the senders retry what failed, with the very same bytes
    hub = runner.start(data_dir=data_dir, port=port, workers=2, extra=extra)
    with VxpClient(hub.endpoint, SYS_A, SECRET_A, timeout=CLIENT_TIMEOUT_S) as client:
        for idx in sorted(ledger.failed):
            sender = VPCP if idx % 2 == 0 else SO_TC
            ledger.doc_ids[idx].append(client.send_edoc(ledger.packages[idx], from_=sender, to=[UBND]))
        ledger.failed.clear()
        # (a) the sender's view: every DocId it was given is known to the hub
        got = {doc_id for ids in ledger.doc_ids.values() for doc_id in ids}
        lost = [
            d for d in sorted(got) if [i["senderDocId"] for i in client.get_sent_edoc_list(doc_id=d)] != [d]
        ]
        assert not lost, (
            f"{len(lost)} of {len(got)} acknowledged DocIds are unknown after the SIGKILL: {lost[:3]}"
        )

    with VxpClient(hub.endpoint, SYS_B, SECRET_B, timeout=CLIENT_TIMEOUT_S) as receiver:
        # (a) every delivery ever listed — acknowledged or not — is still retrievable, byte for byte
        for delivery, sha in sorted({**ledger.seen, **ledger.ack_unknown}.items()):
            assert hashlib.sha256(receiver.get_edoc(delivery)).hexdigest() == sha, delivery
        _received_until_empty(receiver, ledger)  # (b) checked on each list call
        _no_problems(ledger)
    unanswered = dict(ledger.ack_unknown)

    if kill_after_acks:  # (b) again: acknowledgements made without load survive a SIGKILL too
        hub.kill()
        hub = runner.start(data_dir=data_dir, port=port, workers=2, extra=extra)
        with VxpClient(hub.endpoint, SYS_B, SECRET_B, timeout=CLIENT_TIMEOUT_S) as receiver:
            assert receiver.get_received_edoc_list() == []
            assert receiver.count_receive_edoc() == 0
    assert hub.stop() == 0, hub.logs()

    # the hub's own record: one accepted sendEdoc per DocId handed out, duplicates linked, none lost
    store = SqliteStore(data_dir / DB_NAME)
    try:
        accepted: dict[str, list[tuple[str, str | None]]] = defaultdict(list)
        for row in store.evidence():
            if row["operation"] == "sendEdoc" and row["error_code"] == "0":
                accepted[row["sha256"]].append((row["doc_ids"][0], row["detail"].get("duplicate_of")))
    finally:
        store.close()
    recorded = {doc_id for rows in accepted.values() for doc_id, _ in rows}
    assert got <= recorded, f"{len(got - recorded)} acknowledged sends left no record: lost"
    deliveries_per_sha: dict[str, int] = defaultdict(int)
    for sha in {**ledger.seen, **unanswered}.values():
        deliveries_per_sha[sha] += 1
    ambiguous_committed = 0
    for idx, sha in enumerate(ledger.sha):
        rows = accepted.get(sha, [])
        if idx not in ledger.attempted:
            assert not rows, f"package {idx} was never sent but the hub recorded it"
            continue
        assert ledger.doc_ids[idx], f"package {idx}: no send ever succeeded (retries included)"
        assert 1 <= len(rows) <= len(ledger.doc_ids[idx]) + rounds, (idx, rows)
        first = rows[0][0]
        assert rows[0][1] is None, f"package {idx}: its first acceptance is marked duplicate"
        assert all(dup == first for _, dup in rows[1:]), f"package {idx}: re-sends not linked to {first}"
        ambiguous_committed += len(rows) - len(ledger.doc_ids[idx])
        # the recipient got exactly one delivery per acceptance (duplicates delivered, none half stored)
        assert deliveries_per_sha[sha] == len(rows), (idx, deliveries_per_sha[sha], rows)
    print(
        f"\nSIGKILL x{rounds}: {len(ledger.attempted)} packages sent, "
        f"{sum(len(v) for v in ledger.doc_ids.values())} DocIds handed out, "
        f"{ledger.transport_failures} sends cut by the kill ({ambiguous_committed} of them had been "
        f"committed and were recorded as duplicates on retry), {len(ledger.acked)} deliveries acknowledged"
    )


@pytest.fixture
def runner(tmp_path: Path, pki: Pki) -> Iterator[HubRunner]:
    with HubRunner(tmp_path, pki_dir=pki.directory) as r:
        yield r


def test_sigkill_mid_flight_loses_nothing(runner: HubRunner, pki: Pki) -> None:
    _kill_scenario(runner, pki, rounds=1, load_s=1.0, packages=300, senders=4)


@pytest.mark.slow
def test_sigkill_mid_flight_loses_nothing_long(runner: HubRunner, pki: Pki) -> None:
    _kill_scenario(runner, pki, rounds=3, load_s=8.0, packages=6000, senders=6, kill_after_acks=True)
