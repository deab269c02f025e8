"""`delete-dag --batch-size` / `--resume` and the server-side guards, on real schemas (`airflow db migrate`
of 2.10.5 and 3.3.2) on PostgreSQL 15 and MariaDB, and on SQLite.

The reference everywhere is the one-transaction delete run on another copy of the same database: the
batched delete, killed or not, must end in exactly the same rows, and its archive must restore
exactly the rows it removed (the DAG's `is_paused` too: bd paused it, the archive keeps the value it
had). The two archives are not compared line by line: on PostgreSQL the one-transaction delete keeps
COPY text, the batched one JSON, two spellings of the same values.
"""

from __future__ import annotations

import contextlib
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
from braindump_cli.airflow.delete import delete_dag
from braindump_cli.airflow.restore import restore_dag
from braindump_cli.cli.app import app
from braindump_cli.sandbox.airflow_seed import Shape, populate_dags
from tests.airflow.conftest import BACKEND_MARKS
from tests.airflow.killing import finish_after_kill, run_and_kill
from tests.airflow.populate import table_snapshot

pytestmark = [pytest.mark.airflow_schema]
Populated = Callable[..., tuple[str, dict[str, dict[str, int]]]]
DAGS = ("other_dag", "victim")
BATCH_DONE = re.compile(r"braindump_cli\.airflow\.delete\.batched: \w+: batch of \d+ rows$")
COMBOS = [
    pytest.param(schema, backend, marks=BACKEND_MARKS[backend])
    for schema in ("3.3.2", "2.10.5")
    for backend in ("postgresql", "mariadb", "sqlite")
]


def reference(populated_db: Populated, schema: str, backend: str, tmp_path: Path) -> tuple[Any, Any]:
    """(rows before, rows after the one-transaction delete of `victim`)."""
    url, _ = populated_db(schema, backend, DAGS)
    before = table_snapshot(url)
    delete_dag(url, ["victim"], archive=tmp_path / "reference.jsonl.gz")
    return before, table_snapshot(url)


def assert_restores(url: str, archive: Path, before: Any, label: str = "") -> None:
    """The archive puts back exactly what was deleted: no row missing, none twice (restore refuses those)."""
    restore_dag(url, archive)
    assert table_snapshot(url) == before, label


@pytest.mark.parametrize(("schema", "backend"), COMBOS)
def test_batched_delete_ends_as_the_one_transaction_delete(
    schema: str, backend: str, populated_db: Populated, tmp_path: Path
) -> None:
    before, want_db = reference(populated_db, schema, backend, tmp_path)
    url, made = populated_db(schema, backend, DAGS)
    archive = tmp_path / "batched.jsonl.gz"
    result = delete_dag(url, ["victim"], archive=archive, batch_size=2)
    assert result.deleted == made["victim"]
    assert result.batch_size == 2
    assert table_snapshot(url) == want_db
    assert read_header(archive).counts == made["victim"]
    assert not archive.with_name(archive.name + ".journal").exists()
    assert_restores(url, archive, before)


def test_a_batch_wider_than_the_bind_limit_on_a_composite_key(
    airflow_db: Callable[[str, str], str], tmp_path: Path
) -> None:
    """63,000 xcom rows (a four-column key) in one batch: 252,000 key values, more than SQLite binds in
    one statement (32,766 by default, 250,000 in Debian's build), so bd splits the batch's DELETE;
    PostgreSQL deletes it by ctid."""
    url = airflow_db("3.3.2", "sqlite")
    made = populate_dags(url, ["victim"], Shape(runs=1, tasks=1, per_table={"xcom": 63_000}))["victim"]
    assert made["xcom"] == 63_000
    before = table_snapshot(url)
    archive = tmp_path / "wide.jsonl.gz"
    result = delete_dag(url, ["victim"], archive=archive, batch_size=70_000)
    assert result.deleted == made
    with connect(url) as conn:
        assert conn.execute(sql("SELECT COUNT(*) FROM xcom")).scalar_one() == 0
    assert_restores(url, archive, before)


