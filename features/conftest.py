"""pytest configuration of the conformance suite: options, markers from the tags, the target.

Run it with ``lienthong conformance --sut reference|PATH`` (or ``pytest features -p
simulator.conformance.progress --sut reference``). Options:

* ``--sut reference|PATH`` — the built-in reference QLVB, or a vendor's sut.toml;
* ``--defect NAME`` (repeatable) — defective variants of the reference QLVB;
* ``--defect-sweep map|all`` — self-validation: run the scenarios once per defect (``map``: only the
  scenarios ``features/defect_map.toml`` says the defect must fail), one target per defect;
* ``--evidence-out PATH`` — append the hub's evidence rows of every scenario (JSON lines);
* ``--target-workdir DIR`` — where the hub keeps its data (a temporary directory by default).

Every tag becomes a pytest marker (registered here, so ``--strict-markers`` holds); a tag naming an
unknown requirement, a scenario without a TC ID or without a requirement makes the run a usage error.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from features.steps.hubctl import reset_hub, restore_hub
from features.steps.support import Harness, ScenarioState, missing_capabilities, not_applicable
from simulator.conformance.catalog import TC_TAG, check_scenarios, load_scenarios
from simulator.conformance.progress import emit, item_defect, item_requirements, item_tc
from simulator.requirements import catalogue
from simulator.sut.target import SutTarget

pytest_plugins = [
    "features.steps.common_steps",
    "features.steps.inbound_steps",
    "features.steps.outbound_steps",
    "features.steps.lifecycle_steps",
    "features.steps.time_steps",
    "features.steps.security_steps",
    "features.steps.fault_steps",
    "features.steps.priority_steps",
]

HERE = Path(__file__).resolve().parent
USAGE_EXIT = 4  # pytest's own usage-error code; the runner maps it to 2
HARNESS_EXIT = 3


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("lienthong", "lienthong conformance suite")
    group.addoption("--sut", default="reference", help="reference, or the path of a sut.toml")
    group.addoption("--defect", action="append", default=[], help="defect of the reference QLVB (repeatable)")
    group.addoption(
        "--defect-sweep",
        choices=("map", "all"),
        default=None,
        help="run every scenario once per defect (map: only those features/defect_map.toml lists)",
    )
    group.addoption(
        "--defect-sweep-only",
        default=None,
        metavar="NAME,...",
        help="with --defect-sweep: only these defects (to split a sweep across processes)",
    )
    group.addoption(
        "--status-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="override the target's status timeout (self-validation against the fast reference QLVB)",
    )
    group.addoption(
        "--reference-driver",
        choices=("in-process", "http"),
        default="in-process",
        help="drive the reference QLVB in-process, or through its driver API over HTTP like a vendor's SUT",
    )
    group.addoption("--evidence-out", default=None, help="append the hub's evidence (JSON lines) here")
    group.addoption("--target-workdir", default=None, help="data directory of the simulated hub")


def pytest_configure(config: pytest.Config) -> None:
    specs = load_scenarios(HERE)
    problems = check_scenarios(specs)
    if problems:
        emit(config, {"event": "harness", "kind": "usage", "message": "; ".join(problems)})
        raise pytest.UsageError("the feature files are mis-tagged:\n  " + "\n  ".join(problems))
    cat = catalogue()
    names: dict[str, str] = {}
    for spec in specs:
        names[spec.tc_id] = f"test case: {spec.name}"
        for tag in spec.tags:
            if tag in cat:
                names[tag] = f"requirement: {cat[tag].title}"
            elif not TC_TAG.match(tag):
                names.setdefault(tag, f"topic: {tag}")
    for rid in cat.ids():
        names.setdefault(rid, f"requirement: {cat[rid].title}")
    for name, text in sorted(names.items()):
        config.addinivalue_line("markers", f"{name}: {text.replace(':', ' -')}")


# ------------------------------------------------------------------------------------- defect sweep


def _sweep_defects(config: pytest.Config) -> list[str]:
    mode = config.getoption("defect_sweep")
    if not mode:
        return []
    from simulator.sut.defects import DEFECTS

    if mode == "all":
        names = sorted(DEFECTS)
    else:
        from simulator.conformance.defect_map import load_defect_map

        names = list(load_defect_map(HERE / "defect_map.toml"))
    only = config.getoption("defect_sweep_only")
    if only:
        wanted = [n.strip() for n in only.split(",") if n.strip()]
        unknown = [n for n in wanted if n not in names]
        if unknown:
            raise pytest.UsageError(f"--defect-sweep-only: {', '.join(unknown)} not in the sweep ({mode})")
        names = [n for n in names if n in wanted]
    return names


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    defects = _sweep_defects(metafunc.config)
    if defects and "defect_variant" in metafunc.fixturenames:
        metafunc.parametrize("defect_variant", defects, indirect=True, scope="session", ids=defects)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:  # JUnit <properties> of every testcase: what the report needs to group results
        item.user_properties.append(("tc", item_tc(item)))
        item.user_properties.append(("requirements", " ".join(item_requirements(item))))
        defect = item_defect(item)
        if defect:
            item.user_properties.append(("defect", defect))
    if config.getoption("defect_sweep") != "map":
        return
    from simulator.conformance.defect_map import load_defect_map

    mapping = load_defect_map(HERE / "defect_map.toml")
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        defect = item_defect(item)
        (keep if defect is not None and item_tc(item) in mapping.get(defect, ()) else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_bdd_before_scenario(request: pytest.FixtureRequest, feature: Any, scenario: Any) -> None:
    """NOT APPLICABLE before anything happens when the SUT's driver lacks a capability a step needs."""
    target = request.getfixturevalue("sut")
    offered = target.info.capabilities if target.info is not None else frozenset()
    missing = missing_capabilities((step.name for step in scenario.steps), offered)
    if missing:
        not_applicable(
            f"the SUT's driver ({target.name}) does not offer {', '.join(c.value for c in missing)}, which "
            "this scenario needs (see simulator/sut/driver-openapi.json)"
        )


