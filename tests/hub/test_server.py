"""``lienthong hub`` for real: subprocesses on 127.0.0.1, restart on the same data, TLS, SNTP, errors.

Plus in-process checks of :mod:`simulator.hub.server`'s pieces (effective config round trip, seeded
agencies, overrides, CA binding, listening warnings, port errors).
"""

from __future__ import annotations

import os
import signal
import socket
import ssl
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import httpx
import ntplib
import pytest
from typer.testing import CliRunner

from simulator.agency.client import VxpClient, VxpError
from simulator.cli import app
from simulator.edxml.builder import build
from simulator.edxml.identifiers import parse_agency_code
from simulator.edxml.samples import sample_document
from simulator.hub.config import ConfigError, HubConfig, Policies, load_config, parse_config
from simulator.hub.server import (
    HubOverrides,
    ServerStartError,
    bind_http,
    build_config,
    config_toml,
    is_loopback,
    link_pki,
    listen_warnings,
    prepare,
    seed_agencies,
    write_effective_config,
)
from simulator.pki.ca import TestCA
from simulator.pki.dsig import sign
from tests.hub.conftest import SECRET_A, SYS_A, VPCP, Pki, config_data, org
from tests.hub.hubproc import HubProcess, HubRunner, free_port, run_cli

cli = CliRunner()


@pytest.fixture
def runner(tmp_path: Path, pki: Pki) -> Iterator[HubRunner]:
    with HubRunner(tmp_path, pki_dir=pki.directory) as r:
        yield r


def _signed(ca: TestCA, sender: str, recipient: str, seed: int) -> bytes:
    credential = ca.issue(f"agency-{sender}", organ_id=sender)
    package = sample_document(
        seed=seed, sender=org(sender), recipients=[org(recipient)], attachment_size=1_500
    )
    return sign(build(package), credential)


# ------------------------------------------------------------------------------- real processes


def test_hub_serves_then_restarts_on_the_same_data_without_loss(runner: HubRunner, pki: Pki) -> None:
    data_dir = runner.tmp / "data"
    hub = runner.start(data_dir=data_dir, sntp=True)

    # the banner: endpoint, generated systems with secrets and agencies, admin token, data, SNTP
    assert f"endpoint      {hub.endpoint}" in hub.stdout
    systems = hub.systems()
    assert len(systems) == 2, hub.logs()
    a, b = systems["sim.gen.01"], systems["sim.gen.02"]
    assert len(a.secret) >= 32 and len(b.secret) >= 32 and a.secret != b.secret
    assert a.agencies and b.agencies
    admin_token = hub.banner_value("admin token")
    assert len(admin_token) >= 24
    assert hub.banner_value("data") == str(data_dir)
    assert hub.banner_value("test CA") == str(pki.directory.resolve())

    # SNTP answers from the main process, close to the host clock (no offset configured)
    sntp = hub.banner_value("sntp")
    assert sntp.startswith("udp://127.0.0.1:")
    reply = ntplib.NTPClient().request("127.0.0.1", port=int(sntp.rsplit(":", 1)[1]), version=4, timeout=2)
    assert reply.stratum == 1
    assert abs(reply.tx_time - time.time()) < 2

    # a signed document from A's agency to B's agency: listed and fetched by B, byte for byte
    data = _signed(pki.ca, a.agencies[0], b.agencies[0], seed=11)
    with VxpClient(hub.endpoint, a.id, a.secret) as sender:
        doc_id = sender.send_edoc(data, from_=a.agencies[0], to=[b.agencies[0]])
        assert doc_id in {item["senderDocId"] for item in sender.get_sent_edoc_list()}
    with VxpClient(hub.endpoint, b.id, b.secret) as receiver:
        items = receiver.get_received_edoc_list()
        assert [item["from"] for item in items] == [a.agencies[0]]
        delivery = items[0]["docId"]
        assert receiver.get_edoc(delivery) == data

    # the control API adds a system and overrides a policy: both live in the store
    control = {"Authorization": f"Bearer {admin_token}"}
    seeded = {"systems": [{"id": "sim.seeded.09", "agencies": ["000.00.09.H90"]}]}
    with httpx.Client(base_url=hub.endpoint, headers=control, timeout=5) as admin:
        assert admin.post("/control/seed", json=seeded).status_code == 200
        assert admin.put("/control/policies", json={"duplicates": "refuse"}).status_code == 200

    assert hub.stop() == 0, hub.logs()  # SIGINT, as Ctrl-C
    assert "hub stopped" in hub.stderr

    # restart on the same data directory: same secrets, same token, the unacknowledged document is kept
    again = runner.start(data_dir=data_dir, port=hub.port)
    restarted = again.systems()
    assert {k: v for k, v in restarted.items() if k in systems} == systems
    assert restarted["sim.seeded.09"].agencies == ("000.00.09.H90",)
    assert "overridden at run time (control API, kept in the store): duplicates=refuse" in again.stdout
    assert again.banner_value("admin token") == admin_token
    with VxpClient(again.endpoint, b.id, b.secret) as receiver:
        assert [item["docId"] for item in receiver.get_received_edoc_list()] == [delivery]
        assert receiver.get_edoc(delivery) == data
        receiver.update_status(delivery, "done")
        assert receiver.get_received_edoc_list() == []
    with VxpClient(again.endpoint, "sim.seeded.09", restarted["sim.seeded.09"].secret) as seeded_system:
        assert seeded_system.count_receive_edoc() == 0
    with (
        VxpClient(again.endpoint, a.id, "not-the-secret-of-this-system-0123456789") as stranger,
        pytest.raises(VxpError),
    ):
        stranger.count_receive_edoc()
    assert again.stop(signal.SIGTERM) == 0, again.logs()


