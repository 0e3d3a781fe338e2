"""simulator.certify: ``lienthong certify`` — smoke check, conformance suite, load profile and a signed
report in one bounded session (see :mod:`simulator.certify.orchestrate`; the
connectivity check is :func:`simulator.certify.smoke.smoke_check`, imported on use: it starts a hub)."""

from simulator.certify.orchestrate import (
    PROFILE_NONE,
    CertifyError,
    CertifyExit,
    CertifyOptions,
    CertifyOutcome,
    Observer,
    PhaseRecord,
    certify,
    validate,
)

__all__ = [
    "PROFILE_NONE",
    "CertifyError",
    "CertifyExit",
    "CertifyOptions",
    "CertifyOutcome",
    "Observer",
    "PhaseRecord",
    "certify",
    "validate",
]
