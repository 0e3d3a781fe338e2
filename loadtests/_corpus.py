"""Pre-signed load-test corpora and the benchmark hub's configuration (shared by the loadtests/ tools).

A corpus is ``count`` distinct signed edXML packages of about ``size`` bytes from one sender agency
to fixed recipients, each with the complete SDK header set for its sendEdoc call already computed
(``simulator.agency.signing.sign_headers``; one timestamp for the whole corpus, as one SDK client
object would send). Nothing is signed during a run: Locust only slices bytes and sends them.

Files (in the corpus directory):

* ``<name>.bin``  — the request bodies back to back (package bytes + the SDK's trailing CRLF);
* ``<name>.json`` — the spec, the PKI fingerprint and one entry per package:
  ``{"offset", "length", "headers"}``.

Packages differ by a counter in their Subject (``BENCH#0000042``), so every package has its own
SHA-256 and the hub's duplicate detection never fires. They are signed (RSA-2048, exclusive C14N)
with a credential of the test CA in ``pki_dir``: the hub must use that CA as its trust store
(``data_dir/pki``). Signing is spread over worker processes; an existing corpus with the same spec and
the same CA is reused.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import mmap
import multiprocessing
import os
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simulator.agency.signing import hash_file, sdk_timestamp, sign_headers
from simulator.edxml.builder import build
from simulator.edxml.model import DocumentPackage, Organization
from simulator.edxml.samples import sample_document
from simulator.pki.ca import TestCA
from simulator.pki.dsig import sign

__all__ = [
    "AGENCIES",
    "LAT_RECIPIENT",
    "LAT_SYSTEM",
    "RECIPIENT",
    "RECV_SYSTEM",
    "SECRETS",
    "SENDER",
    "SEND_SYSTEM",
    "SIGNER_NAME",
    "CorpusSpec",
    "LoadedCorpus",
    "build_corpus",
    "call_headers",
    "ensure_pki",
    "hub_config_toml",
    "load_corpus",
    "write_hub_config",
]

# The benchmark hub's systems: one sender, a recipient for the throughput run and one for the latency
# run (so the latency recipient's pending list starts empty). Secrets are made up (NOT-REAL).
SEND_SYSTEM = "bench.send.01"
RECV_SYSTEM = "bench.recv.01"
LAT_SYSTEM = "bench.recv.02"
SENDER = "000.00.00.G22"
RECIPIENT = "000.00.00.H41"
LAT_RECIPIENT = "000.00.01.H41"
SECRETS = {
    SEND_SYSTEM: "BenchSecret-NOT-REAL-send-0123456789abcdef",
    RECV_SYSTEM: "BenchSecret-NOT-REAL-recv-fedcba9876543210",
    LAT_SYSTEM: "BenchSecret-NOT-REAL-late-00001111222233334",
}
AGENCIES = {
    SENDER: ("Văn phòng Chính phủ", SEND_SYSTEM),
    RECIPIENT: ("UBND tỉnh Thử nghiệm", RECV_SYSTEM),
    LAT_RECIPIENT: ("Sở Nội vụ tỉnh Thử nghiệm", LAT_SYSTEM),
}
SIGNER_NAME = "bench-sender"
_MARKER_FMT = "BENCH#{:07d}"
_MARKER0 = _MARKER_FMT.format(0).encode()
_CHUNK = 250


@dataclass(frozen=True, slots=True)
class CorpusSpec:
    """What to generate. ``size`` is the target size of one *signed* package in bytes (targets below the
    smallest package, about 7 KB with its signature, give the smallest one)."""

    name: str
    count: int
    size: int = 50_000
    sender: str = SENDER
    recipients: tuple[str, ...] = (RECIPIENT,)
    system_id: str = SEND_SYSTEM
    seed: int = 7

    def as_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["recipients"] = list(self.recipients)
        return d


def ensure_pki(pki_dir: Path) -> TestCA:
    """The test CA in ``pki_dir`` (created on first use) with the sender's signing credential issued."""
    ca = TestCA.open(pki_dir)
    ca.issue(SIGNER_NAME, organ_id=SENDER, common_name=AGENCIES[SENDER][0])
    return ca


