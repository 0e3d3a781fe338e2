"""Fault injection (VPCP19-RES): the hub misbehaves on purpose so a QLVB's resilience can be observed.

Rules are set through the control API (``PUT /control/faults``) and live in the store's ``faults``
setting, so every worker process applies the same rules; per-rule use counts are shared through the
store too (one atomic upsert per counted use). A rule::

    {"operation": "sendEdoc",          # a VXP operation name, or "*" for all of them (default "*")
     "latency_ms": 250,                # delay before the request is handled
     "error_rate": 0.3,                # probability of a 503 with the VXP envelope (ErrorCode UNAVAILABLE)
     "timeout": 30,                    # hold the request N seconds, then close the connection, no reply
     "drop_response_after_commit": true,  # handle (and commit) the request, then close without a reply
     "duplicate_delivery": true,       # deliver a second copy of each accepted package (or N: next N)
     "count": 2,                       # apply to this many matching requests, then stop (default: all)
     "until": "2026-11-23T09:00:00+07:00",  # apply until this hub time (default: no end)
     "seed": 7}                        # error_rate draws reproducible across runs and workers

A rule may combine ``latency_ms`` with at most one of ``error_rate``, ``timeout``,
``drop_response_after_commit`` and ``duplicate_delivery``. A rule *applies* to a matching request while
it has uses left (``count``) and its ``until`` has not passed; each application uses one count, whether
or not its ``error_rate`` draw fails the request. ``duplicate_delivery`` applies to ``sendEdoc`` only and
counts accepted packages (``duplicate_delivery: N`` is ``count: N``). Rules are evaluated in order:
latencies add up; the first error, timeout or dropped reply that fires decides the outcome. With a
``seed``, the n-th application of a rule fails iff ``sha256("<seed>:<n>")`` read as a fraction is below
``error_rate`` — the same pattern every run, whichever worker serves each request.

Semantics of a dropped reply: the request is handled completely (a package is committed, an
acknowledgement recorded) and then the connection is closed without a byte of reply. A client that
retries sends the same package again; the hub's ``duplicates`` policy decides what happens to the
retry, exactly as for any re-send (VXP-DUP): ``deliver`` (default) accepts it as a new package marked
``duplicate_of`` the first and delivers it again, so the recipient must recognise the duplicate;
``refuse`` answers the retry 409 ``DUPLICATE`` (naming the first DocId). The package bytes are stored
once either way (content-addressed).

How the connection is closed without a reply under uvicorn: the middleware starts the response with a
header value the server refuses to encode (a line feed); uvicorn marks the response started, raises
before writing anything, and closes the transport — the client sees the connection close with no
status line. Should a server accept the header, the middleware raises right after it, so the reply is
cut short (no body) and still unusable. The resulting ``DroppedResponse`` is kept out of uvicorn's
error log.

Every injected fault is written to the evidence log with ``detail.fault`` = ``{"rule", "kind", …}`` and an
INFO finding citing VPCP19-RES: a 503 or a timeout as the request's own row (``operation`` = the VXP
operation; a timeout has ``http_status`` 0 and ``error_code`` ``NO_REPLY``), the other kinds as extra
rows named ``fault.latency``, ``fault.drop_response`` and ``fault.duplicate_delivery`` beside the
request's row.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import logging
import math
import random
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NoReturn

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from simulator.edxml.diagnostics import Diagnostic, Severity
from simulator.edxml.vntime import parse_timestamp
from simulator.hub.envelope import ErrorCode, HubError, fail_response
from simulator.hub.evidence import record
from simulator.hub.store import Store, StoreUnavailable

__all__ = [
    "FAULTS_SETTING",
    "MAX_RULES",
    "DroppedResponse",
    "FaultError",
    "FaultInjector",
    "FaultMiddleware",
    "FaultPlan",
    "FaultRule",
    "close_without_reply",
    "parse_rules",
    "seeded_fraction",
]

_log = logging.getLogger(__name__)

FAULTS_SETTING = "faults"
"""Store setting: ``{"generation": n, "rules": [rule objects with their "id"]}``."""
MAX_RULES = 100
_MAX_LATENCY_MS = 600_000.0
_MAX_TIMEOUT_S = 3600.0
_FIELDS = (
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
)
_DROP_HEADER = (b"x-lienthong-fault", b"no-reply\n")  # a line feed: servers refuse to encode it

FaultKind = Literal["latency", "error", "timeout", "drop_response", "duplicate_delivery"]


class FaultError(ValueError):
    """A bad fault rule; the message names the field (``rules[1].error_rate: …``)."""


class DroppedResponse(Exception):
    """Raised by the fault middleware to make the server close the connection without a reply."""


@dataclass(frozen=True, slots=True)
class FaultRule:
    id: str
    operation: str = "*"
    system: str | None = None  # only calls whose XroadVnpt-systemid is this system; None: every caller
    latency_ms: float = 0.0
    error_rate: float = 0.0
    timeout: float = 0.0
    drop_response_after_commit: bool = False
    duplicate_delivery: bool = False
    count: int | None = None
    until: dt.datetime | None = None
    seed: int | None = None

    @property
    def kind(self) -> FaultKind:
        """The rule's main effect (``latency`` when it only delays)."""
        if self.error_rate > 0:
            return "error"
        if self.timeout > 0:
            return "timeout"
        if self.drop_response_after_commit:
            return "drop_response"
        if self.duplicate_delivery:
            return "duplicate_delivery"
        return "latency"

    @property
    def counted(self) -> bool:
        """Whether uses are counted in the store (needed for ``count`` and for seeded draws)."""
        return self.count is not None or self.seed is not None

    def matches(self, operation: str, now: dt.datetime, system: str | None = None) -> bool:
        return (
            self.operation in ("*", operation)
            and (self.system is None or self.system == system)
            and (self.until is None or now < self.until)
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "operation": self.operation,
            "system": self.system,
            "latency_ms": self.latency_ms,
            "error_rate": self.error_rate,
            "timeout": self.timeout,
            "drop_response_after_commit": self.drop_response_after_commit,
            "duplicate_delivery": self.duplicate_delivery,
            "count": self.count,
            "until": self.until.isoformat() if self.until is not None else None,
            "seed": self.seed,
        }


