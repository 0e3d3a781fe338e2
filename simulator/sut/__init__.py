"""Driving a system under test (SUT): the driver contract, targets, the reference QLVB and its defects.

``driver`` is the contract (``SutDriver``); ``HttpDriver`` speaks the vendor-implemented test-driver API
(``driver-openapi.json``), ``ManualDriver`` instructs an operator and watches the hub; ``open_target``
assembles a hub, the harness's fake agencies and a SUT (``reference`` or a ``sut.toml``);
``ReferenceQlvb`` is the correct reference implementation and ``DEFECTS`` its deliberately broken variants.
"""

from __future__ import annotations

from simulator.sut.config import (
    SutConfig,
    SutConfigError,
    SutDriverConfig,
    SutHubConfig,
    SutTiming,
    load_sut_config,
    parse_sut_config,
)
from simulator.sut.defects import DEFECTS, Defect, UnknownDefectError, check_defects, list_defects
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
    SutDriver,
)
from simulator.sut.driver_app import create_driver_app
from simulator.sut.http_driver import HttpDriver, WireError
from simulator.sut.manual_driver import HubObserver, ManualDriver, ManualTimeout
from simulator.sut.reference import BadRequest, Conflict, DocumentNotFound, HubUnavailable, ReferenceQlvb
from simulator.sut.target import EmbeddedHubObserver, SutTarget, open_target
from simulator.sut.timesync import SyncedClock, TimeSyncError

__all__ = [
    "DEFECTS",
    "AttachmentDigest",
    "AttachmentSpec",
    "BadRequest",
    "Capability",
    "Conflict",
    "Defect",
    "DocumentNotFound",
    "DriverError",
    "DriverInfo",
    "EmbeddedHubObserver",
    "HttpDriver",
    "HubObserver",
    "HubUnavailable",
    "LegalValidity",
    "ManualDriver",
    "ManualTimeout",
    "NotSupported",
    "OutgoingDocument",
    "ProbeResult",
    "ReferenceQlvb",
    "SentRef",
    "SutConfig",
    "SutConfigError",
    "SutDocumentState",
    "SutDriver",
    "SutDriverConfig",
    "SutHubConfig",
    "SutTarget",
    "SutTiming",
    "SyncedClock",
    "TimeSyncError",
    "UnknownDefectError",
    "WireError",
    "check_defects",
    "create_driver_app",
    "list_defects",
    "load_sut_config",
    "open_target",
    "parse_sut_config",
]
