"""``lienthong load``: the hub, the SUT and Locust as separate processes on 127.0.0.1, bounded in time.

:func:`run_load` does, each step bounded and failing with a :class:`LoadError` that says what to change:

1. the profile (:func:`simulator.load.profiles.load_profile`) and the SUT: ``reference`` (the built-in
   reference QLVB, optionally with ``defects``) or a ``sut.toml`` (the vendor's QLVB, already running
   and configured with the hub port, system id and secret of the file);
2. the harness's agencies (realistic codes, distinct from the SUT's) spread over ``harness_systems``
   systems, and their signing credentials in the load test CA (``$LIENTHONG_HOME/load/pki``, kept);
3. the pre-signed corpus (:mod:`simulator.load.corpus`, cached in ``$LIENTHONG_HOME/load/corpus``);
4. the hub: ``lienthong hub`` as a subprocess (``hub_workers`` uvicorn workers on a TCP_NODELAY socket,
   a fresh data directory, the load CA as its trust store), ready when ``GET /time`` answers;
5. the SUT: ``lienthong reference-qlvb`` as a subprocess (or, for a sut.toml, a wait until the vendor's
   QLVB shows up at the hub — a SUT that never does is reported in the results, not as a crash);
6. Locust, headless, as a subprocess: ``loadtests/agency_users.py`` with the profile's shape, CSV (with
   history), HTML and JSON reports into the run directory, ``--processes N`` for distributed mode; a
   hard ``--run-time`` bound (sending phase + drain + margin) and a kill after a grace period;
7. while it runs: a progress display (hub-side counts read from the hub's store) and CPU samples of the
   hub's, Locust's and the SUT's process trees (:class:`simulator.load.procstat.CpuMeter`);
8. afterwards: Locust's ``slo.json`` (measured at the hub by the Locust master when it quit) gets the CPU
   seconds of the sending phase; ``run.json`` records what ran. Everything is stopped (SIGINT, then
   SIGKILL of the whole tree).

Exit codes (:class:`LoadExit`): 0 every SLO held, 1 an SLO broke (the SUT did not keep up — a verdict),
2 usage error (profile, override, sut.toml, defect), 3 the harness itself failed (a process did not
start or died, Locust crashed, the SLOs could not be measured).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Any, Literal

from simulator.load.procstat import CpuMeter, proc_table, tree_pids
from simulator.load.profiles import LoadProfile, ProfileError, load_profile

__all__ = [
    "LOCUSTFILE",
    "RUN_OUTPUTS",
    "HarnessLayout",
    "LoadError",
    "LoadExit",
    "LoadOptions",
    "LoadResult",
    "ProgressEvent",
    "harness_layout",
    "run_load",
]

ROOT = Path(__file__).resolve().parents[2]
LOCUSTFILE = ROOT / "loadtests" / "agency_users.py"
HARNESS_SYSTEM_PREFIX = "lienthong.load"
REFERENCE_SYSTEM_ID = "lienthong.reference-qlvb"
_READY_TIMEOUT_S = 40.0
_SUT_CONNECT_S = 30.0
_RUN_MARGIN_S = 60.0
_KILL_GRACE_S = 30.0
_STOP_TIMEOUT_S = 15.0
_SAMPLE_S = 1.0


class LoadExit(IntEnum):
    PASSED = 0
    FAILED = 1
    USAGE = 2
    HARNESS = 3


class LoadError(Exception):
    """The load run cannot go on. ``kind``: ``usage`` (exit 2) or ``infrastructure`` (exit 3)."""

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        kind: Literal["usage", "infrastructure"] = "infrastructure",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.kind = kind

    @property
    def exit_code(self) -> LoadExit:
        return LoadExit.USAGE if self.kind == "usage" else LoadExit.HARNESS


@dataclass(frozen=True, slots=True)
class LoadOptions:
    """What ``lienthong load`` was asked. ``sut``: ``"reference"`` or a sut.toml path."""

    profile: str = "smoke"
    sut: str = "reference"
    defects: tuple[str, ...] = ()
    out: Path | None = None  # the run directory (default runs/load-<profile>-<timestamp>)
    duration_s: float | None = None
    users: int | None = None
    processes: int = 1  # Locust processes (> 1: distributed mode, a master and N workers)
    overrides: tuple[str, ...] = ()
    profiles_path: Path | None = None
    hub_workers: int | None = None
    workdir: Path | None = None  # hub data, logs of the run (default: a temporary directory)
    keep_workdir: bool = False
    home: Path | None = None  # default $LIENTHONG_HOME/load (test CA and corpus cache)


@dataclass(slots=True)
class LoadResult:
    run_dir: Path
    exit_code: LoadExit
    slo: dict[str, Any] | None
    locust_exit: int | None
    profile: LoadProfile
    message: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.exit_code == LoadExit.PASSED


@dataclass(frozen=True, slots=True)
class ProgressEvent:
    """For the progress display: ``phase`` (corpus, hub, sut, load, drain, measure, done) and figures."""

    phase: str
    message: str = ""
    done: float = 0.0
    total: float = 0.0
    figures: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class HarnessLayout:
    """The harness's agencies and systems, and the SUT's side, for one run."""

    harness: tuple[tuple[str, str], ...]  # (agency code, system id)
    systems: tuple[tuple[str, str], ...]  # (system id, secret)
    names: dict[str, str]
    sut_system: str
    sut_secret: str
    sut_agencies: tuple[str, ...]
    sut_name: str
    kind: Literal["reference", "external"]
    hub_port: int = 0
    tls: bool = False

    def system_agencies(self, system: str) -> list[str]:
        return [code for code, sid in self.harness if sid == system]


# ---------------------------------------------------------------------------------------- layout


def harness_layout(profile: LoadProfile, sut: str, defects: Sequence[str] = ()) -> HarnessLayout:
    """Agencies and systems of the run: the SUT's (reference: generated; else from sut.toml) and the
    harness's (``harness_agencies`` realistic codes, none of the SUT's, round-robin on the systems)."""
    from simulator.edxml.fake import edxml_provider, make_faker
    from simulator.hub.config import HubConfig
    from simulator.sut.config import SutConfigError, load_sut_config
    from simulator.sut.target import harness_agency_codes

    hub_organ = HubConfig().hub_organ_id
    seed = profile.corpus_seed
    if sut == "reference":
        if defects:
            from simulator.sut.defects import UnknownDefectError, check_defects

            try:
                check_defects(defects)
            except UnknownDefectError as exc:
                raise LoadError(f"--defect: {exc}", kind="usage") from None
        sut_agencies = harness_agency_codes(2, exclude={hub_organ}, seed=seed + 1)
        layout_kind: Literal["reference", "external"] = "reference"
        sut_system, sut_secret, sut_name, port, tls = (
            REFERENCE_SYSTEM_ID,
            secrets.token_urlsafe(32),
            "reference QLVB" + (f" with defects {', '.join(defects)}" if defects else ""),
            0,
            False,
        )
    else:
        if defects:
            raise LoadError(
                f"--defect {', '.join(defects)}: defects are variants of the built-in reference QLVB; "
                "use them with --sut reference",
                kind="usage",
            )
        try:
            config = load_sut_config(Path(sut))
        except SutConfigError as exc:
            raise LoadError(str(exc), kind="usage") from None
        if config.hub.system_id.startswith(HARNESS_SYSTEM_PREFIX):
            raise LoadError(
                f"{config.source}: hub.system_id: ids starting with {HARNESS_SYSTEM_PREFIX!r} are the "
                "harness's; pick another id",
                kind="usage",
            )
        sut_agencies = tuple(config.hub.agencies)
        layout_kind = "external"
        sut_system, sut_secret, sut_name, port, tls = (
            config.hub.system_id,
            config.hub.secret,
            config.name,
            config.hub.port,
            config.hub.tls,
        )
    codes = harness_agency_codes(profile.harness_agencies, exclude={*sut_agencies, hub_organ}, seed=seed)
    system_ids = [f"{HARNESS_SYSTEM_PREFIX}.{i + 1:02d}" for i in range(profile.harness_systems)]
    harness = tuple((code, system_ids[i % len(system_ids)]) for i, code in enumerate(codes))
    provider = edxml_provider(make_faker(seed))
    names = {code: provider.agency_for(code).organ_name or code for code in (*codes, *sut_agencies)}
    return HarnessLayout(
        harness=harness,
        systems=tuple((sid, secrets.token_urlsafe(32)) for sid in system_ids),
        names=names,
        sut_system=sut_system,
        sut_secret=sut_secret,
        sut_agencies=sut_agencies,
        sut_name=sut_name,
        kind=layout_kind,
        hub_port=port,
        tls=tls,
    )


def _hub_config(
    layout: HarnessLayout, data_dir: Path, port: int, admin_token: str, profile: LoadProfile
) -> Any:
    from simulator.hub.config import AgencyEntry, GenerateSpec, HubConfig, Policies, SystemConfig

    systems = [SystemConfig(layout.sut_system, layout.sut_secret, layout.sut_agencies, name=layout.sut_name)]
    systems += [
        SystemConfig(
            sid, secret, tuple(layout.system_agencies(sid)), name=f"lienthong load harness {sid[-2:]}"
        )
        for sid, secret in layout.systems
    ]
    agencies = tuple(AgencyEntry(code=code, name=name) for code, name in layout.names.items())
    return HubConfig(
        data_dir=data_dir,
        host="127.0.0.1",
        port=port,
        systems=tuple(systems),
        agencies=agencies,
        policies=Policies(signature=profile.hub_signature),
        admin_token=admin_token,
        generate=GenerateSpec(systems=0),
    )


# ------------------------------------------------------------------------------------- processes


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


@dataclass
class _Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = _STOP_TIMEOUT_S) -> int | None:
        """SIGINT (graceful), then SIGKILL of the whole tree after ``timeout``."""
        if self.popen.poll() is not None:
            return self.popen.returncode
        pids = tree_pids(self.popen.pid, proc_table())
        with contextlib.suppress(ProcessLookupError):
            self.popen.send_signal(signal.SIGINT)
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
        for pid in pids | tree_pids(self.popen.pid, proc_table()):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(5)
        return self.popen.returncode


def _spawn(name: str, cmd: list[str], log: Path, env: dict[str, str] | None = None) -> _Proc:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as fh:
        popen = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            cmd, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    return _Proc(name, popen, log)


def _time_ok(url: str) -> bool:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # liveness only (the test CA's certificate)
    try:
        with urllib.request.urlopen(f"{url}/time", timeout=2.0, context=context) as reply:  # noqa: S310
            return int(reply.status) == 200
    except OSError:
        return False


def _wait(what: str, proc: _Proc | None, ready: Callable[[], bool], timeout: float, hint: str) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if proc is not None and not proc.alive():
            raise LoadError(
                f"{what} exited during startup (exit code {proc.popen.returncode}); its log says:\n"
                f"{_tail(proc.log)}",
                hint=hint,
            )
        if time.monotonic() > deadline:
            tail = f"; its log says:\n{_tail(proc.log)}" if proc is not None else ""
            raise LoadError(f"{what} was not ready within {timeout:g} s{tail}", hint=hint)
        time.sleep(0.1)


def _python() -> list[str]:
    return [sys.executable]


# ------------------------------------------------------------------------------------------- run


def _default_out(profile: str) -> Path:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"load-{profile}-{stamp}"


@contextlib.contextmanager
def _workdir(options: LoadOptions) -> Iterator[Path]:
    if options.workdir is not None:
        path = Path(options.workdir)
        path.mkdir(parents=True, exist_ok=True)
        yield path
        return
    path = Path(tempfile.mkdtemp(prefix="lienthong-load-"))
    try:
        yield path
    finally:
        if not options.keep_workdir:
            shutil.rmtree(path, ignore_errors=True)


def _emit(progress: Callable[[ProgressEvent], None] | None, event: ProgressEvent) -> None:
    if progress is not None:
        progress(event)


def run_load(options: LoadOptions, *, progress: Callable[[ProgressEvent], None] | None = None) -> LoadResult:
    """Run one load profile end to end (see the module docstring). Raises :class:`LoadError` for usage
    and harness problems; an SLO verdict (pass or fail) is a :class:`LoadResult`."""
    try:
        profile = load_profile(
            options.profile,
            path=options.profiles_path,
            overrides=options.overrides,
            duration_s=options.duration_s,
            users=options.users,
        )
    except ProfileError as exc:
        raise LoadError(str(exc), kind="usage") from None
    if options.processes < 1:
        raise LoadError(f"--processes {options.processes}: at least 1 Locust process", kind="usage")
    if options.hub_workers is not None and options.hub_workers < 1:
        raise LoadError(f"--hub-workers {options.hub_workers}: at least 1 worker", kind="usage")
    layout = harness_layout(profile, options.sut, options.defects)
    run_dir = Path(options.out) if options.out is not None else _default_out(profile.name)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LoadError(
            f"--out {run_dir}: cannot create the run directory ({exc.strerror or exc})", kind="usage"
        ) from None
    _clear_outputs(run_dir)
    with _workdir(options) as work:
        return _run(options, profile, layout, run_dir.resolve(), work, progress)


RUN_OUTPUTS = (
    "slo.json",
    "shape.json",
    "run.json",
    "locust_stats.csv",
    "locust_stats_history.csv",
    "locust_failures.csv",
    "locust_exceptions.csv",
    "locust.json",
    "locust.html",
)
"""What a load run writes into its directory (besides ``logs/``)."""


def _clear_outputs(run_dir: Path) -> None:
    """Remove the results of an earlier run in the same directory: a stale slo.json must never pass
    for this run's."""
    for name in RUN_OUTPUTS:
        with contextlib.suppress(FileNotFoundError):
            (run_dir / name).unlink()


