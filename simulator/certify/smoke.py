"""The smoke connectivity check ``lienthong certify`` runs before anything long.

:func:`smoke_check` starts the target exactly as the conformance suite will (the simulated hub and, for
``--sut reference``, the built-in reference QLVB; for a ``sut.toml``, the hub on the configured port
and the vendor's test-driver API checked with ``info``), then checks, each step bounded:

* ``target`` — the hub starts (its port is free) and the SUT's driver answers ``info`` with exactly the
  agency codes of sut.toml (HTTP mode; an operator in manual mode is trivially "reachable");
* ``hub-time`` — the hub answers ``GET /time`` (no credentials, QD28-14.4) with its time;
* ``driver`` — what the driver said about itself: product, version, agencies, capabilities.

A failed check is **not a verdict on the SUT**: ``certify`` ends with exit code 3 (harness or
infrastructure) and the check's ``hint`` says what to look at. A wrong ``sut.toml`` or an unknown
defect raises :class:`~simulator.sut.config.SutConfigError` (a usage error, exit 2).
"""

from __future__ import annotations

import contextlib
import shutil
import ssl
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from simulator.hub.embedded import EmbeddedHubError
from simulator.sut.driver import DriverError
from simulator.sut.target import SutTarget, open_target

__all__ = ["SmokeCheck", "SmokeResult", "smoke_check"]

_TIME_TIMEOUT_S = 5.0


@dataclass(frozen=True, slots=True)
class SmokeCheck:
    name: str  # "target" | "hub-time" | "driver"
    ok: bool
    detail: str


@dataclass(slots=True)
class SmokeResult:
    """The checks in order; ``hint`` says what to check when one failed."""

    checks: list[SmokeCheck] = field(default_factory=list)
    hint: str | None = None
    seconds: float = 0.0
    sut_name: str = ""
    hub_url: str = ""
    sut_system_id: str = ""
    sut_agencies: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    @property
    def failure(self) -> SmokeCheck | None:
        return next((c for c in self.checks if not c.ok), None)

    def summary(self) -> str:
        failed = self.failure
        if failed is not None:
            return f"{failed.name}: {failed.detail}"
        return "; ".join(f"{c.name}: {c.detail}" for c in self.checks)


def _tls_context(target: SutTarget) -> ssl.SSLContext | bool:
    verify = target.hub.client_verify
    if isinstance(verify, str):
        return ssl.create_default_context(cafile=verify)
    return False


def _check_time(target: SutTarget) -> SmokeCheck:
    url = f"{target.hub_url}/time"
    try:
        with httpx.Client(timeout=_TIME_TIMEOUT_S, verify=_tls_context(target), trust_env=False) as client:
            reply = client.get(url)
    except httpx.HTTPError as exc:
        return SmokeCheck("hub-time", False, f"GET {url} failed: {type(exc).__name__}: {exc}")
    if reply.status_code != 200:
        return SmokeCheck("hub-time", False, f"GET {url} answered HTTP {reply.status_code}, expected 200")
    try:
        body = reply.json()
    except ValueError:
        return SmokeCheck("hub-time", False, f"GET {url} did not answer JSON")
    hub_time = body.get("time") if isinstance(body, dict) else None
    if not isinstance(hub_time, str):
        return SmokeCheck("hub-time", False, f"GET {url} answered without a 'time' field: {body!r:.120}")
    return SmokeCheck("hub-time", True, f"the hub at {target.hub_url} answers GET /time ({hub_time})")


def _check_driver(target: SutTarget) -> SmokeCheck:
    info = target.info
    if info is None:
        try:
            info = target.driver.info()
        except DriverError as exc:
            return SmokeCheck("driver", False, str(exc))
    missing = sorted(set(target.sut_agencies) - set(info.agencies))
    if missing:  # open_target checks this for HTTP drivers; the reference must agree with itself too
        return SmokeCheck(
            "driver",
            False,
            f"the driver of {target.name} reports agencies [{', '.join(info.agencies) or 'none'}], "
            f"missing {', '.join(missing)} (QD28-10.2.a)",
        )
    capabilities = ", ".join(sorted(str(c) for c in info.capabilities)) or "none"
    return SmokeCheck(
        "driver",
        True,
        f"{info.product} {info.version} hosts {', '.join(info.agencies)}; capabilities: {capabilities}",
    )


def _target_hint(spec: str, exc: BaseException) -> str:
    untested = "nothing was tested (this is no verdict on the SUT); "
    if spec == "reference":
        return untested + (
            "the built-in reference QLVB or its simulated hub could not start on 127.0.0.1: check free "
            "ports and the temporary directory; rerun with LIENTHONG_DEBUG=1 for details"
        )
    if isinstance(exc, EmbeddedHubError):
        return untested + "free hub.port of sut.toml (or choose another port and configure the SUT with it)"
    return untested + (
        "start the SUT's test-driver API at driver.url of sut.toml, hosting exactly the agencies of "
        "hub.agencies, and rerun"
    )


def smoke_check(
    sut: str,
    *,
    defects: tuple[str, ...] = (),
    workdir: Path | None = None,
) -> SmokeResult:
    """Start the target for ``sut`` (``"reference"`` or a sut.toml path), check it, stop it (bounded).

    Raises :class:`~simulator.sut.config.SutConfigError` for a wrong sut.toml or unknown defect; every
    connectivity problem is a failed check in the result."""
    result = SmokeResult()
    started = time.monotonic()
    base = Path(tempfile.mkdtemp(prefix="lienthong-smoke-", dir=workdir))
    try:
        with contextlib.ExitStack() as stack:
            try:
                target = stack.enter_context(open_target(sut, defects=defects, workdir=base))
            except (EmbeddedHubError, DriverError) as exc:
                what = "the simulated hub" if isinstance(exc, EmbeddedHubError) else "the SUT's driver"
                result.checks.append(SmokeCheck("target", False, f"{what}: {exc}"))
                result.hint = _target_hint(sut, exc)
                return result
            except OSError as exc:
                result.checks.append(
                    SmokeCheck("target", False, f"the target could not start: {exc.strerror or exc}")
                )
                result.hint = _target_hint(sut, exc)
                return result
            result.sut_name = target.name
            result.hub_url = target.hub_url
            result.sut_system_id = target.sut_system_id
            result.sut_agencies = tuple(target.sut_agencies)
            result.checks.append(
                SmokeCheck(
                    "target", True, f"{target.name} connected to the simulated hub at {target.hub_url}"
                )
            )
            result.checks.append(_check_time(target))
            if not result.checks[-1].ok:
                result.hint = (
                    "the simulated hub started but does not answer on 127.0.0.1: check local firewalls"
                )
                return result
            result.checks.append(_check_driver(target))
            if not result.checks[-1].ok:
                result.hint = _target_hint(sut, DriverError(result.checks[-1].detail))
        return result
    finally:
        shutil.rmtree(base, ignore_errors=True)
        result.seconds = time.monotonic() - started
