"""``features/defect_map.toml``: which scenarios each defective reference variant must fail.

The map is data kept beside the features; :func:`check_defect_map` says where it disagrees with the
suite (a scenario no defect is meant to fail, an unknown TC ID) or with the defect registry
(:data:`simulator.sut.defects.DEFECTS`: a defect that catches nothing, an unknown name).
"""

from __future__ import annotations

import tomllib
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path

from simulator.conformance.catalog import ScenarioSpec, features_dir

__all__ = ["DefectMapError", "check_defect_map", "load_defect_map"]

FILE_NAME = "defect_map.toml"


class DefectMapError(ValueError):
    """The map file is missing or malformed; the message names the file and the key."""


def load_defect_map(path: Path | None = None) -> dict[str, tuple[str, ...]]:
    """Defect name → the TC IDs it must fail, in file order."""
    file = path or features_dir() / FILE_NAME
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DefectMapError(f"{file}: cannot read the defect map ({exc.strerror or exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise DefectMapError(f"{file}: not valid TOML ({exc})") from None
    table = data.get("defects")
    if not isinstance(table, dict):
        raise DefectMapError(f'{file}: needs a [defects] table of NAME = ["TC-…", …]')
    out: dict[str, tuple[str, ...]] = {}
    for name, tcs in table.items():
        if not isinstance(tcs, list) or not all(isinstance(t, str) for t in tcs):
            raise DefectMapError(f"{file}: defects.{name} must be a list of test-case IDs")
        out[name] = tuple(tcs)
    return out


def check_defect_map(
    mapping: Mapping[str, Iterable[str]],
    scenarios: Iterable[ScenarioSpec],
    defects: Collection[str],
) -> list[str]:
    """Plain sentences, one per disagreement (empty: the map is complete and consistent)."""
    problems: list[str] = []
    by_tc = {s.tc_id: s for s in scenarios if s.tc_id}
    caught: set[str] = set()
    for name, tcs in mapping.items():
        listed = list(tcs)
        if name not in defects:
            problems.append(f"defect {name!r} is in {FILE_NAME} but not in simulator/sut/defects.py")
        if not listed:
            problems.append(f"defect {name!r} catches no scenario: list at least one TC ID")
        for tc in listed:
            if tc not in by_tc:
                problems.append(f"defect {name!r} names {tc}, which no scenario carries")
            caught.add(tc)
    for name in sorted(set(defects) - set(mapping)):
        problems.append(f"defect {name!r} of simulator/sut/defects.py is missing from {FILE_NAME}")
    for tc, spec in sorted(by_tc.items()):
        if tc not in caught:
            problems.append(
                f"scenario {tc} ({spec.where}, «{spec.name}») is not meant to fail on any defect: "
                "a scenario no variant can fail proves nothing"
            )
    return problems
