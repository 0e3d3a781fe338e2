"""``schema.json`` (the documented shape of ``report.json``) and a small validator for it.

The validator covers the JSON Schema keywords ``schema.json`` uses — ``type`` (one or a list),
``enum``, ``const``, ``properties``, ``required``, ``additionalProperties`` (false or a schema),
``items``, ``oneOf``, ``pattern`` and local ``$ref`` (``#/$defs/…``) — and ignores annotations
(``description``, ``title``). It is not a general validator (``jsonschema`` is not a dependency);
its job is to keep report.json and schema.json from drifting apart.
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib.resources import files
from typing import Any

__all__ = ["load_schema", "validate"]

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
}


@cache
def _schema_text() -> str:
    return files("simulator.report").joinpath("schema.json").read_text(encoding="utf-8")


def load_schema() -> dict[str, Any]:
    """The parsed ``schema.json`` (a fresh copy)."""
    result: dict[str, Any] = json.loads(_schema_text())
    return result


def _is_type(value: Any, name: str) -> bool:
    if name in ("integer", "number") and isinstance(value, bool):
        return False
    return isinstance(value, _TYPES[name])


def _resolve(ref: str, root: dict[str, Any]) -> dict[str, Any]:
    if not ref.startswith("#/"):
        raise ValueError(f"only local $ref are supported, not {ref!r}")
    node: Any = root
    for part in ref[2:].split("/"):
        node = node[part]
    return dict(node)


def _check(value: Any, schema: dict[str, Any], root: dict[str, Any], path: str, out: list[str]) -> None:
    if "$ref" in schema:
        _check(value, _resolve(schema["$ref"], root), root, path, out)
        return
    if "oneOf" in schema:
        matches = 0
        for option in schema["oneOf"]:
            sub: list[str] = []
            _check(value, option, root, path, sub)
            matches += not sub
        if matches != 1:
            out.append(f"{path}: matches {matches} of the oneOf alternatives (expected exactly 1)")
        return
    if "const" in schema and value != schema["const"]:
        out.append(f"{path}: must be {schema['const']!r}, found {value!r}")
    if "enum" in schema and value not in schema["enum"]:
        out.append(f"{path}: {value!r} is not one of {schema['enum']}")
    types = schema.get("type")
    if types is not None:
        names = [types] if isinstance(types, str) else list(types)
        if not any(_is_type(value, n) for n in names):
            out.append(f"{path}: expected {' or '.join(names)}, found {type(value).__name__}")
            return
    if isinstance(value, str) and "pattern" in schema and not re.search(schema["pattern"], value):
        out.append(f"{path}: {value!r} does not match {schema['pattern']}")
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for key in schema.get("required", []):
            if key not in value:
                out.append(f"{path}: required field {key!r} is missing")
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            where = f"{path}.{key}"
            if key in props:
                _check(item, props[key], root, where, out)
            elif extra is False:
                out.append(f"{path}: unexpected field {key!r}")
            elif isinstance(extra, dict):
                _check(item, extra, root, where, out)
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            _check(item, schema["items"], root, f"{path}[{i}]", out)


def validate(instance: Any, schema: dict[str, Any] | None = None) -> list[str]:
    """Every violation of ``schema`` (default: report.json's) by ``instance``, as ``path: problem``."""
    root = schema if schema is not None else load_schema()
    out: list[str] = []
    _check(instance, root, root, "$", out)
    return out
