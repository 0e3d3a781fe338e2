#!/usr/bin/env python3
"""Micro-benchmark of the edXML hot paths, one process (= per-core rates).

    python loadtests/bench_edxml.py [--seconds 3] [--size 50000] [--json]

Measures, on a signed package of about ``--size`` bytes:
  build+sign      build the package from the model (simulator.edxml.builder) and sign it (RSA-2048)
  sign            sign already-built bytes (RSA-2048)
  parse+validate  simulator.edxml.parser.parse + simulator.edxml.validator.validate
  verify-fast     Verifier(engine="fast") on the signed bytes (RSA-SHA256, full chain + CRL check)
  verify-signxml  Verifier(engine="signxml") on the same bytes
  verify-fast-ec  the fast engine on an ECDSA P-256 signature

Steps whose module is not there yet are skipped with a note. The test CA lives in a temporary
directory (pass --ca-dir to reuse one). Compare with /work/shared/bench/ceiling.py, run in the same
session, since the machine is shared: the load average is printed with the results.
"""

from __future__ import annotations

import argparse
import base64
import importlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lxml import etree

from simulator.pki.ca import TestCA
from simulator.pki.dsig import Verifier, sign

NS = "http://www.mic.gov.vn/TBT/QCVN_102_2016"


def _optional(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def _lxml_sample(size: int) -> bytes:
    """A package in the edXML namespace layout, used when the builder is not available."""
    e = etree.SubElement
    root = etree.Element(f"{{{NS}}}edXML", nsmap={None: NS})  # type: ignore[dict-item]
    env = e(root, f"{{{NS}}}edXMLEnvelope", nsmap={"edXML": NS})
    hdr = e(env, f"{{{NS}}}edXMLHeader")
    mh = e(hdr, f"{{{NS}}}MessageHeader")
    e(mh, f"{{{NS}}}Subject").text = "V/v thử nghiệm liên thông"
    th = e(e(hdr, f"{{{NS}}}TraceHeaderList"), f"{{{NS}}}TraceHeader")
    e(th, f"{{{NS}}}OrganId").text = "000.00.00.G22"
    e(e(env, f"{{{NS}}}edXMLBody"), f"{{{NS}}}edXMLManifest", version="1.0")
    att = e(e(root, f"{{{NS}}}AttachmentEncoded"), f"{{{NS}}}Attachment")
    e(att, f"{{{NS}}}ContentTransferEncoded").text = base64.b64encode(os.urandom(size * 3 // 4)).decode()
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _rate(fn: Callable[[], object], seconds: float) -> float:
    fn()  # warm caches (certificate parsing, chain decision)
    n, t0 = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - t0) < seconds:
        fn()
        n += 1
    return n / elapsed


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--seconds", type=float, default=3.0, help="time per measurement (default 3)")
    ap.add_argument("--size", type=int, default=50_000, help="approximate package size in bytes")
    ap.add_argument("--ca-dir", type=Path, default=None, help="test CA directory (default: a temp dir)")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args()

    tmp = None
    if args.ca_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="lienthong-bench-")
        args.ca_dir = Path(tmp.name)
    ca = TestCA.open(args.ca_dir)
    rsa_cred = ca.issue("bench-rsa", organ_id="000.00.00.G22", common_name="Văn phòng Chính phủ")
    ec_cred = ca.issue("bench-ec", organ_id="000.00.00.G22", common_name="Văn phòng Chính phủ", key_type="ec")
    trust = ca.trust_store()

    notes: list[str] = []
    rates: dict[str, float | None] = {}
    builder = _optional("simulator.edxml.builder")
    samples = _optional("simulator.edxml.samples")
    package = None
    if builder is not None and samples is not None and hasattr(samples, "sized_document"):
        package = samples.sized_document(args.size)
        unsigned = builder.build(package)
    else:
        notes.append("simulator.edxml.builder/samples not available: signing an lxml sample instead")
        unsigned = _lxml_sample(args.size)
    signed = sign(unsigned, rsa_cred)
    signed_ec = sign(unsigned, ec_cred)

    fast = Verifier(trust, engine="fast")
    slow = Verifier(trust, engine="signxml")
    for v, data in ((fast, signed), (slow, signed), (fast, signed_ec)):
        result = v.verify(data)
        if not result.ok:
            raise SystemExit(f"benchmark sample does not verify: {result.message}")

    if package is not None:
        rates["build+sign"] = _rate(lambda: sign(builder.build(package), rsa_cred), args.seconds)
    else:
        rates["build+sign"] = None
    rates["sign"] = _rate(lambda: sign(unsigned, rsa_cred), args.seconds)

    parser = _optional("simulator.edxml.parser")
    validator = _optional("simulator.edxml.validator")
    if parser is not None and validator is not None:
        parsed = parser.parse(signed)
        if parsed.package is None:
            notes.append("parse+validate: the parser could not read the signed sample; skipped")
            rates["parse+validate"] = None
        else:

            def parse_validate() -> None:
                result = parser.parse(signed)
                validator.validate(result.package)

            rates["parse+validate"] = _rate(parse_validate, args.seconds)
    else:
        notes.append("simulator.edxml.parser/validator not available: parse+validate skipped")
        rates["parse+validate"] = None

    rates["verify-fast"] = _rate(lambda: fast.verify(signed), args.seconds)
    rates["verify-signxml"] = _rate(lambda: slow.verify(signed), args.seconds)
    rates["verify-fast-ec"] = _rate(lambda: fast.verify(signed_ec), args.seconds)

    out: dict[str, Any] = {
        "package_bytes": len(signed),
        "seconds_each": args.seconds,
        "per_core_per_s": {k: (round(v, 1) if v is not None else None) for k, v in rates.items()},
        "loadavg_1min": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
        "notes": notes,
    }
    if args.json:
        print(json.dumps(out, ensure_ascii=False))
    else:
        print(f"signed package: {len(signed):,} bytes; {args.seconds:g} s per measurement; one process")
        for label, rate in rates.items():
            print(f"  {label:<16} {'skipped' if rate is None else f'{rate:8.1f} /s'}")
        print(f"  load average (1 min): {out['loadavg_1min']} on {out['cpus']} CPUs")
        for note in notes:
            print(f"  note: {note}")
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