def _prepare_corpus(
    profile: LoadProfile, layout: HarnessLayout, home: Path, progress: Callable[[ProgressEvent], None] | None
) -> tuple[Path, int, Path]:
    from simulator.load.corpus import CorpusSpec, build_corpus, ensure_credentials
    from simulator.pki.ca import TestCA

    pki = home / "pki"
    try:
        ca = TestCA.open(pki)
        senders = sorted({code for code, _ in layout.harness})
        _emit(progress, ProgressEvent("corpus", f"signing credentials of {len(senders)} agencies"))
        ensure_credentials(ca, senders, layout.names)
    except OSError as exc:
        raise LoadError(
            f"cannot use the load test CA in {pki}: {exc.strerror or exc}", hint="check $LIENTHONG_HOME"
        ) from None
    count = profile.corpus_size()
    spec = CorpusSpec.for_profile(profile, layout.harness, layout.sut_agencies, layout.names)

    def report(done: int, total: int) -> None:
        _emit(progress, ProgressEvent("corpus", "pre-signed packages", done, total))

    index = build_corpus(home / "corpus", spec, count, pki, progress=report)
    return index, count, pki


def _run(
    options: LoadOptions,
    profile: LoadProfile,
    layout: HarnessLayout,
    run_dir: Path,
    work: Path,
    progress: Callable[[ProgressEvent], None] | None,
) -> LoadResult:
    from simulator.hub.app import DB_NAME
    from simulator.hub.server import config_toml

    home = Path(options.home) if options.home is not None else _load_home()
    started_wall = dt.datetime.now(dt.UTC)
    index, count, pki = _prepare_corpus(profile, layout, home, progress)
    logs = run_dir / "logs"
    logs.mkdir(exist_ok=True)
    data_dir = work / "hub"
    if data_dir.exists():
        shutil.rmtree(data_dir)
    port = layout.hub_port or _free_port()
    admin_token = secrets.token_urlsafe(24)
    hub_config = _hub_config(layout, data_dir, port, admin_token, profile)
    config_path = work / "hub.toml"
    config_path.write_text(config_toml(hub_config), encoding="utf-8")
    os.chmod(config_path, 0o600)
    workers = options.hub_workers or profile.hub_workers
    scheme = "https" if layout.tls else "http"
    hub_url = f"{scheme}://127.0.0.1:{port}"
    notes: list[str] = []
    procs: list[_Proc] = []
    meter = CpuMeter()
    try:
        _emit(progress, ProgressEvent("hub", f"starting the hub ({workers} worker(s)) on {hub_url}"))
        hub_cmd = [
            *_python(), "-m", "simulator.cli", "hub", "--config", str(config_path), "--workers", str(workers),
            "--no-sntp", "--pki", str(pki), "--log-level", "warning",
        ]  # fmt: skip
        if layout.tls:
            hub_cmd.append("--tls")
        hub = _spawn("hub", hub_cmd, logs / "hub.log")
        procs.append(hub)
        _wait(
            "the hub",
            hub,
            lambda: _time_ok(hub_url),
            _READY_TIMEOUT_S,
            (
                f"the SUT expects the hub on port {port} (hub.port of {options.sut}): stop the program "
                "holding it, or change hub.port there and in the SUT's configuration"
                if layout.kind == "external"
                else f"see {logs / 'hub.log'}"
            ),
        )
        if workers > 1:  # every worker up before the load starts
            deadline = time.monotonic() + _READY_TIMEOUT_S
            while len(tree_pids(hub.pid, proc_table())) < workers + 1 and time.monotonic() < deadline:
                time.sleep(0.1)
        meter.watch("hub", hub.pid)
        sut = _start_sut(options, layout, hub_url, pki, logs, progress, data_dir / DB_NAME, notes)
        if sut is not None:
            procs.append(sut)
            meter.watch("sut", sut.pid)
        config = _locust_config(options, profile, layout, hub_url, data_dir / DB_NAME, index, count, run_dir)
        config_file = work / "load-config.json"
        config_file.write_text(json.dumps(config, ensure_ascii=False, indent=1), encoding="utf-8")
        os.chmod(config_file, 0o600)
        bound = profile.duration_s + profile.drain_s + _RUN_MARGIN_S
        locust_cmd = [
            *_python(), "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--host", hub_url,
            "--csv", str(run_dir / "locust"), "--csv-full-history", "--html", str(run_dir / "locust.html"),
            "--json-file", str(run_dir / "locust"), "--run-time", f"{int(bound)}s", "--stop-timeout", "10",
            "--only-summary", "--loglevel", "WARNING", "--logfile", str(logs / "locust.log"),
        ]  # fmt: skip
        if options.processes > 1:
            locust_cmd += ["--processes", str(options.processes)]
        env = dict(os.environ, LIENTHONG_LOAD_CONFIG=str(config_file), PYTHONUNBUFFERED="1")
        _emit(progress, ProgressEvent("load", f"Locust: profile {profile.name}", 0.0, profile.duration_s))
        locust = _spawn("locust", locust_cmd, logs / "locust.out", env)
        procs.append(locust)
        meter.watch("locust", locust.pid)
        rc = _watch(locust, procs, meter, profile, layout, data_dir / DB_NAME, bound, progress)
        _emit(progress, ProgressEvent("measure", "collecting the results"))
        return _finish(
            options, profile, layout, run_dir, rc, meter, notes, started_wall, workers, index, locust
        )
    finally:
        for proc in reversed(procs):
            if proc.alive():
                proc.stop()


