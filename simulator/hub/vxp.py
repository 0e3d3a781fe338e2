"""The VXP protocol's operations as Starlette routes (spec/vxp-protocol.md §3), same paths and fields.

Every operation: authenticate (:mod:`simulator.hub.auth`), run, reply with the envelope
(:mod:`simulator.hub.envelope`), append one evidence row. Parameters come from the signed headers
only; keys an operation does not use are ignored. Each route accepts GET and POST (the SDK uses POST,
and GET for downloadEdoc). Replies show hub times in Vietnam time as ISO 8601 with ``+07:00``.

Isolation: a system sees only deliveries addressed to the agencies it hosts and packages it sent; any
other docId is answered ``NOT_FOUND`` (404) — never 403, which would confirm that the id exists.

Handlers are ``async`` and call the store synchronously on the event loop: SQLite calls take tens of
microseconds and a thread-pool hop per request costs more than it saves; parallelism comes from
running several uvicorn worker processes on one database.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from simulator.edxml.diagnostics import Diagnostic, Severity
from simulator.hub.auth import Authenticator, AuthResult, Params
from simulator.hub.config import ConfigError, HubConfig, Policies
from simulator.hub.directory import agency_items, qd20_item, registration, reply_time, sync_items
from simulator.hub.envelope import ErrorCode, HubError, envelope, fail_response, json_response
from simulator.hub.evidence import record
from simulator.hub.intake import Intake, strip_crlf
from simulator.hub.store import DeliveryState, DeliveryView, Store, StoreUnavailable

__all__ = ["OPERATIONS", "POLICIES_SETTING", "SYSTEMS_SETTING", "CallContext", "VxpService", "vxp_routes"]

_log = logging.getLogger(__name__)

POLICIES_SETTING = "policies"
"""Store setting holding runtime overrides of :class:`Policies` (a JSON object of changed fields)."""
SYSTEMS_SETTING = "systems"
"""Store setting holding systems added at run time (``POST /control/seed``):
``{system id: {"secret": …, "agencies": [codes], "name": …}}``; configured systems take precedence."""

_JSON_BODY_LIMIT = 1024 * 1024


@dataclass(slots=True)
class CallContext:
    operation: str
    system_id: str
    params: Params
    policies: Policies
    body: bytes
    now: dt.datetime
    findings: list[Diagnostic] = field(default_factory=list)
    doc_ids: list[str] = field(default_factory=list)
    sha256: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    evidence_written: bool = False


Handler = Callable[["VxpService", CallContext], Response]
OPERATIONS: dict[str, str] = {}
_HANDLERS: dict[str, Handler] = {}


def _operation(name: str, method: str = "POST") -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        OPERATIONS[name] = method
        _HANDLERS[name] = fn
        return fn

    return register


def _message_type(params: Params, default: Literal["edoc", "status"] = "edoc") -> Literal["edoc", "status"]:
    value = params.get_str("messagetype")
    if value is None:
        return default
    low = value.lower()
    if low in ("edoc", "status"):
        return "edoc" if low == "edoc" else "status"
    raise HubError(ErrorCode.BAD_PARAMETER, "VXP-PARAM", f"messagetype={value!r} is not one of edoc, status")


def _doc_id(params: Params, operation: str) -> str:
    value = params.get_str("docid")
    if value is None:
        raise HubError(
            ErrorCode.BAD_PARAMETER,
            "VXP-PARAM",
            f"{operation}: the docId parameter is missing; send XroadVnpt-docId (signed)",
        )
    return value


def _not_found(doc_id: str, system_id: str) -> HubError:
    return HubError(
        ErrorCode.NOT_FOUND,
        "VXP-ROUTE",
        f"no package with docId {doc_id} for system {system_id}: it does not exist or is addressed to "
        "another system's agencies; use the docId from getReceivedEdocList (or the DocId sendEdoc returned)",
    )


class VxpService:
    """One worker's protocol service: config, store, clock, authenticator and intake, built once."""

    def __init__(
        self,
        config: HubConfig,
        store: Store,
        clock: Callable[[], dt.datetime],
        *,
        intake: Intake | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self.authenticator = Authenticator(config.secrets(), clock=clock)
        self._systems_seen: tuple[Any, Any] = (None, None)  # (setting object, its value) behind authenticator
        self.intake = intake or Intake(
            store=store,
            clock=clock,
            hub_organ_id=config.hub_organ_id,
            max_package_bytes=config.max_package_bytes,
            data_dir=config.data_dir,
        )
        self._policy_cache: tuple[Any, Policies] = (None, config.policies)

    # --- policies ---------------------------------------------------------------------------------
    def policies(self) -> Policies:
        """Config defaults overridden by the store's ``policies`` setting (the store caches settings)."""
        raw = self.store.get_setting(POLICIES_SETTING)
        cached_raw, cached = self._policy_cache
        if raw == cached_raw:
            return cached
        try:
            policies = (
                self.config.policies.updated(raw or {}) if isinstance(raw, dict) else self.config.policies
            )
        except ConfigError as exc:
            _log.warning("ignoring bad runtime policies in the store: %s", exc)
            policies = self.config.policies
        self._policy_cache = (raw, policies)
        return policies

    def set_policies(self, changes: dict[str, Any]) -> Policies:
        """Override policies for every worker (validated first); the control API's entry point."""
        with self.store.transaction() as txn:  # read-modify-write under the write lock: no lost update
            current = txn.get_setting(POLICIES_SETTING)
            merged = {**(current if isinstance(current, dict) else {}), **changes}
            policies = self.config.policies.updated(merged)
            txn.set_setting(POLICIES_SETTING, merged)
        return policies

    # --- systems ----------------------------------------------------------------------------------
    def secrets(self) -> dict[str, str]:
        """System id → secret: the configured systems plus those seeded at run time (store setting)."""
        merged = dict(self.config.secrets())
        raw = self.store.get_setting(SYSTEMS_SETTING)
        if isinstance(raw, dict):
            for sid, entry in raw.items():
                if sid not in merged and isinstance(entry, dict) and isinstance(entry.get("secret"), str):
                    merged[sid] = entry["secret"]
        return merged

    def current_authenticator(self) -> Authenticator:
        """The authenticator, rebuilt when the seeded systems changed (cheap identity check per call)."""
        raw = self.store.get_setting(SYSTEMS_SETTING)
        seen_obj, seen_value = self._systems_seen
        if raw is not seen_obj:
            if raw != seen_value:
                self.authenticator = Authenticator(self.secrets(), clock=self.clock)
            self._systems_seen = (raw, raw)
        return self.authenticator

    # --- request handling -------------------------------------------------------------------------
    async def handle(self, request: Request, operation: str) -> Response:
        t0 = time.perf_counter()
        now = self.clock()
        send_edoc = operation == "sendEdoc"
        system_id: str | None = None
        ctx: CallContext | None = None
        findings: list[Diagnostic] = []
        try:
            policies = self.policies()
            raw_headers = request.scope["headers"]
            authenticator = self.current_authenticator()
            if operation == "downloadEdoc" and authenticator.is_anonymous(raw_headers):
                return await self._anonymous_download(request, policies, now, t0)
            auth: AuthResult = authenticator.authenticate(
                raw_headers, replay_window_s=policies.replay_window_s
            )
            system_id = auth.system_id
            findings = auth.findings
            limit = self.intake.max_package_bytes + 2 if send_edoc else _JSON_BODY_LIMIT
            body = await _read_body(request, limit)
            ctx = CallContext(
                operation, auth.system_id, auth.params, policies, body, now, list(auth.findings)
            )
            response = _HANDLERS[operation](self, ctx)
        except HubError as exc:
            response = fail_response(exc, send_edoc=send_edoc)
            self._log_failure(
                operation,
                system_id,
                exc.code,
                exc.describe(),
                now,
                t0,
                list(dict.fromkeys([*(ctx.findings if ctx else findings), *exc.findings])),
                ctx,
            )
            return response
        except StoreUnavailable as exc:
            err = HubError(ErrorCode.UNAVAILABLE, None, f"{exc}")
            self._log_failure(operation, system_id, err.code, err.describe(), now, t0, findings, ctx)
            return fail_response(err, send_edoc=send_edoc)
        except Exception:
            _log.exception("internal error in %s", operation)
            err = HubError(
                ErrorCode.INTERNAL,
                None,
                f"internal error of the hub in {operation} (a bug, logged by the hub); retry later",
            )
            self._log_failure(operation, system_id, err.code, err.describe(), now, t0, findings, ctx)
            return fail_response(err, send_edoc=send_edoc)
        if not ctx.evidence_written:
            try:
                self.store.add_evidence(
                    record(
                        at=now,
                        operation=operation,
                        http_status=response.status_code,
                        error_code=ErrorCode.OK.value,
                        system=system_id,
                        sha256=ctx.sha256,
                        doc_ids=ctx.doc_ids,
                        findings=ctx.findings,
                        detail={**ctx.detail, "elapsed_ms": round((time.perf_counter() - t0) * 1000, 3)},
                    )
                )
            except StoreUnavailable:
                _log.warning("evidence row for %s lost: store unavailable", operation)
        return response

    def _log_failure(
        self,
        operation: str,
        system_id: str | None,
        code: ErrorCode,
        desc: str,
        now: dt.datetime,
        t0: float,
        findings: list[Diagnostic],
        ctx: CallContext | None,
    ) -> None:
        detail: dict[str, Any] = {"error": desc, "elapsed_ms": round((time.perf_counter() - t0) * 1000, 3)}
        if ctx is not None:
            detail.update(ctx.detail)
        try:
            self.store.add_evidence(
                record(
                    at=now,
                    operation=operation,
                    http_status=code.http_status,
                    error_code=code.value,
                    system=system_id,
                    sha256=ctx.sha256 if ctx else None,
                    doc_ids=ctx.doc_ids if ctx else (),
                    findings=findings,
                    detail=detail,
                )
            )
        except StoreUnavailable:
            _log.warning("evidence row for a failed %s lost: store unavailable", operation)

    async def _anonymous_download(
        self, request: Request, policies: Policies, now: dt.datetime, t0: float
    ) -> Response:
        doc_id = (
            request.headers.get("docId")
            or request.query_params.get("docId")
            or request.query_params.get("docid")
            or ""
        ).strip()
        if not policies.legacy_anonymous_download:
            err = HubError(
                ErrorCode.ANONYMOUS_REFUSED,
                "VXP-ANON",
                "anonymous download refused: downloadEdoc needs the authentication headers like every other "
                "call (the hub runs without the legacy anonymous-download switch)",
            )
            finding = Diagnostic(
                Severity.ERROR,
                "/",
                "VXP-ANON",
                f"anonymous download attempt for docId {doc_id or '(none)'}; refused",
            )
            self._log_failure("downloadEdoc", None, err.code, err.describe(), now, t0, [finding], None)
            return fail_response(err)
        finding = Diagnostic(
            Severity.ERROR,
            "/",
            "VXP-ANON",
            f"anonymous download of docId {doc_id or '(none)'} served (legacy switch on): "
            "packages must not be readable without authentication",
        )
        view = self.store.delivery(doc_id) if doc_id else None
        if view is None:
            err = HubError(ErrorCode.NOT_FOUND, "VXP-ROUTE", f"no package with docId {doc_id or '(none)'}")
            self._log_failure("downloadEdoc", None, err.code, err.describe(), now, t0, [finding], None)
            return fail_response(err)
        data = self.store.package_data(view.sha256) or b""
        with self.store.transaction() as txn:
            txn.mark_fetched(view.doc_id, now)
            txn.add_evidence(
                record(
                    at=now,
                    operation="downloadEdoc",
                    http_status=200,
                    error_code="0",
                    sha256=view.sha256,
                    doc_ids=[view.doc_id],
                    findings=[finding],
                    detail={"anonymous": True},
                )
            )
        return Response(data, media_type="application/octet-stream")

    # --- helpers for handlers ---------------------------------------------------------------------
    def resolve(self, ctx: CallContext, doc_id: str) -> tuple[str, DeliveryView | None]:
        """(sha256, delivery) of a docId the caller may read: its delivery, or a package it sent."""
        view = self.store.delivery(doc_id)
        if view is not None and view.recipient_system == ctx.system_id:
            return view.sha256, view
        sent = self.store.sent_package(doc_id, ctx.system_id)
        if sent is not None:
            return sent[0], None
        raise _not_found(doc_id, ctx.system_id)

    def fetch(self, ctx: CallContext, doc_id: str) -> bytes:
        sha, view = self.resolve(ctx, doc_id)
        data = self.store.package_data(sha)
        if data is None:  # pragma: no cover - the store keeps blobs as long as packages
            raise _not_found(doc_id, ctx.system_id)
        ctx.sha256 = sha
        ctx.doc_ids.append(doc_id)
        if view is not None:
            with self.store.transaction() as txn:
                txn.mark_fetched(doc_id, ctx.now)
                self._write_evidence(txn, ctx)
        else:
            ctx.detail["own_sent_package"] = True
        return data

    def _write_evidence(self, txn: Any, ctx: CallContext) -> None:
        txn.add_evidence(
            record(
                at=ctx.now,
                operation=ctx.operation,
                http_status=200,
                error_code="0",
                system=ctx.system_id,
                sha256=ctx.sha256,
                doc_ids=ctx.doc_ids,
                findings=ctx.findings,
                detail=ctx.detail,
            )
        )
        ctx.evidence_written = True


async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 beyond ``limit`` (checked on Content-Length first)."""
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise HubError(
            ErrorCode.TOO_LARGE,
            "VXP-SIZE",
            f"the request body is {int(length):,} bytes, above the hub's limit of {limit:,} bytes",
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HubError(
                ErrorCode.TOO_LARGE,
                "VXP-SIZE",
                f"the request body exceeds the hub's limit of {limit:,} bytes",
            )
        chunks.append(chunk)
    return b"".join(chunks)


# ============================================================================ operations


@_operation("sendEdoc")
def _send_edoc(svc: VxpService, ctx: CallContext) -> Response:
    try:
        result = svc.intake.send(ctx.system_id, ctx.params, ctx.body, ctx.policies, ctx.findings)
    except HubError:
        ctx.sha256 = hashlib.sha256(strip_crlf(ctx.body)).hexdigest()  # the refused upload, for the evidence
        raise
    ctx.evidence_written = True  # written inside the package's transaction
    return json_response(envelope(ErrorCode.OK, "", DocId=result.doc_id), 200, ascii_only=True)


@_operation("getReceivedEdocList")
def _received_list(svc: VxpService, ctx: CallContext) -> Response:
    mt = _message_type(ctx.params)
    items = svc.store.list_received(ctx.system_id, mt, svc.config.list_limit)
    data = [
        {
            "docId": i.doc_id,
            "serviceType": i.service_type,
            "messageType": i.message_type,
            "created_time": reply_time(i.created_at),
            "updated_time": reply_time(i.updated_at),
            "from": i.from_organ,
            "to": i.recipient,
            "status": i.state.value,
            "status_desc": i.state_desc,
        }
        for i in items
    ]
    ctx.doc_ids.extend(i.doc_id for i in items)
    ctx.detail.update({"messagetype": mt, "count": len(items)})
    return json_response(envelope(ErrorCode.OK, "", data=data))


@_operation("getEdoc")
def _get_edoc(svc: VxpService, ctx: CallContext) -> Response:
    data = svc.fetch(ctx, _doc_id(ctx.params, "getEdoc"))
    return json_response(envelope(ErrorCode.OK, "", data=base64.b64encode(data).decode("ascii")))


@_operation("downloadEdoc", method="GET")
def _download_edoc(svc: VxpService, ctx: CallContext) -> Response:
    data = svc.fetch(ctx, _doc_id(ctx.params, "downloadEdoc"))
    return Response(data, media_type="application/octet-stream")


_ACK = {"done": DeliveryState.DONE, "fail": DeliveryState.FAIL, "processing": DeliveryState.PROCESSING}


@_operation("updateStatus")
def _update_status(svc: VxpService, ctx: CallContext) -> Response:
    doc_id = _doc_id(ctx.params, "updateStatus")
    raw = ctx.params.get_str("status")
    state = _ACK.get((raw or "").lower())
    if state is None:
        raise HubError(
            ErrorCode.BAD_PARAMETER,
            "VXP-PARAM",
            f"updateStatus: status={raw!r} is not one of done, fail, processing",
        )
    desc = ctx.params.get_str("description") or state.description
    ctx.doc_ids.append(doc_id)
    ctx.detail.update({"status": state.value, "description": ctx.params.get_str("description") or ""})
    with svc.store.transaction() as txn:
        view = txn.delivery(doc_id)
        if view is None or view.recipient_system != ctx.system_id:
            raise _not_found(doc_id, ctx.system_id)
        ctx.sha256 = view.sha256
        ctx.detail["previous"] = view.state.value
        if not view.state.pending:
            if view.state is not state:
                raise HubError(
                    ErrorCode.CONFLICT,
                    "VXP-ACK",
                    f"docId {doc_id} was already acknowledged as {view.state.value}; it cannot become "
                    f"{state.value} (an acknowledged item is never delivered again)",
                    findings=ctx.findings,
                )
            ctx.findings.append(
                Diagnostic(
                    Severity.INFO,
                    "/",
                    "VXP-ACK",
                    f"docId {doc_id} acknowledged as {state.value} again (no change)",
                )
            )
        else:
            if not view.fetched_at and state is not DeliveryState.PROCESSING:
                ctx.findings.append(
                    Diagnostic(
                        Severity.WARNING,
                        "/",
                        "VXP-ACK",
                        f"docId {doc_id} acknowledged as {state.value} without being "
                        "fetched first (getEdoc/downloadEdoc)",
                    )
                )
            txn.set_delivery_state(doc_id, state, desc, ctx.now)
        svc._write_evidence(txn, ctx)
    return json_response(envelope(ErrorCode.OK, ""))


@_operation("getSentEdocList")
def _sent_list(svc: VxpService, ctx: CallContext) -> Response:
    mt = _message_type(ctx.params)
    sender_doc_id = ctx.params.get_str("docid")
    items = svc.store.list_sent(ctx.system_id, mt, sender_doc_id, svc.config.list_limit)
    data = [
        {
            "serviceType": i.service_type,
            "messageType": i.message_type,
            "senderDocId": i.sender_doc_id,
            "receiverDocId": i.receiver_doc_id,
            "fromCode": i.from_code,
            "toCode": i.to_code,
            "title": i.title,
            "notation": i.notation,
            "sentTime": reply_time(i.sent_at),
            "receivedTime": reply_time(i.received_at),
            "sendStatus": "done",
            "sendStatusDesc": "accepted by the hub",
            "receiveStatus": i.state.value,
            "receiveStatusDesc": i.state_desc,
        }
        for i in items
    ]
    ctx.detail.update({"messagetype": mt, "count": len(items)})
    return json_response(envelope(ErrorCode.OK, "", data=data))


@_operation("countReceiveEdoc")
def _count_edoc(svc: VxpService, ctx: CallContext) -> Response:
    count = svc.store.count_received(ctx.system_id, "edoc")
    ctx.detail["count"] = count
    return json_response(envelope(ErrorCode.OK, "", count=count))


@_operation("countReceiveStatus")
def _count_status(svc: VxpService, ctx: CallContext) -> Response:
    count = svc.store.count_received(ctx.system_id, "status")
    ctx.detail["count"] = count
    return json_response(envelope(ErrorCode.OK, "", count=count))


@_operation("getAgenciesList")
def _agencies(svc: VxpService, ctx: CallContext) -> Response:
    return json_response(envelope(ErrorCode.OK, "", data=agency_items(svc.store.list_agencies())))


@_operation("getAgenciesListQD20")
def _agencies_qd20(svc: VxpService, ctx: CallContext) -> Response:
    raw = ctx.params.get_str("level")
    level: int | None = None
    if raw is not None:
        if not raw.isdigit() or not 1 <= int(raw) <= 4:
            raise HubError(
                ErrorCode.BAD_PARAMETER,
                "VXP-PARAM",
                f"getAgenciesListQD20: level={raw!r} is not a level from 1 to 4",
            )
        level = int(raw)
    records = svc.store.list_agencies(level=level)
    return json_response(envelope(ErrorCode.OK, "", data=[qd20_item(r) for r in records]))


@_operation("getSynchronizeUnit")
def _sync_units(svc: VxpService, ctx: CallContext) -> Response:
    return json_response(
        envelope(ErrorCode.OK, "", data=sync_items(svc.store.list_agencies(include_deleted=True)))
    )


@_operation("registerAgency")
def _register_agency(svc: VxpService, ctx: CallContext) -> Response:
    try:
        body = json.loads(ctx.body.decode("utf-8")) if ctx.body.strip() else None
    except (UnicodeDecodeError, ValueError) as exc:
        raise HubError(
            ErrorCode.BAD_PARAMETER, "VXP-PARAM", f"registerAgency: the body is not UTF-8 JSON ({exc})"
        ) from None
    rec, found = registration(body, ctx.system_id, strict=ctx.policies.validation == "strict")
    ctx.findings.extend(found)
    ctx.detail["code"] = rec.code
    with svc.store.transaction() as txn:
        existing = txn.agencies([rec.code]).get(rec.code)
        if existing is not None and not existing.deleted and existing.system_id not in (None, ctx.system_id):
            raise HubError(
                ErrorCode.CONFLICT,
                "VXP-ROUTE",
                f"registerAgency: agency {rec.code} is already hosted by another system; an agency is "
                "hosted by one system",
                findings=ctx.findings,
            )
        if rec.parent_code and rec.parent_code not in txn.agencies([rec.parent_code]):
            ctx.findings.append(
                Diagnostic(
                    Severity.WARNING,
                    "body:pcode",
                    "VXP-PARAM",
                    f"parent agency {rec.parent_code} is not in the directory",
                )
            )
        txn.upsert_agency(rec, ctx.now)
        svc._write_evidence(txn, ctx)
    return json_response(envelope(ErrorCode.OK, ""))


@_operation("deleteAgency")
def _delete_agency(svc: VxpService, ctx: CallContext) -> Response:
    code = ctx.params.get_str("agencycode")
    if code is None:
        raise HubError(
            ErrorCode.BAD_PARAMETER,
            "VXP-PARAM",
            "deleteAgency: the AgencyCode parameter is missing; send XroadVnpt-AgencyCode (signed)",
        )
    ctx.detail["code"] = code
    with svc.store.transaction() as txn:
        existing = txn.agencies([code]).get(code)
        if existing is None or existing.deleted or existing.system_id != ctx.system_id:
            raise HubError(
                ErrorCode.NOT_FOUND,
                "VXP-ROUTE",
                f"deleteAgency: no agency {code} hosted by system {ctx.system_id}",
            )
        txn.delete_agency(code, ctx.now)
        svc._write_evidence(txn, ctx)
    return json_response(envelope(ErrorCode.OK, ""))


def vxp_routes(service: VxpService) -> list[Route]:
    """One route per operation at ``/<operationName>``, GET and POST."""

    def endpoint(name: str) -> Callable[[Request], Awaitable[Response]]:
        async def handle(request: Request) -> Response:
            return await service.handle(request, name)

        handle.__name__ = name
        return handle

    return [Route(f"/{name}", endpoint(name), methods=["GET", "POST"], name=name) for name in OPERATIONS]
