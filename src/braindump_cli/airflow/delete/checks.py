"""What a delete refuses: DAG ids that do not exist (exit 3), running or queued task instances, and DAG
files the scheduler would parse back (exit 1 unless --force, then warnings)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from braindump_cli.airflow._db import quote, sql
from braindump_cli.airflow.delete.selection import SEED_COLUMNS, Selection, bind, exact, seed_sql
from braindump_cli.errors import NotFoundError, RefusedError

if TYPE_CHECKING:
    from braindump_cli.airflow._db import Connection

ACTIVE_TI_STATES = ("running", "queued")


def _missing_ids(conn: Connection, sel: Selection) -> list[str]:
    missing = []
    tables = ["dag", *sorted(t for t in sel.branches if t != "dag")]
    for dag_id in sel.dag_ids:
        for table in tables:
            info = sel.schema.tables.get(table)
            if info is None:
                continue
            col = next((c for c in SEED_COLUMNS if info.has(c)), None)
            if col is None:
                continue
            stmt = f"SELECT 1 FROM {quote(conn, table)} WHERE {exact(conn, quote(conn, col), '=', ':d')} LIMIT 1"
            if conn.execute(bind(stmt), {"d": dag_id}).first() is not None:
                break
        else:
            missing.append(dag_id)
    return missing


def _active_tis(conn: Connection, sel: Selection) -> int:
    ti = sel.schema.tables.get("task_instance")
    if ti is None or not ti.has("state") or not ti.has("dag_id"):
        return 0
    seed = seed_sql(conn, quote(conn, "task_instance"), "dag_id", sel.like_params)
    where = f"{seed} AND {quote(conn, 'state')} IN :states"
    stmt = sql(f"SELECT COUNT(*) FROM {quote(conn, 'task_instance')} WHERE {where}", lists=["ids", "states"])
    values = {
        "ids": list(sel.dag_ids),
        "states": list(ACTIVE_TI_STATES),
        **{k: v for k, v in sel.params.items() if k.startswith("sub")},
    }
    return int(conn.execute(stmt, values).scalar_one())


def _present_files(sel: Selection, dags_folder: Path | None) -> list[str]:
    present = []
    for fileloc, relative in sel.params.get("_dag_files", []):
        candidates = [Path(fileloc)]
        if dags_folder is not None:
            if relative:
                candidates.append(dags_folder / relative)
            if not Path(fileloc).is_absolute():
                candidates.append(dags_folder / fileloc)
        if any(c.is_file() for c in candidates):
            present.append(str(next(c for c in candidates if c.is_file())))
    return sorted(set(present))


def check_selection(conn: Connection, sel: Selection, *, force: bool, dags_folder: Path | None) -> list[str]:
    """Raise NotFoundError / RefusedError, or return the warnings `force` turned the refusals into."""
    missing = _missing_ids(conn, sel)
    if missing:
        shown = ", ".join(repr(m) for m in missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise NotFoundError(f"no DAG {shown} in the metadata database")
    problems = []
    active = _active_tis(conn, sel)
    if active:
        problems.append(f"{active} task instance(s) are running or queued")
    present = _present_files(sel, dags_folder)
    if present:
        problems.append(f"the DAG file still exists ({', '.join(present[:3])}): the scheduler would bring it back")
    if problems and not force:
        raise RefusedError(
            "refusing to delete: " + "; ".join(problems),
            hint="stop the runs / remove the file first, or pass --force to delete anyway",
        )
    return problems
