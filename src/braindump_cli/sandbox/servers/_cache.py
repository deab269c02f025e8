"""Where built binaries, downloaded jars and virtualenvs are cached: outside any checkout."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """`$BD_CACHE_DIR`, else `$XDG_CACHE_HOME/braindump`, else `~/.cache/braindump`."""
    explicit = os.environ.get("BD_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "braindump"
