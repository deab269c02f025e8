"""Bounded batches, each its own short transaction, resumable: the run loop of `delete-dag --batch-size`
(batched_dag.py) and `prune --batch-size` (prune.py), over any Selection.

The same selection as the one-transaction delete, the same order (children first, along the live
foreign keys). A verb may prepare first in its own commit (delete-dag pauses its DAGs, so the
scheduler adds no runs meanwhile). Then, table by table and branch by branch, each batch:

1. selects at most N rows and locks them (`FOR UPDATE`; SQLite takes its write lock at BEGIN),
2. appends them to the archive and fsyncs it (journal.py),
3. deletes exactly those rows by primary key and commits; a row count that differs rolls back.

Other sessions wait at most one batch for a row bd holds. Killed at any point, the run resumes with
`--resume ARCHIVE`: the archive's journal says which batches are in the archive, the database says
whether the last one committed, and the run goes on until the selection is empty, as the one
transaction would have left it. The verb re-derives the same selection from the archive's header.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from braindump_cli.airflow._db import NO_GUARDS, DbTimeoutError, Guards, connect, quote, set_guards, sql
from braindump_cli.airflow.archive import encode_row
from braindump_cli.airflow.delete.journal import BatchJournal
from braindump_cli.airflow.delete.selection import Selection, render_branch, values_for
from braindump_cli.airflow.delete.statements import archive_columns, server_json
from braindump_cli.errors import BdError, UsageError
from braindump_cli.progress import Progress, no_progress

if TYPE_CHECKING:
    from braindump_cli.airflow._db import Connection, Target

log = logging.getLogger(__name__)

# Above this many rows, delete-dag and prune batch on their own (unless --one-transaction): a
# one-transaction delete holds every row it removed until it commits, so a writer that wants one
# waits about rows / AUTO_BATCH_SIZE times as long as behind one batch (bench/airflow_auto_batch.py;
# the measurement is in docs/airflow.md).
AUTO_BATCH_ROWS = 100_000
AUTO_BATCH_SIZE = 10_000


class BatchVerb(Protocol):
    """What a batched verb gives the run loop."""

    command: str
    """The `bd airflow` command, for the `--resume` hints."""

    def select(self, conn: Connection) -> Selection:
        """The rows to delete, in a transaction of their own; on resume, the same ones from the header."""

    def header(self, sel: Selection) -> dict[str, Any]:
        """The archive's header; its `batched` holds what `--resume` needs to select the same rows."""

    def prepare(self, conn: Connection, sel: Selection, guards: Guards) -> None:
        """Before the batches (also on resume), in its own commit."""

    def rows(self, table: str, columns: Sequence[str], lines: list[str]) -> list[str]:
        """A batch's archive lines as the one-transaction delete would have archived them."""


def require_batch_size(batch_size: int, archive: Path | None) -> Path:
    if batch_size < 1:
        raise UsageError("--batch-size must be at least 1")
    if archive is None:
        raise UsageError("--batch-size needs the archive: it is the journal --resume reads", hint="drop --no-archive")
    return archive


