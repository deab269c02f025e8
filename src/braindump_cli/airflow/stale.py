"""DAGs the metadata DB still treats as active whose file is gone, and the DB queries doctor shares.

"Active" depends on the schema, which is reflected, never assumed: 1.10 and 2.x have `dag.is_active`
(true = active); 3.x replaced it with `dag.is_stale` (false = active).
"""

from __future__ import annotations

import datetime as dt
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from braindump_cli.airflow._db import column_names, connect, quote, sql, table_names
from braindump_cli.errors import RefusedError, UsageError
from braindump_cli.settings import AirflowDbSettings

if TYPE_CHECKING:
    from braindump_cli.airflow._db import Connection

SCHEMA_VERSION = 1
IMPORT_ERROR_TABLES = ("import_error", "parse_import_error")
_CHUNK = 500


@dataclass(frozen=True)
class ActiveDag:
    dag_id: str
    fileloc: str | None
    bundle_name: str | None = None


@dataclass(frozen=True)
class ImportErrorRow:
    filename: str | None
    timestamp: dt.datetime | None
    error: str
    """The last non-empty line of the stack trace."""
    bundle_name: str | None = None


@dataclass(frozen=True)
class StaleDag:
    dag_id: str
    fileloc: str | None
    reason: str


@dataclass(frozen=True)
class StaleDagsReport:
    url: str
    active_column: str
    """`is_active` (1.10, 2.x) or `is_stale` (3.x): how this schema marks a DAG active."""
    active: int
    stale: tuple[StaleDag, ...]
    dry_run: bool
    deactivated: tuple[str, ...]
    """DAG ids this run marked inactive (empty without --deactivate)."""
    skipped: tuple[str, ...] = ()
    """Planned DAG ids left alone because their file came back or the DB changed meanwhile."""
    schema_version: int = field(default=SCHEMA_VERSION)


@dataclass(frozen=True)
class DagTable:
    """The columns of this schema's dag table, and how it marks a DAG active."""

    columns: tuple[str, ...]
    active_column: str
    """`is_active` (1.10, 2.x; true = active) or `is_stale` (3.x; false = active)."""

    @property
    def active_value(self) -> bool:
        return self.active_column == "is_active"

    def active_sql(self, conn: Connection) -> str:
        """The SQL condition "active", comparing with the bound value `:active`."""
        return f"{quote(conn, self.active_column)} = :active"


def reflect_dag_table(conn: Connection) -> DagTable:
    if "dag" not in table_names(conn):
        raise UsageError(
            "the database has no dag table: not an Airflow metadata DB",
            hint="check --conn; `bd airflow check-db` shows what the DB holds",
        )
    columns = column_names(conn, "dag")
    if "is_stale" in columns:
        return DagTable(columns, "is_stale")
    if "is_active" in columns:
        return DagTable(columns, "is_active")
    raise UsageError("the dag table has neither is_active nor is_stale: an Airflow schema bd does not know")


def active_dags(conn: Connection, dag: DagTable | None = None) -> list[ActiveDag]:
    dag = dag if dag is not None else reflect_dag_table(conn)
    bundle = "bundle_name" in dag.columns
    cols = ", ".join(quote(conn, c) for c in ("dag_id", "fileloc", *(("bundle_name",) if bundle else ())))
    stmt = f"SELECT {cols} FROM {quote(conn, 'dag')} WHERE {dag.active_sql(conn)} ORDER BY {quote(conn, 'dag_id')}"
    rows = conn.execute(sql(stmt), {"active": dag.active_value}).all()
    return [ActiveDag(str(r[0]), r[1], r[2] if bundle else None) for r in rows]


def import_errors(conn: Connection) -> tuple[str | None, list[ImportErrorRow]]:
    """The rows of the import-error table, whatever this version calls it (None: no such table)."""
    names = table_names(conn)
    name = next((n for n in IMPORT_ERROR_TABLES if n in names), None)
    if name is None:
        return None, []
    present = column_names(conn, name)
    cols = [c for c in ("filename", "timestamp", "stacktrace", "bundle_name") if c in present]
    stmt = f"SELECT {', '.join(quote(conn, c) for c in cols)} FROM {quote(conn, name)}"
    rows = conn.execute(sql(stmt)).mappings().all()
    out = []
    for row in rows:
        trace = str(row.get("stacktrace") or "")
        lines = [line.strip() for line in trace.splitlines() if line.strip()]
        out.append(
            ImportErrorRow(
                filename=row.get("filename"),
                timestamp=_timestamp(row.get("timestamp")),
                error=lines[-1] if lines else "",
                bundle_name=row.get("bundle_name"),
            )
        )
    out.sort(key=lambda r: (r.filename or "", r.error))
    return name, out


