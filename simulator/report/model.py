"""The certification report as typed data: what ``report.json`` holds and what the HTML shows.

Every shape here is a dataclass of JSON-ready values (str, int, float, bool, None, lists, dicts and
string enums), so :meth:`Report.to_dict` is ``dataclasses.asdict`` and ``report.json`` is its JSON.
``schema.json`` beside this module documents the same shape (and :mod:`simulator.report.schema`
checks a ``report.json`` against it).

Vocabulary:

* a scenario **outcome** is what one Gherkin scenario (one example of an outline) did:
  ``passed``, ``failed``, ``not-applicable`` (skipped with a ``NOT APPLICABLE:`` reason), ``skipped``
  (skipped without such a reason: counted as a failure, nothing is skipped silently) or ``error``
  (the harness could not run it: neither a pass nor a failure of the SUT);
* a requirement **verdict** is one of :class:`Verdict`, decided by :mod:`simulator.report.verdicts`;
* the **conclusion** of the report is :class:`Conclusion`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, Literal

__all__ = [
    "OUTCOMES",
    "SCHEMA_VERSION",
    "Conclusion",
    "ConformanceRun",
    "EndpointStat",
    "EvidenceGroup",
    "EvidenceRow",
    "HistoryPoint",
    "LatencyStats",
    "LoadResults",
    "Outcome",
    "PdfStatus",
    "Report",
    "RequirementRow",
    "ScenarioRef",
    "ScenarioResult",
    "SignerInfo",
    "SloResult",
    "Summary",
    "SutIdentity",
    "Verdict",
]

SCHEMA_VERSION = 2
"""Version of the ``report.json`` shape (``schema.json``); bumped on incompatible changes."""

Outcome = Literal["passed", "failed", "not-applicable", "skipped", "error"]
OUTCOMES: tuple[Outcome, ...] = ("passed", "failed", "not-applicable", "skipped", "error")


class Verdict(StrEnum):
    PASS = "PASS"  # noqa: S105 - a verdict, not a password
    FAIL = "FAIL"
    NOT_APPLICABLE = "NOT APPLICABLE"
    NOT_TESTED = "NOT TESTED"

    def __str__(self) -> str:
        return self.value


class Conclusion(StrEnum):
    """The summary verdict: CONFORMS iff no requirement FAILs, the harness ran cleanly and the whole
    suite was run."""

    CONFORMS = "CONFORMS"
    DOES_NOT_CONFORM = "DOES NOT CONFORM"
    INCONCLUSIVE = "INCONCLUSIVE"  # no FAIL, but the harness broke (scenario errors, run exit code 3)
    PARTIAL = "PARTIAL"  # no FAIL in what ran, but the run's selection (--tags) left covered requirements out

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class SutIdentity:
    """Who was tested (cover page)."""

    name: str
    kind: str = "unknown"  # "reference" | "external" | "unknown"
    defects: list[str] = field(default_factory=list)  # reference QLVB variants, empty for a real SUT
    agencies: list[str] = field(default_factory=list)  # agency codes (mã định danh) the SUT hosts
    system_id: str | None = None  # its system ID on the hub
    driver: str | None = None  # "http" | "manual" | "reference"
    config: str | None = None  # the sut.toml it came from


@dataclass(frozen=True, slots=True)
class SignerInfo:
    """The certificate that signed the manifest (leaf of ``signer.pem``)."""

    subject: str
    issuer: str
    serial: str  # hex
    sha256_fingerprint: str  # hex, lower case, of the DER certificate
    not_before: str  # ISO 8601
    not_after: str
    algorithm: str  # "rsa-pkcs1v15-sha256" | "ecdsa-sha256"


@dataclass(frozen=True, slots=True)
class EvidenceRow:
    """One line of the hub's evidence log, as the report shows it."""

    line: int  # 1-based line number in evidence/evidence.jsonl
    anchor: str  # HTML id of the row
    at: str  # hub time
    system: str | None
    operation: str
    http_status: int | None
    error_code: str | None
    doc_ids: list[str]
    document_id: str | None  # edXML DocumentId when the hub parsed a package
    kind: str | None  # "document" | "status" | …
    sender: str | None
    recipients: list[str]
    findings: list[str]  # "[REQ-ID] message"
    referenced: bool  # a docId of this row is named in the scenario's failure message


@dataclass(frozen=True, slots=True)
class EvidenceGroup:
    """The evidence rows of one scenario (the useful ones, not every poll)."""

    anchor: str
    scenario: str  # scenario key (see ScenarioResult.key)
    tc: str
    rows: list[EvidenceRow]
    total_rows: int  # rows the scenario has in evidence.jsonl
    omitted: int  # rows not shown here (polls without documents, or over the cap)


