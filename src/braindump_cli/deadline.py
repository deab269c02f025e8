"""Run a blocking call that has no timeout of its own (a driver's connect) and give up on it at a deadline.

Database drivers try hosts one after another, each up to their own timeout, and some cannot be
interrupted. A daemon thread lets bd answer within `--timeout` whatever the driver does; the call
goes on in the background and its result is dropped.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class DeadlineExceeded(Exception):
    """The call did not return within the deadline (it may still be running in its daemon thread)."""


def call_with_deadline(call: Callable[[], T], *, seconds: float, name: str) -> T:
    """`call()`'s result, or its exception re-raised here, or `DeadlineExceeded` after `seconds`."""
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["value"] = call()
        except BaseException as e:  # handed to the waiting thread below
            outcome["error"] = e

    worker = threading.Thread(target=run, name=name, daemon=True)
    worker.start()
    worker.join(max(seconds, 0.0))
    if worker.is_alive():
        raise DeadlineExceeded(f"no answer within {seconds:g}s")
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]
