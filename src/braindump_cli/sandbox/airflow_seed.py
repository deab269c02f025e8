"""Example DAG rows for a real Airflow schema, derived from the live schema (never a hard-coded list).

For every table the delete-dag closure covers (tables keyed by dag_id / target_dag_id, dag_code and
import errors by file, and everything that references them through foreign keys), rows are made
parent-first: a child gets one row per row of its biggest owned parent (a task instance per run and
task, an xcom per task instance...), foreign-key columns copied from the parent, other columns given
type-correct values. Tables the DAG does not own (dag_bundle, log_template, assets, triggers) get one
shared row, reused by every DAG. The database checks every row: NOT NULL, keys, CHECKs.

`bd sandbox up` seeds its fresh Airflow database with EXAMPLE_DAGS (`seed_example_dags`), so the
tour and the docs have DAGs to delete and restore; bd's tests and bench/airflow_delete.py populate
their databases with `populate_dags` (through tests/airflow/populate.py). This module lives in the
sandbox layer because it builds on the airflow library's reflection (`braindump_cli.sandbox.servers` sits
below the domain libraries and may not import them).
"""

from __future__ import annotations

import itertools
import re
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from braindump_cli.airflow._db import Schema, TableInfo, connect, insert_rows, quote, reflect_schema, sql
from braindump_cli.airflow.delete.selection import build_branches, delete_order, seeds_of

_counter = itertools.count(1000)


@dataclass
class Shape:
    runs: int = 3
    tasks: int = 3
    per_table: dict[str, int] = field(default_factory=lambda: {"log": 4, "xcom": 2, "job": 2})


def fileloc_for(dag_id: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9]+", "_", dag_id)[:60]
    return f"/nonexistent/bd-test-dags/{safe}_{uuid.uuid5(uuid.NAMESPACE_URL, dag_id).hex[:8]}.py"


def _length(type_: str) -> int | None:
    m = re.search(r"\((\d+)\)", type_)
    return int(m.group(1)) if m else None


# Complexity over 10 on purpose: one branch per SQL column type family, a type table written as code.
def generic_value(dialect: str, table: str, col: str, type_: str, n: int) -> Any:  # noqa: C901
    t = type_.upper()
    if col == "state":
        return "success"
    if t.startswith(("TIMESTAMP", "DATETIME")):
        sec, micro = divmod(n, 1_000_000)
        minute, sec = divmod(sec % 3600, 60)
        base = f"2024-01-02 03:{minute:02d}:{sec:02d}.{micro:06d}"
        return base + "+00" if dialect == "postgresql" else base
    if t.startswith("DATE"):
        return "2024-01-02"
    if t.startswith("INTERVAL"):
        return f"{n} seconds"
    if t.startswith(("BOOL", "TINYINT")):  # MySQL/MariaDB reflect Boolean as TINYINT
        return n % 2 == 0
    if t.startswith(("INTEGER", "BIGINT", "SMALLINT", "INT", "NUMERIC", "DECIMAL")):
        return n
    if t.startswith(("FLOAT", "DOUBLE", "REAL")):
        return n + 0.25
    if t.startswith(("JSON", "JSONB")) or (t == "LONGTEXT" and dialect in ("mysql", "mariadb")):
        # MariaDB's JSON is LONGTEXT with a json_valid() CHECK: reflected as LONGTEXT
        return f'{{"k": {n}, "s": "v\\u00e9"}}'
    if t.startswith(("BLOB", "BYTEA", "LARGEBINARY", "BINARY", "VARBINARY", "LONGBLOB", "MEDIUMBLOB")):
        return b"\x00\x80bd" + n.to_bytes(4, "big")
    if t.startswith("UUID"):
        return str(uuid.UUID(int=n))
    if t.startswith("CHAR(32)"):
        return uuid.UUID(int=n).hex
    text = f"{col}-{n}-é"
    limit = _length(t)
    return text[:limit] if limit else text


