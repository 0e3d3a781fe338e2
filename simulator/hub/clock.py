"""The hub's clock: Vietnam time with a settable offset and drift, shared by every worker process.

The conformance suite sets the hub clock off by some offset (and a drift) to see whether the system
under test follows the hub (QD28-14.4). Hub time is

    hub = base() + offset_s + drift_ppm * 1e-6 * (base() - epoch)

where ``base`` is the host's wall clock and ``epoch`` the base time at which the settings were written.

Sharing between processes: the settings live in one small JSON file (e.g. ``data_dir/"clock.json"``),
written atomically (temp file + rename) under an advisory lock. Every reader does one ``os.stat`` per
call (about 2 µs measured) and re-reads the JSON only when the file's identity (inode, mtime in ns,
size) changed, so a setting written by one worker is visible to the next call in every other worker.
Writers stamp the file with a strictly increasing nanosecond mtime, so two quick writes of the same
size can never look unchanged even if the inode number is reused.

A missing file means "no offset" (the normal state of a fresh hub); a corrupt file also means no offset
and logs a warning once per file version — the clock never raises on the hot path.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import math
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simulator.edxml.vntime import VN_TZ

if sys.platform != "win32":
    import fcntl

__all__ = ["MAX_DRIFT_PPM", "MAX_OFFSET_S", "ClockSettings", "HubClock"]

_log = logging.getLogger(__name__)

MAX_OFFSET_S = 50 * 365.25 * 86400.0
"""Largest offset accepted (±50 years): keeps hub time inside what datetime and NTP can express."""
MAX_DRIFT_PPM = 100_000.0
"""Largest drift accepted (±10 %): a faster or slower clock is no longer a plausible clock."""

_FORMAT = 1
_FileKey = tuple[int, int, int]  # (inode, mtime ns, size)


@dataclass(frozen=True, slots=True)
class ClockSettings:
    offset_s: float = 0.0
    drift_ppm: float = 0.0
    epoch: float = 0.0  # base (host) POSIX time at which drift started counting; set when written

    def accumulated_s(self, base_now: float) -> float:
        """How far the hub is ahead of the base clock at ``base_now`` (offset plus drift so far)."""
        return self.offset_s + self.drift_ppm * 1e-6 * (base_now - self.epoch)


_ZERO = ClockSettings()


def _check(name: str, value: float, limit: float, unit: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"clock {name} must be a number of {unit} (QD28-14.4); got {value!r}")
    v = float(value)
    if not math.isfinite(v) or abs(v) > limit:
        raise ValueError(
            f"clock {name} must be a finite number of {unit} between {-limit:g} and {limit:g} "
            f"(QD28-14.4); got {value!r}"
        )
    return v


def _parse(raw: bytes) -> ClockSettings:
    """Settings from the state file's bytes; ValueError saying what is wrong."""
    try:
        data: Any = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ValueError("the top level is not a JSON object")
    try:
        return ClockSettings(
            offset_s=_check("offset_s", data.get("offset_s", 0.0), MAX_OFFSET_S, "seconds"),
            drift_ppm=_check("drift_ppm", data.get("drift_ppm", 0.0), MAX_DRIFT_PPM, "ppm"),
            epoch=_check("epoch", data.get("epoch", 0.0), 1e11, "seconds"),
        )
    except ValueError as exc:
        raise ValueError(str(exc)) from None


