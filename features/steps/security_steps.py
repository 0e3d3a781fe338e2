"""Steps about the TLS connection between the SUT and the hub (QD28-13.2)."""

from __future__ import annotations

import shutil
import tempfile
import threading
from pathlib import Path

from pytest_bdd import given, parsers, then, when

from features.steps.support import Harness, ScenarioState
from simulator.conformance.expect import check
from simulator.hub.config import HubConfig
from simulator.hub.embedded import EmbeddedHub
from simulator.pki.ca import CertVariant
from simulator.sut.driver import Capability, ProbeResult

__all__ = ["probe", "probe_control", "refuses", "stop_tls_hubs", "tls_hub"]

_VARIANTS = {"valid": CertVariant.GOOD, "expired": CertVariant.EXPIRED, "untrusted": CertVariant.UNTRUSTED}
_hubs: dict[tuple[str, CertVariant], EmbeddedHub] = {}
_lock = threading.Lock()


def _hub(harness: Harness, variant: CertVariant) -> EmbeddedHub:
    """A second hub serving HTTPS with a test-CA certificate of ``variant`` (started once, then reused)."""
    ca_dir = str(harness.target.hub.ca.directory)
    key = (ca_dir, variant)
    with _lock:
        hub = _hubs.get(key)
        if hub is None or not hub.running:
            data = Path(tempfile.mkdtemp(prefix=f"lienthong-tls-{variant.value}-"))
            hub = EmbeddedHub(HubConfig(data_dir=data), data_dir=data, tls=variant, pki_dir=ca_dir)
            hub.start()
            _hubs[key] = hub
            harness.target.notes.append(f"TLS test hub ({variant.value}) at {hub.endpoint}")
        return hub


def stop_tls_hubs() -> None:
    """Stop the TLS test hubs and delete their data (called when the target closes)."""
    with _lock:
        for hub in _hubs.values():
            hub.stop()
            shutil.rmtree(hub.data_dir, ignore_errors=True)
        _hubs.clear()


@given(parsers.parse("a hub whose TLS certificate is {variant}"))
def tls_hub(harness: Harness, ctx: ScenarioState, variant: str) -> None:
    harness.require(Capability.PROBE_HUB)
    if variant not in _VARIANTS:
        raise AssertionError(
            f"unknown certificate variant {variant!r} in the feature file: {', '.join(_VARIANTS)}"
        )
    ctx.probe_url = _hub(harness, _VARIANTS[variant]).endpoint
    ctx.probe_connected = None


def _probe(harness: Harness, ctx: ScenarioState) -> ProbeResult:
    url = ctx.probe_url
    assert url is not None, "step order: name the hub first"
    result = harness.drive(
        "QD28-13.2", f"try a TLS connection to {url}", lambda: harness.driver.probe_hub(url)
    )
    ctx.probe_connected, ctx.probe_detail = result.connected, result.detail
    return result


@given("the SUT connects to that hub")
def probe_control(harness: Harness, ctx: ScenarioState) -> None:
    result = _probe(harness, ctx)
    check(
        result.connected,
        "QD28-13.2",
        expected=f"the SUT to connect to {ctx.probe_url}, whose certificate the test CA issued and is valid "
        f"(the SUT must trust {harness.target.hub.ca.root_path})",
        actual=f"it did not: {result.detail}",
    )


@when("the SUT is asked to connect to that hub")
def probe(harness: Harness, ctx: ScenarioState) -> None:
    _probe(harness, ctx)


@then("the SUT refuses the connection")
def refuses(harness: Harness, ctx: ScenarioState) -> None:
    check(
        ctx.probe_connected is False,
        "QD28-13.2",
        expected=f"the SUT to refuse the TLS connection to {ctx.probe_url}",
        actual=f"it connected: {ctx.probe_detail}",
    )
