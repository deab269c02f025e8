"""`-o table|json|jsonl`: stdout carries the data and nothing else; people's messages go to stderr."""

from __future__ import annotations

import datetime as dt
import enum
import json
import math
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from braindump_cli.cli.output import OutputFormat, emit, to_jsonable


def test_json_is_one_valid_document_and_nothing_else(runner: CliRunner, test_app: typer.Typer) -> None:
    result = runner.invoke(test_app, ["t", "report", "-o", "json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {
        "schema_version": 1,
        "rows": [{"name": "a", "count": 1.5, "ok": True}, {"name": "b", "count": None}],
    }
    assert result.stderr == "working on it\nbd: warning: a warning for people\n"


def test_jsonl_is_one_object_per_line(runner: CliRunner, test_app: typer.Typer) -> None:
    result = runner.invoke(test_app, ["t", "report", "--output", "jsonl"])
    assert result.exit_code == 0
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert rows == [{"name": "a", "count": 1.5, "ok": True}, {"name": "b", "count": None}]


def test_table_is_for_people(runner: CliRunner, test_app: typer.Typer) -> None:
    result = runner.invoke(test_app, ["t", "report"])
    assert result.exit_code == 0
    lines = [line.split() for line in result.stdout.splitlines()]
    assert lines == [["NAME", "COUNT", "OK"], ["a", "1.5", "yes"], ["b", "-", "-"]]
    assert "working on it" not in result.stdout


def test_bd_output_env_sets_the_default_and_the_flag_wins(runner: CliRunner, test_app: typer.Typer) -> None:
    from_env = runner.invoke(test_app, ["t", "report"], env={"BD_OUTPUT": "json"})
    assert json.loads(from_env.stdout)["schema_version"] == 1
    flag_wins = runner.invoke(test_app, ["t", "report", "-o", "jsonl"], env={"BD_OUTPUT": "json"})
    assert len(flag_wins.stdout.splitlines()) == 2
    case_insensitive = runner.invoke(test_app, ["t", "report", "-o", "JSON"])
    assert json.loads(case_insensitive.stdout)["rows"][0]["name"] == "a"


class Colour(enum.Enum):
    red = "r"


@dataclass(frozen=True)
class Conn:
    host: str
    password: str = field(repr=False)


def test_to_jsonable_converts_library_types_and_drops_secret_fields() -> None:
    value = {
        "conn": Conn("h", "hunter2"),
        "when": dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc),
        "day": dt.date(2026, 1, 2),
        "colour": Colour.red,
        "path": Path("/tmp/x"),
        "whole": Decimal("12"),
        "frac": Decimal("1.25"),
        "tags": frozenset({"b", "a"}),
        "pair": (1, 2),
        "nan": math.nan,
        "inf": -math.inf,
        "raw": b"\x01\xff",
        7: None,
    }
    assert to_jsonable(value) == {
        "conn": {"host": "h"},
        "when": "2026-01-02T03:04:05+00:00",
        "day": "2026-01-02",
        "colour": "r",
        "path": "/tmp/x",
        "whole": 12,
        "frac": 1.25,
        "tags": ["a", "b"],
        "pair": [1, 2],
        "nan": None,
        "inf": None,
        "raw": "01ff",
        "7": None,
    }


@pytest.mark.parametrize("fmt", [OutputFormat.json, OutputFormat.jsonl])
def test_emit_always_writes_strict_json(fmt: OutputFormat, capsys: pytest.CaptureFixture[str]) -> None:
    emit([{"x": math.nan, "y": "ü"}], fmt)
    out = capsys.readouterr().out
    for doc in [out] if fmt is OutputFormat.json else out.splitlines():
        json.loads(doc, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    assert "ü" in out


def test_emit_without_a_table_renderer_falls_back_to_json(capsys: pytest.CaptureFixture[str]) -> None:
    emit({"a": 1}, OutputFormat.table)
    assert json.loads(capsys.readouterr().out) == {"a": 1}


def test_table_cells_are_data_not_markup(capsys: pytest.CaptureFixture[str]) -> None:
    from braindump_cli.cli.output import render_table

    render_table([{"title": "[bold]gunicorn: master [airflow-webserver][/bold]"}], [("TITLE", "title")])
    assert "[bold]gunicorn: master [airflow-webserver][/bold]" in capsys.readouterr().out