class HubClock:
    """Hub time, Vietnam time zone; ``state_file=None`` keeps the settings in memory only."""

    def __init__(self, state_file: Path | None = None, *, base: Callable[[], float] = time.time) -> None:
        self._path = Path(state_file) if state_file is not None else None
        self._base = base
        self._memory = _ZERO
        # (key of the file version the settings came from, settings); replaced as one tuple so that
        # readers in other threads always see a consistent pair.
        self._cache: tuple[_FileKey | None, ClockSettings] = (None, _ZERO)
        self._seen_file = False
        self._write_lock = threading.Lock()

    @property
    def state_file(self) -> Path | None:
        return self._path

    # --- reading (hot path) -------------------------------------------------------------------
    def settings(self) -> ClockSettings:
        if self._path is None:
            return self._memory
        try:
            st = os.stat(self._path)
        except FileNotFoundError:
            return self._missing()
        except OSError as exc:
            return self._unreadable(None, f"cannot stat it ({exc})")
        key, cached = self._cache
        if key == (st.st_ino, st.st_mtime_ns, st.st_size):
            return cached
        return self._reload()

    def timestamp(self) -> float:
        """Hub POSIX time: base() + offset + drift since the settings were written."""
        s = self.settings()
        b = self._base()
        return b + s.offset_s + s.drift_ppm * 1e-6 * (b - s.epoch)

    def offset_now(self) -> float:
        """Seconds the hub is ahead of the base clock right now (offset plus drift accumulated so far)."""
        return self.settings().accumulated_s(self._base())

    def now(self) -> dt.datetime:
        """Hub time as an aware datetime in Vietnam time (UTC+07:00), microseconds kept."""
        return dt.datetime.fromtimestamp(self.timestamp(), VN_TZ)

    def _missing(self) -> ClockSettings:
        if self._cache[0] is not None or self._seen_file:
            _log.warning(
                "hub clock file %s disappeared: the hub clock is back to zero offset and drift (QD28-14.4)",
                self._path,
            )
            self._seen_file = False
        self._cache = (None, _ZERO)
        return _ZERO

    def _unreadable(self, key: _FileKey | None, why: str) -> ClockSettings:
        if key is None or self._cache[0] != key:
            _log.warning(
                "hub clock file %s is unusable: %s; using zero offset and drift (QD28-14.4). "
                "Set the clock again through the control API or delete the file.",
                self._path,
                why,
            )
        self._cache = (key, _ZERO)
        return _ZERO

    def _reload(self) -> ClockSettings:
        assert self._path is not None
        try:
            with open(self._path, "rb") as fh:
                st = os.fstat(fh.fileno())
                raw = fh.read(64 * 1024)
        except FileNotFoundError:
            return self._missing()
        except OSError as exc:
            return self._unreadable(None, f"cannot read it ({exc})")
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
        self._seen_file = True
        try:
            settings = _parse(raw)
        except ValueError as exc:
            return self._unreadable(key, str(exc))
        self._cache = (key, settings)
        return settings

    # --- writing (control API; rare) ----------------------------------------------------------
    def set(self, *, offset_s: float | None = None, drift_ppm: float | None = None) -> ClockSettings:
        """Change the offset and/or drift; persisted atomically so every worker sees it at once.

        ``offset_s`` given: the hub is ``offset_s`` seconds ahead of the base clock from now on (any
        drift accumulated so far is dropped). Only ``drift_ppm`` given: the drift accumulated so far is
        folded into the offset, so changing the drift never makes hub time jump. Either way the drift
        starts counting again from now (``epoch`` = base time now).
        """
        new_offset = _check("offset_s", offset_s, MAX_OFFSET_S, "seconds") if offset_s is not None else None
        new_drift = _check("drift_ppm", drift_ppm, MAX_DRIFT_PPM, "ppm") if drift_ppm is not None else None
        with self._locked():
            current = self._fresh_settings()
            b = self._base()
            if new_offset is None:
                new_offset = current.accumulated_s(b)
            settings = ClockSettings(
                offset_s=new_offset,
                drift_ppm=current.drift_ppm if new_drift is None else new_drift,
                epoch=b,
            )
            self._store(settings)
        return settings

    def reset(self) -> None:
        """Back to the host clock: zero offset, zero drift."""
        with self._locked():
            self._store(ClockSettings(epoch=self._base()))

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with self._write_lock:
            if self._path is None or sys.platform == "win32":
                yield
                return
            self._path.parent.mkdir(parents=True, exist_ok=True)
            lock_path = self._path.with_name(self._path.name + ".lock")
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)  # closing releases the lock

    def _fresh_settings(self) -> ClockSettings:
        if self._path is None:
            return self._memory
        self._cache = (None, self._cache[1])  # force a re-read: another worker may have just written
        return self.settings()

    def _store(self, settings: ClockSettings) -> None:
        if self._path is None:
            self._memory = settings
            return
        payload = json.dumps(
            {
                "format": _FORMAT,
                "offset_s": settings.offset_s,
                "drift_ppm": settings.drift_ppm,
                "epoch": settings.epoch,
                "written_at": dt.datetime.now(VN_TZ).isoformat(),
            },
            indent=1,
        ).encode()
        try:
            previous_mtime = os.stat(self._path).st_mtime_ns
        except OSError:
            previous_mtime = 0
        stamp = max(time.time_ns(), previous_mtime + 1)  # strictly increasing: readers never miss a write
        fd, tmp = tempfile.mkstemp(prefix=self._path.name + ".", suffix=".tmp", dir=self._path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(payload)
                fh.flush()
                os.fsync(fh.fileno())
            os.utime(tmp, ns=(stamp, stamp))
            os.replace(tmp, self._path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        self._cache = (None, settings)  # next read picks up the file just written