def _timestamp(value: Any) -> dt.datetime | None:
    """PostgreSQL timestamps arrive as the server's text (the adapter reads them raw); SQLite's as text too."""
    if value is None or isinstance(value, dt.datetime):
        return value
    try:
        return dt.datetime.fromisoformat(str(value).replace(" ", "T"))
    except ValueError:
        return None


def file_exists(fileloc: str) -> bool:
    """True if `fileloc` exists; a path inside a zip (`/dags/pkg.zip/dag.py`) counts if the member does."""
    path = Path(fileloc)
    if path.exists():
        return True
    for parent in path.parents:
        if parent.is_file():
            if not zipfile.is_zipfile(parent):
                return False
            member = path.relative_to(parent).as_posix()
            with zipfile.ZipFile(parent) as zf:
                return member in zf.namelist()
    return False


def _find_stale(dags: Sequence[ActiveDag]) -> list[StaleDag]:
    stale = []
    for d in dags:
        if not d.fileloc:
            stale.append(StaleDag(d.dag_id, d.fileloc, "no fileloc recorded"))
        elif not file_exists(d.fileloc):
            stale.append(StaleDag(d.dag_id, d.fileloc, "file missing"))
    return stale


def stale_dags(
    settings: AirflowDbSettings,
    *,
    deactivate: bool = False,
    dry_run: bool = False,
    force: bool = False,
    confirm: Callable[[Sequence[StaleDag]], None] | None = None,
    timeout: float = 10.0,
) -> StaleDagsReport:
    """List active DAGs whose file is gone; with `deactivate`, mark them inactive in one transaction.

    `confirm(stale)` is called before changing anything (it raises to abort). When every active DAG
    looks stale, bd is most likely not running where the DAG files are: refused unless `force`.
    """
    with connect(settings, timeout=timeout, statement_timeout=timeout) as conn:
        dag = reflect_dag_table(conn)
        column = dag.active_column
        active = active_dags(conn, dag)
        conn.rollback()
        stale = _find_stale(active)
        if not deactivate or dry_run or not stale:
            return StaleDagsReport(settings.display_url, column, len(active), tuple(stale), dry_run, ())
        if len(stale) == len(active) and len(active) > 1 and not force:
            raise RefusedError(
                f"all {len(active)} active DAGs have missing files: is bd running where the DAG files are?",
                hint="run bd on the scheduler's host (same paths), or pass --force to deactivate them anyway",
            )
        if confirm is not None:
            confirm(stale)
        # Re-check right before writing: a file that came back in the meantime is left alone.
        still = [s for s in stale if not s.fileloc or not file_exists(s.fileloc)]
        with conn.begin():
            done = _deactivate(conn, dag, [s.dag_id for s in still])
        skipped = tuple(sorted(set(s.dag_id for s in stale) - set(done)))
        return StaleDagsReport(
            settings.display_url, column, len(active), tuple(stale), False, tuple(sorted(done)), skipped
        )


def _deactivate(conn: Connection, dag: DagTable, ids: Sequence[str]) -> list[str]:
    """Flip each still-active DAG of `ids` to inactive; the ids this run flipped."""
    done: list[str] = []
    qd, col = quote(conn, "dag"), quote(conn, dag.active_column)
    where = f"{quote(conn, 'dag_id')} IN :ids AND {dag.active_sql(conn)}"
    for start in range(0, len(ids), _CHUNK):
        chunk = list(ids[start : start + _CHUNK])
        values = {"ids": chunk, "active": dag.active_value, "inactive": not dag.active_value}
        # Which rows are still active, locked, then flipped: what this run changed, on every backend.
        lock = "" if conn.dialect.name == "sqlite" else " FOR UPDATE"
        found = conn.execute(
            sql(f"SELECT {quote(conn, 'dag_id')} FROM {qd} WHERE {where}{lock}", lists=["ids"]), values
        )
        flipped = [str(r[0]) for r in found]
        conn.execute(sql(f"UPDATE {qd} SET {col} = :inactive WHERE {where}", lists=["ids"]), values)
        done += flipped
    return done
