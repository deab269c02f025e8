"""Fixtures for the CLI core tests: the test-only app and a runner that keeps stdout and stderr apart."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
import typer
import typer.core
import typer.main
from typer.testing import CliRunner

from braindump_cli.cli.app import app
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


def command_tree() -> list[tuple[str, str, str]]:
    """(group, command, help text) of every leaf command of the real root, loading every group."""
    root = typer.main.get_command(app)
    ctx = typer.Context(root, info_name="bd")
    assert isinstance(root, typer.core.TyperGroup)
    out = []
    for group_name in root.list_commands(ctx):
        group = root.get_command(ctx, group_name)
        assert isinstance(group, typer.core.TyperGroup), group_name
        sub_ctx = typer.Context(group, info_name=group_name, parent=ctx)
        for name in group.list_commands(sub_ctx):
            command = group.get_command(sub_ctx, name)
            assert command is not None
            out.append((group_name, name, command.help or ""))
    return out


def group_names() -> list[str]:
    root = typer.main.get_command(app)
    assert isinstance(root, typer.core.TyperGroup)
    return root.list_commands(typer.Context(root, info_name="bd"))
