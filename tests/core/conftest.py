"""Fixtures for the CLI core tests: the test-only app and a runner that keeps stdout and stderr apart."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from tests.core._testapp import make_app

REPO = Path(__file__).resolve().parents[2]
BD = Path(sys.executable).with_name("bd")


@pytest.fixture(scope="session")
def test_app() -> typer.Typer:
    return make_app()


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    for var in ("BD_DEBUG", "BD_OUTPUT"):
        monkeypatch.delenv(var, raising=False)
    return CliRunner()


def run(
    argv: Sequence[str], *, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run a real process with a clean bd environment; returns the completed process."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("BD_")}
    full.update(env or {})
    return subprocess.run(list(argv), capture_output=True, text=True, env=full, cwd=REPO, timeout=timeout, check=False)
