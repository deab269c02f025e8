"""Rows and databases for the doctor / stale-dags / check-db tests (issue 3, parts 2-4).

Databases come from the `airflow_db` fixture (tests/airflow/conftest.py). Rows are written through
SQLAlchemy against the reflected table, with every NOT NULL column given a value of its type, so the
real schema checks them.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
import sqlalchemy as sa

BUNDLE = "dags-folder"
SCHEMAS = ("3.3.2", "2.10.5", "1.10")
# (schema, backend) pairs as pytest params; the databases come from the `airflow_db` fixture of
# tests/airflow/conftest.py (real `airflow db migrate` output, or the 1.10 DDL fixture).
_MARKS = {"sqlite": [], "postgresql": [pytest.mark.postgres], "mariadb": [pytest.mark.mariadb]}
DATABASES = [
    pytest.param((schema, backend), id=f"{schema}-{backend}", marks=_MARKS[backend])
    for schema in SCHEMAS
    for backend in ("sqlite", "postgresql", "mariadb")
]


def _value(column: sa.Column[Any]) -> Any:
    t = column.type
    if isinstance(t, sa.Boolean):
        return False
    if isinstance(t, sa.Integer):
        return 1
    if isinstance(t, (sa.Float, sa.Numeric)):
        return 1.0
    if isinstance(t, sa.DateTime):
        return dt.datetime.now(dt.timezone.utc)
    if isinstance(t, sa.JSON):
        return {}
    if type(t).__name__ == "LONGTEXT":  # MariaDB's JSON: LONGTEXT with a json_valid() CHECK
        return '"x"'
    if isinstance(t, sa.Uuid):
        return uuid.uuid4()
    if isinstance(t, sa.LargeBinary):
        return b""
    return "x"


def _filled(table: sa.Table, values: dict[str, Any]) -> dict[str, Any]:
    row = dict(values)
    for column in table.columns:
        if column.name in row or column.nullable or column.server_default is not None:
            continue
        if column.primary_key and isinstance(column.type, sa.Integer):
            continue  # autoincrement
        row[column.name] = _value(column)
    return row


def _table(conn: sa.Connection, name: str) -> sa.Table:
    return sa.Table(name, sa.MetaData(), autoload_with=conn)


def _ensure_bundle(conn: sa.Connection) -> None:
    if not sa.inspect(conn).has_table("dag_bundle"):
        return
    bundle = _table(conn, "dag_bundle")
    if conn.execute(sa.select(bundle.c.name).where(bundle.c.name == BUNDLE)).first() is None:
        conn.execute(bundle.insert().values(**_filled(bundle, {"name": BUNDLE})))


def insert_dag(url: str, dag_id: str, fileloc: str | None, *, active: bool = True) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        _ensure_bundle(conn)
        dag = _table(conn, "dag")
        values: dict[str, Any] = {"dag_id": dag_id, "fileloc": fileloc}
        if "is_stale" in dag.c:
            values["is_stale"] = not active
            values["bundle_name"] = BUNDLE
        else:
            values["is_active"] = active
        if "is_paused" in dag.c:
            values["is_paused"] = False
        conn.execute(dag.insert().values(**_filled(dag, values)))
    engine.dispose()


def insert_import_error(url: str, filename: str, stacktrace: str) -> str:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        _ensure_bundle(conn)
        names = set(sa.inspect(conn).get_table_names())
        name = "parse_import_error" if "parse_import_error" in names else "import_error"
        table = _table(conn, name)
        values: dict[str, Any] = {"filename": filename, "stacktrace": stacktrace}
        values["timestamp"] = dt.datetime.now(dt.timezone.utc)
        if "bundle_name" in table.c:
            values["bundle_name"] = BUNDLE
        conn.execute(table.insert().values(**_filled(table, values)))
    engine.dispose()
    return name


def dag_states(url: str) -> dict[str, bool]:
    """dag_id -> active, read with the schema's own column."""
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        dag = _table(conn, "dag")
        if "is_stale" in dag.c:
            rows = conn.execute(sa.select(dag.c.dag_id, dag.c.is_stale)).all()
            out = {r[0]: not r[1] for r in rows}
        else:
            rows = conn.execute(sa.select(dag.c.dag_id, dag.c.is_active)).all()
            out = {r[0]: bool(r[1]) for r in rows}
    engine.dispose()
    return out
