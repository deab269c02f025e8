"""The SQL adapter of `bd airflow`: the one module that imports SQLAlchemy and the drivers.

One engine factory and one connect-with-deadline for every airflow command, transactions, error
translation (exit codes), SQL text with bound values, and the live schema. SQLAlchemy and the
drivers are imported inside functions so `bd --help` never loads them.
Values are read "raw": PostgreSQL timestamps, intervals, numerics and JSON come back as the
server's own text (exact, and cheap to archive); SQLite rows are already plain.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

from braindump_cli.deadline import DeadlineExceeded, call_with_deadline
from braindump_cli.errors import BdError, BdTimeoutError, NotFoundError, UnreachableError, UsageError
from braindump_cli.redact import redact_text
from braindump_cli.settings import AirflowDbSettings

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection as Connection  # re-exported: the type the airflow recipes take
    from sqlalchemy.engine import Engine

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


# The backends Airflow itself supports (MSSQL was dropped in 2.9; Oracle never was one).
SUPPORTED_BACKENDS = ("postgresql", "mysql", "sqlite")
_MYSQL_ISOLATION = "SERIALIZABLE"


Target = Union[AirflowDbSettings, str]  # noqa: UP007 - a runtime alias, and the package supports Python 3.10
"""Where the metadata DB is: resolved settings, or a bare URL (tests, bench)."""
STREAM_ROWS = 2000


def _target(target: Target) -> AirflowDbSettings:
    return target if isinstance(target, AirflowDbSettings) else AirflowDbSettings(target, "--conn")


def _unreachable(settings: AirflowDbSettings, reason: str, password: str | None) -> UnreachableError:
    secrets = (password,) if password else ()
    reason = redact_text(reason.strip().splitlines()[0] if reason.strip() else "no reason given", secrets=secrets)
    return UnreachableError(
        f"cannot reach the Airflow metadata DB at {settings.display_url} ({settings.source}): {reason}",
        hint="check the URL and that the server is up, then run `bd airflow check-db --conn URL`",
    )


def _connect_args(backend: str, timeout: float, statement_timeout: float | None) -> dict[str, Any]:
    """Bound the connect by `timeout`; bound every statement too when `statement_timeout` is given."""
    seconds = max(1, math.ceil(timeout))
    if backend == "postgresql":
        args: dict[str, Any] = {"connect_timeout": seconds}
        if statement_timeout is not None:
            args["options"] = f"-c statement_timeout={int(statement_timeout * 1000)}"
        return args
    if backend == "mysql":
        args = {"connect_timeout": seconds}
        if statement_timeout is not None:
            limit = max(1, math.ceil(statement_timeout))
            args.update(read_timeout=limit, write_timeout=limit)
        return args
    return {"timeout": timeout}  # sqlite: how long to wait for another writer's lock


def _parse_url(settings: AirflowDbSettings) -> Any:
    """The URL with bd's drivers: psycopg2 (bd is synchronous, and reads PostgreSQL values as text) and PyMySQL."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(settings.url)
    except ArgumentError as e:
        raise UsageError(
            f"not a database URL: {settings.display_url} ({settings.source})",
            hint="e.g. --conn postgresql://user@host/airflow",
        ) from e
    backend = parsed.get_backend_name()
    if backend == "mariadb":
        backend = "mysql"
    if backend not in SUPPORTED_BACKENDS:
        raise UsageError(
            f"{backend} is not supported: bd reads Airflow metadata DBs on PostgreSQL, MySQL/MariaDB and SQLite",
            hint="pass --conn with a postgresql://, mysql:// or sqlite:/// URL",
        )
    if backend == "mysql":
        return parsed.set(drivername="mysql+pymysql")
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+psycopg2")
    return parsed


def make_engine(target: Target, *, timeout: float = 10.0, statement_timeout: float | None = None) -> Engine:
    """The one engine factory of `bd airflow`: bd's drivers, bounded connects, and never a new SQLite file.

    A SQLite file that does not exist is NotFoundError (exit 3): opening it would create an empty database.
    """
    from sqlalchemy import create_engine
    from sqlalchemy.exc import NoSuchModuleError
    from sqlalchemy.pool import NullPool

    settings = _target(target)
    parsed = _parse_url(settings)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        db = parsed.database or ""
        if db in ("", ":memory:") or (not db.startswith("file:") and not Path(db).is_file()):
            raise NotFoundError(
                f"no SQLite database file at {db or '(memory)'}", hint="check --conn sqlite:////absolute/path"
            )
    try:
        engine = create_engine(
            parsed, poolclass=NullPool, connect_args=_connect_args(backend, timeout, statement_timeout)
        )
    except (NoSuchModuleError, ImportError) as e:
        raise UsageError(
            f"no driver for {parsed.drivername} ({e})", hint="reinstall braindump-cli: it ships psycopg2 and PyMySQL"
        ) from e
    _listen(engine, backend)
    return engine


