"""The CQL connection options every `bd cassandra` command shares (declared once by opts.with_cassandra)."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

from braindump_cli.cli.app import app
from braindump_cli.cli.cassandra import app as cassandra_app

CONNECTION = [
    "--hosts",
    "--port",
    "--username",
    "--password-file",
    "--timeout",
    "--local-dc",
    "--ssl-ca",
    "--ssl-cert",
    "--ssl-key",
    "--ssl-no-verify",
]
COMMANDS = ["ring", "keyspaces", "consistency", "endpoints", "status"]

runner = CliRunner()


def _options(command: str) -> list[str]:
    group = typer.main.get_command(cassandra_app)
    params = group.commands[command].params  # type: ignore[attr-defined]
    return [max(p.opts, key=len) for p in params if p.opts[0].startswith("-")]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_takes_the_connection_options_right_before_output(command: str) -> None:
    options = _options(command)
    at = options.index("--hosts")
    assert options[at : at + len(CONNECTION) + 1] == [*CONNECTION, "--output"]


def test_the_options_reach_the_settings_before_any_connection(tmp_path: Path) -> None:
    empty = tmp_path / "password"
    empty.write_text("")
    result = runner.invoke(app, ["cassandra", "status", "--password-file", str(empty), "-u", "bob"])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"bd: error: --password-file {empty} is empty",
        "hint: write the password alone on the first line of the file",
    ]


def test_hosts_port_and_timeout_are_used_to_connect() -> None:
    result = runner.invoke(app, ["cassandra", "ring", "--hosts", "127.0.0.1", "--port", "1", "--timeout", "2"])
    assert result.exit_code == 5, result.stderr
    assert "127.0.0.1:1" in result.stderr
    assert result.stdout == ""
