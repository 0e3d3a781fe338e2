"""The hub's OpenAPI 3.1 document: the VXP protocol (spec/vxp-protocol.md §3) and the control API.

:func:`build_document` writes it from the hub's own tables — the operations (``vxp.OPERATIONS``), the
``ErrorCode`` table and HTTP statuses (:mod:`simulator.hub.envelope`), the delivery states, the policy
choices, the fault-rule fields — plus the per-operation parameter and reply tables below, which follow
the spec's table field for field. The result is kept in the repository as ``simulator/hub/openapi.json``
(regenerate with ``python -m simulator.hub.openapi``; ``--check`` fails when the file is stale) and
served without credentials at ``GET /openapi.json``. ``tests/hub/test_openapi.py`` checks that the file
equals :func:`build_document`, that every ``$ref`` resolves and that its paths and methods are exactly
the routes the app serves (:func:`served_operations`).

Every VXP operation is documented under the method the SDK uses (POST; GET for downloadEdoc) and again
under the other method, which the hub also accepts (``x-alias-of``). Parameters are ``XroadVnpt-<k>``
headers, each also inside the signed ``XroadVnpt-sign-header``.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route

from simulator import __version__
from simulator.hub.config import DuplicatePolicy, SignaturePolicyName, StatusOrderPolicy, ValidationPolicy
from simulator.hub.envelope import ErrorCode
from simulator.hub.faults import MAX_RULES
from simulator.hub.stats import BUCKETS, LATENCY_CODES
from simulator.hub.store import DeliveryState
from simulator.hub.vxp import OPERATIONS

__all__ = [
    "DOCUMENT_PATH",
    "ERROR_MEANINGS",
    "build_document",
    "document_bytes",
    "documented_operations",
    "main",
    "openapi_route",
    "served_operations",
]

DOCUMENT_PATH = Path(__file__).with_name("openapi.json")
_HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

ERROR_MEANINGS: dict[ErrorCode, tuple[str, str]] = {
    ErrorCode.OK: ("", "success"),
    ErrorCode.AUTH_MISSING: ("VXP-AUTH", "a required authentication header is missing"),
    ErrorCode.AUTH_UNKNOWN_SYSTEM: ("VXP-AUTH", "XroadVnpt-systemid names no configured system"),
    ErrorCode.AUTH_BAD_HMAC: ("VXP-AUTH", "XroadVnpt-hash-header is not the HMAC of the sign-header"),
    ErrorCode.AUTH_BAD_SIGN_HEADER: ("VXP-AUTH", "the sign-header is not a JSON object of strings"),
    ErrorCode.AUTH_UNSIGNED_PARAM: (
        "VXP-AUTH",
        "a parameter header is unsigned or differs from its signed value",
    ),
    ErrorCode.AUTH_NON_ASCII: ("VXP-ASCII", "a header value holds non-ASCII bytes"),
    ErrorCode.ANONYMOUS_REFUSED: ("VXP-ANON", "a download without any authentication header"),
    ErrorCode.BAD_PARAMETER: ("(varies)", "a parameter is missing or malformed"),
    ErrorCode.HASH_MISMATCH: ("VXP-HASH", "hash-file does not match the uploaded bytes"),
    ErrorCode.TOO_LARGE: ("VXP-SIZE", "the upload exceeds the hub's size limit"),
    ErrorCode.BAD_XML: ("EDXML-XML", "the upload is not acceptable XML (malformed, DTD, empty)"),
    ErrorCode.INVALID_PACKAGE: ("EDXML-…", "the package is not a valid edXML package (per policy)"),
    ErrorCode.BAD_SIGNATURE: ("QD28-6.1", "the package signature fails verification (policy enforce)"),
    ErrorCode.SENDER_FORBIDDEN: ("VXP-ROUTE", "the sender agency does not belong to the calling system"),
    ErrorCode.UNKNOWN_RECIPIENT: ("VXP-ROUTE", "a recipient is not in the hub's directory (or none given)"),
    ErrorCode.NOT_FOUND: ("VXP-ROUTE", "no such docId / agency for this system (never 403: no leak)"),
    ErrorCode.DUPLICATE: ("VXP-DUP", "the same package was already accepted (policy refuse)"),
    ErrorCode.STATUS_ORDER: ("QD28-14.2", "an illegal business-status transition (policy refuse)"),
    ErrorCode.CONFLICT: ("(varies)", "the request contradicts stored state (e.g. re-ack after done)"),
    ErrorCode.UNKNOWN_OPERATION: ("VXP-ENVELOPE", "no such operation"),
    ErrorCode.UNAVAILABLE: ("", "the store is busy or unavailable, or an injected fault: retry later"),
    ErrorCode.INTERNAL: ("", "a bug in the hub (logged); never caused by bad input alone"),
}
"""ErrorCode → (requirement an ErrorDesc cites, meaning), as in :mod:`simulator.hub.envelope`."""


def _ref(name: str, kind: str = "schemas") -> dict[str, str]:
    return {"$ref": f"#/components/{kind}/{name}"}


def _obj(props: dict[str, Any], required: Sequence[str] = (), **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object", "properties": props}
    if required:
        out["required"] = list(required)
    out.update(extra)
    return out


def _str(description: str = "", **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "string"}
    if description:
        out["description"] = description
    out.update(extra)
    return out


def _int(description: str = "", **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "integer"}
    if description:
        out["description"] = description
    out.update(extra)
    return out


def _arr(items: dict[str, Any], description: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {"type": "array", "items": items}
    if description:
        out["description"] = description
    return out


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _with_envelope(props: dict[str, Any], required: Sequence[str] = ()) -> dict[str, Any]:
    return {"allOf": [_ref("Envelope"), _obj(props, required)]}


# ============================================================================================ VXP


@dataclass(frozen=True, slots=True)
class _Param:
    key: str  # without the XroadVnpt- prefix
    description: str
    required: bool = False
    enum: tuple[str, ...] = ()
    example: str = ""


@dataclass(frozen=True, slots=True)
class _Op:
    summary: str
    params: tuple[_Param, ...]
    body: str  # "package" | "empty" | "empty_object" | "registration" | "none"
    reply: str  # schema name of the 200 reply ("binary" for raw bytes)
    errors: tuple[int, ...] = (400, 401, 404, 500, 503)


_SERVICETYPE = _Param("servicetype", "always eDoc (as the SDK sends it)", enum=("eDoc",), example="eDoc")
_MESSAGETYPE = _Param(
    "messagetype", "edoc: documents; status: business status packages", enum=("edoc", "status")
)
_DOC_ID = _Param(
    "docId",
    "the hub's docId of the item (from getReceivedEdocList, or the DocId sendEdoc returned); "
    "docid is accepted too",
    required=True,
    example="8c1b7a0e-4b8d-4c59-9f1e-2f0d7c3b9a11",
)
_FILE_PATH = _Param("filePath", "sent by the SDK; ignored by the hub")

_VXP_OPS: dict[str, _Op] = {
    "sendEdoc": _Op(
        "Send a package (document or business status)",
        (
            _Param(
                "from",
                "the sender agency's OrganId (hosted by the calling system)",
                True,
                (),
                "000.00.00.G22",
            ),
            _SERVICETYPE,
            _MESSAGETYPE,
            _Param(
                "to",
                'optional routing: JSON text [{"code": "<OrganId>"}] (default: the package\'s To list)',
                example='[{"code":"000.00.00.H41"}]',
            ),
            _Param(
                "hash-file",
                "SHA-256 of the package bytes without the trailing CRLF, lowercase hex without zero padding "
                "(55–64 characters)",
                True,
            ),
        ),
        "package",
        "SendEdocReply",
        (400, 401, 403, 404, 409, 413, 500, 503),
    ),
    "getReceivedEdocList": _Op(
        "List the pending items addressed to the calling system's agencies",
        (_SERVICETYPE, _MESSAGETYPE),
        "empty",
        "ReceivedListReply",
    ),
    "getEdoc": _Op(
        "Fetch one received package (base64)", (_DOC_ID, _FILE_PATH), "empty_object", "GetEdocReply"
    ),
    "downloadEdoc": _Op(
        "Download one received package (raw bytes). The SDK's anonymous variant (no XroadVnpt- header, "
        "docId as a plain header) is refused with ANONYMOUS_REFUSED unless the legacy switch is on",
        (_DOC_ID, _FILE_PATH),
        "none",
        "binary",
    ),
    "updateStatus": _Op(
        "Transport acknowledgement of a received item (not the edXML business status)",
        (
            _DOC_ID,
            _Param("status", "done, fail or processing", True, ("done", "fail", "processing")),
            _Param("description", "optional text (ASCII)"),
        ),
        "empty_object",
        "Envelope",
        (400, 401, 404, 409, 500, 503),
    ),
    "getSentEdocList": _Op(
        "List the packages the calling system sent, one item per recipient",
        (_SERVICETYPE, _MESSAGETYPE, _Param("docId", "optional: only this sent package (its hub DocId)")),
        "empty",
        "SentListReply",
    ),
    "countReceiveEdoc": _Op(
        "Count pending documents", (_SERVICETYPE, _MESSAGETYPE), "empty_object", "CountReply"
    ),
    "countReceiveStatus": _Op(
        "Count pending status packages", (_SERVICETYPE, _MESSAGETYPE), "empty_object", "CountReply"
    ),
    "getAgenciesList": _Op("The agency directory", (), "empty", "AgencyListReply"),
    "getAgenciesListQD20": _Op(
        "The directory by QĐ 20/2020 level",
        (_Param("level", "1 to 4", True, ("1", "2", "3", "4")),),
        "empty",
        "AgencyQD20ListReply",
    ),
    "getSynchronizeUnit": _Op(
        "Directory changes (every entry with its version; deleted entries included)",
        (),
        "empty",
        "SyncUnitReply",
    ),
    "registerAgency": _Op(
        "Register (or update) an agency hosted by the calling system",
        (),
        "registration",
        "Envelope",
        (400, 401, 404, 409, 413, 500, 503),
    ),
    "deleteAgency": _Op(
        "Delete an agency hosted by the calling system",
        (_Param("AgencyCode", "the agency code to delete", True),),
        "empty_object",
        "Envelope",
    ),
}

_AUTH_HEADERS: dict[str, dict[str, Any]] = {
    "systemid": {
        "name": "XroadVnpt-systemid",
        "required": True,
        "description": "the calling system's id (signed)",
        "example": "sim.test.01",
    },
    "timestamp": {
        "name": "XroadVnpt-timestamp",
        "required": True,
        "description": "ddMMyyyy'T'HHmmss+SSSS, Vietnam local time, SSSS = milliseconds (signed); the SDK "
        "computes it once per client object, so stale values are accepted (replay window: findings only)",
        "example": "23112026T083850+0866",
    },
    "content-type": {
        "name": "XroadVnpt-Content-Type",
        "required": True,
        "description": "the request's Content-Type, signed (application/json; application/octet-stream for "
        "sendEdoc)",
    },
    "sign-header": {
        "name": "XroadVnpt-sign-header",
        "required": True,
        "description": 'compact JSON object {"XroadVnpt-k":"v",…} of every signed header, all values strings',
    },
    "sign-header-key": {
        "name": "XroadVnpt-sign-header-key",
        "required": False,
        "description": "the signed keys (without prefix) joined by ';' (not signed itself)",
    },
    "hash-header": {
        "name": "XroadVnpt-hash-header",
        "required": True,
        "description": "lowercase hex HMAC-SHA256 of the sign-header's UTF-8 bytes, key = the secret's UTF-8 "
        "bytes (not base64-decoded)",
    },
    "version": {
        "name": "XroadVnpt-version",
        "required": False,
        "description": "SDK version (not signed), e.g. 3.0.201608",
    },
}


def _auth_parameters() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, spec in _AUTH_HEADERS.items():
        param: dict[str, Any] = {
            "name": spec["name"],
            "in": "header",
            "required": spec["required"],
            "description": spec["description"],
            "schema": {"type": "string"},
        }
        if "example" in spec:
            param["example"] = spec["example"]
        out["auth-" + key] = param
    return out


def _vxp_param(p: _Param) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    if p.enum:
        schema["enum"] = list(p.enum)
    out: dict[str, Any] = {
        "name": f"XroadVnpt-{p.key}",
        "in": "header",
        "required": p.required,
        "description": p.description + " (signed: also in XroadVnpt-sign-header)",
        "schema": schema,
    }
    if p.example:
        out["example"] = p.example
    return out


def _vxp_body(kind: str) -> dict[str, Any] | None:
    if kind == "package":
        return {
            "required": True,
            "description": "the raw package bytes (edXML) followed by one CRLF; not multipart",
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
        }
    if kind == "registration":
        return {"required": True, "content": {"application/json": {"schema": _ref("AgencyRegistration")}}}
    if kind == "empty_object":
        return {
            "required": False,
            "description": "the two bytes {} (empty accepted)",
            "content": {"application/json": {"schema": {"type": "object", "maxProperties": 0}}},
        }
    if kind == "empty":
        return {
            "required": False,
            "description": "empty",
            "content": {"application/json": {"schema": {"type": "object", "maxProperties": 0}}},
        }
    return None


def _vxp_operation(name: str, op: _Op, method: str, primary: str) -> dict[str, Any]:
    parameters = [_ref("auth-" + k, "parameters") for k in _AUTH_HEADERS] + [_vxp_param(p) for p in op.params]
    if op.reply == "binary":
        ok: dict[str, Any] = {
            "description": "the package bytes exactly as the sender uploaded them",
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
        }
    else:
        ok = _json(_ref(op.reply), 'success: status OK, ErrorCode "0"')
    error = _ref("SendEdocError" if name == "sendEdoc" else "VxpError", "responses")
    responses: dict[str, Any] = {"200": ok, **{str(s): error for s in op.errors}}
    out: dict[str, Any] = {
        "operationId": name if method == primary else f"{name}_{method}",
        "tags": ["VXP protocol"],
        "summary": op.summary,
        "description": (
            f"{primary.upper()} /{name} as the official SDK sends it. Every parameter is an XroadVnpt-<k> "
            "header; the HTTP status is informative only (the SDK reads the envelope)."
            if method == primary
            else f"Also accepted: the same operation as {primary.upper()} /{name}."
        ),
        "parameters": parameters,
        "responses": responses,
        "security": [{"vxpHmac": []}, {}] if name == "downloadEdoc" else [{"vxpHmac": []}],
    }
    body = _vxp_body(op.body)
    if body is not None:
        out["requestBody"] = body
    if method != primary:
        out["x-alias-of"] = f"{primary.upper()} /{name}"
    return out


def _vxp_paths() -> dict[str, Any]:
    missing = set(OPERATIONS) - set(_VXP_OPS)
    if missing:
        raise RuntimeError(f"openapi: VXP operations without documentation: {', '.join(sorted(missing))}")
    paths: dict[str, Any] = {}
    for name, primary in OPERATIONS.items():
        op = _VXP_OPS[name]
        first = primary.lower()
        other = "post" if first == "get" else "get"
        paths[f"/{name}"] = {
            first: _vxp_operation(name, op, first, first),
            other: _vxp_operation(name, op, other, first),
        }
    return paths


def _error_code_schema() -> dict[str, Any]:
    rows = [
        f"| `{code.value}` | {code.http_status} | {req or '–'} | {meaning} |"
        for code, (req, meaning) in ERROR_MEANINGS.items()
    ]
    return {
        "type": "string",
        "enum": [c.value for c in ErrorCode],
        "description": "ErrorCode values, the HTTP status sent with each, and the requirement its ErrorDesc "
        "cites:\n\n| ErrorCode | HTTP | requirement | meaning |\n|---|---|---|---|\n" + "\n".join(rows),
        "x-error-codes": [
            {
                "code": c.value,
                "http_status": c.http_status,
                "requirement": ERROR_MEANINGS[c][0],
                "meaning": ERROR_MEANINGS[c][1],
            }
            for c in ErrorCode
        ],
    }


def _vxp_schemas() -> dict[str, Any]:
    s = _str
    states = [d.value for d in DeliveryState]
    return {
        "Envelope": _obj(
            {
                "status": s("OK or FAIL", enum=["OK", "FAIL"]),
                "ErrorCode": _ref("ErrorCode"),
                "ErrorDesc": s(
                    "empty on success; on failure: [REQUIREMENT-ID] what is wrong and what to fix"
                ),
            },
            ["status", "ErrorCode", "ErrorDesc"],
            description="Every reply; these keys are never null; optional fields are omitted, never null",
        ),
        "ErrorCode": _error_code_schema(),
        "DeliveryState": s(
            "state of a delivery: "
            + "; ".join(f"{d.value} — {d.description}" for d in DeliveryState)
            + ". initial and processing are pending (listed and counted until acknowledged)",
            enum=states,
        ),
        "SendEdocReply": _with_envelope(
            {"DocId": s("the hub's id of the accepted package (UUID); empty string on failure")},
            ["DocId"],
        ),
        "ReceivedItem": _obj(
            {
                "docId": s("the receiver's docId of this delivery"),
                "serviceType": s(),
                "messageType": s(enum=["edoc", "status"]),
                "created_time": s("ISO 8601, Vietnam time (+07:00): when the hub accepted the package"),
                "updated_time": s("ISO 8601, Vietnam time (+07:00)"),
                "from": s("sender OrganId"),
                "to": s("recipient OrganId"),
                "status": _ref("DeliveryState"),
                "status_desc": s(),
            },
            ["docId"],
        ),
        "ReceivedListReply": _with_envelope({"data": _arr(_ref("ReceivedItem"))}, ["data"]),
        "GetEdocReply": _with_envelope({"data": s("base64 of the package bytes", format="byte")}, ["data"]),
        "SentItem": _obj(
            {
                "serviceType": s(),
                "messageType": s(enum=["edoc", "status"]),
                "senderDocId": s("the DocId sendEdoc returned"),
                "receiverDocId": s("the receiver's docId"),
                "fromCode": s(),
                "toCode": s(),
                "title": s(),
                "notation": s(),
                "sentTime": s("ISO 8601, Vietnam time"),
                "receivedTime": s(
                    "ISO 8601, Vietnam time, when the receiver acknowledged; empty while pending"
                ),
                "sendStatus": s(),
                "sendStatusDesc": s(),
                "receiveStatus": _ref("DeliveryState"),
                "receiveStatusDesc": s(),
            },
            ["senderDocId"],
        ),
        "SentListReply": _with_envelope({"data": _arr(_ref("SentItem"))}, ["data"]),
        "CountReply": _with_envelope({"count": _int("pending items", minimum=0)}, ["count"]),
        "AgencyItem": _obj(
            {
                "id": _int(),
                "pid": _int("parent's id; 0: none"),
                "code": s(),
                "name": s(),
                "mail": s(),
                "oldCode": s(),
            },
            ["id", "code"],
        ),
        "AgencyListReply": _with_envelope({"data": _arr(_ref("AgencyItem"))}, ["data"]),
        "AgencyQD20Item": _obj(
            {"id": _int(), "code": s(), "name": s(), "mail": s(), "code102": s()}, ["id", "code"]
        ),
        "AgencyQD20ListReply": _with_envelope({"data": _arr(_ref("AgencyQD20Item"))}, ["data"]),
        "SyncUnitItem": _obj(
            {
                "id": _int(),
                "pid": _int(),
                "code": s(),
                "name": s(),
                "mail": s(),
                "centerCode": s(),
                "version": _int("increases with every change of any entry"),
                "deleted": {"type": "boolean"},
                "modifyDate": s("ISO 8601, Vietnam time"),
                "isAgency": {"type": "boolean"},
            },
            ["id", "code"],
        ),
        "SyncUnitReply": _with_envelope({"data": _arr(_ref("SyncUnitItem"))}, ["data"]),
        "AgencyRegistration": _obj(
            {
                "id": {"type": ["integer", "string"]},
                "pcode": s("parent agency code"),
                "code": s(),
                "name": s(),
                "mail": s(),
                "mobile": s(),
                "fax": s(),
            },
            ["code", "name"],
        ),
        "TimeReply": _obj(
            {
                "time": s("ISO 8601, Vietnam time, milliseconds, +07:00"),
                "epoch_ms": _int("the same instant as POSIX milliseconds"),
                "timezone": s(enum=["Asia/Ho_Chi_Minh"]),
                "offset_s": {"type": "number", "description": "hub minus host clock right now"},
                "drift_ppm": {"type": "number"},
            },
            ["time", "epoch_ms", "timezone", "offset_s", "drift_ppm"],
        ),
    }


# ========================================================================================= control


def _control_schemas() -> dict[str, Any]:
    s = _str
    num = {"type": "number"}
    policies = {
        "validation": s(enum=list(get_args(ValidationPolicy))),
        "signature": s(enum=list(get_args(SignaturePolicyName))),
        "duplicates": s(enum=list(get_args(DuplicatePolicy))),
        "status_order": s(enum=list(get_args(StatusOrderPolicy))),
        "legacy_anonymous_download": {"type": "boolean"},
        "replay_window_s": {"type": ["integer", "null"], "minimum": 1},
    }
    latency = _obj(
        {
            "count": _int(minimum=0),
            "p50": {"type": ["number", "null"]},
            "p95": {"type": ["number", "null"]},
            "p99": {"type": ["number", "null"]},
            "max": {"type": ["number", "null"]},
        },
        ["count", "p50", "p95", "p99", "max"],
        description="seconds; nearest-rank percentiles; null without samples",
    )
    counts = {"type": "object", "additionalProperties": {"type": "integer"}}
    state_counts = _obj({d.value: _int() for d in DeliveryState})
    fault_props: dict[str, Any] = {
        "operation": s('a VXP operation or "*"', enum=["*", *OPERATIONS], default="*"),
        "system": {
            "type": ["string", "null"],
            "default": None,
            "description": "only calls from this system (XroadVnpt-systemid); null: every caller. A scoped "
            "rule is neither triggered nor used up by other systems' calls",
        },
        "latency_ms": {"type": "number", "minimum": 0, "maximum": 600000, "default": 0},
        "error_rate": {
            "type": "number",
            "minimum": 0,
            "maximum": 1,
            "default": 0,
            "description": "probability of a 503 with the VXP envelope (ErrorCode UNAVAILABLE)",
        },
        "timeout": {
            "type": "number",
            "minimum": 0,
            "maximum": 3600,
            "default": 0,
            "description": "hold the request this many seconds, then close the connection without a reply",
        },
        "drop_response_after_commit": {
            "type": "boolean",
            "default": False,
            "description": "handle (and commit) the request, then close the connection without a reply",
        },
        "duplicate_delivery": {
            "type": ["boolean", "integer"],
            "default": False,
            "description": "deliver a second copy of accepted packages (sendEdoc); an integer N: the next N",
        },
        "count": {
            "type": ["integer", "null"],
            "minimum": 1,
            "description": "matching requests it applies to",
        },
        "until": {"type": ["string", "null"], "description": "ISO 8601 hub time after which it stops"},
        "seed": {"type": ["integer", "null"], "description": "reproducible error_rate draws"},
    }
    return {
        "ControlError": _obj(
            {"error": s("kind of error"), "detail": s("what is wrong and what to do")}, ["error", "detail"]
        ),
        "ResetRequest": _obj(
            {
                "directory": s(enum=["keep", "reseed"], default="keep"),
                "faults": s(enum=["clear", "keep"], default="clear"),
                "policies": s(enum=["keep", "clear"], default="keep"),
                "clock": s(enum=["keep", "clear"], default="keep"),
            },
            additionalProperties=False,
        ),
        "ResetReply": _obj(
            {
                "deleted": counts,
                "directory": s(),
                "faults": s(),
                "policies": s(),
                "clock": s(),
            },
            ["deleted", "directory", "faults", "policies", "clock"],
        ),
        "SeedRequest": _obj(
            {
                "systems": _arr(
                    _obj(
                        {
                            "id": s("ASCII, no spaces"),
                            "secret": s("generated when absent"),
                            "agencies": _arr(s(), "agency codes the system hosts"),
                            "name": s(),
                        },
                        ["id", "agencies"],
                    )
                ),
                "agencies": _arr(
                    _obj(
                        {
                            "code": s(),
                            "name": s(),
                            "mail": s(),
                            "parent": s(),
                            "mobile": s(),
                            "fax": s(),
                            "old_code": s(),
                            "center_code": s(),
                            "is_agency": {"type": "boolean"},
                        },
                        ["code", "name"],
                    )
                ),
            },
            additionalProperties=False,
        ),
        "SeedReply": _obj(
            {
                "systems": _arr(_ref("SeededSystem")),
                "agencies": _arr(s()),
                "warnings": _arr(s()),
            },
            ["systems", "agencies", "warnings"],
        ),
        "SeededSystem": _obj(
            {"id": s(), "secret": s(), "agencies": _arr(s()), "name": s()},
            ["id", "secret", "agencies"],
        ),
        "SystemInfo": _obj(
            {
                "id": s(),
                "name": s(),
                "secret": s(),
                "agencies": _arr(s()),
                "source": s(enum=["config", "seeded"]),
            },
            ["id", "secret", "agencies", "source"],
        ),
        "AgencyRecord": _obj(
            {
                "code": s(),
                "name": s(),
                "mail": s(),
                "parent_code": {"type": ["string", "null"]},
                "mobile": s(),
                "fax": s(),
                "old_code": s(),
                "center_code": s(),
                "is_agency": {"type": "boolean"},
                "system_id": {
                    "type": ["string", "null"],
                    "description": "hosting system; null: not connected",
                },
                "level": _int("QĐ 20/2020 level (0: non-conforming code)"),
                "id": _int(),
                "version": _int(),
                "deleted": {"type": "boolean"},
                "modified_at": s(),
            },
            ["code", "name", "system_id", "id", "version", "deleted"],
        ),
        "FaultRule": _obj(fault_props, additionalProperties=False),
        "FaultRuleState": {
            "allOf": [
                _ref("FaultRule"),
                _obj(
                    {"id": s("<generation>.<index>"), "used": {"type": ["integer", "null"]}},
                    ["id", "used"],
                ),
            ]
        },
        "FaultRules": {
            "oneOf": [
                _arr(_ref("FaultRule")),
                _obj({"rules": _arr(_ref("FaultRule"))}, ["rules"]),
            ],
            "description": f"at most {MAX_RULES} rules",
        },
        "FaultsReply": _obj(
            {"generation": _int(), "rules": _arr(_ref("FaultRuleState"))}, ["generation", "rules"]
        ),
        "ClockRequest": _obj(
            {
                "offset_s": {
                    **num,
                    "description": "seconds the hub runs ahead of the host (negative: behind)",
                },
                "drift_ppm": {
                    **num,
                    "description": "parts per million the hub clock runs fast (negative: slow)",
                },
            },
            additionalProperties=False,
        ),
        "ClockReply": {
            "allOf": [
                _ref("TimeReply"),
                _obj(
                    {
                        "configured_offset_s": num,
                        "epoch": {**num, "description": "host time drift counts from"},
                    },
                    ["configured_offset_s", "epoch"],
                ),
            ]
        },
        "Policies": _obj(policies, list(policies), additionalProperties=False),
        "PolicyChanges": _obj(policies, additionalProperties=False),
        "Finding": _obj(
            {
                "severity": s(enum=["error", "warning", "info"]),
                "path": s(),
                "requirement": s("a requirement ID (simulator/requirements.toml)"),
                "message": s(),
            },
            ["severity", "path", "requirement", "message"],
        ),
        "EvidenceRow": _obj(
            {
                "id": _int("increasing; use as since= to read on"),
                "at": s("hub time, ISO 8601, Vietnam time"),
                "system": {"type": ["string", "null"]},
                "operation": s("a VXP operation, control.<name>, or fault.<kind>"),
                "http_status": _int("0: no reply was sent (injected timeout or dropped reply)"),
                "error_code": s('"0" on success'),
                "sha256": {"type": ["string", "null"]},
                "doc_ids": _arr(s()),
                "findings": _arr(_ref("Finding")),
                "detail": {
                    "type": "object",
                    "description": "free details; detail.fault describes an injected fault",
                },
            },
            ["id", "at", "operation", "http_status", "error_code", "doc_ids", "findings", "detail"],
        ),
        "LatencySummary": latency,
        "PeriodStats": _obj(
            {
                "start": {"type": ["string", "null"]},
                "end": {"type": ["string", "null"]},
                "documents_sent": _int(),
                "documents_received": _int(),
                "statuses_sent": counts,
                "statuses_received": counts,
                "deliveries": _obj({"edoc": state_counts, "status": state_counts}),
                "duplicates_sent": _int(),
                "duplicates_received": _int(),
                "violations": _obj({"status_order": _int(), "package_errors": _int()}),
                "latency_s": _obj({c: _ref("LatencySummary") for c in LATENCY_CODES}),
            },
            [
                "start",
                "end",
                "documents_sent",
                "documents_received",
                "statuses_sent",
                "statuses_received",
                "deliveries",
                "duplicates_sent",
                "duplicates_received",
                "violations",
                "latency_s",
            ],
        ),
        "AgencyStats": _obj(
            {"agency": s(), "total": _ref("PeriodStats"), "periods": _arr(_ref("PeriodStats"))},
            ["agency", "total", "periods"],
        ),
        "StatsReport": _obj(
            {
                "requirement": s(enum=["QD28-11"]),
                "start": {"type": ["string", "null"]},
                "end": {"type": ["string", "null"]},
                "bucket": {"type": ["string", "null"], "enum": [*BUCKETS, None]},
                "agencies": _arr(_ref("AgencyStats")),
            },
            ["requirement", "start", "end", "bucket", "agencies"],
        ),
        "DeliveryRow": _obj(
            {
                "doc_id": s(),
                "package_doc_id": s(),
                "kind": s(enum=["document", "status"]),
                "message_type": s(enum=["edoc", "status"]),
                "from_organ": s(),
                "sender_system": s(),
                "recipient": s(),
                "recipient_system": s(),
                "document_id": {"type": ["string", "null"]},
                "status_code": {"type": ["string", "null"]},
                "duplicate_of": {"type": ["string", "null"]},
                "state": _ref("DeliveryState"),
                "state_desc": s(),
                "created_at": s(),
                "updated_at": s(),
                "fetched_at": s(),
                "acked_at": s(),
            },
            ["doc_id", "package_doc_id", "recipient", "state"],
        ),
    }


def _query(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema or {"type": "string"},
    }


def _control_op(
    op_id: str,
    summary: str,
    reply: dict[str, Any],
    *,
    body: str | None = None,
    body_required: bool = True,
    parameters: Iterable[dict[str, Any]] = (),
    errors: Sequence[int] = (400,),
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "operationId": op_id,
        "tags": ["control"],
        "summary": summary,
        "security": [{"adminToken": []}],
        "responses": {
            "200": reply,
            "401": _ref("ControlUnauthorized", "responses"),
            **{str(code): _ref("ControlFailure", "responses") for code in (*errors, 503)},
        },
    }
    params = list(parameters)
    if params:
        out["parameters"] = params
    if body is not None:
        out["requestBody"] = {
            "required": body_required,
            "content": {"application/json": {"schema": _ref(body)}},
        }
    return out


def _control_paths() -> dict[str, Any]:
    p = "/control"
    stats_params = [
        _query("agency", "only this agency code"),
        _query("from", "ISO 8601 start (inclusive; naive = Vietnam time)"),
        _query("to", "ISO 8601 end (exclusive)"),
        _query("bucket", "per-period breakdown", {"type": "string", "enum": list(BUCKETS)}),
    ]
    delivery_params = [
        _query("recipient", "recipient agency code"),
        _query("sender", "sender agency code"),
        _query("document_id", "edXML DocumentId"),
        _query("package", "the package's hub DocId"),
        _query("state", "delivery state", {"type": "string", "enum": [d.value for d in DeliveryState]}),
        _query(
            "limit",
            "at most this many rows (default 1000)",
            {"type": "integer", "minimum": 1, "maximum": 100000},
        ),
    ]
    faults = _json(_ref("FaultsReply"), "the rules and their use counts")
    clock = _json(_ref("ClockReply"), "hub time and clock settings")
    policies = _json(_ref("Policies"), "the effective policies")
    return {
        f"{p}/reset": {
            "post": _control_op(
                "controlReset",
                "Wipe traffic (packages, deliveries, statuses, evidence); options for directory, faults, "
                "policies, clock",
                _json(_ref("ResetReply"), "what was deleted and the options applied"),
                body="ResetRequest",
                body_required=False,
            )
        },
        f"{p}/seed": {
            "post": _control_op(
                "controlSeed",
                "Add systems and agencies (shaped like the TOML config)",
                _json(_ref("SeedReply"), "the seeded systems with their secrets"),
                body="SeedRequest",
                errors=(400, 409),
            )
        },
        f"{p}/systems": {
            "get": _control_op(
                "controlSystems",
                "Configured and seeded systems, with secrets",
                _json(_arr(_ref("SystemInfo")), "systems"),
                errors=(),
            )
        },
        f"{p}/agencies": {
            "get": _control_op(
                "controlAgencies",
                "The directory as stored",
                _json(_arr(_ref("AgencyRecord")), "directory entries"),
                parameters=[_query("include_deleted", "true: also deleted entries", {"type": "boolean"})],
            )
        },
        f"{p}/faults": {
            "get": _control_op("controlGetFaults", "Current fault rules", faults, errors=()),
            "put": _control_op("controlSetFaults", "Replace the fault rules", faults, body="FaultRules"),
            "delete": _control_op("controlClearFaults", "Remove every fault rule", faults, errors=()),
        },
        f"{p}/clock": {
            "get": _control_op("controlGetClock", "Hub clock", clock, errors=()),
            "put": _control_op(
                "controlSetClock", "Set offset and/or drift (QD28-14.4)", clock, body="ClockRequest"
            ),
            "delete": _control_op("controlResetClock", "Back to the host clock", clock, errors=()),
        },
        f"{p}/policies": {
            "get": _control_op("controlGetPolicies", "Effective policies", policies, errors=()),
            "put": _control_op("controlSetPolicies", "Change some policies", policies, body="PolicyChanges"),
            "delete": _control_op(
                "controlResetPolicies", "Back to the config's policies", policies, errors=()
            ),
        },
        f"{p}/evidence": {
            "get": _control_op(
                "controlEvidence",
                "The evidence log as JSON lines, oldest first, streamed",
                {
                    "description": "one EvidenceRow JSON object per line",
                    "content": {"application/x-ndjson": {"schema": _ref("EvidenceRow")}},
                },
                parameters=[
                    _query("since", "only rows with id above this", {"type": "integer", "minimum": 0}),
                    _query("limit", "at most this many rows", {"type": "integer", "minimum": 1}),
                ],
            )
        },
        f"{p}/stats": {
            "get": _control_op(
                "controlStats",
                "Exchange statistics per agency and period (QD28-11)",
                _json(_ref("StatsReport"), "statistics"),
                parameters=stats_params,
            )
        },
        f"{p}/deliveries": {
            "get": _control_op(
                "controlDeliveries",
                "Delivery rows with their states",
                _json(_arr(_ref("DeliveryRow")), "deliveries, oldest first"),
                parameters=delivery_params,
            )
        },
        f"{p}/packages/{{sha256}}": {
            "get": _control_op(
                "controlPackage",
                "A stored package's bytes by SHA-256",
                {
                    "description": "the package bytes",
                    "content": {
                        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
                    },
                },
                parameters=[
                    {
                        "name": "sha256",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                    }
                ],
                errors=(400, 404),
            )
        },
    }


# ========================================================================================= document


def build_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document (deterministic: same input, same output)."""
    paths: dict[str, Any] = {
        **_vxp_paths(),
        "/time": {
            method: {
                "operationId": "hubTime" if method == "get" else "hubTime_post",
                "tags": ["hub"],
                "summary": "Hub time (QD28-14.4); also the readiness probe; no credentials",
                "security": [],
                "responses": {"200": _json(_ref("TimeReply"), "hub time")},
            }
            for method in ("get", "post")
        },
        "/openapi.json": {
            "get": {
                "operationId": "openapiDocument",
                "tags": ["hub"],
                "summary": "This document; no credentials",
                "security": [],
                "responses": {"200": _json({"type": "object"}, "the OpenAPI document")},
            }
        },
        **_control_paths(),
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "lienthong simulated hub",
            "version": __version__.split("+")[0],
            "description": "The national document-exchange hub's protocol (VXP) as the official client SDK "
            "2.0.1 speaks it (spec/vxp-protocol.md), plus the harness's additions: /time, the control API "
            "(/control/..., admin bearer token) and this document. VXP operations use HMAC-signed "
            "XroadVnpt-* headers; every reply is the JSON envelope {status, ErrorCode, ErrorDesc, …}.",
        },
        "servers": [{"url": "http://127.0.0.1:8080", "description": "default `lienthong hub` address"}],
        "tags": [
            {"name": "VXP protocol", "description": "the hub protocol (spec/vxp-protocol.md §3)"},
            {"name": "hub", "description": "time and this document"},
            {"name": "control", "description": "the harness's control API (admin token)"},
        ],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "vxpHmac": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "XroadVnpt-hash-header",
                    "description": "HMAC-SHA256 over XroadVnpt-sign-header with the system's secret, "
                    "together with XroadVnpt-systemid and XroadVnpt-sign-header (see the auth-* parameters)",
                },
                "adminToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "the hub's admin token (printed by `lienthong hub`; admin_token in the "
                    "config)",
                },
            },
            "parameters": _auth_parameters(),
            "responses": {
                "VxpError": _json(_ref("Envelope"), "FAIL envelope; ErrorCode says why"),
                "SendEdocError": _json(
                    _ref("SendEdocReply"), 'FAIL envelope with DocId "" and an ASCII-only ErrorDesc'
                ),
                "ControlUnauthorized": _json(
                    _ref("ControlError"), "missing or wrong admin token (WWW-Authenticate: Bearer)"
                ),
                "ControlFailure": _json(_ref("ControlError"), "the request was refused; detail says why"),
            },
            "schemas": {**_vxp_schemas(), **_control_schemas()},
        },
    }


