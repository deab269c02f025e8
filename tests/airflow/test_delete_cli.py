"""`bd airflow delete-dag` / `restore-dag` through the CLI, against a real Airflow 3.3.2 schema."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from braindump_cli.cli.app import app
from tests.airflow.populate import table_snapshot

pytestmark = [pytest.mark.airflow_schema]
Populated = Callable[..., tuple[str, dict[str, dict[str, int]]]]
KEYS = {"dag_ids", "dry_run", "deleted", "total", "archive", "batch_size", "batches", "locks", "auto_batched"}


def bd(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_dry_run_prints_the_plan_and_changes_nothing(populated_db: Populated) -> None:
    url, made = populated_db("3.3.2", "sqlite", ("other_dag", "victim"))
    before = table_snapshot(url)
    code, out, _ = bd("airflow", "delete-dag", "victim", "--conn", url, "--dry-run", "-o", "json")
    assert code == 0
    doc = json.loads(out)
    assert set(doc) == KEYS
    total = sum(made["victim"].values())
    assert doc == {"dag_ids": ["victim"], "dry_run": True, "deleted": made["victim"], "total": total, "archive": None,
                   "batch_size": None, "batches": {},
                   "locks": "one transaction: every deleted row stays locked until the commit",
                   "auto_batched": False}  # fmt: skip
    assert table_snapshot(url) == before
    code, out, _ = bd("airflow", "delete-dag", "victim", "--conn", url, "--dry-run")
    assert code == 0
    assert "task_instance" in out
    assert re.search(rf"total\s+{sum(made['victim'].values())}", out)


def test_without_a_terminal_it_needs_yes(populated_db: Populated) -> None:
    url, _ = populated_db("3.3.2", "sqlite", ("other_dag", "victim"))
    before = table_snapshot(url)
    code, out, err = bd("airflow", "delete-dag", "victim", "--conn", url)
    assert code == 2
    assert out == ""
    assert "--yes" in err
    assert table_snapshot(url) == before


def test_json_result_and_default_archive_in_the_current_directory(
    populated_db: Populated, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, made = populated_db("3.3.2", "postgresql", ("other_dag", "victim"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("braindump_cli.airflow.delete.apply.PROGRESS_ROWS", 5)  # "large" tables for this test
    code, out, err = bd("airflow", "delete-dag", "victim", "--conn", url, "--yes", "-o", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert set(doc) == KEYS
    assert doc["dag_ids"] == ["victim"]
    assert doc["dry_run"] is False
    assert doc["deleted"] == made["victim"]
    assert doc["total"] == sum(made["victim"].values())
    archive = Path(doc["archive"])
    assert archive.parent == tmp_path
    assert re.fullmatch(r"bd-archive-victim-\d{8}T\d{6}Z\.jsonl\.gz", archive.name)
    assert "task_instance: 9 rows deleted" in err  # progress per large table on stderr
    assert "dag_version:" not in err  # 1 row: no progress line

    code, out, err = bd("airflow", "restore-dag", str(archive), "--conn", url, "--yes", "-o", "json")
    assert code == 0, err
    restored = json.loads(out)
    assert restored["restored"] == made["victim"]
    assert restored["total"] == sum(made["victim"].values())

    code, out, err = bd("airflow", "restore-dag", str(archive), "--conn", url, "--yes")
    assert code == 1
    assert "conflicts" in err
    assert "--on-conflict skip" in err
    code, out, err = bd("airflow", "restore-dag", str(archive), "--conn", url, "--yes", "--on-conflict", "skip")
    assert code == 0, err
    assert re.search(rf"total\s+0\s+{sum(made['victim'].values())}", out)


def test_missing_dag_is_exit_3_with_one_line(populated_db: Populated) -> None:
    url, _ = populated_db("3.3.2", "sqlite", ("other_dag", "victim"))
    code, out, err = bd("airflow", "delete-dag", "no_such_dag", "--conn", url, "--yes")
    assert code == 3
    assert out == ""
    assert err.splitlines() == ["bd: error: no DAG 'no_such_dag' in the metadata database"]
    code, _, _ = bd("airflow", "delete-dag", "no_such_dag", "--conn", url, "--dry-run")
    assert code == 3


def test_refusal_names_force_and_force_warns(populated_db: Populated, tmp_path: Path) -> None:
    url, made = populated_db("2.10.5", "sqlite", ("other_dag", "victim"))
    from braindump_cli.airflow._db import connect

    with connect(url, write=True) as conn:
        from sqlalchemy import text

        conn.execute(text("UPDATE task_instance SET state = 'running' WHERE dag_id = 'victim'"))
    code, _, err = bd("airflow", "delete-dag", "victim", "--conn", url, "--yes", "--no-archive")
    assert code == 1
    assert "running or queued" in err
    assert "--force" in err
    code, out, err = bd(
        "airflow", "delete-dag", "victim", "--conn", url, "--yes", "--no-archive", "--force", "-o", "json"
    )
    assert code == 0, err
    assert "bd: warning" in err or "warning: --force" in err
    assert json.loads(out)["archive"] is None
    assert json.loads(out)["total"] == sum(made["victim"].values())


def test_archive_options_conflict_and_existing_archive_is_kept(populated_db: Populated, tmp_path: Path) -> None:
    url, _ = populated_db("3.3.2", "sqlite", ("other_dag", "victim"))
    code, _, err = bd("airflow", "delete-dag", "victim", "--conn", url, "--yes", "--no-archive", "--archive", "x.gz")
    assert code == 2
    existing = tmp_path / "a.jsonl.gz"
    existing.write_bytes(b"keep me")
    before = table_snapshot(url)
    code, _, err = bd("airflow", "delete-dag", "victim", "--conn", url, "--yes", "--archive", str(existing))
    assert code == 2
    assert "already exists" in err
    assert existing.read_bytes() == b"keep me"
    assert table_snapshot(url) == before


def test_commands_have_help_with_an_example() -> None:
    for command in ("delete-dag", "restore-dag"):
        code, out, _ = bd("airflow", command, "--help")
        assert code == 0
        assert "Example: bd airflow " + command in out


def test_a_database_error_mid_delete_rolls_back_with_one_line_and_no_archive(
    populated_db: Populated, tmp_path: Path
) -> None:
    """PostgreSQL archives and deletes in one COPY; an error raised inside it is reported like any other."""
    from sqlalchemy import create_engine, text

    url, _ = populated_db("3.3.2", "postgresql", ("other_dag", "victim"))
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "CREATE FUNCTION bd_test_refuse() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'xcom rows are kept here'; END $$"
            )
        )
        conn.execute(
            text("CREATE TRIGGER bd_test_refuse BEFORE DELETE ON xcom FOR EACH ROW EXECUTE FUNCTION bd_test_refuse()")
        )
    engine.dispose()
    before = table_snapshot(url)
    archive = tmp_path / "a.jsonl.gz"
    code, out, err = bd("airflow", "delete-dag", "victim", "--conn", url, "--yes", "--archive", str(archive))
    assert code == 1
    assert out == ""
    assert "bd: error: database error: xcom rows are kept here" in err
    assert "Traceback" not in err
    assert table_snapshot(url) == before
    assert list(tmp_path.iterdir()) == []
