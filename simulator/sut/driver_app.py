"""The test-driver HTTP API (``/driver/v1/...``) served for any in-process :class:`SutDriver`.

The reference QLVB serves it (``lienthong reference-qlvb --driver-port 8090``); vendors implement the
same API on their side (``simulator/sut/driver-openapi.json``). JSON bodies in snake_case; the wire
shapes are the ones of :mod:`simulator.sut.http_driver` (the harness's client of this API), so both
sides agree by construction.

====================================================  ==============================================
``GET  /driver/v1/info``                              product, version, agencies, capabilities
``POST /driver/v1/documents``                         send → ``{document_id, hub_doc_ids}``
``POST /driver/v1/documents/{id}/recall?agency=``     ``{form: package|status, reason}``
``POST /driver/v1/documents/{id}/update?agency=``     ``{reason, subject?, add_receivers, remove_receivers}``
``POST /driver/v1/documents/{id}/replace?agency=``    ``{reason, new: <send body>}`` → ``{document_id, …}``
``POST /driver/v1/received/{id}/status?agency=``      ``{status: 03..06, description?}``
``POST /driver/v1/received/{id}/refuse?agency=``      ``{reason}``
``POST /driver/v1/received/{id}/recall-answer?agency=`` ``{agree, reason?}``
``GET  /driver/v1/documents/{id}?agency=``            the SUT's state for the DocumentId, or 404
``POST /driver/v1/clock/sync``                        ``{offset_s}``
``POST /driver/v1/hub/probe``                         ``{url}`` → ``{connected, detail}``
``POST /driver/v1/intake``                            ``{paused}``
====================================================  ==============================================

DocumentIds hold ``/`` and ``,``: clients percent-encode them in the path (``%2F``, ``%2C``); the
server decodes the path before routing, so ``{document_id:path}`` takes everything up to the operation
suffix. Errors: ``{"error": <kind>, "detail": <sentence>}`` with 400 (bad body or parameter), 404
(unknown DocumentId or route), 409 (conflicts with the document's state, e.g. an illegal status
order), 501 ``{"error": "not-supported", "capability": ...}``, 503 (the hub did not answer), 500 for a
bug (logged). The driver's methods run in Starlette's thread pool, so a slow hub never blocks the event
loop.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any, Literal, cast

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from simulator.edxml.model import StatusCode
from simulator.sut.driver import DriverError, NotSupported, SutDriver
from simulator.sut.http_driver import (
    WireError,
    info_to_json,
    outgoing_from_json,
    sent_ref_to_json,
    state_to_json,
)
from simulator.sut.reference import BadRequest, Conflict, DocumentNotFound, HubUnavailable

__all__ = ["PREFIX", "create_driver_app"]

_log = logging.getLogger(__name__)

PREFIX = "/driver/v1"
_MAX_BODY = 64 * 1024 * 1024

Handler = Callable[[Request, dict[str, Any]], dict[str, Any]]


class _BadInput(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)


def _error(status: int, error: str, detail: str, **extra: str) -> JSONResponse:
    return JSONResponse({"error": error, "detail": detail, **extra}, status_code=status)


def _body(request: Request, raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _BadInput("", f"the request body is not UTF-8 JSON ({exc})") from None
    if not isinstance(value, dict):
        raise _BadInput("", "the request body must be a JSON object")
    return value


def _agency(request: Request) -> str:
    agency = request.query_params.get("agency", "").strip()
    if not agency:
        raise _BadInput("agency", "the query parameter ?agency=<agency code> is required")
    return agency


def _doc_id(request: Request) -> str:
    document_id = str(request.path_params.get("document_id", ""))
    if not document_id.strip():
        raise _BadInput("document_id", "the DocumentId in the path is empty")
    return document_id


def _str(body: dict[str, Any], key: str, *, required: bool = True) -> str:
    value = body.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise _BadInput(key, f"must be a string, got {value!r}")
    return value


def _str_list(body: dict[str, Any], key: str) -> list[str]:
    value = body.get(key, [])
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _BadInput(key, f"must be a list of agency codes (strings), got {value!r}")
    return list(value)


def _bool(body: dict[str, Any], key: str) -> bool:
    value = body.get(key)
    if not isinstance(value, bool):
        raise _BadInput(key, f"must be true or false, got {value!r}")
    return value


def create_driver_app(driver: SutDriver) -> Starlette:
    """The driver API for ``driver`` (usually a :class:`~simulator.sut.reference.ReferenceQlvb`)."""

    def info(request: Request, body: dict[str, Any]) -> dict[str, Any]:
        return info_to_json(driver.info())

    def send(request: Request, body: dict[str, Any]) -> dict[str, Any]:
        return sent_ref_to_json(driver.send_document(outgoing_from_json(body)))

    def recall(request: Request, body: dict[str, Any]) -> dict[str, Any]:
        form = _str(body, "form")
        if form not in ("package", "status"):
            raise _BadInput("form", f'must be "package" or "status", got {form!r}')
        driver.recall(
            _doc_id(request),
            agency=_agency(request),
            form=cast(Literal["package", "status"], form),
            reason=_str(body, "reason"),
        )
        return {}

    def update(request: Request, body: dict[str, Any]) -> dict[str, Any]:
        subject = body.get("subject")
        if subject is not None and not isinstance(subject, str):
            raise _BadInput("subject", f"must be a string, got {subject!r}")
        driver.update(
            _doc_id(request),
            agency=_agency(request),
            reason=_str(body, "reason"),
            subject=subject,
            add_receivers=_str_list(body, "add_receivers"),
            remove_receivers=_str_list(body, "remove_receivers"),
        )
        return {}

    def replace(request: Request, body: dict[str, Any]) -> dict[str, Any]:
        new = body.get("new")
        if not isinstance(new, dict):
            raise _BadInput("new", "must be a JSON object shaped like the send body")
        try:
            document = outgoing_from_json(new, "new")
        except WireError as exc:
            raise _BadInput(exc.field, exc.message) from None
        ref = driver.replace(
            _doc_id(request), agency=_agency(request), reason=_str(body, "reason"), new=document
        )
        return sent_ref_to_json(ref)

    def advance(request: Request, body: dict[str, Any]) -> dict[str, Any]:
        raw = _str(body, "status")
        try:
            status = StatusCode(raw)
        except ValueError:
            raise _BadInput("status", f"{raw!r} is not a status code (03, 04, 05 or 06)") from None
        description = body.get("description")
        if description is not None and not isinstance(description, str):
            raise _BadInput("description", f"must be a string, got {description!r}")
        driver.advance(_doc_id(request), agency=_agency(request), status=status, description=description)
        return {}

    def refuse(request: Request, body: dict[str, Any]) -> dict[str, Any]:
        driver.refuse(_doc_id(request), agency=_agency(request), reason=_str(body, "reason"))
        return {}

    def answer_recall(request: Request, body: dict[str, Any]) -> dict[str, Any]:
        reason = body.get("reason")
        if reason is not None and not isinstance(reason, str):
            raise _BadInput("reason", f"must be a string, got {reason!r}")
        driver.answer_recall(
            _doc_id(request), agency=_agency(request), agree=_bool(body, "agree"), reason=reason
        )
        return {}

    def query(request: Request, body: dict[str, Any]) -> dict[str, Any]:
        document_id, agency = _doc_id(request), _agency(request)
        state = driver.query(document_id, agency=agency)
        if state is None:
            raise DocumentNotFound(f"{agency} holds no document {document_id!r}")
        return state_to_json(state)

    def sync_clock(request: Request, body: dict[str, Any]) -> dict[str, Any]:
        driver.sync_clock()
        offset = getattr(driver, "clock_offset_s", None)
        return {"offset_s": offset if isinstance(offset, int | float) else None}

    def probe(request: Request, body: dict[str, Any]) -> dict[str, Any]:
        result = driver.probe_hub(_str(body, "url"))
        return {"connected": result.connected, "detail": result.detail}

    def intake(request: Request, body: dict[str, Any]) -> dict[str, Any]:
        driver.pause_intake(_bool(body, "paused"))
        return {}

    routes = [
        _route("/info", info, "GET", "info"),
        _route("/documents", send, "POST", "send"),
        _route("/documents/{document_id:path}/recall", recall, "POST", "recall"),
        _route("/documents/{document_id:path}/update", update, "POST", "update"),
        _route("/documents/{document_id:path}/replace", replace, "POST", "replace"),
        _route("/received/{document_id:path}/status", advance, "POST", "advance"),
        _route("/received/{document_id:path}/refuse", refuse, "POST", "refuse"),
        _route("/received/{document_id:path}/recall-answer", answer_recall, "POST", "answer_recall"),
        _route("/documents/{document_id:path}", query, "GET", "query"),
        _route("/clock/sync", sync_clock, "POST", "sync_clock"),
        _route("/hub/probe", probe, "POST", "probe_hub"),
        _route("/intake", intake, "POST", "pause_intake"),
    ]

    async def not_found(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 404)
        if status == 405:
            return _error(
                405, "method-not-allowed", f"{request.method} is not accepted for {request.url.path}"
            )
        return _error(
            404,
            "no-such-route",
            f"no driver operation at {request.url.path}; the API lives under {PREFIX}/ "
            "(see simulator/sut/driver-openapi.json)",
        )

    app = Starlette(routes=routes, exception_handlers={404: not_found, 405: not_found})
    app.state.driver = driver
    return app


def _route(path: str, handler: Handler, method: str, name: str) -> Route:
    async def endpoint(request: Request) -> Response:
        try:
            raw = await _read_body(request) if method == "POST" else b""
            body = _body(request, raw)
            # The driver blocks on the hub: run it in the thread pool, never on the event loop.
            return JSONResponse(await run_in_threadpool(handler, request, body))
        except _BadInput as exc:
            return _error(400, "bad-request", str(exc))
        except WireError as exc:
            return _error(400, "bad-request", str(exc))
        except NotSupported as exc:
            return _error(501, "not-supported", str(exc), capability=exc.capability.value)
        except DocumentNotFound as exc:
            return _error(404, "not-found", str(exc))
        except Conflict as exc:
            return _error(409, "conflict", str(exc))
        except BadRequest as exc:
            return _error(400, "bad-request", str(exc))
        except HubUnavailable as exc:
            return _error(503, "hub-unavailable", str(exc))
        except DriverError as exc:
            return _error(502, "driver-error", str(exc))
        except Exception as exc:
            _log.exception("driver operation %s failed", name)
            return _error(500, "internal", f"{name} failed inside the driver ({type(exc).__name__}: {exc})")

    return Route(PREFIX + path, endpoint, methods=[method], name=name)


async def _read_body(request: Request) -> bytes:
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > _MAX_BODY:
        raise _BadInput("", f"the request body is {int(length):,} bytes, above the limit of {_MAX_BODY:,}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > _MAX_BODY:
            raise _BadInput("", f"the request body exceeds the limit of {_MAX_BODY:,} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