def _render(doc: dict[str, Any]) -> bytes:
    return (json.dumps(doc, ensure_ascii=False, indent=1) + "\n").encode("utf-8")


@functools.cache
def document_bytes() -> bytes:
    """The document as kept in the repository (read once)."""
    return DOCUMENT_PATH.read_bytes()


def openapi_route(path: str = "/openapi.json") -> Route:
    async def openapi(request: Request) -> Response:
        return Response(document_bytes(), media_type="application/json")

    return Route(path, openapi, methods=["GET"], name="openapi")


def served_operations(app: Starlette) -> set[tuple[str, str]]:
    """(path, lowercase method) of every route the app serves and documents (HEAD and hidden routes out)."""
    out: set[tuple[str, str]] = set()

    def walk(routes: Sequence[BaseRoute], prefix: str) -> None:
        for route in routes:
            if isinstance(route, Mount):
                walk(route.routes, prefix + route.path)
            elif isinstance(route, Route) and route.include_in_schema:
                for method in route.methods or ():
                    if method != "HEAD":
                        out.add((prefix + route.path, method.lower()))

    walk(app.routes, "")
    return out


def documented_operations(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (path, method)
        for path, item in doc.get("paths", {}).items()
        for method in item
        if method in _HTTP_METHODS
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Write ``openapi.json`` from :func:`build_document` (``--check``: exit 1 when the file is stale)."""
    parser = argparse.ArgumentParser(prog="python -m simulator.hub.openapi", description=main.__doc__)
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 when stale")
    args = parser.parse_args(argv)
    data = _render(build_document())
    if args.check:
        current = DOCUMENT_PATH.read_bytes() if DOCUMENT_PATH.exists() else b""
        if current != data:
            print(f"{DOCUMENT_PATH} is stale: run python -m simulator.hub.openapi", file=sys.stderr)
            return 1
        return 0
    DOCUMENT_PATH.write_bytes(data)
    print(f"wrote {DOCUMENT_PATH} ({len(data):,} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
