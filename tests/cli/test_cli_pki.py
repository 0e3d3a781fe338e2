"""`lienthong pki …` and signatures made with its deliberately bad certificates."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from simulator.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def home_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pki-home")


@pytest.fixture
def home(home_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("LIENTHONG_HOME", str(home_dir))
    monkeypatch.delenv("LIENTHONG_DEBUG", raising=False)
    yield home_dir


def run(*args: str | Path) -> tuple[int, str, str]:
    result = runner.invoke(app, [str(a) for a in args], env={"COLUMNS": "250"})
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def unsigned(home_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("docs") / "doc.xml"
    result = runner.invoke(
        app,
        ["edxml", "new", "-o", str(out), "--from", "000.00.00.H18", "--attachment-size", "500"],
        env={"LIENTHONG_HOME": str(home_dir)},
    )
    assert result.exit_code == 0, result.stderr
    return out


def test_init_creates_the_ca_where_asked(home: Path, tmp_path: Path) -> None:
    target = tmp_path / "ca"
    code, out, _ = run("pki", "init", "--dir", target)
    assert code == 0
    assert str(target) in out
    for name in ("root.pem", "issuing.pem", "crl.pem"):
        assert (target / name).is_file()
    code, _, _ = run("pki", "init", "--dir", target)  # idempotent
    assert code == 0


def test_issue_and_list(home: Path) -> None:
    code, out, err = run("pki", "issue", "so-tai-chinh", "--organ-id", "000.00.03.H18")
    assert code == 0, err
    assert "000.00.03.H18" in out
    code, out, err = run("pki", "issue", "so-tai-chinh-ec", "--organ-id", "000.00.03.H18", "--ec")
    assert code == 0, err
    code, out, _ = run("pki", "list")
    assert code == 0
    assert "so-tai-chinh" in out and "so-tai-chinh-ec" in out
    assert "ec" in out and "rsa" in out


def test_issue_errors_are_usage_errors(home: Path) -> None:
    code, out, err = run("pki", "issue", "bad name!")
    assert code == 2 and "not usable as a file name" in err and "Traceback" not in out + err
    assert run("pki", "issue", "twice", "--organ-id", "000.00.00.G22")[0] == 0
    code, _, err = run("pki", "issue", "twice", "--organ-id", "000.00.00.G22", "--ec")
    assert code == 2 and "already exists" in err
    code, _, err = run("pki", "issue", "x", "--variant", "sort-of-good")
    assert code == 2
    code, _, err = run("pki", "issue", "garbage-code", "--organ-id", "not a code")
    assert code == 2 and "QD28-10.2.a" in err


@pytest.mark.parametrize(
    ("variant", "failure"),
    [
        ("good", None),
        ("expired", "EXPIRED"),
        ("not-yet-valid", "NOT_YET_VALID"),
        ("revoked", "REVOKED"),
        ("untrusted", "UNTRUSTED_CHAIN"),
        ("wrong-key-usage", "WRONG_KEY_USAGE"),
    ],
)
def test_bad_certificates_make_verification_fail_for_their_reason(
    home: Path, unsigned: Path, tmp_path: Path, variant: str, failure: str | None
) -> None:
    name = f"cert-{variant}"
    assert run("pki", "issue", name, "--organ-id", "000.00.00.H18", "--variant", variant)[0] == 0
    signed = tmp_path / "signed.xml"
    code, _, err = run("edxml", "sign", unsigned, "-o", signed, "--cert", name)
    assert code == 0, err
    code, _, err = run("edxml", "verify", signed)
    if failure is None:
        assert code == 0, err
    else:
        assert code == 1
        assert failure in err


def test_sha1_needs_the_legacy_switch(home: Path, unsigned: Path, tmp_path: Path) -> None:
    signed = tmp_path / "sha1.xml"
    code, _, err = run("edxml", "sign", unsigned, "-o", signed, "--algorithm", "rsa-sha1")
    assert code == 0, err
    code, _, err = run("edxml", "verify", signed)
    assert code == 1 and "SHA1" in err
    code, _, err = run("edxml", "verify", signed, "--allow-sha1")
    assert code == 0, err


def test_algorithm_must_fit_the_key(home: Path, unsigned: Path, tmp_path: Path) -> None:
    assert run("pki", "issue", "rsa-only", "--organ-id", "000.00.00.H18")[0] == 0
    code, _, err = run(
        "edxml",
        "sign",
        unsigned,
        "-o",
        tmp_path / "x.xml",
        "--cert",
        "rsa-only",
        "--algorithm",
        "ecdsa-sha256",
    )
    assert code == 2 and "EC" in err


def test_trust_anchor_option(home: Path, unsigned: Path, tmp_path: Path) -> None:
    signed = tmp_path / "signed.xml"
    assert run("edxml", "sign", unsigned, "-o", signed)[0] == 0
    code, _, err = run("edxml", "verify", signed, "--trust-anchor", home / "pki" / "root.pem")
    assert code == 0, err
    other = tmp_path / "other-ca"
    assert run("pki", "init", "--dir", other)[0] == 0
    code, _, err = run("edxml", "verify", signed, "--trust-anchor", other / "root.pem")
    assert code == 1 and "UNTRUSTED_CHAIN" in err
    code, _, err = run("edxml", "verify", signed, "--trust-anchor", tmp_path / "missing.pem")
    assert code == 2 and "does not exist" in err


def test_unknown_credential_is_a_usage_error(home: Path, unsigned: Path, tmp_path: Path) -> None:
    code, out, err = run("edxml", "sign", unsigned, "-o", tmp_path / "x.xml", "--cert", "nobody")
    assert code == 2
    assert "nobody" in err and "pki issue" in err and "Traceback" not in out + err