def _listen(engine: Engine, backend: str) -> None:
    from sqlalchemy import event

    if backend == "sqlite":

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_conn: Any, _rec: Any) -> None:
            dbapi_conn.isolation_level = None  # bd issues BEGIN itself
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # A write transaction takes the write lock up front: no other writer sneaks in mid-plan.
            conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("bd_write") else "BEGIN")

    elif backend == "postgresql":

        @event.listens_for(engine, "connect")
        def _pg_connect(dbapi_conn: Any, _rec: Any) -> None:
            _pg_text_caster(dbapi_conn)


@contextlib.contextmanager
def connect(
    target: Target,
    *,
    timeout: float = 10.0,
    write: bool = False,
    one_transaction: bool = True,
    statement_timeout: float | None = None,
) -> Iterator[Connection]:
    """The one connect of every `bd airflow` command: UnreachableError (exit 5) within about `timeout` seconds.

    `write`: the block runs in one transaction (REPEATABLE READ on PostgreSQL, SERIALIZABLE on MySQL,
    `BEGIN IMMEDIATE` on SQLite), committed when it ends without an error; with `one_transaction=False`
    the caller opens its own short transactions (`with conn.begin():`, the server's default isolation,
    SQLite's write lock taken at each BEGIN). Otherwise the connection autobegins; the caller may
    commit or roll back. Database errors in the block become BdError, a
    server-side timeout (lock wait, statement time) DbTimeoutError (exit 6).
    """
    settings = _target(target)
    engine = make_engine(settings, timeout=timeout, statement_timeout=statement_timeout)
    password = engine.url.password
    try:
        try:
            conn: Connection = call_with_deadline(engine.connect, seconds=timeout + 1.0, name="bd-db-connect")
        except DeadlineExceeded:
            raise _unreachable(settings, f"no answer within {timeout:g}s", password) from None
        except Exception as error:
            raise _unreachable(settings, str(getattr(error, "orig", None) or error), password) from error
        try:
            with _errors_translated(engine):
                if not write:
                    yield conn
                    return
                conn = conn.execution_options(bd_write=True)
                if not one_transaction:
                    yield conn
                    return
                if engine.dialect.name == "postgresql":
                    # One snapshot for archive and delete; a row changed concurrently aborts the whole run.
                    conn = conn.execution_options(isolation_level="REPEATABLE READ")
                elif engine.dialect.name in ("mysql", "mariadb"):
                    # InnoDB's REPEATABLE READ archives a snapshot but deletes the current rows; SERIALIZABLE
                    # makes the archive's reads lock what the delete will remove, so both see the same rows.
                    conn = conn.execution_options(isolation_level=_MYSQL_ISOLATION)
                with conn.begin():
                    yield conn
        finally:
            conn.close()
    finally:
        engine.dispose()


@contextlib.contextmanager
def _errors_translated(engine: Engine) -> Iterator[None]:
    from sqlalchemy.exc import DBAPIError

    try:
        yield
    # Raw DBAPI errors too: statements run on the driver's own cursor (PostgreSQL's COPY) are not wrapped.
    except (DBAPIError, engine.dialect.loaded_dbapi.Error) as e:
        if is_server_timeout(e):
            raise DbTimeoutError(f"the database gave up: {first_line(e)}; rolled back, nothing changed") from e
        if is_write_conflict(e):
            raise BdError(
                f"another session changed the same rows: {first_line(e)}; this transaction was rolled back",
                hint="run it again; --batch-size N holds fewer rows at a time, so a conflict is less likely",
            ) from e
        raise BdError(
            f"database error: {first_line(e)}", hint="check the database and its schema with `bd airflow check-db`"
        ) from e


class DbTimeoutError(BdTimeoutError):
    """A server-side guard fired (lock wait or statement time); the transaction was rolled back."""


@dataclass(frozen=True)
class Guards:
    """Limits the server itself enforces on a write transaction (None: the server's own setting).

    PostgreSQL: `SET LOCAL lock_timeout` and `statement_timeout` (this transaction only). MySQL/MariaDB:
    the session's `innodb_lock_wait_timeout` (whole seconds, at least 1) and MariaDB's
    `max_statement_time` (MySQL's `max_execution_time` bounds only SELECTs). SQLite has one writer at a
    time and no such settings: its lock wait is the connect timeout.
    """

    lock_timeout: float | None = None
    statement_timeout: float | None = None


NO_GUARDS = Guards()


def set_guards(conn: Connection, guards: Guards) -> None:
    """Apply `guards` to the transaction (PostgreSQL) or session (MySQL/MariaDB) of `conn`."""
    name = conn.dialect.name
    if name == "postgresql":
        for setting, value in (("lock_timeout", guards.lock_timeout), ("statement_timeout", guards.statement_timeout)):
            if value is not None:
                conn.execute(sql("SELECT set_config(:s, :v, true)"), {"s": setting, "v": f"{int(value * 1000)}ms"})
    elif name in ("mysql", "mariadb"):
        if guards.lock_timeout is not None:
            seconds = max(1, math.ceil(guards.lock_timeout))
            conn.execute(sql("SET SESSION innodb_lock_wait_timeout = :v"), {"v": seconds})
        if guards.statement_timeout is not None:
            if getattr(conn.dialect, "is_mariadb", False):
                conn.execute(sql("SET SESSION max_statement_time = :v"), {"v": float(guards.statement_timeout)})
            else:
                conn.execute(sql("SET SESSION max_execution_time = :v"), {"v": int(guards.statement_timeout * 1000)})


