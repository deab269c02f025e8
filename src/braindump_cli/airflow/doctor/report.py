"""`doctor`: why Airflow does not see the DAG you just fixed.

Looks at the four usual causes, each reported separately: stale bytecode (bytecode.py), DAG files
that fail to import in Airflow's interpreter (dag_files.py, interpreter.py), rows of the metadata
DB's import-error table, and DAG ids defined in the files but not active in the DB or the reverse.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from braindump_cli.airflow.doctor.bytecode import StaleBytecode, find_stale_bytecode, remove_bytecode
from braindump_cli.airflow.doctor.dag_files import FileResult, list_dag_files, parse_dag_files
from braindump_cli.airflow.doctor.interpreter import Interpreter, find_airflow_python, own_interpreter
from braindump_cli.errors import BdError, UsageError
from braindump_cli.progress import Progress, no_progress
from braindump_cli.settings import AirflowDbSettings, resolve_dags_folder

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class DbImportError:
    filename: str | None
    timestamp: dt.datetime | None
    error: str
    bundle_name: str | None = None


@dataclass(frozen=True)
class DagComparison:
    in_files_not_active_in_db: tuple[str, ...]
    active_in_db_not_in_files: tuple[str, ...]
    active_in_db: int


@dataclass(frozen=True)
class DoctorReport:
    dags_folder: str
    bd_interpreter: Interpreter
    airflow_interpreter: Interpreter | None
    interpreters_differ: bool | None
    stale_bytecode: tuple[StaleBytecode, ...]
    files: tuple[FileResult, ...]
    skipped_files: int
    """Python files without the words `airflow` and `dag`/`asset`: Airflow's safe mode skips them too."""
    database: str | None
    """The metadata DB URL (password masked); None with --no-db."""
    database_error: str | None
    import_error_table: str | None
    import_errors: tuple[DbImportError, ...]
    dags: DagComparison | None
    problems: tuple[str, ...]
    schema_version: int = field(default=SCHEMA_VERSION)

    @property
    def ok(self) -> bool:
        return not self.problems


def existing_dags_folder(explicit: Path | None = None) -> Path:
    """The resolved DAGs folder (settings.resolve_dags_folder), which must exist to be checked."""
    chosen = resolve_dags_folder(explicit)
    if not chosen.is_dir():
        raise UsageError(f"DAGs folder {chosen} does not exist", hint="pass --dags-folder DIR")
    return chosen.resolve()


def _db_part(
    settings: AirflowDbSettings, timeout: float
) -> tuple[str | None, list[DbImportError], list[tuple[str, str | None]]]:
    from braindump_cli.airflow._db import connect
    from braindump_cli.airflow.stale import active_dags, import_errors

    with connect(settings, timeout=timeout, statement_timeout=timeout) as conn:
        table, rows = import_errors(conn)
        active = active_dags(conn)
    errors = [DbImportError(r.filename, r.timestamp, r.error, r.bundle_name) for r in rows]
    return table, errors, [(d.dag_id, d.fileloc) for d in active]


@dataclass
class _DbPart:
    table: str | None = None
    import_errors: list[DbImportError] = field(default_factory=list)
    comparison: DagComparison | None = None
    error: str | None = None
    problems: list[str] = field(default_factory=list)


def _db_checks(settings: AirflowDbSettings, timeout: float, results: Sequence[FileResult]) -> _DbPart:
    """The import-error table and the DAG ids active in the DB against those the files define."""
    try:
        table, db_errors, active = _db_part(settings, timeout)
    except BdError as e:  # unreachable, no such SQLite file, not an Airflow DB: a problem, not the end
        return _DbPart(error=e.message, problems=[f"metadata DB: {e.message}"])
    part = _DbPart(table=table, import_errors=db_errors)
    for err in db_errors:
        part.problems.append(f"import error recorded in the DB for {err.filename}: {err.error}")
    in_files = {d for r in results for d in r.dag_ids}
    failed = {os.path.realpath(r.path) for r in results if not r.ok}
    active_ids = {dag_id for dag_id, _ in active}
    # A DAG whose file failed to import is already reported; do not report it twice.
    missing = sorted(
        dag_id
        for dag_id, fileloc in active
        if dag_id not in in_files and not (fileloc and os.path.realpath(fileloc) in failed)
    )
    part.comparison = DagComparison(tuple(sorted(in_files - active_ids)), tuple(missing), len(active_ids))
    for dag_id in part.comparison.in_files_not_active_in_db:
        part.problems.append(f"DAG {dag_id!r} is defined in the files but not active in the DB")
    for dag_id in part.comparison.active_in_db_not_in_files:
        part.problems.append(f"DAG {dag_id!r} is active in the DB but no DAG file defines it")
    return part


def doctor(
    *,
    dags_folder: Path | None = None,
    python: Path | None = None,
    settings: AirflowDbSettings | None = None,
    fix: bool = False,
    timeout: float = 30.0,
    db_timeout: float = 10.0,
    env: Mapping[str, str] | None = None,
    progress: Progress = no_progress,
) -> DoctorReport:
    """Check bytecode, DAG imports, the import-error table and DAG ids; `fix` removes stale bytecode.

    `settings` None skips the database checks. `env` is the environment of the parsing subprocess
    (default: bd's own).
    """
    folder = existing_dags_folder(dags_folder)
    problems: list[str] = []

    stale = find_stale_bytecode(folder)
    if fix and stale:
        stale = remove_bytecode(stale)
    for entry in stale:
        if not entry.removed:
            problems.append(f"stale bytecode {entry.path} ({entry.reason})")

    exe, how = find_airflow_python(python)
    files, skipped = list_dag_files(folder)
    progress(f"parsing {len(files)} DAG files with {exe}")
    found, results = parse_dag_files(exe, folder, files, timeout=timeout, env=env, progress=progress)
    airflow_interp = replace(found, source=how) if found else None
    mine = own_interpreter()
    differ = None
    if airflow_interp is not None:
        differ = (airflow_interp.prefix, airflow_interp.version) != (mine.prefix, mine.version)
    for r in results:
        rel = os.path.relpath(r.path, folder)
        if r.missing_module:
            problems.append(f"{rel}: missing module {r.missing_module!r} in {exe}")
        elif not r.ok:
            problems.append(f"{rel}: {r.error_type}: {r.error}")

    db = _DbPart() if settings is None else _db_checks(settings, db_timeout, results)
    problems += db.problems
    return DoctorReport(
        dags_folder=str(folder),
        bd_interpreter=mine,
        airflow_interpreter=airflow_interp,
        interpreters_differ=differ,
        stale_bytecode=tuple(stale),
        files=tuple(sorted(results, key=lambda r: r.path)),
        skipped_files=skipped,
        database=settings.display_url if settings is not None else None,
        database_error=db.error,
        import_error_table=db.table,
        import_errors=tuple(db.import_errors),
        dags=db.comparison,
        problems=tuple(problems),
    )
