"""Fill a real Airflow schema with a DAG's rows: the populator lives in braindump_cli.sandbox.airflow_seed
(`bd sandbox up` seeds its database with it); this module re-exports it for the tests and
bench/airflow_delete.py and adds the snapshot helpers the tests compare databases with.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from braindump_cli.airflow._db import Schema, connect, quote, reflect_schema
from braindump_cli.sandbox.airflow_seed import Populator, Shape, fileloc_for, generic_value, populate_dags

__all__ = ["Populator", "Shape", "checksums", "fileloc_for", "generic_value", "populate_dags", "table_snapshot"]


def _rows(conn: Any, schema: Schema, table: str) -> Iterator[tuple[Any, ...]]:
    from sqlalchemy import text

    cols = ", ".join(quote(conn, c) for c in schema.tables[table].columns)
    yield from conn.execute(text(f"SELECT {cols} FROM {quote(conn, table)}"))


def table_snapshot(url: str) -> dict[str, list[str]]:
    """Every table's rows as sorted reprs: equal snapshots mean identical contents."""
    with connect(url) as conn:
        schema = reflect_schema(conn)
        return {t: sorted(repr(tuple(map(_plain, r))) for r in _rows(conn, schema, t)) for t in schema.tables}


def _plain(value: Any) -> Any:
    return bytes(value) if isinstance(value, memoryview) else value


def checksums(url: str) -> dict[str, str]:
    import hashlib

    return {t: hashlib.sha256("\n".join(rows).encode()).hexdigest()[:16] for t, rows in table_snapshot(url).items()}
