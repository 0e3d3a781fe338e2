"""The catalogue is well formed and every requirement ID cited in the code exists in it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from simulator.requirements import UnknownRequirementError, catalogue

ROOT = Path(__file__).resolve().parents[1]
ID_IN_CODE = re.compile(r"""["']((?:QD28|VPCP19|CT15|EDXML|VXP|OPS)-[A-Za-z0-9.\-]+)["']""")


def test_catalogue_rows_are_complete() -> None:
    cat = catalogue()
    assert cat.version
    assert len(cat.ids()) >= 40
    for req in cat.requirements.values():
        assert req.source in cat.sources, req.id
        assert req.who in {"sender", "receiver", "both", "hub"}, req.id
        assert req.title and req.observe, req.id
        if req.source in {"QD28", "VPCP19"}:
            assert req.text_vi, f"{req.id} is law and must quote its normative text"


def test_unknown_id_is_a_clear_error() -> None:
    with pytest.raises(UnknownRequirementError, match="QD28-99"):
        catalogue()["QD28-99"]


def test_every_id_cited_in_code_is_catalogued() -> None:
    cited: set[tuple[str, str]] = set()
    for path in [*ROOT.joinpath("simulator").rglob("*.py"), *ROOT.joinpath("features").rglob("*.py")]:
        for match in ID_IN_CODE.finditer(path.read_text(encoding="utf-8")):
            cited.add((match.group(1), str(path.relative_to(ROOT))))
    unknown = sorted((rid, where) for rid, where in cited if rid not in catalogue())
    assert not unknown, f"requirement IDs cited in code but missing from the catalogue: {unknown}"
