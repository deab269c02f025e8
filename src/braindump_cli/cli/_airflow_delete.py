"""`bd airflow delete-dag` and `bd airflow restore-dag` (issue 3, part 1)."""

from __future__ import annotations

import enum
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from braindump_cli.cli._airflow_diagnose import DagsFolderOpt
from braindump_cli.cli._options import ConnOpt, DryRunOpt, YesOpt, airflow_db, confirm
from braindump_cli.cli.output import OutputFormat, OutputOpt, emit, info, render_table, warn
from braindump_cli.errors import UsageError

# Defaults of the server-side guards of delete-dag (docs/airflow.md): short enough that a delete never
# queues the scheduler behind it for long, long enough for a busy server.
DEFAULT_LOCK_TIMEOUT = 10.0
DEFAULT_STATEMENT_TIMEOUT = 600.0
LockTimeoutOpt = Annotated[
    float,
    typer.Option("--lock-timeout", min=0, help="Seconds a statement may wait for a lock (0: the server's setting)."),
]
StatementTimeoutOpt = Annotated[
    float, typer.Option("--statement-timeout", min=0, help="Seconds one statement may run (0: the server's setting).")
]
ArchiveOpt = Annotated[
    Path | None,
    typer.Option(
        "--archive",
        help="Archive file for the deleted rows (default: bd-archive-<dag>-<utc>.jsonl.gz in the current directory).",
        show_default=False,
    ),
]
BatchSizeOpt = Annotated[
    int | None,
    typer.Option(
        "--batch-size",
        min=1,
        help="Delete in transactions of at most N rows each (resumable with --resume).",
        show_default=False,
    ),
]
OneTransactionOpt = Annotated[
    bool,
    typer.Option(
        "--one-transaction",
        help="Delete in one transaction however many rows (otherwise bd batches a large delete on its own).",
    ),
]
NoArchiveOpt = Annotated[bool, typer.Option("--no-archive", help="Delete without keeping an archive.")]


class OnConflict(str, enum.Enum):
    fail = "fail"
    skip = "skip"


def deleted_rows_table(data: Any, title: str) -> None:
    """Rows per table of a delete or prune result, a total, and how to undo it."""
    rows = [{"table": t, "rows": n} for t, n in data.deleted.items()]
    rows.append({"table": "total", "rows": data.total})
    render_table(rows, [("table", "table"), ("rows", "rows")], title=title)
    if data.archive:
        info(f"archive: {data.archive}  (undo: bd airflow restore-dag {data.archive})")


def _deleted_table(data: Any) -> None:
    deleted_rows_table(data, f"{'would delete' if data.dry_run else 'deleted'}: {', '.join(data.dag_ids)}")
    batch_note(data)


def batch_note(data: Any) -> None:
    """The plan's batching, on stderr: how many transactions, and whether bd chose batches itself."""
    if data.dry_run and data.batch_size:
        auto = " (bd chose batches: many rows; --one-transaction keeps one)" if data.auto_batched else ""
        info(f"in batches of {data.batch_size}{auto}: {sum(data.batches.values())} transactions; {data.locks}")