@pytest.mark.postgres
def test_dry_run_shows_tables_in_order_rows_batches_and_locks(populated_db: Populated) -> None:
    url, made = populated_db("3.3.2", "postgresql", DAGS)
    before = table_snapshot(url)
    result = CliRunner().invoke(
        app, ["airflow", "delete-dag", "victim", "--conn", url, "--dry-run", "--batch-size", "2", "-o", "json"]
    )
    assert result.exit_code == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["deleted"] == made["victim"]
    order = list(plan["deleted"])
    assert order.index("task_instance") < order.index("dag_run") < order.index("dag")  # children first
    assert plan["batch_size"] == 2
    assert plan["batches"]["task_instance"] >= -(-made["victim"]["task_instance"] // 2)
    assert "at most 2 rows" in plan["locks"]
    assert table_snapshot(url) == before


@contextlib.contextmanager
def dag_row_locked(url: str) -> Iterator[None]:
    """Another session holds the victim's `dag` row, as a scheduler's transaction would."""
    with connect(url) as conn:
        conn.execute(sql("SELECT dag_id FROM dag WHERE dag_id = 'victim' FOR UPDATE")).all()
        yield
        conn.rollback()


SERVERS = [pytest.param(b, marks=BACKEND_MARKS[b]) for b in ("postgresql", "mariadb")]


@pytest.mark.parametrize("backend", SERVERS)
@pytest.mark.parametrize("guard", ["--lock-timeout", "--statement-timeout"])
def test_a_guard_that_fires_rolls_back_and_exits_6_naming_batch_size(
    backend: str, guard: str, populated_db: Populated, tmp_path: Path
) -> None:
    url, _ = populated_db("3.3.2", backend, DAGS)
    before = table_snapshot(url)
    archive = tmp_path / "a.jsonl.gz"
    other = "--statement-timeout" if guard == "--lock-timeout" else "--lock-timeout"
    args = ["airflow", "delete-dag", "victim", "--conn", url, "--yes", "--archive", str(archive)]
    with dag_row_locked(url):
        result = CliRunner().invoke(app, [*args, guard, "1", other, "0"])
    assert result.exit_code == 6, result.stderr
    assert "rolled back, nothing changed" in result.stderr
    assert "hint: delete in short transactions: bd airflow delete-dag ... --batch-size" in result.stderr
    assert table_snapshot(url) == before
    assert not archive.exists()
    assert not archive.with_name(archive.name + ".partial").exists()


def _kill_trial(url: str, archive: Path, rng: random.Random, batches: int) -> tuple[int | None, str]:
    args = ["--debug", "airflow", "delete-dag", "victim", "--conn", url, "--yes", "--archive", str(archive)]
    args += ["--batch-size", "2"]
    return run_and_kill(args, pattern=BATCH_DONE, after_lines=rng.randint(0, batches), delay=rng.uniform(0, 0.2))


def _finish(url: str, archive: Path) -> str:
    resume = ["airflow", "delete-dag", "--resume", str(archive), "--conn", url, "--yes"]
    return finish_after_kill(archive, resume, lambda: delete_dag(url, ["victim"], archive=archive, batch_size=2))


@pytest.mark.slow
@pytest.mark.parametrize("backend", SERVERS)
def test_sigkill_at_random_points_then_resume_ends_as_the_one_transaction_delete(
    backend: str, populated_db: Populated, tmp_path: Path
) -> None:
    trials = int(os.environ.get("BD_TEST_KILL_TRIALS", "20"))
    before, want_db = reference(populated_db, "3.3.2", backend, tmp_path)
    rng = random.Random(f"{backend}-{os.getpid()}")
    outcomes = []
    for i in range(trials):
        url, made = populated_db("3.3.2", backend, DAGS)
        batches = sum(-(-n // 2) for n in made["victim"].values())
        archive = tmp_path / f"trial{i}.jsonl.gz"
        _kill_trial(url, archive, rng, batches)
        outcomes.append(_finish(url, archive))
        assert table_snapshot(url) == want_db, f"trial {i} ({outcomes[-1]})"
        assert_restores(url, archive, before, f"trial {i} ({outcomes[-1]})")
    assert "resumed" in outcomes, outcomes


@pytest.mark.parametrize("backend", SERVERS)
def test_a_guard_in_a_batched_run_stops_it_resumably(backend: str, populated_db: Populated, tmp_path: Path) -> None:
    before, want_db = reference(populated_db, "3.3.2", backend, tmp_path)
    url, _ = populated_db("3.3.2", backend, DAGS)
    archive = tmp_path / "a.jsonl.gz"
    args = ["airflow", "delete-dag", "victim", "--conn", url, "--yes", "--archive", str(archive), "--batch-size", "2"]
    with dag_row_locked(url):  # the last table, `dag`, cannot be reached
        result = CliRunner().invoke(app, [*args, "--lock-timeout", "1"])
    assert result.exit_code == 6, result.stderr
    assert f"hint: finish it: bd airflow delete-dag --resume {archive}" in result.stderr
    assert not archive.exists()
    resumed = CliRunner().invoke(app, ["airflow", "delete-dag", "--resume", str(archive), "--conn", url, "--yes"])
    assert resumed.exit_code == 0, resumed.stderr
    assert table_snapshot(url) == want_db
    assert_restores(url, archive, before)


def test_resume_without_an_interrupted_run_is_not_found(tmp_path: Path) -> None:
    archive = tmp_path / "none.jsonl.gz"
    db = tmp_path / "x.db"
    db.write_bytes(b"")
    result = CliRunner().invoke(
        app, ["airflow", "delete-dag", "--resume", str(archive), "--conn", f"sqlite:///{db}", "--yes"]
    )
    assert result.exit_code == 3
    assert f"no interrupted batched run at {archive}" in result.stderr


@pytest.mark.parametrize("backend", SERVERS)
def test_a_writer_on_another_dag_is_never_held_up_by_a_batched_delete(
    backend: str, populated_db: Populated, tmp_path: Path
) -> None:
    """While a batched delete runs, another session keeps writing rows of `other_dag` (the task instances
    the scheduler would update, and log rows), each write under the server's own lock-wait limit: none
    of them may hit it. On PostgreSQL a third session also watches pg_locks for the writer waiting."""
    import threading

    url, _ = populated_db("3.3.2", backend, DAGS)
    done, first = threading.Event(), threading.Event()
    writes: list[int] = []
    errors: list[str] = []
    waits: list[int] = []

    def writer() -> None:
        with connect(url) as conn:
            pid = conn.execute(sql("SELECT pg_backend_pid()" if backend == "postgresql" else "SELECT 1")).scalar()
            writes.append(0)
            if backend == "postgresql":
                threading.Thread(target=watch, args=(int(pid),), daemon=True).start()
            conn.commit()
            while not done.is_set():
                try:
                    if backend == "postgresql":
                        conn.execute(sql("SET LOCAL lock_timeout = '5s'"))
                    else:
                        conn.execute(sql("SET SESSION innodb_lock_wait_timeout = 5"))
                    conn.execute(sql("UPDATE task_instance SET try_number = try_number + 1 WHERE dag_id = 'other_dag'"))
                    conn.commit()
                    writes[0] += 1
                    first.set()
                except Exception as e:  # a lock-wait limit hit is the failure this test looks for
                    errors.append(str(e).splitlines()[0])
                    conn.rollback()

    def watch(pid: int) -> None:
        with connect(url) as conn:
            while not done.is_set():
                stmt = "SELECT count(*) FROM pg_locks WHERE NOT granted AND pid = :p"
                waits.append(int(conn.execute(sql(stmt), {"p": pid}).scalar_one()))
                conn.rollback()

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    assert first.wait(60), f"the writer could not write at all: {errors}"
    try:
        at_start = writes[0]
        result = delete_dag(url, ["victim"], archive=tmp_path / "a.jsonl.gz", batch_size=2)
        during = writes[0] - at_start
    finally:
        done.set()
        thread.join(timeout=30)
    assert result.total > 0
    assert errors == []
    assert during > 0, "the writer got no write in while the delete ran"
    if backend == "postgresql":
        assert waits, "pg_locks was never sampled"
        assert max(waits) == 0, f"the writer waited for a lock in {sum(1 for w in waits if w)} of {len(waits)} samples"
