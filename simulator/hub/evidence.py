"""Evidence: what the hub records about every request and reply (the conformance report's raw material).

One append-only row per request (:class:`simulator.hub.store.EvidenceRecord`): hub time, calling
system, operation, HTTP status, ``ErrorCode``, package SHA-256, the docIds involved, and the findings —
:class:`~simulator.edxml.diagnostics.Diagnostic` rows, each naming a requirement ID — plus a free
``detail`` object (sender, recipients, signature verdict, the hub's trace hop, timing…). Accepted
packages write their row inside the package's own transaction; everything else writes it right
after the reply was decided. The store reads them back as JSON lines for the control API.

This module only shapes records; it does no I/O.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from simulator.edxml.diagnostics import Diagnostic, Severity
from simulator.hub.store import EvidenceRecord

__all__ = ["MAX_DOC_IDS", "MAX_FINDINGS", "finding", "findings_payload", "record"]

MAX_FINDINGS = 50
"""Findings kept per evidence row; more are summarised by one INFO finding."""
MAX_DOC_IDS = 50
"""docIds kept per evidence row (list replies can be long); ``detail.count`` holds the full count."""


def finding(
    requirement: str, message: str, *, severity: Severity = Severity.WARNING, path: str = "/"
) -> Diagnostic:
    """A hub finding: a Diagnostic whose ``path`` says where it was seen (``header:…``, ``/``, an element)."""
    return Diagnostic(severity, path, requirement, message)


def findings_payload(findings: Iterable[Diagnostic], limit: int = MAX_FINDINGS) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    dropped = 0
    for diag in findings:
        if len(out) < limit:
            out.append(diag.as_dict())
        else:
            dropped += 1
    if dropped:
        out.append(
            {
                "severity": "info",
                "path": "/",
                "requirement": "VXP-ENVELOPE",
                "message": f"{dropped} more finding(s) not recorded",
            }
        )
    return out


def record(
    *,
    at: dt.datetime,
    operation: str,
    http_status: int,
    error_code: str,
    system: str | None = None,
    sha256: str | None = None,
    doc_ids: Sequence[str] = (),
    findings: Iterable[Diagnostic] = (),
    detail: dict[str, Any] | None = None,
) -> EvidenceRecord:
    ids = list(doc_ids)
    extra = dict(detail or {})
    if len(ids) > MAX_DOC_IDS:
        extra.setdefault("count", len(ids))
        ids = ids[:MAX_DOC_IDS]
    return EvidenceRecord(
        at=at,
        operation=operation,
        http_status=http_status,
        error_code=error_code,
        system=system,
        sha256=sha256,
        doc_ids=ids,
        findings=findings_payload(findings),
        detail=extra,
    )