def test_tls_good_expired_and_untrusted_certificates(runner: HubRunner, pki: Pki) -> None:
    hubs: dict[str, HubProcess] = {
        variant: runner.launch(data_dir=runner.tmp / variant, tls=True, extra=flags)
        for variant, flags in {
            "good": ["--tls"],
            "expired": ["--tls-variant", "expired"],
            "untrusted": ["--tls-variant", "untrusted"],
        }.items()
    }
    for hub in hubs.values():
        hub.wait_ready()
    root = pki.ca.root_path
    trusting = ssl.create_default_context(cafile=str(root))

    good = hubs["good"]
    assert good.endpoint.startswith("https://")
    assert good.banner_value("trust") == str(root)
    with httpx.Client(verify=trusting, timeout=5) as client:
        assert client.get(f"{good.endpoint}/time").status_code == 200
    system = next(iter(good.systems().values()))
    with VxpClient(good.endpoint, system.id, system.secret, verify=str(root)) as client_ok:
        assert client_ok.count_receive_edoc() == 0
    with (
        httpx.Client(verify=ssl.create_default_context(), timeout=5) as untrusting,  # public roots only
        pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"),
    ):
        untrusting.get(f"{good.endpoint}/time")

    with httpx.Client(verify=trusting, timeout=5) as client:
        with pytest.raises(httpx.ConnectError, match="certificate has expired"):
            client.get(f"{hubs['expired'].endpoint}/time")
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            client.get(f"{hubs['untrusted'].endpoint}/time")
    assert "deliberately expired" in hubs["expired"].stdout
    for hub in hubs.values():
        assert hub.stop() == 0, hub.logs()


def test_port_or_sntp_port_in_use_exits_3_naming_the_port(runner: HubRunner) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_cli(
            ["hub", "--data-dir", str(runner.tmp / "d"), "--port", str(port), "--no-sntp", "--workers", "1"],
            runner.env(),
        )
    assert result.returncode == 3, result.stderr
    assert f"port {port} on 127.0.0.1 is already in use" in result.stderr
    assert "--port" in result.stderr

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as busy_udp:
        busy_udp.bind(("127.0.0.1", 0))
        udp = busy_udp.getsockname()[1]
        result = run_cli(
            ["hub", "--data-dir", str(runner.tmp / "d"), "--port", str(free_port()), "--sntp-port", str(udp)],
            runner.env(),
        )
    assert result.returncode == 3, result.stderr
    assert f"udp 127.0.0.1:{udp}" in result.stderr and "--sntp-port" in result.stderr


