"""`bd airflow doctor | stale-dags | procs | check-db`: registered on the `bd airflow` group by `register`.

Kept apart from the delete/restore commands so two people can work on `bd airflow` at once.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from braindump_cli.cli import _options
from braindump_cli.cli._options import ConnOpt, DryRunOpt, YesOpt
from braindump_cli.cli.output import OutputFormat, OutputOpt, emit, info, render_table
from braindump_cli.errors import BdError, CheckFailedError, UsageError

if TYPE_CHECKING:
    from braindump_cli.airflow.check_db import DbCheck
    from braindump_cli.airflow.doctor import DoctorReport
    from braindump_cli.airflow.doctor.dag_files import FileResult
    from braindump_cli.airflow.procs import AirflowProcess, ProcsReport
    from braindump_cli.airflow.stale import StaleDag, StaleDagsReport

DbTimeoutOpt = Annotated[
    float, typer.Option("--timeout", min=0.1, help="Seconds to wait for the metadata DB before giving up (exit 5).")
]
DagsFolderOpt = Annotated[
    Path | None,
    typer.Option(
        "--dags-folder",
        help="DAGs folder (else AIRFLOW__CORE__DAGS_FOLDER, airflow.cfg [core] dags_folder, $AIRFLOW_HOME/dags).",
        show_default=False,
    ),
]


def _kv(pairs: Sequence[tuple[str, Any]]) -> None:
    width = max(len(k) for k, _ in pairs)
    for key, value in pairs:
        print(f"{key:<{width}}  {'-' if value is None else value}")


# -- check-db ---------------------------------------------------------------------------------------


def _release(report: DbCheck) -> str | None:
    if report.airflow_versions is None:
        return None
    where = "its last migration" if report.is_release_head else "an unfinished migration"
    return f"{report.airflow_versions} (schema of {report.airflow_version}, {where})"


def _check_db_table(report: DbCheck) -> None:
    _kv(
        [
            ("url", report.url),
            ("source", report.source),
            ("dialect", f"{report.dialect}+{report.driver}"),
            ("server version", report.server_version),
            ("tables", report.tables),
            ("alembic revision", ", ".join(report.alembic_revisions) or None),
            ("airflow version", _release(report)),
        ]
    )
    for note in report.notes:
        print(f"note: {note}")
    for problem in report.problems:
        print(f"problem: {problem}")


def check_db(
    conn: ConnOpt = None,
    timeout: DbTimeoutOpt = 10.0,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Connect to the Airflow metadata DB and map its alembic revision to an Airflow release.

    Exit 5 when the DB cannot be reached within --timeout; exit 4 when it is not a usable Airflow schema.

    Example: bd airflow check-db --conn postgresql://airflow@db.internal/airflow
    """
    from braindump_cli.airflow.check_db import check_db as run

    report = run(_options.airflow_db(conn), timeout=timeout)
    emit(report, output, table=_check_db_table)
    if report.problems:
        raise CheckFailedError(report.problems[0], hint="see the report above")


# -- stale-dags -------------------------------------------------------------------------------------


def _stale_table(report: StaleDagsReport) -> None:
    rows = [{"dag_id": s.dag_id, "fileloc": s.fileloc, "reason": s.reason} for s in report.stale]
    if rows:
        render_table(rows, [("DAG", "dag_id"), ("FILE", "fileloc"), ("REASON", "reason")])
    print(
        f"{len(report.stale)} of {report.active} active DAGs have no file"
        + (f"; deactivated {len(report.deactivated)}" if report.deactivated else "")
        + (f"; left alone {len(report.skipped)}" if report.skipped else "")
        + (" (dry run: nothing changed)" if report.dry_run else "")
    )


