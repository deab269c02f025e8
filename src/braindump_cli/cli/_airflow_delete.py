"""`bd airflow delete-dag` and `bd airflow restore-dag` (issue 3, part 1)."""

from __future__ import annotations

import enum
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from braindump_cli.cli._options import ConnOpt, DryRunOpt, YesOpt, airflow_db, confirm
from braindump_cli.cli.output import OutputFormat, OutputOpt, emit, info, render_table, warn
from braindump_cli.errors import UsageError


class OnConflict(str, enum.Enum):
    fail = "fail"
    skip = "skip"


def _deleted_table(data: Any) -> None:
    rows = [{"table": t, "rows": n} for t, n in data.deleted.items()]
    rows.append({"table": "total", "rows": data.total})
    verb = "would delete" if data.dry_run else "deleted"
    render_table(rows, [("table", "table"), ("rows", "rows")], title=f"{verb}: {', '.join(data.dag_ids)}")
    if data.archive:
        info(f"archive: {data.archive}  (undo: bd airflow restore-dag {data.archive})")


def delete_dag(
    dag_ids: Annotated[list[str], typer.Argument(help="DAG id(s) to delete (exact ids, never patterns).")],
    conn: ConnOpt = None,
    dry_run: DryRunOpt = False,
    yes: YesOpt = False,
    archive: Annotated[
        Path | None,
        typer.Option(
            "--archive",
            help="Archive file for the deleted rows (default: bd-archive-<dag>-<utc>.jsonl.gz in the current "
            "directory).",
            show_default=False,
        ),
    ] = None,
    no_archive: Annotated[bool, typer.Option("--no-archive", help="Delete without keeping an archive.")] = False,
    keep_logs: Annotated[bool, typer.Option("--keep-logs", help="Keep the DAG's rows in the `log` table.")] = False,
    include_subdags: Annotated[
        bool, typer.Option("--include-subdags", help="Also delete DAGs named `<id>.<child>` (1.10 subdags).")
    ] = False,
    force: Annotated[
        bool,
        typer.Option("--force", help="Delete even with running/queued task instances or the DAG file still present."),
    ] = False,
    dags_folder: Annotated[
        Path | None,
        typer.Option(
            "--dags-folder",
            help="Where the scheduler reads DAG files (else AIRFLOW__CORE__DAGS_FOLDER, airflow.cfg, "
            "$AIRFLOW_HOME/dags).",
            show_default=False,
        ),
    ] = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Delete every metadata row of a DAG in one transaction, archived first so it can be undone.

    Example: bd airflow delete-dag old_etl --dry-run
    """
    from braindump_cli.airflow import delete as lib
    from braindump_cli.settings import resolve_dags_folder

    if archive is not None and no_archive:
        raise UsageError("--archive and --no-archive exclude each other", hint="pass only one of them")
    url = airflow_db(conn)
    folder = resolve_dags_folder(dags_folder)
    options: dict[str, Any] = {
        "keep_logs": keep_logs,
        "include_subdags": include_subdags,
        "dags_folder": folder,
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
        if not yes and sys.stdin.isatty():
            info(f"{plan.total} rows in {len(plan.deleted)} tables (bd airflow delete-dag --dry-run lists them)")
        confirm(f"Delete {plan.total} rows of {', '.join(dag_ids)}?", yes=yes)
    target = None if no_archive else (archive or lib.default_archive_path(dag_ids))

    def progress(message: str) -> None:
        if message.startswith("warning: "):
            if message.removeprefix("warning: --force: ") not in shown:
                warn(message.removeprefix("warning: "))
        else:
            info(message)

    result = lib.delete_dag(url, dag_ids, archive=target, force=force, progress=progress, **options)
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
