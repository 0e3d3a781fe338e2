"""Assemble a target for the conformance suite: a simulated hub plus the SUT and a driver for it.

``open_target("reference", defects=...)`` starts an :class:`~simulator.hub.embedded.EmbeddedHub` on a
free port and the built-in reference QLVB (optionally with named defects) connected to it; the QLVB
itself is the driver. ``open_target("path/to/sut.toml")`` starts the hub on the configured port with
the SUT's system and agencies, and drives the vendor's QLVB through its test-driver HTTP API
(:class:`~simulator.sut.http_driver.HttpDriver`, checked with ``info`` first) or an operator
(:class:`~simulator.sut.manual_driver.ManualDriver`).

Either way the hub also hosts the harness's own system, whose agencies (realistic codes from the faker
provider, distinct from the SUT's) the fake agencies of the scenarios use. Everything is torn down
on exit, each step bounded. A wrong sut.toml or unknown defect raises
:class:`~simulator.sut.config.SutConfigError` (exit code 2); an unreachable or inconsistent driver
:class:`~simulator.sut.driver.DriverError` and a hub that cannot start
:class:`~simulator.hub.embedded.EmbeddedHubError` (exit code 3).
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import uvicorn
from rich.console import Console

from simulator.edxml.fake import edxml_provider, make_faker
from simulator.edxml.identifiers import IdentifierError, parse_agency_code
from simulator.edxml.model import Organization
from simulator.hub.app import listening_socket
from simulator.hub.config import AgencyEntry, HubConfig, SystemConfig
from simulator.hub.embedded import EmbeddedHub, EmbeddedHubError
from simulator.pki.ca import CertVariant
from simulator.sut.config import SutConfig, SutConfigError, SutTiming, load_sut_config
from simulator.sut.driver import DriverError, DriverInfo, SutDriver
from simulator.sut.http_driver import HttpDriver
from simulator.sut.manual_driver import ManualDriver

__all__ = [
    "HARNESS_SYSTEM_ID",
    "REFERENCE_SPEC",
    "REFERENCE_SYSTEM_ID",
    "REFERENCE_TIMING",
    "DriverTransport",
    "EmbeddedHubObserver",
    "SutTarget",
    "harness_agency_codes",
    "open_target",
]

if TYPE_CHECKING:
    from starlette.types import ASGIApp

    from simulator.sut.reference import ReferenceQlvb

_log = logging.getLogger(__name__)

REFERENCE_SPEC = "reference"
HARNESS_SYSTEM_ID = "lienthong.harness"
REFERENCE_SYSTEM_ID = "lienthong.reference-qlvb"
REFERENCE_TIMING = SutTiming(status_timeout_s=5.0, skew_tolerance_s=2.0, operator_timeout_s=5.0)
"""The reference QLVB answers within milliseconds; short bounds keep failing (defect) runs quick."""
DriverTransport = Literal["in-process", "http"]
_DEFAULT_SEED = 2018  # QD28 is of 2018: any fixed seed gives the same codes run after run


@dataclass(slots=True)
class SutTarget:
    """What the suite runs against. ``driver`` drives the SUT; ``hub`` is the running simulated hub;
    the harness's fake agencies connect as system ``harness_system_id`` hosting ``harness_agencies``."""

    name: str
    kind: Literal["reference", "external"]
    hub_config: HubConfig
    sut_system_id: str
    sut_agencies: tuple[str, ...]
    harness_system_id: str
    harness_agencies: tuple[str, ...]
    driver: SutDriver
    timing: SutTiming
    hub: EmbeddedHub
    defects: tuple[str, ...] = ()
    info: DriverInfo | None = None
    sut_config: SutConfig | None = None
    sut: ReferenceQlvb | None = None  # the in-process reference QLVB (kind "reference")
    notes: list[str] = field(default_factory=list)  # what the operator should know (printed by the runner)

    @property
    def hub_url(self) -> str:
        return self.hub.endpoint

    @property
    def harness_secret(self) -> str:
        return self.hub.system(self.harness_system_id)[1]

    @property
    def observer(self) -> EmbeddedHubObserver:
        return EmbeddedHubObserver(self.hub)


class EmbeddedHubObserver:
    """:class:`~simulator.sut.manual_driver.HubObserver` reading a running EmbeddedHub in-process."""

    def __init__(self, hub: EmbeddedHub, *, batch: int = 1000) -> None:
        self._hub = hub
        self._batch = batch

    def evidence(self, since: int = 0, /) -> list[dict[str, Any]]:
        return self._hub.evidence(since_id=since, limit=self._batch)

    def package(self, sha256: str, /) -> bytes | None:
        return self._hub.service.store.package_data(sha256)


def harness_agency_codes(
    count: int, *, exclude: Collection[str] = (), seed: int | None = _DEFAULT_SEED
) -> tuple[str, ...]:
    """``count`` distinct, conforming, realistic agency codes (ministries, provinces and their units)
    from the faker provider, none in ``exclude``."""
    provider = edxml_provider(make_faker(seed))
    taken = set(exclude)
    out: list[str] = []
    for _ in range(count * 200):
        if len(out) == count:
            break
        code = provider.agency().organ_id
        if code in taken:
            continue
        try:
            parse_agency_code(code, strict=True)
        except IdentifierError:
            continue
        taken.add(code)
        out.append(code)
    if len(out) < count:
        raise RuntimeError(f"could not generate {count} distinct agency codes (got {len(out)})")
    return tuple(out)


