"""The only place that knows tables and JSON. stdout carries data; everything else goes to stderr."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import math
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

from braindump_cli.redact import redact_text


class OutputFormat(str, enum.Enum):
    table = "table"
    json = "json"
    jsonl = "jsonl"


OutputOpt = Annotated[
    OutputFormat,
    typer.Option(
        "--output",
        "-o",
        envvar="BD_OUTPUT",
        help="Output format: table for people, json/jsonl for scripts (env BD_OUTPUT).",
        case_sensitive=False,
        show_default=True,
    ),
]


def to_jsonable(value: Any) -> Any:
    """Dataclasses, enums, paths, dates and decimals to plain JSON types, recursively."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value) if f.repr}
    if isinstance(value, enum.Enum):
        return to_jsonable(value.value)
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=str) if isinstance(value, (set, frozenset)) else value
        return [to_jsonable(v) for v in items]
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None  # NaN and infinities are not JSON
    if isinstance(value, bytes):
        return value.hex()
    decimal = sys.modules.get("decimal")  # a Decimal exists only once a DB driver imported the module
    if decimal is not None and isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def _dumps(value: Any, *, indent: int | None = None) -> str:
    import json  # imported when printing, not when `bd --help` loads this module

    return json.dumps(value, indent=indent, ensure_ascii=False, allow_nan=False)


def _write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


Column = tuple[str, str]  # (header, key in the row mapping)


def render_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[Column], *, title: str | None = None) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, box=None, header_style="bold", pad_edge=False)
    for header, _ in columns:
        table.add_column(header)
    for row in rows:
        # Text, not str: data such as `[airflow-webserver]` titles must never be read as Rich markup.
        table.add_row(*(Text(_cell(row.get(key))) for _, key in columns))
    Console(soft_wrap=True).print(table)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ",".join(_cell(v) for v in value)
    return str(value)


def emit(
    data: Any,
    fmt: OutputFormat,
    *,
    table: Callable[[Any], None] | None = None,
    jsonl_rows: Callable[[Any], Iterable[Any]] | None = None,
) -> None:
    """Print `data` in the chosen format.

    json: one document. jsonl: one object per line (`jsonl_rows` picks the rows of a report;
    a list is its own rows). table: `table(data)` renders it for people.
    """
    if fmt is OutputFormat.table and table is not None:
        table(data)
        return
    plain = to_jsonable(data)
    if fmt is OutputFormat.jsonl:
        rows = to_jsonable(list(jsonl_rows(data))) if jsonl_rows else (plain if isinstance(plain, list) else [plain])
        _write("".join(_dumps(r) + "\n" for r in rows))
    else:
        _write(_dumps(plain, indent=2) + "\n")


def info(message: str) -> None:
    """A progress or status line for people, on stderr."""
    print(redact_text(message), file=sys.stderr, flush=True)


def warn(message: str) -> None:
    print(f"bd: warning: {redact_text(message)}", file=sys.stderr, flush=True)


def error_line(message: str, hint: str | None = None) -> None:
    """`bd: error: <message>` on one line (inner newlines folded), then `hint: <next step>`."""
    message = " ".join(line.strip() for line in message.splitlines() if line.strip())
    print(f"bd: error: {redact_text(message)}", file=sys.stderr, flush=True)
    if hint:
        print(f"hint: {redact_text(hint)}", file=sys.stderr, flush=True)
