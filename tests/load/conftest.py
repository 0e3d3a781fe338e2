"""Shared fixtures of the load tests: an isolated $LIENTHONG_HOME (the load CA and corpus cache)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def load_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A $LIENTHONG_HOME shared by the load tests of one session (credentials are issued once)."""
    return tmp_path_factory.mktemp("lienthong-home")


@pytest.fixture
def isolated_home(load_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("LIENTHONG_HOME", str(load_home))
    yield load_home
