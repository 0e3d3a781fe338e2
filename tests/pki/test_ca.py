"""The test CA: hierarchy, extensions, variants, CRL, idempotence, concurrency, TLS."""

from __future__ import annotations

import datetime as dt
import multiprocessing as mp
import socket
import ssl
import stat
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from simulator.pki.ca import CertVariant, Credential, TestCA, UnknownCredentialError, organ_id_of
from simulator.pki.trust import ChainFailure


def _ext(cert: x509.Certificate, kind: type[x509.ExtensionType]) -> x509.Extension[x509.ExtensionType]:
    return cert.extensions.get_extension_for_class(kind)


def test_hierarchy_and_ca_extensions(ca: TestCA) -> None:
    root, issuing = ca.root, ca.issuing
    assert root.subject == root.issuer and issuing.issuer == root.subject
    issuing.verify_directly_issued_by(root)
    for cert, pathlen in ((root, 1), (issuing, 0)):
        bc = _ext(cert, x509.BasicConstraints)
        assert bc.critical and bc.value.ca and bc.value.path_length == pathlen  # type: ignore[attr-defined]
        ku = _ext(cert, x509.KeyUsage)
        assert ku.critical and ku.value.key_cert_sign and ku.value.crl_sign  # type: ignore[attr-defined]
    assert (
        _ext(issuing, x509.AuthorityKeyIdentifier).value.key_identifier  # type: ignore[attr-defined]
        == _ext(root, x509.SubjectKeyIdentifier).value.digest  # type: ignore[attr-defined]
    )
    assert ca.rogue_root.subject != root.subject


def test_signing_certificate_profile(creds: dict[str, Credential], ca: TestCA) -> None:
    cred = creds["good-rsa"]
    cert = cred.certificate
    ku = _ext(cert, x509.KeyUsage)
    assert ku.critical and ku.value.digital_signature and ku.value.content_commitment  # type: ignore[attr-defined]
    assert not ku.value.key_cert_sign  # type: ignore[attr-defined]
    bc = _ext(cert, x509.BasicConstraints)
    assert bc.critical and not bc.value.ca  # type: ignore[attr-defined]
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Văn phòng Chính phủ"
    assert cert.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value == "000.00.00.G22"
    assert organ_id_of(cert) == "000.00.00.G22"
    assert cred.chain == (ca.issuing,)
    assert cred.key_type == "rsa" and creds["good-ec"].key_type == "ec"
    assert creds["good-ec"].certificate.public_key().curve.name == "secp256r1"  # type: ignore[union-attr]


def test_files_and_permissions(ca: TestCA, creds: dict[str, Credential]) -> None:
    cred = creds["good-rsa"]
    assert stat.S_IMODE(cred.key_path.stat().st_mode) == 0o600
    assert stat.S_IMODE((ca.directory / "root.key.pem").stat().st_mode) == 0o600
    pem_certs = x509.load_pem_x509_certificates(cred.cert_path.read_bytes())
    assert pem_certs == [cred.certificate, ca.issuing]  # full chain, leaf first


@pytest.mark.parametrize(
    ("variant", "reason"),
    [
        (CertVariant.EXPIRED, ChainFailure.EXPIRED),
        (CertVariant.NOT_YET_VALID, ChainFailure.NOT_YET_VALID),
        (CertVariant.REVOKED, ChainFailure.REVOKED),
        (CertVariant.UNTRUSTED, ChainFailure.UNTRUSTED),
        (CertVariant.WRONG_KEY_USAGE, ChainFailure.WRONG_KEY_USAGE),
    ],
)
def test_variants_fail_for_their_reason(
    ca: TestCA, creds: dict[str, Credential], variant: CertVariant, reason: ChainFailure
) -> None:
    cred = creds[variant.value]
    result = ca.trust_store().validate_chain(cred.certificate, extra_certs=cred.chain)
    assert (result.ok, result.reason) == (False, reason), result.message


@pytest.mark.parametrize("name", ["good-rsa", "good-ec", "other-rsa"])
def test_good_chains_validate(ca: TestCA, creds: dict[str, Credential], name: str) -> None:
    result = ca.trust_store().validate_chain(creds[name].certificate)
    assert result.ok, result.message
    assert result.chain == (creds[name].certificate, ca.issuing, ca.root)
    assert result.warnings == ()


def test_variant_dates(creds: dict[str, Credential]) -> None:
    now = dt.datetime.now(dt.UTC)
    expired = creds["expired"].certificate
    assert now - dt.timedelta(days=2) < expired.not_valid_after_utc < now
    assert creds["not-yet-valid"].certificate.not_valid_before_utc > now + dt.timedelta(days=29)
    good = creds["good-rsa"].certificate
    assert good.not_valid_before_utc < now < good.not_valid_after_utc
    assert (good.not_valid_after_utc - now).days >= 2 * 365 - 2
    assert creds["untrusted"].certificate.issuer != good.issuer


def test_revoke_updates_crl_and_existing_trust_store(ca: TestCA) -> None:
    cred = ca.issue("to-be-revoked")
    store = ca.trust_store()
    assert store.validate_chain(cred.certificate).ok
    ca.revoke("to-be-revoked")
    crl = x509.load_pem_x509_crl(ca.crl_path.read_bytes())
    assert crl.is_signature_valid(ca.issuing.public_key())  # type: ignore[arg-type]
    assert crl.get_revoked_certificate_by_serial_number(cred.certificate.serial_number) is not None
    assert store.validate_chain(cred.certificate).reason is ChainFailure.REVOKED
    ca.revoke("to-be-revoked")  # idempotent
    assert [i.revoked for i in ca.list() if i.name == "to-be-revoked"] == [True]


