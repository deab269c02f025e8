"""`delete_dag` and its plan: archive, then delete every selected row children first, in one transaction."""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from braindump_cli.airflow._db import NO_GUARDS, DbTimeoutError, Guards, connect, copy_out, set_guards, stream_rows
from braindump_cli.airflow.archive import ArchiveWriter
from braindump_cli.airflow.delete.batched import (
    auto_batch,
    auto_batch_note,
    batch_plan,
    require_batch_size,
    too_many_rows,
    use_batches,
)
from braindump_cli.airflow.delete.batched_dag import delete_dag_batched
from braindump_cli.airflow.delete.checks import check_selection
from braindump_cli.airflow.delete.result import DeleteResult
from braindump_cli.airflow.delete.selection import (
    Selection,
    bind,
    bind_values,
    count_rows,
    select_rows,
    values_for,
)
from braindump_cli.airflow.delete.statements import (
    PARAMS_SETTING,
    archive_header,
    copy_statements,
    pg_copy,
    server_json,
    statements,
)
from braindump_cli.errors import BdError
from braindump_cli.progress import Progress, no_progress

if TYPE_CHECKING:
    from braindump_cli.airflow._db import Connection, Target

# Progress lines only for the tables of a large delete: this many rows, or this long.
PROGRESS_ROWS = 10_000
PROGRESS_SECONDS = 1.0
log = logging.getLogger(__name__)


