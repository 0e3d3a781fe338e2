"""Verification of a signed report: every kind of damage is named precisely."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from simulator.pki.ca import CertVariant, TestCA
from simulator.report.build import build_report
from simulator.report.manifest import PASSWORD_ENV, ReportSigner, SignerError, load_signer
from simulator.report.verify import NotAReportError, verify
from tests.report import runs


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, signer: ReportSigner) -> Path:
    base = tmp_path_factory.mktemp("built")
    conf = runs.write_conformance(base / "conf")
    load = runs.write_load(base / "load")
    return build_report(conf, base / "report", signer=signer, load_dir=load, pdf="off", coverage={}).directory


@pytest.fixture
def report(built: Path, tmp_path: Path) -> Path:
    """A private copy of the built report, to damage."""
    return Path(shutil.copytree(built, tmp_path / "copy"))


def kinds(result: object) -> list[tuple[str, str]]:
    return [(p.kind, p.path) for p in result.problems]  # type: ignore[attr-defined]


def test_a_fresh_report_verifies_and_is_trusted(report: Path, ca: TestCA, signer: ReportSigner) -> None:
    result = verify(report, trust=ca.trust_store())
    assert result.ok and result.signature_valid and result.trusted is True
    assert result.files_checked == len(json.loads((report / "manifest.json").read_text())["files"])
    assert result.signer is not None and result.signer.sha256_fingerprint == signer.info().sha256_fingerprint
    assert verify(report, expected_signer=signer.info().sha256_fingerprint.encode()).ok
    assert verify(report, expected_signer=signer.certificate.public_bytes(serialization.Encoding.PEM)).ok


def test_without_trust_store_the_report_is_only_self_consistent(report: Path) -> None:
    result = verify(report)
    assert result.ok and result.trusted is None and "only self-consistent" in result.trust_message


def test_one_evidence_byte_changed_names_that_file(report: Path, ca: TestCA) -> None:
    path = report / "evidence" / "evidence.jsonl"
    data = bytearray(path.read_bytes())
    data[100] ^= 0x01
    path.write_bytes(bytes(data))
    result = verify(report, trust=ca.trust_store())
    assert not result.ok
    assert kinds(result) == [("file-altered", "evidence/evidence.jsonl")]
    assert "SHA-256" in result.problems[0].message and result.signature_valid


def test_deleted_added_and_resized_files_are_each_named(report: Path) -> None:
    (report / "load" / "locust.html").unlink()
    (report / "notes.txt").write_text("added later")
    with (report / "junit.xml").open("ab") as fh:
        fh.write(b" ")
    result = verify(report)
    assert sorted(kinds(result)) == [
        ("file-altered", "junit.xml"),
        ("file-missing", "load/locust.html"),
        ("file-unlisted", "notes.txt"),
    ]
    assert result.files_named() == ["junit.xml", "load/locust.html", "notes.txt"]


def test_truncated_manifest_is_reported_precisely(report: Path) -> None:
    data = (report / "manifest.json").read_bytes()
    (report / "manifest.json").write_bytes(data[:-40])
    result = verify(report)
    assert kinds(result) == [("manifest-invalid", "manifest.json")]
    assert "ends abruptly (truncated)" in result.problems[0].message


def test_missing_manifest_signature_or_signer(report: Path) -> None:
    (report / "manifest.sig").unlink()
    assert kinds(verify(report)) == [("signature-missing", "manifest.sig")]
    (report / "signer.pem").unlink()
    assert ("signer-missing", "signer.pem") in kinds(verify(report))
    (report / "manifest.json").unlink()
    assert kinds(verify(report)) == [("manifest-missing", "manifest.json")]


def test_manifest_re_signed_with_another_key(report: Path) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    data = (report / "manifest.json").read_bytes()
    (report / "manifest.sig").write_bytes(
        base64.b64encode(other.sign(data, padding.PKCS1v15(), hashes.SHA256()))
    )
    result = verify(report)
    assert kinds(result) == [("signature-invalid", "manifest.sig")]
    assert "does not verify with the certificate in signer.pem" in result.problems[0].message


def test_edited_manifest_breaks_the_signature(report: Path) -> None:
    manifest = json.loads((report / "manifest.json").read_text())
    manifest["files"]["evidence/evidence.jsonl"]["size"] += 1
    (report / "manifest.json").write_text(json.dumps(manifest, sort_keys=True, separators=(",", ":")))
    result = verify(report)
    assert ("signature-invalid", "manifest.sig") in kinds(result)
    assert ("file-altered", "evidence/evidence.jsonl") in kinds(result)


def test_untrusted_signer_is_flagged(tmp_path: Path, ca: TestCA) -> None:
    rogue = ca.issue("report-rogue", purpose="report", variant=CertVariant.UNTRUSTED)
    signer = ReportSigner(rogue.private_key, rogue.certificate, rogue.chain)
    conf = runs.write_conformance(tmp_path / "conf")
    out = build_report(conf, tmp_path / "r", signer=signer, pdf="off", coverage={}).directory
    assert verify(out).ok  # self-consistent…
    result = verify(out, trust=ca.trust_store())
    assert kinds(result) == [("untrusted", "signer.pem")] and result.trusted is False
    assert "only self-consistent" in result.problems[0].message
    result = verify(out, expected_signer=b"00" * 32)
    assert kinds(result) == [("unexpected-signer", "signer.pem")]


def test_regulators_own_ec_key_with_password(
    tmp_path: Path, ca: TestCA, monkeypatch: pytest.MonkeyPatch
) -> None:
    cred = ca.issue("regulator-ec", purpose="report", key_type="ec", common_name="Cục Bưu điện TEST")
    assert isinstance(cred.private_key, ec.EllipticCurvePrivateKey)
    key_pem = tmp_path / "key.pem"
    key_pem.write_bytes(
        cred.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"s3cret"),
        )
    )
    with pytest.raises(SignerError, match=PASSWORD_ENV):
        load_signer(key_pem, cred.cert_path)
    monkeypatch.setenv(PASSWORD_ENV, "s3cret")
    signer = load_signer(key_pem, cred.cert_path)
    assert signer.algorithm == "ecdsa-sha256" and len(signer.chain) == 1
    out = build_report(
        runs.write_conformance(tmp_path / "c"), tmp_path / "r", signer=signer, pdf="off", coverage={}
    )
    result = verify(out.directory, trust=ca.trust_store())
    assert result.ok and result.trusted and result.signer is not None
    assert "Cục Bưu điện TEST" in result.signer.subject
    other = ca.issue("report-other", purpose="report")
    with pytest.raises(SignerError, match="does not belong to the first certificate"):
        load_signer(key_pem, other.cert_path)


def test_not_a_directory(tmp_path: Path) -> None:
    with pytest.raises(NotAReportError):
        verify(tmp_path / "nope")


@pytest.mark.skipif(shutil.which("openssl") is None, reason="the openssl command is not installed")
def test_signature_checks_out_with_openssl_as_documented(built: Path, tmp_path: Path) -> None:
    """The format documented in simulator.report.manifest, checked by an independent implementation."""
    pub = subprocess.run(
        ["openssl", "x509", "-in", str(built / "signer.pem"), "-pubkey", "-noout"],
        check=True,
        capture_output=True,
    ).stdout
    (tmp_path / "pub.pem").write_bytes(pub)
    (tmp_path / "sig.bin").write_bytes(base64.b64decode((built / "manifest.sig").read_bytes()))
    done = subprocess.run(
        [
            "openssl",
            "dgst",
            "-sha256",
            "-verify",
            str(tmp_path / "pub.pem"),
            "-signature",
            str(tmp_path / "sig.bin"),
            str(built / "manifest.json"),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0 and "Verified OK" in done.stdout
    manifest = json.loads((built / "manifest.json").read_bytes())
    assert (built / "manifest.json").read_bytes() == json.dumps(
        manifest, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode()  # canonical: what is signed is exactly the sorted, space-free form
    import hashlib

    for rel, entry in manifest["files"].items():
        assert hashlib.sha256((built / rel).read_bytes()).hexdigest() == entry["sha256"]
