"""The harness's control API under ``/control/...`` (spec/vxp-protocol.md §5): never reachable with a
system's credentials.

Authentication: ``Authorization: Bearer <admin token>`` (``HubConfig.admin_token``, generated and printed
at start when not configured), compared in constant time. VXP HMAC headers grant nothing. Without the
token every ``/control/*`` request — also an unknown path — gets 401. Replies are plain JSON (not the VXP
envelope); errors are ``{"error": "<kind>", "detail": "<what is wrong and what to do>"}`` with kinds
``unauthorized`` (401), ``bad_request`` (400, naming the field or parameter), ``not_found`` (404),
``method_not_allowed`` (405), ``conflict`` (409) and ``unavailable`` (503, the store is busy).

Endpoints (``openapi.json`` documents the shapes):

* ``POST /control/reset`` — wipe packages, deliveries, status history, evidence and fault counters.
  Body (all optional): ``directory`` ``keep`` (default: the directory, seeded systems and runtime
  registrations stay) or ``reseed`` (back to the config's agencies and systems); ``faults`` ``clear``
  (default) or ``keep``; ``policies`` ``keep`` (default) or ``clear``; ``clock`` ``keep`` (default) or
  ``clear``. The reset's own evidence row comes first after it, with an id above every wiped row.
* ``POST /control/seed`` — add systems and agencies, body shaped like the TOML config
  (``{"systems": [{"id", "secret"?, "agencies": [codes], "name"?}], "agencies": [{"code", "name", …}]}``);
  a missing secret is generated; re-seeding a seeded system replaces its agencies (and its secret when
  one is given). Replies with the systems' ids, secrets and agencies.
* ``GET /control/systems`` (with secrets: this is the admin API), ``GET /control/agencies``
  (``?include_deleted=true``).
* ``GET|PUT|DELETE /control/faults`` — :mod:`simulator.hub.faults`.
* ``GET|PUT|DELETE /control/clock`` — hub clock offset and drift (:class:`HubClock`, QD28-14.4).
* ``GET|PUT|DELETE /control/policies`` — effective policies; PUT changes some, DELETE returns to the
  config's.
* ``GET /control/evidence?since=<id>&limit=<n>`` — JSON lines (``application/x-ndjson``), streamed.
* ``GET /control/stats?agency=&from=&to=&bucket=hour|day`` — QD28-11 statistics (:mod:`simulator.hub.stats`).
* ``GET /control/deliveries?recipient=&sender=&document_id=&package=&state=&limit=`` — delivery rows.
* ``GET /control/packages/{sha256}`` — stored package bytes.

A call that changes a runtime setting (faults, policies, seeded systems, reset) replies only after
``store.settings_refresh_s`` has passed, so every worker applies the change to any request that starts
after the reply. Control calls that change something are recorded in the evidence log as
``control.<name>`` rows (never with secrets).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import hmac
import json
import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from simulator.edxml.vntime import parse_timestamp
from simulator.hub.clock import HubClock
from simulator.hub.config import ConfigError, parse_config
from simulator.hub.directory import agency_level, seed_directory
from simulator.hub.evidence import record
from simulator.hub.faults import FaultError, FaultInjector
from simulator.hub.stats import BUCKETS, Bucket, compute_stats
from simulator.hub.store import AgencyRecord, DeliveryState, StoreUnavailable
from simulator.hub.timeweb import time_reply
from simulator.hub.vxp import POLICIES_SETTING, SYSTEMS_SETTING, VxpService

__all__ = ["CONTROL_PREFIX", "ControlError", "control_routes"]

CONTROL_PREFIX = "/control"
_BODY_LIMIT = 1024 * 1024
_EVIDENCE_BATCH = 500
_MAX_LIMIT = 1_000_000
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_RESET_OPTIONS = {
    "directory": ("keep", "reseed"),
    "faults": ("clear", "keep"),
    "policies": ("keep", "clear"),
    "clock": ("keep", "clear"),
}
_REALM = 'Bearer realm="lienthong-control"'
_ANY_METHOD = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]


class ControlError(Exception):
    """A refused control request: becomes ``{"error", "detail"}`` with ``status``."""

    def __init__(self, status: int, kind: str, detail: str) -> None:
        self.status = status
        self.kind = kind
        self.detail = detail
        super().__init__(detail)


def _error_response(err: ControlError) -> JSONResponse:
    headers = {"WWW-Authenticate": _REALM} if err.status == 401 else None
    return JSONResponse({"error": err.kind, "detail": err.detail}, err.status, headers=headers)


def _bad(detail: str) -> ControlError:
    return ControlError(400, "bad_request", detail)


def _check_token(request: Request, token: str) -> None:
    header = request.headers.get("authorization")
    if not token:
        raise ControlError(
            401, "unauthorized", "the hub has no admin token configured; set admin_token in the hub config"
        )
    if header is None:
        raise ControlError(
            401,
            "unauthorized",
            "missing the Authorization header: the control API needs 'Authorization: Bearer <admin token>' "
            "(printed by `lienthong hub` at start, or admin_token in the hub config); system credentials "
            "(XroadVnpt-* headers) do not grant access",
        )
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise ControlError(
            401, "unauthorized", "the Authorization header must be 'Bearer <admin token>' (scheme Bearer)"
        )
    if not hmac.compare_digest(value.strip().encode("utf-8"), token.encode("utf-8")):
        raise ControlError(
            401, "unauthorized", "the admin token is wrong; use the one `lienthong hub` printed at start"
        )


async def _json_body(request: Request, *, empty: Any = None) -> Any:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > _BODY_LIMIT:
            raise ControlError(413, "too_large", f"the body exceeds {_BODY_LIMIT:,} bytes")
    if not body.strip():
        if empty is None:
            raise _bad("the body is empty; send a JSON document (Content-Type: application/json)")
        return empty
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise _bad(f"the body is not UTF-8 JSON ({exc})") from None


def _int_param(request: Request, name: str, default: int | None, lo: int, hi: int) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or not lo <= int(raw) <= hi:
        raise _bad(f"query parameter {name}={raw!r} must be a whole number from {lo} to {hi:,}")
    return int(raw)


def _time_param(request: Request, name: str) -> dt.datetime | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return parse_timestamp(raw).value
    except ValueError as exc:
        raise _bad(f"query parameter {name}: {exc}") from None


def _bool_param(request: Request, name: str) -> bool:
    raw = (request.query_params.get(name) or "false").lower()
    if raw not in ("true", "false", "1", "0"):
        raise _bad(f"query parameter {name}={raw!r} must be true or false")
    return raw in ("true", "1")


def _only_keys(body: Mapping[str, Any], allowed: tuple[str, ...], where: str = "body") -> None:
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise _bad(f"{where}.{unknown[0]}: unknown field; known fields: {', '.join(allowed)}")


class _Control:
    """The control endpoints of one worker (built by :func:`control_routes`)."""

    def __init__(self, service: VxpService, clock: HubClock, injector: FaultInjector) -> None:
        self.service = service
        self.store = service.store
        self.config = service.config
        self.clock = clock
        self.injector = injector

    # --- helpers ---------------------------------------------------------------------------------
    async def _settled(self) -> None:
        """Wait until every worker's settings cache has re-checked (see the module docstring)."""
        await asyncio.sleep(self.store.settings_refresh_s)

    def _note(self, name: str, detail: dict[str, Any]) -> None:
        # The change itself succeeded; losing its note is not worth failing the call.
        with contextlib.suppress(StoreUnavailable):
            self.store.add_evidence(
                record(
                    at=self.clock.now(),
                    operation=f"control.{name}",
                    http_status=200,
                    error_code="0",
                    detail=detail,
                )
            )

    def _seeded(self) -> dict[str, Any]:
        raw = self.store.get_setting(SYSTEMS_SETTING)
        return dict(raw) if isinstance(raw, dict) else {}

    # --- reset / seed / directory ------------------------------------------------------------------
    async def reset(self, request: Request) -> Response:
        body = await _json_body(request, empty={})
        if not isinstance(body, dict):
            raise _bad("the body must be a JSON object of options (or empty)")
        _only_keys(body, tuple(_RESET_OPTIONS))
        options: dict[str, str] = {}
        for key, allowed in _RESET_OPTIONS.items():
            value = body.get(key, allowed[0])
            if value not in allowed:
                raise _bad(f"body.{key}: must be one of {', '.join(allowed)}, got {value!r}")
            options[key] = value
        now = self.clock.now()
        with self.store.transaction() as txn:
            deleted = txn.reset_traffic(
                record(at=now, operation="control.reset", http_status=200, error_code="0", detail=options)
            )
            if options["directory"] == "reseed":
                deleted["agencies"] = txn.reset_directory()
                txn.delete_setting(SYSTEMS_SETTING)
            if options["policies"] == "clear":
                txn.delete_setting(POLICIES_SETTING)
        if options["directory"] == "reseed":
            seed_directory(self.store, self.config, now)
        if options["faults"] == "clear":
            self.injector.clear()
        if options["clock"] == "clear":
            self.clock.reset()
        await self._settled()
        return JSONResponse({"deleted": deleted, **options})

    async def seed(self, request: Request) -> Response:
        body = await _json_body(request)
        if not isinstance(body, dict):
            raise _bad('the body must be a JSON object {"systems": [...], "agencies": [...]}')
        _only_keys(body, ("systems", "agencies"))
        systems_raw = body.get("systems", [])
        if not isinstance(systems_raw, list):
            raise _bad("systems: must be a list of {id, secret, agencies, name}")
        seeded = self._seeded()
        prepared: list[Any] = []
        generated: set[str] = set()
        for item in systems_raw:
            if isinstance(item, dict) and "secret" not in item and isinstance(item.get("id"), str):
                previous = seeded.get(item["id"], {})
                secret = previous.get("secret") if isinstance(previous, dict) else None
                if not isinstance(secret, str):
                    secret = secrets.token_urlsafe(32)
                    generated.add(item["id"])
                item = {**item, "secret": secret}
            prepared.append(item)
        validation = self.service.policies().validation
        try:
            parsed = parse_config(
                {
                    "systems": prepared,
                    "agencies": body.get("agencies", []),
                    "policies": {"validation": validation},
                }
            )
        except ConfigError as exc:
            raise _bad(str(exc)) from None
        configured = {s.id for s in self.config.systems}
        for i, system in enumerate(parsed.systems):
            if system.id in configured:
                raise ControlError(
                    409,
                    "conflict",
                    f"systems[{i}].id: {system.id} is a system of the hub's config; seed new system ids only",
                )
            if not system.agencies:
                raise _bad(f"systems[{i}].agencies: give the agency codes the system hosts (at least one)")
        entries = {a.code: a for a in parsed.agencies}
        hosted = {code: s.id for s in parsed.systems for code in s.agencies}
        now = self.clock.now()
        with self.store.transaction() as txn:
            current = txn.get_setting(SYSTEMS_SETTING)
            stored: dict[str, Any] = dict(current) if isinstance(current, dict) else {}
            codes = list(dict.fromkeys([*hosted, *entries]))
            existing = txn.agencies(codes)
            for i, system in enumerate(parsed.systems):
                for j, code in enumerate(system.agencies):
                    rec = existing.get(code)
                    if rec is not None and not rec.deleted and rec.system_id not in (None, system.id):
                        raise ControlError(
                            409,
                            "conflict",
                            f"systems[{i}].agencies[{j}]: {code} is hosted by system {rec.system_id}; an "
                            "agency is hosted by one system",
                        )
            released: list[str] = []
            for system in parsed.systems:
                before = stored.get(system.id, {})
                old = before.get("agencies", []) if isinstance(before, dict) else []
                released += [c for c in old if c not in hosted]
            for code in released:
                rec = txn.agencies([code]).get(code)
                if rec is not None and not rec.deleted:
                    txn.upsert_agency(dataclasses.replace(rec, system_id=None), now)
            for code in codes:
                txn.upsert_agency(self._agency_record(code, entries, existing, hosted), now)
            for system in parsed.systems:
                stored[system.id] = {
                    "secret": system.secret,
                    "agencies": list(system.agencies),
                    "name": system.name,
                }
            txn.set_setting(SYSTEMS_SETTING, stored)
        self._note(
            "seed",
            {
                "systems": {s.id: list(s.agencies) for s in parsed.systems},
                "agencies": codes,
                "generated_secrets": sorted(generated),
            },
        )
        await self._settled()
        return JSONResponse(
            {
                "systems": [
                    {"id": s.id, "secret": s.secret, "agencies": list(s.agencies), "name": s.name}
                    for s in parsed.systems
                ],
                "agencies": codes,
                "warnings": list(parsed.warnings),
            }
        )

    @staticmethod
    def _agency_record(
        code: str, entries: Mapping[str, Any], existing: Mapping[str, AgencyRecord], hosted: Mapping[str, str]
    ) -> AgencyRecord:
        entry = entries.get(code)
        rec = existing.get(code)
        system_id = hosted.get(code) or (rec.system_id if rec is not None and not rec.deleted else None)
        if entry is not None:
            return AgencyRecord(
                code=code,
                name=entry.name,
                mail=entry.mail,
                parent_code=entry.parent,
                mobile=entry.mobile,
                fax=entry.fax,
                old_code=entry.old_code,
                center_code=entry.center_code,
                is_agency=entry.is_agency,
                system_id=system_id,
                level=agency_level(code),
            )
        if rec is not None and not rec.deleted:
            return dataclasses.replace(rec, system_id=system_id)
        return AgencyRecord(
            code=code, name=f"Cơ quan mô phỏng {code}", system_id=system_id, level=agency_level(code)
        )

    async def systems(self, request: Request) -> Response:
        out: list[dict[str, Any]] = [
            {"id": s.id, "name": s.name, "secret": s.secret, "agencies": list(s.agencies), "source": "config"}
            for s in self.config.systems
        ]
        configured = {s.id for s in self.config.systems}
        for sid, entry in sorted(self._seeded().items()):
            if sid in configured or not isinstance(entry, dict):
                continue
            out.append(
                {
                    "id": sid,
                    "name": entry.get("name", ""),
                    "secret": entry.get("secret", ""),
                    "agencies": list(entry.get("agencies", [])),
                    "source": "seeded",
                }
            )
        return JSONResponse(out)

    async def agencies(self, request: Request) -> Response:
        records = self.store.list_agencies(include_deleted=_bool_param(request, "include_deleted"))
        return JSONResponse([dataclasses.asdict(r) for r in records])

    # --- faults -----------------------------------------------------------------------------------
    async def get_faults(self, request: Request) -> Response:
        return JSONResponse(self.injector.describe())

    async def put_faults(self, request: Request) -> Response:
        body = await _json_body(request)
        try:
            rules = self.injector.set_rules(body)
        except FaultError as exc:
            raise _bad(str(exc)) from None
        self._note("faults", {"rules": [r.as_dict() for r in rules]})
        await self._settled()
        return JSONResponse(self.injector.describe())

    async def delete_faults(self, request: Request) -> Response:
        self.injector.clear()
        self._note("faults", {"rules": []})
        await self._settled()
        return JSONResponse(self.injector.describe())

    # --- clock ------------------------------------------------------------------------------------
    def _clock_reply(self) -> dict[str, Any]:
        settings = self.clock.settings()
        return {
            **time_reply(self.clock),
            "configured_offset_s": settings.offset_s,
            "epoch": settings.epoch,
        }

    async def get_clock(self, request: Request) -> Response:
        return JSONResponse(self._clock_reply())

    async def put_clock(self, request: Request) -> Response:
        body = await _json_body(request)
        if not isinstance(body, dict):
            raise _bad('the body must be a JSON object {"offset_s": seconds, "drift_ppm": ppm}')
        _only_keys(body, ("offset_s", "drift_ppm"))
        offset, drift = body.get("offset_s"), body.get("drift_ppm")
        if offset is None and drift is None:
            raise _bad("give offset_s (seconds the hub runs ahead; negative: behind) and/or drift_ppm")
        for name, value in (("offset_s", offset), ("drift_ppm", drift)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
                raise _bad(f"body.{name}: must be a number, got {value!r} (QD28-14.4)")
        try:
            self.clock.set(offset_s=offset, drift_ppm=drift)
        except ValueError as exc:
            raise _bad(f"body: {exc}") from None
        self._note("clock", {"offset_s": offset, "drift_ppm": drift})
        return JSONResponse(self._clock_reply())

    async def delete_clock(self, request: Request) -> Response:
        self.clock.reset()
        self._note("clock", {"reset": True})
        return JSONResponse(self._clock_reply())

    # --- policies ---------------------------------------------------------------------------------
    async def get_policies(self, request: Request) -> Response:
        return JSONResponse(self.service.policies().as_dict())

    async def put_policies(self, request: Request) -> Response:
        body = await _json_body(request)
        if not isinstance(body, dict):
            raise _bad('the body must be a JSON object of policies to change, e.g. {"signature": "enforce"}')
        try:
            policies = self.service.set_policies(body)
        except ConfigError as exc:
            raise _bad(str(exc)) from None
        self._note("policies", {"changes": body})
        await self._settled()
        return JSONResponse(policies.as_dict())

    async def delete_policies(self, request: Request) -> Response:
        self.store.delete_setting(POLICIES_SETTING)
        self._note("policies", {"reset": True})
        await self._settled()
        return JSONResponse(self.service.policies().as_dict())

    # --- evidence, stats, deliveries, packages ------------------------------------------------------
    async def evidence(self, request: Request) -> Response:
        since = _int_param(request, "since", 0, 0, 2**62) or 0
        limit = _int_param(request, "limit", None, 1, _MAX_LIMIT)
        store = self.store

        async def lines() -> AsyncIterator[bytes]:
            cursor, left = since, limit
            while left is None or left > 0:
                batch = _EVIDENCE_BATCH if left is None else min(_EVIDENCE_BATCH, left)
                rows = list(store.evidence(since_id=cursor, limit=batch))
                if not rows:
                    return
                yield "".join(
                    json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in rows
                ).encode("utf-8")
                cursor = int(rows[-1]["id"])
                if left is not None:
                    left -= len(rows)
                if len(rows) < batch:
                    return
                await asyncio.sleep(0)  # let other requests in between batches

        return StreamingResponse(lines(), media_type="application/x-ndjson")

    async def stats(self, request: Request) -> Response:
        bucket_raw = request.query_params.get("bucket") or None
        if bucket_raw is not None and bucket_raw not in BUCKETS:
            raise _bad(f"query parameter bucket={bucket_raw!r} must be one of {', '.join(BUCKETS)}")
        bucket: Bucket | None = "hour" if bucket_raw == "hour" else "day" if bucket_raw == "day" else None
        start, end = _time_param(request, "from"), _time_param(request, "to")
        try:
            report = compute_stats(
                self.store,
                agency=request.query_params.get("agency") or None,
                start=start,
                end=end,
                bucket=bucket,
            )
        except ValueError as exc:
            raise _bad(f"query parameters from/to: {exc}") from None
        return JSONResponse(report)

    async def deliveries(self, request: Request) -> Response:
        raw_state = request.query_params.get("state") or None
        state: DeliveryState | None = None
        if raw_state is not None:
            try:
                state = DeliveryState(raw_state)
            except ValueError:
                raise _bad(
                    f"query parameter state={raw_state!r} must be one of "
                    f"{', '.join(s.value for s in DeliveryState)}"
                ) from None
        q = request.query_params
        rows = self.store.list_deliveries(
            recipient=q.get("recipient") or None,
            from_organ=q.get("sender") or None,
            document_id=q.get("document_id") or None,
            package_doc_id=q.get("package") or None,
            state=state,
            limit=_int_param(request, "limit", 1000, 1, 100_000) or 1000,
        )
        return JSONResponse([{**dataclasses.asdict(r), "state": r.state.value} for r in rows])

    async def package(self, request: Request) -> Response:
        sha = str(request.path_params["sha256"]).lower()
        if not _SHA256.match(sha):
            raise _bad(f"{sha!r} is not a SHA-256 (64 hexadecimal digits)")
        data = self.store.package_data(sha)
        if data is None:
            raise ControlError(404, "not_found", f"no stored package with sha256 {sha}")
        return Response(data, media_type="application/octet-stream")


def _guard(
    token: Callable[[], str], handler: Callable[[Request], Awaitable[Response]]
) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        try:
            _check_token(request, token())
            return await handler(request)
        except ControlError as err:
            return _error_response(err)
        except StoreUnavailable as exc:
            return _error_response(ControlError(503, "unavailable", f"{exc}"))

    endpoint.__name__ = getattr(handler, "__name__", "control")
    return endpoint


def control_routes(service: VxpService, clock: HubClock, injector: FaultInjector) -> list[BaseRoute]:
    """The ``/control/...`` routes; an unknown ``/control`` path or method answers (after auth) in JSON."""
    ctl = _Control(service, clock, injector)
    table: list[tuple[str, str, Callable[[Request], Awaitable[Response]]]] = [
        ("/reset", "POST", ctl.reset),
        ("/seed", "POST", ctl.seed),
        ("/systems", "GET", ctl.systems),
        ("/agencies", "GET", ctl.agencies),
        ("/faults", "GET", ctl.get_faults),
        ("/faults", "PUT", ctl.put_faults),
        ("/faults", "DELETE", ctl.delete_faults),
        ("/clock", "GET", ctl.get_clock),
        ("/clock", "PUT", ctl.put_clock),
        ("/clock", "DELETE", ctl.delete_clock),
        ("/policies", "GET", ctl.get_policies),
        ("/policies", "PUT", ctl.put_policies),
        ("/policies", "DELETE", ctl.delete_policies),
        ("/evidence", "GET", ctl.evidence),
        ("/stats", "GET", ctl.stats),
        ("/deliveries", "GET", ctl.deliveries),
        ("/packages/{sha256}", "GET", ctl.package),
    ]

    def token() -> str:
        return service.config.admin_token

    methods: dict[str, list[str]] = {}
    for path, method, _ in table:
        methods.setdefault(path, []).append(method)
    routes: list[BaseRoute] = [
        Route(
            CONTROL_PREFIX + path,
            _guard(token, handler),
            methods=[method],
            name=f"control_{method.lower()}_{path.strip('/').split('/')[0]}",
        )
        for path, method, handler in table
    ]
    plain = {CONTROL_PREFIX + p: m for p, m in methods.items() if "{" not in p}

    async def fallback(request: Request) -> Response:
        path = request.url.path.rstrip("/")
        allowed = plain.get(path) or (
            methods["/packages/{sha256}"] if path.startswith(CONTROL_PREFIX + "/packages/") else None
        )
        if allowed:
            raise ControlError(
                405,
                "method_not_allowed",
                f"{request.method} is not accepted for {path}; use {', '.join(allowed)}",
            )
        raise ControlError(
            404,
            "not_found",
            f"no control endpoint {request.url.path}; see /openapi.json for the control API "
            f"({', '.join(sorted(plain))})",
        )

    for path in (CONTROL_PREFIX, CONTROL_PREFIX + "/{rest:path}"):
        routes.append(Route(path, _guard(token, fallback), methods=_ANY_METHOD, include_in_schema=False))
    return routes
