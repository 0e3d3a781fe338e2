"""The driver API's OpenAPI document: structurally sound, in step with the wire shapes of
simulator.sut.http_driver, and (once the reference driver app exists) with the routes it serves."""

from __future__ import annotations

import importlib
import importlib.util
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from simulator.edxml.model import StatusCode
from simulator.sut.driver import (
    Capability,
    DriverInfo,
    LegalValidity,
    OutgoingDocument,
    SentRef,
)
from simulator.sut.http_driver import (
    info_to_json,
    outgoing_from_json,
    outgoing_to_json,
    sent_ref_to_json,
    state_from_json,
    state_to_json,
)

DOC = Path(__file__).resolve().parents[2] / "simulator" / "sut" / "driver-openapi.json"
METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DOC.read_text(encoding="utf-8"))
    return data


def _walk(node: Any, where: str = "#") -> Iterator[tuple[str, Any]]:
    yield where, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, f"{where}/{i}")


def _resolve(spec: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), f"only local references are used, got {ref}"
    node: Any = spec
    for part in ref[2:].split("/"):
        assert isinstance(node, dict) and part in node, f"$ref {ref} does not resolve (no {part!r})"
        node = node[part]
    return node


def _schema(spec: dict[str, Any], name: str) -> dict[str, Any]:
    schema: dict[str, Any] = spec["components"]["schemas"][name]
    return schema


def _operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method in METHODS:
                yield path, method, op


def test_top_level(spec: dict[str, Any]) -> None:
    assert spec["openapi"].startswith("3.1.")
    assert spec["info"]["title"] and spec["info"]["version"] and spec["info"]["description"]
    assert all(path.startswith("/driver/v1/") for path in spec["paths"])


def test_every_ref_resolves(spec: dict[str, Any]) -> None:
    refs = [(where, node["$ref"]) for where, node in _walk(spec) if isinstance(node, dict) and "$ref" in node]
    assert len(refs) > 30
    for _where, ref in refs:
        _resolve(spec, ref)


def test_every_schema_is_used(spec: dict[str, Any]) -> None:
    text = json.dumps(spec["paths"]) + json.dumps(spec["components"])
    unused = [name for name in spec["components"]["schemas"] if f'"#/components/schemas/{name}"' not in text]
    assert unused == [], unused


def test_every_operation_is_documented(spec: dict[str, Any]) -> None:
    ids = []
    for path, method, op in _operations(spec):
        where = f"{method.upper()} {path}"
        ids.append(op["operationId"])
        assert op.get("summary"), where
        assert op.get("responses"), where
        assert "200" in op["responses"], where
        assert "501" in op["responses"] or op["operationId"] == "info", f"{where}: may be unsupported"
        for status, reply in op["responses"].items():
            reply = _resolve(spec, reply["$ref"]) if "$ref" in reply else reply
            assert reply.get("description"), f"{where} {status}"
            assert "application/json" in reply.get("content", {}), f"{where} {status}: JSON reply"
        templated = set(re.findall(r"{(\w+)}", path))
        declared = set()
        for param in op.get("parameters", []):
            param = _resolve(spec, param["$ref"]) if "$ref" in param else param
            if param["in"] == "path":
                declared.add(param["name"])
                assert param["required"] is True
        assert templated == declared, f"{where}: path parameters {templated} vs declared {declared}"
        if method == "post":
            assert "requestBody" in op, f"{where}: POST bodies are JSON objects, even empty ones"
    assert len(ids) == len(set(ids)), "operationIds are unique"
    assert len(ids) == 12  # the twelve operations of the driver table


def test_document_id_encoding_is_explained(spec: dict[str, Any]) -> None:
    param = spec["components"]["parameters"]["DocumentId"]
    assert "%2C" in param["description"] and "%2F" in param["description"]
    assert "percent-encoded" in spec["info"]["description"]


def test_enums_match_the_code(spec: dict[str, Any]) -> None:
    assert set(_schema(spec, "Capability")["enum"]) == {c.value for c in Capability}
    assert set(_schema(spec, "StatusCode")["enum"]) == {c.value for c in StatusCode}
    legal = _schema(spec, "DocumentState")["properties"]["legal_validity"]["enum"]
    assert set(legal) == {v.value for v in LegalValidity}


def test_schemas_match_the_wire_shapes(spec: dict[str, Any]) -> None:
    """Property names in the document equal the keys the harness sends and reads."""
    example_state = _schema(spec, "DocumentState")["example"]
    state = state_from_json(example_state)
    assert set(_schema(spec, "DocumentState")["properties"]) == set(state_to_json(state))
    document = outgoing_from_json(_schema(spec, "OutgoingDocument")["example"])
    assert set(_schema(spec, "OutgoingDocument")["properties"]) == set(outgoing_to_json(document))
    info = DriverInfo("p", "1", ("000.00.12.H29",), frozenset({Capability.SEND}))
    assert set(_schema(spec, "Info")["properties"]) == set(info_to_json(info))
    assert set(_schema(spec, "SentRef")["properties"]) == set(sent_ref_to_json(SentRef("x")))
    assert isinstance(document, OutgoingDocument)


def _served_routes() -> set[tuple[str, str]]:
    from starlette.routing import Route

    app = _driver_app(importlib.import_module("simulator.sut.driver_app"))
    routes = set()
    for route in app.routes:
        if isinstance(route, Route) and route.path.startswith("/driver/"):
            path = re.sub(r"{(\w+):\w+}", r"{\1}", route.path)
            for method in route.methods or ():
                if method != "HEAD":
                    routes.add((method.lower(), path))
    return routes


def _driver_app(module: Any) -> Any:
    """The Starlette app of simulator.sut.driver_app, built against a do-nothing driver."""
    from unittest.mock import MagicMock

    from simulator.sut.driver import SutDriver

    factory = getattr(module, "create_driver_app", None) or getattr(module, "driver_app", None)
    assert factory is not None, "simulator.sut.driver_app has neither create_driver_app nor driver_app"
    return factory(MagicMock(spec=SutDriver))


@pytest.mark.skipif(
    importlib.util.find_spec("simulator.sut.driver_app") is None,
    reason="simulator/sut/driver_app.py (the reference driver app) is not there yet",
)
def test_paths_equal_the_routes_the_reference_driver_app_serves(spec: dict[str, Any]) -> None:
    documented = {(method, path) for path, method, _ in _operations(spec)}
    assert documented == _served_routes()
