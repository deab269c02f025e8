"""`bd airflow prune` on real schemas (`airflow db migrate` of 2.10.5 and 3.3.2) on PostgreSQL 15, MariaDB
and SQLite: it removes old finished runs with what hangs off them, never work in progress, and
`restore-dag` puts back exactly the rows it removed."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from braindump_cli.airflow._db import connect, sql
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
