"""``lienthong certify``: one command from a system under test to a signed report.

:func:`certify` runs, in order, each phase bounded and reported to an :class:`Observer`:

1. ``validate`` — everything that can be refused before a minute is spent (exit code 2, naming the
   problem): the SUT (``reference`` with known ``--defect`` names, or a readable, well-formed sut.toml
   without defects), the load profile (or ``none``), the tag expression, the signing key and
   certificate (readable, matching) or the test PKI's report key, the session ID and a report
   directory that does not exist yet;
2. ``smoke`` — :func:`simulator.certify.smoke.smoke_check`: the hub starts and answers ``GET /time``,
   the SUT's driver answers ``info`` with the right agencies;
3. ``conformance`` — :func:`simulator.conformance.runner.run_conformance` into ``<work>/conformance``
   (the run's ``run.json`` is written here: SUT, kind, defects, start/end times, exit code);
4. ``load`` — :func:`simulator.load.runner.run_load` with the profile into ``<work>/load`` (skipped with
   ``profile="none"``);
5. ``report`` — :func:`simulator.report.build.build_report` into ``<out>/<session-id>/``: signed,
   with the SUT's identity (reference QLVB and its defects, or sut.toml's name, system and agencies).

The working directory (``<work>``: a temporary directory unless ``workdir`` is given) lies outside the
report directory: the builder copies what the report needs and never the hub's database or test keys.
It is removed once the report is written, and kept (its path in the error) when the harness failed.

Exit codes (:class:`CertifyExit`): 0 the SUT conforms (or, with ``--tags``, nothing failed in a
PARTIAL session: the report's conclusion says PARTIAL, not CONFORMS), 1 it does not (a requirement
FAILs: a scenario failed or an SLO was missed), 2 usage error, 3 harness or infrastructure failure (the
hub would not start, the driver is unreachable, the conformance runner or Locust crashed, the run was
interrupted)
— also 3 when the report concludes INCONCLUSIVE (no FAIL, but scenarios could not run). A harness
failure is never reported as "does not conform": phases 2-4 raise :class:`CertifyError` (``kind``
``infrastructure``) and no report is signed.

Interrupting (Ctrl-C, SIGTERM) stops every process the run started — children first asked to end,
killed after a bounded grace period — and raises :class:`CertifyError` (exit 3) saying so.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from enum import IntEnum
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, Literal

from simulator.edxml.vntime import VN_TZ

if TYPE_CHECKING:
    from simulator.conformance.runner import RunResult
    from simulator.load.runner import LoadResult, ProgressEvent
    from simulator.report.build import BuildResult
    from simulator.report.manifest import ReportSigner
    from simulator.report.model import SutIdentity
    from simulator.sut.config import SutConfig

__all__ = [
    "PDF_CHOICES",
    "PHASES",
    "PROFILE_NONE",
    "CertifyError",
    "CertifyExit",
    "CertifyOptions",
    "CertifyOutcome",
    "Observer",
    "PhaseRecord",
    "certify",
    "validate",
]

PROFILE_NONE = "none"
PHASES = ("validate", "smoke", "conformance", "load", "report")
PDF_CHOICES = ("auto", "on", "off", "weasyprint", "chromium")
_SESSION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_STOP_GRACE_S = 10.0

PhaseName = Literal["validate", "smoke", "conformance", "load", "report"]
PhaseState = Literal["start", "ok", "failed", "skipped"]


class CertifyExit(IntEnum):
    CONFORMS = 0
    DOES_NOT_CONFORM = 1
    USAGE = 2
    HARNESS = 3


class CertifyError(Exception):
    """``certify`` could not reach a verdict. ``kind``: ``usage`` (exit 2) or ``infrastructure`` (exit 3);
    ``phase`` where it happened; ``workdir`` the kept working directory (for its logs), if any."""

    def __init__(
        self,
        message: str,
        *,
        kind: Literal["usage", "infrastructure"],
        phase: str,
        hint: str | None = None,
        workdir: Path | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.phase = phase
        self.hint = hint
        self.workdir = workdir

    @property
    def exit_code(self) -> CertifyExit:
        return CertifyExit.USAGE if self.kind == "usage" else CertifyExit.HARNESS


@dataclass(frozen=True, slots=True)
class CertifyOptions:
    """What ``lienthong certify`` was asked. ``sut``: ``"reference"`` or the path of a sut.toml."""

    sut: str = "reference"
    defects: tuple[str, ...] = ()
    profile: str = "smoke"  # a profile of loadtests/profiles.toml, or "none"
    out: Path = Path("reports")  # the report goes to <out>/<session-id>/
    signing_key: Path | None = None
    signing_cert: Path | None = None
    session_id: str | None = None
    tags: str | None = None  # conformance tag expression (a partial session)
    pdf: str = "auto"  # auto | on (required: an engine must exist) | off | weasyprint | chromium
    ca_dir: Path | None = None  # test CA of the default report key (default $LIENTHONG_HOME/pki)
    workdir: Path | None = None  # working runs (default: temporary, removed once the report is written)
    load_overrides: tuple[str, ...] = ()  # --set KEY=VALUE for the load profile
    load_duration_s: float | None = None
    conformance_timeout_s: float = 1800.0


@dataclass(slots=True)
class PhaseRecord:
    name: str
    state: PhaseState
    seconds: float = 0.0
    detail: str = ""


@dataclass(slots=True)
class CertifyOutcome:
    """A finished session: the report was written and signed (exit 0, 1, or 3 when INCONCLUSIVE)."""

    exit_code: CertifyExit
    session_id: str
    report_dir: Path
    conclusion: str
    report: dict[str, Any]
    phases: list[PhaseRecord] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


class Observer:
    """Progress callbacks of :func:`certify`; this base class ignores everything (override what you show)."""

    def phase(self, name: str, state: PhaseState, detail: str = "") -> None:
        """A phase started (``start``) or ended (``ok``, ``failed``, ``skipped``)."""

    def conformance_event(self, event: dict[str, Any]) -> None:
        """A progress event of the conformance runner (``collected``, ``start``, ``result``, …)."""

    def load_event(self, event: ProgressEvent) -> None:
        """A progress event of the load runner."""

    def note(self, text: str) -> None:
        """Something the operator should know (not an error)."""


# --------------------------------------------------------------------------------------- validate


@dataclass(slots=True)
class _Plan:
    options: CertifyOptions
    session_id: str
    dest: Path
    signer: ReportSigner
    identity: SutIdentity
    sut_config: SutConfig | None
    pdf_engine: Literal["auto", "weasyprint", "chromium", "off"]
    profile: str | None  # None: no load phase


def _usage(message: str, hint: str | None = None) -> CertifyError:
    return CertifyError(message, kind="usage", phase="validate", hint=hint)


def _validate_sut(options: CertifyOptions) -> tuple[SutIdentity, SutConfig | None]:
    from simulator.report.collect import reference_sut, sut_from_config

    if options.sut == "reference":
        from simulator.sut.defects import UnknownDefectError, check_defects

        try:
            check_defects(options.defects)
        except UnknownDefectError as exc:
            raise _usage(f"--defect: {exc}") from None
        return reference_sut(options.defects), None
    if options.defects:
        raise _usage(
            f"--defect {', '.join(options.defects)}: defects are variants of the built-in reference QLVB; "
            "use them with --sut reference, not with a sut.toml"
        )
    from simulator.sut.config import SutConfigError, load_sut_config

    try:
        config = load_sut_config(Path(options.sut))
    except SutConfigError as exc:
        raise _usage(str(exc)) from None
    return sut_from_config(config), config


def _validate_profile(options: CertifyOptions) -> str | None:
    if options.profile == PROFILE_NONE:
        if options.load_overrides or options.load_duration_s is not None:
            raise _usage("--load-set / --load-duration need a load profile; --profile none runs no load")
        return None
    from simulator.load.profiles import ProfileError, load_profile

    try:
        load_profile(options.profile, overrides=options.load_overrides, duration_s=options.load_duration_s)
    except ProfileError as exc:
        raise _usage(str(exc), hint=f"or --profile {PROFILE_NONE} to skip the load phase") from None
    return options.profile


def _validate_signer(options: CertifyOptions) -> ReportSigner:
    from simulator.report.manifest import SignerError, default_signer, load_signer

    key, cert = options.signing_key, options.signing_cert
    if (key is None) != (cert is None):
        missing = "--signing-cert" if cert is None else "--signing-key"
        raise _usage(f"{missing} is missing: give --signing-key and --signing-cert together")
    try:
        if key is not None and cert is not None:
            return load_signer(key, cert)
        from simulator.pki.ca import TestCA

        return default_signer(TestCA.open(options.ca_dir))
    except SignerError as exc:
        raise _usage(str(exc)) from None
    except OSError as exc:
        raise _usage(
            f"cannot use the test PKI's report key in {options.ca_dir or '$LIENTHONG_HOME/pki'} "
            f"({exc.strerror or exc})",
            hint="check $LIENTHONG_HOME, or sign with --signing-key/--signing-cert",
        ) from None


def _validate_pdf(choice: str) -> Literal["auto", "weasyprint", "chromium", "off"]:
    if choice not in PDF_CHOICES:
        raise _usage(f"--pdf {choice!r}: use one of {', '.join(PDF_CHOICES)}")
    if choice == "on":
        import importlib.util

        from simulator.report.render_pdf import find_chromium

        if importlib.util.find_spec("weasyprint") is None and find_chromium() is None:
            raise _usage(
                "--pdf on: no PDF engine is installed",
                hint="install the PDF extra (pip install 'lienthong[pdf]') or Chromium (apt-get install "
                "chromium), or use --pdf auto",
            )
        return "auto"
    if choice == "auto":
        return "auto"
    if choice == "weasyprint":
        return "weasyprint"
    if choice == "chromium":
        return "chromium"
    return "off"


def _validate_dest(options: CertifyOptions) -> tuple[str, Path]:
    from simulator.report.build import new_session_id

    session = options.session_id or new_session_id()
    if not _SESSION_ID.fullmatch(session):
        raise _usage(
            f"--session-id {session!r} is not usable as a directory name",
            hint="use letters, digits, '.', '_' and '-' (at most 100)",
        )
    out = Path(options.out)
    if out.exists() and not out.is_dir():
        raise _usage(f"--out {out}: exists and is not a directory")
    dest = out / session
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise _usage(
            f"{dest}: already exists; a report is never overwritten",
            hint="choose another --session-id or --out",
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _usage(f"--out {out}: cannot create the reports directory ({exc.strerror or exc})") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise _usage(f"--out {out}: the reports directory is not writable")
    return session, dest


def _validate_tags(options: CertifyOptions) -> None:
    from simulator.conformance.runner import RunOptions, UsageError, validate_options

    try:
        validate_options(RunOptions(sut=options.sut, defects=options.defects, tags=options.tags))
    except UsageError as exc:
        raise _usage(str(exc)) from None


def validate(options: CertifyOptions) -> _Plan:
    """Check every argument before anything starts; :class:`CertifyError` (``usage``) names the problem."""
    identity, config = _validate_sut(options)
    profile = _validate_profile(options)
    _validate_tags(options)
    pdf = _validate_pdf(options.pdf)
    signer = _validate_signer(options)
    session, dest = _validate_dest(options)
    return _Plan(options, session, dest, signer, identity, config, pdf, profile)


# ---------------------------------------------------------------------------------- interruption


class _Interrupted(BaseException):
    """SIGTERM, turned into an exception in the main thread (like SIGINT's KeyboardInterrupt)."""


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        raise _Interrupted()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _alive(pid: int) -> bool:
    """Running (not a zombie); reaps it when it is our own child that ended."""
    with contextlib.suppress(ChildProcessError, OSError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            raw = fh.read().decode("ascii", "replace")
        return raw[raw.rindex(")") + 2 :].split()[0] != "Z"
    except (OSError, ValueError, IndexError):
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True


def _descendants() -> set[int]:
    from simulator.load.procstat import proc_table, tree_pids

    me = os.getpid()
    return tree_pids(me, proc_table()) - {me}


def _stop_descendants(baseline: set[int], grace_s: float = _STOP_GRACE_S) -> int:
    """SIGTERM every process the session started (descendants of this process that were not there
    before it began, ``baseline``), SIGKILL what is left after ``grace_s``. Returns how many there were."""
    pids = _descendants() - baseline
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    left = {p for p in pids if _alive(p)}
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = {p for p in left if _alive(p)}
    for pid in left | (_descendants() - baseline - pids):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    for pid in pids:
        _alive(pid)  # reap
    return len(pids)


# ----------------------------------------------------------------------------------------- phases


class _Session:
    def __init__(self, plan: _Plan, observer: Observer, work: Path) -> None:
        self.plan = plan
        self.options = plan.options
        self.observer = observer
        self.work = work
        self.phases: list[PhaseRecord] = []
        self.notes: list[str] = []
        self.current = "validate"
        self._t0 = 0.0

    def begin(self, name: PhaseName, detail: str = "") -> None:
        self.current = name
        self._t0 = time.monotonic()
        self.observer.phase(name, "start", detail)

    def end(self, state: PhaseState, detail: str = "") -> None:
        seconds = time.monotonic() - self._t0 if state != "skipped" else 0.0
        self.phases.append(PhaseRecord(self.current, state, round(seconds, 3), detail))
        self.observer.phase(self.current, state, detail)

    def fail(self, message: str, hint: str | None = None, *, keep: bool = True) -> CertifyError:
        self.end("failed", message)
        return CertifyError(
            message, kind="infrastructure", phase=self.current, hint=hint, workdir=self.work if keep else None
        )

    def note(self, text: str) -> None:
        self.notes.append(text)
        self.observer.note(text)

    # ----------------------------------------------------------------------------------- smoke

    def smoke(self) -> None:
        from simulator.certify.smoke import smoke_check
        from simulator.sut.config import SutConfigError

        self.begin("smoke", "starting the hub and the SUT's driver")
        try:
            result = smoke_check(self.options.sut, defects=self.options.defects, workdir=self.work)
        except SutConfigError as exc:  # validated already; only a file changed meanwhile lands here
            self.end("failed", str(exc))
            raise CertifyError(str(exc), kind="usage", phase="smoke") from None
        if not result.ok:
            failure = result.failure
            assert failure is not None
            raise self.fail(
                f"smoke check failed at {failure.name}: {failure.detail}", result.hint, keep=False
            )
        identity = self.plan.identity
        if identity.kind == "reference" and not identity.agencies:
            # the suite's target is opened exactly as the smoke check's (same default seed): same codes
            self.plan.identity = replace(
                identity, agencies=list(result.sut_agencies), system_id=result.sut_system_id or None
            )
        self.end("ok", result.summary())

    # ----------------------------------------------------------------------------- conformance

    def conformance(self) -> Path:
        from simulator.conformance.runner import RunExit, RunOptions, UsageError, run_conformance

        out = self.work / "conformance"
        self.begin(
            "conformance", "the Gherkin suite" + (f" ({self.options.tags})" if self.options.tags else "")
        )
        started = dt.datetime.now(VN_TZ)
        run_options = RunOptions(
            sut=self.options.sut,
            defects=self.options.defects,
            tags=self.options.tags,
            out_dir=out,
            timeout_s=self.options.conformance_timeout_s,
        )
        try:
            result = run_conformance(run_options, on_event=self.observer.conformance_event)
        except UsageError as exc:
            self.end("failed", str(exc))
            raise CertifyError(str(exc), kind="usage", phase="conformance") from None
        finished = dt.datetime.now(VN_TZ)
        log = out / "pytest.log"
        if result.exit_code is RunExit.USAGE:
            self.end("failed", result.problem or "")
            raise CertifyError(
                f"the conformance run could not start: {result.problem}",
                kind="usage",
                phase="conformance",
                hint=f"see {log}",
                workdir=self.work,
            )
        if result.exit_code is RunExit.HARNESS:
            raise self.fail(
                f"the conformance runner failed (harness, not the SUT): {result.problem}",
                f"see {log}; the working directory is kept",
            )
        self._write_run_json(out, result, started, finished)
        counts = result.counts
        detail = (
            f"{len(result.outcomes)} scenario(s): {counts['passed']} passed, "
            f"{counts['failed'] + counts['skipped']} failed, {counts['not-applicable']} not applicable "
            f"in {result.wall_s:.1f} s"
        )
        self.end("ok", detail)
        for note in result.notes:
            self.note(note)
        return out

    def _write_run_json(
        self, out: Path, result: RunResult, started: dt.datetime, finished: dt.datetime
    ) -> None:
        """The run's identity for the report (the runner writes summary.json; the report reads run.json)."""
        identity = self.plan.identity
        run = {
            "sut": identity.name or result.target,
            "kind": identity.kind,
            "defects": list(self.options.defects),
            "config": identity.config,
            "started": started.isoformat(timespec="seconds"),
            "finished": finished.isoformat(timespec="seconds"),
            "exit_code": int(result.exit_code),
            "tags": self.options.tags,
            "notes": list(result.notes),
        }
        (out / "run.json").write_text(json.dumps(run, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")

    # ------------------------------------------------------------------------------------ load

    def load(self) -> Path | None:
        profile = self.plan.profile
        if profile is None:
            self.begin("load")
            self.end("skipped", "--profile none: no load profile (OPS-* requirements NOT TESTED)")
            return None
        from simulator.load.runner import LoadError, LoadExit, LoadOptions, run_load

        out = self.work / "load"
        self.begin("load", f"profile {profile}")
        options = LoadOptions(
            profile=profile,
            sut=self.options.sut,
            defects=self.options.defects,
            out=out,
            duration_s=self.options.load_duration_s,
            overrides=self.options.load_overrides,
        )
        try:
            result: LoadResult = run_load(options, progress=self.observer.load_event)
        except LoadError as exc:
            if exc.exit_code == LoadExit.USAGE:
                self.end("failed", exc.message)
                raise CertifyError(exc.message, kind="usage", phase="load", hint=exc.hint) from None
            raise self.fail(
                f"the load run failed (harness, not the SUT): {exc.message}",
                exc.hint or f"see {out / 'logs'}; the working directory is kept",
            ) from None
        self.end("ok", result.message)
        for note in result.notes:
            self.note(note)
        return out

    # ---------------------------------------------------------------------------------- report

    def report(self, conformance_dir: Path, load_dir: Path | None) -> BuildResult:
        from simulator.report.build import build_report
        from simulator.report.collect import ReportInputError

        plan = self.plan
        self.begin("report", f"into {plan.dest}")
        try:
            built = build_report(
                conformance_dir,
                plan.dest,
                signer=plan.signer,
                load_dir=load_dir,
                sut=plan.identity,
                session_id=plan.session_id,
                pdf=plan.pdf_engine,
            )
        except ReportInputError as exc:  # our own runs are unreadable: the harness broke
            raise self.fail(f"the report could not be built from this session's runs: {exc}") from None
        pdf = built.report.pdf
        if self.options.pdf == "on" and not pdf.produced:
            self.note(f"--pdf on: no report.pdf was produced ({pdf.reason})")
        self.end(
            "ok", f"{built.report.summary.conclusion} — {len(built.manifest.get('files', {}))} files signed"
        )
        return built


def _exit_for(conclusion: str) -> CertifyExit:
    from simulator.report.model import Conclusion

    if conclusion in (Conclusion.CONFORMS.value, Conclusion.PARTIAL.value):
        return CertifyExit.CONFORMS  # PARTIAL: nothing failed; the conclusion itself says it is partial
    if conclusion == Conclusion.DOES_NOT_CONFORM.value:
        return CertifyExit.DOES_NOT_CONFORM
    return CertifyExit.HARNESS


def certify(options: CertifyOptions, observer: Observer | None = None) -> CertifyOutcome:
    """Run a whole certification session (see the module docstring).

    Returns the outcome once a signed report is written; raises :class:`CertifyError` for a usage error
    (before anything runs) or a harness failure / interruption (no report is signed then)."""
    observer = observer or Observer()
    t0 = time.monotonic()
    observer.phase("validate", "start", "")
    try:
        plan = validate(options)
    except CertifyError as exc:
        observer.phase("validate", "failed", exc.message)
        raise
    observer.phase("validate", "ok", f"session {plan.session_id} → {plan.dest}")
    temporary = options.workdir is None
    work = Path(tempfile.mkdtemp(prefix=f"lienthong-certify-{plan.session_id}-")) if temporary else None
    if work is None:
        assert options.workdir is not None
        work = Path(options.workdir) / plan.session_id
        try:
            work.mkdir(parents=True, exist_ok=False)
        except OSError as exc:
            raise _usage(
                f"--workdir {options.workdir}: cannot create {work} ({exc.strerror or exc})"
            ) from None
    session = _Session(plan, observer, work.resolve())
    session.phases.append(PhaseRecord("validate", "ok", round(time.monotonic() - t0, 3)))
    keep = not temporary
    baseline = _descendants()
    try:
        with _sigterm_raises():
            session.smoke()
            conformance_dir = session.conformance()
            load_dir = session.load()
            built = session.report(conformance_dir, load_dir)
    except CertifyError as exc:
        keep = keep or exc.workdir is not None
        raise
    except (KeyboardInterrupt, _Interrupted):
        phase = session.current
        stopped = _stop_descendants(baseline)
        with contextlib.suppress(Exception):
            session.end("failed", "interrupted")
        raise CertifyError(
            f"interrupted during the {phase} phase; "
            + (f"{stopped} process(es) of the run were stopped; " if stopped else "")
            + "no report was written",
            kind="infrastructure",
            phase=phase,
            hint="rerun the command to certify",
        ) from None
    except Exception:
        _stop_descendants(baseline)  # an unexpected error: leave no process of the run behind
        raise
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
    data = built.report.to_dict()
    conclusion = str(data["summary"]["conclusion"])
    if options.tags:
        session.note(
            f"partial session: only the scenarios matching --tags {options.tags!r} ran; requirements "
            "outside the selection are NOT TESTED"
        )
    return CertifyOutcome(
        exit_code=_exit_for(conclusion),
        session_id=plan.session_id,
        report_dir=built.directory,
        conclusion=conclusion,
        report=data,
        phases=session.phases,
        notes=session.notes,
        seconds=round(time.monotonic() - t0, 3),
    )
