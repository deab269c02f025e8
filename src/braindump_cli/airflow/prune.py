"""`prune`: delete finished DAG runs older than a date, with everything that hangs off them, restorably.

Which runs: `dag_run` rows in a finished state (`success`, `failed`) whose date (`run_after` in 3.x,
`execution_date` before) is before `before`, of the named DAGs (all DAGs when none is named), except
the `keep_last` newest runs of each DAG and any run with a task instance still at work (running,
queued, scheduled, up for retry or reschedule, deferred, restarting).

Which rows: those runs, every row that references them through a foreign key, transitively, from
the live schema (task instances, their xcoms, notes, maps, reschedules, history...), and rows that
name a run by `(dag_id, run_id)` without a foreign key (`log`; in 1.10, where nothing points at
`dag_run`, by `(dag_id, execution_date)`). The delete machinery is delete-dag's
(children first, one transaction, the server's guards), and so is the archive: `restore-dag` puts a
prune back.

With `batch_size`, delete-dag's batch loop (delete/batched.py) runs over the same selection. The runs
are fixed when the prune starts and their ids are kept in the archive header, so `resume_prune`
selects exactly the same rows even after their `dag_run` rows are gone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from braindump_cli.airflow._db import (
    NO_GUARDS,
    DbTimeoutError,
    Guards,
    Schema,
    connect,
    quote,
    reflect_schema,
    set_guards,
    sql,
)
from braindump_cli.airflow.delete.apply import delete_selection
from braindump_cli.airflow.delete.batched import (
    AUTO_BATCH_SIZE,
    auto_batch,
    auto_batch_note,
    batch_plan,
    require_batch_size,
    resume_batched,
    run_batched,
    too_many_rows,
    use_batches,
)
from braindump_cli.airflow.delete.journal import BatchJournal
from braindump_cli.airflow.delete.selection import (
    Branch,
    Selection,
    build_branches,
    count_rows,
    delete_order,
    run_id_list,
)
from braindump_cli.airflow.delete.statements import archive_header
from braindump_cli.errors import RefusedError, UsageError
from braindump_cli.progress import Progress, no_progress

if TYPE_CHECKING:
    from braindump_cli.airflow._db import Connection, Target

FINISHED_RUN_STATES = ("success", "failed")
ACTIVE_TI_STATES = ("running", "queued", "scheduled", "up_for_retry", "up_for_reschedule", "deferred", "restarting")
RUN_DATE_COLUMNS = ("run_after", "execution_date", "logical_date")


@dataclass(frozen=True)
class PruneResult:
    """Fields are the `-o json` document."""

    before: str
    keep_last: int
    dry_run: bool
    runs: int
    """Runs pruned (or, with dry_run, that would be)."""
    dag_ids: tuple[str, ...]
    deleted: dict[str, int]
    total: int
    archive: str | None
    kept_active: int = 0
    """Old finished runs left alone because a task instance of theirs is still at work."""
    batch_size: int | None = field(default=None)
    batches: dict[str, int] = field(default_factory=dict)
    """Transactions per table (the plan of a batched prune)."""
    locks: str = "one transaction: every deleted row stays locked until the commit"
    auto_batched: bool = False
    """Batched because the rows exceeded AUTO_BATCH_ROWS and neither --batch-size nor --one-transaction
    was given."""


def prune(
    target: Target,
    *,
    before: dt.datetime,
    dag_ids: Sequence[str] = (),
    keep_last: int = 0,
    archive: Path | None = None,
    dry_run: bool = False,
    batch_size: int | None = None,
    one_transaction: bool = False,
    guards: Guards = NO_GUARDS,
    progress: Progress = no_progress,
) -> PruneResult:
    """Delete (or with `dry_run` count) the finished runs older than `before`, in one transaction, or in
    transactions of at most `batch_size` rows (resumable with `resume_prune`). With neither `batch_size`
    nor `one_transaction`, more than AUTO_BATCH_ROWS rows go in batches (as delete_dag's)."""
    if keep_last < 0:
        raise UsageError("--keep-last must be 0 or more")
    auto_batch(0, batch_size, one_transaction=one_transaction)  # refuses both at once
    before = before if before.tzinfo else before.replace(tzinfo=dt.timezone.utc)
    if not dry_run and (batch_size is not None or (archive is not None and not one_transaction)):
        size = AUTO_BATCH_SIZE if batch_size is None else batch_size
        done = _prune_batched(target, before=before, dag_ids=dag_ids, keep_last=keep_last,
                              archive=require_batch_size(size, archive), batch_size=batch_size, guards=guards,
                              progress=progress)  # fmt: skip
        if done is not None:
            return done
    try:
        return _prune_in_one_transaction(
            target, before=before, dag_ids=dag_ids, keep_last=keep_last, archive=archive, dry_run=dry_run,
            batch_size=batch_size, one_transaction=one_transaction, guards=guards, progress=progress,
        )  # fmt: skip
    except DbTimeoutError as e:
        raise use_batches(e, "prune") from e


def _prune_in_one_transaction(
    target: Target,
    *,
    before: dt.datetime,
    dag_ids: Sequence[str],
    keep_last: int,
    archive: Path | None,
    dry_run: bool,
    batch_size: int | None,
    one_transaction: bool,
    guards: Guards,
    progress: Progress,
) -> PruneResult:
    with connect(target, write=not dry_run) as conn:
        if not dry_run:
            set_guards(conn, guards)
        schema = reflect_schema(conn)
        runs, kept_active = _runs_to_prune(conn, schema, before=before, dag_ids=dag_ids, keep_last=keep_last)
        sel = _selection(schema, runs)
        result = PruneResult(before.isoformat(), keep_last, dry_run, len(runs), _dags(runs), {}, 0, None, kept_active)
        if dry_run or not runs:
            return _plan(result, count_rows(conn, sel) if runs else {}, sel, batch_size, one_transaction)
        deleted, path = delete_selection(
            conn, sel, archive=archive, header=_header(result, runs, sel), progress=progress
        )
    return replace(result, deleted=deleted, total=sum(deleted.values()), archive=str(path) if path else None)


def _plan(
    result: PruneResult, counts: dict[str, int], sel: Selection, batch_size: int | None, one_transaction: bool
) -> PruneResult:
    result = replace(result, deleted=counts, total=sum(counts.values()))
    batch_size, auto = auto_batch(result.total, batch_size, one_transaction=one_transaction)
    if batch_size is None:
        return result
    batches, locks = batch_plan(sel, counts, batch_size)
    return replace(result, batch_size=batch_size, batches=batches, locks=locks, auto_batched=auto)


def _dags(runs: Sequence[tuple[Any, str]]) -> tuple[str, ...]:
    return tuple(sorted({dag_id for _, dag_id in runs}))


def _header(result: PruneResult, runs: Sequence[tuple[Any, str]], sel: Selection, **extra: Any) -> dict[str, Any]:
    return archive_header(sel, prune={"before": result.before, "keep_last": result.keep_last, "runs": len(runs)},
                          **extra)  # fmt: skip


class _PruneRuns:
    """The batch verb of prune: the runs, fixed when the prune started (kept in the archive header)."""

    command = "prune"

    def __init__(self, result: PruneResult, runs: Sequence[tuple[Any, str]], batch_size: int) -> None:
        self.result = result
        self.runs = [(r[0], r[1]) for r in runs]
        self.batch_size = batch_size

    @classmethod
    def from_header(cls, header: dict[str, Any]) -> _PruneRuns:
        if "prune" not in header:
            raise UsageError(
                "that archive is a delete-dag's", hint="finish it with: bd airflow delete-dag --resume ARCHIVE"
            )
        prune, runs = header["prune"], header["batched"]["runs"]
        result = PruneResult(prune["before"], prune["keep_last"], False, len(runs), _dags(runs), {}, 0, None)
        return cls(result, runs, int(header["batched"]["batch_size"]))

    def select(self, conn: Connection) -> Selection:
        schema = reflect_schema(conn)
        _refuse_restarted(conn, schema, self.runs)
        return _selection(schema, self.runs)

    def header(self, sel: Selection) -> dict[str, Any]:
        return _header(self.result, self.runs, sel, batched={"batch_size": self.batch_size, "runs": self.runs})

    def prepare(self, conn: Connection, sel: Selection, guards: Guards) -> None:
        return None  # the runs are finished: the scheduler adds nothing to them

    def rows(self, table: str, columns: Sequence[str], lines: list[str]) -> list[str]:
        return lines

    def done(self, journal: BatchJournal, batch_size: int) -> PruneResult:
        counts = journal.counts()
        return replace(self.result, deleted=counts, total=sum(counts.values()), archive=str(journal.path),
                       batch_size=batch_size)  # fmt: skip


def _prune_batched(
    target: Target,
    *,
    before: dt.datetime,
    dag_ids: Sequence[str],
    keep_last: int,
    archive: Path,
    batch_size: int | None,
    guards: Guards,
    progress: Progress,
) -> PruneResult | None:
    """The batched prune; with `batch_size` None only above AUTO_BATCH_ROWS rows (else None: not batched)."""
    with connect(target) as conn:
        schema = reflect_schema(conn)
        runs, kept_active = _runs_to_prune(conn, schema, before=before, dag_ids=dag_ids, keep_last=keep_last)
        big = batch_size is None and bool(runs) and too_many_rows(conn, _selection(schema, runs))
    if batch_size is None and not big:
        return None
    size = AUTO_BATCH_SIZE if batch_size is None else batch_size
    result = PruneResult(before.isoformat(), keep_last, False, len(runs), _dags(runs), {}, 0, None, kept_active,
                         batch_size=size, auto_batched=big)  # fmt: skip
    if not runs:
        return result
    if big:
        progress(auto_batch_note(size))
    verb = _PruneRuns(result, runs, size)
    journal = run_batched(target, verb, archive=archive, batch_size=size, guards=guards, progress=progress)
    return verb.done(journal, size)


def resume_prune(
    target: Target,
    archive: Path,
    *,
    batch_size: int | None = None,
    guards: Guards = NO_GUARDS,
    progress: Progress = no_progress,
) -> PruneResult:
    """Finish the batched prune that wrote `archive` and was interrupted; ends as if it had not been."""
    verbs: list[_PruneRuns] = []

    def make(header: dict[str, Any]) -> _PruneRuns:
        verbs.append(_PruneRuns.from_header(header))
        return verbs[0]

    journal, size = resume_batched(target, archive, make, batch_size=batch_size, guards=guards, progress=progress)
    return verbs[0].done(journal, size)


def _date_column(schema: Schema) -> str:
    run = schema.tables.get("dag_run")
    if run is None:
        raise UsageError("this database has no dag_run table: not an Airflow metadata DB", hint="check --conn")
    found = next((c for c in RUN_DATE_COLUMNS if run.has(c)), None)
    if found is None:
        raise UsageError("dag_run has none of run_after, execution_date, logical_date: a schema bd does not know")
    return found


def as_utc(value: Any) -> dt.datetime | None:
    """A run date as the driver gave it (datetime, or the server's text on PostgreSQL and SQLite), in UTC."""
    if value is None:
        return None
    if not isinstance(value, dt.datetime):
        text = str(value).replace(" ", "T")
        if len(text) > 3 and text[-3] in "+-" and text[-3:].lstrip("+-").isdigit():
            text += ":00"  # PostgreSQL's "+00"
        value = dt.datetime.fromisoformat(text)
    when: dt.datetime = value
    return when.replace(tzinfo=dt.timezone.utc) if when.tzinfo is None else when.astimezone(dt.timezone.utc)


def _runs_to_prune(
    conn: Connection, schema: Schema, *, before: dt.datetime, dag_ids: Sequence[str], keep_last: int
) -> tuple[list[tuple[Any, str]], int]:
    """([(dag_run.id, dag_id)] to prune, how many old finished runs were kept for active task instances)."""
    date_col = _date_column(schema)
    q = quote(conn, "dag_run")
    cols = ", ".join(f"{q}.{quote(conn, c)}" for c in ("id", "dag_id", date_col, "state"))
    where = f" WHERE {q}.{quote(conn, 'dag_id')} IN :dag_ids" if dag_ids else ""
    rows = conn.execute(sql(f"SELECT {cols} FROM {q}{where}", lists=["dag_ids"] if dag_ids else []),
                        {"dag_ids": list(dag_ids)} if dag_ids else {}).all()  # fmt: skip
    newest: dict[str, list[tuple[dt.datetime, Any]]] = {}
    for run_id, dag_id, when, _state in rows:
        newest.setdefault(dag_id, []).append((as_utc(when) or dt.datetime.min.replace(tzinfo=dt.timezone.utc), run_id))
    kept = {r for runs in newest.values() for _, r in sorted(runs, reverse=True)[:keep_last]}
    old = [
        (run_id, dag_id)
        for run_id, dag_id, when, state in rows
        if state in FINISHED_RUN_STATES and run_id not in kept and (w := as_utc(when)) is not None and w < before
    ]
    busy = _runs_with_active_work(conn, schema)
    return [r for r in old if r[0] not in busy], sum(1 for r in old if r[0] in busy)


def _runs_with_active_work(conn: Connection, schema: Schema) -> set[Any]:
    ti = schema.tables.get("task_instance")
    if ti is None or not ti.has("state"):
        return set()
    key = "run_id" if ti.has("run_id") else "execution_date"  # 1.10 keys task instances by date
    r, t = quote(conn, "dag_run"), quote(conn, "task_instance")
    stmt = (
        f"SELECT DISTINCT {r}.{quote(conn, 'id')} FROM {r} JOIN {t} ON {t}.{quote(conn, 'dag_id')} = "
        f"{r}.{quote(conn, 'dag_id')} AND {t}.{quote(conn, key)} = {r}.{quote(conn, key)} "
        f"WHERE {t}.{quote(conn, 'state')} IN :states"
    )
    return {row[0] for row in conn.execute(sql(stmt, lists=["states"]), {"states": list(ACTIVE_TI_STATES)})}


def _refuse_restarted(conn: Connection, schema: Schema, runs: Sequence[tuple[Any, str]]) -> None:
    """A batched prune's runs are fixed when it starts; one that is at work again when it starts or
    resumes (a user cleared a task of it) stops it: prune never touches work in progress."""
    q = quote(conn, "dag_run")
    states = ", ".join(f"'{s}'" for s in FINISHED_RUN_STATES)
    stmt = f"SELECT {quote(conn, 'id')} FROM {q} WHERE {quote(conn, 'id')} IN {run_id_list([r[0] for r in runs])}"
    unfinished = f"{stmt} AND ({quote(conn, 'state')} IS NULL OR {quote(conn, 'state')} NOT IN ({states}))"
    ids = {row[0] for row in conn.execute(sql(stmt))}
    busy = sorted({row[0] for row in conn.execute(sql(unfinished))} | (ids & _runs_with_active_work(conn, schema)))
    if busy:
        raise RefusedError(
            f"{len(busy)} of the runs this prune holds are at work again (dag_run.id {', '.join(map(str, busy[:5]))})",
            hint="let them finish, then run the same command again (--resume ARCHIVE finishes an interrupted one)",
        )


def _selection(schema: Schema, runs: Sequence[tuple[Any, str]]) -> Selection:
    """The runs by id, plus tables that name a run by (dag_id, run_id) without a foreign key to dag_run."""
    seeds: dict[str, tuple[Branch, ...]] = {"dag_run": (Branch("runs", column="id"),)}
    run = schema.tables["dag_run"]
    for name, info in schema.tables.items():
        linked = any(fk.referred_table == "dag_run" for fk in info.foreign_keys)
        key = next((c for c in ("run_id", "execution_date") if info.has(c) and run.has(c)), None)
        if name != "dag_run" and info.has("dag_id") and key is not None and not linked:
            seeds[name] = (Branch("runkey", column=key),)
    branches = build_branches(schema, seeds)
    return Selection(
        schema=schema,
        branches=branches,
        # a table seeded by the run key is selected through dag_run, so its rows go before dag_run's
        order=delete_order(schema, list(branches), found_through={t: "dag_run" for t in seeds if t != "dag_run"}),
        params={"_run_ids": [r[0] for r in runs], "filelocs": []},
        like_params=(),
        dag_ids=tuple(sorted({dag_id for _, dag_id in runs})),
    )
