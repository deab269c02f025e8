"""`delete_dag` with `--batch-size N`: bounded batches, each its own short transaction, resumable.

The same selection as the one-transaction delete (selection.py), the same order (children first,
along the live foreign keys). The DAG is paused first (its own commit), so the scheduler adds no
runs meanwhile. Then, table by table and branch by branch, each batch:

1. selects at most N rows and locks them (`FOR UPDATE`; SQLite takes its write lock at BEGIN),
2. appends them to the archive and fsyncs it (journal.py),
3. deletes exactly those rows by primary key and commits; a row count that differs rolls back.

Other sessions wait at most one batch for a row bd holds. Killed at any point, the run resumes with
`--resume ARCHIVE`: the archive's journal says which batches are in the archive, the database says
whether the last one committed, and the run goes on until the selection is empty, as the one
transaction would have left it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from braindump_cli.airflow._db import NO_GUARDS, DbTimeoutError, Guards, connect, quote, set_guards, sql
from braindump_cli.airflow.archive import encode_row, encode_value
from braindump_cli.airflow.delete.checks import check_selection
from braindump_cli.airflow.delete.journal import BatchJournal
from braindump_cli.airflow.delete.result import DeleteResult
from braindump_cli.airflow.delete.selection import Selection, render_branch, seed_sql, select_rows, values_for
from braindump_cli.airflow.delete.statements import archive_columns, archive_header, server_json
from braindump_cli.errors import BdError, UsageError
from braindump_cli.progress import Progress, no_progress

if TYPE_CHECKING:
    from braindump_cli.airflow._db import Connection, Target

log = logging.getLogger(__name__)


def delete_dag_batched(
    target: Target,
    dag_ids: Sequence[str],
    *,
    archive: Path,
    batch_size: int,
    keep_logs: bool = False,
    include_subdags: bool = False,
    force: bool = False,
    dags_folder: Path | None = None,
    guards: Guards = NO_GUARDS,
    progress: Progress = no_progress,
) -> DeleteResult:
    """Archive and delete every row of the DAGs in batches of at most `batch_size` rows per transaction."""
    if batch_size < 1:
        raise UsageError("--batch-size must be at least 1")
    journals: list[BatchJournal] = []  # the journal, once the run has one
    try:
        with connect(target, write=True, one_transaction=False) as conn:
            with conn.begin():
                sel = select_rows(conn, dag_ids, keep_logs=keep_logs, include_subdags=include_subdags)
                warnings = check_selection(conn, sel, force=force, dags_folder=dags_folder)
                paused = _paused_before(conn, sel)
            _require_primary_keys(sel)
            for w in warnings:
                progress(f"warning: --force: {w}")
            options = {"batch_size": batch_size, "keep_logs": keep_logs, "include_subdags": include_subdags}
            journals.append(BatchJournal.create(archive, _header(sel, {**options, "paused": paused})))
            _pause(conn, sel, guards)
            _run(conn, sel, journals[0], batch_size=batch_size, guards=guards, progress=progress)
        # Database errors surface when the connection closes (the adapter translates them there).
        path = journals[0].finish()
    except DbTimeoutError as e:
        if not journals:
            raise
        raise _resumable(e, journals[0]) from e
    finally:
        for journal in journals:
            journal.close()
    return _result(dag_ids, path, journals[0], warnings, batch_size)


def resume_delete(
    target: Target,
    archive: Path,
    *,
    batch_size: int | None = None,
    guards: Guards = NO_GUARDS,
    progress: Progress = no_progress,
) -> DeleteResult:
    """Finish the batched delete that wrote `archive` and was interrupted; ends as if it had not been."""
    journal = BatchJournal.resume(archive)
    try:
        header = journal.header
        batched = header.get("batched") or {}
        if not batched:
            raise UsageError(f"{archive} was not written by a batched delete", hint="nothing to resume")
        size = batch_size or int(batched["batch_size"])
        try:
            with connect(target, write=True, one_transaction=False) as conn:
                with conn.begin():
                    sel = select_rows(
                        conn,
                        header["dag_ids"],
                        keep_logs=bool(batched["keep_logs"]),
                        include_subdags=bool(batched["include_subdags"]),
                        files=batched["files"],
                    )
                    _settle_last_batch(conn, journal)
                progress(f"resuming after {len(journal.batches)} committed batches")
                _pause(conn, sel, guards)  # the first run may have been stopped before it paused the DAG
                _run(conn, sel, journal, batch_size=size, guards=guards, progress=progress)
        except DbTimeoutError as e:
            raise _resumable(e, journal) from e
        path = journal.finish()
    finally:
        journal.close()
    return _result(header["dag_ids"], path, journal, [], size)


def _result(
    dag_ids: Sequence[str], path: Path, journal: BatchJournal, warnings: Sequence[str], size: int
) -> DeleteResult:
    counts = journal.counts()
    return DeleteResult(tuple(dag_ids), False, counts, sum(counts.values()), str(path), tuple(warnings), size)


def _resumable(error: DbTimeoutError, journal: BatchJournal) -> DbTimeoutError:
    reason = error.message.split(";", 1)[0]
    return DbTimeoutError(
        f"{reason}; that batch rolled back, {len(journal.batches)} batches are done and archived",
        hint=f"finish it: bd airflow delete-dag --resume {journal.path} (raise --lock-timeout or lower --batch-size)",
    )


def _require_primary_keys(sel: Selection) -> None:
    missing = [t for t in sel.order if not sel.schema.tables[t].primary_key]
    if missing:
        raise UsageError(
            f"batched delete needs a primary key on every table; {', '.join(missing)} has none",
            hint="run without --batch-size (one transaction)",
        )


def _header(sel: Selection, options: dict[str, Any]) -> dict[str, Any]:
    files = {k: v for k, v in sel.params.items() if not k.startswith("sub")}
    return archive_header(sel, batched={**options, "files": files})


def _paused_before(conn: Connection, sel: Selection) -> list[list[Any]]:
    """[dag_id, is_paused] of the DAGs before bd pauses them: the archive keeps the value they had."""
    dag = sel.schema.tables.get("dag")
    if dag is None or not dag.has("is_paused"):
        return []
    qd = quote(conn, "dag")
    where = seed_sql(conn, qd, "dag_id", sel.like_params)
    stmt = f"SELECT {quote(conn, 'dag_id')}, {quote(conn, 'is_paused')} FROM {qd} WHERE {where}"
    return [[r[0], r[1]] for r in conn.execute(_bind(stmt), values_for(sel, stmt))]


def _unpaused(lines: list[str], columns: Sequence[str], paused: list[list[Any]]) -> list[str]:
    """`dag` rows as they were before bd paused them (is_paused put back), so the archive equals the
    one-transaction delete's and a restore brings the DAG back as it was."""
    before = {dag_id: value for dag_id, value in paused}
    id_at, paused_at = columns.index("dag_id"), columns.index("is_paused")
    out = []
    for line in lines:
        row = json.loads(line)
        if row[id_at] in before:
            row[paused_at] = encode_value(before[row[id_at]])
        out.append(encode_row(row))
    return out