# ------------------------------------------------------------------------------ command line, in-process


def _invoke(home: Path, *args: str) -> tuple[int, str, str]:
    result = cli.invoke(app, ["hub", *args], env={"LIENTHONG_HOME": str(home), "COLUMNS": "200"})
    return result.exit_code, result.stdout, result.stderr


def test_bad_config_exits_2_naming_the_field(tmp_path: Path) -> None:
    cfg = tmp_path / "hub.toml"
    cfg.write_text(
        '[[systems]]\nid = "a"\nsecret = "s-a"\n\n[[systems]]\nid = "b"\nagencies = []\n', encoding="utf-8"
    )
    code, _, err = _invoke(tmp_path, "--config", str(cfg), "--print-config-only")
    assert code == 2
    assert "systems[1].secret: missing" in err and str(cfg) in err

    cfg.write_text('[policies]\nsignature = "sometimes"\n', encoding="utf-8")
    code, _, err = _invoke(tmp_path, "--config", str(cfg), "--print-config-only")
    assert code == 2 and "policies.signature" in err

    code, _, err = _invoke(tmp_path, "--no-sntp", "--sntp-port", "5", "--print-config-only")
    assert code == 2 and "--no-sntp" in err


def test_print_config_only_persists_generated_secrets(tmp_path: Path) -> None:
    data_dir = tmp_path / "d"
    args = (
        "--data-dir",
        str(data_dir),
        "--seed-agencies",
        "5",
        "--signature",
        "enforce",
        "--print-config-only",
    )
    code, first, err = _invoke(tmp_path, *args)
    assert code == 0, err
    code, second, _ = _invoke(tmp_path, *args)
    assert code == 0 and first == second  # generated once, then read back
    parsed = tomllib.loads(first)
    assert parsed["policies"]["signature"] == "enforce"
    hosted = {c for s in parsed["systems"] for c in s["agencies"]}
    assert len(parsed["systems"]) == 2 and all(s["secret"] for s in parsed["systems"])
    assert len([a for a in parsed["agencies"] if a["code"] not in hosted]) == 5
    assert (data_dir / "pki").is_symlink() and (data_dir / "pki").resolve() == (tmp_path / "pki").resolve()


# ------------------------------------------------------------------------------------------ pieces


def test_effective_config_round_trips_awkward_values(tmp_path: Path) -> None:
    data = config_data(tmp_path / "d", signature="enforce", replay_window_s=120)
    data["systems"][0]["name"] = 'Quote " back\\slash\ttab\nnewline \x7f del — Sở Tài chính 😀'
    data["agencies"][0]["mail"] = "a'b@x.gov.vn"
    data["generate"] = {"seed": 5}
    config = parse_config(data)
    config.data_dir.mkdir()
    path = write_effective_config(config)
    assert path.stat().st_mode & 0o777 == 0o600
    back = load_config(path)
    assert back == config
    assert back.systems[0].name == data["systems"][0]["name"]
    assert back.policies == Policies(signature="enforce", replay_window_s=120)
    assert "replay_window_s" not in config_toml(parse_config({"data_dir": str(tmp_path)}))  # None omitted


