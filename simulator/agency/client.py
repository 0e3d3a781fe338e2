"""A hub client that speaks the VXP protocol exactly as the official Java client SDK 2.0.1 does.

Used by the fake agencies, the reference QLVB and the protocol tests; it is also an independent
check of the hub's server side (it never imports ``simulator.hub``). The only module that imports
httpx. Signing is in :mod:`simulator.agency.signing`, reply shapes in :mod:`simulator.agency.models`.

Wire shape (spec/vxp-protocol.md): ``POST <endpoint>/<operation>`` (``GET`` for downloadEdoc), every
parameter as a signed ``XroadVnpt-<k>`` header, no query string; JSON calls send
``Accept-Encoding: gzip,deflate``; calls with a non-empty body other than sendEdoc send
``Expect: 100-continue``; sendEdoc sends ``package + CRLF`` as ``application/octet-stream`` and no
``Accept-Encoding``. Only these headers go out (plus Host/Content-Length): no httpx defaults, also
not those of a passed-in ``http_client``. The HTTP status is ignored, only the JSON envelope counts
(like the SDK); sendEdoc's reply is read as US-ASCII, the others as UTF-8.

Errors: ``VxpError`` when the hub answers ``FAIL`` (or an ``ErrorCode`` other than ``"0"``),
``VxpTransportError`` when no usable answer came (network, timeout, not JSON, envelope keys missing
or ``null``, reply fields of the wrong shape). Bad arguments raise ``ValueError``.

``sdk_quirks=True`` reproduces what the SDK does wrong, to test the hub's tolerance: one timestamp
computed at construction and reused forever; one signed map for the client's whole life, so every
key ever given comes back in later calls (``hash-file``, ``docId``, ``status``, ``description``…, a
stale ``docId`` even filters a later getSentEdocList); the document id signed and sent under both
spellings, ``XroadVnpt-docId`` and ``XroadVnpt-docid`` (same value, two header lines); non-ASCII
header values truncated to one byte per character (so the hub's HMAC check fails, VXP-ASCII)
instead of being refused. Quirks mode keeps state: one client per thread.
"""

from __future__ import annotations

import base64
import binascii
import json
import ssl
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Literal, Self

import httpx

from simulator.agency.models import (
    AgencyItem,
    AgencyQD20Item,
    AgencyRegistration,
    ReceivedItem,
    ReplyItem,
    ReplyShapeError,
    SentItem,
    SyncUnitItem,
    parse_items,
)
from simulator.agency.signing import (
    HEADER_PREFIX,
    SDK_USER_AGENT,
    check_param_names,
    hash_file,
    non_ascii_values,
    sdk_timestamp,
    sdk_wire_bytes,
    sign_headers,
    sign_map,
)
from simulator.edxml.vntime import VN_TZ

__all__ = ["VxpClient", "VxpError", "VxpTransportError"]

MessageType = Literal["edoc", "status"]
_JSON = "application/json"
_OCTETS = "application/octet-stream"
_EMPTY = b""
_EMPTY_OBJECT = b"{}"
_SNIPPET = 120


class VxpError(Exception):
    """The hub answered with the error envelope (``status`` not ``OK`` or ``ErrorCode`` not ``"0"``)."""

    def __init__(
        self, operation: str, error_code: str, error_desc: str, http_status: int | None = None
    ) -> None:
        self.operation = operation
        self.error_code = error_code
        self.error_desc = error_desc
        self.http_status = http_status
        http = f", HTTP {http_status}" if http_status is not None else ""
        super().__init__(
            f"{operation}: the hub refused the call (ErrorCode {error_code}{http}): {error_desc}"
        )


class VxpTransportError(Exception):
    """No usable answer: network error, timeout, or a reply that is not the protocol's JSON envelope."""

    def __init__(self, operation: str, cause: str) -> None:
        self.operation = operation
        self.cause = cause
        super().__init__(f"{operation}: {cause}")


def _default_clock() -> datetime:
    return datetime.now(VN_TZ)


def _snippet(data: bytes) -> str:
    text = data[:_SNIPPET].decode("utf-8", errors="replace")
    return repr(text) + ("…" if len(data) > _SNIPPET else "")


class _HttpOwner:
    """The httpx client a lienthong client uses: its own (closed by ``close()``) or a borrowed one."""

    def _init_http(
        self, http_client: httpx.Client | None, *, timeout: float, verify: bool | str | ssl.SSLContext
    ) -> None:
        self._owns_http = http_client is None
        if http_client is None:
            trust: bool | ssl.SSLContext = (
                ssl.create_default_context(cafile=verify) if isinstance(verify, str) else verify
            )
            http_client = httpx.Client(timeout=timeout, verify=trust)
        self._http = http_client

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._owns_http:
            self._http.close()