# PostgreSQL SQLSTATEs: lock_not_available (lock_timeout), query_canceled (statement_timeout).
_PG_TIMEOUTS = ("55P03", "57014")
# MySQL/MariaDB error numbers: lock wait timeout, MySQL max_execution_time, MariaDB max_statement_time.
_MYSQL_TIMEOUTS = (1205, 3024, 1969)


def is_server_timeout(error: BaseException) -> bool:
    """Whether `error` is one of the server's own time guards firing."""
    return _server_code_in(error, _PG_TIMEOUTS, _MYSQL_TIMEOUTS)


_PG_CONFLICTS = ("40001", "40P01")  # serialization_failure, deadlock_detected
_MYSQL_CONFLICTS = (1213,)  # ER_LOCK_DEADLOCK


def is_write_conflict(error: BaseException) -> bool:
    """Whether `error` is the server aborting this transaction for a concurrent one (a retry may succeed)."""
    return _server_code_in(error, _PG_CONFLICTS, _MYSQL_CONFLICTS)


def _server_code_in(error: BaseException, pg_codes: Sequence[str], mysql_codes: Sequence[int]) -> bool:
    """Whether the driver error under `error` carries one of these PostgreSQL SQLSTATEs or MySQL error numbers."""
    orig = getattr(error, "orig", None) or error
    code = getattr(orig, "pgcode", None)
    if code is not None:
        return str(code) in pg_codes
    args: tuple[Any, ...] = tuple(getattr(orig, "args", ()))
    return bool(args) and isinstance(args[0], int) and args[0] in mysql_codes


def first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip().splitlines()
    return redact_text(text[0] if text else type(orig).__name__)


def sql(statement: str, *, lists: Sequence[str] = ()) -> Any:
    """`statement` ready to execute; each name in `lists` is a bind taking a list (`col IN :name`)."""
    from sqlalchemy import bindparam, text

    stmt = text(statement)
    return stmt.bindparams(*(bindparam(n, expanding=True) for n in lists)) if lists else stmt


def table_names(conn: Connection) -> set[str]:
    from sqlalchemy import inspect

    return set(inspect(conn).get_table_names())


def column_names(conn: Connection, table: str) -> tuple[str, ...]:
    from sqlalchemy import inspect

    return tuple(c["name"] for c in inspect(conn).get_columns(table))


def server_version(conn: Connection) -> str:
    name = conn.dialect.name
    if name == "postgresql":
        return str(conn.execute(sql("SHOW server_version")).scalar_one())
    if name in {"mysql", "mariadb"}:
        return str(conn.execute(sql("SELECT VERSION()")).scalar_one())
    return str(conn.execute(sql("SELECT sqlite_version()")).scalar_one())


def stream_rows(conn: Connection, statement: Any, values: dict[str, Any]) -> Iterator[Sequence[Any]]:
    """The rows of a SELECT, fetched STREAM_ROWS at a time through a server-side cursor."""
    # Per-statement options: Connection.execution_options() would change the connection for the DELETEs too.
    result = conn.execute(statement, values, execution_options={"stream_results": True, "yield_per": STREAM_ROWS})
    try:
        # fetchmany, not partitions(): SQLAlchemy 2.1's partitions() kept every row alive (measured).
        while True:
            batch = result.fetchmany(STREAM_ROWS)
            if not batch:
                break
            yield from batch
    finally:
        result.close()


def copy_out(conn: Connection, statement: str, sink: Any) -> None:
    """PostgreSQL (psycopg2): run `COPY ... TO STDOUT`, writing its output to `sink` (has `.write`)."""
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.copy_expert(statement, sink)
    finally:
        cursor.close()


class RowConflict(Exception):
    """An insert broke a unique or foreign key; `detail` is the server's first line, redacted."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def insert_rows(conn: Connection, table: str, columns: Sequence[str], rows: Sequence[dict[str, Any]]) -> None:
    """INSERT `rows` (dicts by column) into `table`; a constraint violation raises RowConflict."""
    from sqlalchemy import column, insert
    from sqlalchemy import table as sa_table
    from sqlalchemy.exc import IntegrityError

    stmt = insert(sa_table(table, *(column(c) for c in columns)))
    try:
        conn.execute(stmt, list(rows))
    except IntegrityError as e:
        raise RowConflict(first_line(e)) from e


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
        row = conn.execute(sql("SELECT version_num FROM alembic_version")).first()
        revision = str(row[0]) if row else None
    return Schema(dialect=conn.dialect.name, tables=tables, revision=revision)


def _pk_columns(pk: Any) -> list[str]:
    return list(pk.get("constrained_columns") or []) if pk else []


def _type_name(type_: Any) -> str:
    try:
        return str(type_)
    except Exception:  # some reflected types cannot compile without a dialect
        return type(type_).__name__
