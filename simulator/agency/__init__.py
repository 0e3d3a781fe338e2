"""Agencies: the VXP client (the only place lienthong speaks HTTP as a client) and fake agencies.

``signing`` holds the SDK-faithful header signing as pure functions (Locust users import it);
``client`` the httpx clients for the hub (``VxpClient``), its control API (``ControlClient``) and a
SUT's test-driver API (``DriverClient``); ``fake_agency`` scriptable fake agencies built on them.
"""

from __future__ import annotations

from simulator.agency.behaviour import Behaviour, Reply
from simulator.agency.client import (
    ControlApiError,
    ControlClient,
    ControlTransportError,
    DriverClient,
    DriverHttpError,
    DriverTransportError,
    VxpClient,
    VxpError,
    VxpTransportError,
)
from simulator.agency.fake_agency import (
    BackgroundPoller,
    FakeAgency,
    PollRound,
    ReceivedState,
    agency_credential,
    make_agencies,
)
from simulator.agency.mailbox import (
    Mailbox,
    ReceivedDocument,
    ReceivedStatus,
    SentDocument,
    SentStatus,
    UnexpectedStatus,
    WaitTimeout,
)
from simulator.agency.models import (
    AgencyItem,
    AgencyQD20Item,
    AgencyRegistration,
    ReceivedItem,
    SentItem,
    SyncUnitItem,
)
from simulator.agency.signing import hash_file, java_hashmap_order, sdk_timestamp, sign_headers

__all__ = [
    "AgencyItem",
    "AgencyQD20Item",
    "AgencyRegistration",
    "BackgroundPoller",
    "Behaviour",
    "ControlApiError",
    "ControlClient",
    "ControlTransportError",
    "DriverClient",
    "DriverHttpError",
    "DriverTransportError",
    "FakeAgency",
    "Mailbox",
    "PollRound",
    "ReceivedDocument",
    "ReceivedItem",
    "ReceivedState",
    "ReceivedStatus",
    "Reply",
    "SentDocument",
    "SentItem",
    "SentStatus",
    "SyncUnitItem",
    "UnexpectedStatus",
    "VxpClient",
    "VxpError",
    "VxpTransportError",
    "WaitTimeout",
    "agency_credential",
    "hash_file",
    "java_hashmap_order",
    "make_agencies",
    "sdk_timestamp",
    "sign_headers",
]
