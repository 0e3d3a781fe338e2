"""The hub's agency directory: seeding from the config, registration, and the directory replies.

Entries live in the store (so ``registerAgency`` in one worker is seen by all). Each entry records the
system hosting it (``system_id``): a system may send as, and receives for, exactly the agencies it
hosts (VXP-ROUTE). Entries listed in the config's ``[[agencies]]`` without a hosting system are shown
in the directory but cannot send or receive.

Reply shapes (spec/vxp-protocol.md §3): ``getAgenciesList`` → ``id, pid, code, name, mail, oldCode``;
``getAgenciesListQD20`` → ``id, code, name, mail, code102``; ``getSynchronizeUnit`` → ``id, pid, code,
name, mail, centerCode, version, deleted, modifyDate, isAgency``. ``id``/``pid`` are the store's integer
ids (``pid`` 0 = no parent); ``version`` increases with every change to any entry, so a client can
keep the highest version it saw; deleted entries stay listed by getSynchronizeUnit with
``deleted: true``. The QĐ 20/2020 ``level`` of an entry is the highest level its code sets (1–4,
``000.00.00.G22`` is level 1); non-conforming codes accepted in lenient mode get level 0.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from simulator.edxml.diagnostics import Diagnostic, Severity
from simulator.edxml.identifiers import IdentifierError, parse_agency_code
from simulator.edxml.vntime import VN_TZ
from simulator.hub.config import HubConfig
from simulator.hub.envelope import ErrorCode, HubError
from simulator.hub.store import AgencyRecord, Store

__all__ = [
    "agency_level",
    "agency_list_item",
    "qd20_item",
    "registration",
    "reply_time",
    "seed_directory",
    "sync_item",
]


def reply_time(stored: str) -> str:
    """A stored time (ISO 8601, Vietnam time) as shown in replies: ISO 8601 to the second, ``+07:00``."""
    if not stored:
        return ""
    try:
        value = dt.datetime.fromisoformat(stored)
    except ValueError:
        return stored
    if value.tzinfo is None:
        value = value.replace(tzinfo=VN_TZ)
    return value.astimezone(VN_TZ).isoformat(timespec="seconds")


def agency_level(code: str) -> int:
    """QĐ 20/2020 level of an agency code: the highest level it sets (1–4); 0 when not conforming."""
    try:
        parsed = parse_agency_code(code, strict=True)
    except IdentifierError:
        return 0
    return parsed.depth


def seed_directory(store: Store, config: HubConfig, at: dt.datetime) -> None:
    """Upsert the config's agencies (with their hosting systems); unchanged entries keep their version."""
    owner = config.owner_of()
    with store.transaction() as txn:
        for entry in config.agencies:
            txn.upsert_agency(
                AgencyRecord(
                    code=entry.code,
                    name=entry.name,
                    mail=entry.mail,
                    parent_code=entry.parent,
                    mobile=entry.mobile,
                    fax=entry.fax,
                    old_code=entry.old_code,
                    center_code=entry.center_code,
                    is_agency=entry.is_agency,
                    system_id=owner.get(entry.code),
                    level=agency_level(entry.code),
                ),
                at,
            )


def _parent_ids(records: Sequence[AgencyRecord]) -> dict[str, int]:
    return {r.code: r.id for r in records}


def agency_list_item(rec: AgencyRecord, ids: Mapping[str, int]) -> dict[str, Any]:
    return {
        "id": rec.id,
        "pid": ids.get(rec.parent_code or "", 0),
        "code": rec.code,
        "name": rec.name,
        "mail": rec.mail,
        "oldCode": rec.old_code,
    }


def qd20_item(rec: AgencyRecord) -> dict[str, Any]:
    return {
        "id": rec.id,
        "code": rec.code,
        "name": rec.name,
        "mail": rec.mail,
        "code102": rec.old_code or rec.code,
    }


def sync_item(rec: AgencyRecord, ids: Mapping[str, int]) -> dict[str, Any]:
    return {
        "id": rec.id,
        "pid": ids.get(rec.parent_code or "", 0),
        "code": rec.code,
        "name": rec.name,
        "mail": rec.mail,
        "centerCode": rec.center_code,
        "version": rec.version,
        "deleted": rec.deleted,
        "modifyDate": reply_time(rec.modified_at),
        "isAgency": rec.is_agency,
    }


def agency_items(records: Sequence[AgencyRecord]) -> list[dict[str, Any]]:
    ids = _parent_ids(records)
    return [agency_list_item(r, ids) for r in records]


def sync_items(records: Sequence[AgencyRecord]) -> list[dict[str, Any]]:
    ids = _parent_ids(records)
    return [sync_item(r, ids) for r in records]


def _text(body: Mapping[str, Any], key: str, *, required: bool = False) -> str:
    value = body.get(key)
    if value is None or value == "":
        if required:
            raise HubError(
                ErrorCode.BAD_PARAMETER,
                "VXP-PARAM",
                f'registerAgency: the JSON body has no {key!r}; send {{"id", "pcode", "code", "name", '
                '"mail", "mobile", "fax"}} with at least code and name',
            )
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise HubError(
            ErrorCode.BAD_PARAMETER, "VXP-PARAM", f"registerAgency: {key!r} must be text, got {value!r}"
        )
    return str(value).strip()


def registration(body: Any, system_id: str, *, strict: bool) -> tuple[AgencyRecord, list[Diagnostic]]:
    """The entry a ``registerAgency`` body asks for, hosted by ``system_id``; HubError if unusable."""
    if not isinstance(body, dict):
        raise HubError(
            ErrorCode.BAD_PARAMETER,
            "VXP-PARAM",
            'registerAgency: the body must be a JSON object {"id", "pcode", "code", "name", "mail", '
            '"mobile", "fax"}',
        )
    code = _text(body, "code", required=True)
    findings: list[Diagnostic] = []
    try:
        parsed = parse_agency_code(code, strict=strict)
    except IdentifierError as exc:
        raise HubError(ErrorCode.BAD_PARAMETER, exc.requirement, f"registerAgency: {exc.message}") from None
    if not parsed.conforming:
        findings.append(
            Diagnostic(
                Severity.WARNING,
                "body:code",
                "QD28-10.2.a",
                f"agency code {code!r} is not conforming (13 characters NNN.NN.NN.XNN); accepted (lenient)",
            )
        )
    pcode = _text(body, "pcode") or None
    return (
        AgencyRecord(
            code=code,
            name=_text(body, "name", required=True),
            mail=_text(body, "mail"),
            parent_code=pcode,
            mobile=_text(body, "mobile"),
            fax=_text(body, "fax"),
            system_id=system_id,
            level=parsed.depth if parsed.conforming else 0,
        ),
        findings,
    )