def _organizations(codes: Sequence[str], seed: int | None) -> list[Organization]:
    provider = edxml_provider(make_faker(seed))
    return [provider.agency_for(code) for code in codes]


def _directory(organizations: Sequence[Organization]) -> tuple[AgencyEntry, ...]:
    return tuple(
        AgencyEntry(code=o.organ_id, name=o.organ_name or o.organ_id, mail=o.email or "")
        for o in organizations
    )


@contextlib.contextmanager
def open_target(
    spec: str | Path,
    *,
    defects: Sequence[str] = (),
    workdir: Path | str | None = None,
    host: str = "127.0.0.1",
    harness_agencies: int = 3,
    seed: int | None = _DEFAULT_SEED,
    console: Console | None = None,
    reference_transport: DriverTransport = "in-process",
) -> Iterator[SutTarget]:
    """Start the hub and the SUT's driver for ``spec`` (``"reference"`` or a sut.toml path); yield the
    :class:`SutTarget`; tear everything down on exit. ``workdir``: where the hub keeps its data
    (``<workdir>/hub``; a temporary directory, deleted afterwards, when None). ``reference_transport``:
    drive the reference QLVB directly (``in-process``) or, as a vendor's SUT is driven, through its
    driver API served over HTTP on 127.0.0.1 with :class:`HttpDriver` (``http``)."""
    defects = tuple(dict.fromkeys(defects))
    is_reference = str(spec) == REFERENCE_SPEC
    config: SutConfig | None = None
    if is_reference:
        _check_defects(defects)
    else:
        if defects:
            raise SutConfigError(
                f"--defect {', '.join(defects)}: defects are variants of the built-in reference QLVB; use "
                "them with --sut reference"
            )
        config = load_sut_config(Path(spec))
        if config.hub.system_id == HARNESS_SYSTEM_ID:
            raise SutConfigError(
                f"{config.source}: hub.system_id: {HARNESS_SYSTEM_ID!r} is reserved for the harness's own "
                "system; pick another id"
            )
    with contextlib.ExitStack() as stack:
        if workdir is None:
            tmp = Path(tempfile.mkdtemp(prefix="lienthong-target-"))
            stack.callback(shutil.rmtree, tmp, True)
            base = tmp
        else:
            base = Path(workdir)
            base.mkdir(parents=True, exist_ok=True)
        if config is None:
            target = _open_reference(
                stack, base / "hub", defects, host, harness_agencies, seed, reference_transport
            )
        else:
            target = _open_external(stack, config, base / "hub", host, harness_agencies, seed, console)
        yield target


def _check_defects(defects: Sequence[str]) -> None:
    if not defects:
        return
    from simulator.sut.defects import UnknownDefectError, check_defects

    try:
        check_defects(defects)
    except UnknownDefectError as exc:
        raise SutConfigError(f"--defect: {exc}") from None


def _hub_config(
    data_dir: Path, sut: SystemConfig, sut_orgs: Sequence[Organization], harness_count: int, seed: int | None
) -> tuple[HubConfig, tuple[str, ...]]:
    harness_codes = harness_agency_codes(
        harness_count, exclude={*sut.agencies, HubConfig().hub_organ_id}, seed=seed
    )
    harness_orgs = _organizations(harness_codes, seed)
    harness = SystemConfig(
        HARNESS_SYSTEM_ID, secrets.token_urlsafe(32), harness_codes, name="lienthong harness (fake agencies)"
    )
    config = HubConfig(
        data_dir=data_dir,
        systems=(sut, harness),
        agencies=_directory([*sut_orgs, *harness_orgs]),
    )
    return config, harness_codes


def _open_reference(
    stack: contextlib.ExitStack,
    data_dir: Path,
    defects: tuple[str, ...],
    host: str,
    harness_count: int,
    seed: int | None,
    transport: DriverTransport,
) -> SutTarget:
    from simulator.sut.reference import ReferenceQlvb

    sut_codes = harness_agency_codes(
        2, exclude={HubConfig().hub_organ_id}, seed=None if seed is None else seed + 1
    )
    sut_orgs = _organizations(sut_codes, seed)
    sut_system = SystemConfig(
        REFERENCE_SYSTEM_ID, secrets.token_urlsafe(32), sut_codes, name="reference QLVB"
    )
    hub_config, harness_codes = _hub_config(data_dir, sut_system, sut_orgs, harness_count, seed)
    hub = EmbeddedHub(hub_config, data_dir=data_dir, host=host, port=0)
    stack.callback(_quietly, "stop the hub", hub.stop)
    hub.start()
    qlvb = ReferenceQlvb(hub.endpoint, sut_system.id, sut_system.secret, sut_orgs, hub.ca, defects=defects)
    stack.callback(_quietly, "stop the reference QLVB", qlvb.stop)
    qlvb.start()
    name = "reference QLVB" + (f" with defects {', '.join(defects)}" if defects else "")
    driver: SutDriver = qlvb
    info = qlvb.info()
    notes: list[str] = []
    if transport == "http":
        served = _ServedApp(qlvb.driver_app(), host).start()
        stack.callback(_quietly, "stop the reference driver API", served.stop)
        http = HttpDriver(served.url, timeout=10.0, agencies=sut_codes)
        stack.callback(http.close)
        info = http.check()
        driver = http
        notes.append(f"the reference QLVB's driver API is served at {served.url}")
    return SutTarget(
        name=name,
        kind="reference",
        hub_config=hub.config,
        sut_system_id=sut_system.id,
        sut_agencies=sut_codes,
        harness_system_id=HARNESS_SYSTEM_ID,
        harness_agencies=harness_codes,
        driver=driver,
        timing=REFERENCE_TIMING,
        hub=hub,
        defects=defects,
        info=info,
        sut=qlvb,
        notes=notes,
    )


