"""`check_db`: can bd reach the Airflow metadata DB, what is it, and which Airflow schema does it hold."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from braindump_cli.airflow._db import connect, server_version, sql, table_names
from braindump_cli.airflow.revisions import match_revision
from braindump_cli.settings import AirflowDbSettings

if TYPE_CHECKING:
    from braindump_cli.airflow._db import Connection

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class DbCheck:
    url: str
    """The URL with its password masked."""
    source: str
    dialect: str
    driver: str
    server_version: str
    tables: int
    alembic_revisions: tuple[str, ...]
    revision: str | None
    airflow_version: str | None
    """The Airflow release whose migrations added `revision` (None: no revision or not in bd's table)."""
    airflow_versions: str | None
    """Release range the revision implies, e.g. `>=2.10.3,<3.0.0`."""
    is_release_head: bool | None
    problems: tuple[str, ...]
    notes: tuple[str, ...]
    schema_version: int = field(default=SCHEMA_VERSION)

    @property
    def ok(self) -> bool:
        return not self.problems


def alembic_revisions(conn: Connection, table_names: set[str]) -> tuple[str, ...] | None:
    """The rows of `alembic_version` (None when the table is missing)."""
    if "alembic_version" not in table_names:
        return None
    rows: Sequence[Any] = conn.execute(sql("SELECT version_num FROM alembic_version")).scalars().all()
    return tuple(sorted(str(r) for r in rows))


def check_db(settings: AirflowDbSettings, *, timeout: float = 10.0) -> DbCheck:
    """Connect, report dialect and server version, and map the alembic revision to an Airflow release."""
    with connect(settings, timeout=timeout, statement_timeout=timeout) as conn:
        version = server_version(conn)
        names = table_names(conn)
        revisions = alembic_revisions(conn, names)
        dialect, driver = conn.dialect.name, conn.dialect.driver

    problems: list[str] = []
    notes: list[str] = []
    revision = None
    match = None
    if revisions is None:
        problems.append("no alembic_version table: not an Airflow metadata DB, or `airflow db migrate` never ran on it")
    elif not revisions:
        problems.append("alembic_version is empty: an interrupted `airflow db migrate`?")
    else:
        if len(revisions) > 1:
            problems.append(f"several alembic heads ({', '.join(revisions)}): an unmerged migration branch")
        revision = revisions[-1] if len(revisions) == 1 else revisions[0]
        match = match_revision(revision)
        if match is None:
            notes.append(f"revision {revision} is not in bd's table (Airflow 1.5 to 3.3): a newer Airflow?")
        elif not match.is_release_head:
            problems.append(
                f"revision {revision} is not the last migration of Airflow {match.airflow_version}: "
                "an interrupted upgrade; run `airflow db migrate` again"
            )
    if "dag" not in names:
        problems.append("no dag table")
    return DbCheck(
        url=settings.display_url,
        source=settings.source,
        dialect=dialect,
        driver=driver,
        server_version=version,
        tables=len(names),
        alembic_revisions=revisions or (),
        revision=revision,
        airflow_version=match.airflow_version if match else None,
        airflow_versions=match.airflow_versions if match else None,
        is_release_head=match.is_release_head if match else None,
        problems=tuple(problems),
        notes=tuple(notes),
    )