def test_build_config_merges_file_and_command_line(tmp_path: Path) -> None:
    cfg = tmp_path / "conf" / "hub.toml"
    cfg.parent.mkdir()
    cfg.write_text(
        'data_dir = "rel"\nport = 9000\n[policies]\nvalidation = "strict"\nsignature = "enforce"\n'
        f'[[systems]]\nid = "{SYS_A}"\nsecret = "{SECRET_A}"\nagencies = ["{VPCP}"]\n',
        encoding="utf-8",
    )
    config = build_config(cfg, HubOverrides(policies={"duplicates": "refuse"}))
    assert config.data_dir == cfg.parent.resolve() / "rel"  # relative to the file
    assert config.port == 9000
    assert (config.policies.validation, config.policies.signature, config.policies.duplicates) == (
        "strict",
        "enforce",
        "refuse",
    )
    config = build_config(
        cfg, HubOverrides(data_dir=tmp_path / "x", port=0, host="localhost", admin_token="T")
    )
    assert (config.data_dir, config.port, config.host, config.admin_token) == (
        tmp_path / "x",
        0,
        "localhost",
        "T",
    )
    with pytest.raises(ConfigError, match=r"hub\.toml: policies\.duplicates"):
        build_config(cfg, HubOverrides(policies={"duplicates": "sometimes"}))


def test_seed_agencies_are_stable_distinct_and_conforming(tmp_path: Path) -> None:
    config = parse_config(config_data(tmp_path))
    first = seed_agencies(config, 40)
    assert first == seed_agencies(config, 40)
    codes = [a["code"] for a in first]
    assert len(set(codes)) == 40
    taken = {a.code for a in config.agencies} | {c for s in config.systems for c in s.agencies}
    assert not taken & set(codes)
    for entry in first:
        assert parse_agency_code(entry["code"], strict=True).conforming
        assert entry["name"]
        if "parent" in entry:
            assert entry["parent"] in set(codes) | taken
    built = build_config(None, HubOverrides(data_dir=tmp_path, seed_agencies=40))
    assert len(built.agencies) == 40
    with pytest.raises(ConfigError, match="seed_agencies"):
        seed_agencies(config, 10_000)


def test_link_pki_binds_the_data_directory_to_one_ca(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIENTHONG_HOME", str(tmp_path / "home"))
    data_dir = tmp_path / "d"
    data_dir.mkdir()
    link = link_pki(data_dir, None)
    assert link.is_symlink() and link.resolve() == (tmp_path / "home" / "pki").resolve()
    assert link_pki(data_dir, None) == link  # kept on restart
    other = tmp_path / "other-ca"
    link_pki(data_dir, other)
    assert link.resolve() == other.resolve()

    own = tmp_path / "own"
    (own / "pki").mkdir(parents=True)
    assert link_pki(own, None) == own / "pki" and not (own / "pki").is_symlink()
    with pytest.raises(ServerStartError, match="already has its own test CA") as info:
        link_pki(own, other)
    assert info.value.kind == "usage"


def test_listening_address_checks(tmp_path: Path) -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "192.168.1.20", "hub.example.vn", "::"))
    assert listen_warnings("127.0.0.1") == []
    assert "0.0.0.0" in listen_warnings("0.0.0.0")[0]

    sock = bind_http("127.0.0.1", 0)
    try:
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(ServerStartError, match=f"port {port} on 127.0.0.1 is already in use") as info:
            bind_http("127.0.0.1", port)
        assert info.value.kind == "infrastructure" and info.value.hint and "--port" in info.value.hint
    finally:
        sock.close()
    with pytest.raises(ServerStartError, match="at least 1 worker"):
        prepare(HubConfig(data_dir=tmp_path), workers=0)


def test_workers_do_not_outlive_a_killed_supervisor(runner: HubRunner) -> None:
    """``kill -9`` of the main process only: the workers follow it, so the port is free for a restart."""
    hub = runner.start(data_dir=runner.tmp / "d", workers=2)
    assert hub.proc is not None
    os.kill(hub.proc.pid, signal.SIGKILL)  # not the group: the workers are orphaned
    hub.proc.wait(10)
    deadline = time.monotonic() + 15
    while True:
        try:
            with httpx.Client(timeout=0.5) as client:
                client.get(f"{hub.endpoint}/time")
        except httpx.TransportError:
            break  # nobody answers any more
        assert time.monotonic() < deadline, "the workers kept serving after their supervisor died"
        time.sleep(0.1)
    again = runner.start(data_dir=runner.tmp / "d", port=hub.port)
    assert again.stop() == 0, again.logs()
