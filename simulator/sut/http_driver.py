"""``HttpDriver``: drive a SUT through the test-driver HTTP API its vendor implements.

The API is described in ``simulator/sut/driver-openapi.json`` (paths under ``/driver/v1``, JSON bodies
in snake_case, errors as ``{"error": "...", "detail": "..."}``, 501 for an operation the SUT cannot
perform). The HTTP work is done by :class:`simulator.agency.client.DriverClient`; this module maps the
JSON to the dataclasses of :mod:`simulator.sut.driver` and the failures to :class:`DriverError` /
:class:`NotSupported` with messages that say what to check.

The ``*_to_json`` / ``*_from_json`` functions are the wire shapes, usable by a server implementing the
API as well (``*_from_json`` raise :class:`WireError` naming the field).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, Literal, Self, TypeVar

from simulator.agency.client import DriverClient, DriverHttpError, DriverTransportError
from simulator.edxml.model import BusinessDocType, Priority, StatusCode
from simulator.sut.driver import (
    AttachmentDigest,
    AttachmentSpec,
    Capability,
    DriverError,
    DriverInfo,
    LegalValidity,
    NotSupported,
    OutgoingDocument,
    ProbeResult,
    SentRef,
    SutDocumentState,
)

__all__ = [
    "HttpDriver",
    "WireError",
    "info_from_json",
    "info_to_json",
    "outgoing_from_json",
    "outgoing_to_json",
    "probe_from_json",
    "sent_ref_from_json",
    "sent_ref_to_json",
    "state_from_json",
    "state_to_json",
]

_T = TypeVar("_T")
_R = TypeVar("_R")
_OPENAPI = "simulator/sut/driver-openapi.json"


class WireError(ValueError):
    """A JSON body that does not have the driver API's shape; ``field`` is the path (``to[1]``)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}" if field else message)


# ------------------------------------------------------------------------------------------ wire shapes


def outgoing_to_json(document: OutgoingDocument) -> dict[str, Any]:
    """The body of ``POST /driver/v1/documents`` (and ``new`` of a replace)."""
    return {
        "from": document.from_,
        "to": list(document.to),
        "subject": document.subject,
        "priority": int(document.priority),
        "attachments": [
            {
                "name": a.name,
                "content_base64": base64.b64encode(a.data).decode("ascii"),
                **({"content_type": a.content_type} if a.content_type else {}),
            }
            for a in document.attachments
        ],
        "response_for": document.response_for,
        "sign": document.sign,
    }


def outgoing_from_json(data: Any, where: str = "") -> OutgoingDocument:
    obj = _object(data, where)
    to = _list(obj, "to", where)
    attachments: list[AttachmentSpec] = []
    for i, item in enumerate(_list(obj, "attachments", where, default=[])):
        at = _join(where, f"attachments[{i}]")
        a = _object(item, at)
        text = _str(a, "content_base64", at)
        try:
            content = base64.b64decode("".join(text.split()), validate=True)
        except (binascii.Error, ValueError):
            raise WireError(_join(at, "content_base64"), "is not valid base64") from None
        attachments.append(AttachmentSpec(_str(a, "name", at), content, _opt_str(a, "content_type", at)))
    return OutgoingDocument(
        from_=_str(obj, "from", where),
        to=tuple(_as_str(v, _join(where, f"to[{i}]")) for i, v in enumerate(to)),
        subject=_str(obj, "subject", where),
        priority=_enum_int(obj, "priority", where, Priority, default=Priority.NORMAL),
        attachments=tuple(attachments),
        response_for=_opt_str(obj, "response_for", where),
        sign=_bool(obj, "sign", where, default=True),
    )


def sent_ref_to_json(ref: SentRef) -> dict[str, Any]:
    return {"document_id": ref.document_id, "hub_doc_ids": list(ref.hub_doc_ids)}


def sent_ref_from_json(data: Any) -> SentRef:
    obj = _object(data, "")
    document_id = _str(obj, "document_id", "")
    if not document_id.strip():
        raise WireError("document_id", "is empty; the SUT must say which DocumentId it gave the document")
    ids = _list(obj, "hub_doc_ids", "", default=[])
    return SentRef(document_id, tuple(_as_str(v, f"hub_doc_ids[{i}]") for i, v in enumerate(ids)))


def info_to_json(info: DriverInfo) -> dict[str, Any]:
    return {
        "product": info.product,
        "version": info.version,
        "agencies": list(info.agencies),
        "capabilities": sorted(c.value for c in info.capabilities),
    }


