"""`prune --batch-size` / `--resume` on real schemas (`airflow db migrate` of 2.10.5 and 3.3.2) on
PostgreSQL 15, MariaDB and SQLite.

The reference is the one-transaction prune run on another copy of the same database (with the same
work in progress): the batched prune, killed or not, must end in exactly the same rows, and its
archive must restore exactly the rows it removed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import random
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from braindump_cli.airflow._db import connect, sql
from braindump_cli.airflow.archive import read_header
from braindump_cli.airflow.prune import prune
from braindump_cli.airflow.restore import restore_dag
from braindump_cli.cli.app import app
from tests.airflow.conftest import BACKEND_MARKS
from tests.airflow.killing import finish_after_kill, run_and_kill
from tests.airflow.populate import table_snapshot
from tests.airflow.test_prune import _busy, _runs

pytestmark = [pytest.mark.airflow_schema]
Populated = Callable[..., tuple[str, dict[str, dict[str, int]]]]
DAGS = ("other_dag", "victim")
LATER = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)
BATCH_DONE = re.compile(r"braindump_cli\.airflow\.delete\.batched: \w+: batch of \d+ rows$")
COMBOS = [
    pytest.param(schema, backend, marks=BACKEND_MARKS[backend])
    for schema in ("3.3.2", "2.10.5")
    for backend in ("postgresql", "mariadb", "sqlite")
]
SERVERS = [pytest.param(b, marks=BACKEND_MARKS[b]) for b in ("postgresql", "mariadb")]
PRUNE = ["airflow", "prune", "--before", "2030-01-01", "--keep-last", "1", "--yes"]


def busy_copy(populated_db: Populated, schema: str, backend: str) -> str:
    """A fresh copy with work in progress (a running run, a queued task instance): prune must skip both."""
    url, _ = populated_db(schema, backend, DAGS)
    _busy(url)
    return url


def reference(populated_db: Populated, schema: str, backend: str, tmp_path: Path) -> tuple[Any, Any, Any]:
    """(rows before, rows after the one-transaction prune, its result)."""
    url = busy_copy(populated_db, schema, backend)
    before = table_snapshot(url)
    result = prune(url, before=LATER, keep_last=1, archive=tmp_path / "reference.jsonl.gz")
    assert result.runs > 0
    return before, table_snapshot(url), result


@pytest.mark.parametrize(("schema", "backend"), COMBOS)
def test_batched_prune_ends_as_the_one_transaction_prune(
    schema: str, backend: str, populated_db: Populated, tmp_path: Path
) -> None:
    before, want_db, want = reference(populated_db, schema, backend, tmp_path)
    url = busy_copy(populated_db, schema, backend)
    archive = tmp_path / "batched.jsonl.gz"
    result = prune(url, before=LATER, keep_last=1, archive=archive, batch_size=2)
    assert result.batch_size == 2
    assert (result.runs, result.deleted, result.kept_active) == (want.runs, want.deleted, want.kept_active)
    assert table_snapshot(url) == want_db
    header = read_header(archive)
    assert header.counts == want.deleted
    assert not archive.with_name(archive.name + ".journal").exists()
    restore_dag(url, archive)
    assert table_snapshot(url) == before  # byte-identical rows, in every table


@pytest.mark.postgres
def test_dry_run_batch_size_shows_the_plan(populated_db: Populated) -> None:
    url = busy_copy(
        populated_db,
        "3.3.2",
        "postgresql",
    )
    before = table_snapshot(url)
    result = CliRunner().invoke(app, [*PRUNE, "--conn", url, "--dry-run", "--batch-size", "2", "-o", "json"])
    assert result.exit_code == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["dry_run"] is True
    assert plan["batch_size"] == 2
    order = list(plan["deleted"])
    assert order.index("task_instance") < order.index("dag_run")  # children first
    assert set(plan["batches"]) == set(plan["deleted"])
    assert plan["batches"]["task_instance"] >= -(-plan["deleted"]["task_instance"] // 2)
    assert "at most 2 rows" in plan["locks"]
    assert table_snapshot(url) == before


@contextlib.contextmanager
def run_row_locked(url: str, run_id: int) -> Iterator[None]:
    """Another session holds one pruned `dag_run` row, as a scheduler's transaction would."""
    with connect(url) as conn:
        conn.execute(sql("SELECT id FROM dag_run WHERE id = :id FOR UPDATE"), {"id": run_id}).all()
        yield
        conn.rollback()


