"""A real ``lienthong hub`` in a subprocess on 127.0.0.1, for tests that need processes and sockets.

``HubRunner`` (a context manager, or the ``hub_runner`` fixture pattern below) starts hubs on free
ports with a temporary ``$LIENTHONG_HOME``, waits (bounded) for ``GET /time``, captures stdout and
stderr, and on exit kills every process group it started — also when the test failed — so no hub is
ever left running::

    @pytest.fixture
    def runner(tmp_path: Path) -> Iterator[HubRunner]:
        with HubRunner(tmp_path) as r:
            yield r

    def test_x(runner: HubRunner) -> None:
        hub = runner.start(data_dir=runner.tmp / "d", extra=["--workers", "2"])
        ... hub.endpoint, hub.systems(), hub.stop() ...

Each hub runs in its own session (process group): ``kill()`` sends SIGKILL to the uvicorn
supervisor and all its workers at once, as an operator's ``kill -9`` of the whole service would.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self

import httpx

__all__ = ["CLI", "HubProcess", "HubRunner", "SystemInfo", "free_port", "run_cli"]

CLI = [sys.executable, "-c", "from simulator.cli import main; main()"]
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0

_SYSTEM = re.compile(r"^\s+system (\S+)\s+secret (\S+)")
_AGENCY = re.compile(r"^\s+agency (\S+)")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class SystemInfo:
    id: str
    secret: str
    agencies: tuple[str, ...]


class _Capture:
    """Reads a pipe into a list of lines in a daemon thread (so the hub never blocks on a full pipe)."""

    def __init__(self, stream: object) -> None:
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            with self._cond:
                self.lines.append(line)
                self._cond.notify_all()

    def text(self) -> str:
        with self._cond:
            return "".join(self.lines)

    def wait_for(self, pattern: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while pattern not in "".join(self.lines):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)


@dataclass
class HubProcess:
    """One ``lienthong hub`` subprocess."""

    args: list[str]
    env: dict[str, str]
    port: int
    data_dir: Path
    tls: bool = False
    proc: subprocess.Popen[str] | None = None
    _out: _Capture | None = field(default=None, repr=False)
    _err: _Capture | None = field(default=None, repr=False)

    @property
    def endpoint(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def stdout(self) -> str:
        return self._out.text() if self._out else ""

    @property
    def stderr(self) -> str:
        return self._err.text() if self._err else ""

    @property
    def returncode(self) -> int | None:
        return self.proc.poll() if self.proc else None

    def launch(self) -> Self:
        self.proc = subprocess.Popen(
            [*CLI, "hub", *self.args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            env=self.env,
            start_new_session=True,  # own process group: kill() reaches every worker
        )
        self._out = _Capture(self.proc.stdout)
        self._err = _Capture(self.proc.stderr)
        return self

    def wait_ready(self, timeout: float = START_TIMEOUT_S) -> Self:
        """Poll ``GET /time`` until it answers 200 (bounded); AssertionError with the logs otherwise."""
        deadline = time.monotonic() + timeout
        with httpx.Client(verify=False, timeout=1.0) as client:  # readiness only; TLS is checked by tests
            while time.monotonic() < deadline:
                if self.returncode is not None:
                    raise AssertionError(
                        f"the hub exited with {self.returncode} before it was ready\n{self.logs()}"
                    )
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(f"{self.endpoint}/time").status_code == 200:
                        # the banner is printed before the workers start; make sure it is all read
                        assert self._out is not None
                        self._out.wait_for("  stop ", 5.0)
                        return self
                time.sleep(0.05)
        raise AssertionError(f"the hub was not ready after {timeout:.0f} s\n{self.logs()}")

    def wait_exit(self, timeout: float = STOP_TIMEOUT_S) -> int:
        assert self.proc is not None
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"the hub did not exit within {timeout:.0f} s\n{self.logs()}") from None
        self._close_pipes()
        return code

    def _close_pipes(self) -> None:
        for cap in (self._out, self._err):
            if cap is not None:
                cap.join(5.0)
        if self.proc is not None:
            for pipe in (self.proc.stdout, self.proc.stderr):
                if pipe is not None:
                    with contextlib.suppress(OSError):
                        pipe.close()

    def stop(self, sig: signal.Signals = signal.SIGINT, timeout: float = STOP_TIMEOUT_S) -> int:
        """Send ``sig`` to the hub's main process (as Ctrl-C or ``kill`` would) and wait, bounded."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.wait_exit(timeout)

    def kill(self) -> None:
        """SIGKILL the whole process group (supervisor and workers at once); waits for the main process."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(10)
        self._close_pipes()

    def systems(self) -> dict[str, SystemInfo]:
        """System id → (secret, agencies) as printed in the banner."""
        found: dict[str, tuple[str, list[str]]] = {}
        current: str | None = None
        for line in self.stdout.splitlines():
            if m := _SYSTEM.match(line):
                current = m.group(1)
                found[current] = (m.group(2), [])
            elif current and (a := _AGENCY.match(line)):
                found[current][1].append(a.group(1))
            else:
                current = None
        return {sid: SystemInfo(sid, secret, tuple(codes)) for sid, (secret, codes) in found.items()}

    def banner_value(self, label: str) -> str:
        """The first word after ``label`` in the banner (e.g. ``admin token``, ``sntp``)."""
        m = re.search(rf"^\s+{re.escape(label)}\s+(\S+)", self.stdout, re.MULTILINE)
        if not m:
            raise AssertionError(f"no {label!r} line in the banner\n{self.logs()}")
        return m.group(1)

    def logs(self) -> str:
        return f"--- stdout ---\n{self.stdout[-4000:]}\n--- stderr ---\n{self.stderr[-4000:]}"


class HubRunner:
    """Starts hubs under ``tmp`` (its own ``$LIENTHONG_HOME``) and kills them all on exit."""

    def __init__(self, tmp: Path, *, pki_dir: Path | None = None) -> None:
        self.tmp = tmp
        self.home = tmp / "home"
        self.home.mkdir(parents=True, exist_ok=True)
        self.pki_dir = pki_dir
        self.processes: list[HubProcess] = []

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("LIENTHONG_DEBUG", "LIENTHONG_HUB_CONFIG")}
        env.update({"LIENTHONG_HOME": str(self.home), "PYTHONUNBUFFERED": "1", "COLUMNS": "200"})
        return env

    def launch(
        self,
        *,
        data_dir: Path,
        port: int | None = None,
        extra: list[str] | tuple[str, ...] = (),
        workers: int = 1,
        sntp: bool = False,
        tls: bool = False,
    ) -> HubProcess:
        """Start a hub, not waiting: ``--port`` (free), ``--workers``, ``--sntp-port 0`` or ``--no-sntp``."""
        port = port or free_port()
        args = ["--data-dir", str(data_dir), "--port", str(port), "--workers", str(workers)]
        args += ["--sntp-port", "0"] if sntp else ["--no-sntp"]
        if self.pki_dir is not None:
            args += ["--pki", str(self.pki_dir)]
        hub = HubProcess([*args, *extra], self.env(), port, data_dir, tls=tls)
        self.processes.append(hub)
        return hub.launch()

    def start(self, **kw: object) -> HubProcess:
        """:meth:`launch`, then wait for readiness."""
        return self.launch(**kw).wait_ready()  # type: ignore[arg-type]

    def close(self) -> None:
        for hub in self.processes:
            hub.kill()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def run_cli(args: list[str], env: dict[str, str], timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """Run ``lienthong ARGS`` to completion (bounded)."""
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, env=env, timeout=timeout, stdin=subprocess.DEVNULL
    )