def _load_home() -> Path:
    from simulator.home import lienthong_home

    home = lienthong_home() / "load"
    home.mkdir(parents=True, exist_ok=True)
    return home


def _start_sut(
    options: LoadOptions,
    layout: HarnessLayout,
    hub_url: str,
    pki: Path,
    logs: Path,
    progress: Callable[[ProgressEvent], None] | None,
    db_path: Path,
    notes: list[str],
) -> _Proc | None:
    if layout.kind == "reference":
        _emit(progress, ProgressEvent("sut", f"starting the {layout.sut_name}"))
        cmd = [
            *_python(), "-m", "simulator.cli", "reference-qlvb", "--hub", hub_url, "--system-id",
            layout.sut_system, "--agencies", ",".join(layout.sut_agencies), "--pki", str(pki),
            "--driver-port", "0", "--poll-interval", "0.05", "--log-level", "warning",
        ]  # fmt: skip
        for defect in options.defects:
            cmd += ["--defect", defect]
        env = dict(os.environ, LIENTHONG_SUT_SECRET=layout.sut_secret, PYTHONUNBUFFERED="1")
        proc = _spawn("sut", cmd, logs / "sut.log", env)
        _wait(
            "the reference QLVB",
            proc,
            lambda: "driver API" in proc.log.read_text(encoding="utf-8", errors="replace"),
            _READY_TIMEOUT_S,
            f"see {proc.log}",
        )
        return proc
    _emit(progress, ProgressEvent("sut", f"waiting for {layout.sut_name} to poll the hub at {hub_url}"))
    if not _wait_for_system(db_path, layout.sut_system, _SUT_CONNECT_S):
        notes.append(
            f"{layout.sut_name} did not call the hub within {_SUT_CONNECT_S:g} s of its start: check that "
            f"it is running and configured with {hub_url}, system id {layout.sut_system} and the secret of "
            "sut.toml"
        )
    return None