def _open_external(
    stack: contextlib.ExitStack,
    config: SutConfig,
    data_dir: Path,
    host: str,
    harness_count: int,
    seed: int | None,
    console: Console | None,
) -> SutTarget:
    sut_orgs = _organizations(config.hub.agencies, seed)
    sut_system = SystemConfig(config.hub.system_id, config.hub.secret, config.hub.agencies, name=config.name)
    hub_config, harness_codes = _hub_config(data_dir, sut_system, sut_orgs, harness_count, seed)
    tls = CertVariant.GOOD if config.hub.tls else None
    hub = EmbeddedHub(hub_config, data_dir=data_dir, host=host, port=config.hub.port, tls=tls)
    stack.callback(_quietly, "stop the hub", hub.stop)
    try:
        hub.start()
    except EmbeddedHubError as exc:
        raise EmbeddedHubError(
            f"{config.source or 'sut.toml'}: hub.port = {config.hub.port}: the simulated hub cannot start "
            f"({exc}); stop the program holding the port, or choose another port in hub.port and configure "
            f"{config.name} with it"
        ) from None
    notes = [
        f"the simulated hub listens at {hub.endpoint}; configure {config.name} with this URL, system id "
        f"{config.hub.system_id} and the secret of sut.toml"
    ]
    if tls is not None:
        notes.append(
            f"the hub serves HTTPS with a test-CA certificate: make the SUT trust {hub.ca.root_path}"
        )
    driver: SutDriver
    info: DriverInfo
    if config.driver.mode == "http":
        assert config.driver.url is not None  # guaranteed by load_sut_config
        http = HttpDriver(config.driver.url, timeout=config.driver.timeout_s, agencies=config.hub.agencies)
        stack.callback(http.close)
        try:
            info = http.check()
        except DriverError as exc:
            source = f" ({config.source})" if config.source else ""
            raise DriverError(f"{config.name}{source}: {exc}") from None
        driver = http
    else:
        manual = ManualDriver(
            EmbeddedHubObserver(hub),
            sut_name=config.name,
            agencies=config.hub.agencies,
            sut_system_id=config.hub.system_id,
            timeout_s=config.timing.operator_timeout_s,
            console=console,
            interactive=config.driver.interactive,
        )
        info = manual.info()
        driver = manual
    return SutTarget(
        name=config.name,
        kind="external",
        hub_config=hub.config,
        sut_system_id=config.hub.system_id,
        sut_agencies=config.hub.agencies,
        harness_system_id=HARNESS_SYSTEM_ID,
        harness_agencies=harness_codes,
        driver=driver,
        timing=config.timing,
        hub=hub,
        info=info,
        sut_config=config,
        notes=notes,
    )


class _ServedApp:
    """An ASGI app served by uvicorn from a daemon thread on a free port of ``host`` (bounded start/stop)."""

    def __init__(self, app: ASGIApp, host: str, *, timeout: float = 10.0) -> None:
        self._app = app
        self._host = host
        self._timeout = timeout
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    def start(self) -> _ServedApp:
        sock = listening_socket(self._host, 0)
        port = int(sock.getsockname()[1])
        server = uvicorn.Server(
            uvicorn.Config(self._app, log_level="warning", access_log=False, lifespan="off")
        )
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name=f"driver-api-{port}", daemon=True
        )
        self._server, self._thread = server, thread
        thread.start()
        deadline = time.monotonic() + self._timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                sock.close()
                raise DriverError(f"the reference QLVB's driver API did not start on {self._host}:{port}")
            time.sleep(0.005)
        host = f"[{self._host}]" if ":" in self._host else self._host
        self.url = f"http://{host}:{port}"
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.should_exit = True
        thread.join(self._timeout / 2)
        if thread.is_alive():
            server.force_exit = True
            thread.join(1.0)
        self._server = self._thread = None


def _quietly(what: str, action: Any) -> None:
    """Run a teardown step; a failure is logged, never raised over the suite's own outcome."""
    try:
        action()
    except Exception as exc:
        _log.warning("could not %s cleanly: %s", what, exc)
