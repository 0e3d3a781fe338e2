"""One test CA per session (creating keys is the slow part), with every certificate variant."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator.pki.ca import CertVariant, Credential, TestCA

ORGAN = "000.00.00.G22"


@pytest.fixture(scope="session")
def ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    return TestCA.open(Path(tmp_path_factory.mktemp("pki")))


@pytest.fixture(scope="session")
def creds(ca: TestCA) -> dict[str, Credential]:
    """good-rsa, good-ec, other-rsa (a second good signer) and one RSA credential per bad variant."""
    out = {
        "good-rsa": ca.issue("good-rsa", organ_id=ORGAN, common_name="Văn phòng Chính phủ"),
        "good-ec": ca.issue("good-ec", organ_id=ORGAN, common_name="Văn phòng Chính phủ", key_type="ec"),
        "other-rsa": ca.issue("other-rsa", organ_id="000.00.00.H41", common_name="UBND tỉnh Nghệ An"),
    }
    for variant in CertVariant:
        if variant is not CertVariant.GOOD:
            out[variant.value] = ca.issue(f"bad-{variant.value}", organ_id=ORGAN, variant=variant)
    return out
