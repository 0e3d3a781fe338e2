from __future__ import annotations

from pathlib import Path

import pytest

from simulator.pki.ca import TestCA
from simulator.report.manifest import ReportSigner, default_signer


@pytest.fixture(scope="session")
def ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    return TestCA.open(Path(tmp_path_factory.mktemp("report-pki")))


@pytest.fixture(scope="session")
def signer(ca: TestCA) -> ReportSigner:
    return default_signer(ca)
