"""The test PKI (a CA playing the government CA's role) and XML-DSig signing/verification.

Verification always runs against an explicit TrustStore; see dsig.Verifier.
"""

from __future__ import annotations

from simulator.pki.ca import (
    CertInfo,
    CertVariant,
    Credential,
    KeyType,
    Purpose,
    SigningKey,
    TestCA,
    UnknownCredentialError,
    organ_id_of,
)
from simulator.pki.dsig import (
    Engine,
    SignatureAlgorithm,
    SignaturePolicy,
    SigningError,
    Verifier,
    VerifyFailure,
    VerifyResult,
    sign,
    verify,
)
from simulator.pki.trust import (
    ChainFailure,
    ChainPurpose,
    ChainResult,
    TrustStore,
    describe,
    load_pem_certificates,
    load_pem_crls,
)

__all__ = [
    "CertInfo",
    "CertVariant",
    "ChainFailure",
    "ChainPurpose",
    "ChainResult",
    "Credential",
    "Engine",
    "KeyType",
    "Purpose",
    "SignatureAlgorithm",
    "SignaturePolicy",
    "SigningError",
    "SigningKey",
    "TestCA",
    "TrustStore",
    "UnknownCredentialError",
    "Verifier",
    "VerifyFailure",
    "VerifyResult",
    "describe",
    "load_pem_certificates",
    "load_pem_crls",
    "organ_id_of",
    "sign",
    "verify",
]
