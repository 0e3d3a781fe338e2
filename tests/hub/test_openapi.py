"""The OpenAPI document: up to date, structurally valid OpenAPI 3.1, every $ref resolving, the spec's
table reproduced (parameters as XroadVnpt-* headers, reply fields, ErrorCode table), and — above all —
exactly the paths and methods the app serves."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from simulator.hub.envelope import ErrorCode
from simulator.hub.openapi import (
    DOCUMENT_PATH,
    build_document,
    documented_operations,
    main,
    served_operations,
)
from tests.hub.conftest import Hub

METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}

# spec/vxp-protocol.md §3, copied from the table (method, parameters, reply fields).
SPEC: dict[str, tuple[str, set[str], set[str]]] = {
    "sendEdoc": ("post", {"from", "servicetype", "messagetype", "to", "hash-file"}, {"DocId"}),
    "getReceivedEdocList": ("post", {"servicetype", "messagetype"}, {"data"}),
    "getEdoc": ("post", {"docId", "filePath"}, {"data"}),
    "downloadEdoc": ("get", {"docId", "filePath"}, set()),
    "updateStatus": ("post", {"docId", "status", "description"}, set()),
    "getSentEdocList": ("post", {"servicetype", "messagetype", "docId"}, {"data"}),
    "countReceiveEdoc": ("post", {"servicetype", "messagetype"}, {"count"}),
    "countReceiveStatus": ("post", {"servicetype", "messagetype"}, {"count"}),
    "getAgenciesList": ("post", set(), {"data"}),
    "getAgenciesListQD20": ("post", {"level"}, {"data"}),
    "getSynchronizeUnit": ("post", set(), {"data"}),
    "registerAgency": ("post", set(), set()),
    "deleteAgency": ("post", {"AgencyCode"}, set()),
}
ITEMS = {
    "ReceivedItem": "docId serviceType messageType created_time updated_time from to status status_desc",
    "SentItem": "serviceType messageType senderDocId receiverDocId fromCode toCode title notation sentTime "
    "receivedTime sendStatus sendStatusDesc receiveStatus receiveStatusDesc",
    "AgencyItem": "id pid code name mail oldCode",
    "AgencyQD20Item": "id code name mail code102",
    "SyncUnitItem": "id pid code name mail centerCode version deleted modifyDate isAgency",
    "AgencyRegistration": "id pcode code name mail mobile fax",
}
AUTH = {"systemid", "timestamp", "Content-Type", "sign-header", "sign-header-key", "hash-header", "version"}


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DOCUMENT_PATH.read_text(encoding="utf-8"))
    return data


def resolve(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = doc
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"unresolved $ref {ref}"
        node = node[part]
    return node


def deref(doc: dict[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        node = resolve(doc, node["$ref"])
    return node


def walk(node: Any) -> Iterator[Any]:
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method in METHODS:
                yield path, method, op


def properties(doc: dict[str, Any], schema: Any) -> set[str]:
    """Property names of a schema, through $ref and allOf."""
    schema = deref(doc, schema)
    out = set(schema.get("properties", {}))
    for part in schema.get("allOf", []):
        out |= properties(doc, part)
    return out


def test_the_kept_file_is_what_the_builder_writes(doc: dict[str, Any]) -> None:
    assert doc == build_document(), "simulator/hub/openapi.json is stale: run python -m simulator.hub.openapi"
    assert main(["--check"]) == 0


def test_structure_is_openapi_3_1(doc: dict[str, Any]) -> None:
    assert doc["openapi"].startswith("3.1.")
    assert doc["info"]["title"] and doc["info"]["version"]
    assert doc["paths"]
    ids = [op["operationId"] for _, _, op in operations(doc)]
    assert len(ids) == len(set(ids)), "operationIds must be unique"
    for path, method, op in operations(doc):
        assert op.get("responses"), (path, method)
        for code, response in op["responses"].items():
            assert code == "default" or (code.isdigit() and len(code) == 3), (path, method, code)
            assert "description" in deref(doc, response), (path, method, code)
        declared = {p["name"] for p in (deref(doc, p) for p in op.get("parameters", [])) if p["in"] == "path"}
        templated = {seg[1:-1] for seg in path.split("/") if seg.startswith("{")}
        assert declared == templated, (path, method)
        for param in op.get("parameters", []):
            param = deref(doc, param)
            assert param["in"] in {"header", "query", "path", "cookie"} and "schema" in param
        for requirement in op.get("security", []):
            assert set(requirement) <= set(doc["components"]["securitySchemes"]), (path, method)
    refs = [n["$ref"] for n in walk(doc) if isinstance(n, dict) and "$ref" in n]
    assert len(refs) > 100
    for ref in refs:
        resolve(doc, ref)


def test_documented_paths_and_methods_equal_the_served_routes(doc: dict[str, Any], hub: Hub) -> None:
    served = served_operations(hub.client.app)  # type: ignore[arg-type]
    documented = documented_operations(doc)
    assert documented == served, {
        "served, not documented": sorted(served - documented),
        "documented, not served": sorted(documented - served),
    }
    assert ("/sendEdoc", "post") in served and ("/control/faults", "put") in served


def test_served_without_credentials(doc: dict[str, Any], hub: Hub) -> None:
    r = hub.client.get("/openapi.json")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    assert r.json() == doc


def test_every_vxp_operation_follows_the_spec_table(doc: dict[str, Any]) -> None:
    params = doc["components"]["parameters"]
    for name, (method, keys, reply) in SPEC.items():
        op = doc["paths"][f"/{name}"][method]
        assert "x-alias-of" not in op and op["operationId"] == name
        headers = {p["name"] for p in (deref(doc, p) for p in op["parameters"]) if p["in"] == "header"}
        assert headers == {f"XroadVnpt-{k}" for k in keys | AUTH}, name
        assert all(p["in"] == "header" for p in (deref(doc, p) for p in op["parameters"]))  # no query strings
        ok = op["responses"]["200"]["content"]
        if name == "downloadEdoc":
            assert set(ok) == {"application/octet-stream"}
        else:
            fields = properties(doc, ok["application/json"]["schema"])
            assert fields == {"status", "ErrorCode", "ErrorDesc"} | reply, name
        other = "get" if method == "post" else "post"
        assert doc["paths"][f"/{name}"][other]["x-alias-of"] == f"{method.upper()} /{name}"
    assert {params[k]["name"] for k in params} == {f"XroadVnpt-{k}" for k in AUTH}
    send = doc["paths"]["/sendEdoc"]["post"]
    assert set(send["requestBody"]["content"]) == {"application/octet-stream"}
    assert "CRLF" in send["requestBody"]["description"]


def test_reply_items_have_the_spec_field_names(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    for name, fields in ITEMS.items():
        assert set(schemas[name]["properties"]) == set(fields.split()), name


def test_error_codes_and_delivery_states_come_from_the_code(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    table = {row["code"]: row["http_status"] for row in schemas["ErrorCode"]["x-error-codes"]}
    assert table == {code.value: code.http_status for code in ErrorCode}
    assert schemas["ErrorCode"]["enum"] == [code.value for code in ErrorCode]
    assert set(schemas["DeliveryState"]["enum"]) == {"initial", "processing", "done", "fail"}
    envelope = schemas["Envelope"]
    assert envelope["required"] == ["status", "ErrorCode", "ErrorDesc"]


def test_control_api_is_documented_with_bearer_auth(doc: dict[str, Any]) -> None:
    assert doc["components"]["securitySchemes"]["adminToken"] == {
        "type": "http",
        "scheme": "bearer",
        "description": doc["components"]["securitySchemes"]["adminToken"]["description"],
    }
    control = [(p, m, op) for p, m, op in operations(doc) if p.startswith("/control")]
    assert len(control) == 17
    for path, method, op in control:
        assert op["security"] == [{"adminToken": []}], (path, method)
        assert "401" in op["responses"], (path, method)
    for path, _, op in operations(doc):
        if not path.startswith("/control") and path not in ("/time", "/openapi.json"):
            assert "adminToken" not in json.dumps(op.get("security", [])), path
    evidence = doc["paths"]["/control/evidence"]["get"]["responses"]["200"]["content"]
    assert set(evidence) == {"application/x-ndjson"}
    rule = doc["components"]["schemas"]["FaultRule"]["properties"]
    assert set(rule) == {
        "operation",
        "system",
        "latency_ms",
        "error_rate",
        "timeout",
        "drop_response_after_commit",
        "duplicate_delivery",
        "count",
        "until",
        "seed",
    }