def _wait_for_system(db_path: Path, system: str, timeout: float) -> bool:
    from simulator.hub.sqlite_store import SqliteStore

    store = SqliteStore(db_path)
    deadline = time.monotonic() + timeout
    cursor = 0
    try:
        while time.monotonic() < deadline:
            for row in store.evidence(since_id=cursor, limit=1000):
                cursor = int(row["id"])
                if row.get("system") == system:
                    return True
            time.sleep(0.5)
    finally:
        store.close()
    return False


def _locust_config(
    options: LoadOptions,
    profile: LoadProfile,
    layout: HarnessLayout,
    hub_url: str,
    db_path: Path,
    index: Path,
    count: int,
    run_dir: Path,
) -> dict[str, Any]:
    processes = options.processes
    receivers = max(profile.receivers, processes)
    receivers += (-receivers) % processes  # a multiple of the processes: each polls its own systems
    return {
        "profile_args": {
            "name": profile.name,
            "path": str(options.profiles_path or profile.source),
            "overrides": list(options.overrides),
            "duration_s": options.duration_s,
            "users": options.users,
        },
        "hub_url": hub_url,
        "store_path": str(db_path),
        "corpus_index": str(index),
        "corpus_count": count,
        "harness_systems": [
            {"id": sid, "secret": secret, "agencies": layout.system_agencies(sid)}
            for sid, secret in layout.systems
        ],
        "names": {code: layout.names[code] for code, _ in layout.harness},
        "sut": {"system": layout.sut_system, "agencies": list(layout.sut_agencies), "name": layout.sut_name},
        "receivers": receivers,
        "processes": processes,
        "out_dir": str(run_dir),
    }


