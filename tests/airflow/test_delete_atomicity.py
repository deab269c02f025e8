"""`bd airflow delete-dag` killed with SIGKILL at random moments: the DB holds all or none of the DAG.

The test reads bd's per-table debug lines on stderr and kills after a random number of them (plus a
random delay), or lets it run to the end. On PostgreSQL and MariaDB half the trials first lock the
DAG's own `dag` row from another connection (`SELECT ... FOR UPDATE`), as a scheduler would: bd
deletes the children and then waits on that lock, so the kill surely lands inside its transaction.
bd itself has no test seam: the window comes from the server, not from a sleep in shipped code.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from braindump_cli.airflow._db import connect, sql
from braindump_cli.airflow.archive import read_header
from tests.airflow.killing import run_and_kill
from tests.airflow.populate import table_snapshot

pytestmark = [pytest.mark.airflow_schema, pytest.mark.slow]
Populated = Callable[..., tuple[str, dict[str, dict[str, int]]]]
TABLE_DONE = re.compile(r"braindump_cli\.airflow\.delete\.apply: \w+: \d+ rows$")


@contextlib.contextmanager
def _dag_row_locked(url: str, locked: bool) -> Iterator[None]:
    """Hold a row lock on the victim's `dag` row (PostgreSQL, MariaDB) for the duration of the block."""
    if not locked:
        yield
        return
    with connect(url) as conn:
        conn.execute(sql("SELECT dag_id FROM dag WHERE dag_id = 'victim' FOR UPDATE")).all()
        yield
        conn.rollback()


def _trial(url: str, archive: Path, kill_after_lines: int, delay: float) -> int | None:
    # --debug logs every table as it is deleted: the test kills after a chosen number of them
    args = [
        "--debug",
        "airflow",
        "delete-dag",
        "victim",
        "--conn",
        url,
        "--yes",
        "--archive",
        str(archive),
        "-o",
        "json",
    ]
    code, _ = run_and_kill(args, pattern=TABLE_DONE, after_lines=kill_after_lines, delay=delay)
    return code


@pytest.mark.parametrize(
    ("schema", "backend", "trials"),
    [
        pytest.param("3.3.2", "postgresql", 5, marks=pytest.mark.postgres),
        ("2.10.5", "sqlite", 5),
        pytest.param("3.3.2", "mariadb", 3, marks=pytest.mark.mariadb),
    ],
)
def test_sigkill_leaves_all_or_none(
    schema: str, backend: str, trials: int, populated_db: Populated, tmp_path: Path
) -> None:
    rng = random.Random(f"{schema}-{backend}-{os.getpid()}")
    outcomes = []
    for i in range(trials):
        url, made = populated_db(schema, backend, ("other_dag", "victim"))
        tables = len(made["victim"])
        before = table_snapshot(url)
        archive = tmp_path / f"trial{i}.jsonl.gz"
        # Half the kills mid-transaction, half after the last table, around the archive fsync and commit.
        # On a server, even trials hold the dag row: bd cannot commit, so those kills land inside.
        locked = backend != "sqlite" and i % 2 == 0
        if locked:
            kill_after, delay = rng.randint(0, tables - 2), rng.uniform(0, 0.5)
        else:
            kill_after, delay = rng.choice([rng.randint(0, tables - 1), tables]), rng.uniform(0, 0.15)
        with _dag_row_locked(url, locked):
            code = _trial(url, archive, kill_after, delay)
        after = table_snapshot(url)
        if after == before:
            outcomes.append("all")
            assert code != 0, "bd exited 0 but nothing was deleted"
        else:
            outcomes.append("none")
            gone = {t: len(before[t]) - len(after[t]) for t in before if len(before[t]) != len(after[t])}
            assert gone == made["victim"], f"trial {i}: partial delete {gone}"
            assert all(set(after[t]) <= set(before[t]) for t in before)
            # committed means the archive was complete and fsynced first
            assert read_header(archive).counts == made["victim"]
    if backend != "sqlite":
        assert "all" in outcomes, outcomes  # the locked trials did land inside the transaction
