"""`lienthong edxml …` and `lienthong demo` through the real command line (Typer's CliRunner)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from simulator.cli import app
from simulator.edxml.model import DocumentPackage, Priority, StatusCode, StatusPackage
from simulator.edxml.parser import parse

runner = CliRunner()


@pytest.fixture(scope="module")
def home_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("home")  # one test CA for the module: creating it costs keys


@pytest.fixture
def home(home_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("LIENTHONG_HOME", str(home_dir))
    monkeypatch.delenv("LIENTHONG_DEBUG", raising=False)
    yield home_dir


def run(*args: str | Path) -> tuple[int, str, str]:
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


def document(path: Path) -> DocumentPackage:
    package = parse(path.read_bytes()).package
    assert isinstance(package, DocumentPackage)
    return package


@pytest.fixture
def doc(home: Path, tmp_path: Path) -> Path:
    out = tmp_path / "doc.xml"
    code, _, err = run("edxml", "new", "-o", out, "--seed", "1", "--attachment-size", "2000")
    assert code == 0, err
    return out


@pytest.fixture
def signed(doc: Path, tmp_path: Path) -> Path:
    out = tmp_path / "signed.xml"
    code, _, err = run("edxml", "sign", doc, "-o", out)
    assert code == 0, err
    return out


def test_new_sign_verify_validate_inspect_round_trip(signed: Path, doc: Path) -> None:
    package = document(doc)
    assert len(package.header.to) == 3

    code, out, _ = run("edxml", "verify", signed)
    assert code == 0
    assert (
        "valid" in out and package.header.from_.organ_id in out
    )  # the signer's certificate names the sender

    code, out, _ = run("edxml", "validate", "--strict", signed)
    assert code == 0, out
    assert "0 error(s)" in out

    code, out, _ = run("edxml", "inspect", signed)
    assert code == 0
    for text in (package.header.document_id, package.header.from_.organ_id, "signature", "valid"):
        assert text in out
    for org in package.header.to:
        assert org.organ_id in out
    payload = package.attachments[0]
    assert payload.attachment_name in out


def test_tampered_package_fails_verification_with_the_reason(signed: Path, tmp_path: Path) -> None:
    data = signed.read_bytes()
    pos = data.index(b"Subject>") + len(b"Subject>")
    tampered = tmp_path / "tampered.xml"
    tampered.write_bytes(data[:pos] + b"X" + data[pos + 1 :])
    code, _, err = run("edxml", "verify", tampered)
    assert code == 1
    assert "DIGEST_MISMATCH" in err
    assert "QD28-6.1" in err or "EDXML-SIG" in err
    assert "Traceback" not in err


def test_unsigned_package_is_refused_unless_allowed(doc: Path) -> None:
    code, _, err = run("edxml", "verify", doc)
    assert code == 1 and "UNSIGNED" in err
    code, out, _ = run("edxml", "verify", doc, "--allow-unsigned")
    assert code == 0 and "not signed" in out


def test_other_engine_and_ec_key(doc: Path, tmp_path: Path) -> None:
    out_file = tmp_path / "ec.xml"
    code, _, err = run("edxml", "sign", doc, "-o", out_file, "--algorithm", "ecdsa-sha256")
    assert code == 0, err
    assert b"ecdsa-sha256" in out_file.read_bytes()
    code, out, _ = run("edxml", "verify", out_file, "--engine", "signxml")
    assert code == 0 and "ecdsa-sha256" in out


def test_signing_twice_is_a_usage_error(signed: Path, tmp_path: Path) -> None:
    code, _, err = run("edxml", "sign", signed, "-o", tmp_path / "again.xml")
    assert code == 2
    assert "already signed" in err and "Traceback" not in err


def test_missing_file_is_a_usage_error_without_traceback(home: Path, tmp_path: Path) -> None:
    missing = tmp_path / "nope.xml"
    for command in ("verify", "validate", "inspect"):
        code, out, err = run("edxml", command, missing)
        assert code == 2, command
        assert str(missing) in err and "does not exist" in err
        assert "Traceback" not in out + err
    code, _, err = run("edxml", "sign", missing, "-o", tmp_path / "o.xml")
    assert code == 2 and "does not exist" in err


def test_invalid_xml_fails_validation_with_the_diagnostic(home: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_bytes(b"<edXML><unclosed>")
    code, out, _ = run("edxml", "validate", bad)
    assert code == 1
    assert "EDXML-XML" in out and "well-formed" in out
    code, out, _ = run("edxml", "validate", bad, "--json")
    assert code == 1
    rows = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert rows and rows[0]["requirement"] == "EDXML-XML" and rows[0]["severity"] == "error"
    code, _, err = run("edxml", "inspect", bad)
    assert code == 1 and "EDXML-XML" in err


def test_validate_reports_rule_violations_and_lenient_mode(home: Path, doc: Path, tmp_path: Path) -> None:
    package = document(doc)
    bad_id = tmp_path / "badid.xml"
    # a non-conforming sender code as seen in the wild (spec/edxml.md §5): strict refuses, lenient warns
    bad_id.write_bytes(doc.read_bytes().replace(package.header.from_.organ_id.encode(), b"28.22.H17"))
    code, out, _ = run("edxml", "validate", bad_id, "--json")
    assert code == 1
    rows = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert any(r["requirement"] == "QD28-10.2.a" and r["severity"] == "error" for r in rows)
    code, out, _ = run("edxml", "validate", "--lenient", bad_id)
    assert code == 0, out


def test_status_package_answers_the_document(doc: Path, tmp_path: Path) -> None:
    out_file = tmp_path / "status.xml"
    code, _, err = run("edxml", "new", "-o", out_file, "--status", "3", "--for", doc)
    assert code == 0, err
    status = parse(out_file.read_bytes()).package
    assert isinstance(status, StatusPackage)
    original = document(doc)
    assert status.header.status_code is StatusCode.ACCEPTED
    assert status.header.response_for.document_id == original.header.document_id
    assert status.header.from_.organ_id == original.header.to[0].organ_id
    code, out, _ = run("edxml", "validate", out_file)
    assert code == 0, out
    code, _, err = run("edxml", "new", "-o", out_file, "--status", "07", "--for", doc)
    assert code == 2 and "EDXML-ENUM" in err
    code, _, err = run("edxml", "new", "-o", out_file, "--status", "03")
    assert code == 2 and "--for" in err


def test_new_with_explicit_agencies_priority_business_and_files(home: Path, tmp_path: Path) -> None:
    extra = tmp_path / "to-trinh.docx"
    extra.write_bytes(b"PK\x03\x04 not really a docx, but bytes to carry")
    out_file = tmp_path / "doc.xml"
    args: list[str | Path] = [
        "edxml",
        "new",
        "-o",
        out_file,
        "--from",
        "000.00.00.G22",
        "--to",
        "000.00.00.G07",
    ]
    args += ["--to", "000.00.03.H18", "--priority", "hoa-toc", "--attachments", "0", "--attach", extra]
    args += ["--business", "recall", "--original", "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT", "--sign"]
    code, out, err = run(*args)
    assert code == 0, err
    assert "signed" in out
    package = document(out_file)
    assert package.header.from_.organ_id == "000.00.00.G22"
    assert package.header.from_.organ_name == "Văn phòng Chính phủ"
    assert [o.organ_id for o in package.header.to] == ["000.00.00.G07", "000.00.03.H18"]
    assert package.header.priority is Priority.FLASH
    assert package.header.document_id == "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT"  # a recall reuses it
    assert package.trace and package.trace.business and package.trace.business.business_doc_type == 1
    code, out, _ = run("edxml", "inspect", out_file)
    assert code == 0
    assert hashlib.sha256(extra.read_bytes()).hexdigest() in out
    code, out, _ = run("edxml", "verify", out_file)
    assert code == 0, out


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--to", "12.H13"], "QD28-10.2.a"),
        (["--from", "vxp.saas.03"], "QD28-10.2.a"),
        (["--priority", "urgent"], "hoa-toc"),
        (["--original", "not-an-id"], "QD28-10.2.b"),
        (["--to", "000.00.00.G22", "--to", "000.00.00.G22"], "EDXML-DUPTO"),
        (["--attach", "/nonexistent/file.pdf"], "does not exist"),
    ],
)
def test_new_rejects_bad_option_values(home: Path, tmp_path: Path, args: list[str], needle: str) -> None:
    code, out, err = run("edxml", "new", "-o", tmp_path / "x.xml", *args)
    assert code == 2
    assert needle in err
    assert "Traceback" not in out + err
    assert not (tmp_path / "x.xml").exists()


def test_output_directory_must_exist(home: Path, tmp_path: Path) -> None:
    code, _, err = run("edxml", "new", "-o", tmp_path / "no" / "such" / "dir.xml")
    assert code == 2 and "does not exist" in err


def test_internal_errors_exit_3_with_a_hint(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*_: object, **__: object) -> bytes:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("simulator.cli.edxml_cmd.build", boom)
    code, out, err = run("edxml", "new", "-o", tmp_path / "x.xml")
    assert code == 3
    assert "disk on fire" in err and "LIENTHONG_DEBUG=1" in err
    assert "Traceback" not in out + err
    monkeypatch.setenv("LIENTHONG_DEBUG", "1")
    result = runner.invoke(app, ["edxml", "new", "-o", str(tmp_path / "x.xml")])
    assert isinstance(result.exception, RuntimeError)


@pytest.mark.parametrize(
    ("command", "options"),
    [
        ([], ["edxml", "pki", "demo", "--version"]),
        (["edxml"], ["new", "sign", "verify", "validate", "inspect"]),
        (["edxml", "new"], ["--recipients", "--to", "--from", "--priority", "--attach", "--status", "--for"]),
        (["edxml", "sign"], ["--output", "--cert", "--algorithm"]),
        (["edxml", "verify"], ["--allow-sha1", "--allow-unsigned", "--engine", "--trust-anchor"]),
        (["edxml", "validate"], ["--strict", "--lenient", "--json"]),
        (["edxml", "inspect"], ["FILE"]),
        (["pki"], ["init", "issue", "list"]),
        (["pki", "init"], ["--dir"]),
        (["pki", "issue"], ["--organ-id", "--ec", "--variant"]),
        (["pki", "list"], ["--dir"]),
        (["demo"], ["--dir", "--seed"]),
    ],
)
def test_help_texts(command: list[str], options: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for option in options:
        assert option in result.stdout, (command, option)


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.startswith("lienthong ")


def test_demo_exits_0_and_reports_each_step(home: Path, tmp_path: Path) -> None:
    code, out, err = run("demo", "--dir", tmp_path / "demo", "--seed", "4")
    assert code == 0, out + err
    assert out.count("✓") == 5 and "digest-mismatch" in out
    for name in ("document.xml", "signed.xml", "tampered.xml"):
        assert (tmp_path / "demo" / name).is_file()


def test_end_to_end_in_a_subprocess_on_a_fresh_home(tmp_path: Path) -> None:
    """new → sign → verify with nothing set up beforehand, as a clerk would run it."""
    env = {**os.environ, "LIENTHONG_HOME": str(tmp_path / "fresh-home")}
    env.pop("LIENTHONG_DEBUG", None)
    cli = [sys.executable, "-c", "from simulator.cli import main; main()"]

    def sh(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*cli, *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
        )

    assert sh("edxml", "new", "-o", "d.xml", "--attachment-size", "500").returncode == 0
    assert sh("edxml", "sign", "d.xml", "-o", "s.xml").returncode == 0
    verified = sh("edxml", "verify", "s.xml")
    assert verified.returncode == 0, verified.stderr
    missing = sh("edxml", "verify", "missing.xml")
    assert missing.returncode == 2
    assert "missing.xml" in missing.stderr and "Traceback" not in missing.stderr
    assert (tmp_path / "fresh-home" / "pki" / "root.pem").is_file()
