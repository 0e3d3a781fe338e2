"""The requirements catalogue (``requirements.toml`` beside this module) as typed data."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

__all__ = ["Catalogue", "Requirement", "UnknownRequirementError", "catalogue"]


@dataclass(frozen=True, slots=True)
class Requirement:
    id: str
    source: str
    who: str
    title: str
    observe: str
    text_vi: str | None = None


class UnknownRequirementError(KeyError):
    def __init__(self, req_id: str) -> None:
        super().__init__(req_id)
        self.req_id = req_id

    def __str__(self) -> str:
        return (
            f"unknown requirement ID {self.req_id!r}: it is not in simulator/requirements.toml "
            "(add a row there, never renumber)"
        )


@dataclass(frozen=True, slots=True)
class Catalogue:
    version: str
    sources: dict[str, str]
    requirements: dict[str, Requirement]

    def __contains__(self, req_id: object) -> bool:
        return req_id in self.requirements

    def __getitem__(self, req_id: str) -> Requirement:
        try:
            return self.requirements[req_id]
        except KeyError:
            raise UnknownRequirementError(req_id) from None

    def ids(self) -> list[str]:
        return list(self.requirements)


@cache
def catalogue() -> Catalogue:
    raw = tomllib.loads(files("simulator").joinpath("requirements.toml").read_text(encoding="utf-8"))
    reqs = {
        rid: Requirement(
            id=rid,
            source=row["source"],
            who=row["who"],
            title=row["title"],
            observe=row["observe"],
            text_vi=row.get("text_vi"),
        )
        for rid, row in raw["requirements"].items()
    }
    return Catalogue(version=raw["version"], sources=dict(raw["sources"]), requirements=reqs)