def info_from_json(data: Any) -> DriverInfo:
    """Unknown capability names are ignored (a newer driver may know more than this harness)."""
    obj = _object(data, "")
    agencies = _list(obj, "agencies", "")
    caps = _list(obj, "capabilities", "")
    known = {c.value: c for c in Capability}
    return DriverInfo(
        product=_str(obj, "product", ""),
        version=_str(obj, "version", ""),
        agencies=tuple(_as_str(v, f"agencies[{i}]") for i, v in enumerate(agencies)),
        capabilities=frozenset(
            known[v] for v in (_as_str(c, f"capabilities[{i}]") for i, c in enumerate(caps)) if v in known
        ),
    )


def state_to_json(state: SutDocumentState) -> dict[str, Any]:
    """The reply of ``GET /driver/v1/documents/{document_id}``."""
    return {
        "document_id": state.document_id,
        "agency": state.agency,
        "direction": state.direction,
        "status": state.status.value if state.status is not None else None,
        "legal_validity": state.legal_validity.value,
        "active": state.active,
        "priority": int(state.priority) if state.priority is not None else None,
        "subject": state.subject,
        "business": int(state.business),
        "attachments": [{"name": a.name, "sha256": a.sha256, "size": a.size} for a in state.attachments],
        "statuses_from_receivers": {k: v.value for k, v in state.statuses_from_receivers.items()},
        "updated_at": state.updated_at.isoformat() if state.updated_at is not None else None,
    }


def state_from_json(data: Any, *, document_id: str = "", agency: str = "") -> SutDocumentState:
    """``document_id`` / ``agency``: defaults when the reply leaves them out (they are in the URL)."""
    obj = _object(data, "")
    direction = obj.get("direction")
    if direction not in ("received", "sent"):
        raise WireError("direction", f'must be "received" or "sent", got {direction!r}')
    statuses: dict[str, StatusCode] = {}
    raw_statuses = obj.get("statuses_from_receivers") or {}
    if not isinstance(raw_statuses, dict):
        raise WireError(
            "statuses_from_receivers", f"must be an object {{agency: status}}, got {raw_statuses!r}"
        )
    for code, value in raw_statuses.items():
        statuses[str(code)] = _status(value, f"statuses_from_receivers.{code}")
    attachments = []
    for i, item in enumerate(_list(obj, "attachments", "", default=[])):
        at = f"attachments[{i}]"
        a = _object(item, at)
        size = a.get("size")
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise WireError(f"{at}.size", f"must be a whole number of bytes, got {size!r}")
        attachments.append(AttachmentDigest(_str(a, "name", at), _str(a, "sha256", at).lower(), size))
    status = obj.get("status")
    priority = obj.get("priority")
    return SutDocumentState(
        document_id=_opt_str(obj, "document_id", "") or document_id,
        agency=_opt_str(obj, "agency", "") or agency,
        direction=direction,
        status=None if status is None else _status(status, "status"),
        legal_validity=_enum_str(obj, "legal_validity", LegalValidity),
        active=_bool(obj, "active", ""),
        priority=None if priority is None else _enum_int(obj, "priority", "", Priority),
        subject=_opt_str(obj, "subject", ""),
        business=_enum_int(obj, "business", "", BusinessDocType, default=BusinessDocType.NEW),
        attachments=tuple(attachments),
        statuses_from_receivers=statuses,
        updated_at=_timestamp(obj.get("updated_at"), "updated_at"),
    )


def probe_from_json(data: Any) -> ProbeResult:
    obj = _object(data, "")
    return ProbeResult(connected=_bool(obj, "connected", ""), detail=_opt_str(obj, "detail", "") or "")


# ------------------------------------------------------------------------------------------ the driver


