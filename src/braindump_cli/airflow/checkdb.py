"""`check_db`: can bd reach the Airflow metadata DB, what is it, and which Airflow schema does it hold.

Also home of `connect`, the bounded connection helper the diagnose commands share: a connect that
cannot finish within the timeout becomes `UnreachableError` (exit 5) with the URL's password masked,
even when a driver ignores its own timeout (the attempt runs in a daemon thread bounded by a join).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from braindump_cli.airflow.revisions import match_revision
from braindump_cli.deadline import DeadlineExceeded, call_with_deadline
from braindump_cli.errors import UnreachableError
from braindump_cli.redact import redact_text
from braindump_cli.settings import AirflowDbSettings

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

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


def _connect_args(dialect: str, timeout: float) -> dict[str, Any]:
    seconds = max(1, math.ceil(timeout))
    if dialect == "postgresql":
        return {"connect_timeout": seconds, "options": f"-c statement_timeout={int(timeout * 1000)}"}
    if dialect in {"mysql", "mariadb"}:
        return {"connect_timeout": seconds, "read_timeout": seconds, "write_timeout": seconds}
    if dialect == "sqlite":
        return {"timeout": timeout}
    return {}


def _unreachable(settings: AirflowDbSettings, reason: str, password: str | None) -> UnreachableError:
    secrets = (password,) if password else ()
    reason = redact_text(reason.strip().splitlines()[0] if reason.strip() else "no reason given", secrets=secrets)
    return UnreachableError(
        f"cannot reach the Airflow metadata DB at {settings.display_url} ({settings.source}): {reason}",
        hint="check the URL and that the server is up, then run `bd airflow check-db --conn URL`",
    )


# Airflow's docs write `postgresql://` and `mysql://`; SQLAlchemy 2.1 maps those to psycopg (3) and
# mysqlclient, while bd ships psycopg2 and PyMySQL: use the installed driver when the default is absent.
_FALLBACK_DRIVERS = {"postgresql": ("psycopg", "postgresql+psycopg2"), "mysql": ("MySQLdb", "mysql+pymysql")}


def _installed_driver(drivername: str) -> str:
    import importlib.util

    fallback = _FALLBACK_DRIVERS.get(drivername)
    if fallback is None or importlib.util.find_spec(fallback[0]) is not None:
        return drivername
    return fallback[1]


def make_engine(settings: AirflowDbSettings, *, timeout: float) -> Engine:
    """An engine for `settings.url` whose connects and statements are bounded by `timeout` seconds.

    A SQLite file that does not exist is unreachable: opening it would create an empty database.
    """
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError
    from sqlalchemy.pool import NullPool

    try:
        url = make_url(settings.url)
    except ArgumentError as e:
        raise _unreachable(settings, f"not a SQLAlchemy URL ({e})", None) from e
    url = url.set(drivername=_installed_driver(url.drivername))
    dialect = url.get_backend_name()
    if dialect == "sqlite":
        database = url.database or ""
        if database and database != ":memory:" and not database.startswith("file:") and not Path(database).is_file():
            raise _unreachable(settings, f"no such SQLite file: {database}", None)
    try:
        return create_engine(url, poolclass=NullPool, connect_args=_connect_args(dialect, timeout))
    except (NoSuchModuleError, ImportError) as e:
        raise _unreachable(settings, f"no driver for {url.drivername} ({e})", url.password) from e


@contextlib.contextmanager
def connect(settings: AirflowDbSettings, *, timeout: float) -> Iterator[Connection]:
    """A connection to the metadata DB, or `UnreachableError` within about `timeout` seconds."""
    engine = make_engine(settings, timeout=timeout)
    password = engine.url.password
    try:
        conn: Connection = call_with_deadline(engine.connect, seconds=timeout + 1.0, name="bd-db-connect")
    except DeadlineExceeded:
        raise _unreachable(settings, f"no answer within {timeout:g}s", str(password) if password else None) from None
    except Exception as error:
        raise _unreachable(settings, str(getattr(error, "orig", None) or error), password) from error
    try:
        yield conn
    finally:
        conn.close()
        engine.dispose()


def server_version(conn: Connection) -> str:
    from sqlalchemy import text

    name = conn.dialect.name
    if name == "postgresql":
        return str(conn.execute(text("SHOW server_version")).scalar_one())
    if name in {"mysql", "mariadb"}:
        return str(conn.execute(text("SELECT VERSION()")).scalar_one())
    if name == "sqlite":
        return str(conn.execute(text("SELECT sqlite_version()")).scalar_one())
    info = conn.dialect.server_version_info
    return ".".join(str(p) for p in info) if info else "unknown"


def alembic_revisions(conn: Connection, table_names: set[str]) -> tuple[str, ...] | None:
    """The rows of `alembic_version` (None when the table is missing)."""
    from sqlalchemy import text

    if "alembic_version" not in table_names:
        return None
    rows: Sequence[Any] = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    return tuple(sorted(str(r) for r in rows))


def check_db(settings: AirflowDbSettings, *, timeout: float = 10.0) -> DbCheck:
    """Connect, report dialect and server version, and map the alembic revision to an Airflow release."""
    from sqlalchemy import inspect

    with connect(settings, timeout=timeout) as conn:
        version = server_version(conn)
        names = set(inspect(conn).get_table_names())
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
