"""Locust file of ``lienthong load``: the harness's agencies on the VXP protocol, and the load shape.

Started by :mod:`simulator.load.runner` (``locust -f loadtests/agency_users.py --headless …``) with
``LIENTHONG_LOAD_CONFIG`` naming the run's configuration (JSON: the profile, the hub, the harness's
systems and secrets, the SUT's system and agencies, the corpus, where to write results).

Users
    :class:`AgencySender` — a harness agency's QLVB sending documents: each request posts the next
    package of the pre-signed corpus (distinct bytes, its own DocumentId; nothing is signed or keyed
    during the run: the SDK headers of this process's share of the corpus are computed when the test
    starts). Requests follow a Poisson schedule of ``sender_rate_per_user`` documents/s per user
    (open loop: a late request does not delay the schedule), so the senders together offer the
    profile's rate; the shape sets how many there are.
    :class:`AgencyReceiver` — the harness systems' polling: ``getReceivedEdocList`` (documents and
    statuses), ``getEdoc``; for a document, status 01 then 03 from the receiving agency (unsigned status
    packages filled in from templates: the document's OrganId, Code, PromulgationDate and DocumentId
    are read from the first kilobytes of the package and pasted in, no XML parsing), then
    ``updateStatus done``; a status is fetched and acknowledged. A fixed number of them
    (``receivers``) take the systems in turn, each claiming a few items per poll so that a burst is
    worked off in parallel; with several Locust processes each process polls its own systems (system
    ``i`` belongs to process ``i % N``), so no delivery is answered twice. A failed fetch leaves the
    item to a later poll; a failed acknowledgement is retried at the system's next poll.
    The SUT receives its share of the documents through the hub and answers on its own.

Shape and results (master or local runner only)
    :class:`ProfileShape` is the profile's shape (:mod:`loadtests.shapes`); its drain ends early once
    the SUT has no pending document left at the hub; when the sending phase ends it tells every
    process to stop sending at once (Locust itself stops users only at the spawn rate). Stress steps
    are judged while the run goes on, from the hub's store. At ``quitting`` the hub-side service levels are
    measured from the hub's store (:mod:`simulator.load.slo`) and written to ``slo.json`` in the run
    directory, with ``shape.json`` (the stages on the wall clock, the stress steps); the process exit
    code is 0 when every SLO held, 1 when one broke, 3 when they could not be measured.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import itertools
import json
import logging
import os
import random
import re
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import gevent  # type: ignore[import-untyped]
from gevent.lock import Semaphore  # type: ignore[import-untyped]
from locust import FastHttpUser, LoadTestShape, constant, events, task
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from loadtests import shapes as _shapes
from simulator.agency.signing import hash_file, sdk_timestamp, sign_headers
from simulator.edxml.builder import build
from simulator.edxml.model import Organization, ResponseFor, StatusCode, StatusHeader, StatusPackage
from simulator.edxml.samples import STATUS_DESCRIPTIONS
from simulator.edxml.vntime import format_timestamp, now_vn
from simulator.load.corpus import LoadedCorpus, load_corpus
from simulator.load.profiles import LoadProfile, load_profile

__all__ = ["AgencyReceiver", "AgencySender", "ProfileShape"]

_log = logging.getLogger("lienthong.load")
CONFIG_ENV = "LIENTHONG_LOAD_CONFIG"
_JSON = "application/json"
_OCTETS = "application/octet-stream"
_HUB_FAILURE = "hub: "  # prefix of failures the hub answered (everything else: no usable answer)
_CLAIM_MEMORY = 200_000
_HEAD_B64 = 24_576  # base64 characters decoded to read a document's header (18 KB of XML)


# ----------------------------------------------------------------------------------- configuration


def _load_config() -> dict[str, Any]:
    path = os.environ.get(CONFIG_ENV)
    if not path:
        raise SystemExit(
            f"{CONFIG_ENV} is not set: this Locust file is run by `lienthong load` "
            "(see simulator/load/runner.py)"
        )
    try:
        value = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SystemExit(f"{CONFIG_ENV}={path}: cannot read the run configuration ({exc})") from None
    if not isinstance(value, dict):
        raise SystemExit(f"{CONFIG_ENV}={path}: the run configuration must be a JSON object")
    return value


_CFG: dict[str, Any] = _load_config() if os.environ.get(CONFIG_ENV) else {}
_PROFILE: LoadProfile | None = None


def _profile() -> LoadProfile:
    global _PROFILE
    if _PROFILE is None:
        args = _CFG["profile_args"]
        _PROFILE = load_profile(
            args["name"],
            path=args["path"],
            overrides=args["overrides"],
            duration_s=args["duration_s"],
            users=args["users"],
        )
    return _PROFILE


class _State:
    """What one Locust process keeps: its share of the corpus and of the systems, claims, templates."""

    def __init__(self) -> None:
        self.corpus: LoadedCorpus | None = None
        self.headers: dict[int, dict[str, str]] = {}
        self.slot = 0
        self.slots = 1
        self.counter = itertools.count()
        self.exhausted = 0
        self.secrets: dict[str, str] = {s["id"]: s["secret"] for s in _CFG.get("harness_systems", [])}
        self.names: dict[str, str] = dict(_CFG.get("names", {}))
        self.my_systems: list[str] = []
        self.next_system = 0
        self.list_locks: dict[str, Semaphore] = {}
        self.claimed: dict[str, None] = {}
        self.templates: dict[tuple[str, str], _StatusTemplate] = {}
        self.answered = 0
        self.retry_acks: dict[str, list[tuple[str, str]]] = {}
        self.sending = True  # False once the shape's sending phase ended (message from the master)

    def corpus_(self) -> LoadedCorpus:
        if self.corpus is None:
            self.corpus = load_corpus(Path(_CFG["corpus_index"]), limit=int(_CFG["corpus_count"]))
        return self.corpus

    def partition(self, slot: int, slots: int) -> None:
        self.slot, self.slots = slot, max(slots, 1)
        systems = [s["id"] for s in _CFG.get("harness_systems", [])]
        self.my_systems = [sid for i, sid in enumerate(systems) if i % self.slots == self.slot]
        self.list_locks = {sid: Semaphore() for sid in self.my_systems}

    def precompute_headers(self) -> None:
        """SDK headers of every package of this process's share (one timestamp, as one SDK client)."""
        corpus = self.corpus_()
        stamp = sdk_timestamp(dt.datetime.now())
        for i in range(self.slot, len(corpus), self.slots):
            e = corpus.entries[i]
            self.headers[i] = sign_headers(
                {"from": e.sender, "servicetype": "eDoc", "messagetype": "edoc"},
                system_id=e.system,
                secret=self.secrets[e.system],
                timestamp=stamp,
                content_type=_OCTETS,
                hash_file=e.hash_file,
            )

    def next_package(self) -> int | None:
        corpus = self.corpus_()
        i = self.slot + self.slots * next(self.counter)
        if i >= len(corpus):
            self.exhausted += 1
            return None
        return i

    def claim(self, doc_id: str) -> bool:
        if doc_id in self.claimed:
            return False
        self.claimed[doc_id] = None
        if len(self.claimed) > _CLAIM_MEMORY:
            for old in list(itertools.islice(self.claimed, _CLAIM_MEMORY // 10)):
                del self.claimed[old]
        return True

    def template(self, reporter: str, code: str) -> _StatusTemplate:
        key = (reporter, code)
        found = self.templates.get(key)
        if found is None:
            found = self.templates[key] = _StatusTemplate(reporter, self.names.get(reporter, ""), code)
        return found


_STATE = _State()


# -------------------------------------------------------------------------------- status templates

_T_ORGAN = "000.00.00.Z99"
_T_DOCID = "LIENTHONG-LOAD-DOCUMENT-ID"
_T_CODE = "LIENTHONG-LOAD-CODE"
_T_DATE = dt.date(1901, 1, 1)
_T_TIME = dt.datetime(1902, 2, 2, 2, 2, 2)


class _StatusTemplate:
    """A status package of ``code`` from ``reporter`` with the document's fields left as holes."""

    def __init__(self, reporter: str, name: str, code: str) -> None:
        status = StatusPackage(
            StatusHeader(
                from_=Organization(organ_id=reporter, organ_name=name or f"Cơ quan {reporter}"),
                response_for=ResponseFor(
                    organ_id=_T_ORGAN, document_id=_T_DOCID, code=_T_CODE, promulgation_date=_T_DATE
                ),
                status_code=StatusCode(code),
                timestamp=_T_TIME,
                description=STATUS_DESCRIPTIONS[StatusCode(code)],
            )
        )
        data = build(status)
        holes = [
            format_timestamp(_T_TIME).encode(),
            _T_ORGAN.encode(),
            _T_DOCID.encode(),
            _T_CODE.encode(),
            _T_DATE.strftime("%Y/%m/%d").encode(),
        ]
        pattern = re.compile(b"|".join(re.escape(h) for h in holes))
        self.parts: list[bytes] = []
        self.order: list[int] = []
        pos = 0
        for m in pattern.finditer(data):
            self.parts.append(data[pos : m.start()])
            self.order.append(holes.index(m.group(0)))
            pos = m.end()
        self.parts.append(data[pos:])
        if sorted(self.order) != list(range(len(holes))):
            raise RuntimeError(
                f"status template for {reporter}/{code}: holes not found once each: {self.order}"
            )

    def fill(self, organ: bytes, document_id: bytes, code: bytes, date: bytes) -> bytes:
        values = [format_timestamp(now_vn()).encode(), organ, document_id, code, date]
        out = [self.parts[0]]
        for hole, part in zip(self.order, self.parts[1:], strict=True):
            out.append(values[hole])
            out.append(part)
        return b"".join(out)


_DATA = re.compile(rb'"data"\s*:\s*"')
_FROM = re.compile(rb"<(?:\w+:)?From>\s*<(?:\w+:)?OrganId>([^<]*)</")
_DOCID = re.compile(rb"<(?:\w+:)?DocumentId>([^<]*)</")
_CODE = re.compile(rb"<(?:\w+:)?CodeNumber>([^<]*)</(?:\w+:)?CodeNumber>\s*<(?:\w+:)?CodeNotation>([^<]*)</")
_DATE = re.compile(rb"<(?:\w+:)?PromulgationDate>([^<]*)</")


def _header_fields(xml: bytes) -> tuple[bytes, bytes, bytes, bytes] | None:
    """(From OrganId, DocumentId, number/notation, PromulgationDate) as they appear in the package."""
    found = [r.search(xml) for r in (_FROM, _DOCID, _CODE, _DATE)]
    if any(m is None for m in found):
        return None
    f, d, c, p = found
    assert f is not None and d is not None and c is not None and p is not None
    return f.group(1), d.group(1), c.group(1) + b"/" + c.group(2), p.group(1)


def _document_head(content: bytes) -> bytes | None:
    """The first kilobytes of the package in a getEdoc reply (base64 inside JSON), or None."""
    m = _DATA.search(content, 0, 512)
    if m is None:
        return None
    chunk = content[m.end() : m.end() + _HEAD_B64]
    end = chunk.find(b'"')
    if end >= 0:
        chunk = chunk[:end]
    chunk = chunk[: len(chunk) - len(chunk) % 4]
    try:
        return base64.b64decode(chunk)
    except (binascii.Error, ValueError):
        return None


# ------------------------------------------------------------------------------------------- users

_BATCH = 6
"""Documents one receiver takes per poll (statuses: twice as many); the rest is left to the other
receivers of the system, so a burst is worked off in parallel."""


def _claim_some(items: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for item in items:
        if len(out) >= limit:
            break
        if _STATE.claim(item["docId"]):
            out.append(item)
    return out


def _envelope_failure(content: bytes | None, status: int, operation: str) -> str | None:
    """None when the reply is an OK envelope, else the failure message (prefixed ``hub: ``)."""
    head = (content or b"")[:200]
    if head.startswith(b'{"status":"OK","ErrorCode":"0"'):
        return None
    try:
        reply = json.loads(content or b"{}")
    except ValueError:
        return f"{operation}: HTTP {status}: the reply is not the JSON envelope"
    if isinstance(reply, dict) and reply.get("status") == "OK" and str(reply.get("ErrorCode")) == "0":
        return None
    code = reply.get("ErrorCode") if isinstance(reply, dict) else None
    desc = reply.get("ErrorDesc") if isinstance(reply, dict) else None
    return f"{_HUB_FAILURE}{operation} HTTP {status} ErrorCode={code}: {str(desc)[:160]}"


def _sender_rate() -> float:
    return _profile().sender_rate_per_user if _CFG else 1.0


class AgencySender(FastHttpUser):
    """A harness agency sending pre-signed documents (Poisson schedule, open loop)."""

    weight = 1
    connection_timeout = 10.0
    network_timeout = 120.0

    def on_start(self) -> None:
        self._rng = random.Random()
        now = time.monotonic()
        self._next_at = now + self._rng.expovariate(_sender_rate())
        gevent.sleep(self._next_at - now)  # no synchronised first sends when many users start at once

    def wait_time(self) -> float:
        now = time.monotonic()
        wait = self._next_at - now
        self._next_at = max(self._next_at, now - 1.0) + self._rng.expovariate(_sender_rate())
        return max(wait, 0.0)

    @task
    def send_document(self) -> None:
        if not _STATE.sending:  # the sending phase is over; Locust stops this user soon
            gevent.sleep(1.0)
            return
        i = _STATE.next_package()
        if i is None:
            if _STATE.exhausted == 1:
                _log.error("the corpus is used up: no package left to send (enlarge corpus_margin)")
            gevent.sleep(1.0)
            return
        body = _STATE.corpus_().body(i)
        with self.client.post(
            "/sendEdoc",
            data=body,  # type: ignore[arg-type]  # bytes bodies work
            headers=_STATE.headers[i],
            name="sendEdoc",
            catch_response=True,
        ) as response:
            problem = _envelope_failure(response.content, response.status_code, "sendEdoc")
            if problem is None and b'"DocId":""' in (response.content or b""):
                problem = f"{_HUB_FAILURE}sendEdoc answered OK with an empty DocId"
            if problem is None:
                response.success()
            else:
                response.failure(problem)


class AgencyReceiver(FastHttpUser):
    """The harness systems' receiving side: poll, fetch, answer 01 and 03, acknowledge."""

    fixed_count = int(_CFG.get("receivers", 1)) if _CFG else 1
    wait_time = constant(0)
    connection_timeout = 10.0
    network_timeout = 120.0

    def _call(
        self,
        system: str,
        operation: str,
        params: dict[str, str],
        *,
        body: bytes = b"",
        name: str | None = None,
        content_type: str = _JSON,
        file_hash: str | None = None,
    ) -> bytes | None:
        headers = sign_headers(
            params,
            system_id=system,
            secret=_STATE.secrets[system],
            timestamp=sdk_timestamp(dt.datetime.now()),
            content_type=content_type,
            hash_file=file_hash,
        )
        with self.client.post(
            f"/{operation}",
            data=body,  # type: ignore[arg-type]
            headers=headers,
            name=name or operation,
            catch_response=True,
        ) as response:
            problem = _envelope_failure(response.content, response.status_code, operation)
            if problem is not None:
                response.failure(problem)
                return None
            response.success()
            return response.content or b""

    def _list(self, system: str, messagetype: str) -> list[dict[str, Any]]:
        content = self._call(
            system,
            "getReceivedEdocList",
            {"servicetype": "eDoc", "messagetype": messagetype},
            name=f"getReceivedEdocList ({messagetype})",
        )
        if content is None:
            return []
        data = json.loads(content).get("data") or []
        return [item for item in data if isinstance(item, dict) and isinstance(item.get("docId"), str)]

    def _ack(self, system: str, doc_id: str, name: str) -> None:
        """updateStatus done; a failed one is retried at the next poll of the system."""
        if (
            self._call(system, "updateStatus", {"docId": doc_id, "status": "done"}, body=b"{}", name=name)
            is None
        ):
            _STATE.retry_acks.setdefault(system, []).append((doc_id, name))

    def _answer(self, system: str, item: dict[str, Any]) -> None:
        doc_id = item["docId"]
        content = self._call(system, "getEdoc", {"docId": doc_id}, body=b"{}")
        if content is None:
            _STATE.claimed.pop(doc_id, None)  # nothing answered yet: a later poll tries again
            return
        head = _document_head(content)
        fields = _header_fields(head) if head is not None else None
        if fields is None:
            raw = base64.b64decode(json.loads(content)["data"])
            fields = _header_fields(raw)
        reporter = str(item.get("to") or "")
        if fields is None or reporter not in _STATE.names:
            self._call(
                system,
                "updateStatus",
                {"docId": doc_id, "status": "fail", "description": "unreadable"},
                body=b"{}",
            )
            return
        for code in ("01", "03"):
            package = _STATE.template(reporter, code).fill(*fields)
            self._call(
                system,
                "sendEdoc",
                {"from": reporter, "servicetype": "eDoc", "messagetype": "status"},
                body=package + b"\r\n",
                name=f"sendEdoc (status {code})",
                content_type=_OCTETS,
                file_hash=hash_file(package),
            )
        self._ack(system, doc_id, "updateStatus")
        _STATE.answered += 1

    def _acknowledge_status(self, system: str, item: dict[str, Any]) -> None:
        doc_id = item["docId"]
        if self._call(system, "getEdoc", {"docId": doc_id}, body=b"{}", name="getEdoc (status)") is None:
            _STATE.claimed.pop(doc_id, None)
            return
        self._ack(system, doc_id, "updateStatus (status)")

    @task
    def poll(self) -> None:
        systems = _STATE.my_systems
        if not systems:
            gevent.sleep(1.0)
            return
        system = systems[_STATE.next_system % len(systems)]
        _STATE.next_system += 1
        lock = _STATE.list_locks[system]
        if not lock.acquire(blocking=False):
            gevent.sleep(0.05)
            return
        try:
            for doc_id, name in _STATE.retry_acks.pop(system, []):
                self._ack(system, doc_id, name)
            documents = _claim_some(self._list(system, "edoc"), _BATCH)
            statuses = _claim_some(self._list(system, "status"), 2 * _BATCH)
        finally:
            lock.release()
        for item in documents:
            self._answer(system, item)
        for item in statuses:
            self._acknowledge_status(system, item)
        if not documents and not statuses:
            gevent.sleep(_profile().poll_interval_s if _CFG else 1.0)


# ------------------------------------------------------------------------------------------- shape


class _Hub:
    """Read access to the hub's store (the master's view, for the drain and the SLOs)."""

    def __init__(self) -> None:
        self._store: Any = None
        self.tally: Any = None

    def store(self) -> Any:
        if self._store is None:
            from simulator.hub.sqlite_store import SqliteStore

            self._store = SqliteStore(Path(_CFG["store_path"]))
        return self._store

    def evidence_tally(self) -> Any:
        """The protocol calls counted so far (one tally for the run: each read resumes after the last)."""
        if self.tally is None:
            from simulator.load.slo import EvidenceTally

            self.tally = EvidenceTally()
        return self.tally

    def sut_pending(self) -> int:
        return int(self.store().count_received(_CFG["sut"]["system"], "edoc"))


_HUB = _Hub()


class _Run:
    started: dt.datetime | None = None
    shape: _shapes.ProfileShapeBase | None = None
    stop_sent = False


STOP_SENDING = "lienthong-stop-sending"
"""Message from the shape (master) to every process: the sending phase is over. Locust stops users at
the spawn rate, so without it hundreds of senders would go on sending into the drain for seconds."""


def _drained() -> bool:
    try:
        return _HUB.sut_pending() == 0
    except Exception as exc:  # the store is busy: not drained yet
        _log.warning("drain check failed: %s", exc)
        return False


def _gather(load_end: dt.datetime) -> Any:
    from simulator.load import slo

    assert _Run.started is not None
    return slo.gather(
        _HUB.store(),
        profile=_profile().name,
        started=_Run.started,
        load_end=load_end,
        sut_agencies=_CFG["sut"]["agencies"],
        harness_systems=[s["id"] for s in _CFG["harness_systems"]],
        priorities=_STATE.corpus_().priorities(),
        tally=_HUB.evidence_tally(),  # read on from where the last judgement stopped
    )


def _step_failed(index: int) -> bool:
    from simulator.load import slo

    assert _Run.started is not None and _Run.shape is not None
    stage = _Run.shape.stages[index]
    try:
        inputs = _gather(_Run.started + dt.timedelta(seconds=stage.end_s))
        windows = slo.step_windows([stage], _Run.started)
        verdict = slo.judge_steps(inputs, windows, _profile().slo, now=dt.datetime.now(dt.UTC))[0]
    except Exception as exc:
        _log.warning("could not judge %s: %s", stage.name, exc)
        return False
    _log.warning("stress %s (%.1f documents/s): %s", stage.name, windows[0].offered_docs_per_s,
                 "held" if verdict["passed"] else f"broke ({', '.join(verdict['failed'])})")  # fmt: skip
    if verdict["harness_limited"]:
        _log.warning(
            "stress %s: the hub accepted %.1f documents/s of %.1f: the load generator is the limit; stopping",
            stage.name,
            verdict["achieved_docs_per_s"],
            windows[0].offered_docs_per_s,
        )
    return bool(verdict["harness_limited"]) or not verdict["passed"]


class ProfileShape(LoadTestShape):
    """The run's profile shape: delegates to the shape class of the profile (built on the first tick)."""

    use_common_options = True

    def __init__(self) -> None:
        super().__init__()
        self._delegate: _shapes.ProfileShapeBase | None = None

    def delegate(self) -> _shapes.ProfileShapeBase:
        if self._delegate is None:
            profile = _profile()
            shape = _shapes.shape_for(
                profile,
                receivers=int(_CFG.get("receivers", profile.receivers)),
                drained=_drained,
                step_failed=_step_failed,
                clock=self.get_run_time,
            )
            self._delegate = shape
            _Run.shape = shape
        return self._delegate

    def reset_time(self) -> None:
        super().reset_time()
        _Run.started = None
        _Run.stop_sent = False
        if self._delegate is not None:
            self._delegate.reset_time()

    def get_run_time(self) -> float:
        return float(super().get_run_time())

    def tick(self) -> tuple[int, float] | None:
        shape = self.delegate()
        if _Run.started is None:
            _Run.started = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=self.get_run_time())
        tick = shape.tick()
        if shape.sending_ended_at is not None and not _Run.stop_sent and self.runner is not None:
            _Run.stop_sent = True
            self.runner.send_message(STOP_SENDING)
        return tick


# ------------------------------------------------------------------------------------------ events


@events.init.add_listener
def _on_init(environment: Environment, **_: Any) -> None:
    if not _CFG:
        raise SystemExit(f"{CONFIG_ENV} is not set: run this file through `lienthong load`")
    _profile()
    if not isinstance(environment.runner, MasterRunner):
        _STATE.corpus_()  # fail before the first user starts
        if environment.runner is not None:
            environment.runner.register_message(STOP_SENDING, _on_stop_sending)


def _on_stop_sending(environment: Environment, msg: Any, **_: Any) -> None:
    _STATE.sending = False


@events.test_start.add_listener
def _on_test_start(environment: Environment, **_: Any) -> None:
    runner = environment.runner
    if isinstance(runner, MasterRunner):
        return
    slot, slots = 0, 1
    if isinstance(runner, WorkerRunner):
        slots = int(_CFG.get("processes", 1)) or 1
        slot = max(runner.worker_index, 0) % slots
    _STATE.partition(slot, slots)
    _STATE.sending = True
    t0 = time.perf_counter()
    _STATE.precompute_headers()
    _log.info(
        "process %d/%d: %d packages, headers in %.2f s",
        slot,
        slots,
        len(_STATE.headers),
        time.perf_counter() - t0,
    )


def _transport_failures(environment: Environment) -> int:
    total = 0
    for error in environment.stats.errors.values():
        if _HUB_FAILURE not in str(error.error):
            total += error.occurrences
    return total


def _write_results(environment: Environment) -> int:
    from simulator.load import slo

    out = Path(_CFG["out_dir"])
    profile = _profile()
    shape = _Run.shape
    if _Run.started is None or shape is None:
        raise RuntimeError("the load shape never started: nothing was measured")
    load_end = _Run.started + dt.timedelta(
        seconds=shape.sending_ended_at if shape.sending_ended_at is not None else shape.load_s
    )
    inputs = _gather(load_end)
    inputs.transport_failures = _transport_failures(environment)
    document = slo.measure(inputs, profile.slo)
    stages = [s for s in shape.stages if s.start_s < (load_end - _Run.started).total_seconds()]
    plan: dict[str, Any] = {
        "profile": profile.as_dict(),
        "started": _Run.started.isoformat(timespec="milliseconds"),
        "load_end": load_end.isoformat(timespec="milliseconds"),
        "stages": [s.as_dict() for s in shape.stages],
        "events": shape.events,
        "receivers": shape.receivers,
        "peak_senders": profile.peak_senders,
    }
    if profile.shape == "stress":
        steps = slo.judge_steps(inputs, slo.step_windows(stages, _Run.started), profile.slo)
        document["steps"] = steps
        document["knee"] = slo.knee(steps)
    document["locust"] = {
        "requests": environment.stats.total.num_requests,
        "failures": environment.stats.total.num_failures,
        "transport_failures": inputs.transport_failures,
        "corpus_exhausted": _STATE.exhausted,
    }
    slo.write_slo(out / "slo.json", document)
    (out / "shape.json").write_text(json.dumps(plan, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return 0 if document["passed"] else 1


@events.quitting.add_listener
def _on_quitting(environment: Environment, **_: Any) -> None:
    if isinstance(environment.runner, WorkerRunner):
        return
    try:
        environment.process_exit_code = _write_results(environment)
    except Exception as exc:
        _log.exception("the service levels could not be measured: %s", exc)
        environment.process_exit_code = 3
