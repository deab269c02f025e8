"""The SQL adapter of the airflow recipes: engines, transactions and the live schema, via SQLAlchemy.

SQLAlchemy and the drivers are imported inside functions so `bd --help` never loads them.
Values are read "raw": PostgreSQL timestamps, intervals, numerics and JSON come back as the
server's own text (exact, and cheap to archive); SQLite rows are already plain.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from braindump_cli.errors import NotFoundError, UnreachableError, UsageError
from braindump_cli.redact import redact_text, redact_url

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

# PostgreSQL type OIDs returned as text: timestamp(tz), date, time(tz), interval, json, jsonb, numeric.
_PG_TEXT_OIDS = (1114, 1184, 1082, 1083, 1266, 1186, 114, 3802, 1700)


@dataclass(frozen=True)
class ForeignKey:
    table: str
    columns: tuple[str, ...]
    referred_table: str
    referred_columns: tuple[str, ...]
    ondelete: str | None


@dataclass(frozen=True)
class TableInfo:
    name: str
    columns: tuple[str, ...]
    types: tuple[str, ...]
    nullable: tuple[bool, ...]
    primary_key: tuple[str, ...]
    foreign_keys: tuple[ForeignKey, ...]

    def has(self, column: str) -> bool:
        return column in self.columns


@dataclass(frozen=True)
class Schema:
    dialect: str
    tables: dict[str, TableInfo]
    revision: str | None


def _pg_text_caster(conn: Any) -> None:
    import psycopg2.extensions as ext

    caster = ext.new_type(_PG_TEXT_OIDS, "BD_TEXT", lambda value, _cur: value)
    ext.register_type(caster, conn)


def make_engine(url: str) -> Engine:
    """An engine with bd's connection setup; a missing SQLite file is an error, never created."""
    from sqlalchemy import create_engine, event
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        parsed = make_url(url)
    except ArgumentError as e:
        raise UsageError(f"not a database URL: {redact_url(url)}", hint="e.g. postgresql://user@host/airflow") from e
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        db = parsed.database or ""
        if db in ("", ":memory:") or not Path(db).is_file():
            raise NotFoundError(f"no SQLite database file at {db or '(memory)'}", hint="check --conn sqlite:////path")
    if backend == "mysql" and parsed.get_driver_name() in ("mysqldb", ""):
        parsed = parsed.set(drivername="mysql+pymysql")
    if backend == "postgresql" and parsed.get_driver_name() not in ("psycopg2", ""):
        # Airflow 3 URLs may name asyncpg; bd is synchronous.
        parsed = parsed.set(drivername="postgresql+psycopg2")
    try:
        engine = create_engine(parsed, poolclass=_null_pool())
    except (NoSuchModuleError, ImportError) as e:
        raise UsageError(f"no driver for {backend}: {e}", hint="pip install 'braindump-cli[airflow]'") from e

    if backend == "sqlite":

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_conn: Any, _rec: Any) -> None:
            dbapi_conn.isolation_level = None  # bd issues BEGIN itself
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # A write transaction takes the write lock up front: no other writer sneaks in mid-plan.
            conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("bd_write") else "BEGIN")

    elif backend == "postgresql":

        @event.listens_for(engine, "connect")
        def _pg_connect(dbapi_conn: Any, _rec: Any) -> None:
            _pg_text_caster(dbapi_conn)

    return engine


def _null_pool() -> Any:
    from sqlalchemy.pool import NullPool

    return NullPool


@contextlib.contextmanager
def connection(url: str, *, write: bool = False) -> Iterator[Connection]:
    """One connection inside one transaction (when writing: REPEATABLE READ on PostgreSQL, SERIALIZABLE on MySQL)."""
    from sqlalchemy.exc import DBAPIError, OperationalError

    engine = make_engine(url)
    try:
        try:
            conn = engine.connect()
        except OperationalError as e:
            raise UnreachableError(
                f"cannot connect to {redact_url(url)}: {_first_line(e)}", hint="check --conn and that the DB is up"
            ) from e
        try:
            if write:
                conn = conn.execution_options(bd_write=True)
                if engine.dialect.name == "postgresql":
                    # One snapshot for archive and delete; a row changed concurrently aborts the whole run.
                    conn = conn.execution_options(isolation_level="REPEATABLE READ")
                elif engine.dialect.name in ("mysql", "mariadb"):
                    # InnoDB's REPEATABLE READ archives a snapshot but deletes the current rows; SERIALIZABLE
                    # makes the archive's reads lock what the delete will remove, so both see the same rows.
                    conn = conn.execution_options(isolation_level="SERIALIZABLE")
            with conn.begin():
                yield conn
        # Raw DBAPI errors too: statements run on the driver's own cursor (PostgreSQL's COPY) are not wrapped.
        except (DBAPIError, engine.dialect.loaded_dbapi.Error) as e:
            from braindump_cli.errors import BdError

            raise BdError(
                f"database error: {_first_line(e)}", hint="check the database and its schema with `bd airflow check-db`"
            ) from e
        finally:
            conn.close()
    finally:
        engine.dispose()


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip().splitlines()
    return redact_text(text[0] if text else type(orig).__name__)


def quote(conn: Connection, name: str) -> str:
    return str(conn.dialect.identifier_preparer.quote(name))


def reflect_schema(conn: Connection) -> Schema:
    """Tables, columns, primary keys and foreign keys of the live database (default schema)."""
    from sqlalchemy import inspect

    insp = inspect(conn)
    with warnings.catch_warnings():
        # SQLite: keys named in the DDL but renamed by Airflow's batch migrations; PRAGMA has the truth.
        warnings.simplefilter("ignore")
        names = sorted(insp.get_table_names())
        cols = insp.get_multi_columns()
        pks = insp.get_multi_pk_constraint()
        fks = insp.get_multi_foreign_keys()
    tables: dict[str, TableInfo] = {}
    by_name = {key[1]: key for key in cols}
    for name in names:
        key = by_name.get(name)
        if key is None:
            continue
        columns = cols[key]
        foreign = tuple(
            ForeignKey(
                table=name,
                columns=tuple(fk["constrained_columns"]),
                referred_table=fk["referred_table"],
                referred_columns=tuple(fk["referred_columns"]),
                ondelete=(fk.get("options") or {}).get("ondelete"),
            )
            for fk in fks.get(key, [])
            if fk.get("referred_table") and fk.get("constrained_columns")
        )
        tables[name] = TableInfo(
            name=name,
            columns=tuple(c["name"] for c in columns),
            types=tuple(_type_name(c["type"]) for c in columns),
            nullable=tuple(bool(c.get("nullable", True)) for c in columns),
            primary_key=tuple(_pk_columns(pks.get(key))),
            foreign_keys=foreign,
        )
    revision = None
    if "alembic_version" in tables:
        from sqlalchemy import text

        row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
        revision = str(row[0]) if row else None
    return Schema(dialect=conn.dialect.name, tables=tables, revision=revision)


def _pk_columns(pk: Any) -> list[str]:
    return list(pk.get("constrained_columns") or []) if pk else []


def _type_name(type_: Any) -> str:
    try:
        return str(type_)
    except Exception:  # some reflected types cannot compile without a dialect
        return type(type_).__name__
