"""Shapes of the hub's replies (spec/vxp-protocol.md §3), with the spec's field names, and their checks.

Items are ``TypedDict``s so the field names stay exactly as on the wire (``from``, ``status_desc``,
``created_time``...). Identifier fields are required; the others may be absent (a hub omits what it
does not know, never sends ``null`` — a ``null`` is read as absent). Types are checked; a reply that
does not fit raises ``ReplyShapeError`` naming the operation, the item and the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Required, TypedDict, TypeVar, cast

__all__ = [
    "AgencyItem",
    "AgencyQD20Item",
    "AgencyRegistration",
    "ReceivedItem",
    "ReplyItem",
    "ReplyShapeError",
    "SentItem",
    "SyncUnitItem",
    "parse_items",
]


class ReplyShapeError(ValueError):
    """A reply whose fields do not have the spec's shape (the client turns it into a transport error)."""


# `from` is a Python keyword, hence the functional syntax.
ReceivedItem = TypedDict(
    "ReceivedItem",
    {
        "docId": Required[str],
        "serviceType": str,
        "messageType": str,
        "created_time": str,
        "updated_time": str,
        "from": str,
        "to": str,
        "status": str,
        "status_desc": str,
    },
    total=False,
)


class SentItem(TypedDict, total=False):
    serviceType: str
    messageType: str
    senderDocId: Required[str]
    receiverDocId: str
    fromCode: str
    toCode: str
    title: str
    notation: str
    sentTime: str
    receivedTime: str
    sendStatus: str
    sendStatusDesc: str
    receiveStatus: str
    receiveStatusDesc: str


class AgencyItem(TypedDict, total=False):
    id: Required[int | str]
    pid: int | str
    code: Required[str]
    name: str
    mail: str
    oldCode: str


class AgencyQD20Item(TypedDict, total=False):
    id: Required[int | str]
    code: Required[str]
    name: str
    mail: str
    code102: str


class SyncUnitItem(TypedDict, total=False):
    id: Required[int | str]
    pid: int | str
    code: Required[str]
    name: str
    mail: str
    centerCode: str
    version: int
    deleted: bool
    modifyDate: str
    isAgency: bool


class AgencyRegistration(TypedDict, total=False):
    """Body of registerAgency (sent as a JSON object)."""

    id: int | str
    pcode: str
    code: Required[str]
    name: Required[str]
    mail: str
    mobile: str
    fax: str


# field -> (accepted Python types, required)
_Spec = dict[str, tuple[tuple[type, ...], bool]]
_S: tuple[type, ...] = (str,)
_ID: tuple[type, ...] = (int, str)

_SPECS: dict[str, _Spec] = {
    "ReceivedItem": {
        "docId": (_S, True),
        "serviceType": (_S, False),
        "messageType": (_S, False),
        "created_time": (_S, False),
        "updated_time": (_S, False),
        "from": (_S, False),
        "to": (_S, False),
        "status": (_S, False),
        "status_desc": (_S, False),
    },
    "SentItem": {
        "serviceType": (_S, False),
        "messageType": (_S, False),
        "senderDocId": (_S, True),
        "receiverDocId": (_S, False),
        "fromCode": (_S, False),
        "toCode": (_S, False),
        "title": (_S, False),
        "notation": (_S, False),
        "sentTime": (_S, False),
        "receivedTime": (_S, False),
        "sendStatus": (_S, False),
        "sendStatusDesc": (_S, False),
        "receiveStatus": (_S, False),
        "receiveStatusDesc": (_S, False),
    },
    "AgencyItem": {
        "id": (_ID, True),
        "pid": (_ID, False),
        "code": (_S, True),
        "name": (_S, False),
        "mail": (_S, False),
        "oldCode": (_S, False),
    },
    "AgencyQD20Item": {
        "id": (_ID, True),
        "code": (_S, True),
        "name": (_S, False),
        "mail": (_S, False),
        "code102": (_S, False),
    },
    "SyncUnitItem": {
        "id": (_ID, True),
        "pid": (_ID, False),
        "code": (_S, True),
        "name": (_S, False),
        "mail": (_S, False),
        "centerCode": (_S, False),
        "version": ((int,), False),
        "deleted": ((bool,), False),
        "modifyDate": (_S, False),
        "isAgency": ((bool,), False),
    },
}

ReplyItem = TypeVar("ReplyItem", ReceivedItem, SentItem, AgencyItem, AgencyQD20Item, SyncUnitItem)


def _type_ok(value: object, types: tuple[type, ...]) -> bool:
    if isinstance(value, bool) and bool not in types:  # JSON true is not an id or a version
        return False
    return isinstance(value, types)


def _names(types: tuple[type, ...]) -> str:
    words = {str: "a string", int: "an integer", bool: "true/false"}
    return " or ".join(words[t] for t in types)


def parse_items(operation: str, data: object, item_type: type[ReplyItem]) -> list[ReplyItem]:
    """Check a reply's ``data`` array against ``item_type``; unknown fields are dropped, ``null`` = absent."""
    spec = _SPECS[item_type.__name__]
    if not isinstance(data, list):
        raise ReplyShapeError(
            f"{operation}: reply field 'data' should be a JSON array, got {type(data).__name__} "
            "(VXP-ENVELOPE)"
        )
    items: list[ReplyItem] = []
    for index, raw in enumerate(data):
        if not isinstance(raw, Mapping):
            raise ReplyShapeError(f"{operation}: data[{index}] should be a JSON object (VXP-ENVELOPE)")
        item: dict[str, Any] = {}
        for field, (types, required) in spec.items():
            value = raw.get(field)
            if value is None:
                if required:
                    raise ReplyShapeError(
                        f"{operation}: data[{index}] has no '{field}' (the spec's reply table requires it; "
                        "VXP-ENVELOPE)"
                    )
                continue
            if not _type_ok(value, types):
                raise ReplyShapeError(
                    f"{operation}: data[{index}].{field} should be {_names(types)}, got {value!r} "
                    "(VXP-ENVELOPE)"
                )
            item[field] = value
        items.append(cast(ReplyItem, item))
    return items