# ------------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="session")
def defect_variant(request: pytest.FixtureRequest) -> tuple[str, ...]:
    """The defects of the reference QLVB for this target (a sweep parameter, or --defect)."""
    param = getattr(request, "param", None)
    if param is not None:
        return (str(param),)
    return tuple(request.config.getoption("defect") or ())


@pytest.fixture(scope="session")
def sut(request: pytest.FixtureRequest, defect_variant: tuple[str, ...]) -> Iterator[SutTarget]:
    """The target (:class:`simulator.sut.target.SutTarget`): the simulated hub, the SUT and its driver.

    A wrong sut.toml or defect name ends the run as a usage error; a hub that cannot start or a driver
    that cannot be reached ends it as a harness failure — with the reason, before any scenario runs.
    """
    from simulator.hub.embedded import EmbeddedHubError
    from simulator.sut.config import SutConfigError
    from simulator.sut.driver import DriverError
    from simulator.sut.target import open_target

    config = request.config
    spec = config.getoption("sut")
    workdir = config.getoption("target_workdir")
    if workdir and defect_variant:
        workdir = str(Path(workdir) / "-".join(defect_variant))
    with contextlib.ExitStack() as stack:
        try:
            target = stack.enter_context(
                open_target(
                    spec,
                    defects=defect_variant,
                    workdir=workdir,
                    reference_transport=config.getoption("reference_driver"),
                )
            )
        except SutConfigError as exc:
            emit(config, {"event": "harness", "kind": "usage", "message": str(exc)})
            pytest.exit(f"usage error: {exc}", returncode=USAGE_EXIT)
        except (DriverError, EmbeddedHubError, OSError, TimeoutError) as exc:
            emit(config, {"event": "harness", "kind": "infrastructure", "message": str(exc)})
            pytest.exit(f"harness failure: {exc}", returncode=HARNESS_EXIT)
        from features.steps.security_steps import stop_tls_hubs  # a step plugin: import it only now

        stack.callback(stop_tls_hubs)
        emit(config, {"event": "target", "name": target.name, "hub": target.hub_url, "notes": target.notes})
        yield target


class _EvidenceLog:
    """The hub's evidence rows, handed out scenario by scenario (a cursor over the evidence ids)."""

    def __init__(self, target: SutTarget) -> None:
        self.target = target
        rows = target.hub.evidence(since_id=0, limit=None)
        self.cursor = int(rows[-1]["id"]) if rows else 0

    def take(self) -> list[dict[str, Any]]:
        rows = self.target.hub.evidence(since_id=self.cursor, limit=None)
        if rows:
            self.cursor = int(rows[-1]["id"])
        return rows


@pytest.fixture(scope="session")
def evidence_log(sut: SutTarget) -> _EvidenceLog:
    return _EvidenceLog(sut)


@pytest.fixture
def ctx() -> Iterator[ScenarioState]:
    """State the steps of one scenario share; its cleanups run when the scenario ends."""
    state = ScenarioState()
    yield state
    errors = []
    for cleanup in reversed(state.cleanups):
        try:
            cleanup()
        except Exception as exc:  # every cleanup runs; the first failure is reported
            errors.append(f"{type(exc).__name__}: {exc}")
    if errors:
        raise RuntimeError("scenario cleanup failed: " + "; ".join(errors))


@pytest.fixture(scope="session")
def harness_document_ids() -> set[str]:
    """Every DocumentId the harness's agencies sent this session (to recognise a wrong ResponseFor)."""
    return set()


@pytest.fixture
def harness(
    request: pytest.FixtureRequest,
    sut: SutTarget,
    evidence_log: _EvidenceLog,
    harness_document_ids: set[str],
) -> Iterator[Harness]:
    """A clean hub (traffic wiped, directory kept) and fresh fake agencies A, B, C for each scenario."""
    reset_hub(sut)
    evidence_log.take()  # the reset's own row
    label = item_tc(request.node) or request.node.name
    h = Harness(
        sut,
        label=label,
        evidence_start=evidence_log.cursor,
        known_document_ids=harness_document_ids,
        status_timeout=request.config.getoption("status_timeout"),
    )
    yield h
    h.close()


@pytest.fixture(autouse=True)
def _scenario_boundary(
    request: pytest.FixtureRequest, sut: SutTarget, evidence_log: _EvidenceLog
) -> Iterator[None]:
    """After each scenario: hub runtime settings back to normal; its evidence appended to the log."""
    yield
    restore_hub(sut)
    rows = evidence_log.take()
    out = request.config.getoption("evidence_out")
    if out:
        meta = {
            "scenario": request.node.nodeid,
            "tc": item_tc(request.node),
            "defect": item_defect(request.node),
        }
        with Path(out).open("a", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps({**meta, **row}, ensure_ascii=False, default=str) + "\n")
        _keep_packages(sut, rows, Path(out).parent / "packages")


def _keep_packages(sut: SutTarget, rows: list[dict[str, Any]], folder: Path) -> None:
    """Save the packages this scenario exchanged (before the next reset wipes them): report evidence."""
    store = sut.hub.service.store
    for sha in {row.get("sha256") for row in rows if row.get("sha256")}:
        path = folder / f"{sha}.xml"
        if path.exists():
            continue
        data = store.package_data(str(sha))
        if data is not None:
            folder.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
