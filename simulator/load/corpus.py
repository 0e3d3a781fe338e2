"""Pre-signed document corpora for load runs, cached on disk by their parameters.

A corpus is a numbered series of distinct, signed edXML document packages from the harness's agencies:
package ``i`` is drawn deterministically from ``(seed, i)`` — its signed size (a size class by weight,
then log-uniform inside it), its priority, its number of recipients, whether one of the SUT's agencies
is among them (``sut_share``), the sending agency and the recipients — then built, given the unique
number ``i + 1`` (so that every DocumentId differs) and signed (RSA-SHA256, exclusive C14N) with the
sending agency's credential ``load-<code>`` of the test CA. Nothing is signed during a run.

Files in the corpus directory (``<cache>/<spec key>/``):

* ``packages.bin`` — the sendEdoc bodies back to back (package bytes + the SDK's trailing CRLF);
* ``index.json`` — the spec, the CA fingerprint and one entry per package (:class:`CorpusEntry`).

An existing corpus with the same spec and CA is reused; when a run needs more packages than it holds,
the missing ones are generated and appended (packages are a function of their number, so a corpus
grown in two steps equals one generated at once). Generation is spread over worker processes.
The sendEdoc headers are *not* stored: they hold the system's secret and a timestamp, and are computed
once per package when the Locust file starts (:func:`simulator.agency.signing.sign_headers`).
"""

from __future__ import annotations

import bisect
import datetime as dt
import hashlib
import json
import math
import mmap
import multiprocessing
import os
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simulator.agency.signing import hash_file
from simulator.edxml.builder import build
from simulator.edxml.identifiers import format_document_id
from simulator.edxml.model import Code, DocumentPackage, Organization, Priority
from simulator.load.profiles import LoadProfile, SizeClass

__all__ = [
    "CORPUS_VERSION",
    "CorpusEntry",
    "CorpusSpec",
    "EntryPlan",
    "LoadedCorpus",
    "build_corpus",
    "credential_name",
    "describe",
    "ensure_credentials",
    "load_corpus",
    "plan_entry",
]

CORPUS_VERSION = 1
INDEX_NAME = "index.json"
BLOB_NAME = "packages.bin"
_CHUNK = 40
_BASE_BYTES = 8_400  # a signed package without attachment (header, signature, certificate)
_B64 = 4 / 3  # the attachment is base64 inside the package (stored ZIP: a few bytes of framing)


def credential_name(code: str) -> str:
    """Name of an agency's signing credential in the test CA."""
    return f"load-{code}"