@pytest.mark.parametrize("backend", SERVERS)
def test_a_guard_in_a_batched_prune_stops_it_resumably(backend: str, populated_db: Populated, tmp_path: Path) -> None:
    before, want_db, _ = reference(populated_db, "3.3.2", backend, tmp_path)
    url = busy_copy(populated_db, "3.3.2", backend)
    oldest = _runs(url)[0][0]  # other_dag's oldest run: pruned (it keeps only its newest)
    archive = tmp_path / "a.jsonl.gz"
    args = [*PRUNE, "--conn", url, "--archive", str(archive), "--batch-size", "2"]
    with run_row_locked(url, oldest):  # dag_run, the last table, cannot be reached
        result = CliRunner().invoke(app, [*args, "--lock-timeout", "1"])
    assert result.exit_code == 6, result.stderr
    assert f"hint: finish it: bd airflow prune --resume {archive}" in result.stderr
    assert not archive.exists()
    wrong = CliRunner().invoke(app, ["airflow", "delete-dag", "--resume", str(archive), "--conn", url, "--yes"])
    assert wrong.exit_code == 2, wrong.stderr
    assert "bd airflow prune --resume" in wrong.stderr
    resumed = CliRunner().invoke(app, ["airflow", "prune", "--resume", str(archive), "--conn", url, "--yes"])
    assert resumed.exit_code == 0, resumed.stderr
    assert table_snapshot(url) == want_db
    restore_dag(url, archive)
    assert table_snapshot(url) == before


@pytest.mark.postgres
def test_a_run_at_work_again_stops_the_resume_until_it_is_finished(populated_db: Populated, tmp_path: Path) -> None:
    """The runs are fixed when the prune starts; one that a user restarts meanwhile is work in progress,
    which prune never touches: the resume refuses (exit 1) and changes nothing until it is finished."""
    _, want_db, _ = reference(populated_db, "3.3.2", "postgresql", tmp_path)
    url = busy_copy(populated_db, "3.3.2", "postgresql")
    oldest = _runs(url)[0][0]
    archive = tmp_path / "a.jsonl.gz"
    args = [*PRUNE, "--conn", url, "--archive", str(archive), "--batch-size", "2", "--lock-timeout", "1"]
    with run_row_locked(url, oldest):
        assert CliRunner().invoke(app, args).exit_code == 6
    with connect(url, write=True) as conn:
        conn.execute(sql("UPDATE dag_run SET state = 'queued' WHERE id = :id"), {"id": oldest})
    stopped = table_snapshot(url)
    resume = ["airflow", "prune", "--resume", str(archive), "--conn", url, "--yes"]
    refused = CliRunner().invoke(app, resume)
    assert refused.exit_code == 1, refused.stderr
    assert f"1 of the runs this prune holds are at work again (dag_run.id {oldest})" in refused.stderr
    assert table_snapshot(url) == stopped
    with connect(url, write=True) as conn:
        conn.execute(sql("UPDATE dag_run SET state = 'success' WHERE id = :id"), {"id": oldest})
    resumed = CliRunner().invoke(app, resume)
    assert resumed.exit_code == 0, resumed.stderr
    assert table_snapshot(url) == want_db


def _finish(url: str, archive: Path) -> str:
    resume = ["airflow", "prune", "--resume", str(archive), "--conn", url, "--yes"]
    return finish_after_kill(
        archive, resume, lambda: prune(url, before=LATER, keep_last=1, archive=archive, batch_size=2)
    )


@pytest.mark.slow
@pytest.mark.parametrize("backend", SERVERS)
def test_sigkill_at_random_points_then_resume_ends_as_the_one_transaction_prune(
    backend: str, populated_db: Populated, tmp_path: Path
) -> None:
    """BD_TEST_PRUNE_KILL_TRIALS trials (default 5: fewer than delete-dag's 20, the same loop and kill points,
    to keep CI time in check)."""
    trials = int(os.environ.get("BD_TEST_PRUNE_KILL_TRIALS", "5"))
    before, want_db, want = reference(populated_db, "3.3.2", backend, tmp_path)
    batches = sum(-(-n // 2) for n in want.deleted.values())
    rng = random.Random(f"prune-{backend}-{os.getpid()}")
    outcomes = []
    for i in range(trials):
        url = busy_copy(populated_db, "3.3.2", backend)
        archive = tmp_path / f"trial{i}.jsonl.gz"
        args = ["--debug", *PRUNE, "--conn", url, "--archive", str(archive), "--batch-size", "2"]
        # Kill points in the first half of the batches, with a short delay: a small prune's batches are
        # milliseconds apart, and with only a few trials, later points would mostly find it finished.
        run_and_kill(args, pattern=BATCH_DONE, after_lines=rng.randint(1, batches // 2), delay=rng.uniform(0, 0.05))
        outcomes.append(_finish(url, archive))
        assert table_snapshot(url) == want_db, f"trial {i} ({outcomes[-1]})"
        restore_dag(url, archive)
        assert table_snapshot(url) == before, f"trial {i} ({outcomes[-1]})"
    assert "resumed" in outcomes, outcomes


def test_resume_needs_no_before_but_an_interrupted_prune(tmp_path: Path) -> None:
    archive = tmp_path / "none.jsonl.gz"
    db = tmp_path / "x.db"
    db.write_bytes(b"")
    result = CliRunner().invoke(
        app, ["airflow", "prune", "--resume", str(archive), "--conn", f"sqlite:///{db}", "--yes"]
    )
    assert result.exit_code == 3
    assert f"no interrupted batched run at {archive}" in result.stderr
    missing = CliRunner().invoke(app, ["airflow", "prune", "--conn", f"sqlite:///{db}"])
    assert missing.exit_code == 2
    assert "--before is required" in missing.stderr