def _fingerprint(pki_dir: Path) -> str:
    return hashlib.sha256((pki_dir / "root.pem").read_bytes()).hexdigest()[:16]


# ------------------------------------------------------------------------------------- hub config


def _q(text: str) -> str:
    return json.dumps(text)  # a JSON string is a valid TOML basic string


def hub_config_toml(data_dir: Path, *, signature: str = "enforce", list_limit: int = 1000) -> str:
    """The benchmark hub's TOML: the three bench systems, signature policy ``signature``, defaults else."""
    lines = [
        f"data_dir = {_q(str(data_dir))}",
        f"list_limit = {list_limit}",
        "",
        "[policies]",
        f"signature = {_q(signature)}",
        'duplicates = "deliver"',
        'validation = "lenient"',
    ]
    for system, secret in SECRETS.items():
        codes = [c for c, (_, s) in AGENCIES.items() if s == system]
        lines += ["", "[[systems]]", f"id = {_q(system)}", f"secret = {_q(secret)}"]
        lines.append("agencies = [" + ", ".join(_q(c) for c in codes) + "]")
    for i, (code, (name, _)) in enumerate(AGENCIES.items()):
        lines += ["", "[[agencies]]", f"code = {_q(code)}", f"name = {_q(name)}"]
        lines.append(f"mail = {_q(f'vt{i}@bench.gov.vn')}")
    return "\n".join(lines) + "\n"


def write_hub_config(path: Path, data_dir: Path, **kw: Any) -> Path:
    path.write_text(hub_config_toml(data_dir, **kw), encoding="utf-8")
    return path


def call_headers(
    system_id: str, params: dict[str, str], *, content_type: str = "application/json"
) -> dict[str, str]:
    """Signed headers for a non-upload call (getReceivedEdocList, updateStatus, …) of a bench system."""
    return sign_headers(
        params,
        system_id=system_id,
        secret=SECRETS[system_id],
        timestamp=sdk_timestamp(dt.datetime.now()),
        content_type=content_type,
    )


# ---------------------------------------------------------------------------------------- building


def _org(code: str) -> Organization:
    return Organization(organ_id=code, organ_name=AGENCIES.get(code, ("Cơ quan thử nghiệm", ""))[0])


def _package(spec: CorpusSpec, attachment_size: int) -> DocumentPackage:
    pkg = sample_document(
        seed=spec.seed,
        sender=_org(spec.sender),
        recipients=[_org(r) for r in spec.recipients],
        attachment_size=attachment_size,
        at=dt.datetime(2026, 11, 23, 8, 0, 0),
    )
    pkg.header = dataclasses.replace(pkg.header, subject=f"{_MARKER0.decode()} {pkg.header.subject}")
    return pkg


def _base_bytes(spec: CorpusSpec, signer: Any) -> bytes:
    """Unsigned package bytes whose signed form is about ``spec.size`` bytes (two-point linear fit)."""

    def signed_size(att: int) -> int:
        return len(sign(build(_package(spec, att)), signer))

    a0, a1 = 1_000, 20_000
    s0, s1 = signed_size(a0), signed_size(a1)
    slope = (s1 - s0) / (a1 - a0)
    att = max(int(a0 + (spec.size - s0) / slope), 0)
    att = max(int(att + (spec.size - signed_size(att)) / slope), 0)
    data = build(_package(spec, att))
    if data.count(_MARKER0) != 1:
        raise RuntimeError(f"the corpus marker {_MARKER0!r} must occur exactly once in the base package")
    return data


def _sign_range(pki_dir: str, base: bytes, start: int, stop: int) -> list[bytes]:
    credential = TestCA.open(Path(pki_dir)).credential(SIGNER_NAME)
    return [
        sign(base.replace(_MARKER0, _MARKER_FMT.format(i).encode()), credential) for i in range(start, stop)
    ]