# ------------------------------------------------------------------------------------------- parsing


def _number(value: Any, where: str, lo: float, hi: float, unit: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise FaultError(f"{where}: must be a number of {unit} between {lo:g} and {hi:g}, got {value!r}")
    if not lo <= value <= hi:
        raise FaultError(f"{where}: must be between {lo:g} and {hi:g} {unit}, got {value!r}")
    return float(value)


def _opt_int(value: Any, where: str, minimum: int | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise FaultError(f"{where}: must be a whole number or null, got {value!r}")
    if minimum is not None and value < minimum:
        raise FaultError(f"{where}: must be {minimum} or more, got {value}")
    return value


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise FaultError(f"{where}: must be true or false, got {value!r}")
    return value


def _rule(raw: Any, where: str, rule_id: str, operations: Collection[str]) -> FaultRule:
    if not isinstance(raw, dict):
        raise FaultError(f"{where}: must be a JSON object with fields {', '.join(_FIELDS)}")
    unknown = sorted(set(raw) - set(_FIELDS) - {"id", "used"})
    if unknown:
        raise FaultError(f"{where}.{unknown[0]}: unknown field; known fields: {', '.join(_FIELDS)}")
    operation = raw.get("operation", "*")
    if not isinstance(operation, str) or (operation != "*" and operation not in operations):
        raise FaultError(
            f"{where}.operation: {operation!r} is not a VXP operation; use one of "
            f'{", ".join(sorted(operations))} or "*"'
        )
    system = raw.get("system")
    if system is not None and (not isinstance(system, str) or not system.strip()):
        raise FaultError(
            f"{where}.system: must be a system id (the caller's XroadVnpt-systemid) or null for every "
            f"caller, got {system!r}"
        )
    latency = _number(raw.get("latency_ms", 0), f"{where}.latency_ms", 0, _MAX_LATENCY_MS, "milliseconds")
    error_rate = _number(raw.get("error_rate", 0), f"{where}.error_rate", 0, 1, "(a probability)")
    timeout = _number(raw.get("timeout", 0), f"{where}.timeout", 0, _MAX_TIMEOUT_S, "seconds")
    drop = _bool(raw.get("drop_response_after_commit", False), f"{where}.drop_response_after_commit")
    count = _opt_int(raw.get("count"), f"{where}.count", 1)
    dup_raw = raw.get("duplicate_delivery", False)
    if isinstance(dup_raw, bool):
        duplicate = dup_raw
    else:
        n = _opt_int(dup_raw, f"{where}.duplicate_delivery", 1)
        if count is not None and count != n:
            raise FaultError(
                f"{where}.duplicate_delivery: {n} packages contradicts count={count}; give one of them"
            )
        duplicate, count = True, n
    if duplicate and operation not in ("*", "sendEdoc"):
        raise FaultError(
            f"{where}.duplicate_delivery: applies to accepted packages, so the operation must be "
            f'sendEdoc (or "*"), not {operation}'
        )
    until_raw = raw.get("until")
    until: dt.datetime | None = None
    if until_raw is not None:
        if not isinstance(until_raw, str):
            raise FaultError(f"{where}.until: must be an ISO 8601 time (hub time), got {until_raw!r}")
        try:
            until = parse_timestamp(until_raw).value
        except ValueError as exc:
            raise FaultError(f"{where}.until: {exc}") from None
    seed = _opt_int(raw.get("seed"), f"{where}.seed", None)
    effects = [name for name, on in _effects(error_rate, timeout, drop, duplicate) if on]
    if len(effects) > 1:
        raise FaultError(
            f"{where}: {' and '.join(effects)} cannot be combined in one rule (a request gets one outcome); "
            "write one rule for each"
        )
    if not effects and latency == 0:
        raise FaultError(
            f"{where}: the rule has no effect; set latency_ms, error_rate, timeout, "
            "drop_response_after_commit or duplicate_delivery"
        )
    return FaultRule(
        id=rule_id,
        operation=operation,
        system=system,
        latency_ms=latency,
        error_rate=error_rate,
        timeout=timeout,
        drop_response_after_commit=drop,
        duplicate_delivery=duplicate,
        count=count,
        until=until,
        seed=seed,
    )


def _effects(error_rate: float, timeout: float, drop: bool, duplicate: bool) -> list[tuple[str, bool]]:
    return [
        ("error_rate", error_rate > 0),
        ("timeout", timeout > 0),
        ("drop_response_after_commit", drop),
        ("duplicate_delivery", duplicate),
    ]


def parse_rules(data: Any, *, operations: Collection[str], generation: int) -> list[FaultRule]:
    """Rules from a JSON list (or ``{"rules": [...]}``); ids ``<generation>.<index>``; FaultError if bad."""
    if isinstance(data, dict) and set(data) <= {"rules", "generation"}:
        data = data.get("rules", [])
    if not isinstance(data, list):
        raise FaultError('the body must be a JSON list of rules (or {"rules": [...]})')
    if len(data) > MAX_RULES:
        raise FaultError(f"rules: at most {MAX_RULES} rules, got {len(data)}")
    return [_rule(raw, f"rules[{i}]", f"{generation}.{i}", operations) for i, raw in enumerate(data)]


def seeded_fraction(seed: int, ordinal: int) -> float:
    """A fraction in [0, 1) from ``sha256("<seed>:<ordinal>")`` (first 8 bytes, big-endian)."""
    digest = hashlib.sha256(f"{seed}:{ordinal}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


# ------------------------------------------------------------------------------------------ decisions


@dataclass(slots=True)
class FaultPlan:
    """What to do with one request: ``(rule, ordinal)`` pairs that apply to it."""

    latency: list[tuple[FaultRule, int]] = field(default_factory=list)
    outcome: tuple[FaultRule, int] | None = None  # error, timeout or drop_response
    duplicates: list[FaultRule] = field(default_factory=list)  # candidates, decided after the reply

    @property
    def empty(self) -> bool:
        return not self.latency and self.outcome is None and not self.duplicates


class FaultInjector:
    """Reads the rules (cached by the store), decides per request, and writes rule changes."""

    def __init__(
        self,
        store: Store,
        *,
        operations: Collection[str],
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.store = store
        self.operations = frozenset(operations)
        self._rng = rng
        self._parsed: tuple[Any, int, tuple[FaultRule, ...]] = (None, 0, ())

    # --- reading -------------------------------------------------------------------------------
    def _state(self) -> tuple[int, tuple[FaultRule, ...]]:
        raw = self.store.get_setting(FAULTS_SETTING)
        cached_raw, generation, rules = self._parsed
        if raw is cached_raw:
            return generation, rules
        generation, rules = 0, ()
        if isinstance(raw, dict):
            try:
                generation = int(raw.get("generation", 0))
                rules = tuple(
                    parse_rules(raw.get("rules", []), operations=self.operations, generation=generation)
                )
            except (FaultError, TypeError, ValueError) as exc:
                _log.warning("ignoring unusable fault rules in the store: %s", exc)
                rules = ()
        self._parsed = (raw, generation, rules)
        return generation, rules

    def rules(self) -> tuple[FaultRule, ...]:
        return self._state()[1]

    def describe(self) -> dict[str, Any]:
        """``{"generation", "rules": [rule + "used"]}`` (``used`` null for rules that are not counted)."""
        generation, rules = self._state()
        usage = self.store.fault_usage() if any(r.counted for r in rules) else {}
        return {
            "generation": generation,
            "rules": [{**r.as_dict(), "used": usage.get(r.id, 0) if r.counted else None} for r in rules],
        }

    # --- writing ---------------------------------------------------------------------------------
    def set_rules(self, data: Any) -> list[FaultRule]:
        """Replace every rule (validated first; FaultError naming the field); use counts start at zero."""
        with self.store.transaction() as txn:
            current = txn.get_setting(FAULTS_SETTING)
            generation = (int(current.get("generation", 0)) if isinstance(current, dict) else 0) + 1
            rules = parse_rules(data, operations=self.operations, generation=generation)
            txn.set_setting(FAULTS_SETTING, {"generation": generation, "rules": [r.as_dict() for r in rules]})
            txn.clear_fault_counters()
        return rules

    def clear(self) -> None:
        self.set_rules([])

    # --- deciding -------------------------------------------------------------------------------------
    def take(self, rule: FaultRule) -> int | None:
        """Use the rule once: its ordinal (1-based; 0 when uses are not counted), None when used up."""
        if not rule.counted:
            return 0
        return self.store.take_fault_slot(rule.id, rule.count)

    def fires(self, rule: FaultRule, ordinal: int) -> bool:
        """Whether an applied rule's error draw fails the request (always for non-error kinds)."""
        if rule.error_rate <= 0:
            return True
        if rule.error_rate >= 1:
            return True
        draw = seeded_fraction(rule.seed, ordinal) if rule.seed is not None else self._rng()
        return draw < rule.error_rate

    def plan(self, operation: str, now: dt.datetime, system: str | None = None) -> FaultPlan | None:
        """The faults for one request to ``operation`` from ``system``; None when no rule matches (the
        common case). A rule scoped to a system neither fires for nor is used up by other callers."""
        rules = self.rules()
        if not rules:
            return None
        matching = [r for r in rules if r.matches(operation, now, system)]
        if not matching:
            return None
        plan = FaultPlan()
        for rule in matching:
            if rule.duplicate_delivery:
                if operation == "sendEdoc":
                    plan.duplicates.append(rule)
                continue
            ordinal = self.take(rule)
            if ordinal is None:
                continue
            if rule.latency_ms > 0:
                plan.latency.append((rule, ordinal))
            if rule.kind != "latency" and plan.outcome is None and self.fires(rule, ordinal):
                plan.outcome = (rule, ordinal)
        return None if plan.empty else plan


# ---------------------------------------------------------------------------------------- middleware


class _QuietDrops(logging.Filter):
    """Keeps the deliberate ``DroppedResponse`` out of uvicorn's error log."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, DroppedResponse)


def _install_log_filter() -> None:
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _QuietDrops) for f in logger.filters):
        logger.addFilter(_QuietDrops())


async def close_without_reply(send: Send, why: str) -> NoReturn:
    """End the exchange with no reply at all (see the module docstring); always raises DroppedResponse."""
    try:
        await send({"type": "http.response.start", "status": 200, "headers": [_DROP_HEADER]})
    except Exception as exc:  # the server refused the header before writing anything: the usual case
        raise DroppedResponse(why) from exc
    raise DroppedResponse(why)


def _fault_detail(rule: FaultRule, ordinal: int, operation: str, **extra: Any) -> dict[str, Any]:
    fault: dict[str, Any] = {"rule": rule.id, "kind": rule.kind, "operation": operation}
    if rule.counted:
        fault["ordinal"] = ordinal
    if rule.seed is not None:
        fault["seed"] = rule.seed
    fault.update(extra)
    return fault


def _reply_doc_id(messages: Sequence[Message]) -> str | None:
    """The DocId of a successful sendEdoc reply captured from the app."""
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    try:
        value = json.loads(body)
    except ValueError:
        return None
    if isinstance(value, dict) and value.get("status") == "OK" and value.get("ErrorCode") == "0":
        doc_id = value.get("DocId")
        return doc_id if isinstance(doc_id, str) and doc_id else None
    return None


def _status_of(messages: Sequence[Message]) -> int:
    return next((int(m["status"]) for m in messages if m["type"] == "http.response.start"), 0)


class FaultMiddleware:
    """Pure-ASGI middleware applying the fault rules to the VXP operations (nothing else is touched).

    Cost without rules: a path lookup and one cached settings read per request."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        injector: FaultInjector,
        clock: Callable[[], dt.datetime],
        known_systems: Callable[[], Mapping[str, str]],
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        self.app = app
        self.injector = injector
        self.store = injector.store
        self.clock = clock
        self.known_systems = known_systems
        self._sleep = sleep
        self._paths = {f"/{name}": name for name in injector.operations}
        _install_log_filter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        operation = self._paths.get(scope.get("path", "")) if scope["type"] == "http" else None
        if operation is None or not self.injector.rules():  # the common case: one cached settings read
            await self.app(scope, receive, send)
            return
        now = self.clock()
        system = self._system(scope)
        plan = self.injector.plan(operation, now, system)
        if plan is None:
            await self.app(scope, receive, send)
            return
        if plan.latency:
            total = sum(rule.latency_ms for rule, _ in plan.latency)
            for rule, ordinal in plan.latency:
                self._evidence(
                    now,
                    "fault.latency",
                    0,
                    "",
                    system,
                    _fault_detail(rule, ordinal, operation, kind="latency", latency_ms=rule.latency_ms),
                    f"injected fault: {operation} delayed by {rule.latency_ms:g} ms (rule {rule.id})",
                )
            await self._sleep(total / 1000)
        outcome = plan.outcome
        if outcome is not None and outcome[0].kind == "timeout":
            rule, ordinal = outcome
            self._evidence(
                now,
                operation,
                0,
                "NO_REPLY",
                system,
                _fault_detail(rule, ordinal, operation, timeout=rule.timeout),
                f"injected fault: {operation} held {rule.timeout:g} s, then the connection is closed "
                f"without a reply (rule {rule.id})",
            )
            await self._sleep(rule.timeout)
            await close_without_reply(send, f"injected timeout, rule {rule.id}")
        if outcome is not None and outcome[0].kind == "error":
            rule, ordinal = outcome
            err = HubError(
                ErrorCode.UNAVAILABLE,
                "VPCP19-RES",
                f"the hub is temporarily unavailable (fault injected by the test harness, rule {rule.id}); "
                "retry later",
            )
            self._evidence(
                now,
                operation,
                err.http_status,
                err.code.value,
                system,
                _fault_detail(rule, ordinal, operation, error_rate=rule.error_rate),
                f"injected fault: {operation} answered 503 (rule {rule.id})",
                error=err.describe(),
            )
            await fail_response(err, send_edoc=operation == "sendEdoc")(scope, receive, send)
            return
        drop = outcome if outcome is not None and outcome[0].kind == "drop_response" else None
        if drop is None and not plan.duplicates:
            await self.app(scope, receive, send)
            return
        captured: list[Message] = []

        async def capture(message: Message) -> None:
            captured.append(message)

        await self.app(scope, receive, capture)
        doc_id = _reply_doc_id(captured) if operation == "sendEdoc" else None
        if doc_id is not None and plan.duplicates:
            self._duplicate(plan.duplicates, doc_id, operation, system)
        if drop is not None:
            rule, ordinal = drop
            self._evidence(
                self.clock(),
                "fault.drop_response",
                0,
                "NO_REPLY",
                system,
                _fault_detail(rule, ordinal, operation, dropped_status=_status_of(captured)),
                f"injected fault: the reply to {operation} was dropped after the request was handled "
                f"(rule {rule.id})",
                doc_ids=[doc_id] if doc_id else (),
            )
            await close_without_reply(send, f"injected dropped reply, rule {rule.id}")
        for message in captured:
            await send(message)

    def _duplicate(self, rules: Sequence[FaultRule], doc_id: str, operation: str, system: str | None) -> None:
        applied = [(rule, n) for rule in rules if (n := self.injector.take(rule)) is not None]
        if not applied:
            return
        now = self.clock()
        try:
            with self.store.transaction() as txn:
                copies = txn.duplicate_deliveries(doc_id, now, len(applied))
        except StoreUnavailable:
            _log.warning("duplicate delivery of %s not injected: store unavailable", doc_id)
            return
        rule, ordinal = applied[0]
        self._evidence(
            now,
            "fault.duplicate_delivery",
            0,
            "",
            system,
            _fault_detail(rule, ordinal, operation, rules=[r.id for r, _ in applied], copies=copies),
            f"injected fault: package {doc_id} delivered again to its recipients ({len(copies)} extra "
            f"deliveries, rule {', '.join(r.id for r, _ in applied)})",
            doc_ids=[doc_id, *copies],
        )

    def _system(self, scope: Scope) -> str | None:
        for name, value in scope.get("headers", ()):
            if name.lower() == b"xroadvnpt-systemid":
                claimed = value.decode("latin-1")
                return claimed if claimed in self.known_systems() else None
        return None

    def _evidence(
        self,
        at: dt.datetime,
        operation: str,
        http_status: int,
        error_code: str,
        system: str | None,
        fault: dict[str, Any],
        message: str,
        *,
        doc_ids: Sequence[str] = (),
        error: str | None = None,
    ) -> None:
        detail: dict[str, Any] = {"fault": fault}
        if error is not None:
            detail["error"] = error
        try:
            self.store.add_evidence(
                record(
                    at=at,
                    operation=operation,
                    http_status=http_status,
                    error_code=error_code,
                    system=system,
                    doc_ids=[d for d in doc_ids if d],
                    findings=[Diagnostic(Severity.INFO, "/", "VPCP19-RES", message)],
                    detail=detail,
                )
            )
        except StoreUnavailable:
            _log.warning("evidence of an injected fault lost: store unavailable (%s)", message)