def _pause(conn: Connection, sel: Selection, guards: Guards) -> None:
    """Pause the DAGs in their own commit, so the scheduler creates no runs while the batches go."""
    dag = sel.schema.tables.get("dag")
    if dag is None or not dag.has("is_paused"):
        return
    qd = quote(conn, "dag")
    where = seed_sql(conn, qd, "dag_id", sel.like_params)
    stmt = f"UPDATE {qd} SET {quote(conn, 'is_paused')} = :paused WHERE {where}"
    with conn.begin():
        set_guards(conn, guards)
        conn.execute(_bind(stmt), {**values_for(sel, stmt), "paused": True})


def _bind(statement: str) -> Any:
    return sql(statement, lists=[n for n in ("ids", "filelocs", "keys") if f":{n}" in statement])


def _run(
    conn: Connection, sel: Selection, journal: BatchJournal, *, batch_size: int, guards: Guards, progress: Progress
) -> None:
    for table in sel.order:
        done = 0
        for branch in sel.branches[table]:
            while (n := _one_batch(conn, sel, journal, table, branch, batch_size, guards)) > 0:
                done += n
                log.debug("%s: batch of %d rows", table, n)
        if done:
            progress(f"{table}: {done} rows deleted")


def _one_batch(
    conn: Connection, sel: Selection, journal: BatchJournal, table: str, branch: Any, size: int, guards: Guards
) -> int:
    """Archive and delete up to `size` rows of one branch in one transaction; the rows it removed."""
    qt = quote(conn, table)
    info = sel.schema.tables[table]
    pk = info.primary_key
    where = render_branch(conn, sel, table, qt, branch)
    lock = "" if conn.dialect.name == "sqlite" else " FOR UPDATE"
    # PostgreSQL deletes the batch by the rows' physical address (ctid): stable while this transaction
    # holds their locks, and one TID scan whatever the key's width or types.
    by_ctid = conn.dialect.name == "postgresql"
    pk_cols = ", ".join(f"{qt}.{quote(conn, c)}" for c in (("ctid",) if by_ctid else ()) + tuple(pk))
    select = f"SELECT {pk_cols}, {archive_columns(conn, sel, table)} FROM {qt} WHERE {where} LIMIT {int(size)}{lock}"
    skip = len(pk) + by_ctid
    # A batch that fails after its rows reached the archive stays there: whether its DELETE committed is
    # the database's to say, and `--resume` asks it (_settle_last_batch).
    with conn.begin():
        set_guards(conn, guards)
        rows = conn.execute(_bind(select), values_for(sel, select)).all()
        if not rows:
            return 0
        # PostgreSQL encoded each row as JSON itself (one text column after the key).
        json_rows = server_json(sel, table)
        lines = [str(r[skip]) if json_rows else encode_row(r[skip:]) for r in rows]
        paused = journal.header["batched"]["paused"]
        if table == "dag" and paused:
            lines = _unpaused(lines, info.columns, paused)
        journal.write_batch(table, info.columns, lines)
        if by_ctid:
            removed = _delete_ctids(conn, table, [r[0] for r in rows])
        else:
            removed = _delete_keys(conn, table, pk, [tuple(r[: len(pk)]) for r in rows])
        if removed != len(rows):
            raise BdError(
                f"{table}: archived {len(rows)} rows but the delete removed {removed}; batch rolled back",
                hint=f"something changed the rows meanwhile; bd airflow delete-dag --resume {journal.path}",
            )
    return len(rows)


