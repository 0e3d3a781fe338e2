"""Where lienthong keeps its state (test CA, keys, hub data): ``$LIENTHONG_HOME``.

Default: ``$XDG_DATA_HOME/lienthong`` or ``~/.local/share/lienthong``. Created on first use.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["lienthong_home"]


def lienthong_home(create: bool = True) -> Path:
    """Return the state directory, creating it (mode 0700) unless ``create`` is false."""
    env = os.environ.get("LIENTHONG_HOME")
    if env:
        home = Path(env).expanduser()
    else:
        base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
        home = Path(base) / "lienthong"
    if create:
        home.mkdir(parents=True, exist_ok=True, mode=0o700)
    return home
