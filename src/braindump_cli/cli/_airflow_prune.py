"""`bd airflow prune`: retention for the metadata DB, restorable with `bd airflow restore-dag`."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any

import typer

from braindump_cli.cli._airflow_delete import (
    DEFAULT_LOCK_TIMEOUT,
    DEFAULT_STATEMENT_TIMEOUT,
    ArchiveOpt,
    BatchSizeOpt,
    LockTimeoutOpt,
    NoArchiveOpt,
    OneTransactionOpt,
    StatementTimeoutOpt,
    batch_note,
    deleted_rows_table,
)
from braindump_cli.cli._options import ConnOpt, DryRunOpt, YesOpt, airflow_db, confirm
from braindump_cli.cli.output import OutputFormat, OutputOpt, emit, info
from braindump_cli.errors import UsageError


def _when(value: str) -> dt.datetime:
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError as e:
        raise UsageError(
            f"--before {value!r} is not a date", hint="e.g. --before 2025-01-01 or 2025-01-01T12:00"
        ) from e
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


def _pruned_table(data: Any) -> None:
    verb = "would prune" if data.dry_run else "pruned"
    deleted_rows_table(data, f"{verb} {data.runs} runs before {data.before}")
    if data.kept_active:
        info(f"{data.kept_active} old runs kept: a task instance of theirs is still at work")
    batch_note(data)


def prune(
    before: Annotated[
        str | None,
        typer.Option(
            "--before",
            help="Prune finished runs older than this (ISO date, UTC; needed unless --resume).",
            show_default=False,
        ),
    ] = None,
    dags: Annotated[
        list[str] | None,
        typer.Option("--dag", help="Only this DAG's runs (repeat; default: every DAG).", show_default=False),
    ] = None,
    keep_last: Annotated[int, typer.Option("--keep-last", min=0, help="Keep each DAG's N newest runs.")] = 0,
    conn: ConnOpt = None,
    dry_run: DryRunOpt = False,
    yes: YesOpt = False,
    archive: ArchiveOpt = None,
    no_archive: NoArchiveOpt = False,
    batch_size: BatchSizeOpt = None,
    one_transaction: OneTransactionOpt = False,
    resume: Annotated[
        Path | None,
        typer.Option(
            "--resume", help="Finish the interrupted batched prune that wrote this archive.", show_default=False
        ),
    ] = None,
    lock_timeout: LockTimeoutOpt = DEFAULT_LOCK_TIMEOUT,
    statement_timeout: StatementTimeoutOpt = DEFAULT_STATEMENT_TIMEOUT,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Delete finished DAG runs older than a date with everything hanging off them, archived so it can be undone.

    Example: bd airflow prune --before 2025-01-01 --keep-last 10 --dry-run
    """
    from braindump_cli.airflow._db import Guards
    from braindump_cli.airflow.delete import default_archive_path
    from braindump_cli.airflow.prune import prune as run

    guards = Guards(lock_timeout or None, statement_timeout or None)
    if resume is not None:
        _resume(resume, conn=conn, yes=yes, batch_size=batch_size, guards=guards, output=output)
        return
    if before is None:
        raise UsageError("--before is required", hint="bd airflow prune --before 2025-01-01 (or --resume ARCHIVE)")
    if archive is not None and no_archive:
        raise UsageError("--archive and --no-archive exclude each other", hint="pass only one of them")
    when = _when(before)
    url = airflow_db(conn)
    options: dict[str, Any] = {
        "before": when,
        "dag_ids": dags or [],
        "keep_last": keep_last,
        "batch_size": batch_size,
        # batches need the archive (their journal): without one, bd never batches on its own
        "one_transaction": one_transaction or (no_archive and batch_size is None),
    }
    if dry_run or not yes:
        plan = run(url, dry_run=True, **options)
        if dry_run or not plan.runs:
            emit(plan, output, table=_pruned_table, jsonl_rows=_jsonl)
            return
        confirm(f"Prune {plan.runs} runs ({plan.total} rows)?", yes=yes)
    target = None if no_archive else (archive or default_archive_path([f"prune-{when:%Y%m%d}"]))
    result = run(url, archive=target, guards=guards, progress=info, **options)
    emit(result, output, table=_pruned_table, jsonl_rows=_jsonl)


def _resume(archive: Path, *, conn: str | None, yes: bool, batch_size: int | None, guards: Any, output: Any) -> None:
    from braindump_cli.airflow.prune import resume_prune

    confirm(f"Finish the interrupted prune of {archive}?", yes=yes)
    result = resume_prune(airflow_db(conn), archive, batch_size=batch_size, guards=guards, progress=info)
    emit(result, output, table=_pruned_table, jsonl_rows=_jsonl)


def _jsonl(data: Any) -> list[dict[str, Any]]:
    return [{"table": t, "rows": n} for t, n in data.deleted.items()]


def register(app: typer.Typer) -> None:
    app.command("prune")(prune)
