"""simulator/load/corpus.py: the draw of sizes, priorities, recipients and the SUT share; real signed
packages of the requested sizes; the on-disk cache (reuse, extension, invalidation)."""

from __future__ import annotations

import dataclasses
import hashlib
from collections import Counter
from pathlib import Path

import pytest

from simulator.agency.signing import hash_file
from simulator.edxml.model import DocumentPackage, Priority
from simulator.edxml.parser import parse
from simulator.load.corpus import (
    CorpusSpec,
    build_corpus,
    credential_name,
    ensure_credentials,
    load_corpus,
    plan_entry,
)
from simulator.load.profiles import SizeClass, load_profile
from simulator.pki.ca import TestCA
from simulator.pki.dsig import Verifier

HARNESS = (("000.00.01.H01", "sys.a"), ("000.00.02.H01", "sys.b"), ("000.00.03.H01", "sys.a"))
SUT = ("000.00.09.H09",)
MANY = tuple((f"000.00.{i:02d}.H02", f"sys.{i % 3}") for i in range(1, 31))


def _spec(**changes: object) -> CorpusSpec:
    profile = load_profile("province-peak")
    spec = CorpusSpec.for_profile(profile, MANY, SUT)
    return dataclasses.replace(spec, **changes)  # type: ignore[arg-type]


def test_the_draw_follows_the_profile_mixes() -> None:
    spec = _spec()
    plans = [plan_entry(spec, i) for i in range(4000)]
    # priorities: the profile's mix (0.80 normal, 0.13 khẩn, 0.05, 0.015, 0.005) within sampling noise
    counts = Counter(p.priority for p in plans)
    assert counts[Priority.NORMAL] / 4000 == pytest.approx(0.80, abs=0.03)
    assert counts[Priority.URGENT] / 4000 == pytest.approx(0.13, abs=0.02)
    assert counts[Priority.VERY_URGENT] / 4000 == pytest.approx(0.05, abs=0.015)
    # the SUT share (province-peak: 10 %) and exactly one SUT agency in those documents
    to_sut = [p for p in plans if p.to_sut]
    assert len(to_sut) / 4000 == pytest.approx(0.10, abs=0.015)
    for p in plans:
        assert sum(r in SUT for r in p.recipients) == int(p.to_sut)
        assert p.sender not in p.recipients
        assert len(set(p.recipients)) == len(p.recipients)
        assert dict(MANY)[p.sender] == p.system
    # recipients per document: mean 3.6 (nothing clamped with 29 possible harness recipients)
    assert sum(len(p.recipients) for p in plans) / 4000 == pytest.approx(3.6, abs=0.15)
    # sizes: inside their classes, mostly small, a few large
    assert all(5_000 <= p.target_bytes <= 5_000_000 for p in plans)
    assert sum(p.target_bytes <= 50_000 for p in plans) / 4000 == pytest.approx(0.70, abs=0.03)
    assert 0 < sum(p.target_bytes >= 2_000_000 for p in plans) < 60


def test_the_draw_is_a_function_of_seed_and_index() -> None:
    spec = _spec()
    assert plan_entry(spec, 17) == plan_entry(spec, 17)
    assert plan_entry(spec, 17) != plan_entry(spec, 18)
    other = _spec(seed=spec.seed + 1)
    assert [plan_entry(other, i) for i in range(20)] != [plan_entry(spec, i) for i in range(20)]
    assert other.key() != spec.key()


def test_few_agencies_clamp_the_recipients() -> None:
    spec = _spec(harness=HARNESS, sut_share=0.0)
    for i in range(200):
        p = plan_entry(spec, i)
        assert 1 <= len(p.recipients) <= 2 and not p.to_sut


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, CorpusSpec, Path]:
    work = tmp_path_factory.mktemp("corpus")
    pki = work / "pki"
    ca = TestCA.open(pki)
    ensure_credentials(ca, [code for code, _ in HARNESS], {"000.00.01.H01": "Sở Nội vụ"})
    spec = _spec(
        harness=HARNESS,
        sut_share=0.5,
        size_mix=(SizeClass(5_000, 12_000, 0.5), SizeClass(60_000, 80_000, 0.5)),
        recipients_mix=((1, 1.0), (2, 1.0)),
    )
    index = build_corpus(work / "cache", spec, 12, pki, procs=2)
    return work, spec, index


def test_packages_are_signed_distinct_and_as_planned(built: tuple[Path, CorpusSpec, Path]) -> None:
    work, spec, index = built
    corpus = load_corpus(index)
    assert len(corpus) == 12
    verifier = Verifier(TestCA.open(work / "pki").trust_store())
    digests = set()
    for i, entry in enumerate(corpus.entries):
        body = corpus.body(i)
        package = corpus.package(i)
        assert body == package + b"\r\n"  # the SDK's trailing CRLF
        assert entry.size == len(package) and entry.hash_file == hash_file(package)
        digests.add(hashlib.sha256(package).hexdigest())
        plan = plan_entry(spec, i)
        assert (entry.sender, entry.system, entry.recipients, entry.to_sut) == (
            plan.sender,
            plan.system,
            plan.recipients,
            plan.to_sut,
        )
        result = verifier.verify(package)
        assert result.ok and result.signed, result.message
        parsed = parse(package).package
        assert isinstance(parsed, DocumentPackage)
        assert parsed.header.document_id == entry.document_id
        assert parsed.header.priority == Priority(entry.priority)
        assert [o.organ_id for o in parsed.header.to] == list(entry.recipients)
        assert parsed.header.from_.organ_id == entry.sender
        # the signed size lands near the target (the smallest package is ~8 KB whatever the target)
        assert len(package) == pytest.approx(max(plan.target_bytes, 8_400), rel=0.06, abs=1_500)
    assert len(digests) == 12
    assert len({e.document_id for e in corpus.entries}) == 12


def test_the_cache_is_reused_extended_and_keyed(built: tuple[Path, CorpusSpec, Path]) -> None:
    work, spec, index = built
    before = index.read_bytes()
    first = load_corpus(index)
    old = [first.body(i) for i in range(12)]
    assert build_corpus(work / "cache", spec, 10, work / "pki") == index  # fewer: reused as is
    assert index.read_bytes() == before
    build_corpus(work / "cache", spec, 15, work / "pki", procs=1)  # more: the first 12 stay
    grown = load_corpus(index)
    assert len(grown) == 15
    assert [grown.body(i) for i in range(12)] == old
    assert load_corpus(index, limit=5).entries == grown.entries[:5]
    other = _spec(harness=HARNESS, sut_share=0.25, size_mix=spec.size_mix, recipients_mix=spec.recipients_mix)
    assert build_corpus(work / "cache", other, 2, work / "pki").parent != index.parent


def test_priorities_by_document_id(built: tuple[Path, CorpusSpec, Path]) -> None:
    corpus = load_corpus(built[2])
    mapping = corpus.priorities()
    assert mapping == {e.document_id: e.priority for e in corpus.entries}


def test_credentials_are_per_agency(built: tuple[Path, CorpusSpec, Path]) -> None:
    ca = TestCA.open(built[0] / "pki")
    names = {info.name for info in ca.list()}
    assert {credential_name(code) for code, _ in HARNESS} <= names
