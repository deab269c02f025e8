"""`bd airflow prune` on real schemas (`airflow db migrate` of 2.10.5 and 3.3.2) on PostgreSQL 15, MariaDB
and SQLite: it removes old finished runs with what hangs off them, never work in progress, and
`restore-dag` puts back exactly the rows it removed."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from braindump_cli.airflow._db import connect, quote, reflect_schema, sql
from braindump_cli.airflow.prune import prune
from braindump_cli.airflow.restore import restore_dag
from braindump_cli.cli.app import app
from tests.airflow.conftest import BACKEND_MARKS
from tests.airflow.populate import table_snapshot

pytestmark = [pytest.mark.airflow_schema]
Populated = Callable[..., tuple[str, dict[str, dict[str, int]]]]
DAGS = ("other_dag", "victim")
LATER = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)  # populate.py dates every run in 2024
COMBOS = [
    pytest.param(schema, backend, marks=BACKEND_MARKS[backend])
    for schema in ("3.3.2", "2.10.5")
    for backend in ("postgresql", "mariadb", "sqlite")
]


def _runs(url: str) -> list[tuple[int, str, str, str]]:
    with connect(url) as conn:
        rows = conn.execute(sql("SELECT id, dag_id, run_id, state FROM dag_run ORDER BY id")).all()
    return [(int(r[0]), str(r[1]), str(r[2]), str(r[3])) for r in rows]


def _busy(url: str) -> tuple[int, int]:
    """Make work in progress: the victim's first run `running`, a task instance of its second `queued`."""
    victim = [r for r in _runs(url) if r[1] == "victim"]
    with connect(url, write=True) as conn:
        conn.execute(sql("UPDATE dag_run SET state = 'running' WHERE id = :id"), {"id": victim[0][0]})
        conn.execute(
            sql("UPDATE task_instance SET state = 'queued' WHERE dag_id = 'victim' AND run_id = :r"),
            {"r": victim[1][2]},
        )
    return victim[0][0], victim[1][0]


@pytest.mark.parametrize(("schema", "backend"), COMBOS)
def test_prune_removes_old_finished_runs_and_restore_gives_back_identical_rows(
    schema: str, backend: str, populated_db: Populated, tmp_path: Path
) -> None:
    url, made = populated_db(schema, backend, DAGS)
    running, queued = _busy(url)
    before = table_snapshot(url)
    runs_before = _runs(url)
    archive = tmp_path / "prune.jsonl.gz"

    result = prune(url, before=LATER, keep_last=1, archive=archive)

    left = _runs(url)
    left_ids = {r[0] for r in left}
    assert running in left_ids  # work in progress is never touched
    assert queued in left_ids
    assert result.kept_active == 1  # the finished run with a queued task instance
    per_dag = {d: [r for r in runs_before if r[1] == d] for d in DAGS}
    # other_dag keeps its newest run; victim keeps its newest, the running one and the busy one
    assert len(left) == 1 + len({per_dag["victim"][-1][0], running, queued})
    assert result.runs == len(runs_before) - len(left)
    assert result.deleted["dag_run"] == result.runs
    assert result.deleted.get("task_instance", 0) > 0  # what hangs off the runs goes with them
    ti_per_run = made["victim"]["task_instance"] // made["victim"]["dag_run"]
    assert result.deleted["task_instance"] == ti_per_run * result.runs

    restored = restore_dag(url, archive)
    assert restored.restored == result.deleted
    assert table_snapshot(url) == before  # byte-identical rows, in every table


@pytest.mark.postgres
def test_cli_dry_run_then_prune_one_dag(populated_db: Populated, tmp_path: Path) -> None:
    url, _ = populated_db("3.3.2", "postgresql", DAGS)
    before = table_snapshot(url)
    args = ["airflow", "prune", "--dag", "victim", "--before", "2030-01-01", "--conn", url, "-o", "json"]
    dry = CliRunner().invoke(app, [*args, "--dry-run"])
    assert dry.exit_code == 0, dry.stderr
    plan = json.loads(dry.stdout)
    assert plan["dry_run"] is True
    assert plan["dag_ids"] == ["victim"]
    assert table_snapshot(url) == before
    archive = tmp_path / "p.jsonl.gz"
    done = CliRunner().invoke(app, [*args, "--yes", "--archive", str(archive)])
    assert done.exit_code == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["deleted"] == plan["deleted"]
    assert {r[1] for r in _runs(url)} == {"other_dag"}
    back = CliRunner().invoke(app, ["airflow", "restore-dag", str(archive), "--conn", url, "--yes"])
    assert back.exit_code == 0, back.stderr
    assert table_snapshot(url) == before


