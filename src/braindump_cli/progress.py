"""The one progress type: long work in the library reports short lines; the caller decides where they go.

The library never prints (STYLE.md 3). A function that may run for a while takes `progress: Progress`
and calls it with one human line per step; the CLI passes a writer to stderr, tests pass a list's append.
"""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[str], None]


def no_progress(_: str) -> None:
    """The default `progress`: say nothing."""
    return None
