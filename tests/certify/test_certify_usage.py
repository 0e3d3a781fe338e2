"""`lienthong certify` refuses what it cannot run (exit 2, naming the problem) before starting anything,
and tells an infrastructure failure (exit 3: the SUT's driver is unreachable, the hub's port is taken)
from a verdict on the SUT. These run in-process and stop at the argument check or the smoke check."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from simulator.certify.orchestrate import CertifyError, CertifyOptions, Observer, certify
from simulator.cli import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def _home(certify_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("LIENTHONG_HOME", str(certify_home))
    yield


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _sut_toml(path: Path, *, hub_port: int, driver_url: str, extra: str = "") -> Path:
    path.write_text(
        f"""name = "QLVB Acme 3.2"
[hub]
port = {hub_port}
system_id = "acme.qlvb.01"
secret = "change-me-Acme-0123456789abcdef"
agencies = ["000.00.12.H29"]
[driver]
mode = "http"
url = "{driver_url}"
timeout_s = 2
{extra}""",
        encoding="utf-8",
    )
    return path


def certify_cli(*args: str | Path) -> tuple[int, str]:
    result = runner.invoke(app, ["certify", *(str(a) for a in args)], env={"COLUMNS": "240"})
    return result.exit_code, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ('urll = "http://127.0.0.1:1"', ["driver.urll", "did you mean 'url'"]),
        ("timeout_s = 2\n[timing]\nstatus_timeout_s = -3", ["timing.status_timeout_s"]),
    ],
)
def test_a_wrong_sut_toml_field_is_a_usage_error_naming_it(
    extra: str, words: list[str], tmp_path: Path
) -> None:
    sut = tmp_path / "sut.toml"
    _sut_toml(sut, hub_port=_free_port(), driver_url="http://127.0.0.1:1")
    text = sut.read_text(encoding="utf-8").replace("timeout_s = 2\n", "")
    sut.write_text(text + extra + "\n", encoding="utf-8")
    code, out = certify_cli("--sut", sut, "--out", tmp_path / "reports")
    assert code == 2, out
    for word in words:
        assert word in out, (word, out)
    assert "sut.toml" in out
    assert not any((tmp_path / "reports").glob("*/*"))  # nothing ran, no report


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--defect", "no-such-defect"], ["no-such-defect", "skips-01"]),
        (["--profile", "rush-hour"], ["rush-hour", "province-peak", "--profile none"]),
        (["--tags", "TC-NOPE-001"], ["TC-NOPE-001", "unknown tag"]),
        (["--pdf", "word"], ["--pdf 'word'"]),
        (["--session-id", "../escape"], ["--session-id '../escape'"]),
        (["--sut", "missing-sut.toml"], ["missing-sut.toml"]),
        (["--signing-key", "k.pem"], ["--signing-cert is missing"]),
        (["--profile", "none", "--load-duration", "5"], ["--profile none"]),
    ],
)
def test_usage_errors_exit_2_naming_the_problem(args: list[str], words: list[str], tmp_path: Path) -> None:
    code, out = certify_cli(*args, "--out", tmp_path / "reports")
    assert code == 2, out
    for word in words:
        assert word in out, (word, out)


def test_defects_go_with_the_reference_only(tmp_path: Path) -> None:
    sut = _sut_toml(tmp_path / "sut.toml", hub_port=_free_port(), driver_url="http://127.0.0.1:1")
    code, out = certify_cli("--sut", sut, "--defect", "skips-01", "--out", tmp_path / "reports")
    assert code == 2 and "--sut reference" in out, out


def test_a_signing_key_of_another_certificate_is_refused(tmp_path: Path) -> None:
    from simulator.pki.ca import TestCA

    ca = TestCA.open(tmp_path / "regulator-pki")
    one = ca.issue("signer-one", purpose="report", key_type="ec")
    two = ca.issue("signer-two", purpose="report", key_type="ec")
    code, out = certify_cli(
        "--signing-key", one.key_path, "--signing-cert", two.cert_path, "--out", tmp_path / "reports"
    )
    assert code == 2, out
    assert "does not belong" in out and "signer-two" in out


def test_an_existing_report_is_never_overwritten(tmp_path: Path) -> None:
    (tmp_path / "reports" / "s1").mkdir(parents=True)
    (tmp_path / "reports" / "s1" / "report.json").write_text("{}", encoding="utf-8")
    code, out = certify_cli("--session-id", "s1", "--out", tmp_path / "reports")
    assert code == 2 and "never overwritten" in out, out
    assert (tmp_path / "reports" / "s1" / "report.json").read_text(encoding="utf-8") == "{}"


def test_an_unreachable_driver_is_a_harness_failure_not_a_verdict(tmp_path: Path) -> None:
    driver_port = _free_port()  # nothing listens there
    sut = _sut_toml(
        tmp_path / "sut.toml", hub_port=_free_port(), driver_url=f"http://127.0.0.1:{driver_port}"
    )
    code, out = certify_cli("--sut", sut, "--out", tmp_path / "reports", "--session-id", "s")
    assert code == 3, out
    assert "harness/infrastructure failure in the smoke phase" in out
    assert f"http://127.0.0.1:{driver_port}" in out and "unreachable" in out
    assert "no verdict on the SUT" in out and "driver.url" in out
    assert "DOES NOT CONFORM" not in out
    assert not (tmp_path / "reports" / "s").exists()


def test_a_taken_hub_port_is_a_harness_failure(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = int(busy.getsockname()[1])
        sut = _sut_toml(tmp_path / "sut.toml", hub_port=port, driver_url="http://127.0.0.1:1")
        code, out = certify_cli("--sut", sut, "--out", tmp_path / "reports")
    assert code == 3, out
    assert f"hub.port = {port}" in out and "smoke" in out


class _Recorder(Observer):
    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def phase(self, name: str, state: str, detail: str = "") -> None:
        self.seen.append((name, state))


def test_the_python_api_reports_phases_and_raises_for_the_harness(tmp_path: Path) -> None:
    sut = _sut_toml(
        tmp_path / "sut.toml", hub_port=_free_port(), driver_url=f"http://127.0.0.1:{_free_port()}"
    )
    recorder = _Recorder()
    with pytest.raises(CertifyError) as caught:
        certify(CertifyOptions(sut=str(sut), out=tmp_path / "reports"), recorder)
    assert caught.value.kind == "infrastructure" and caught.value.phase == "smoke"
    assert caught.value.exit_code == 3
    assert recorder.seen == [
        ("validate", "start"),
        ("validate", "ok"),
        ("smoke", "start"),
        ("smoke", "failed"),
    ]
