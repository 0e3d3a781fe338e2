"""Short CI versions of the load benchmarks (loadtests/): a real hub, a real Locust, real counts.

The long runs (20 s throughput per setting, a million stored packages) are the scripts themselves;
these check that the harness measures what it claims: every Locust success is a package the hub
committed (and the other way round), refusals surface as Locust failures and a non-zero exit code, and
the listing query stays on its partial index whatever the store holds.
"""

from __future__ import annotations

import hashlib
import math
import shutil
from pathlib import Path

import pytest

from loadtests._corpus import SIGNER_NAME, CorpusSpec, build_corpus, ensure_pki, load_corpus
from loadtests.bench_hub import (
    ThroughputResult,
    _Snap,
    histogram_percentiles,
    median,
    percentiles,
    pick_window,
    run_throughput,
    summarise_settings,
)
from loadtests.bench_listing import PENDING_INDEX, run_listing
from simulator.agency.signing import hash_file
from simulator.pki.ca import TestCA
from simulator.pki.dsig import Verifier


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(work dir, test CA dir, index of a 40-package corpus of ~10 KB signed packages)."""
    work = tmp_path_factory.mktemp("bench")
    pki = work / "pki"
    ensure_pki(pki)
    index = build_corpus(work / "corpus", CorpusSpec("smoke", 40, size=10_000), pki, procs=1)
    return work, pki, index


def test_corpus_packages_are_distinct_signed_and_hashed(bench: tuple[Path, Path, Path]) -> None:
    _, pki, index = bench
    corpus = load_corpus(index)
    assert len(corpus) == 40
    bodies = [corpus.body(i) for i in range(len(corpus))]
    assert all(b.endswith(b"\r\n") for b in bodies)
    packages = [b[:-2] for b in bodies]
    assert len({hashlib.sha256(p).digest() for p in packages}) == 40  # no duplicate for the hub
    assert abs(len(packages[0]) - 10_000) < 500
    for i in (0, 39):
        assert corpus.headers[i]["XroadVnpt-hash-file"] == hash_file(packages[i])
    verifier = Verifier(TestCA.open(pki).trust_store())
    result = verifier.verify(packages[7])
    assert result.ok, result.message
    assert SIGNER_NAME  # the corpus was signed with the bench credential of this CA
    # A second build with the same spec and CA reuses the files instead of re-signing.
    mtime = index.stat().st_mtime_ns
    assert build_corpus(index.parent, CorpusSpec("smoke", 40, size=10_000), pki, procs=1) == index
    assert index.stat().st_mtime_ns == mtime


def test_percentile_helpers() -> None:
    values = [float(v) for v in range(100, 0, -1)]  # 1..100 shuffled by reversing
    assert percentiles(values) == {"p50": 50.0, "p95": 95.0, "p99": 99.0}
    assert math.isnan(percentiles([])["p50"])
    # 90 requests at 10 ms, 9 at 20 ms, 1 at 300 ms: p50 10, p95 20, p99 20 (the 99th of 100), p100 300.
    hist = {"10": 90, "20": 9, "300": 1}
    assert histogram_percentiles(hist, (50, 95, 99, 100)) == {"p50": 10, "p95": 20, "p99": 20, "p100": 300}


def test_rounds_are_summarised_by_their_median_ratio_each_to_its_own_ceiling() -> None:
    assert median([3.0, 1.0, 2.0]) == 2.0 and median([4.0, 1.0, 3.0, 2.0]) == 2.5 and math.isnan(median([]))

    def run(workers: int, rate: float) -> ThroughputResult:
        return ThroughputResult(
            workers=workers, users=16, locust_processes=1, seconds=20, accepted_per_s=rate
        )

    rounds = [[run(2, 800), run(3, 700)], [run(2, 900), run(3, 950)], [run(2, 880), run(3, 600)]]
    ceilings = [2000.0, 2500.0, 2000.0]  # the second round ran on a faster machine
    two, three = summarise_settings(rounds, ceilings)
    assert (two.workers, two.rates, two.ratios) == (2, [800, 900, 880], [0.4, 0.36, 0.44])
    assert (two.median_per_s, two.median_ratio) == (880, 0.4)
    assert (three.ratios, three.median_ratio) == ([0.35, 0.38, 0.3], 0.35)
    no_ceiling = summarise_settings(rounds[:1], [None])
    assert no_ceiling[0].ratios == [] and no_ceiling[0].median_ratio is None


def test_steady_state_window_leaves_out_ramp_up_and_stop() -> None:
    # 8 warm-up packages before t=1; packages from t=1.5; no growth after t=9 (Locust stopping).
    counts = {0.0: 8, 1.0: 8, 1.5: 20, 2.0: 60, 3.0: 160, 4.0: 260, 8.0: 660, 9.0: 700, 9.5: 700, 10.0: 700}
    snaps = [_Snap(t, n, hub=t, locust=0.1 * t, busy=2 * t) for t, n in counts.items()]
    start, end = pick_window(snaps, warmup=2.0, baseline=8)
    assert start is not None and end is not None
    assert (start.t, end.t) == (4.0, 8.0)  # first package at 1.5 (+2 s); last growth at 9.0 (-1 s)
    assert pick_window(snaps[:2], warmup=2.0, baseline=8) == (None, None)  # nothing stored


def test_locust_successes_equal_packages_the_hub_stored(bench: tuple[Path, Path, Path]) -> None:
    work, pki, index = bench
    res = run_throughput(index, pki, work, workers=1, users=2, seconds=3, rate_per_user=4, warmup=0.5)
    assert res.locust_exit == 0
    assert res.locust_failures == 0 and res.refused == 0
    assert res.locust_requests >= 10  # ~2 users × 4/s × 3 s
    assert res.stored == res.locust_requests
    assert res.signature_valid == res.stored  # verified under the enforce policy
    assert res.duplicates == 0
    assert res.hub_cpu_s > 0 and res.locust_cpu_s > 0


def test_refused_packages_are_locust_failures(bench: tuple[Path, Path, Path], tmp_path: Path) -> None:
    """A hub trusting another CA refuses every package (enforce): Locust fails and exits non-zero."""
    _, _, index = bench
    other_pki = tmp_path / "other-pki"
    ensure_pki(other_pki)
    res = run_throughput(
        index, other_pki, tmp_path, workers=1, users=1, seconds=2, rate_per_user=3, warmup=0.5
    )
    assert res.stored == 0
    assert res.locust_requests > 0 and res.locust_failures == res.locust_requests
    assert res.refused == res.locust_requests  # the hub's evidence shows each refusal
    assert res.locust_exit == 1
    assert any("ErrorCode" in f for f in res.failures_sample)
    shutil.rmtree(tmp_path / "hub-w1-u1-p1", ignore_errors=True)


def test_listing_cost_does_not_grow_with_the_store(tmp_path: Path) -> None:
    report = run_listing([1_000, 20_000], 300, tmp_path, pending=15)
    assert report.problems == []
    for size in report.sizes:
        assert size.uses_index, size.plan
        assert any(PENDING_INDEX in line for line in size.plan)
        assert size.pending_measured == 15
        assert size.http_items == [15]  # every reply lists exactly the pending items, no acknowledged one
    assert report.sizes[1].pending_other > report.sizes[0].pending_other  # the other systems grow too
    # Thread CPU time: what the query costs, immune to this shared machine's preemptions (wall-clock
    # p99 of a 100 µs query is one descheduling away from 5 ms); HTTP requests take milliseconds.
    assert report.store_cpu_p99_ratio < 3
    assert report.http_p99_ratio < 3
