"""TrustStore decisions on hand-made chains (forged CAs, misuse of CA rights, dates, CRLs)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from simulator.pki.ca import Credential, TestCA
from simulator.pki.trust import ChainFailure, TrustStore

NOW = dt.datetime.now(dt.UTC)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(
    subject: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool | None,
    pathlen: int | None = None,
    signing_ku: bool = True,
) -> x509.Certificate:
    b = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=30))
    )
    if ca is not None:
        b = b.add_extension(x509.BasicConstraints(ca=ca, path_length=pathlen if ca else None), critical=True)
    if ca:
        b = b.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
    elif signing_ku:
        b = b.add_extension(
            x509.KeyUsage(True, True, False, False, False, False, False, False, False), critical=True
        )
    return b.sign(issuer_key, hashes.SHA256())


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@dataclass(frozen=True)
class OwnPki:
    root: x509.Certificate
    inter: x509.Certificate
    inter_key: ec.EllipticCurvePrivateKey

    def store(self, crls: list[x509.CertificateRevocationList] | None = None) -> TrustStore:
        return TrustStore([self.root], [self.inter], crls or [])

    def leaf(self, cn: str, *, signing_ku: bool = True) -> x509.Certificate:
        return _cert(_name(cn), _key(), self.inter.subject, self.inter_key, ca=False, signing_ku=signing_ku)


@pytest.fixture(scope="module")
def own_pki() -> OwnPki:
    root_key, inter_key = _key(), _key()
    root = _cert(_name("Own Root"), root_key, _name("Own Root"), root_key, ca=True, pathlen=1)
    inter = _cert(_name("Own Inter"), inter_key, root.subject, root_key, ca=True, pathlen=0)
    return OwnPki(root, inter, inter_key)


def test_forged_issuing_ca_with_the_same_name(ca: TestCA) -> None:
    """A CA that copies the issuing CA's name but has its own key cannot produce trusted certificates."""
    fake_key, leaf_key = _key(), _key()
    fake_issuing = _cert(ca.issuing.subject, fake_key, ca.root.subject, fake_key, ca=True, pathlen=0)
    leaf = _cert(_name("Forged signer"), leaf_key, ca.issuing.subject, fake_key, ca=False)
    result = ca.trust_store().validate_chain(leaf, extra_certs=[fake_issuing])
    assert (result.ok, result.reason) == (False, ChainFailure.BAD_SIGNATURE)
    assert "does not verify" in result.message


def test_end_entity_cannot_act_as_ca(ca: TestCA, creds: dict[str, Credential]) -> None:
    signer = creds["good-ec"]
    assert isinstance(signer.private_key, ec.EllipticCurvePrivateKey)
    leaf = _cert(_name("Sub-signer"), _key(), signer.certificate.subject, signer.private_key, ca=False)
    result = ca.trust_store().validate_chain(leaf, extra_certs=[signer.certificate])
    assert result.reason is ChainFailure.INVALID and "not a CA" in result.message


def test_path_length_is_enforced(own_pki: OwnPki) -> None:
    sub_key = _key()
    sub = _cert(_name("Sub CA"), sub_key, own_pki.inter.subject, own_pki.inter_key, ca=True, pathlen=0)
    leaf = _cert(_name("Deep leaf"), _key(), sub.subject, sub_key, ca=False)
    result = own_pki.store().validate_chain(leaf, extra_certs=[sub])
    assert result.reason is ChainFailure.INVALID and "path length" in result.message


def test_leaf_without_key_usage(own_pki: OwnPki) -> None:
    result = own_pki.store().validate_chain(own_pki.leaf("No KU", signing_ku=False))
    assert result.reason is ChainFailure.WRONG_KEY_USAGE and "KeyUsage" in result.message


def test_no_crl_is_a_warning_not_a_failure(own_pki: OwnPki) -> None:
    leaf = own_pki.leaf("Leaf")
    store = own_pki.store()
    result = store.validate_chain(leaf)
    assert result.ok and any("no valid CRL" in w for w in result.warnings)
    assert store.validate_chain(leaf, check_revocation=False).warnings == ()


def _crl(issuer: x509.Name, serial: int, key: ec.EllipticCurvePrivateKey) -> x509.CertificateRevocationList:
    return (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer)
        .last_update(NOW - dt.timedelta(hours=1))
        .next_update(NOW + dt.timedelta(days=1))
        .add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(serial)
            .revocation_date(NOW - dt.timedelta(hours=1))
            .build()
        )
        .sign(key, hashes.SHA256())
    )


def test_crl_revokes_only_when_signed_by_the_issuer(own_pki: OwnPki) -> None:
    leaf = own_pki.leaf("Leaf")
    forged = _crl(own_pki.inter.subject, leaf.serial_number, _key())
    assert own_pki.store([forged]).validate_chain(leaf).ok
    genuine = _crl(own_pki.inter.subject, leaf.serial_number, own_pki.inter_key)
    assert own_pki.store([genuine]).validate_chain(leaf).reason is ChainFailure.REVOKED


def test_times(ca: TestCA, creds: dict[str, Credential]) -> None:
    store = ca.trust_store()
    cert = creds["good-rsa"].certificate
    assert store.validate_chain(cert).ok  # cached now …
    later = cert.not_valid_after_utc + dt.timedelta(seconds=1)
    assert store.validate_chain(cert, at=later).reason is ChainFailure.EXPIRED  # … but never past expiry
    before = cert.not_valid_before_utc - dt.timedelta(seconds=1)
    assert store.validate_chain(cert, at=before).reason is ChainFailure.NOT_YET_VALID
    with pytest.raises(ValueError, match="timezone-aware"):
        store.validate_chain(cert, at=dt.datetime(2026, 1, 1))


def test_from_pem_files(ca: TestCA, creds: dict[str, Credential], tmp_path: Path) -> None:
    store = TrustStore.from_pem_files(
        anchors=[ca.root_path], intermediates=[ca.issuing_path], crls=[ca.crl_path]
    )
    assert store.validate_chain(creds["good-ec"].certificate).ok
    assert store.validate_chain(creds["revoked"].certificate).reason is ChainFailure.REVOKED
    empty = tmp_path / "empty.pem"
    empty.write_text("nothing here")
    with pytest.raises(ValueError, match="holds no PEM certificate"):
        TrustStore.from_pem_files(anchors=[empty])
    with pytest.raises(ValueError, match="cannot read"):
        TrustStore.from_pem_files(anchors=[tmp_path / "missing.pem"])
    with pytest.raises(ValueError, match="at least one trust anchor"):
        TrustStore([])


def test_rogue_root_as_anchor_of_another_store(ca: TestCA, creds: dict[str, Credential]) -> None:
    """The 'untrusted' variant is only untrusted relative to the store: trusting the rogue root accepts it."""
    store = TrustStore.from_pem_files(anchors=[ca.rogue_root_path])
    assert store.validate_chain(creds["untrusted"].certificate).ok
    assert store.validate_chain(creds["good-rsa"].certificate).reason is ChainFailure.UNTRUSTED
