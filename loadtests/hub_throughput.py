"""Locust: agencies pushing pre-signed edXML packages to the hub's sendEdoc as fast as it takes them.

    LIENTHONG_BENCH_CORPUS=corpus/throughput.json \\
    locust -f loadtests/hub_throughput.py --headless --host http://127.0.0.1:8080 -u 32 -r 32 -t 20s

``loadtests/bench_hub.py`` builds the corpus (see ``loadtests/_corpus.py``), starts the hub, runs this
file and counts what the hub stored. Each request sends the next corpus package with its headers as
pre-computed (never any signing or key loading during the run). With ``--processes N`` the corpus
is split between the worker processes (package ``i`` goes to process ``i % N``), so no two requests
carry the same bytes; only when a process has used up its share does it start over, and the number of
such repeats is printed at the end (they would be duplicates to the hub, which is not what a
throughput figure should measure: make the corpus larger).

A reply counts as a success only when it is the VXP envelope with ``status="OK"``, ``ErrorCode="0"``
and a non-empty ``DocId`` (the SDK ignores the HTTP status; so does this check, after recording it).

Environment:
  LIENTHONG_BENCH_CORPUS          the corpus index (JSON) — required
  LIENTHONG_BENCH_RATE            requests per second per user (constant throughput); unset = closed loop
  LIENTHONG_BENCH_MAX_FAIL_RATIO  exit code 1 when the failure ratio is above this (default 0: any failure)
  LIENTHONG_BENCH_MAX_P99_MS      exit code 1 when sendEdoc's p99 is above this (default: no bound)
  LIENTHONG_BENCH_MIN_RPS         exit code 1 when the mean sendEdoc rate is below this (default: no bound)
  LIENTHONG_BENCH_REPORT          write the failure messages (with counts) and the verdict there as JSON
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from locust import FastHttpUser, constant, constant_throughput, events, task
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from loadtests._corpus import LoadedCorpus, load_corpus

__all__ = ["HubSender"]

_log = logging.getLogger("lienthong.bench")
CORPUS_ENV = "LIENTHONG_BENCH_CORPUS"
_state: dict[str, Any] = {"corpus": None, "slot": 0, "slots": 1, "repeats": 0}
_counter = itertools.count()


def _corpus() -> LoadedCorpus:
    corpus = _state["corpus"]
    if corpus is None:
        path = os.environ.get(CORPUS_ENV)
        if not path:
            raise SystemExit(
                f"{CORPUS_ENV} is not set: point it at a corpus index built by loadtests/_corpus.py"
            )
        corpus = load_corpus(Path(path))
        _state["corpus"] = corpus
    return corpus


def _env_float(name: str) -> float | None:
    raw = os.environ.get(name)
    return float(raw) if raw else None


@events.init.add_listener
def _on_init(environment: Environment, **_: Any) -> None:
    if isinstance(environment.runner, MasterRunner):
        return
    _corpus()  # load (and fail) before the first user starts


@events.test_start.add_listener
def _on_start(environment: Environment, **_: Any) -> None:
    runner = environment.runner
    if isinstance(runner, MasterRunner):
        return
    slots = 1
    if isinstance(runner, WorkerRunner):
        options = environment.parsed_options
        processes = int(getattr(options, "processes", 1) or 1) if options is not None else 1
        slots = processes if processes > 0 else os.cpu_count() or 1
        _state["slot"] = max(runner.worker_index, 0) % slots
    _state["slots"] = slots


def _next_package() -> tuple[bytes, dict[str, str]]:
    corpus = _corpus()
    slot, slots = int(_state["slot"]), int(_state["slots"])
    share = max((len(corpus) - slot + slots - 1) // slots, 1)
    k = next(_counter)
    if k and k % share == 0:
        _state["repeats"] += 1
    return corpus.item(slot + slots * (k % share))


_RATE = _env_float("LIENTHONG_BENCH_RATE")


class HubSender(FastHttpUser):
    """One QLVB's sending thread: sendEdoc back to back (or at LIENTHONG_BENCH_RATE per second)."""

    wait_time = constant_throughput(_RATE) if _RATE else constant(0)
    connection_timeout = 10.0
    network_timeout = 60.0

    @task
    def send_edoc(self) -> None:
        body, headers = _next_package()
        with self.client.post(  # bytes bodies work; Locust's annotation says str | dict
            "/sendEdoc",
            data=body,  # type: ignore[arg-type]
            headers=headers,
            name="sendEdoc",
            catch_response=True,
        ) as response:
            try:
                reply = json.loads(response.content or b"{}")
            except ValueError:
                response.failure(f"HTTP {response.status_code}: the reply is not JSON")
                return
            if reply.get("status") == "OK" and reply.get("ErrorCode") == "0" and reply.get("DocId"):
                response.success()
            else:
                code, desc = reply.get("ErrorCode"), reply.get("ErrorDesc")
                response.failure(f"HTTP {response.status_code} ErrorCode={code}: {desc}")


@events.quitting.add_listener
def _on_quitting(environment: Environment, **_: Any) -> None:
    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        if _state["repeats"]:
            _log.warning(
                "corpus share used up %d time(s): later requests repeated packages", _state["repeats"]
            )
        return
    if _state["repeats"]:
        _log.warning("corpus used up %d time(s): later requests repeated packages", _state["repeats"])
    total = environment.stats.total
    reasons: list[str] = []
    max_fail = _env_float("LIENTHONG_BENCH_MAX_FAIL_RATIO") or 0.0
    if total.num_requests and total.fail_ratio > max_fail:
        reasons.append(f"failure ratio {total.fail_ratio:.4f} > {max_fail}")
    max_p99 = _env_float("LIENTHONG_BENCH_MAX_P99_MS")
    p99 = total.get_response_time_percentile(0.99) if total.num_requests else 0
    if max_p99 is not None and p99 > max_p99:
        reasons.append(f"p99 {p99:.0f} ms > {max_p99:.0f} ms")
    min_rps = _env_float("LIENTHONG_BENCH_MIN_RPS")
    if min_rps is not None and total.total_rps < min_rps:
        reasons.append(f"{total.total_rps:.1f} requests/s < {min_rps:.1f}")
    if reasons:
        _log.error("thresholds missed: %s", "; ".join(reasons))
        environment.process_exit_code = 1
    else:
        environment.process_exit_code = 0
    report = os.environ.get("LIENTHONG_BENCH_REPORT")
    if report:
        errors = sorted(environment.stats.errors.values(), key=lambda e: -e.occurrences)
        Path(report).write_text(
            json.dumps(
                {
                    "failures": [{"occurrences": e.occurrences, "error": str(e.error)} for e in errors],
                    "thresholds_missed": reasons,
                    "corpus_repeats": _state["repeats"],
                },
                ensure_ascii=False,
                indent=1,
            ),
            encoding="utf-8",
        )
