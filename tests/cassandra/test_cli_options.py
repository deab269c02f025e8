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
COMMANDS = ["ring", "keyspaces", "consistency", "endpoints", "status", "survive", "plan", "capacity"]

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


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["survive", "ks", "--nodes", "2", "--racks", "1"], "give one of --nodes, --racks, --dc"),
        (["survive", "ks", "--level", "MOST"], "MOST"),
        (["plan"], "exactly one of --add N, --decommission NODE, --replace NODE"),
        (["plan", "--add", "1", "--decommission", "10.0.0.1"], "exactly one of"),
        (["plan", "--decommission", "10.0.0.1", "--allocate-rf", "3"], "describe the nodes of --add N"),
        (["capacity", "--disk-size", "lots"], "cannot read size 'lots'"),
        (["capacity", "--growth", "fast"], "cannot read growth rate 'fast'"),
    ],
)
def test_bad_input_exits_2_before_connecting(args: list[str], message: str) -> None:
    # port 1 would refuse: exit 2 proves the input was judged first
    result = runner.invoke(app, ["cassandra", *args, "--hosts", "127.0.0.1", "--port", "1", "--timeout", "2"])
    assert result.exit_code == 2, result.stderr
    assert message in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("command", [["survive", "ks"], ["plan", "--add", "1"], ["capacity"]])
def test_new_commands_exit_5_when_unreachable(command: list[str]) -> None:
    result = runner.invoke(app, ["cassandra", *command, "--hosts", "127.0.0.1", "--port", "1", "--timeout", "2"])
    assert result.exit_code == 5, result.stderr
    assert "Traceback" not in result.stderr
