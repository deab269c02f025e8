"""Shared test plumbing. Server fixtures live in each domain's conftest (tests/<domain>/conftest.py).

A server that cannot start fails the test run with the reason; it never skips quietly. Set
BD_TEST_ALLOW_SKIP=1 on a workstation without the toolchains to turn those failures into skips
(CI never sets it).
"""

from __future__ import annotations

import os

import pytest


def server_unavailable(what: str, why: str) -> None:
    """Call from a server fixture when the server cannot be started."""
    message = f"{what} could not be started: {why}"
    if os.environ.get("BD_TEST_ALLOW_SKIP") == "1" and not os.environ.get("CI"):
        pytest.skip(message)
    pytest.fail(message, pytrace=False)
