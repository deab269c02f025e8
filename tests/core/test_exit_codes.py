"""Every exit code of the contract, through the real root group and its one error handler."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from braindump_cli.errors import ExitCode

FAILURES = [
    ("usage", ExitCode.USAGE),
    ("not-found", ExitCode.NOT_FOUND),
    ("check-failed", ExitCode.CHECK_FAILED),
    ("unreachable", ExitCode.UNREACHABLE),
    ("timeout", ExitCode.TIMEOUT),
    ("refused", ExitCode.ERROR),
    ("permission", ExitCode.ERROR),
    ("aborted", ExitCode.ERROR),
    ("base", ExitCode.ERROR),
]


def test_exit_codes_are_the_documented_contract() -> None:
    assert {c.name: int(c) for c in ExitCode} == {
        "OK": 0,
        "ERROR": 1,
        "USAGE": 2,
        "NOT_FOUND": 3,
        "CHECK_FAILED": 4,
        "UNREACHABLE": 5,
        "TIMEOUT": 6,
        "INTERRUPTED": 130,
    }


def test_ok_is_0(runner: CliRunner, test_app: typer.Typer) -> None:
    result = runner.invoke(test_app, ["t", "report", "-o", "json"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["schema_version"] == 1


@pytest.mark.parametrize(("kind", "code"), FAILURES)
def test_each_error_class_maps_to_its_exit_code(
    runner: CliRunner, test_app: typer.Typer, kind: str, code: ExitCode
) -> None:
    result = runner.invoke(test_app, ["t", "fail", kind, "--message", f"the {kind} failure", "--hint", "run bd x"])
    assert result.exit_code == code
    assert result.stdout == ""
    assert result.stderr == f"bd: error: the {kind} failure\nhint: run bd x\n"


def test_no_hint_line_without_a_hint(runner: CliRunner, test_app: typer.Typer) -> None:
    result = runner.invoke(test_app, ["t", "fail", "not-found", "--message", "no DAG named x"])
    assert result.exit_code == ExitCode.NOT_FOUND
    assert result.stderr == "bd: error: no DAG named x\n"


def test_a_failed_check_prints_its_report_on_stdout_and_exits_4(runner: CliRunner, test_app: typer.Typer) -> None:
    result = runner.invoke(test_app, ["t", "check", "--problems", "2", "-o", "json"])
    assert result.exit_code == ExitCode.CHECK_FAILED
    assert json.loads(result.stdout) == {"schema_version": 1, "ok": False, "problems": [0, 1]}
    assert result.stderr == "bd: error: 2 problem(s) found\n"
    passed = runner.invoke(test_app, ["t", "check", "-o", "json"])
    assert passed.exit_code == 0
    assert json.loads(passed.stdout)["ok"] is True


@pytest.mark.parametrize(
    "argv",
    [
        ["t", "count", "not-a-number"],  # bad value
        ["t", "report", "-o", "yaml"],  # bad choice
        ["t", "report", "--no-such-option"],
        ["t", "fail"],  # missing argument
        ["t", "no-such-command"],
        ["--no-such-root-option"],
    ],
)
def test_usage_errors_are_one_line_and_exit_2(runner: CliRunner, test_app: typer.Typer, argv: list[str]) -> None:
    result = runner.invoke(test_app, argv)
    assert result.exit_code == ExitCode.USAGE
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0].startswith("bd: error: ")
    assert lines[1].startswith("hint: see `bd")
    assert len(lines) == 2
    assert "Traceback" not in result.stderr


def test_a_command_return_value_is_not_an_exit_code(runner: CliRunner, test_app: typer.Typer) -> None:
    result = runner.invoke(test_app, ["t", "count", "3"])
    assert result.exit_code == 0
    assert result.stdout == "3\n"


def test_keyboard_interrupt_exits_130(runner: CliRunner, test_app: typer.Typer) -> None:
    result = runner.invoke(test_app, ["t", "fail", "interrupt"])
    assert result.exit_code == ExitCode.INTERRUPTED
    assert result.stderr == "bd: error: interrupted\n"


def test_unexpected_exception_is_one_line_plus_hint(runner: CliRunner, test_app: typer.Typer) -> None:
    result = runner.invoke(test_app, ["t", "fail", "unexpected", "--message", "first line\nsecond line"])
    assert result.exit_code == ExitCode.ERROR
    assert result.stdout == ""
    assert result.stderr == (
        "bd: error: unexpected ValueError: first line\nhint: run again with --debug for a traceback, and report it\n"
    )


def test_no_traceback_without_debug_and_one_with_it(runner: CliRunner, test_app: typer.Typer) -> None:
    plain = runner.invoke(test_app, ["t", "fail", "unreachable", "--message", "cannot reach 127.0.0.1:9042"])
    assert "Traceback" not in plain.stderr
    debug = runner.invoke(test_app, ["--debug", "t", "fail", "unreachable", "--message", "cannot reach 127.0.0.1:9042"])
    assert debug.exit_code == ExitCode.UNREACHABLE
    assert "Traceback (most recent call last)" in debug.stderr
    assert "UnreachableError" in debug.stderr
    assert debug.stderr.rstrip().endswith("bd: error: cannot reach 127.0.0.1:9042")
    assert debug.stdout == ""


def test_bd_debug_env_also_shows_tracebacks(runner: CliRunner, test_app: typer.Typer) -> None:
    result = runner.invoke(test_app, ["t", "fail", "unexpected", "--message", "boom"], env={"BD_DEBUG": "1"})
    assert "Traceback (most recent call last)" in result.stderr
    assert "raise ValueError(message)" in result.stderr
    assert "--debug for a traceback" not in result.stderr


def test_error_messages_are_redacted(runner: CliRunner, test_app: typer.Typer) -> None:
    url = "postgresql://airflow:s3cr%40t@db.example:5432/airflow"
    result = runner.invoke(test_app, ["t", "fail", "unreachable", "--message", f"cannot connect to {url}"])
    assert result.exit_code == ExitCode.UNREACHABLE
    assert "s3cr" not in result.stderr
    assert "bd: error: cannot connect to postgresql://airflow:***@db.example:5432/airflow" in result.stderr
    unexpected = runner.invoke(test_app, ["t", "fail", "unexpected", "--message", "token=abcdef123 rejected"])
    assert "abcdef123" not in unexpected.stderr
