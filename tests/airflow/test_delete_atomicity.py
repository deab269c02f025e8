"""`bd airflow delete-dag` killed with SIGKILL at random moments: the DB holds all or none of the DAG.

The kill lands inside the transaction: the test reads bd's per-table progress lines on stderr and
kills after a random number of them (plus a random delay), or lets it run to the end. The test
seam BD_TEST_DELETE_PAUSE only sleeps after each DELETE statement, to widen the window; it changes
no statement and no transaction boundary.
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from braindump_cli.airflow.archive import read_header
from tests.airflow.populate import table_snapshot

pytestmark = [pytest.mark.airflow_schema, pytest.mark.slow]
Populated = Callable[..., tuple[str, dict[str, dict[str, int]]]]
PAUSE = "0.01"
TABLE_DONE = re.compile(r"braindump_cli\.airflow\.delete: \w+: \d+ rows$")


def _trial(url: str, archive: Path, kill_after_lines: int, delay: float) -> int | None:
    env = {**os.environ, "BD_TEST_DELETE_PAUSE": PAUSE}
    # --debug logs every table as it is deleted: the test kills after a chosen number of them
    cmd = [sys.executable, "-m", "braindump_cli", "--debug", "airflow", "delete-dag", "victim", "--conn", url, "--yes",
           "--archive", str(archive), "-o", "json"]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    seen = 0
    try:
        while seen < kill_after_lines:
            line = proc.stderr.readline()
            if not line:
                break
            if TABLE_DONE.search(line):
                seen += 1
        time.sleep(delay)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
        proc.stderr.close()
    return proc.returncode


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
        # half the kills mid-transaction, half after the last table, around the archive fsync and commit.
        # The first trial kills at once within the first half of the tables: at least half of them (each
        # followed by the PAUSE seam) are still to go, so it surely lands inside the transaction.
        if i == 0:
            kill_after, delay = rng.randint(0, tables // 2), 0.0
        else:
            kill_after, delay = rng.choice([rng.randint(0, tables - 1), tables]), rng.uniform(0, 0.15)
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
    assert "all" in outcomes, outcomes  # the kills did land inside the transaction (13 trials in all)
