"""`bd airflow check-db` and the alembic revision table, against real migrated schemas.

The revision table bd ships is checked against the migration scripts of the real Airflow 2.10.5 and
3.3.2 installs (and against each release's own `_REVISION_HEADS_MAP`), and the revision a real
`airflow db migrate` leaves in the database must map to the release that made it.
"""

from __future__ import annotations

import ast
import json
import socket
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from scripts.airflow_alembic_map import merge_revisions, read_migration_scripts, render_table
from typer.testing import CliRunner

from braindump_cli.airflow._alembic_revisions import REVISIONS
from braindump_cli.airflow.revisions import Revision, match_revision, release_heads, version_key
from braindump_cli.cli.app import app
from braindump_cli.sandbox.servers.airflow_env import ensure_airflow_venv
from tests.airflow.diag_support import DATABASES
from tests.helpers import server_unavailable

SHIPPED = [Revision(r, v, d, n) for r, v, d, n in REVISIONS]
# The Airflow release that `airflow db migrate` of each installed version leaves the schema at.
SCHEMA_RELEASE = {"3.3.2": "3.3.0", "2.10.5": "2.10.3", "1.10": "1.10.13"}
VERSIONS = ("3.3.2", "2.10.5")


def _package(version: str) -> Path:
    try:
        venv = ensure_airflow_venv(version)
    except Exception as e:
        server_unavailable(f"Airflow {version} virtualenv", str(e))
        raise
    found = sorted(venv.glob("lib/python*/site-packages/airflow"))
    assert found, f"no airflow package in {venv}"
    return found[0]


def _heads_map(package: Path) -> dict[str, str]:
    tree = ast.parse((package / "utils" / "db.py").read_text())
    for node in tree.body:
        target = (
            node.target
            if isinstance(node, ast.AnnAssign)
            else (node.targets[0] if isinstance(node, ast.Assign) else None)
        )
        if isinstance(target, ast.Name) and target.id == "_REVISION_HEADS_MAP" and node.value is not None:
            value = ast.literal_eval(node.value)
            assert isinstance(value, dict)
            return value
    raise AssertionError("no _REVISION_HEADS_MAP in airflow/utils/db.py")


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["airflow", "check-db", *args])
    return result.exit_code, result.stdout, result.stderr


# -- the table ----------------------------------------------------------------------------------------


def test_shipped_table_is_what_the_real_migration_scripts_say() -> None:
    sources = [read_migration_scripts(_package(v) / "migrations" / "versions") for v in ("2.10.5", "3.3.2")]
    assert all(len(s) > 100 for s in sources)
    assert merge_revisions(sources) == SHIPPED


@pytest.mark.parametrize("version", VERSIONS)
def test_every_release_head_airflow_names_maps_back_to_that_release(version: str) -> None:
    heads = _heads_map(_package(version))
    assert len(heads) >= 10
    for release, revision in heads.items():
        match = match_revision(revision)
        assert match is not None, f"{release}: {revision} unknown"
        assert match.airflow_version == release
        assert match.is_release_head


def test_table_spans_1_10_to_3_3_and_heads_are_ordered() -> None:
    heads = release_heads()
    assert {"1.10.0", "1.10.13", "2.0.0", "2.10.3", "3.0.0", "3.3.0"} <= set(heads)
    assert list(heads) == sorted(heads, key=version_key)
    assert match_revision("03afc6b6f902") is not None  # 1.10.13's head: the schema of 1.10.13-1.10.15
    assert match_revision("03afc6b6f902").airflow_versions == ">=1.10.13,<2.0.0"  # type: ignore[union-attr]
    assert match_revision("not-a-revision") is None


def test_a_revision_inside_a_release_is_not_its_head() -> None:
    mid = next(r for r in SHIPPED if r.airflow_version == "2.10.0" and r.revision != release_heads()["2.10.0"])
    match = match_revision(mid.revision)
    assert match is not None
    assert match.airflow_version == "2.10.0"
    assert not match.is_release_head