@dataclass(frozen=True, slots=True)
class ScenarioResult:
    """One scenario example of the conformance run."""

    key: (
        str  # "<feature stem>::<pytest test id>", e.g. "receive::test_a_valid_signed_document[never-accepts]"
    )
    tc: str  # test-case ID, e.g. "TC-RECV-001" ("" when the run did not say)
    name: str
    feature: str  # "receive.feature"
    requirements: list[str]  # requirement IDs it is tagged with
    defect: str | None  # the reference QLVB variant it ran against, if any
    outcome: Outcome
    message: str  # failure / NOT APPLICABLE reason / skip reason, "" when passed
    duration_s: float
    evidence_anchor: str | None  # HTML id of its evidence group, None when it has no evidence rows
    sources: list[str]  # which run files reported it: cucumber.json, outcomes.jsonl, junit.xml


@dataclass(frozen=True, slots=True)
class ScenarioRef:
    """A scenario as listed under a requirement row."""

    key: str
    tc: str
    name: str
    outcome: Outcome
    message: str  # first lines of the message (the full text is in the scenario list)
    evidence_anchor: str | None


@dataclass(frozen=True, slots=True)
class SloResult:
    """One service-level objective of a load run (slo.json ``slos`` entry)."""

    id: str  # OPS-* requirement ID
    name: str
    value: float | None
    threshold: float | None
    unit: str
    comparison: str  # "<=" | ">=" | "<" | ">" | "=="
    passed: bool
    detail: str


@dataclass(frozen=True, slots=True)
class RequirementRow:
    """One row per requirement of the catalogue."""

    id: str
    source: str
    who: str
    title: str  # English gloss
    text_vi: str | None  # normative Vietnamese text
    observe: str
    verdict: Verdict
    reason: str  # why this verdict, in one sentence
    scenarios: list[ScenarioRef]
    slos: list[SloResult]


@dataclass(frozen=True, slots=True)
class LatencyStats:
    count: int
    p50: float | None
    p95: float | None
    p99: float | None
    max: float | None


@dataclass(frozen=True, slots=True)
class HistoryPoint:
    """One (possibly down-sampled) row of ``locust_stats_history.csv``, aggregated over requests."""

    t_s: float  # seconds since the first row
    users: int
    rps: float
    fps: float  # failures per second
    p50_ms: float | None
    p95_ms: float | None


@dataclass(frozen=True, slots=True)
class EndpointStat:
    """One row of ``locust_stats.csv``."""

    type: str
    name: str
    requests: int
    failures: int
    median_ms: float | None
    p95_ms: float | None
    avg_ms: float | None
    rps: float | None


@dataclass(frozen=True, slots=True)
class LoadResults:
    """The load run (``slo.json`` + Locust's CSV files)."""

    profile: str
    started: str | None
    ended: str | None
    duration_s: float | None
    documents_sent: int | None
    documents_to_sut: int | None
    sustained_docs_per_s: float | None
    latency: dict[str, LatencyStats]  # to_01, to_03, to_01_urgent, to_01_normal, …
    errors: int | None
    error_rate: float | None
    duplicates: int | None
    lost: int | None
    cpu_s: dict[str, float]
    slos: list[SloResult]
    passed: bool
    history: list[HistoryPoint]
    history_rows: int  # rows in locust_stats_history.csv before down-sampling
    endpoints: list[EndpointStat]
    files: list[str]  # load/… files copied into the report


@dataclass(frozen=True, slots=True)
class ConformanceRun:
    """What the conformance run directory says about the run itself."""

    sut: str
    kind: str
    defects: list[str]
    started: str | None
    finished: str | None
    exit_code: int | None
    suite_version: str
    scenario_count: int
    counts: dict[str, int]  # outcome → number of scenarios
    problem: str | None  # why the run ended as a usage error / harness failure
    notes: list[str]
    sources: list[str]  # run files that were read


@dataclass(frozen=True, slots=True)
class PdfStatus:
    produced: bool
    engine: str | None  # "weasyprint" | "chromium"
    reason: str  # why not, or how it was made


@dataclass(frozen=True, slots=True)
class Summary:
    conclusion: Conclusion
    counts: dict[str, int]  # verdict → number of requirements (every Verdict present)
    failed: list[str]  # requirement IDs
    not_tested: list[str]
    not_applicable: list[str]
    harness_problems: list[str]  # why the conclusion is INCONCLUSIVE (empty otherwise)
    not_run: list[str] = field(default_factory=list)  # covered by the suite, left out by the selection


@dataclass(slots=True)
class Report:
    schema_version: int
    session_id: str
    created: str  # ISO 8601, Vietnam time
    harness_version: str
    catalogue_version: str
    suite_version: str
    sut: SutIdentity
    signer: SignerInfo
    summary: Summary
    requirements: list[RequirementRow]
    scenarios: list[ScenarioResult]
    conformance: ConformanceRun
    load: LoadResults | None
    evidence: list[EvidenceGroup]
    pdf: PdfStatus
    files: list[str]  # every file of the report directory but manifest.json and manifest.sig
    warnings: list[str]  # what the collector noticed but could live with (unknown tags, bad lines, …)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
