"""EmbeddedHub: the real hub served from a background thread, restartable, with TLS variants."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from simulator.agency.client import VxpClient, VxpTransportError
from simulator.edxml.builder import build
from simulator.hub.config import parse_config
from simulator.hub.embedded import EmbeddedHub, EmbeddedHubError
from simulator.pki.dsig import sign
from tests.hub.conftest import SYS_A, SYS_B, UBND, VPCP, Pki, config_data, document


def _signed(pki: Pki) -> bytes:
    return sign(build(document(VPCP, [UBND])), pki.creds[VPCP])


def test_start_serves_the_protocol_and_stop_is_bounded(tmp_path: Path, pki: Pki) -> None:
    hub = EmbeddedHub(parse_config(config_data(tmp_path / "hub")), pki_dir=pki.directory)
    with pytest.raises(EmbeddedHubError, match="start"):
        _ = hub.endpoint
    hub.start()
    try:
        assert hub.running and hub.endpoint.startswith("http://127.0.0.1:")
        assert hub.ca.root_path.resolve() == (pki.directory / "root.pem").resolve()
        with hub.client(SYS_A) as client:
            codes = {a["code"] for a in client.get_agencies_list()}
            assert {VPCP, UBND} <= codes
            doc_id = client.send_edoc(_signed(pki), from_=VPCP)
        assert any(doc_id in row["doc_ids"] for row in hub.evidence())
    finally:
        t0 = time.monotonic()
        hub.stop()
        elapsed = time.monotonic() - t0
    assert not hub.running
    assert elapsed < hub.stop_timeout
    client = VxpClient(f"http://127.0.0.1:{hub.port}", *hub.system(SYS_A), timeout=1)
    with client, pytest.raises(VxpTransportError, match="cannot reach"):
        client.get_agencies_list()


def test_restart_on_the_same_data_dir_keeps_data_port_and_secrets(tmp_path: Path, pki: Pki) -> None:
    data_dir = tmp_path / "hub"
    # no [[systems]]: generated secrets must survive a new EmbeddedHub on the same directory
    first = EmbeddedHub(data_dir=data_dir, pki_dir=pki.directory)
    with first:
        system_id = first.config.systems[0].id
        secret = first.system(system_id)[1]
        port = first.port
    assert data_dir.is_dir(), "a given data_dir is never deleted"

    hub = EmbeddedHub(parse_config(config_data(data_dir / "declared")), pki_dir=pki.directory)
    hub.start()
    try:
        port = hub.port
        package = _signed(pki)
        with hub.client(SYS_A) as client:
            doc_id = client.send_edoc(package, from_=VPCP)
        _signed_cache = {doc_id: package}
        hub.stop()
        hub.start()  # same object: same port, same store
        assert hub.port == port
        with hub.client(SYS_B) as client:
            pending = client.get_received_edoc_list()
            assert len(pending) == 1 and pending[0]["from"] == VPCP
            assert client.get_edoc(pending[0]["docId"]) == _signed_cache[doc_id]
        hub.stop()
        again = EmbeddedHub(parse_config(config_data(data_dir / "declared")), pki_dir=pki.directory)
        with again, again.client(SYS_B) as client:
            assert [i["docId"] for i in client.get_received_edoc_list()] == [pending[0]["docId"]]
    finally:
        hub.stop()
    with EmbeddedHub(data_dir=data_dir, pki_dir=pki.directory) as reopened:
        assert reopened.system(system_id) == (system_id, secret)


def test_temporary_data_dir_is_removed_on_close(pki: Pki) -> None:
    with EmbeddedHub(pki_dir=pki.directory) as hub:
        directory = hub.data_dir
        assert (directory / "hub.db").exists()
    assert not directory.exists()


def test_port_in_use_is_a_clear_error(tmp_path: Path, pki: Pki) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        hub = EmbeddedHub(data_dir=tmp_path / "hub", port=port, pki_dir=pki.directory)
        with pytest.raises(EmbeddedHubError, match=f"127.0.0.1:{port}.*port=0"):
            hub.start()
        assert not hub.running


def test_unknown_system_names_the_known_ones(tmp_path: Path, pki: Pki) -> None:
    hub = EmbeddedHub(parse_config(config_data(tmp_path / "hub")), pki_dir=pki.directory)
    with pytest.raises(KeyError, match=f"no system 'nope'.*{SYS_A}"):
        hub.system("nope")


def test_add_system_seeds_through_the_control_api_and_persists(tmp_path: Path, pki: Pki) -> None:
    config = parse_config(config_data(tmp_path / "hub"))
    hub = EmbeddedHub(config, pki_dir=pki.directory)
    with pytest.raises(EmbeddedHubError, match="running hub"):
        hub.add_system("sim.test.new", ["000.00.05.H41"])
    with hub:
        before = hub.evidence()[-1]["id"] if hub.evidence() else 0
        sid, secret = hub.add_system("sim.test.new", ["000.00.05.H41"], names={"000.00.05.H41": "Sở Mới"})
        assert hub.system(sid) == (sid, secret) and len(secret) >= 32
        assert hub.config.owner_of()["000.00.05.H41"] == sid
        with hub.client(sid) as client:
            entry = next(a for a in client.get_agencies_list() if a["code"] == "000.00.05.H41")
        assert entry["name"] == "Sở Mới"
        assert any(row["operation"] == "control.seed" for row in hub.evidence(since_id=before))
        with pytest.raises(ValueError, match=f"{UBND} \\(system {SYS_B}\\)"):
            hub.add_system("sim.test.other", [UBND])
        with pytest.raises(ValueError, match="already has a system"):
            hub.add_system(SYS_A, ["000.00.06.H41"])
        with pytest.raises(ValueError, match="refused the new system"):
            hub.add_system("sim.test.bad", ["not a code"])
    # a later hub on the same data directory knows the seeded system (it lives in the store)
    with EmbeddedHub(config, pki_dir=pki.directory) as again:
        assert again.system(sid) == (sid, secret)
        with again.client(sid) as client:
            assert client.get_agencies_list()


def test_tls_hub_is_reachable_with_the_test_root_only(tmp_path: Path, pki: Pki) -> None:
    config = parse_config(config_data(tmp_path / "good"))
    with EmbeddedHub(config, tls="good", pki_dir=pki.directory) as good:
        assert good.endpoint.startswith("https://127.0.0.1:")
        with good.client(SYS_A) as client:  # verify = the test CA's root
            assert client.get_agencies_list()
        system_trust = good.client(SYS_A, verify=True)  # the machine's trust store: refused
        with system_trust, pytest.raises(VxpTransportError, match=r"(?i)certificate"):
            system_trust.get_agencies_list()
        # a second hub with an untrusted certificate runs beside it (TLS negative scenarios)
        bad_config = parse_config(config_data(tmp_path / "bad"))
        with EmbeddedHub(bad_config, tls="untrusted", pki_dir=pki.directory) as bad:
            assert bad.port != good.port
            test_root = bad.client(SYS_A)
            with test_root, pytest.raises(VxpTransportError, match=r"(?i)certificate"):
                test_root.get_agencies_list()
            with good.client(SYS_A) as client:
                assert client.get_agencies_list()


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="wrong-key-usage"):
        EmbeddedHub(data_dir=tmp_path, tls="wrong-key-usage")
    with pytest.raises(ValueError, match="port"):
        EmbeddedHub(data_dir=tmp_path, port=70000)