def test_before_must_be_a_date() -> None:
    result = CliRunner().invoke(app, ["airflow", "prune", "--before", "last tuesday", "--conn", "sqlite:///x.db"])
    assert result.exit_code == 2
    assert "--before 'last tuesday' is not a date" in result.stderr


def _many_runs(url: str, dag_id: str, count: int) -> None:
    """`count` more finished runs of `dag_id`, copies of its first run, made by one INSERT ... SELECT."""
    with connect(url, write=True) as conn:
        columns = reflect_schema(conn).tables["dag_run"].columns
        base = int(conn.execute(sql("SELECT MAX(id) FROM dag_run")).scalar_one())
        first = conn.execute(sql("SELECT MIN(id) FROM dag_run WHERE dag_id = :d"), {"d": dag_id}).scalar_one()
        overrides = {"id": f"{base} + g.n", "run_id": "s.run_id || '_copy' || g.n", "state": "'success'",
                     "logical_date": "NULL", "execution_date": "NULL"}  # fmt: skip
        exprs = ", ".join(overrides.get(c, f"s.{quote(conn, c)}") for c in columns)
        conn.execute(
            sql(
                "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < :count) "
                f"INSERT INTO dag_run ({', '.join(quote(conn, c) for c in columns)}) "
                f"SELECT {exprs} FROM dag_run s, g WHERE s.id = :first"
            ),
            {"count": count, "first": first},
        )


def test_a_prune_of_more_runs_than_sqlite_binds_in_one_statement(populated_db: Populated, tmp_path: Path) -> None:
    """dag_run ids are integers in every Airflow version, so bd writes them into the SQL as validated
    literals: bound one by one, a prune of more runs than the running SQLite takes variables in one
    statement (999 before 3.32, 32,766 since, 250,000 in Debian's build) fails there."""
    limit = sqlite3.connect(":memory:").getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    url, _ = populated_db("3.3.2", "sqlite", DAGS)
    _many_runs(url, "victim", limit + 1)
    victim = [r for r in _runs(url) if r[1] == "victim"]
    assert len(victim) > limit
    result = prune(url, before=LATER, dag_ids=["victim"], archive=tmp_path / "many.jsonl.gz")
    assert result.runs == len(victim)
    assert result.deleted["dag_run"] == len(victim)
    assert {r[1] for r in _runs(url)} == {"other_dag"}


INSERTS_1_10 = (
    "INSERT INTO dag_run (dag_id, execution_date, state, run_id) VALUES ('d', :day, 'success', :run)",
    "INSERT INTO task_instance (task_id, dag_id, execution_date, state, pool) "
    "VALUES ('t', 'd', :day, 'success', 'default_pool')",
    "INSERT INTO log (dag_id, execution_date, event) VALUES ('d', :day, 'success')",
    "INSERT INTO xcom (key, value, timestamp, execution_date, task_id, dag_id) "
    "VALUES ('k', x'00', :day, :day, 't', 'd')",
)


def _airflow_1_10_db(path: Path) -> str:
    """A 1.10.15 schema (nothing points at dag_run there) with three finished runs of one DAG, each with a
    task instance, a log row and an xcom, all tied to the run only by (dag_id, execution_date)."""
    from tests.airflow.fixtures.schema_1_10 import create_schema

    url = f"sqlite:///{path}"
    create_schema(url, "sqlite")
    with connect(url, write=True) as conn:
        for i in range(3):
            day = {"day": f"2020-01-0{i + 1} 00:00:00.000000", "run": f"run{i}"}
            for statement in INSERTS_1_10:
                conn.execute(sql(statement), day)
    return url


@pytest.mark.parametrize("batch_size", [None, 1])
def test_on_airflow_1_10_the_rows_found_through_a_run_go_with_it(tmp_path: Path, batch_size: int | None) -> None:
    """In 1.10 no foreign key points at dag_run, so nothing but prune's own order puts the task instances,
    logs and xcoms it finds through a run before that run's dag_run row; once the run is gone they
    could not be found, and they stayed behind."""
    url = _airflow_1_10_db(tmp_path / "airflow.db")
    before = table_snapshot(url)
    archive = tmp_path / "prune.jsonl.gz"
    result = prune(url, before=LATER, keep_last=1, archive=archive, batch_size=batch_size)
    assert result.deleted == {"dag_run": 2, "task_instance": 2, "log": 2, "xcom": 2}
    with connect(url) as conn:
        for table in ("dag_run", "task_instance", "log", "xcom"):
            left = conn.execute(sql(f"SELECT execution_date FROM {table}")).scalars().all()
            assert [str(v)[:10] for v in left] == ["2020-01-03"], table
    restore_dag(url, archive)
    assert table_snapshot(url) == before
