"""A test CA that plays the government CA (Ban Cơ yếu Chính phủ) for the simulator.

Hierarchy (all stored as PEM under one directory, default ``lienthong_home()/"pki"``)::

    root.pem            "Lienthong TEST Root CA"     BasicConstraints CA pathlen=1, keyCertSign+cRLSign
    └── issuing.pem     "Lienthong TEST Issuing CA"  BasicConstraints CA pathlen=0, keyCertSign+cRLSign
        ├── certs/<name>.pem   end-entity certificates for agencies, persons, the hub's TLS server
        └── crl.pem            CRL signed by the issuing CA (root-crl.pem: the root's, empty)
    rogue-root.pem      "Lienthong ROGUE Root CA" — NOT in the trust store; issues the UNTRUSTED variants

End-entity subject: ``C=VN, O=<organ_id>, serialNumber=<organ_id>, CN=<common_name or name>`` when an
``organ_id`` is given (``serialNumber`` is the standard attribute to read it from, see
:func:`organ_id_of`), else ``C=VN, CN=<common_name or name>``.

Signing certificates: KeyUsage digitalSignature + nonRepudiation (critical), BasicConstraints CA:false
(critical), SKI/AKI. TLS server certificates: KeyUsage digitalSignature (+ keyEncipherment for RSA),
ExtendedKeyUsage serverAuth, SubjectAltName ``localhost`` + ``127.0.0.1``.

``cert_path`` of a credential holds the leaf followed by its issuing CA (a "full chain" PEM, what
``ssl.SSLContext.load_cert_chain`` and most servers want; ``x509.load_pem_x509_certificate`` reads
the first block, the leaf). Keys are unencrypted PKCS#8 PEM, mode 0600 — this is a *test* CA.

Concurrency: creation and issuing happen under an exclusive ``flock`` on ``.lock`` and every file is
written to a temporary name then renamed into place, so concurrent processes never see half a file.
PEM files are parsed once per process (cached by path, mtime and size).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import ipaddress
import json
import os
import re
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from simulator.home import lienthong_home
from simulator.pki.trust import TrustStore, load_pem_certificates, load_pem_crls

__all__ = [
    "CertInfo",
    "CertVariant",
    "Credential",
    "KeyType",
    "Purpose",
    "SigningKey",
    "TestCA",
    "UnknownCredentialError",
    "organ_id_of",
]

KeyType = Literal["rsa", "ec"]
Purpose = Literal["signing", "tls-server", "report"]
SigningKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_ROOT_VALIDITY = dt.timedelta(days=20 * 365)
_ISSUING_VALIDITY = dt.timedelta(days=10 * 365)
_EE_VALIDITY = dt.timedelta(days=2 * 365)
# CAs start 3 years in the past so that the EXPIRED variant (valid from 400 days ago until yesterday)
# lies inside its CA's validity: verifying "at" a time when it was valid then succeeds.
_CA_BACKDATE = dt.timedelta(days=3 * 365)
_CRL_VALIDITY = dt.timedelta(days=30)
_CRL_RENEW_BEFORE = dt.timedelta(days=2)
_TEST_O = "Ban Cơ yếu Chính phủ - TEST (lienthong, không có giá trị pháp lý)"


class CertVariant(StrEnum):
    GOOD = "good"
    EXPIRED = "expired"  # validity ended yesterday
    NOT_YET_VALID = "not-yet-valid"  # validity starts in 30 days
    REVOKED = "revoked"  # listed in the issuing CA's CRL
    UNTRUSTED = "untrusted"  # issued by the rogue root, which is not in the trust store
    WRONG_KEY_USAGE = "wrong-key-usage"  # KeyUsage keyEncipherment only

    def __str__(self) -> str:
        return self.value


class UnknownCredentialError(KeyError):
    def __init__(self, name: str, directory: Path) -> None:
        super().__init__(name)
        self.name = name
        self.directory = directory

    def __str__(self) -> str:
        return (
            f"no credential named {self.name!r} in the test CA at {self.directory}: "
            "issue it first with TestCA.issue(name, ...)"
        )


@dataclass(frozen=True)
class Credential:
    """What a signer holds: the loaded private key, its certificate and the issuing chain."""

    name: str
    private_key: SigningKey
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]  # issuing CA(s), not the root
    cert_path: Path  # PEM: leaf then chain
    key_path: Path  # PEM PKCS#8, 0600

    @property
    def key_type(self) -> KeyType:
        return "ec" if isinstance(self.private_key, ec.EllipticCurvePrivateKey) else "rsa"


@dataclass(frozen=True)
class CertInfo:
    name: str
    subject: str
    serial: int
    not_before: dt.datetime
    not_after: dt.datetime
    variant: CertVariant
    key_type: KeyType
    purpose: Purpose
    organ_id: str | None
    revoked: bool


def organ_id_of(cert: x509.Certificate) -> str | None:
    """The agency code carried by a certificate: subject serialNumber, else O, else None."""
    for oid in (NameOID.SERIAL_NUMBER, NameOID.ORGANIZATION_NAME):
        attrs = cert.subject.get_attributes_for_oid(oid)
        if attrs:
            value = attrs[0].value
            return value if isinstance(value, str) else value.decode("utf-8", "replace")
    return None


# ----------------------------------------------------------------------------- file helpers

_cache_lock = threading.Lock()
_file_cache: dict[tuple[str, str], tuple[tuple[int, int, int], Any]] = {}


def _stat_key(path: Path) -> tuple[int, int, int]:
    st = path.stat()
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def _cached(path: Path, kind: str, loader: Any) -> Any:
    key = (str(path), kind)
    stamp = _stat_key(path)
    with _cache_lock:
        hit = _file_cache.get(key)
    if hit is not None and hit[0] == stamp:
        return hit[1]
    value = loader(path.read_bytes())
    with _cache_lock:
        _file_cache[key] = (stamp, value)
    return value


def _load_certs(path: Path) -> list[x509.Certificate]:
    result: list[x509.Certificate] = _cached(path, "certs", load_pem_certificates)
    return result


def _load_key(path: Path) -> SigningKey:
    def load(data: bytes) -> SigningKey:
        key = serialization.load_pem_private_key(data, password=None)
        if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
            raise ValueError(f"{path}: only RSA and EC private keys are supported")
        return key

    result: SigningKey = _cached(path, "key", load)
    return result


def _atomic_write(path: Path, data: bytes, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: SigningKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _new_key(key_type: KeyType) -> SigningKey:
    if key_type == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


# ----------------------------------------------------------------------------- certificate builders


def _ca_cert(
    subject: x509.Name,
    key: SigningKey,
    *,
    issuer: x509.Certificate | None,
    issuer_key: CertificateIssuerPrivateKeyTypes,
    path_length: int,
    validity: dt.timedelta,
) -> x509.Certificate:
    now = _now()
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.subject if issuer is not None else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _CA_BACKDATE)
        .not_valid_after(now + validity)
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    aki_source = issuer.public_key() if issuer is not None else key.public_key()
    builder = builder.add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_public_key(aki_source),  # type: ignore[arg-type]
        critical=False,
    )
    return builder.sign(issuer_key, hashes.SHA256())


def _ca_name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, _TEST_O),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _ee_name(common_name: str, organ_id: str | None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COUNTRY_NAME, "VN")]
    if organ_id:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organ_id))
        attrs.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, organ_id))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, _fit_common_name(common_name)))
    return x509.Name(attrs)


_UB_COMMON_NAME = 64  # RFC 5280 upper bound for CommonName (cryptography counts UTF-8 bytes)


def _fit_common_name(text: str) -> str:
    """Long Vietnamese agency names exceed the X.509 CN bound: shorten on a word boundary with an ellipsis."""
    text = " ".join(text.split())
    if len(text.encode("utf-8")) <= _UB_COMMON_NAME:
        return text
    budget = _UB_COMMON_NAME - len("…".encode())
    cut = text
    while len(cut.encode("utf-8")) > budget:
        cut = cut[:-1]
    if " " in cut[len(cut) // 2 :]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,;-") + "…"


def _key_usage(purpose: Purpose, variant: CertVariant, key_type: KeyType) -> x509.KeyUsage:
    digital = nonrep = keyenc = False
    if variant is CertVariant.WRONG_KEY_USAGE:
        keyenc = True
    elif purpose == "tls-server":
        digital = True
        keyenc = key_type == "rsa"
    else:
        digital = nonrep = True
    return x509.KeyUsage(
        digital_signature=digital,
        content_commitment=nonrep,
        key_encipherment=keyenc,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def _validity(variant: CertVariant) -> tuple[dt.datetime, dt.datetime]:
    now = _now()
    if variant is CertVariant.EXPIRED:
        return now - dt.timedelta(days=400), now - dt.timedelta(days=1)
    if variant is CertVariant.NOT_YET_VALID:
        return now + dt.timedelta(days=30), now + dt.timedelta(days=30) + _EE_VALIDITY
    return now - dt.timedelta(days=1), now + _EE_VALIDITY


# ----------------------------------------------------------------------------- the CA


class TestCA:
    """The test PKI on disk. Use :meth:`open`; every method is safe across processes."""

    __test__ = False  # not a pytest test class

    ROOT_CN = "Lienthong TEST Root CA"
    ISSUING_CN = "Lienthong TEST Issuing CA"
    ROGUE_CN = "Lienthong ROGUE Root CA (untrusted)"

    def __init__(self, directory: Path) -> None:
        """Internal: use :meth:`TestCA.open`."""
        self.directory = directory
        self._trust: TrustStore | None = None

    # -- paths
    @property
    def root_path(self) -> Path:
        """The trust anchor PEM (what clients pass as CA bundle)."""
        return self.directory / "root.pem"

    @property
    def issuing_path(self) -> Path:
        return self.directory / "issuing.pem"

    @property
    def crl_path(self) -> Path:
        """CRL of the issuing CA (the one that lists revoked end-entity certificates)."""
        return self.directory / "crl.pem"

    @property
    def root_crl_path(self) -> Path:
        return self.directory / "root-crl.pem"

    @property
    def rogue_root_path(self) -> Path:
        return self.directory / "rogue-root.pem"

    @property
    def _certs_dir(self) -> Path:
        return self.directory / "certs"

    @property
    def root(self) -> x509.Certificate:
        return _load_certs(self.root_path)[0]

    @property
    def issuing(self) -> x509.Certificate:
        return _load_certs(self.issuing_path)[0]

    @property
    def rogue_root(self) -> x509.Certificate:
        return _load_certs(self.rogue_root_path)[0]

    # -- opening
    @classmethod
    def open(cls, directory: Path | None = None) -> TestCA:
        """Open the CA in ``directory`` (default ``lienthong_home()/"pki"``), creating it on first use."""
        directory = Path(directory) if directory is not None else lienthong_home() / "pki"
        ca = cls(directory)
        if not ca._complete() or ca._crl_needs_renewal():
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            with ca._locked():
                if not ca._complete():
                    ca._create()
                if ca._crl_needs_renewal():
                    ca._write_crls()
        return ca

    def _complete(self) -> bool:
        names = [
            "root.pem",
            "root.key.pem",
            "issuing.pem",
            "issuing.key.pem",
            "rogue-root.pem",
            "rogue-root.key.pem",
            "crl.pem",
            "root-crl.pem",
        ]
        return all((self.directory / n).is_file() for n in names)

    def _crl_needs_renewal(self) -> bool:
        if not self.crl_path.is_file() or not self.root_crl_path.is_file():
            return False  # created by _create
        limit = _now() + _CRL_RENEW_BEFORE
        for path in (self.crl_path, self.root_crl_path):
            crls = _cached(path, "crls", load_pem_crls)
            if not crls or crls[0].next_update_utc is None or crls[0].next_update_utc < limit:
                return True
        return False

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(self.directory / ".lock", "a+b") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    def _create(self) -> None:
        d = self.directory
        if (d / "root.pem").is_file() and (d / "root.key.pem").is_file():
            root_key = _load_key(d / "root.key.pem")
            root = _load_certs(d / "root.pem")[0]
        else:
            root_key = _new_key("rsa")
            root = _ca_cert(
                _ca_name(self.ROOT_CN),
                root_key,
                issuer=None,
                issuer_key=root_key,
                path_length=1,
                validity=_ROOT_VALIDITY,
            )
            _atomic_write(d / "root.key.pem", _key_pem(root_key), 0o600)
            _atomic_write(d / "root.pem", _pem(root))
        if not ((d / "issuing.pem").is_file() and (d / "issuing.key.pem").is_file()):
            issuing_key = _new_key("rsa")
            issuing = _ca_cert(
                _ca_name(self.ISSUING_CN),
                issuing_key,
                issuer=root,
                issuer_key=root_key,
                path_length=0,
                validity=_ISSUING_VALIDITY,
            )
            _atomic_write(d / "issuing.key.pem", _key_pem(issuing_key), 0o600)
            _atomic_write(d / "issuing.pem", _pem(issuing))
        if not ((d / "rogue-root.pem").is_file() and (d / "rogue-root.key.pem").is_file()):
            rogue_key = _new_key("rsa")
            rogue = _ca_cert(
                _ca_name(self.ROGUE_CN),
                rogue_key,
                issuer=None,
                issuer_key=rogue_key,
                path_length=1,
                validity=_ROOT_VALIDITY,
            )
            _atomic_write(d / "rogue-root.key.pem", _key_pem(rogue_key), 0o600)
            _atomic_write(d / "rogue-root.pem", _pem(rogue))
        self._write_crls()

    # -- CRLs
    def _revoked(self) -> dict[str, Any]:
        path = self.directory / "revoked.json"
        if not path.is_file():
            return {}
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return data

    def _write_crls(self) -> None:
        now = _now()
        issuing = _load_certs(self.issuing_path)[0]
        issuing_key = _load_key(self.directory / "issuing.key.pem")
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(issuing.subject)
            .last_update(now - dt.timedelta(minutes=5))
            .next_update(now + _CRL_VALIDITY)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuing_key.public_key()), critical=False
            )
            .add_extension(x509.CRLNumber(int(now.timestamp())), critical=False)
        )
        for entry in self._revoked().values():
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(int(entry["serial"]))
                .revocation_date(dt.datetime.fromisoformat(entry["at"]))
                .build()
            )
        crl = builder.sign(issuing_key, hashes.SHA256())
        _atomic_write(self.crl_path, crl.public_bytes(serialization.Encoding.PEM))

        root = _load_certs(self.root_path)[0]
        root_key = _load_key(self.directory / "root.key.pem")
        root_crl = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(root.subject)
            .last_update(now - dt.timedelta(minutes=5))
            .next_update(now + _CRL_VALIDITY)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False
            )
            .add_extension(x509.CRLNumber(int(now.timestamp())), critical=False)
            .sign(root_key, hashes.SHA256())
        )
        _atomic_write(self.root_crl_path, root_crl.public_bytes(serialization.Encoding.PEM))

    def revoke(self, name: str) -> None:
        """Put credential ``name`` on the issuing CA's CRL and rewrite ``crl.pem`` (idempotent)."""
        with self._locked():
            self._revoke_locked(name)

    def _revoke_locked(self, name: str) -> None:
        cred = self.credential(name)
        if cred.certificate.issuer != self.issuing.subject:
            raise ValueError(
                f"credential {name!r} was not issued by the test issuing CA (issuer "
                f"{cred.certificate.issuer.rfc4514_string()}), so its CRL cannot list it"
            )
        revoked = self._revoked()
        key = str(cred.certificate.serial_number)
        if key in revoked:
            return
        revoked[key] = {
            "serial": key,
            "name": name,
            "at": (_now() - dt.timedelta(minutes=1)).isoformat(),
        }
        _atomic_write(
            self.directory / "revoked.json",
            json.dumps(revoked, indent=2, sort_keys=True).encode(),
        )
        self._write_crls()

    # -- issuing
    def _meta_path(self, name: str) -> Path:
        return self._certs_dir / f"{name}.json"

    def issue(
        self,
        name: str,
        *,
        organ_id: str | None = None,
        common_name: str | None = None,
        key_type: KeyType = "rsa",
        variant: CertVariant = CertVariant.GOOD,
        purpose: Purpose = "signing",
    ) -> Credential:
        """Issue (or return the existing) credential ``name``.

        Idempotent: the same name with the same parameters returns the stored credential; the same
        name with other parameters is refused (pick another name).
        """
        if not _NAME_RE.match(name):
            raise ValueError(
                f"credential name {name!r} is not usable as a file name: use 1–100 characters "
                "from A–Z a–z 0–9 . _ - starting with a letter or digit"
            )
        if key_type not in ("rsa", "ec"):
            raise ValueError(f"key_type must be 'rsa' or 'ec', not {key_type!r}")
        if purpose not in ("signing", "tls-server", "report"):
            raise ValueError(f"purpose must be 'signing', 'tls-server' or 'report', not {purpose!r}")
        variant = CertVariant(variant)
        params = {
            "organ_id": organ_id,
            "common_name": common_name or name,
            "key_type": key_type,
            "variant": variant.value,
            "purpose": purpose,
        }
        existing = self._existing(name, params)
        if existing is not None:
            return existing
        with self._locked():
            existing = self._existing(name, params)
            if existing is not None:
                return existing
            self._issue_locked(name, params, variant, key_type, purpose)
            if variant is CertVariant.REVOKED:
                self._revoke_locked(name)
        return self.credential(name)

    def _existing(self, name: str, params: dict[str, Any]) -> Credential | None:
        meta_path = self._meta_path(name)
        if not meta_path.is_file():
            return None
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        stored = {k: meta.get(k) for k in params}
        if stored != params:
            diff = ", ".join(
                f"{k}: stored {stored[k]!r} vs asked {params[k]!r}" for k in params if stored[k] != params[k]
            )
            raise ValueError(
                f"credential {name!r} already exists in {self.directory} with other parameters ({diff}); "
                "use another name"
            )
        return self.credential(name)

    def _issue_locked(
        self, name: str, params: dict[str, Any], variant: CertVariant, key_type: KeyType, purpose: Purpose
    ) -> None:
        if variant is CertVariant.UNTRUSTED:
            issuer = self.rogue_root
            issuer_key = _load_key(self.directory / "rogue-root.key.pem")
            chain: list[x509.Certificate] = []
        else:
            issuer = self.issuing
            issuer_key = _load_key(self.directory / "issuing.key.pem")
            chain = [issuer]
        key = _new_key(key_type)
        not_before, not_after = _validity(variant)
        builder = (
            x509.CertificateBuilder()
            .subject_name(_ee_name(params["common_name"], params["organ_id"]))
            .issuer_name(issuer.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(purpose, variant, key_type), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False
            )
        )
        if purpose == "tls-server":
            builder = builder.add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
            ).add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
        cert = builder.sign(issuer_key, hashes.SHA256())
        certs_dir = self._certs_dir
        certs_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        _atomic_write(certs_dir / f"{name}.key.pem", _key_pem(key), 0o600)
        _atomic_write(certs_dir / f"{name}.pem", _pem(cert) + b"".join(_pem(c) for c in chain))
        meta = dict(params, serial=str(cert.serial_number))
        _atomic_write(self._meta_path(name), json.dumps(meta, indent=2, sort_keys=True).encode())

    def credential(self, name: str) -> Credential:
        """The stored credential ``name`` (keys and certificates parsed once per process)."""
        cert_path = self._certs_dir / f"{name}.pem"
        key_path = self._certs_dir / f"{name}.key.pem"
        if not _NAME_RE.match(name) or not cert_path.is_file() or not key_path.is_file():
            raise UnknownCredentialError(name, self.directory)
        certs = _load_certs(cert_path)
        return Credential(
            name=name,
            private_key=_load_key(key_path),
            certificate=certs[0],
            chain=tuple(certs[1:]),
            cert_path=cert_path,
            key_path=key_path,
        )

    def list(self) -> list[CertInfo]:
        """Every issued credential, sorted by name."""
        revoked = self._revoked()
        infos: list[CertInfo] = []
        if not self._certs_dir.is_dir():
            return infos
        for meta_path in sorted(self._certs_dir.glob("*.json")):
            name = meta_path.name[: -len(".json")]
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            cert_path = self._certs_dir / f"{name}.pem"
            if not cert_path.is_file():
                continue
            cert = _load_certs(cert_path)[0]
            infos.append(
                CertInfo(
                    name=name,
                    subject=cert.subject.rfc4514_string(),
                    serial=cert.serial_number,
                    not_before=cert.not_valid_before_utc,
                    not_after=cert.not_valid_after_utc,
                    variant=CertVariant(meta["variant"]),
                    key_type=meta["key_type"],
                    purpose=meta["purpose"],
                    organ_id=meta.get("organ_id"),
                    revoked=str(cert.serial_number) in revoked,
                )
            )
        return infos

    # -- trust
    def trust_store(self) -> TrustStore:
        """Root as the only anchor, the issuing CA as intermediate, both CRLs (re-read when rewritten)."""
        if self._trust is None:
            self._trust = TrustStore.from_pem_files(
                anchors=[self.root_path],
                intermediates=[self.issuing_path],
                crls=[self.crl_path, self.root_crl_path],
            )
        return self._trust

    def server_tls(self, variant: CertVariant = CertVariant.GOOD) -> Credential:
        """The hub's TLS server credential (SAN localhost + 127.0.0.1, EKU serverAuth)."""
        variant = CertVariant(variant)
        allowed = (CertVariant.GOOD, CertVariant.EXPIRED, CertVariant.UNTRUSTED, CertVariant.NOT_YET_VALID)
        if variant not in allowed:
            raise ValueError(
                f"no TLS server variant {variant.value!r}: use good, expired, not-yet-valid or untrusted"
            )
        name = "hub-tls" if variant is CertVariant.GOOD else f"hub-tls-{variant.value}"
        return self.issue(name, common_name="localhost", variant=variant, purpose="tls-server")