def batch_plan(sel: Selection, counts: dict[str, int], batch_size: int) -> tuple[dict[str, int], str]:
    """(transactions per table, what stays locked) of a batched run of `sel`: the `--dry-run` plan."""
    # At least one transaction per table and branch; rows selected by several branches go in the first.
    batches = {t: max(len(sel.branches[t]), -(-n // batch_size)) for t, n in counts.items()}
    return batches, f"batches: at most {batch_size} rows of one table locked at a time, each batch its own transaction"


def too_many_rows(conn: Connection, sel: Selection) -> bool:
    """Whether `sel` holds more than AUTO_BATCH_ROWS rows; counts at most one more than that."""
    limit, seen = AUTO_BATCH_ROWS, 0
    for table in sel.order:
        qt = quote(conn, table)
        where = " OR ".join(render_branch(conn, sel, table, qt, b) for b in sel.branches[table])
        stmt = f"SELECT COUNT(*) FROM (SELECT 1 FROM {qt} WHERE {where} LIMIT {limit + 1 - seen}) bounded"
        seen += int(conn.execute(_bind(stmt), values_for(sel, stmt)).scalar_one())
        if seen > limit:
            return True
    return False


def auto_batch(rows: int, batch_size: int | None, *, one_transaction: bool) -> tuple[int | None, bool]:
    """(batch size, whether bd chose it) for a run of `rows` rows: batches of AUTO_BATCH_SIZE above
    AUTO_BATCH_ROWS, unless the caller chose either way."""
    if batch_size is not None and one_transaction:
        raise UsageError("--batch-size and --one-transaction exclude each other", hint="pass only one of them")
    if batch_size is not None or one_transaction or rows <= AUTO_BATCH_ROWS:
        return batch_size, False
    return AUTO_BATCH_SIZE, True


def auto_batch_note(batch_size: int) -> str:
    """The stderr line of an automatic switch to batches."""
    return (
        f"more than {AUTO_BATCH_ROWS} rows: deleting in batches of {batch_size} "
        "(resumable; pass --one-transaction to delete in one transaction)"
    )


def use_batches(error: DbTimeoutError, command: str) -> DbTimeoutError:
    """A guard that fired in a one-transaction run: the same error, its hint the batched run."""
    return DbTimeoutError(
        error.message,
        hint=f"delete in short transactions: bd airflow {command} ... --batch-size {AUTO_BATCH_SIZE} "
        "(or raise --lock-timeout / --statement-timeout)",
    )


def run_batched(
    target: Target,
    verb: BatchVerb,
    *,
    archive: Path,
    batch_size: int,
    guards: Guards = NO_GUARDS,
    progress: Progress = no_progress,
) -> BatchJournal:
    """Archive and delete `verb`'s selection in batches of at most `batch_size` rows; the finished journal."""
    journals: list[BatchJournal] = []  # the journal, once the run has one
    try:
        with connect(target, write=True, one_transaction=False) as conn:
            with conn.begin():
                sel = verb.select(conn)
            _require_primary_keys(sel, verb.command)
            journals.append(BatchJournal.create(archive, verb.header(sel), command=verb.command))
            verb.prepare(conn, sel, guards)
            _run(conn, sel, journals[0], verb, batch_size=batch_size, guards=guards, progress=progress)
        # Database errors surface when the connection closes (the adapter translates them there).
        journals[0].finish()
    except DbTimeoutError as e:
        if not journals:
            raise
        raise _resumable(e, journals[0], verb.command) from e
    finally:
        for journal in journals:
            journal.close()
    return journals[0]


def resume_batched(
    target: Target,
    archive: Path,
    make_verb: Callable[[dict[str, Any]], BatchVerb],
    *,
    batch_size: int | None = None,
    guards: Guards = NO_GUARDS,
    progress: Progress = no_progress,
) -> tuple[BatchJournal, int]:
    """Finish the batched run that wrote `archive` and was interrupted; ends as if it had not been.
    `make_verb(header)` rebuilds the verb from the archive's header (and refuses another verb's)."""
    journal = BatchJournal.resume(archive)
    try:
        batched = journal.header.get("batched") or {}
        if not batched:
            raise UsageError(f"{archive} was not written by a batched run", hint="nothing to resume")
        verb = make_verb(journal.header)
        size = batch_size or int(batched["batch_size"])
        try:
            with connect(target, write=True, one_transaction=False) as conn:
                with conn.begin():
                    sel = verb.select(conn)
                    _settle_last_batch(conn, journal)
                progress(f"resuming after {len(journal.batches)} committed batches")
                verb.prepare(conn, sel, guards)  # the first run may have been stopped before it prepared
                _run(conn, sel, journal, verb, batch_size=size, guards=guards, progress=progress)
        except DbTimeoutError as e:
            raise _resumable(e, journal, verb.command) from e
        journal.finish()
    finally:
        journal.close()
    return journal, size


def _resumable(error: DbTimeoutError, journal: BatchJournal, command: str) -> DbTimeoutError:
    reason = error.message.split(";", 1)[0]
    return DbTimeoutError(
        f"{reason}; that batch rolled back, {len(journal.batches)} batches are done and archived",
        hint=f"finish it: bd airflow {command} --resume {journal.path} (raise --lock-timeout or lower --batch-size)",
    )


def _require_primary_keys(sel: Selection, command: str) -> None:
    missing = [t for t in sel.order if not sel.schema.tables[t].primary_key]
    if missing:
        raise UsageError(
            f"a batched {command} needs a primary key on every table; {', '.join(missing)} has none",
            hint="run without --batch-size (one transaction)",
        )


def _bind(statement: str) -> Any:
    return sql(statement, lists=[n for n in ("ids", "filelocs", "keys") if f":{n}" in statement])


def _run(
    conn: Connection,
    sel: Selection,
    journal: BatchJournal,
    verb: BatchVerb,
    *,
    batch_size: int,
    guards: Guards,
    progress: Progress,
) -> None:
    for table in sel.order:
        done = 0
        for branch in sel.branches[table]:
            while (n := _one_batch(conn, sel, journal, verb, table, branch, batch_size, guards)) > 0:
                done += n
                log.debug("%s: batch of %d rows", table, n)
        if done:
            progress(f"{table}: {done} rows deleted")


def _one_batch(
    conn: Connection,
    sel: Selection,
    journal: BatchJournal,
    verb: BatchVerb,
    table: str,
    branch: Any,
    size: int,
    guards: Guards,
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
        lines = verb.rows(table, info.columns, [str(r[skip]) if json_rows else encode_row(r[skip:]) for r in rows])
        journal.write_batch(table, info.columns, lines)
        if by_ctid:
            removed = _delete_ctids(conn, table, [r[0] for r in rows])
        else:
            removed = _delete_keys(conn, table, pk, [tuple(r[: len(pk)]) for r in rows])
        if removed != len(rows):
            raise BdError(
                f"{table}: archived {len(rows)} rows but the delete removed {removed}; batch rolled back",
                hint=f"something changed the rows meanwhile; bd airflow {verb.command} --resume {journal.path}",
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
