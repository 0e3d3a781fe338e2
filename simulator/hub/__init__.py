"""The simulated national hub (Trục liên thông văn bản quốc gia).

The VXP protocol exactly as the official client SDK speaks it (``vxp``, ``auth``, ``envelope``), a
durable SQLite store (``sqlite_store`` behind the ``store.Store`` interface), routing and intake with
validation/signature policies, the hub clock (HTTP ``/time``, ``Date`` headers, SNTP), the harness's
control API (faults, clock, policies, evidence, QD28-11 statistics) and ways to run it:
``server.serve`` (``lienthong hub``, uvicorn workers) and ``EmbeddedHub`` (a background thread).
"""

from __future__ import annotations

from simulator.hub.app import app_factory, create_app
from simulator.hub.clock import ClockSettings, HubClock
from simulator.hub.config import (
    AgencyEntry,
    ConfigError,
    HubConfig,
    Policies,
    SystemConfig,
    load_config,
    materialize,
    parse_config,
)
from simulator.hub.control import control_routes
from simulator.hub.embedded import EmbeddedHub, EmbeddedHubError
from simulator.hub.envelope import ErrorCode, HubError
from simulator.hub.faults import FaultInjector, FaultMiddleware, FaultRule, parse_rules
from simulator.hub.openapi import build_document
from simulator.hub.server import HubOverrides, PreparedHub, ServerStartError, build_config, prepare, serve
from simulator.hub.sntp import SntpServer, SntpThread
from simulator.hub.sqlite_store import SqliteStore
from simulator.hub.stats import StatsReport, compute_stats
from simulator.hub.store import DeliveryState, Store
from simulator.hub.timeweb import UVICORN_OPTIONS, DateHeaderMiddleware, time_endpoint
from simulator.hub.vxp import OPERATIONS, VxpService

__all__ = [
    "OPERATIONS",
    "UVICORN_OPTIONS",
    "AgencyEntry",
    "ClockSettings",
    "ConfigError",
    "DateHeaderMiddleware",
    "DeliveryState",
    "EmbeddedHub",
    "EmbeddedHubError",
    "ErrorCode",
    "FaultInjector",
    "FaultMiddleware",
    "FaultRule",
    "HubClock",
    "HubConfig",
    "HubError",
    "HubOverrides",
    "Policies",
    "PreparedHub",
    "ServerStartError",
    "SntpServer",
    "SntpThread",
    "SqliteStore",
    "StatsReport",
    "Store",
    "SystemConfig",
    "VxpService",
    "app_factory",
    "build_config",
    "build_document",
    "compute_stats",
    "control_routes",
    "create_app",
    "load_config",
    "materialize",
    "parse_config",
    "parse_rules",
    "prepare",
    "serve",
    "time_endpoint",
]