def test_render_table_round_trips(tmp_path: Path) -> None:
    module = tmp_path / "gen.py"
    module.write_text(render_table(SHIPPED[:5], ["test"]))
    namespace: dict[str, object] = {}
    exec(compile(module.read_text(), str(module), "exec"), namespace)  # noqa: S102 - our own generated file
    assert [Revision(r, v, d, n) for r, v, d, n in namespace["REVISIONS"]] == SHIPPED[:5]  # type: ignore[attr-defined]


# -- real databases -----------------------------------------------------------------------------------


def _stored_revision(url: str) -> str:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        revision = str(conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one())
    engine.dispose()
    return revision


@pytest.mark.airflow_schema
@pytest.mark.parametrize("db", DATABASES)
def test_check_db_maps_a_real_schema(
    db: tuple[str, str], airflow_db: Callable[[str, str], str], request: pytest.FixtureRequest
) -> None:
    schema, backend = db
    url = airflow_db(schema, backend)
    code, out, err = run("--conn", url, "-o", "json")
    assert code == 0, err
    report = json.loads(out)
    assert report["schema_version"] == 1
    assert report["dialect"] == ("mysql" if backend == "mariadb" else backend)
    if backend == "sqlite":
        assert report["server_version"] == sqlite3.sqlite_version
    elif backend == "mariadb":
        assert "MariaDB" in report["server_version"]
    else:
        assert report["server_version"] == request.getfixturevalue("pg_server").psql("SHOW server_version").strip()
    assert report["revision"] == _stored_revision(url)
    assert report["airflow_version"] == SCHEMA_RELEASE[schema]
    assert report["is_release_head"] is True
    assert report["problems"] == []
    if schema != "1.10":
        assert report["tables"] > 40
        # The revision `airflow db migrate` left is the head Airflow itself names for that release.
        assert report["revision"] == _heads_map(_package(schema))[SCHEMA_RELEASE[schema]]
    code, out, _ = run("--conn", url)
    assert code == 0
    assert f">={SCHEMA_RELEASE[schema]}" in out


@pytest.mark.airflow_schema
def test_interrupted_upgrade_and_unknown_revision(airflow_db: Callable[[str, str], str]) -> None:
    url = airflow_db("2.10.5", "sqlite")
    path = url.removeprefix("sqlite:///")
    mid = next(r for r in SHIPPED if r.airflow_version == "2.10.0" and r.revision != release_heads()["2.10.0"])
    with sqlite3.connect(path) as c:
        c.execute("update alembic_version set version_num = ?", (mid.revision,))
    code, out, _ = run("--conn", url, "-o", "json")
    assert code == 4
    assert "interrupted upgrade" in json.loads(out)["problems"][0]
    with sqlite3.connect(path) as c:
        c.execute("update alembic_version set version_num = 'f00dfeedbeef'")
    code, out, _ = run("--conn", url, "-o", "json")
    report = json.loads(out)
    assert code == 0
    assert report["airflow_version"] is None
    assert "not in bd's table" in report["notes"][0]


def test_not_an_airflow_database(tmp_path: Path) -> None:
    path = tmp_path / "plain.db"
    sqlite3.connect(path).execute("create table t (x int)").connection.close()
    code, out, err = run("--conn", f"sqlite:///{path}", "-o", "json")
    assert code == 4
    assert "no alembic_version table" in json.loads(out)["problems"][0]
    assert "bd: error:" in err


def test_refused_connection_is_exit_5_with_the_password_masked() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: connections are refused
        code, _, err = run("--conn", f"postgresql://airflow:hunter2secret@127.0.0.1:{port}/airflow", "--timeout", "3")
    assert code == 5
    assert "hunter2secret" not in err
    assert f"postgresql://airflow:***@127.0.0.1:{port}/airflow" in err
    assert "refused" in err.lower()


@pytest.mark.parametrize("scheme", ["postgresql", "mysql"])
def test_a_server_that_never_answers_is_exit_5_within_the_timeout(scheme: str) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)  # accepts TCP but never speaks the protocol
        port = s.getsockname()[1]
        code, _, err = run("--conn", f"{scheme}://u:pa55word@127.0.0.1:{port}/db", "--timeout", "1")
    assert code == 5
    assert "pa55word" not in err
    assert "time" in err.lower()  # "timeout expired" / "timed out" / "no answer within"