def stale_dags(
    conn: ConnOpt = None,
    deactivate: Annotated[
        bool, typer.Option("--deactivate", help="Mark them inactive (3.x: is_stale) in one transaction.")
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Deactivate even when every active DAG looks stale.")] = False,
    yes: YesOpt = False,
    dry_run: DryRunOpt = False,
    timeout: DbTimeoutOpt = 10.0,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """List DAGs the metadata DB marks active whose file is gone; --deactivate marks them inactive.

    Run it where the DAG files are (the scheduler's host): a DAG counts as stale when its `fileloc`
    does not exist here.

    Example: bd airflow stale-dags --deactivate --dry-run
    """
    from braindump_cli.airflow.stale import stale_dags as run

    def ask(stale: Sequence[StaleDag]) -> None:
        _options.confirm(f"Deactivate {len(stale)} DAG(s): {', '.join(s.dag_id for s in stale[:10])}?", yes=yes)

    report = run(
        _options.airflow_db(conn), deactivate=deactivate, dry_run=dry_run, force=force, confirm=ask, timeout=timeout
    )
    emit(report, output, table=_stale_table, jsonl_rows=lambda r: r.stale)


# -- procs ------------------------------------------------------------------------------------------


def _age(seconds: int) -> str:
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours}h"
    if hours:
        return f"{hours}h{minutes}m"
    return f"{minutes}m{secs}s"


_PROC_COLUMNS = [("PID", "pid"), ("PPID", "ppid"), ("ROLE", "role"), ("AGE", "age"), ("NOTES", "notes")]
_PROC_COLUMNS.append(("CMD", "cmdline"))


def _procs_table(report: ProcsReport) -> None:
    def row(p: AirflowProcess) -> dict[str, Any]:
        notes = [n for n, on in (("orphaned", p.orphaned), ("older than DAGs", p.older_than_dags)) if on]
        return {**p.__dict__, "age": _age(p.age_seconds), "notes": ", ".join(notes) or "-"}

    if report.processes:
        render_table(
            [row(p) for p in report.processes],
            _PROC_COLUMNS,
        )
    else:
        print("no Airflow processes")
    if report.newest_dag_file:
        print(f"newest DAG file: {report.newest_dag_file} ({report.newest_dag_mtime})")
    if report.dry_run:
        print(f"would send SIGTERM to {', '.join(map(str, report.kill_planned))} (dry run: nothing was killed)")
    for k in report.killed:
        print(f"pid {k.pid} ({k.role}): {k.signal} sent, " + ("exited" if k.exited else "still running"))


def _pids(values: Sequence[str]) -> list[int]:
    out = []
    for value in values:
        for part in value.replace(",", " ").split():
            if not part.isdigit() or int(part) <= 1:
                raise UsageError(f"--kill takes process ids, not {part!r}", hint="e.g. --kill 1234 --kill 1240")
            out.append(int(part))
    return out


def procs(
    kill: Annotated[
        list[str] | None,
        typer.Option("--kill", metavar="PID", help="SIGTERM this listed pid (repeat, or comma-separate)."),
    ] = None,
    dags_folder: DagsFolderOpt = None,
    wait: Annotated[float, typer.Option("--wait", min=0, help="Seconds to wait for killed processes to exit.")] = 10.0,
    yes: YesOpt = False,
    dry_run: DryRunOpt = False,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """List webserver, api-server, gunicorn, scheduler and dag-processor processes; kill only the pids named.

    Example: bd airflow procs --kill 4242 --yes
    """
    from braindump_cli.airflow.doctor import existing_dags_folder
    from braindump_cli.airflow.procs import procs as run

    folder = dags_folder
    if folder is None:
        try:
            folder = existing_dags_folder(None)
        except UsageError:
            folder = None  # no DAGs folder here: the age comparison is skipped
    else:
        folder = existing_dags_folder(folder)

    def ask(targets: Sequence[AirflowProcess]) -> None:
        listed = ", ".join(f"{t.pid} ({t.role})" for t in targets)
        _options.confirm(f"Send SIGTERM to {listed}?", yes=yes)

    report = run(dags_folder=folder, kill=_pids(kill or []), dry_run=dry_run, confirm=ask, wait=wait)
    emit(report, output, table=_procs_table, jsonl_rows=lambda r: r.processes)
    alive = [k.pid for k in report.killed if not k.exited]
    if alive:
        raise BdError(
            f"pid {', '.join(map(str, alive))} still running after {wait:g}s",
            hint=f"check with `bd airflow procs`; if it must go: kill -KILL {alive[0]}",
        )


# -- doctor -----------------------------------------------------------------------------------------


# Complexity over 10 on purpose: renders each finding kind of the doctor report as its own table row; splitting it
# would scatter one table.
def _doctor_table(report: DoctorReport) -> None:  # noqa: C901
    a = report.airflow_interpreter
    b = report.bd_interpreter
    pairs: list[tuple[str, Any]] = [("dags folder", report.dags_folder)]
    if a is not None:
        pairs.append(("airflow python", f"{a.executable} ({a.version}, airflow {a.airflow_version}; {a.source})"))
    pairs.append(("bd python", f"{b.executable} ({b.version})" + (" - differs" if report.interpreters_differ else "")))
    pairs.append(("database", report.database or "skipped (--no-db)"))
    _kv(pairs)

    def rel(path: str | None) -> str | None:
        if path is None or not path.startswith(report.dags_folder + os.sep):
            return path
        return os.path.relpath(path, report.dags_folder)

    if report.stale_bytecode:
        render_table(
            [
                {**s.__dict__, "path": rel(s.path), "removed": "removed" if s.removed else "-"}
                for s in report.stale_bytecode
            ],
            [("STALE BYTECODE", "path"), ("REASON", "reason"), ("SHADOWS SOURCE", "shadows_source"), ("", "removed")],
        )

    def detail(f: FileResult) -> str | None:
        if f.ok:
            return ", ".join(f.dag_ids) or "(no DAGs)"
        return f"missing module {f.missing_module}" if f.missing_module else f.error

    rows = [
        {
            "file": rel(f.path),
            "status": "ok" if f.ok else (f.error_type or "error"),
            "detail": detail(f),
        }
        for f in report.files
    ]
    if rows:
        render_table(rows, [("FILE", "file"), ("STATUS", "status"), ("DAGS / ERROR", "detail")])
    if report.import_errors:
        render_table(
            [
                {**e.__dict__, "filename": rel(e.filename), "timestamp": e.timestamp and e.timestamp.strftime("%F %T")}
                for e in report.import_errors
            ],
            [(f"DB {report.import_error_table}", "filename"), ("ERROR", "error"), ("AT", "timestamp")],
        )
    for problem in report.problems:
        print(f"problem: {problem}")
    if not report.problems:
        print(f"no problems found ({len(report.files)} DAG files)")


def doctor(
    dags_folder: DagsFolderOpt = None,
    python: Annotated[
        Path | None,
        typer.Option("--python", help="Interpreter Airflow runs with (else the `airflow` on PATH's, else bd's)."),
    ] = None,
    fix: Annotated[bool, typer.Option("--fix", help="Remove the stale bytecode found (and say what went).")] = False,
    conn: ConnOpt = None,
    no_db: Annotated[bool, typer.Option("--no-db", help="Skip the metadata DB checks.")] = False,
    timeout: Annotated[
        float, typer.Option("--timeout", min=0.1, help="Seconds allowed to import one DAG file.")
    ] = 30.0,
    db_timeout: Annotated[float, typer.Option("--db-timeout", min=0.1, help="Seconds to wait for the DB.")] = 10.0,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Find why Airflow does not see a DAG: stale bytecode, import errors, missing modules, DB mismatch.

    Exit 4 when it finds a problem (the report is printed first).

    Example: bd airflow doctor --dags-folder ~/airflow/dags --python ~/venvs/airflow/bin/python
    """
    from braindump_cli.airflow.doctor import doctor as run

    settings = None if no_db else _options.airflow_db(conn)
    report = run(
        dags_folder=dags_folder,
        python=python,
        settings=settings,
        fix=fix,
        timeout=timeout,
        db_timeout=db_timeout,
        progress=info if output is OutputFormat.table else lambda _m: None,
    )
    for entry in report.stale_bytecode:
        if entry.removed:
            info(f"removed {entry.path}")
    emit(report, output, table=_doctor_table, jsonl_rows=lambda r: r.files)
    if report.problems:
        stale = any(not s.removed for s in report.stale_bytecode)
        raise CheckFailedError(
            f"{len(report.problems)} problem(s) found",
            hint="see the report above" + ("; `--fix` removes the stale bytecode" if stale else ""),
        )


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)
    app.command("stale-dags")(stale_dags)
    app.command("procs")(procs)
    app.command("check-db")(check_db)
