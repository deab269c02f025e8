"""Put the rows of a delete-dag archive back, parents first, in one transaction."""

from __future__ import annotations

import contextlib
import gzip
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from braindump_cli.airflow._db import RowConflict, Schema, connect, insert_rows, quote, reflect_schema, sql
from braindump_cli.airflow.archive import (
    PG_COPY,
    decode_copy_text,
    decode_row,
    encode_row,
    iter_raw_sections,
    read_header,
)
from braindump_cli.airflow.delete.apply import PROGRESS_ROWS
from braindump_cli.airflow.delete.selection import delete_order
from braindump_cli.errors import RefusedError, UsageError
from braindump_cli.progress import Progress, no_progress

if TYPE_CHECKING:
    from braindump_cli.airflow._db import Connection, Target

BATCH = 1000
ON_CONFLICT = ("fail", "skip")


@dataclass(frozen=True)
class RestoreResult:
    """Fields are the `-o json` document."""

    archive: str
    dag_ids: tuple[str, ...]
    restored: dict[str, int]
    skipped: dict[str, int]
    total: int


class _Spool:
    """One pass over the archive, each table's row lines into its own temporary gzip file.

    The archive is in delete order (children first); restoring goes parents first. Spooling keeps
    memory flat and reads the archive once, instead of once per table.
    """

    def __init__(self, archive: Path, directory: Path) -> None:
        self.files: dict[str, Path] = {}
        handles: dict[str, IO[str]] = {}
        try:
            for section, lines in iter_raw_sections(archive):
                handle = handles.get(section.table)
                if handle is None:
                    path = directory / f"{len(handles)}.jsonl.gz"
                    self.files[section.table] = path
                    handle = handles[section.table] = gzip.open(path, "wt", encoding="utf-8", compresslevel=1)  # noqa: SIM115 - closed in finally
                if section.rows == PG_COPY:  # spooled as JSON rows, like every other section
                    lines = (encode_row(decode_copy_text(line)) + "\n" for line in lines)
                for line in lines:
                    handle.write(line)
        finally:
            for handle in handles.values():
                handle.close()

    def rows(self, table: str) -> Iterator[list[Any]]:
        path = self.files.get(table)
        if path is None:
            return
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            for line in fh:
                yield decode_row(line)


def _check_schema(schema: Schema, tables: dict[str, dict[str, Any]], counts: dict[str, int]) -> None:
    for name, meta in tables.items():
        if not counts.get(name):
            continue
        info = schema.tables.get(name)
        if info is None:
            raise UsageError(
                f"the target database has no table {name!r}", hint="restore into a DB with the same schema"
            )
        missing = [c for c in meta["columns"] if c not in info.columns]
        if missing:
            raise UsageError(
                f"table {name!r} in the target database lacks column(s) {', '.join(missing)}",
                hint="restore into a DB with the same schema (same Airflow version)",
            )


def restore_dag(
    target: Target,
    archive: Path,
    *,
    on_conflict: str = "fail",
    ignore_revision: bool = False,
    progress: Progress = no_progress,
) -> RestoreResult:
    """Insert every row of `archive` into the database at `target`; all or nothing.

    on_conflict="fail" rolls everything back at the first row the database rejects (an existing key);
    "skip" leaves such rows out and counts them.
    """
    if on_conflict not in ON_CONFLICT:
        raise UsageError(f"--on-conflict must be one of {', '.join(ON_CONFLICT)}")
    header = read_header(archive)
    restored: dict[str, int] = {}
    skipped: dict[str, int] = {}
    with connect(target, write=True) as conn:
        schema = reflect_schema(conn)
        if header.revision != schema.revision and not ignore_revision:
            raise RefusedError(
                f"the archive is from schema revision {header.revision}, the database is at {schema.revision}",
                hint="restore into a DB at the same Airflow version, or pass --ignore-revision",
            )
        _check_schema(schema, header.tables, header.counts)
        tables = [t for t in header.tables if header.counts.get(t)]
        spool_dir = Path(tempfile.mkdtemp(prefix="bd-restore-"))
        try:
            spool = _Spool(archive, spool_dir)
            for table in reversed(delete_order(schema, tables)):
                columns = tuple(header.tables[table]["columns"])
                n, skip = _insert(conn, table, columns, spool.rows(table), on_conflict=on_conflict)
                if n + skip != header.counts[table]:
                    raise UsageError(
                        f"{archive}: {table} holds {n + skip} rows, its trailer says {header.counts[table]}"
                    )
                if n:
                    restored[table] = n
                if skip:
                    skipped[table] = skip
                if n + skip >= PROGRESS_ROWS:
                    progress(f"{table}: {n} rows restored" + (f", {skip} skipped" if skip else ""))
        finally:
            shutil.rmtree(spool_dir, ignore_errors=True)
        if schema.dialect == "postgresql":
            _bump_sequences(conn, schema, list(restored))
    return RestoreResult(str(archive), header.dag_ids, restored, skipped, sum(restored.values()))


def _batches(rows: Iterator[list[Any]], size: int) -> Iterator[list[list[Any]]]:
    batch: list[list[Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _insert(
    conn: Connection, table: str, columns: Sequence[str], rows: Iterator[list[Any]], *, on_conflict: str
) -> tuple[int, int]:
    n = skipped = 0
    for batch in _batches(rows, BATCH):
        values = [dict(zip(columns, r, strict=False)) for r in batch]
        if on_conflict == "fail":
            try:
                insert_rows(conn, table, columns, values)
            except RowConflict as e:
                raise _conflict(table, e.detail) from e
            n += len(values)
            continue
        try:
            with conn.begin_nested():
                insert_rows(conn, table, columns, values)
            n += len(values)
        except RowConflict:
            for value in values:
                try:
                    with conn.begin_nested():
                        insert_rows(conn, table, columns, [value])
                    n += 1
                except RowConflict:
                    skipped += 1
    return n, skipped


def _conflict(table: str, detail: str) -> RefusedError:
    if "foreign key" in detail.lower():
        return RefusedError(
            f"restoring {table} needs a row the database lacks ({detail}); nothing was restored",
            hint="restore into the database the archive came from, or one with the same shared rows "
            "(dag_bundle, log_template, assets...)",
        )
    return RefusedError(
        f"restoring {table} conflicts with rows already in the database ({detail}); nothing was restored",
        hint="pass --on-conflict skip to keep the existing rows and restore the rest",
    )


def _bump_sequences(conn: Connection, schema: Schema, tables: Sequence[str]) -> None:
    """Move serial sequences past restored ids, so the next insert does not collide with them."""
    for table in tables:
        pk = schema.tables[table].primary_key
        if len(pk) != 1:
            continue
        seq = conn.execute(sql("SELECT pg_get_serial_sequence(:t, :c)"), {"t": quote(conn, table), "c": pk[0]})
        name = seq.scalar()
        if not name:
            continue
        col, qt = quote(conn, pk[0]), quote(conn, table)
        with contextlib.suppress(Exception), conn.begin_nested():
            conn.execute(
                sql(
                    f"SELECT setval(CAST(:s AS regclass), m) FROM (SELECT MAX({col}) AS m FROM {qt}) x "
                    "WHERE m > COALESCE(pg_sequence_last_value(CAST(:s AS regclass)), 0)"
                ),
                {"s": name},
            )
