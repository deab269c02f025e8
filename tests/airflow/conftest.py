"""Real metadata databases for the airflow tests, shared per session.

* `pg_server`: one throwaway PostgreSQL 15 for the whole session (servers/postgres.py).
* `airflow_db`: a factory `airflow_db(schema, backend) -> url` giving a fresh private database:
  schema "3.3.2" / "2.10.5" (real `airflow db migrate` output) or "1.10" (the DDL fixture), backend
  "sqlite" (a copied file with foreign keys enforced by bd) or "postgresql" (CREATE DATABASE ...
  TEMPLATE of a database migrated once per session) or "mariadb" (tests/airflow/mariadb.py: a copy of a
  database migrated once per session, tables recreated from SHOW CREATE TABLE).
* `populated_db`: the same, with DAGs already populated (tests/airflow/populate.py); the populated
  template is built once per (schema, backend, dag ids) and copied per test.
"""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.airflow.fixtures.schema_1_10 import create_schema
from tests.helpers import server_unavailable

SCHEMAS = ("3.3.2", "2.10.5", "1.10")
BACKENDS = ("sqlite", "postgresql", "mariadb")
BACKEND_MARKS = {"postgresql": [pytest.mark.postgres], "mariadb": [pytest.mark.mariadb], "sqlite": []}
_names = itertools.count(1)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Any]:
    from braindump_cli.sandbox.servers.postgres import start_postgres

    try:
        server = start_postgres()
    except Exception as e:
        server_unavailable("PostgreSQL 15", str(e))
        raise
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def mariadb_server() -> Iterator[Any]:
    from tests.airflow.mariadb import start_mariadb

    try:
        server = start_mariadb()
    except Exception as e:
        server_unavailable("MariaDB", str(e))
        raise
    try:
        yield server
    finally:
        server.stop()


class _Databases:
    """Templates built lazily, once each; fresh copies on demand."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._pg: Callable[[], Any] = lambda: server_unavailable("PostgreSQL 15", "no test request to start it from")
        self._maria: Callable[[], Any] = lambda: server_unavailable("MariaDB", "no test request to start it from")
        self.maria_templates: dict[Any, str] = {}
        self.sqlite_templates: dict[Any, Path] = {}
        self.pg_templates: dict[Any, str] = {}
        self.populated: dict[Any, dict[str, dict[str, int]]] = {}

    @property
    def pg(self) -> Any:
        return self._pg()

    def _sqlite_template(self, schema: str) -> Path:
        if schema not in self.sqlite_templates:
            if schema == "1.10":
                path = self.root / "tmpl-1.10.sqlite"
                create_schema(f"sqlite:///{path}", "sqlite")
            else:
                from braindump_cli.sandbox.servers.airflow_env import migrated_sqlite_file

                try:
                    path = migrated_sqlite_file(schema)
                except Exception as e:
                    server_unavailable(f"Airflow {schema} schema (airflow db migrate)", str(e))
                    raise
            self.sqlite_templates[schema] = path
        return self.sqlite_templates[schema]

    def _pg_template(self, schema: str) -> str:
        return self._template(schema, self.pg_templates, self.pg.create_database, "postgresql", "PostgreSQL")

    def _maria_template(self, schema: str) -> str:
        return self._template(schema, self.maria_templates, self._maria().create_database, "mysql", "MariaDB")

    def _template(
        self, schema: str, templates: dict[Any, str], create: Callable[[str], str], dialect: str, label: str
    ) -> str:
        """A database holding `schema` (migrated once per session), to copy for each test."""
        if schema not in templates:
            name = "tmpl_" + schema.replace(".", "_")
            url = create(name)
            if schema == "1.10":
                create_schema(url, dialect)
            else:
                from braindump_cli.sandbox.servers.airflow_env import migrate_airflow_db

                try:
                    migrate_airflow_db(schema, url)
                except Exception as e:
                    server_unavailable(f"Airflow {schema} schema on {label}", str(e))
                    raise
            templates[schema] = name
        return templates[schema]

    def fresh(self, schema: str, backend: str) -> str:
        n = next(_names)
        if backend == "sqlite":
            target = self.root / f"db{n}.sqlite"
            shutil.copyfile(self._sqlite_template(schema), target)
            return f"sqlite:///{target}"
        if backend == "mariadb":
            return str(self._maria().clone_database(self._maria_template(schema), f"db{n}"))
        return str(self.pg.create_database(f"db{n}", template=self._pg_template(schema)))

    def fresh_populated(
        self, schema: str, backend: str, dag_ids: tuple[str, ...]
    ) -> tuple[str, dict[str, dict[str, int]]]:
        from tests.airflow.populate import populate_dags

        key = (schema, backend, dag_ids)
        if key not in self.populated:
            url = self.fresh(schema, backend)
            self.populated[key] = populate_dags(url, list(dag_ids))
            if backend == "sqlite":
                self.sqlite_templates[key] = Path(url.removeprefix("sqlite:///"))
            elif backend == "mariadb":
                self.maria_templates[key] = url.rsplit("/", 1)[1].split("?", 1)[0]
            else:
                self.pg_templates[key] = url.rsplit("/", 1)[1]
        n = next(_names)
        if backend == "sqlite":
            target = self.root / f"db{n}.sqlite"
            shutil.copyfile(self.sqlite_templates[key], target)
            return f"sqlite:///{target}", self.populated[key]
        if backend == "mariadb":
            return str(self._maria().clone_database(self.maria_templates[key], f"db{n}")), self.populated[key]
        return str(self.pg.create_database(f"db{n}", template=self.pg_templates[key])), self.populated[key]


@pytest.fixture(scope="session")
def _databases(tmp_path_factory: pytest.TempPathFactory) -> _Databases:
    return _Databases(tmp_path_factory.mktemp("airflow-dbs"))


@pytest.fixture
def _dbs(_databases: _Databases, request: pytest.FixtureRequest) -> _Databases:
    # PostgreSQL and MariaDB start only when a test first asks for a database of theirs.
    _databases._pg = lambda: request.getfixturevalue("pg_server")
    _databases._maria = lambda: request.getfixturevalue("mariadb_server")
    return _databases


@pytest.fixture
def airflow_db(_dbs: _Databases) -> Callable[[str, str], str]:
    """`airflow_db(schema, backend)` -> URL of a fresh database holding that schema."""
    return _dbs.fresh


@pytest.fixture
def populated_db(_dbs: _Databases) -> Callable[..., tuple[str, dict[str, dict[str, int]]]]:
    """`populated_db(schema, backend, dag_ids)` -> (URL, rows made per DAG per table) of a fresh copy."""
    return _dbs.fresh_populated
