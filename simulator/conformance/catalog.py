"""The scenarios of the conformance suite as data: test-case IDs, requirement tags, tag checks.

Every scenario of ``features/*.feature`` carries exactly one stable test-case ID tag (``@TC-RECV-003``)
and at least one requirement tag from ``simulator/requirements.toml`` (``@QD28-9.1``). The only other
tags allowed are topic tags on a Feature (``@receive``), named after their file. :func:`check_scenarios`
lists every violation; the suite refuses to run (usage error) while one remains.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pytest_bdd.parser import FeatureParser

from simulator.requirements import catalogue

__all__ = [
    "REQUIREMENT_LIKE",
    "TC_TAG",
    "ScenarioSpec",
    "check_scenarios",
    "features_dir",
    "known_tags",
    "load_scenarios",
    "tag_expression_problems",
]

TC_TAG = re.compile(r"^TC-[A-Z]+-\d{3}$")
"""A stable test-case ID: ``TC-<AREA>-<nnn>``."""
REQUIREMENT_LIKE = re.compile(r"^(?:QD28|VPCP19|CT15|EDXML|VXP|OPS)-")
_EXPR_WORDS = frozenset({"and", "or", "not"})
_EXPR_TOKEN = re.compile(r"[()\s]+")


@dataclass(frozen=True, slots=True)
class ScenarioSpec:
    """One scenario (an outline counts once; its examples share the ID)."""

    tc_id: str  # "" when the scenario has none (a problem check_scenarios reports)
    name: str
    feature: str  # file name, e.g. "receive.feature"
    line: int
    requirements: tuple[str, ...]  # requirement tags, in catalogue order
    tags: frozenset[str]  # every tag of the scenario, its feature's included
    examples: int  # 0 for a plain scenario, else the number of example rows

    @property
    def where(self) -> str:
        return f"{self.feature}:{self.line}"


def features_dir() -> Path:
    """The ``features/`` directory: beside the ``simulator`` package (source tree or installed)."""
    here = Path(__file__).resolve().parent.parent.parent / "features"
    if here.is_dir():
        return here
    import importlib.util

    spec = importlib.util.find_spec("features")
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    raise FileNotFoundError(
        "cannot find the conformance suite's features/ directory beside the simulator package; "
        "reinstall lienthong with its features (pip install -e . from the source tree)"
    )


def load_scenarios(directory: Path | None = None) -> list[ScenarioSpec]:
    """Every scenario of every ``*.feature`` file under ``directory`` (default :func:`features_dir`)."""
    base = directory or features_dir()
    order = {rid: i for i, rid in enumerate(catalogue().ids())}
    specs: list[ScenarioSpec] = []
    for path in sorted(base.glob("*.feature")):
        feature = FeatureParser(str(base), path.name).parse()
        for template in feature.scenarios.values():
            tags = frozenset(template.tags | feature.tags)
            tcs = sorted(t for t in template.tags if TC_TAG.match(t))
            reqs = sorted((t for t in tags if REQUIREMENT_LIKE.match(t)), key=lambda t: order.get(t, 10**6))
            specs.append(
                ScenarioSpec(
                    tc_id=tcs[0] if tcs else "",
                    name=template.name,
                    feature=path.name,
                    line=template.line_number,
                    requirements=tuple(reqs),
                    tags=tags,
                    examples=sum(len(e.examples) for e in template.examples),
                )
            )
    return specs


def _topic(feature: str) -> str:
    return feature.removesuffix(".feature")


def check_scenarios(specs: Sequence[ScenarioSpec]) -> list[str]:
    """Plain sentences, one per problem (empty: the suite is well tagged)."""
    problems: list[str] = []
    known = catalogue()
    seen: dict[str, str] = {}
    if not specs:
        problems.append("the suite holds no scenario at all (no *.feature file found)")
    for s in specs:
        tcs = sorted(t for t in s.tags if TC_TAG.match(t))
        if not tcs:
            problems.append(f"{s.where}: scenario «{s.name}» has no test-case ID tag (e.g. @TC-RECV-003)")
        elif len(tcs) > 1:
            problems.append(f"{s.where}: scenario «{s.name}» has several test-case IDs: {', '.join(tcs)}")
        for tc in tcs:
            if tc in seen:
                problems.append(f"{s.where}: test-case ID {tc} is already used at {seen[tc]}")
            seen.setdefault(tc, s.where)
        if not s.requirements:
            problems.append(
                f"{s.where}: scenario «{s.name}» names no requirement; tag it with an ID from "
                "simulator/requirements.toml (e.g. @QD28-9.1)"
            )
        for tag in sorted(s.tags):
            if TC_TAG.match(tag) or tag == _topic(s.feature):
                continue
            if REQUIREMENT_LIKE.match(tag):
                if tag not in known:
                    problems.append(
                        f"{s.where}: @{tag} is not a requirement of simulator/requirements.toml "
                        "(fix the tag or add the row; never renumber)"
                    )
                continue
            problems.append(
                f"{s.where}: unknown tag @{tag}: only a test-case ID, requirement IDs and the feature's "
                f"topic tag @{_topic(s.feature)} are allowed"
            )
    return problems


def known_tags(specs: Iterable[ScenarioSpec]) -> set[str]:
    """Every tag the suite uses, plus every requirement ID of the catalogue."""
    tags: set[str] = set(catalogue().ids())
    for s in specs:
        tags |= s.tags
    return tags


def tag_expression_problems(expression: str, known: Iterable[str]) -> list[str]:
    """Names in a ``--tags`` expression (``QD28-9.1 and not TC-SIG-003``) that are no known tag."""
    names = set(known)
    unknown: list[str] = []
    for token in _EXPR_TOKEN.split(expression):
        word = token.lstrip("@")
        if not word or word in _EXPR_WORDS or word in names or word in unknown:
            continue
        unknown.append(word)
    return unknown