class VxpClient(_HttpOwner):
    """One connected QLVB platform (system id + secret) talking to one hub endpoint."""

    def __init__(
        self,
        endpoint: str,
        system_id: str,
        secret: str,
        *,
        timeout: float = 10.0,
        http_client: httpx.Client | None = None,
        verify: bool | str | ssl.SSLContext = True,
        sdk_quirks: bool = False,
        clock: Callable[[], datetime] | None = None,
        retries: int = 0,
        omit_hash_file: bool = False,
    ) -> None:
        """``http_client``: use this client (e.g. ``starlette.testclient.TestClient(app)``; not closed by
        ``close()``; ``verify`` is then ignored). ``verify``: TLS trust, ``True``, ``False``, a CA bundle
        path or an ``ssl.SSLContext``. ``retries``: extra attempts of a POST after a transport error,
        with the very same request (as the SDK does, so the hub sees a duplicate submission).
        ``omit_hash_file``: upload packages without XroadVnpt-hash-file, a deviation from the SDK that the
        hub accepts in lenient mode with a VXP-HASH finding (the reference QLVB's ``omits-hash-file``
        defect)."""
        if not endpoint.startswith(("http://", "https://")):
            raise ValueError(f"endpoint {endpoint!r} must be an http:// or https:// URL of the hub")
        if retries < 0:
            raise ValueError(f"retries must be 0 or more, got {retries}")
        if not system_id or not secret:
            raise ValueError("system_id and secret must not be empty (VXP-AUTH)")
        self.endpoint = endpoint.rstrip("/")
        self.system_id = system_id
        self._secret = secret
        self.timeout = timeout
        self.sdk_quirks = sdk_quirks
        self.retries = retries
        self.omit_hash_file = omit_hash_file
        self._clock = clock or _default_clock
        self._init_http(http_client, timeout=timeout, verify=verify)
        # sdk_quirks: the SDK's service object — one timestamp and one map for the client's whole life.
        self._quirk_map: dict[str, str] = {}
        if sdk_quirks:
            self._quirk_map = {"timestamp": sdk_timestamp(self._clock()), "systemid": system_id}

    def __repr__(self) -> str:
        return f"VxpClient({self.endpoint!r}, {self.system_id!r}, sdk_quirks={self.sdk_quirks})"

    # ------------------------------------------------------------------ operations

    def send_edoc(
        self,
        package: bytes,
        *,
        from_: str,
        messagetype: MessageType = "edoc",
        to: Sequence[str] | None = None,
    ) -> str:
        """Upload a package (document or status); return the hub's DocId."""
        _check_messagetype(messagetype)
        params = {"from": from_, "servicetype": "eDoc", "messagetype": messagetype}
        if to:
            params["to"] = json.dumps([{"code": code} for code in to], separators=(",", ":"))
        file_hash = None if self.omit_hash_file else hash_file(package)
        response = self._request(
            "sendEdoc", params, body=package + b"\r\n", content_type=_OCTETS, hash_file=file_hash
        )
        env = self._envelope("sendEdoc", response, ascii_reply=True)
        doc_id = env.get("DocId")
        if not isinstance(doc_id, str):
            raise VxpTransportError(
                "sendEdoc",
                f"the reply has no DocId string (got {doc_id!r}); the SDK then loses ErrorCode "
                f"{env['ErrorCode']!r} / ErrorDesc {env['ErrorDesc']!r} (VXP-ENVELOPE)",
            )
        self._raise_on_fail("sendEdoc", env, response)
        if not doc_id:
            raise VxpTransportError("sendEdoc", "the hub answered OK with an empty DocId (VXP-ENVELOPE)")
        return doc_id

    def get_received_edoc_list(self, messagetype: MessageType = "edoc") -> list[ReceivedItem]:
        _check_messagetype(messagetype)
        env = self._json_call(
            "getReceivedEdocList", {"servicetype": "eDoc", "messagetype": messagetype}, _EMPTY
        )
        return self._items("getReceivedEdocList", env, ReceivedItem)

    def get_edoc(self, doc_id: str) -> bytes:
        """Fetch one received package (the reply's ``data`` is base64 of the package bytes)."""
        env = self._json_call("getEdoc", self._doc_id_params(doc_id), _EMPTY_OBJECT)
        data = env.get("data")
        if not isinstance(data, str):
            raise VxpTransportError("getEdoc", f"reply field 'data' should be base64 text, got {data!r}")
        try:
            return base64.b64decode("".join(data.split()), validate=True)
        except (binascii.Error, ValueError):
            raise VxpTransportError(
                "getEdoc", f"reply field 'data' is not valid base64 (starts {data[:40]!r})"
            ) from None

    def download_edoc(self, doc_id: str, *, anonymous: bool = False) -> bytes:
        """GET the raw package bytes. ``anonymous=True``: the SDK's variant without any authentication
        header, which the hub refuses unless its legacy switch is on (VXP-ANON). The spec says it sends
        "just the docId"; it is sent as a plain ``docId`` header so that no ``XroadVnpt-`` header at all
        is present (that is how the hub recognises the variant)."""
        if anonymous:
            headers: dict[str, str | bytes] = {"User-Agent": SDK_USER_AGENT, "docId": doc_id}
            response = self._send("downloadEdoc", "GET", headers, None)
        else:
            response = self._request("downloadEdoc", self._doc_id_params(doc_id), body=None, method="GET")
        content = response.content
        looks_json = "json" in response.headers.get("content-type", "") or content.lstrip()[:1] == b"{"
        if looks_json:
            env = self._envelope("downloadEdoc", response)
            self._raise_on_fail("downloadEdoc", env, response)
            raise VxpTransportError(
                "downloadEdoc", "the hub answered a JSON envelope with status OK instead of the package bytes"
            )
        if response.status_code >= 400:
            raise VxpTransportError(
                "downloadEdoc",
                f"HTTP {response.status_code} without the JSON error envelope (VXP-ENVELOPE): "
                f"{_snippet(content)}",
            )
        return content

    def update_status(
        self, doc_id: str, status: Literal["done", "fail", "processing"], description: str | None = None
    ) -> None:
        """Transport acknowledgement of a received item (not the edXML business status), VXP-ACK."""
        if status not in ("done", "fail", "processing"):
            raise ValueError(f"update_status: status must be 'done', 'fail' or 'processing', got {status!r}")
        params = self._doc_id_params(doc_id)
        params["status"] = status
        if description is not None:
            params["description"] = description
        self._json_call("updateStatus", params, _EMPTY_OBJECT)

    def get_sent_edoc_list(
        self, messagetype: MessageType = "edoc", doc_id: str | None = None
    ) -> list[SentItem]:
        _check_messagetype(messagetype)
        params = {"servicetype": "eDoc", "messagetype": messagetype}
        if doc_id is not None:
            params.update(self._doc_id_params(doc_id))
        env = self._json_call("getSentEdocList", params, _EMPTY)
        return self._items("getSentEdocList", env, SentItem)

    def count_receive_edoc(self) -> int:
        return self._count("countReceiveEdoc", "edoc")

    def count_receive_status(self) -> int:
        return self._count("countReceiveStatus", "status")

    def get_agencies_list(self) -> list[AgencyItem]:
        env = self._json_call("getAgenciesList", {}, _EMPTY)
        return self._items("getAgenciesList", env, AgencyItem)

    def get_agencies_list_qd20(self, level: int | str) -> list[AgencyQD20Item]:
        env = self._json_call("getAgenciesListQD20", {"level": str(level)}, _EMPTY)
        return self._items("getAgenciesListQD20", env, AgencyQD20Item)

    def get_synchronize_unit(self) -> list[SyncUnitItem]:
        env = self._json_call("getSynchronizeUnit", {}, _EMPTY)
        return self._items("getSynchronizeUnit", env, SyncUnitItem)

    def register_agency(self, agency: AgencyRegistration) -> None:
        body = json.dumps(dict(agency), separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        self._json_call("registerAgency", {}, body)

    def delete_agency(self, code: str) -> None:
        self._json_call("deleteAgency", {"AgencyCode": code}, _EMPTY_OBJECT)

    def call(
        self,
        operation: str,
        params: Mapping[str, str],
        *,
        body: bytes = b"",
        content_type: str = _JSON,
        method: str = "POST",
        extra_headers: Mapping[str, str | bytes | None] | None = None,
        hash_file: str | None = None,
    ) -> httpx.Response:
        """Raw access for negative tests: sign ``params`` as usual, then apply ``extra_headers`` (a value
        of ``None`` removes that header) and return the response unparsed. Transport errors still
        raise ``VxpTransportError``; ``retries`` applies to POST."""
        return self._request(
            operation,
            params,
            body=body if method.upper() != "GET" or body else None,
            content_type=content_type,
            method=method.upper(),
            hash_file=hash_file,
            extra_headers=extra_headers,
        )

    # ------------------------------------------------------------------ internals

    def _doc_id_params(self, doc_id: str) -> dict[str, str]:
        if self.sdk_quirks:
            return {"docId": doc_id, "docid": doc_id}
        return {"docId": doc_id}

    def _count(self, operation: str, messagetype: str) -> int:
        env = self._json_call(operation, {"servicetype": "eDoc", "messagetype": messagetype}, _EMPTY_OBJECT)
        count = env.get("count")
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise VxpTransportError(operation, f"reply field 'count' should be a whole number, got {count!r}")
        return count

    @staticmethod
    def _items(operation: str, env: dict[str, Any], item_type: type[ReplyItem]) -> list[ReplyItem]:
        try:
            return parse_items(operation, env.get("data"), item_type)
        except ReplyShapeError as exc:
            raise VxpTransportError(operation, str(exc).removeprefix(f"{operation}: ")) from None

    def _json_call(self, operation: str, params: Mapping[str, str], body: bytes) -> dict[str, Any]:
        response = self._request(operation, params, body=body)
        env = self._envelope(operation, response)
        self._raise_on_fail(operation, env, response)
        return env

    def _signed_headers(
        self, operation: str, params: Mapping[str, str], content_type: str, file_hash: str | None
    ) -> dict[str, str | bytes]:
        if self.sdk_quirks:
            check_param_names(params)
            self._quirk_map.update(params)
            self._quirk_map["Content-Type"] = content_type
            if file_hash is not None:
                self._quirk_map["hash-file"] = file_hash
            signed = sign_map(self._quirk_map, secret=self._secret)
        else:
            signed = sign_headers(
                params,
                system_id=self.system_id,
                secret=self._secret,
                timestamp=sdk_timestamp(self._clock()),
                content_type=content_type,
                hash_file=file_hash,
            )
        bad = non_ascii_values(signed)
        if bad and not self.sdk_quirks:
            names = [n for n in bad if n != f"{HEADER_PREFIX}sign-header"]
            raise ValueError(
                f"{operation}: the value of {', '.join(names)} has non-ASCII characters; the hub "
                "protocol carries parameters as ASCII header values (VXP-ASCII): transliterate them or "
                "leave them out"
            )
        return {name: sdk_wire_bytes(value) if name in bad else value for name, value in signed.items()}

    def _request(
        self,
        operation: str,
        params: Mapping[str, str],
        *,
        body: bytes | None,
        content_type: str = _JSON,
        method: str = "POST",
        hash_file: str | None = None,
        extra_headers: Mapping[str, str | bytes | None] | None = None,
    ) -> httpx.Response:
        headers = self._signed_headers(operation, params, content_type, hash_file)
        if operation != "sendEdoc":
            headers["Accept-Encoding"] = "gzip,deflate"
            if body:
                headers["Expect"] = "100-continue"
        return self._send(operation, method, headers, body, extra_headers)

    def _send(
        self,
        operation: str,
        method: str,
        headers: Mapping[str, str | bytes],
        body: bytes | None,
        extra_headers: Mapping[str, str | bytes | None] | None = None,
    ) -> httpx.Response:
        # The request is built here, not by httpx.Client.build_request, so that exactly the SDK's headers
        # go out (no client defaults such as Accept or python-httpx's User-Agent) and byte values stay as
        # they are (build_request re-encodes merged headers as UTF-8). httpx adds Host and Content-Length.
        # Names are kept as given: in quirks mode XroadVnpt-docId and XroadVnpt-docid both go out.
        pairs = list(headers.items())
        for name, extra in (extra_headers or {}).items():
            pairs = [(n, v) for n, v in pairs if n.lower() != name.lower()]
            if extra is not None:
                pairs.append((name, extra))
        raw = [
            (name.encode("ascii"), value if isinstance(value, bytes) else value.encode("utf-8"))
            for name, value in pairs
        ]
        request = httpx.Request(
            method,
            f"{self.endpoint}/{operation}",
            headers=raw,
            content=body,
            extensions={"timeout": httpx.Timeout(self.timeout).as_dict()},
        )
        attempts = 1 + (self.retries if method == "POST" else 0)
        cause = ""
        for _ in range(attempts):
            try:
                return self._http.send(request)
            except httpx.TimeoutException as exc:
                cause = f"no answer from {request.url} within {self.timeout:g} s ({type(exc).__name__})"
            except httpx.HTTPError as exc:
                cause = f"cannot reach {request.url}: {type(exc).__name__}: {exc}"
        tries = f" (after {attempts} attempts)" if attempts > 1 else ""
        raise VxpTransportError(operation, cause + tries)

    def _envelope(
        self, operation: str, response: httpx.Response, *, ascii_reply: bool = False
    ) -> dict[str, Any]:
        raw = response.content
        try:
            # The SDK reads sendEdoc's reply as US-ASCII (non-ASCII bytes become U+FFFD), the others as UTF-8.
            text = raw.decode("ascii", errors="replace") if ascii_reply else raw.decode("utf-8")
            value = json.loads(text)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise VxpTransportError(
                operation,
                f"HTTP {response.status_code} reply is not the JSON envelope (VXP-ENVELOPE): {_snippet(raw)}",
            ) from None
        if not isinstance(value, dict):
            raise VxpTransportError(
                operation, f"the reply is JSON but not an object (VXP-ENVELOPE): {_snippet(raw)}"
            )
        for key in ("status", "ErrorCode", "ErrorDesc"):
            if value.get(key) is None:
                missing = "is null" if key in value else "is missing"
                raise VxpTransportError(
                    operation,
                    f"the reply's envelope key {key!r} {missing}; it must always be present and never null "
                    f"(VXP-ENVELOPE): {_snippet(raw)}",
                )
        if not isinstance(value["ErrorCode"], str | int) or isinstance(value["ErrorCode"], bool):
            raise VxpTransportError(
                operation, f'the reply\'s ErrorCode should be text such as "0", got {value["ErrorCode"]!r}'
            )
        return value

    @staticmethod
    def _raise_on_fail(operation: str, env: dict[str, Any], response: httpx.Response) -> None:
        if env["status"] != "OK" or str(env["ErrorCode"]) != "0":
            raise VxpError(operation, str(env["ErrorCode"]), str(env["ErrorDesc"]), response.status_code)


def _check_messagetype(messagetype: str) -> None:
    if messagetype not in ("edoc", "status"):
        raise ValueError(f"messagetype must be 'edoc' or 'status', got {messagetype!r}")


# ====================================================================================================
# The SUT test-driver API client (simulator/sut/driver-openapi.json). Lives here because this is the
# only module that imports httpx; simulator.sut.http_driver maps its JSON to the driver dataclasses.

__all__ += ["DriverClient", "DriverHttpError", "DriverTransportError", "driver_path"]

DRIVER_PREFIX = "/driver/v1"


class DriverHttpError(Exception):
    """The driver answered an HTTP error status. ``error``/``detail``/``capability`` come from its JSON
    error body (``{"error": "...", "detail": "..."}``; 501 adds ``"capability"``), empty when absent."""

    def __init__(
        self,
        method: str,
        url: str,
        status: int,
        *,
        error: str = "",
        detail: str = "",
        capability: str = "",
        body: str = "",
    ) -> None:
        self.method = method
        self.url = url
        self.status = status
        self.error = error
        self.detail = detail
        self.capability = capability
        self.body = body
        said = ": ".join(p for p in (error, detail) if p) or f"no JSON error body ({body or 'empty'})"
        super().__init__(f"{method} {url}: HTTP {status}: {said}")


class DriverTransportError(Exception):
    """No usable answer. ``kind``: ``unreachable`` (connection refused, DNS, TLS), ``timeout``, or
    ``bad-reply`` (a success status whose body is not a JSON object)."""

    def __init__(
        self, method: str, url: str, cause: str, kind: Literal["unreachable", "timeout", "bad-reply"]
    ) -> None:
        self.method = method
        self.url = url
        self.cause = cause
        self.kind = kind
        super().__init__(f"{method} {url}: {cause}")


def driver_path(*segments: str) -> str:
    """``/driver/v1/<seg>/<seg>…``, each segment percent-encoded as UTF-8 with nothing kept: DocumentIds
    hold ``/`` and ``,`` (``000.00.00.G22,2026/11/23,7816/VPCP-TTĐT`` →
    ``000.00.00.G22%2C2026%2F11%2F23%2C7816%2FVPCP-TT%C4%90T``)."""
    from urllib.parse import quote

    return DRIVER_PREFIX + "".join("/" + quote(s, safe="") for s in segments)


class DriverClient(_HttpOwner):
    """Thin synchronous client of a SUT's test-driver API: one method per operation, JSON in and out.

    Replies are returned as decoded JSON objects; an HTTP error status raises :class:`DriverHttpError`,
    no answer or a non-JSON answer :class:`DriverTransportError`. Nothing is retried: the driver's
    operations are not idempotent (a retried send could send twice)."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 10.0,
        http_client: httpx.Client | None = None,
        verify: bool | str | ssl.SSLContext = True,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"driver URL {base_url!r} must be an http:// or https:// URL")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._init_http(http_client, timeout=timeout, verify=verify)

    def __repr__(self) -> str:
        return f"DriverClient({self.base_url!r})"

    # ------------------------------------------------------------------ operations (table order)

    def info(self) -> dict[str, Any]:
        return self.call("GET", driver_path("info"))

    def send(self, body: Mapping[str, Any]) -> dict[str, Any]:
        return self.call("POST", driver_path("documents"), body=body)

    def recall(self, document_id: str, *, agency: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return self.call("POST", driver_path("documents", document_id, "recall"), body=body, agency=agency)

    def update(self, document_id: str, *, agency: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return self.call("POST", driver_path("documents", document_id, "update"), body=body, agency=agency)

    def replace(self, document_id: str, *, agency: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return self.call("POST", driver_path("documents", document_id, "replace"), body=body, agency=agency)

    def advance(self, document_id: str, *, agency: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return self.call("POST", driver_path("received", document_id, "status"), body=body, agency=agency)

    def refuse(self, document_id: str, *, agency: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return self.call("POST", driver_path("received", document_id, "refuse"), body=body, agency=agency)

    def answer_recall(self, document_id: str, *, agency: str, body: Mapping[str, Any]) -> dict[str, Any]:
        path = driver_path("received", document_id, "recall-answer")
        return self.call("POST", path, body=body, agency=agency)

    def query(self, document_id: str, *, agency: str) -> dict[str, Any] | None:
        """The SUT's state for ``document_id`` at ``agency``; None when the driver answers 404
        ``{"error": "not-found"}``. Any other 404 (no JSON body, or another error such as an unknown
        route: a wrong base URL) raises :class:`DriverHttpError`."""
        try:
            return self.call("GET", driver_path("documents", document_id), agency=agency)
        except DriverHttpError as exc:
            if exc.status == 404 and exc.error == "not-found":
                return None
            raise

    def sync_clock(self) -> dict[str, Any]:
        return self.call("POST", driver_path("clock", "sync"), body={})

    def probe_hub(self, url: str) -> dict[str, Any]:
        return self.call("POST", driver_path("hub", "probe"), body={"url": url})

    def pause_intake(self, paused: bool) -> dict[str, Any]:
        return self.call("POST", driver_path("intake"), body={"paused": paused})

    # ------------------------------------------------------------------ transport

    def call(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        agency: str | None = None,
    ) -> dict[str, Any]:
        """One request to ``base_url + path`` (``path`` already percent-encoded, see :func:`driver_path`)."""
        url = self.base_url + path
        params = {"agency": agency} if agency is not None else None
        content = None if body is None else json.dumps(dict(body), ensure_ascii=False).encode("utf-8")
        headers = {"Accept": _JSON}
        if content is not None:
            headers["Content-Type"] = _JSON
        try:
            # the timeout is the client's own (set at construction when this object built it)
            response = self._http.request(method, url, params=params, content=content, headers=headers)
        except httpx.TimeoutException as exc:
            raise DriverTransportError(
                method, url, f"no answer within {self.timeout:g} s ({type(exc).__name__})", "timeout"
            ) from None
        except httpx.HTTPError as exc:
            raise DriverTransportError(
                method, url, f"cannot connect: {type(exc).__name__}: {exc}", "unreachable"
            ) from None
        raw = response.content
        try:
            value: Any = json.loads(raw.decode("utf-8")) if raw.strip() else {}
        except (UnicodeDecodeError, json.JSONDecodeError):
            value = None
        if response.status_code >= 400:
            fields = value if isinstance(value, dict) else {}
            raise DriverHttpError(
                method,
                url,
                response.status_code,
                error=_text_field(fields, "error"),
                detail=_text_field(fields, "detail"),
                capability=_text_field(fields, "capability"),
                body="" if isinstance(value, dict) else _snippet(raw),
            )
        if not isinstance(value, dict):
            raise DriverTransportError(
                method,
                url,
                f"HTTP {response.status_code} reply is not a JSON object: {_snippet(raw)}",
                "bad-reply",
            )
        return value


def _text_field(fields: Mapping[str, Any], key: str) -> str:
    value = fields.get(key)
    return value if isinstance(value, str) else ("" if value is None else str(value))


# ====================================================================================================
# The hub's control API (/control/..., admin bearer token; simulator/hub/control.py, openapi.json).
# Lives here because this is the only module that imports httpx; it never imports simulator.hub.

__all__ += ["ControlApiError", "ControlClient", "ControlTransportError"]


class ControlApiError(Exception):
    """The control API answered an HTTP error status; ``error``/``detail`` come from its JSON error body
    (``{"error": "bad_request", "detail": "rules[0].error_rate: …"}``), empty when absent."""

    def __init__(self, method: str, path: str, status: int, error: str = "", detail: str = "") -> None:
        self.method = method
        self.path = path
        self.status = status
        self.error = error
        self.detail = detail
        said = ": ".join(p for p in (error, detail) if p) or "no JSON error body"
        super().__init__(f"{method} {path}: HTTP {status}: {said}")


class ControlTransportError(Exception):
    """No usable answer from the control API (network, timeout, or a success reply that is not JSON)."""

    def __init__(self, method: str, path: str, cause: str) -> None:
        self.method = method
        self.path = path
        self.cause = cause
        super().__init__(f"{method} {path}: {cause}")


class ControlClient(_HttpOwner):
    """Synchronous client of the hub's control API: one method per endpoint, JSON in and out.

    ``endpoint`` is the hub's base URL (as for :class:`VxpClient`), ``admin_token`` the token the hub
    printed at start. An HTTP error raises :class:`ControlApiError`, no answer
    :class:`ControlTransportError`. Calls that change the hub (faults, policies, seeding, reset) return
    once every hub worker applies the change to new requests. ``http_client``: use this client (e.g. a
    ``starlette.testclient.TestClient``; its own timeout applies; not closed by ``close()``)."""

    def __init__(
        self,
        endpoint: str,
        admin_token: str,
        *,
        timeout: float = 30.0,
        http_client: httpx.Client | None = None,
        verify: bool | str | ssl.SSLContext = True,
    ) -> None:
        if not endpoint.startswith(("http://", "https://")):
            raise ValueError(f"endpoint {endpoint!r} must be an http:// or https:// URL of the hub")
        if not admin_token:
            raise ValueError("admin_token must not be empty: use the token `lienthong hub` printed at start")
        self.endpoint = endpoint.rstrip("/")
        self.timeout = timeout
        self._token = admin_token
        self._init_http(http_client, timeout=timeout, verify=verify)

    def __repr__(self) -> str:
        return f"ControlClient({self.endpoint!r})"

    # ------------------------------------------------------------------ traffic and directory

    def reset(
        self,
        *,
        directory: Literal["keep", "reseed"] = "keep",
        faults: Literal["clear", "keep"] = "clear",
        policies: Literal["keep", "clear"] = "keep",
        clock: Literal["keep", "clear"] = "keep",
    ) -> dict[str, Any]:
        """Wipe packages, deliveries, statuses and evidence; what was deleted and the options applied."""
        body = {"directory": directory, "faults": faults, "policies": policies, "clock": clock}
        return self._object("POST", "/control/reset", body)

    def seed(
        self, systems: Sequence[Mapping[str, Any]] = (), agencies: Sequence[Mapping[str, Any]] = ()
    ) -> dict[str, Any]:
        """Add systems (``{"id", "agencies", "secret"?, "name"?}``) and agencies (``{"code", "name", …}``);
        the reply's ``systems`` carry the secrets (generated where none was given)."""
        return self._object(
            "POST",
            "/control/seed",
            {"systems": [dict(s) for s in systems], "agencies": [dict(a) for a in agencies]},
        )

    def systems(self) -> list[dict[str, Any]]:
        return self._list("GET", "/control/systems")

    def agencies(self, *, include_deleted: bool = False) -> list[dict[str, Any]]:
        params = {"include_deleted": "true"} if include_deleted else None
        return self._list("GET", "/control/agencies", params=params)

    # ------------------------------------------------------------------ faults, clock, policies

    def set_faults(self, rules: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """Replace every fault rule (see simulator/hub/faults.py); ``{"generation", "rules"}``."""
        return self._object("PUT", "/control/faults", [dict(r) for r in rules])

    def faults(self) -> dict[str, Any]:
        return self._object("GET", "/control/faults")

    def clear_faults(self) -> dict[str, Any]:
        return self._object("DELETE", "/control/faults")

    def clock(self) -> dict[str, Any]:
        return self._object("GET", "/control/clock")

    def set_clock(self, offset_s: float | None = None, drift_ppm: float | None = None) -> dict[str, Any]:
        body = {k: v for k, v in (("offset_s", offset_s), ("drift_ppm", drift_ppm)) if v is not None}
        return self._object("PUT", "/control/clock", body)

    def reset_clock(self) -> dict[str, Any]:
        return self._object("DELETE", "/control/clock")

    def policies(self) -> dict[str, Any]:
        return self._object("GET", "/control/policies")

    def set_policies(self, **changes: Any) -> dict[str, Any]:
        """Change some policies (``signature="enforce"``…); the effective policies."""
        return self._object("PUT", "/control/policies", changes)

    def reset_policies(self) -> dict[str, Any]:
        return self._object("DELETE", "/control/policies")

    # ------------------------------------------------------------------ observation

    def evidence(self, since: int = 0, limit: int | None = None) -> list[dict[str, Any]]:
        """Evidence rows with ``id > since``, oldest first (the JSON lines, decoded)."""
        params: dict[str, str] = {"since": str(since)}
        if limit is not None:
            params["limit"] = str(limit)
        response = self._request("GET", "/control/evidence", params=params)
        rows: list[dict[str, Any]] = []
        for number, line in enumerate(response.content.splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError:
                raise ControlTransportError(
                    "GET", "/control/evidence", f"line {number} is not JSON: {_snippet(line)}"
                ) from None
            if not isinstance(row, dict):
                raise ControlTransportError("GET", "/control/evidence", f"line {number} is not a JSON object")
            rows.append(row)
        return rows

    def stats(
        self,
        agency: str | None = None,
        *,
        from_: datetime | str | None = None,
        to: datetime | str | None = None,
        bucket: Literal["hour", "day"] | None = None,
    ) -> dict[str, Any]:
        """QD28-11 statistics per agency (and per hour/day with ``bucket``) over ``[from_, to)``."""
        params: dict[str, str] = {}
        if agency is not None:
            params["agency"] = agency
        for key, value in (("from", from_), ("to", to)):
            if value is not None:
                params[key] = value.isoformat() if isinstance(value, datetime) else value
        if bucket is not None:
            params["bucket"] = bucket
        return self._object("GET", "/control/stats", params=params)

    def deliveries(
        self,
        *,
        recipient: str | None = None,
        sender: str | None = None,
        document_id: str | None = None,
        package: str | None = None,
        state: str | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Delivery rows (with their current ``state``), oldest first, filtered by the given fields."""
        given = {
            "recipient": recipient,
            "sender": sender,
            "document_id": document_id,
            "package": package,
            "state": state,
            "limit": None if limit is None else str(limit),
        }
        return self._list(
            "GET", "/control/deliveries", params={k: v for k, v in given.items() if v is not None}
        )

    def package(self, sha256: str) -> bytes | None:
        """A stored package's bytes by SHA-256; None when the hub has none."""
        try:
            return self._request("GET", _quote_path(f"/control/packages/{sha256}")).content
        except ControlApiError as exc:
            if exc.status == 404:
                return None
            raise

    def openapi(self) -> dict[str, Any]:
        return self._object("GET", "/openapi.json", auth=False)

    # ------------------------------------------------------------------ transport

    def _request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        params: Mapping[str, str] | None = None,
        auth: bool = True,
    ) -> httpx.Response:
        headers = {"Accept": "application/json, application/x-ndjson"}
        if auth:
            headers["Authorization"] = f"Bearer {self._token}"
        content = None
        if body is not None:
            content = json.dumps(body, ensure_ascii=False).encode("utf-8")
            headers["Content-Type"] = _JSON
        try:
            response = self._http.request(
                method,
                self.endpoint + path,
                params=params,
                content=content,
                headers=headers,  # the timeout is the client's (set at construction when owned)
            )
        except httpx.TimeoutException as exc:
            raise ControlTransportError(
                method, path, f"no answer within {self.timeout:g} s ({type(exc).__name__})"
            ) from None
        except httpx.HTTPError as exc:
            raise ControlTransportError(
                method, path, f"cannot reach {self.endpoint}: {type(exc).__name__}: {exc}"
            ) from None
        if response.status_code >= 400:
            try:
                value: Any = json.loads(response.content)
            except ValueError:
                value = None
            fields = value if isinstance(value, dict) else {}
            raise ControlApiError(
                method,
                path,
                response.status_code,
                _text_field(fields, "error"),
                _text_field(fields, "detail") or ("" if fields else _snippet(response.content)),
            )
        return response

    def _json(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        params: Mapping[str, str] | None = None,
        auth: bool = True,
    ) -> Any:
        response = self._request(method, path, body, params=params, auth=auth)
        try:
            return json.loads(response.content)
        except ValueError:
            raise ControlTransportError(
                method, path, f"HTTP {response.status_code} reply is not JSON: {_snippet(response.content)}"
            ) from None

    def _object(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        params: Mapping[str, str] | None = None,
        auth: bool = True,
    ) -> dict[str, Any]:
        value = self._json(method, path, body, params=params, auth=auth)
        if not isinstance(value, dict):
            raise ControlTransportError(method, path, f"expected a JSON object, got {type(value).__name__}")
        return value

    def _list(
        self, method: str, path: str, *, params: Mapping[str, str] | None = None
    ) -> list[dict[str, Any]]:
        value = self._json(method, path, params=params)
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise ControlTransportError(method, path, "expected a JSON list of objects")
        return value


def _quote_path(path: str) -> str:
    """``path`` with each segment percent-encoded (slashes between segments kept)."""
    from urllib.parse import quote

    return "/".join(quote(part, safe="") for part in path.split("/"))