@dataclass(frozen=True, slots=True)
class CorpusSpec:
    """What to generate. ``harness``: (agency code, system id) of every harness agency (senders and
    recipients); ``sut_agencies``: the SUT's agency codes; ``names``: directory names by code."""

    seed: int
    size_mix: tuple[SizeClass, ...]
    priority_mix: tuple[tuple[Priority, float], ...]
    recipients_mix: tuple[tuple[int, float], ...]
    sut_share: float
    harness: tuple[tuple[str, str], ...]
    sut_agencies: tuple[str, ...]
    names: tuple[tuple[str, str], ...] = ()

    @classmethod
    def for_profile(
        cls,
        profile: LoadProfile,
        harness: Sequence[tuple[str, str]],
        sut_agencies: Sequence[str],
        names: Mapping[str, str] | None = None,
    ) -> CorpusSpec:
        return cls(
            seed=profile.corpus_seed,
            size_mix=profile.size_mix,
            priority_mix=profile.priority_mix,
            recipients_mix=profile.recipients_mix,
            sut_share=profile.sut_share,
            harness=tuple((c, s) for c, s in harness),
            sut_agencies=tuple(sut_agencies),
            names=tuple(sorted((names or {}).items())),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": CORPUS_VERSION,
            "seed": self.seed,
            "size_mix": [[c.min_bytes, c.max_bytes, c.weight] for c in self.size_mix],
            "priority_mix": [[int(p), w] for p, w in self.priority_mix],
            "recipients_mix": [[n, w] for n, w in self.recipients_mix],
            "sut_share": self.sut_share,
            "harness": [list(h) for h in self.harness],
            "sut_agencies": list(self.sut_agencies),
            "names": [list(n) for n in self.names],
        }

    def key(self) -> str:
        """A short digest of the spec: the name of its cache directory."""
        text = json.dumps(self.as_dict(), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class EntryPlan:
    """What package ``index`` will be (before building and signing)."""

    index: int
    target_bytes: int
    priority: Priority
    sender: str
    system: str
    recipients: tuple[str, ...]
    to_sut: bool


@dataclass(frozen=True, slots=True)
class CorpusEntry:
    """One pre-signed package. ``hash_file``: the SDK's unpadded SHA-256 hex of the package bytes;
    ``length``: of the body in ``packages.bin`` (package + CRLF); ``size``: of the package alone."""

    index: int
    offset: int
    length: int
    size: int
    hash_file: str
    document_id: str
    sender: str
    system: str
    priority: int
    to_sut: bool
    recipients: tuple[str, ...]

    def as_row(self) -> list[Any]:
        return [
            self.offset,
            self.length,
            self.size,
            self.hash_file,
            self.document_id,
            self.sender,
            self.system,
            self.priority,
            int(self.to_sut),
            ";".join(self.recipients),
        ]

    @classmethod
    def from_row(cls, index: int, row: Sequence[Any]) -> CorpusEntry:
        return cls(
            index=index,
            offset=int(row[0]),
            length=int(row[1]),
            size=int(row[2]),
            hash_file=str(row[3]),
            document_id=str(row[4]),
            sender=str(row[5]),
            system=str(row[6]),
            priority=int(row[7]),
            to_sut=bool(row[8]),
            recipients=tuple(str(row[9]).split(";")) if row[9] else (),
        )


# ------------------------------------------------------------------------------------------ planning


def _pick(rng: random.Random, cumulative: Sequence[float], total: float) -> int:
    return min(bisect.bisect_right(cumulative, rng.random() * total), len(cumulative) - 1)


def _cumulative(weights: Iterable[float]) -> tuple[list[float], float]:
    out: list[float] = []
    acc = 0.0
    for w in weights:
        acc += w
        out.append(acc)
    return out, acc


def plan_entry(spec: CorpusSpec, index: int) -> EntryPlan:
    """Package ``index`` of the corpus ``spec``: a pure function of ``(spec, index)``."""
    rng = random.Random(f"{spec.seed}:{index}")
    sizes, size_total = _cumulative(c.weight for c in spec.size_mix)
    cls = spec.size_mix[_pick(rng, sizes, size_total)]
    lo, hi = math.log(cls.min_bytes), math.log(cls.max_bytes)
    target = int(math.exp(lo + (hi - lo) * rng.random()))
    prios, prio_total = _cumulative(w for _, w in spec.priority_mix)
    priority = spec.priority_mix[_pick(rng, prios, prio_total)][0]
    counts, count_total = _cumulative(w for _, w in spec.recipients_mix)
    wanted = spec.recipients_mix[_pick(rng, counts, count_total)][0]
    to_sut = bool(spec.sut_agencies) and rng.random() < spec.sut_share
    sender, system = spec.harness[rng.randrange(len(spec.harness))]
    others = [code for code, _ in spec.harness if code != sender]
    n_harness = min(wanted - 1 if to_sut else wanted, len(others))
    recipients = rng.sample(others, n_harness)
    if to_sut:
        recipients.insert(rng.randrange(len(recipients) + 1), rng.choice(spec.sut_agencies))
    if not recipients:  # a single harness agency and no SUT recipient: cannot happen with ≥ 2 agencies
        raise ValueError("a corpus needs at least two harness agencies, or a SUT agency to send to")
    return EntryPlan(index, target, priority, sender, system, tuple(recipients), to_sut)


# ------------------------------------------------------------------------------------------ building


def ensure_credentials(ca: Any, codes: Iterable[str], names: Mapping[str, str] | None = None) -> None:
    """Issue (once; kept in the CA directory) the signing credential of every agency in ``codes``."""
    for code in codes:
        ca.issue(credential_name(code), organ_id=code, common_name=(names or {}).get(code) or code)


def _attachment_size(target: int) -> int:
    return max(int((target - _BASE_BYTES) / _B64), 0)


_worker: dict[str, Any] = {}


def _init_worker(pki_dir: str) -> None:
    from simulator.edxml.fake import make_faker
    from simulator.pki.ca import TestCA

    _worker["ca"] = TestCA.open(Path(pki_dir))
    _worker["fake"] = make_faker(0)
    _worker["credentials"] = {}


def _organization(code: str, names: Mapping[str, str]) -> Organization:
    return Organization(organ_id=code, organ_name=names.get(code) or f"Cơ quan {code}")


def _make_package(spec: CorpusSpec, plan: EntryPlan, at: dt.datetime) -> DocumentPackage:
    from simulator.edxml.samples import sample_document

    fake = _worker["fake"]
    fake.seed_instance(f"{spec.seed}:{plan.index}")
    names = dict(spec.names)
    pkg = sample_document(
        fake,
        sender=_organization(plan.sender, names),
        recipients=[_organization(c, names) for c in plan.recipients],
        priority=plan.priority,
        attachment_size=_attachment_size(plan.target_bytes),
        at=at,
    )
    # A unique number per package: DocumentIds never repeat within a corpus (nor do SHA-256s).
    header = pkg.header
    number = str(plan.index + 1)
    notation = header.code.code_notation if header.code is not None else None
    date = header.promulgation_info.promulgation_date if header.promulgation_info else at.date()
    assert date is not None
    document_id = format_document_id(plan.sender, date, number, notation)
    header.code = Code(number, notation or "")
    header.document_id = document_id
    if pkg.trace is not None and pkg.trace.business is not None:
        pkg.trace.business.document_id = document_id
    return pkg


def _generate(
    spec: CorpusSpec, indexes: Sequence[int], at_iso: str
) -> list[tuple[EntryPlan, bytes, str, str]]:
    """(plan, signed package, hash-file, DocumentId) of each index (in a worker process)."""
    from simulator.pki.dsig import sign

    at = dt.datetime.fromisoformat(at_iso)
    out: list[tuple[EntryPlan, bytes, str, str]] = []
    credentials: dict[str, Any] = _worker["credentials"]
    for index in indexes:
        plan = plan_entry(spec, index)
        credential = credentials.get(plan.sender)
        if credential is None:
            credential = credentials[plan.sender] = _worker["ca"].credential(credential_name(plan.sender))
        pkg = _make_package(spec, plan, at)
        data = sign(build(pkg), credential)
        out.append((plan, data, hash_file(data), pkg.header.document_id))
    return out


def _fingerprint(pki_dir: Path) -> str:
    return hashlib.sha256((pki_dir / "root.pem").read_bytes()).hexdigest()[:16]


def _read_index(path: Path) -> dict[str, Any] | None:
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


def build_corpus(
    cache_dir: Path,
    spec: CorpusSpec,
    count: int,
    pki_dir: Path,
    *,
    procs: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """At least ``count`` packages of ``spec`` in ``cache_dir/<spec key>/`` (generated, extended or
    reused); returns the index path. The credentials must exist (:func:`ensure_credentials`)."""
    if count < 1:
        raise ValueError(f"a corpus needs at least one package, got count={count}")
    directory = Path(cache_dir) / spec.key()
    directory.mkdir(parents=True, exist_ok=True)
    index_path = directory / INDEX_NAME
    blob_path = directory / BLOB_NAME
    fingerprint = _fingerprint(pki_dir)
    meta = _read_index(index_path)
    rows: list[list[Any]] = []
    offset = 0
    if (
        meta is not None
        and meta.get("spec") == spec.as_dict()
        and meta.get("pki") == fingerprint
        and blob_path.is_file()
    ):
        rows = list(meta.get("entries", []))
        if rows:
            offset = int(rows[-1][0]) + int(rows[-1][1])
        if blob_path.stat().st_size < offset:  # the blob lost its tail: start again
            rows, offset = [], 0
    if len(rows) >= count:
        if progress is not None:
            progress(count, count)
        return index_path
    start = len(rows)
    todo = list(range(start, count))
    chunks = [todo[i : i + _CHUNK] for i in range(0, len(todo), _CHUNK)]
    at = dt.datetime.now().astimezone().replace(microsecond=0).isoformat()
    workers = max(1, min(procs or os.cpu_count() or 1, len(chunks)))
    t0 = time.perf_counter()
    ctx = multiprocessing.get_context("fork")
    done = start
    with open(blob_path, "r+b" if start and blob_path.exists() else "wb") as out:
        out.truncate(offset)
        out.seek(offset)
        with ProcessPoolExecutor(
            workers, mp_context=ctx, initializer=_init_worker, initargs=(str(pki_dir),)
        ) as pool:
            futures = [pool.submit(_generate, spec, chunk, at) for chunk in chunks]
            for fut in futures:
                for plan, data, digest, document_id in fut.result():
                    body = data + b"\r\n"
                    out.write(body)
                    entry = CorpusEntry(
                        index=plan.index,
                        offset=offset,
                        length=len(body),
                        size=len(data),
                        hash_file=digest,
                        document_id=document_id,
                        sender=plan.sender,
                        system=plan.system,
                        priority=int(plan.priority),
                        to_sut=plan.to_sut,
                        recipients=plan.recipients,
                    )
                    rows.append(entry.as_row())
                    offset += len(body)
                    done += 1
                if progress is not None:
                    progress(done, count)
    meta = {
        "spec": spec.as_dict(),
        "pki": fingerprint,
        "generated_at": at,
        "seconds": round(time.perf_counter() - t0, 2),
        "columns": [
            "offset",
            "length",
            "size",
            "hash_file",
            "document_id",
            "sender",
            "system",
            "priority",
            "to_sut",
            "recipients",
        ],
        "entries": rows,
    }
    tmp = index_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(meta, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
    os.replace(tmp, index_path)
    return index_path


# ------------------------------------------------------------------------------------------- reading


@dataclass(slots=True)
class LoadedCorpus:
    """A corpus opened for sending: bodies are sliced from a read-only mmap of ``packages.bin``."""

    spec: dict[str, Any]
    entries: list[CorpusEntry]
    path: Path
    _map: mmap.mmap | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.entries)

    def body(self, i: int) -> bytes:
        """The sendEdoc body of package ``i`` (package bytes + CRLF)."""
        if self._map is None:
            with open(self.path.parent / BLOB_NAME, "rb") as fh:
                self._map = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        e = self.entries[i]
        return self._map[e.offset : e.offset + e.length]

    def package(self, i: int) -> bytes:
        """Package ``i`` alone (without the trailing CRLF)."""
        return self.body(i)[:-2]

    def priorities(self) -> dict[str, int]:
        """DocumentId → OtherInfo/Priority of every package."""
        return {e.document_id: e.priority for e in self.entries}

    def close(self) -> None:
        if self._map is not None:
            self._map.close()
            self._map = None


def load_corpus(index_path: Path | str, *, limit: int | None = None) -> LoadedCorpus:
    """Open a corpus index (the first ``limit`` packages when given)."""
    path = Path(index_path)
    meta = json.loads(path.read_text(encoding="utf-8"))
    rows = meta["entries"] if limit is None else meta["entries"][:limit]
    entries = [CorpusEntry.from_row(i, row) for i, row in enumerate(rows)]
    return LoadedCorpus(spec=meta["spec"], entries=entries, path=path)


def describe(corpus: LoadedCorpus) -> dict[str, Any]:
    """Counts for the run log: packages, bytes, share to the SUT, priority mix."""
    sizes = [e.size for e in corpus.entries]
    prios: dict[int, int] = {}
    for e in corpus.entries:
        prios[e.priority] = prios.get(e.priority, 0) + 1
    return {
        "packages": len(sizes),
        "bytes": sum(sizes),
        "min_bytes": min(sizes, default=0),
        "max_bytes": max(sizes, default=0),
        "to_sut": sum(1 for e in corpus.entries if e.to_sut),
        "priorities": {Priority(p).name.lower(): n for p, n in sorted(prios.items())},
    }
