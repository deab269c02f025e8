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

from braindump_cli.airflow.checkdb import connect
from braindump_cli.errors import RefusedError, UsageError
from braindump_cli.settings import AirflowDbSettings

if TYPE_CHECKING:
    from sqlalchemy import Table
    from sqlalchemy.engine import Connection

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


def reflect_dag_table(conn: Connection) -> Table:
    from sqlalchemy import MetaData, Table, inspect
    from sqlalchemy.exc import NoSuchTableError

    if not inspect(conn).has_table("dag"):
        raise UsageError(
            "the database has no dag table: not an Airflow metadata DB",
            hint="check --conn; `bd airflow check-db` shows what the DB holds",
        )
    try:
        return Table("dag", MetaData(), autoload_with=conn)
    except NoSuchTableError as e:  # pragma: no cover - raced with a DROP
        raise UsageError("the dag table disappeared while reading it") from e


def active_clause(dag: Table) -> tuple[str, Any]:
    """(column name, SQL condition meaning "active") for this schema's dag table."""
    from sqlalchemy import false, true

    if "is_stale" in dag.c:
        return "is_stale", dag.c.is_stale == false()
    if "is_active" in dag.c:
        return "is_active", dag.c.is_active == true()
    raise UsageError("the dag table has neither is_active nor is_stale: an Airflow schema bd does not know")


def active_dags(conn: Connection, dag: Table | None = None) -> list[ActiveDag]:
    from sqlalchemy import select

    dag = dag if dag is not None else reflect_dag_table(conn)
    _, condition = active_clause(dag)
    bundle = dag.c.bundle_name if "bundle_name" in dag.c else None
    cols = [dag.c.dag_id, dag.c.fileloc] + ([bundle] if bundle is not None else [])
    rows = conn.execute(select(*cols).where(condition).order_by(dag.c.dag_id)).all()
    return [ActiveDag(str(r[0]), r[1], r[2] if bundle is not None else None) for r in rows]


def import_errors(conn: Connection) -> tuple[str | None, list[ImportErrorRow]]:
    """The rows of the import-error table, whatever this version calls it (None: no such table)."""
    from sqlalchemy import MetaData, Table, inspect, select

    names = set(inspect(conn).get_table_names())
    name = next((n for n in IMPORT_ERROR_TABLES if n in names), None)
    if name is None:
        return None, []
    table = Table(name, MetaData(), autoload_with=conn)
    cols = [c for c in ("filename", "timestamp", "stacktrace", "bundle_name") if c in table.c]
    rows = conn.execute(select(*(table.c[c] for c in cols))).mappings().all()
    out = []
    for row in rows:
        trace = str(row.get("stacktrace") or "")
        lines = [line.strip() for line in trace.splitlines() if line.strip()]
        out.append(
            ImportErrorRow(
                filename=row.get("filename"),
                timestamp=row.get("timestamp"),
                error=lines[-1] if lines else "",
                bundle_name=row.get("bundle_name"),
            )
        )
    out.sort(key=lambda r: (r.filename or "", r.error))
    return name, out


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
    from sqlalchemy import and_, update

    with connect(settings, timeout=timeout) as conn:
        dag = reflect_dag_table(conn)
        column, condition = active_clause(dag)
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
        done: list[str] = []
        flip = {column: column == "is_stale"}
        with conn.begin():
            ids = [s.dag_id for s in still]
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start : start + _CHUNK]
                stmt = update(dag).where(and_(dag.c.dag_id.in_(chunk), condition)).values(**flip)
                stmt = stmt.returning(dag.c.dag_id) if conn.dialect.update_returning else stmt
                result = conn.execute(stmt)
                if conn.dialect.update_returning:
                    done += [str(r[0]) for r in result]
                elif result.rowcount == len(chunk):
                    done += chunk
                else:  # pragma: no cover - MySQL without RETURNING and a concurrent change
                    done += _still_inactive(conn, dag, chunk, condition)
        skipped = tuple(sorted(set(s.dag_id for s in stale) - set(done)))
        return StaleDagsReport(
            settings.display_url, column, len(active), tuple(stale), False, tuple(sorted(done)), skipped
        )


def _still_inactive(conn: Connection, dag: Table, chunk: Sequence[str], condition: Any) -> list[str]:
    from sqlalchemy import and_, not_, select

    rows = conn.execute(select(dag.c.dag_id).where(and_(dag.c.dag_id.in_(chunk), not_(condition)))).all()
    return [str(r[0]) for r in rows]
