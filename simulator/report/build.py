"""Build a signed report directory from a conformance run (and optionally a load run).

:func:`build_report` writes, into a fresh directory (``reports/<session-id>/`` for ``certify``)::

    report.html      self-contained, printable (simulator.report.render_html)
    report.json      the same content, machine-readable (schema.json)
    report.pdf       when a PDF engine is available (simulator.report.render_pdf)
    junit.xml        cucumber.json          copied from the conformance run
    evidence/        evidence.jsonl, outcomes.jsonl, the run's summary (run.json / summary.json),
                     pytest.log, packages/ (the exchanged packages, when the run kept them)
    load/            Locust's CSV/HTML/JSON outputs and slo.json (when a load run is given)
    signer.pem       manifest.json      manifest.sig   (simulator.report.manifest)

The directory is assembled under a temporary name beside the destination and renamed into place at
the end, so a failed build never leaves half a report. The conformance run's ``target/`` directory
(hub database, test keys) is never copied.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from simulator import __version__
from simulator.edxml.vntime import VN_TZ
from simulator.report.collect import (
    ReportInputError,
    read_conformance,
    read_load,
    suite_coverage,
    sut_identity,
)
from simulator.report.manifest import SIGNER, ReportSigner, write_signed_manifest
from simulator.report.model import SCHEMA_VERSION, ConformanceRun, PdfStatus, Report, SutIdentity
from simulator.report.render_html import render_html
from simulator.report.render_pdf import PdfEngine, render_pdf
from simulator.report.schema import validate
from simulator.report.verdicts import conclude, requirement_rows
from simulator.requirements import catalogue

__all__ = ["BuildResult", "ReportExistsError", "build_report", "new_session_id"]

_CONFORMANCE_ROOT = ("cucumber.json", "junit.xml")
_CONFORMANCE_EVIDENCE = ("evidence.jsonl", "outcomes.jsonl", "run.json", "summary.json", "pytest.log")
_LOAD_SUFFIXES = (".csv", ".json", ".html", ".log", ".txt", ".jsonl", ".svg", ".png")
_LOAD_NEVER = (".pem", ".key", ".db", ".sqlite", ".sqlite3")


class ReportExistsError(ReportInputError):
    """The destination already holds files (a report is never overwritten)."""


@dataclass(frozen=True)
class BuildResult:
    directory: Path
    report: Report
    manifest: dict[str, Any]


def new_session_id(now: dt.datetime | None = None) -> str:
    """``YYYYMMDD-HHMMSS-xxxxxx`` in Vietnam time with 6 random hex digits (sortable, unique)."""
    t = (now or dt.datetime.now(VN_TZ)).astimezone(VN_TZ)
    return f"{t:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def _copy_file(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)


def _copy_tree(src: Path, dst: Path) -> list[str]:
    """Regular files only (symbolic links are skipped); relative paths of what was copied."""
    copied = []
    for root, dirs, names in os.walk(src, followlinks=False):
        base = Path(root)
        dirs[:] = [d for d in dirs if not (base / d).is_symlink()]
        for name in names:
            path = base / name
            if path.is_symlink() or not path.is_file():
                continue
            rel = path.relative_to(src)
            _copy_file(path, dst / rel)
            copied.append(rel.as_posix())
    return copied


def _copy_load(load_dir: Path, dst: Path) -> list[str]:
    copied = []
    for path in sorted(load_dir.iterdir()):
        name = path.name
        if path.is_symlink() or not path.is_file() or name.startswith("."):
            continue
        if name.endswith(_LOAD_NEVER) or not name.endswith(_LOAD_SUFFIXES):
            continue
        _copy_file(path, dst / name)
        copied.append(f"load/{name}")
    return copied


def _prepare(dest: Path) -> Path:
    if dest.exists():
        if not dest.is_dir():
            raise ReportExistsError(f"{dest}: exists and is not a directory; choose another report directory")
        if any(dest.iterdir()):
            raise ReportExistsError(
                f"{dest}: already holds files; a report is never overwritten — "
                "choose another --out or session id"
            )
    parent = dest.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReportInputError(
            f"{parent}: cannot create the reports directory ({exc.strerror or exc})"
        ) from None
    tmp = parent / f".{dest.name}.partial-{secrets.token_hex(4)}"
    tmp.mkdir()
    return tmp


def build_report(
    conformance_dir: Path,
    dest: Path,
    *,
    signer: ReportSigner,
    load_dir: Path | None = None,
    sut: SutIdentity | None = None,
    sut_name: str | None = None,
    session_id: str | None = None,
    pdf: PdfEngine = "auto",
    created: dt.datetime | None = None,
    coverage: Mapping[str, Sequence[str]] | None = None,
) -> BuildResult:
    """Collect, render, copy and sign; returns the finished report directory ``dest``.

    ``sut`` is the SUT's identity for the cover (``certify`` knows it from sut.toml); without it the
    identity is derived from the run directory, and ``sut_name`` overrides its name. ``coverage``
    (requirement ID → the suite's TC IDs) is read from ``features/`` when not given.

    Raises :class:`ReportInputError` (a run directory is missing or unreadable, naming the file and
    field) or :class:`ReportExistsError` before anything is written to ``dest``.
    """
    created_at = (created or dt.datetime.now(VN_TZ)).astimezone(VN_TZ)
    session = session_id or new_session_id(created_at)
    harness_version = __version__
    conformance = read_conformance(conformance_dir, suite_version=harness_version)
    load = None
    warnings = list(conformance.warnings)
    if load_dir is not None:
        load, load_warnings = read_load(load_dir)
        warnings += load_warnings
    if coverage is None:
        coverage, coverage_problem = suite_coverage()
        if coverage_problem:
            warnings.append(coverage_problem)
    cat = catalogue()
    unknown = sorted({r for s in conformance.scenarios for r in s.requirements if r not in cat})
    if unknown:
        warnings.append(
            f"scenario tags name requirement IDs that are not in catalogue {cat.version}: "
            + ", ".join(unknown)
        )
    if load is not None:
        unknown_slos = sorted({s.id for s in load.slos if s.id not in cat})
        if unknown_slos:
            warnings.append(f"slo.json names IDs that are not in the catalogue: {', '.join(unknown_slos)}")

    tmp = _prepare(dest)
    try:
        copied: list[str] = []
        for name in _CONFORMANCE_ROOT:
            if (conformance_dir / name).is_file():
                _copy_file(conformance_dir / name, tmp / name)
                copied.append(name)
        for name in _CONFORMANCE_EVIDENCE:
            if (conformance_dir / name).is_file():
                _copy_file(conformance_dir / name, tmp / "evidence" / name)
                copied.append(f"evidence/{name}")
        if conformance.packages_dir is not None:
            copied += [
                f"evidence/packages/{p}"
                for p in _copy_tree(conformance.packages_dir, tmp / "evidence" / "packages")
            ]
        if load is not None and load_dir is not None:
            load_files = _copy_load(load_dir, tmp / "load")
            copied += load_files
            load = replace(load, files=load_files)

        rows = requirement_rows(
            cat,
            conformance.scenarios,
            load,
            suite_version=conformance.run.suite_version,
            suite_coverage=coverage,
        )
        report = Report(
            schema_version=SCHEMA_VERSION,
            session_id=session,
            created=created_at.isoformat(timespec="seconds"),
            harness_version=harness_version,
            catalogue_version=cat.version,
            suite_version=conformance.run.suite_version,
            sut=sut or _derived_sut(conformance.run, sut_name),
            signer=signer.info(),
            summary=conclude(rows, conformance.scenarios, conformance.run, suite_coverage=coverage),
            requirements=rows,
            scenarios=conformance.scenarios,
            conformance=conformance.run,
            load=load,
            evidence=conformance.evidence,
            pdf=PdfStatus(False, None, "not attempted yet"),
            files=sorted([*copied, "report.html", "report.json", SIGNER]),
            warnings=warnings,
        )
        (tmp / "report.html").write_text(render_html(report), encoding="utf-8")
        report.pdf = render_pdf(tmp / "report.html", tmp / "report.pdf", engine=pdf)
        if report.pdf.produced:
            report.files = sorted([*report.files, "report.pdf"])
        data = report.to_dict()
        problems = validate(data)
        if problems:  # a harness bug: report.json and schema.json disagree
            raise RuntimeError("report.json does not match schema.json: " + "; ".join(problems[:5]))
        (tmp / "report.json").write_text(
            json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
        )
        manifest = write_signed_manifest(tmp, session, signer, created=created_at)
        if dest.exists():
            dest.rmdir()  # empty (checked above)
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return BuildResult(directory=dest, report=report, manifest=manifest)


def _derived_sut(run: ConformanceRun, name: str | None) -> SutIdentity:
    base = sut_identity(run)
    return replace(base, name=name) if name else base