# SQLite binds every value and caps how many one statement takes (999 before 3.32); the PostgreSQL and
# MySQL drivers put the values in the statement text, so there a batch's keys go in one statement.
SQLITE_MAX_BINDS = 999
Key = tuple[Any, ...]


def _key_where(conn: Connection, pk: Sequence[str], count: int) -> str:
    """`pk` matches one of `count` keys (:keys, or :k{i}_{j} for a composite key): a row-value IN list,
    which the servers plan as one lookup per key (an OR of ANDs takes PostgreSQL seconds per thousand)."""
    if len(pk) == 1:
        return f"{quote(conn, pk[0])} IN :keys"
    if conn.dialect.name == "postgresql":
        # left as an OR: the values come from the archive as text, which only bare literals compare
        # with a timestamp key (a VALUES list would type them text); this runs once, on --resume
        ands = (" AND ".join(f"{quote(conn, c)} = :k{i}_{j}" for j, c in enumerate(pk)) for i in range(count))
        return " OR ".join(f"({a})" for a in ands)
    cols = ", ".join(quote(conn, c) for c in pk)
    rows = ", ".join("(" + ", ".join(f":k{i}_{j}" for j in range(len(pk))) + ")" for i in range(count))
    return f"({cols}) IN (VALUES {rows})" if conn.dialect.name == "sqlite" else f"({cols}) IN ({rows})"


def _key_values(pk: Sequence[str], keys: Sequence[tuple[Any, ...]]) -> dict[str, Any]:
    if len(pk) == 1:
        return {"keys": [k[0] for k in keys]}
    return {f"k{i}_{j}": v for i, key in enumerate(keys) for j, v in enumerate(key)}


def _key_chunks(conn: Connection, pk: Sequence[str], keys: Sequence[Key]) -> list[Sequence[Key]]:
    per = max(1, SQLITE_MAX_BINDS // len(pk)) if conn.dialect.name == "sqlite" else max(1, len(keys))
    return [keys[i : i + per] for i in range(0, len(keys), per)]


def _delete_keys(conn: Connection, table: str, pk: Sequence[str], keys: Sequence[tuple[Any, ...]]) -> int:
    removed = 0
    for chunk in _key_chunks(conn, pk, keys):
        stmt = f"DELETE FROM {quote(conn, table)} WHERE {_key_where(conn, pk, len(chunk))}"
        removed += max(int(conn.execute(_bind(stmt), _key_values(pk, chunk)).rowcount), 0)
    return removed


def _delete_ctids(conn: Connection, table: str, ctids: Sequence[Any]) -> int:
    stmt = f"DELETE FROM {quote(conn, table)} WHERE ctid = ANY(CAST(:ctids AS tid[]))"
    return max(int(conn.execute(sql(stmt), {"ctids": [str(c) for c in ctids]}).rowcount), 0)


def _settle_last_batch(conn: Connection, journal: BatchJournal) -> None:
    """The last batch in the archive: if any of its rows is still in the database, its DELETE never
    committed (one transaction each), so it leaves the archive and is done again."""
    found = journal.last_batch_rows()
    if found is None:
        return
    table, columns, rows = found
    pk = journal.header["tables"][table]["primary_key"]
    index = [columns.index(c) for c in pk]
    keys = [tuple(r[i] for i in index) for r in rows]
    for chunk in _key_chunks(conn, pk, keys):
        stmt = f"SELECT 1 FROM {quote(conn, table)} WHERE {_key_where(conn, pk, len(chunk))} LIMIT 1"
        if conn.execute(_bind(stmt), _key_values(pk, chunk)).first() is not None:
            journal.drop_last()
            return