def default_archive_path(
    dag_ids: Sequence[str], *, now: dt.datetime | None = None, directory: Path | None = None
) -> Path:
    stamp = (now or dt.datetime.now(dt.timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", dag_ids[0])[:80].strip(".") or "dag"
    more = f"-and-{len(dag_ids) - 1}-more" if len(dag_ids) > 1 else ""
    return (directory or Path.cwd()) / f"bd-archive-{safe}{more}-{stamp}.jsonl.gz"


def plan_dag_delete(
    target: Target,
    dag_ids: Sequence[str],
    *,
    keep_logs: bool = False,
    include_subdags: bool = False,
    dags_folder: Path | None = None,
    batch_size: int | None = None,
    one_transaction: bool = False,
) -> DeleteResult:
    """Rows per table that `delete_dag` would remove, in delete order; changes nothing (the `--dry-run`).

    A missing DAG raises NotFoundError; what `delete_dag` would refuse comes back in `warnings`. The
    plan is batched as `delete_dag` would batch it (`batch_size`, or bd's own choice above
    AUTO_BATCH_ROWS rows unless `one_transaction`).
    """
    with connect(target) as conn:
        sel = select_rows(conn, dag_ids, keep_logs=keep_logs, include_subdags=include_subdags)
        warnings = check_selection(conn, sel, force=True, dags_folder=dags_folder)
        counts = count_rows(conn, sel)
    result = DeleteResult(tuple(dag_ids), True, counts, sum(counts.values()), None, tuple(warnings))
    batch_size, auto = auto_batch(result.total, batch_size, one_transaction=one_transaction)
    if batch_size is None:
        return result
    batches, locks = batch_plan(sel, counts, batch_size)
    return replace(result, batch_size=batch_size, batches=batches, locks=locks, auto_batched=auto)


def delete_dag(
    target: Target,
    dag_ids: Sequence[str],
    *,
    archive: Path | None,
    keep_logs: bool = False,
    include_subdags: bool = False,
    force: bool = False,
    dags_folder: Path | None = None,
    guards: Guards = NO_GUARDS,
    batch_size: int | None = None,
    one_transaction: bool = False,
    progress: Progress = no_progress,
) -> DeleteResult:
    """Archive (unless `archive` is None) and delete every row of the DAGs, in one transaction, or in
    transactions of at most `batch_size` rows (batched.py; needs an archive: it is the run's journal).
    With neither `batch_size` nor `one_transaction`, more than AUTO_BATCH_ROWS rows go in batches of
    AUTO_BATCH_SIZE (said through `progress` and in `auto_batched`); without an archive, never.

    `guards` bound the transaction's lock waits and statements on the server; one that fires rolls the
    whole delete back (DbTimeoutError, exit 6) and the hint says to use batches.
    """
    big = batch_size is None and not one_transaction and archive is not None
    big = big and _too_many_rows(target, dag_ids, keep_logs=keep_logs, include_subdags=include_subdags)
    batch_size, auto = auto_batch(sys.maxsize if big else 0, batch_size, one_transaction=one_transaction)
    if batch_size is not None:
        if auto:
            progress(auto_batch_note(batch_size))
        result = delete_dag_batched(
            target, dag_ids, archive=require_batch_size(batch_size, archive), batch_size=batch_size,
            keep_logs=keep_logs, include_subdags=include_subdags, force=force, dags_folder=dags_folder,
            guards=guards, progress=progress,
        )  # fmt: skip
        return replace(result, auto_batched=auto)
    try:
        return _delete_in_one_transaction(
            target, dag_ids, archive=archive, keep_logs=keep_logs, include_subdags=include_subdags,
            force=force, dags_folder=dags_folder, guards=guards, progress=progress,
        )  # fmt: skip
    except DbTimeoutError as e:
        raise use_batches(e, "delete-dag") from e


def _too_many_rows(target: Target, dag_ids: Sequence[str], *, keep_logs: bool, include_subdags: bool) -> bool:
    with connect(target) as conn:
        return too_many_rows(conn, select_rows(conn, dag_ids, keep_logs=keep_logs, include_subdags=include_subdags))


def _delete_in_one_transaction(
    target: Target,
    dag_ids: Sequence[str],
    *,
    archive: Path | None,
    keep_logs: bool,
    include_subdags: bool,
    force: bool,
    dags_folder: Path | None,
    guards: Guards,
    progress: Progress,
) -> DeleteResult:
    with connect(target, write=True) as conn:
        set_guards(conn, guards)
        sel = select_rows(conn, dag_ids, keep_logs=keep_logs, include_subdags=include_subdags)
        warnings = check_selection(conn, sel, force=force, dags_folder=dags_folder)
        for w in warnings:
            progress(f"warning: --force: {w}")
        deleted, path = delete_selection(conn, sel, archive=archive, header=archive_header(sel), progress=progress)
    return DeleteResult(
        tuple(dag_ids), False, deleted, sum(deleted.values()), str(path) if path else None, tuple(warnings)
    )


def delete_selection(
    conn: Connection, sel: Selection, *, archive: Path | None, header: dict[str, Any], progress: Progress
) -> tuple[dict[str, int], Path | None]:
    """Archive and delete every row of `sel` in the caller's transaction: (rows per table, archive)."""
    deleted: dict[str, int] = {}
    copy = archive is not None and pg_copy(conn, sel)
    if copy:
        conn.execute(
            bind("SELECT set_config(:name, :value, true)"),
            {"name": PARAMS_SETTING, "value": json.dumps(bind_values(sel))},
        )
    writer = ArchiveWriter(archive, header) if archive is not None else None
    try:
        for table in sel.order:
            n = _delete_table(conn, sel, table, writer, copy=copy, progress=progress)
            if n:
                deleted[table] = n
        path = writer.commit() if writer is not None else None
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    return deleted, path


def _delete_table(
    conn: Connection, sel: Selection, table: str, writer: ArchiveWriter | None, *, copy: bool, progress: Progress
) -> int:
    """Archive and delete the selected rows of one table; the rows removed."""
    started = time.monotonic()
    # COPY text rows are told apart from bd's own lines by the tab between columns: two columns at least.
    if writer is not None and copy and len(sel.schema.tables[table].columns) > 1:
        n = archived = _copy_delete(conn, sel, table, writer)
    else:
        n, archived = _select_delete(conn, sel, table, writer)
    if writer is not None and archived != n:
        raise BdError(
            f"{table}: archived {archived} rows but the delete removed {n}; rolled back",
            hint="something changed the rows meanwhile; run it again",
        )
    if n:
        log.debug("%s: %d rows", table, n)
        if n >= PROGRESS_ROWS or time.monotonic() - started >= PROGRESS_SECONDS:
            progress(f"{table}: {n} rows deleted")
    return n


def _select_delete(conn: Connection, sel: Selection, table: str, writer: ArchiveWriter | None) -> tuple[int, int]:
    """Archive each branch's rows with a streamed SELECT, then DELETE them: (rows deleted, rows archived)."""
    n = archived = 0
    columns = sel.schema.tables[table].columns
    for select_sql, delete_sql in statements(conn, sel, table):
        if writer is not None:
            rows = stream_rows(conn, bind(select_sql), values_for(sel, select_sql))
            if server_json(sel, table):
                archived += writer.write_json_rows(table, columns, (r[0] for r in rows))
            else:
                archived += writer.write_rows(table, columns, rows)
        result = conn.execute(bind(delete_sql), values_for(sel, delete_sql))
        n += max(result.rowcount, 0)
    return n, archived


def _copy_delete(conn: Connection, sel: Selection, table: str, writer: ArchiveWriter) -> int:
    """PostgreSQL: each branch deleted by one `COPY (DELETE ... RETURNING ...)` whose rows are the archive."""
    n = 0
    columns = sel.schema.tables[table].columns
    for stmt in copy_statements(conn, sel, table):
        n += writer.write_copy_rows(table, columns, functools.partial(copy_out, conn, stmt), text_rows=True)
    return n