class HttpDriver:
    """:class:`~simulator.sut.driver.SutDriver` over a vendor's test-driver HTTP API.

    ``agencies``: the agency codes sut.toml says the SUT hosts; :meth:`check` compares them with what the
    driver reports. ``client``: an already-built :class:`DriverClient` (tests; not closed by close()).
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 10.0,
        agencies: Sequence[str] = (),
        client: DriverClient | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.agencies = tuple(agencies)
        self._owns_client = client is None
        self._client = client or DriverClient(self.url, timeout=timeout)

    def __repr__(self) -> str:
        return f"HttpDriver({self.url!r})"

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def check(self) -> DriverInfo:
        """Call ``info`` and check the reply: the driver hosts exactly the agencies of sut.toml."""
        info = self.info()
        if self.agencies and set(info.agencies) != set(self.agencies):
            missing = sorted(set(self.agencies) - set(info.agencies))
            extra = sorted(set(info.agencies) - set(self.agencies))
            parts = []
            if missing:
                parts.append(f"missing from the driver: {', '.join(missing)}")
            if extra:
                parts.append(f"not in sut.toml: {', '.join(extra)}")
            raise DriverError(
                f"the SUT's driver at {self.url} reports agencies [{', '.join(info.agencies) or 'none'}] but "
                f"sut.toml's hub.agencies lists [{', '.join(self.agencies)}] ({'; '.join(parts)}); make them "
                "the same agency codes (QD28-10.2.a)"
            )
        return info

    # ------------------------------------------------------------------ SutDriver

    def info(self) -> DriverInfo:
        return self._run("info", None, self._client.info, info_from_json)

    def send_document(self, document: OutgoingDocument) -> SentRef:
        body = outgoing_to_json(document)
        return self._run("send", Capability.SEND, lambda: self._client.send(body), sent_ref_from_json)

    def recall(
        self, document_id: str, *, agency: str, form: Literal["package", "status"], reason: str
    ) -> None:
        body = {"form": form, "reason": reason}
        self._run(
            "recall",
            Capability.RECALL,
            lambda: self._client.recall(document_id, agency=agency, body=body),
            _ignore,
        )

    def update(
        self,
        document_id: str,
        *,
        agency: str,
        reason: str,
        subject: str | None = None,
        add_receivers: Sequence[str] = (),
        remove_receivers: Sequence[str] = (),
    ) -> None:
        body: dict[str, Any] = {
            "reason": reason,
            "add_receivers": list(add_receivers),
            "remove_receivers": list(remove_receivers),
        }
        if subject is not None:
            body["subject"] = subject
        self._run(
            "update",
            Capability.UPDATE,
            lambda: self._client.update(document_id, agency=agency, body=body),
            _ignore,
        )

    def replace(self, document_id: str, *, agency: str, reason: str, new: OutgoingDocument) -> SentRef:
        body = {"reason": reason, "new": outgoing_to_json(new)}
        return self._run(
            "replace",
            Capability.REPLACE,
            lambda: self._client.replace(document_id, agency=agency, body=body),
            sent_ref_from_json,
        )

    def advance(
        self, document_id: str, *, agency: str, status: StatusCode, description: str | None = None
    ) -> None:
        body: dict[str, Any] = {"status": StatusCode(status).value}
        if description is not None:
            body["description"] = description
        self._run(
            "advance",
            Capability.ADVANCE,
            lambda: self._client.advance(document_id, agency=agency, body=body),
            _ignore,
        )

    def refuse(self, document_id: str, *, agency: str, reason: str) -> None:
        self._run(
            "refuse",
            Capability.REFUSE,
            lambda: self._client.refuse(document_id, agency=agency, body={"reason": reason}),
            _ignore,
        )

    def answer_recall(self, document_id: str, *, agency: str, agree: bool, reason: str | None = None) -> None:
        body: dict[str, Any] = {"agree": agree}
        if reason is not None:
            body["reason"] = reason
        self._run(
            "answer-recall",
            Capability.ANSWER_RECALL,
            lambda: self._client.answer_recall(document_id, agency=agency, body=body),
            _ignore,
        )

    def query(self, document_id: str, *, agency: str) -> SutDocumentState | None:
        reply = self._run(
            "query", Capability.QUERY, lambda: self._client.query(document_id, agency=agency), _same
        )
        if reply is None:
            return None
        return self._parse(
            "query", reply, lambda d: state_from_json(d, document_id=document_id, agency=agency)
        )

    def sync_clock(self) -> None:
        self._run("sync-clock", Capability.SYNC_CLOCK, self._client.sync_clock, _ignore)

    def probe_hub(self, url: str) -> ProbeResult:
        return self._run(
            "probe-hub", Capability.PROBE_HUB, lambda: self._client.probe_hub(url), probe_from_json
        )

    def pause_intake(self, paused: bool) -> None:
        self._run("pause-intake", Capability.PAUSE_INTAKE, lambda: self._client.pause_intake(paused), _ignore)

    # ------------------------------------------------------------------ error mapping

    def _run(
        self,
        op: str,
        capability: Capability | None,
        call: Callable[[], _R],
        parse: Callable[[_R], _T],
    ) -> _T:
        try:
            reply = call()
        except DriverTransportError as exc:
            raise self._transport_error(op, exc) from None
        except DriverHttpError as exc:
            raise self._http_error(op, capability, exc) from None
        return self._parse(op, reply, parse)

    def _parse(self, op: str, reply: _R, parse: Callable[[_R], _T]) -> _T:
        try:
            return parse(reply)
        except WireError as exc:
            raise DriverError(
                f"the SUT's driver at {self.url} answered '{op}' with a reply of the wrong shape: {exc} "
                f"(see {_OPENAPI})"
            ) from None

    def _transport_error(self, op: str, exc: DriverTransportError) -> DriverError:
        if exc.kind == "unreachable":
            return DriverError(
                f"the SUT's test driver at {self.url} is unreachable ({exc.cause}): is the vendor's driver "
                "running, and is driver.url in sut.toml right?"
            )
        if exc.kind == "timeout":
            return DriverError(
                f"the SUT's test driver at {self.url} did not answer '{op}' ({exc.method} {exc.url}) within "
                f"{self.timeout:g} s; is it stuck, or should driver.timeout_s in sut.toml be longer?"
            )
        return DriverError(
            f"the SUT's test driver at {self.url} answered '{op}' with something that is not the driver "
            f"API's JSON ({exc.cause}); is driver.url the base URL of the driver API (paths /driver/v1/…)?"
        )

    def _http_error(self, op: str, capability: Capability | None, exc: DriverHttpError) -> DriverError:
        said = ": ".join(p for p in (exc.error, exc.detail) if p)
        if exc.status == 501:
            cap = _capability(exc.capability) or capability
            if cap is not None:
                return NotSupported(cap, said or f"the driver answered HTTP 501 to {exc.method} {exc.url}")
        hint = (
            "; is driver.url the base URL of the driver API (paths /driver/v1/…)?"
            if exc.status in (404, 405)
            else ""
        )
        if not exc.error:
            return DriverError(
                f"the SUT's driver at {self.url} answered '{op}' ({exc.method} {exc.url}) with HTTP "
                f'{exc.status} without the JSON error body {{"error", "detail"}} '
                f"({exc.body or 'empty'}){hint}"
            )
        if exc.status >= 500:
            return DriverError(f"the SUT's driver failed on '{op}' (HTTP {exc.status}): {said}")
        return DriverError(f"the SUT's driver refused '{op}' (HTTP {exc.status}): {said}{hint}")


def _ignore(_: Any) -> None:
    return None


def _same(value: _T) -> _T:
    return value


def _capability(name: str) -> Capability | None:
    try:
        return Capability(name)
    except ValueError:
        return None


# ------------------------------------------------------------------------------------------ field readers


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _object(data: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(data, dict):
        raise WireError(where, f"must be a JSON object, got {type(data).__name__}")
    return data


def _as_str(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise WireError(where, f"must be a string, got {value!r}")
    return value


def _str(obj: Mapping[str, Any], key: str, where: str) -> str:
    if key not in obj:
        raise WireError(_join(where, key), "missing")
    return _as_str(obj[key], _join(where, key))


def _opt_str(obj: Mapping[str, Any], key: str, where: str) -> str | None:
    value = obj.get(key)
    return None if value is None else _as_str(value, _join(where, key))


def _bool(obj: Mapping[str, Any], key: str, where: str, default: bool | None = None) -> bool:
    value = obj.get(key, default)
    if not isinstance(value, bool):
        raise WireError(
            _join(where, key), "missing" if value is None else f"must be true or false, got {value!r}"
        )
    return value


_MISSING: Any = object()


def _list(obj: Mapping[str, Any], key: str, where: str, default: Any = _MISSING) -> list[Any]:
    value = obj.get(key, default)
    if value is _MISSING:
        raise WireError(_join(where, key), "missing")
    if not isinstance(value, list):
        raise WireError(_join(where, key), f"must be a list, got {value!r}")
    return value


_E = TypeVar("_E", Priority, BusinessDocType)


def _enum_int(obj: Mapping[str, Any], key: str, where: str, kind: type[_E], default: Any = _MISSING) -> _E:
    value = obj.get(key, default)
    if value is _MISSING:
        raise WireError(_join(where, key), "missing")
    if isinstance(value, kind):
        return value
    allowed = ", ".join(str(int(m)) for m in kind)
    if isinstance(value, bool) or not isinstance(value, int):
        raise WireError(_join(where, key), f"must be one of the integers {allowed}, got {value!r}")
    try:
        return kind(value)
    except ValueError:
        raise WireError(_join(where, key), f"must be one of {allowed}, got {value}") from None


def _enum_str(obj: Mapping[str, Any], key: str, kind: type[LegalValidity]) -> LegalValidity:
    value = obj.get(key)
    if isinstance(value, str) and value in kind._value2member_map_:
        return kind(value)
    allowed = ", ".join(repr(m.value) for m in kind)
    raise WireError(key, "missing" if value is None else f"must be one of {allowed}, got {value!r}")


def _status(value: Any, where: str) -> StatusCode:
    try:
        return StatusCode(value)
    except ValueError:
        allowed = ", ".join(c.value for c in StatusCode)
        raise WireError(
            where, f'must be a status code string ("01"…) among {allowed}, got {value!r}'
        ) from None


def _timestamp(value: Any, where: str) -> dt.datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise WireError(where, f"must be an ISO 8601 timestamp string, got {value!r}")
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        raise WireError(
            where, f"must be an ISO 8601 timestamp such as 2026-11-23T09:15:00+07:00, got {value!r}"
        ) from None