class _HubView:
    """Hub-side counts for the progress display, read incrementally from the store."""

    def __init__(self, db_path: Path, layout: HarnessLayout) -> None:
        from simulator.hub.sqlite_store import SqliteStore

        self.store = SqliteStore(db_path)
        self.layout = layout
        self.systems = {sid for sid, _ in layout.systems}
        self.since = dt.datetime.now(dt.UTC)
        self.documents = 0
        self.sut_statuses = 0

    def update(self) -> dict[str, Any]:
        now = dt.datetime.now(dt.UTC)
        try:
            facts = self.store.stats_facts(self.since, now)
            pending = self.store.count_received(self.layout.sut_system, "edoc")
        except Exception:  # a busy store: skip this refresh
            return {}
        self.since = now
        for p in facts.packages:
            if p.kind == "document" and p.sender_system in self.systems:
                self.documents += 1
            elif p.kind == "status" and p.sender_system == self.layout.sut_system:
                self.sut_statuses += 1
        return {"documents": self.documents, "sut_statuses": self.sut_statuses, "sut_pending": pending}

    def close(self) -> None:
        self.store.close()


def _watch(
    locust: _Proc,
    procs: Sequence[_Proc],
    meter: CpuMeter,
    profile: LoadProfile,
    layout: HarnessLayout,
    db_path: Path,
    bound: float,
    progress: Callable[[ProgressEvent], None] | None,
) -> int | None:
    """Sample CPU and progress until Locust exits; kill it past the bound. Its exit code (None: killed)."""
    view = _HubView(db_path, layout)
    t0 = time.monotonic()
    sending_t0: float | None = None  # when the hub saw the first document (Locust has started)
    try:
        meter.sample()
        while True:
            rc = locust.popen.poll()
            if rc is not None:
                meter.sample()
                return rc
            for proc in procs:
                if proc is not locust and not proc.alive():
                    locust.stop()
                    raise LoadError(
                        f"the {proc.name} process died during the load run (exit code "
                        f"{proc.popen.returncode}); its log says:\n{_tail(proc.log)}"
                    )
            elapsed = time.monotonic() - t0
            if elapsed > bound + _KILL_GRACE_S:
                locust.stop()
                raise LoadError(
                    f"Locust did not stop within {bound + _KILL_GRACE_S:g} s; killed. Its log says:\n"
                    f"{_tail(locust.log)}"
                )
            cpu = meter.sample()
            figures = view.update()
            figures.update({f"cpu_{k}": v for k, v in cpu.items()})
            if sending_t0 is None and figures.get("documents"):
                sending_t0 = time.monotonic() - _SAMPLE_S / 2
            sent_for = time.monotonic() - sending_t0 if sending_t0 is not None else 0.0
            if sent_for < profile.duration_s:
                phase, message = "load", f"sending ({profile.name}, {profile.duration_s:g} s)"
            else:
                phase = "drain"
                message = f"waiting (at most {profile.drain_s:g} s) for the SUT to acknowledge everything"
            _emit(
                progress,
                ProgressEvent(phase, message, min(sent_for, profile.duration_s), profile.duration_s, figures),
            )
            time.sleep(_SAMPLE_S)
    finally:
        view.close()