class Populator:
    """Creates rows for DAGs in one database; shared parent rows are made once and reused."""

    def __init__(self, conn: Any, schema: Schema | None = None, shape: Shape | None = None) -> None:
        self.conn = conn
        self.schema = schema or reflect_schema(conn)
        self.shape = shape or Shape()
        self.dialect = self.schema.dialect
        seeds = seeds_of(self.schema, keep_logs=False, has_files=True, has_pairs=True)
        self.seeds = seeds
        self.owned = set(build_branches(self.schema, seeds))
        self.order = list(reversed(delete_order(self.schema, sorted(self.owned))))
        self.shared: dict[str, dict[str, Any]] = {}

    def value(self, info: TableInfo, col: str) -> Any:
        return generic_value(self.dialect, info.name, col, info.types[info.columns.index(col)], next(_counter))

    def _insert(self, table: str, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        insert_rows(self.conn, table, list(rows[0]), rows)

    def shared_row(self, table: str) -> dict[str, Any]:
        """An existing row of a table no DAG owns, or a new generic one."""
        if table in self.shared:
            return self.shared[table]
        info = self.schema.tables[table]
        cols = ", ".join(quote(self.conn, c) for c in info.columns)
        found = self.conn.execute(sql(f"SELECT {cols} FROM {quote(self.conn, table)} LIMIT 1")).first()
        if found is not None:
            row = dict(zip(info.columns, found, strict=False))
        else:
            row = {}
            for fk in info.foreign_keys:
                idx = [info.columns.index(c) for c in fk.columns]
                if fk.referred_table == table or all(info.nullable[i] for i in idx):
                    continue
                parent = self.shared_row(fk.referred_table)
                row.update({c: parent[rc] for c, rc in zip(fk.columns, fk.referred_columns, strict=False)})
            for c in info.columns:
                if c not in row:
                    # Deterministic values: every database populated this way has the same shared rows.
                    n = zlib.crc32(f"{table}.{c}".encode()) % 1_000_000
                    kind = info.types[info.columns.index(c)]
                    row[c] = (
                        None if c in self._nullable_fk_cols(info) else generic_value(self.dialect, table, c, kind, n)
                    )
            self._insert(table, [row])
        self.shared[table] = row
        return row

    @staticmethod
    def _nullable_fk_cols(info: TableInfo) -> set[str]:
        return {c for fk in info.foreign_keys for c in fk.columns if info.nullable[info.columns.index(c)]}

    def populate(self, dag_id: str, *, fileloc: str | None = None) -> dict[str, list[dict[str, Any]]]:
        """Rows for `dag_id` in every table it can own; returns them per table."""
        fileloc = fileloc or fileloc_for(dag_id)
        made: dict[str, list[dict[str, Any]]] = {}
        bundle: Any = None
        for table in self.order:
            info = self.schema.tables[table]
            owned_fks = [fk for fk in info.foreign_keys if fk.referred_table in made and fk.referred_table != table]
            driver = max(owned_fks, key=lambda fk: len(made[fk.referred_table]), default=None)
            bases: list[dict[str, Any] | None] = list(made[driver.referred_table]) if driver else [None]
            mult = self.shape.per_table.get(table, 1)
            if table == "dag_run":
                mult, bases = self.shape.runs, [None]
                driver = None
            elif table == "task_instance":
                mult = self.shape.tasks
            rows = []
            for base in bases:
                for k in range(mult):
                    rows.append(self._row(info, dag_id, fileloc, made, driver, base, k, bundle))
            self._insert(table, rows)
            made[table] = rows
            if table == "dag" and info.has("bundle_name"):
                bundle = rows[0]["bundle_name"]
        return made

    # Complexity over 10 on purpose: one branch per kind of column (key, foreign key, nullable, typed), the
    # order the database checks them in.
    def _row(  # noqa: C901
        self,
        info: TableInfo,
        dag_id: str,
        fileloc: str,
        made: dict[str, list[dict[str, Any]]],
        driver: Any,
        base: dict[str, Any] | None,
        k: int,
        bundle: Any,
    ) -> dict[str, Any]:
        row: dict[str, Any] = {}
        if driver is not None and base is not None:
            row.update({c: base[rc] for c, rc in zip(driver.columns, driver.referred_columns, strict=False)})
        for seed in self.seeds.get(info.name, ()):
            if seed.kind == "seed" and seed.column is not None and seed.column not in row:
                row[seed.column] = dag_id
        if info.name in ("dag", "dag_code", "serialized_dag") and info.has("fileloc"):
            row["fileloc"] = fileloc
        if info.name == "dag" and info.has("relative_fileloc"):
            row["relative_fileloc"] = fileloc.rsplit("/", 1)[-1]
        if info.name in ("import_error", "parse_import_error"):
            row["filename"] = fileloc.rsplit("/", 1)[-1] if info.has("bundle_name") else fileloc
            if info.has("bundle_name"):
                row["bundle_name"] = bundle
        for fk in info.foreign_keys:
            if fk is driver or fk.referred_table == info.name or all(c in row for c in fk.columns):
                continue
            idx = [info.columns.index(c) for c in fk.columns]
            nullable = all(info.nullable[i] for i in idx)
            if fk.referred_table in made:
                candidates = [
                    p
                    for p in made[fk.referred_table]
                    if all(p.get(c) == row[c] for c in ("dag_id",) if c in row and c in p)
                    and all(p[rc] == row[c] for c, rc in zip(fk.columns, fk.referred_columns, strict=False) if c in row)
                ]
                if candidates:
                    parent = candidates[k % len(candidates)]
                    row.update(
                        {c: parent[rc] for c, rc in zip(fk.columns, fk.referred_columns, strict=False) if c not in row}
                    )
                    continue
            if fk.referred_table not in self.owned:
                if nullable:
                    continue
                parent = self.shared_row(fk.referred_table)
                row.update(
                    {c: parent[rc] for c, rc in zip(fk.columns, fk.referred_columns, strict=False) if c not in row}
                )
        fk_cols = {c for fk in info.foreign_keys for c in fk.columns}
        for c in info.columns:
            if c in row:
                continue
            row[c] = None if c in fk_cols and info.nullable[info.columns.index(c)] else self.value(info, c)
        return row


def populate_dags(
    url: str, dag_ids: list[str], shape: Shape | None = None, *, filelocs: dict[str, str] | None = None
) -> dict[str, dict[str, int]]:
    """Populate each DAG (in order) in one transaction; returns rows made per DAG per table."""
    out = {}
    with connect(url, write=True) as conn:
        pop = Populator(conn, shape=shape)
        for dag_id in dag_ids:
            made = pop.populate(dag_id, fileloc=(filelocs or {}).get(dag_id))
            out[dag_id] = {t: len(r) for t, r in made.items()}
    return out


EXAMPLE_DAGS = ("example_etl", "example_reports")
EXAMPLE_DAGS_FOLDER = "/opt/airflow/dags"


def seed_example_dags(url: str, *, progress: Callable[[str], None]) -> dict[str, dict[str, int]]:
    """EXAMPLE_DAGS in the sandbox's fresh Airflow database: 2 runs of 2 tasks each, files long gone."""
    made = populate_dags(
        url,
        list(EXAMPLE_DAGS),
        # no import errors: these DAGs parsed fine before their files went away
        Shape(runs=2, tasks=2, per_table={"log": 2, "xcom": 1, "job": 1, "import_error": 0}),
        filelocs={d: f"{EXAMPLE_DAGS_FOLDER}/{d}.py" for d in EXAMPLE_DAGS},
    )
    with connect(url, write=True) as conn:
        # generic booleans alternate; the examples are plain active, unpaused DAGs
        columns = set(reflect_schema(conn).tables["dag"].columns)
        wanted = {"is_stale": False, "is_active": True, "is_paused": False}
        sets = ", ".join(f"{quote(conn, c)} = :{c}" for c in wanted if c in columns)
        if sets:
            for dag_id in EXAMPLE_DAGS:
                params = {c: v for c, v in wanted.items() if c in columns}
                conn.execute(sql(f"UPDATE dag SET {sets} WHERE dag_id = :dag_id"), {**params, "dag_id": dag_id})
    for dag_id, tables in made.items():
        progress(f"example DAG {dag_id}: {sum(tables.values())} rows in {len(tables)} tables")
    return made
