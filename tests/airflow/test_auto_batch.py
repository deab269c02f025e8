"""The automatic switch to batches of `delete-dag` and `prune` (docs/airflow.md, "Automatic batches"), on
real 3.3.2 schemas on PostgreSQL 15, MariaDB and SQLite.

The threshold (AUTO_BATCH_ROWS, measured with bench/airflow_auto_batch.py) is lowered to the size of
the test DAG so a small database crosses it: set to the DAG's row count minus one it must batch, set
to exactly its row count it must not (the bounded count stops one row past the threshold).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from braindump_cli.airflow.delete import batched, delete_dag
from braindump_cli.airflow.prune import prune
from braindump_cli.airflow.restore import restore_dag
from braindump_cli.cli.app import app
from tests.airflow.conftest import BACKEND_MARKS
from tests.airflow.populate import table_snapshot

pytestmark = [pytest.mark.airflow_schema]
Populated = Callable[..., tuple[str, dict[str, dict[str, int]]]]
DAGS = ("other_dag", "victim")
LATER = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)
BACKENDS = [pytest.param(b, marks=BACKEND_MARKS[b]) for b in ("postgresql", "mariadb", "sqlite")]


def _delete(url: str, archive: Path, *extra: str) -> tuple[int, dict[str, object], str]:
    args = ["airflow", "delete-dag", "victim", "--conn", url, "--yes", "--archive", str(archive), "-o", "json"]
    result = CliRunner().invoke(app, [*args, *extra])
    return result.exit_code, json.loads(result.stdout) if result.exit_code == 0 else {}, result.stderr


@pytest.mark.parametrize("backend", BACKENDS)
def test_delete_dag_batches_on_its_own_above_the_threshold_and_ends_as_one_transaction(
    backend: str, populated_db: Populated, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, made = populated_db("3.3.2", backend, DAGS)
    rows = sum(made["victim"].values())
    before = table_snapshot(url)
    delete_dag(url, ["victim"], archive=tmp_path / "ref.jsonl.gz", one_transaction=True)
    want = table_snapshot(url)

    url, _ = populated_db("3.3.2", backend, DAGS)
    monkeypatch.setattr(batched, "AUTO_BATCH_ROWS", rows - 1)
    archive = tmp_path / "auto.jsonl.gz"
    code, out, err = _delete(url, archive)
    assert code == 0, err
    assert out["auto_batched"] is True
    assert out["batch_size"] == batched.AUTO_BATCH_SIZE
    assert f"more than {rows - 1} rows: deleting in batches of {batched.AUTO_BATCH_SIZE}" in err
    assert table_snapshot(url) == want
    restore_dag(url, archive)
    assert table_snapshot(url) == before


@pytest.mark.parametrize("backend", BACKENDS)
def test_at_the_threshold_or_with_one_transaction_it_stays_one_transaction(
    backend: str, populated_db: Populated, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, made = populated_db("3.3.2", backend, DAGS)
    rows = sum(made["victim"].values())
    monkeypatch.setattr(batched, "AUTO_BATCH_ROWS", rows)  # not more than the threshold
    code, out, err = _delete(url, tmp_path / "at.jsonl.gz")
    assert code == 0, err
    assert (out["auto_batched"], out["batch_size"], out["total"]) == (False, None, rows)
    assert "deleting in batches" not in err

    url, _ = populated_db("3.3.2", backend, DAGS)
    monkeypatch.setattr(batched, "AUTO_BATCH_ROWS", 1)
    code, out, err = _delete(url, tmp_path / "one.jsonl.gz", "--one-transaction")
    assert code == 0, err
    assert (out["auto_batched"], out["batch_size"], out["total"]) == (False, None, rows)


def test_dry_run_shows_the_automatic_plan_and_the_two_choices_exclude_each_other(
    populated_db: Populated, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, made = populated_db("3.3.2", "sqlite", DAGS)
    monkeypatch.setattr(batched, "AUTO_BATCH_ROWS", 1)
    base = ["airflow", "delete-dag", "victim", "--conn", url, "--dry-run"]
    plan = CliRunner().invoke(app, [*base, "-o", "json"])
    assert plan.exit_code == 0, plan.stderr
    doc = json.loads(plan.stdout)
    assert (doc["auto_batched"], doc["batch_size"]) == (True, batched.AUTO_BATCH_SIZE)
    assert set(doc["batches"]) == set(made["victim"])
    table = CliRunner().invoke(app, base)
    assert "bd chose batches" in table.stderr
    kept = json.loads(CliRunner().invoke(app, [*base, "--one-transaction", "-o", "json"]).stdout)
    assert (kept["auto_batched"], kept["batch_size"]) == (False, None)
    no_archive = json.loads(CliRunner().invoke(app, [*base, "--no-archive", "-o", "json"]).stdout)
    assert no_archive["batch_size"] is None  # batches need the archive: bd never batches without one
    both = CliRunner().invoke(app, [*base, "--one-transaction", "--batch-size", "5"])
    assert both.exit_code == 2
    assert "--batch-size and --one-transaction exclude each other" in both.stderr


@pytest.mark.parametrize("backend", BACKENDS)
def test_prune_batches_on_its_own_above_the_threshold_and_ends_as_one_transaction(
    backend: str, populated_db: Populated, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, _ = populated_db("3.3.2", backend, DAGS)
    before = table_snapshot(url)
    ref = prune(url, before=LATER, keep_last=1, archive=tmp_path / "ref.jsonl.gz", one_transaction=True)
    want = table_snapshot(url)
    assert not ref.auto_batched

    url, _ = populated_db("3.3.2", backend, DAGS)
    monkeypatch.setattr(batched, "AUTO_BATCH_ROWS", ref.total - 1)
    notes: list[str] = []
    archive = tmp_path / "auto.jsonl.gz"
    result = prune(url, before=LATER, keep_last=1, archive=archive, progress=notes.append)
    assert (result.auto_batched, result.batch_size) == (True, batched.AUTO_BATCH_SIZE)
    assert result.deleted == ref.deleted
    assert any("deleting in batches" in n for n in notes), notes
    assert table_snapshot(url) == want
    restore_dag(url, archive)
    assert table_snapshot(url) == before

    url, _ = populated_db("3.3.2", backend, DAGS)
    monkeypatch.setattr(batched, "AUTO_BATCH_ROWS", ref.total)
    at = prune(url, before=LATER, keep_last=1, archive=tmp_path / "at.jsonl.gz")
    assert (at.auto_batched, at.batch_size, at.deleted) == (False, None, ref.deleted)