def _finish(
    options: LoadOptions,
    profile: LoadProfile,
    layout: HarnessLayout,
    run_dir: Path,
    rc: int | None,
    meter: CpuMeter,
    notes: list[str],
    started_wall: dt.datetime,
    workers: int,
    index: Path,
    locust: _Proc,
) -> LoadResult:
    from simulator.load.slo import write_slo

    slo_path = run_dir / "slo.json"
    slo: dict[str, Any] | None = None
    if slo_path.is_file():
        try:
            slo = json.loads(slo_path.read_text(encoding="utf-8"))
        except ValueError:
            slo = None
    if rc not in (0, 1) or slo is None:
        raise LoadError(
            f"Locust ended with exit code {rc} and "
            + ("no usable slo.json" if slo is None else "an slo.json")
            + ": the service levels were not measured. Locust's log says:\n"
            + f"{_tail(run_dir / 'logs' / 'locust.log')}\n"
            + _tail(locust.log),
            hint=f"see {run_dir / 'logs'}",
        )
    start = dt.datetime.fromisoformat(slo["started"]).timestamp()
    end = dt.datetime.fromisoformat(slo["load_ended"]).timestamp()
    cpu = meter.between(start, end)
    window = max(end - start, 1e-9)
    slo["cpu_s"] = cpu  # CPU seconds of each process tree during the sending phase
    slo["cpu_window_s"] = round(end - start, 3)
    slo["cpu_cores"] = {k: (round(v / window, 3) if v is not None else None) for k, v in cpu.items()}
    slo["sut"] = {
        "name": layout.sut_name,
        "kind": layout.kind,
        "system": layout.sut_system,
        "defects": list(options.defects),
    }
    slo["hub_workers"] = workers
    slo["locust_processes"] = options.processes
    slo["load_average"] = round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None
    slo["notes"] = [*slo.get("notes", []), *notes]
    passed = bool(slo.get("passed"))
    if (rc == 1 and passed) or (rc == 0 and not passed):
        slo["notes"].append(
            f"Locust's exit code {rc} disagrees with slo.json (passed={passed}); slo.json decides"
        )
    write_slo(slo_path, slo)
    finished = dt.datetime.now(dt.UTC)
    exit_code = LoadExit.PASSED if passed else LoadExit.FAILED
    run = {
        "kind": "load",
        "profile": profile.name,
        "sut": layout.sut_name,
        "sut_kind": layout.kind,
        "defects": list(options.defects),
        "started": started_wall.isoformat(timespec="seconds"),
        "finished": finished.isoformat(timespec="seconds"),
        "exit_code": int(exit_code),
        "locust_exit_code": rc,
        "locust_processes": options.processes,
        "hub_workers": workers,
        "corpus": str(index.parent),
        "overrides": list(options.overrides),
        "duration_s": options.duration_s,
        "users": options.users,
    }
    (run_dir / "run.json").write_text(json.dumps(run, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    failed = [s["id"] for s in slo.get("slos", []) if not s.get("passed")]
    message = "every SLO held" if passed else f"SLOs broken: {', '.join(failed)}"
    return LoadResult(run_dir, exit_code, slo, rc, profile, message, list(slo["notes"]))