def test_issue_is_idempotent(ca: TestCA) -> None:
    first = ca.issue("idem", organ_id="000.00.00.H41", key_type="ec")
    again = ca.issue("idem", organ_id="000.00.00.H41", key_type="ec")
    assert again.certificate == first.certificate
    with pytest.raises(ValueError, match="other parameters"):
        ca.issue("idem", organ_id="000.00.00.H42", key_type="ec")


def test_unknown_credential_and_bad_names(ca: TestCA) -> None:
    with pytest.raises(UnknownCredentialError, match="no credential named 'nobody'") as info:
        ca.credential("nobody")
    assert isinstance(info.value, KeyError)
    with pytest.raises(ValueError, match="file name"):
        ca.issue("../escape")


def test_list(ca: TestCA, creds: dict[str, Credential]) -> None:
    infos = {i.name: i for i in ca.list()}
    assert infos["good-ec"].key_type == "ec" and infos["good-ec"].variant is CertVariant.GOOD
    assert infos["bad-revoked"].revoked and not infos["good-rsa"].revoked
    assert infos["bad-expired"].variant is CertVariant.EXPIRED
    assert infos["good-rsa"].serial == creds["good-rsa"].certificate.serial_number


def test_reopen_is_cheap_and_stable(ca: TestCA) -> None:
    again = TestCA.open(ca.directory)
    assert again.root == ca.root and again.issuing == ca.issuing


def _open_in_child(directory: str, queue: mp.Queue) -> None:
    ca = TestCA.open(Path(directory))
    cred = ca.issue("shared", organ_id="000.00.00.G01")
    queue.put((ca.root.fingerprint(hashes.SHA256()), cred.certificate.serial_number))


def test_concurrent_open_on_a_fresh_directory(tmp_path: Path) -> None:
    ctx = mp.get_context("fork")
    queue: mp.Queue = ctx.Queue()
    procs = [ctx.Process(target=_open_in_child, args=(str(tmp_path / "pki"), queue)) for _ in range(3)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert len(set(results)) == 1  # one root, one "shared" certificate
    ca = TestCA.open(tmp_path / "pki")
    assert ca.root.fingerprint(hashes.SHA256()) == results[0][0]
    assert ca.trust_store().validate_chain(ca.credential("shared").certificate).ok
    assert not list((tmp_path / "pki").rglob("*.tmp"))


# ----------------------------------------------------------------------------- TLS


def test_server_tls_profile(ca: TestCA) -> None:
    cred = ca.server_tls()
    san = _ext(cred.certificate, x509.SubjectAlternativeName).value
    assert "localhost" in san.get_values_for_type(x509.DNSName)  # type: ignore[attr-defined]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]  # type: ignore[attr-defined]
    eku = _ext(cred.certificate, x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in eku  # type: ignore[operator]
    store = ca.trust_store()
    assert store.validate_chain(cred.certificate, purpose="tls-server").ok
    assert store.validate_chain(cred.certificate, purpose="signing").reason is ChainFailure.WRONG_KEY_USAGE
    assert ca.server_tls() == cred


def _handshake(server: Credential, cafile: Path, host: str) -> str | None:
    """Serve one TLS handshake with ``server``; return None on success or the client's error."""
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.load_cert_chain(server.cert_path, server.key_path)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        conn, _ = listener.accept()
        try:
            with sctx.wrap_socket(conn, server_side=True) as tls:
                tls.recv(1)
        except (ssl.SSLError, OSError):
            pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    cctx = ssl.create_default_context(cafile=str(cafile))
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
            cctx.wrap_socket(raw, server_hostname=host) as tls,
        ):
            tls.sendall(b"x")
        return None
    except ssl.SSLCertVerificationError as exc:
        return str(exc.verify_message)
    finally:
        thread.join(timeout=10)
        listener.close()


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
def test_tls_handshake_with_good_server_cert(ca: TestCA, host: str) -> None:
    assert _handshake(ca.server_tls(), ca.root_path, host) is None


@pytest.mark.parametrize(
    ("variant", "error"),
    [(CertVariant.EXPIRED, "expired"), (CertVariant.UNTRUSTED, "unable to get local issuer")],
)
def test_tls_handshake_with_bad_server_cert(ca: TestCA, variant: CertVariant, error: str) -> None:
    message = _handshake(ca.server_tls(variant), ca.root_path, "localhost")
    assert message is not None and error in message


def test_long_agency_name_is_shortened_to_the_x509_bound(tmp_path: Path) -> None:
    """Real agency names exceed 64 characters; the CN is shortened on a word boundary, O keeps the code."""
    long_name = (
        "Văn phòng Ủy ban nhân dân tỉnh Bà Rịa - Vũng Tàu, Sở Tài nguyên và Môi trường, "
        "Chi cục Biển và Hải đảo"
    )
    cred = TestCA.open(tmp_path / "pki").issue("long", organ_id="000.02.03.G15", common_name=long_name)
    cn = cred.certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert isinstance(cn, str)
    assert len(cn.encode("utf-8")) <= 64 and cn.endswith("…")
    assert long_name.startswith(cn[:-1].rstrip())
    assert organ_id_of(cred.certificate) == "000.02.03.G15"