def delete_dag(
    dag_ids: Annotated[
        list[str] | None, typer.Argument(help="DAG id(s) to delete (exact ids, never patterns).", show_default=False)
    ] = None,
    conn: ConnOpt = None,
    dry_run: DryRunOpt = False,
    yes: YesOpt = False,
    archive: ArchiveOpt = None,
    no_archive: NoArchiveOpt = False,
    keep_logs: Annotated[bool, typer.Option("--keep-logs", help="Keep the DAG's rows in the `log` table.")] = False,
    include_subdags: Annotated[
        bool, typer.Option("--include-subdags", help="Also delete DAGs named `<id>.<child>` (1.10 subdags).")
    ] = False,
    force: Annotated[
        bool,
        typer.Option("--force", help="Delete even with running/queued task instances or the DAG file still present."),
    ] = False,
    dags_folder: DagsFolderOpt = None,
    batch_size: Annotated[
        int | None,
        typer.Option(
            "--batch-size",
            min=1,
            help="Delete in transactions of at most N rows each (DAG paused first; resumable with --resume).",
            show_default=False,
        ),
    ] = None,
    resume: Annotated[
        Path | None,
        typer.Option(
            "--resume", help="Finish the interrupted batched delete that wrote this archive.", show_default=False
        ),
    ] = None,
    one_transaction: OneTransactionOpt = False,
    lock_timeout: LockTimeoutOpt = DEFAULT_LOCK_TIMEOUT,
    statement_timeout: StatementTimeoutOpt = DEFAULT_STATEMENT_TIMEOUT,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Delete every metadata row of a DAG in one transaction (or in batches), archived first so it can be undone.

    Example: bd airflow delete-dag old_etl --dry-run
    """
    from braindump_cli.airflow._db import Guards

    guards = Guards(lock_timeout or None, statement_timeout or None)
    if resume is not None:
        _resume(resume, conn=conn, dag_ids=dag_ids or [], yes=yes, batch_size=batch_size, guards=guards, output=output)
        return
    if not dag_ids:
        raise UsageError("no DAG id given", hint="bd airflow delete-dag DAG_ID (or --resume ARCHIVE)")
    if archive is not None and no_archive:
        raise UsageError("--archive and --no-archive exclude each other", hint="pass only one of them")
    from braindump_cli.airflow import delete as lib
    from braindump_cli.settings import resolve_dags_folder

    url = airflow_db(conn)
    folder = resolve_dags_folder(dags_folder)
    options: dict[str, Any] = {
        "keep_logs": keep_logs,
        "include_subdags": include_subdags,
        "dags_folder": folder,
        "batch_size": batch_size,
        # batches need the archive (their journal): without one, bd never batches on its own
        "one_transaction": one_transaction or (no_archive and batch_size is None),
    }
    shown: set[str] = set()
    if dry_run or not yes:
        plan = lib.plan_dag_delete(url, dag_ids, **options)
        shown.update(plan.warnings)
        for w in plan.warnings:
            warn(w + ("" if force else " (delete-dag will refuse without --force)"))
        if dry_run:
            emit(plan, output, table=_deleted_table, jsonl_rows=_jsonl)
            return
        _ask(plan, yes=yes)
    target = None if no_archive else (archive or lib.default_archive_path(dag_ids))

    def progress(message: str) -> None:
        if message.startswith("warning: "):
            if message.removeprefix("warning: --force: ") not in shown:
                warn(message.removeprefix("warning: "))
        else:
            info(message)

    result = lib.delete_dag(url, dag_ids, archive=target, force=force, guards=guards, progress=progress, **options)
    emit(result, output, table=_deleted_table, jsonl_rows=_jsonl)


def _ask(plan: Any, *, yes: bool) -> None:
    if not yes and sys.stdin.isatty():
        info(f"{plan.total} rows in {len(plan.deleted)} tables (bd airflow delete-dag --dry-run lists them)")
    confirm(f"Delete {plan.total} rows of {', '.join(plan.dag_ids)}?", yes=yes)


def _resume(
    archive: Path, *, conn: str | None, dag_ids: list[str], yes: bool, batch_size: int | None, guards: Any, output: Any
) -> None:
    from braindump_cli.airflow.delete.batched_dag import resume_delete

    if dag_ids:
        raise UsageError(
            "--resume takes no DAG ids: the archive names them", hint=f"bd airflow delete-dag --resume {archive}"
        )
    confirm(f"Finish the interrupted delete of {archive}?", yes=yes)
    result = resume_delete(airflow_db(conn), archive, batch_size=batch_size, guards=guards, progress=info)
    emit(result, output, table=_deleted_table, jsonl_rows=_jsonl)


def _jsonl(data: Any) -> list[dict[str, Any]]:
    return [{"table": t, "rows": n} for t, n in data.deleted.items()]


def _restored_table(data: Any) -> None:
    rows = [{"table": t, "rows": n, "skipped": data.skipped.get(t, 0)} for t, n in data.restored.items()]
    rows += [{"table": t, "rows": 0, "skipped": n} for t, n in data.skipped.items() if t not in data.restored]
    rows.append({"table": "total", "rows": data.total, "skipped": sum(data.skipped.values())})
    render_table(
        rows,
        [("table", "table"), ("rows", "rows"), ("skipped", "skipped")],
        title=f"restored: {', '.join(data.dag_ids)}",
    )


def restore_dag(
    archive: Annotated[Path, typer.Argument(help="Archive written by `bd airflow delete-dag`.")],
    conn: ConnOpt = None,
    yes: YesOpt = False,
    on_conflict: Annotated[
        OnConflict,
        typer.Option("--on-conflict", help="fail: restore nothing if any row exists already; skip: keep those rows."),
    ] = OnConflict.fail,
    ignore_revision: Annotated[
        bool, typer.Option("--ignore-revision", help="Restore into a DB whose schema revision differs.")
    ] = False,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Put the rows of a delete-dag archive back, parents first, in one transaction.

    Example: bd airflow restore-dag bd-archive-old_etl-20250101T000000Z.jsonl.gz --yes
    """
    from braindump_cli.airflow.archive import read_header
    from braindump_cli.airflow.restore import restore_dag as restore

    url = airflow_db(conn)
    header = read_header(archive)
    info(f"{archive}: {sum(header.counts.values())} rows of {', '.join(header.dag_ids)} (revision {header.revision})")
    confirm(f"Restore {sum(header.counts.values())} rows into the database?", yes=yes)
    result = restore(url, archive, on_conflict=on_conflict.value, ignore_revision=ignore_revision, progress=info)
    emit(
        result,
        output,
        table=_restored_table,
        jsonl_rows=lambda d: [{"table": t, "rows": n} for t, n in d.restored.items()],
    )


def register(app: typer.Typer) -> None:
    app.command("delete-dag")(delete_dag)
    app.command("restore-dag")(restore_dag)