def build_corpus(directory: Path, spec: CorpusSpec, pki_dir: Path, *, procs: int = 2) -> Path:
    """Write (or reuse) the corpus ``spec`` in ``directory``; returns the path of its JSON index."""
    directory.mkdir(parents=True, exist_ok=True)
    index_path = directory / f"{spec.name}.json"
    blob_path = directory / f"{spec.name}.bin"
    fingerprint = _fingerprint(pki_dir)
    if index_path.is_file() and blob_path.is_file():
        try:
            meta = json.loads(index_path.read_text(encoding="utf-8"))
        except ValueError:
            meta = {}
        if meta.get("spec") == spec.as_dict() and meta.get("pki") == fingerprint:
            return index_path
    ca = ensure_pki(pki_dir)
    base = _base_bytes(spec, ca.credential(SIGNER_NAME))
    timestamp = sdk_timestamp(dt.datetime.now())
    params = {"from": spec.sender, "servicetype": "eDoc", "messagetype": "edoc"}
    ranges = [(s, min(s + _CHUNK, spec.count)) for s in range(0, spec.count, _CHUNK)]
    entries: list[dict[str, Any]] = []
    offset = 0
    t0 = time.perf_counter()
    ctx = multiprocessing.get_context("fork")
    with open(blob_path, "wb") as out, ProcessPoolExecutor(max(procs, 1), mp_context=ctx) as pool:
        futures = [pool.submit(_sign_range, str(pki_dir), base, s, e) for s, e in ranges]
        for fut in futures:
            for data in fut.result():
                headers = sign_headers(
                    params,
                    system_id=spec.system_id,
                    secret=SECRETS[spec.system_id],
                    timestamp=timestamp,
                    content_type="application/octet-stream",
                    hash_file=hash_file(data),
                )
                body = data + b"\r\n"
                out.write(body)
                entries.append({"offset": offset, "length": len(body), "headers": headers})
                offset += len(body)
    meta = {
        "spec": spec.as_dict(),
        "pki": fingerprint,
        "package_bytes": entries[0]["length"] - 2 if entries else 0,
        "seconds": round(time.perf_counter() - t0, 2),
        "entries": entries,
    }
    tmp = index_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(meta, separators=(",", ":")), encoding="utf-8")
    os.replace(tmp, index_path)
    return index_path


# ----------------------------------------------------------------------------------------- reading


@dataclass(slots=True)
class LoadedCorpus:
    """A corpus opened for sending: bodies are sliced from a shared read-only mmap of the ``.bin``."""

    spec: dict[str, Any]
    package_bytes: int
    offsets: list[tuple[int, int]]
    headers: list[dict[str, str]]
    _map: mmap.mmap = field(repr=False)

    def __len__(self) -> int:
        return len(self.offsets)

    def body(self, i: int) -> bytes:
        off, length = self.offsets[i]
        return self._map[off : off + length]

    def item(self, i: int) -> tuple[bytes, dict[str, str]]:
        return self.body(i), self.headers[i]

    def items(self, indexes: Sequence[int] | None = None) -> Iterator[tuple[bytes, dict[str, str]]]:
        for i in range(len(self)) if indexes is None else indexes:
            yield self.item(i)


def load_corpus(index_path: Path) -> LoadedCorpus:
    meta = json.loads(Path(index_path).read_text(encoding="utf-8"))
    blob = Path(index_path).with_suffix(".bin")
    with open(blob, "rb") as fh:
        mapped = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    entries = meta["entries"]
    return LoadedCorpus(
        spec=meta["spec"],
        package_bytes=int(meta["package_bytes"]),
        offsets=[(int(e["offset"]), int(e["length"])) for e in entries],
        headers=[e["headers"] for e in entries],
        _map=mapped,
    )
