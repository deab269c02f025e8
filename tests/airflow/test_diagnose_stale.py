"""`bd airflow stale-dags` on real 3.3.2 / 2.10.5 schemas and the 1.10 fixture, SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from braindump_cli.cli.app import app
from tests.airflow.diag_support import DATABASES, dag_states, insert_dag

pytestmark = pytest.mark.airflow_schema

ODD_IDS = ["it's", 'semi;colon "quoted"', "under_score%", "ünïcødé_dåg", "x" * 250]


@pytest.fixture(params=DATABASES)
def db(request: pytest.FixtureRequest, airflow_db: Callable[[str, str], str]) -> str:
    schema, backend = request.param
    return airflow_db(schema, backend)


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    dags = tmp_path / "dags"
    dags.mkdir()
    present = dags / "present.py"
    present.write_text("# airflow dag\n")
    bundle = dags / "packaged.zip"
    with zipfile.ZipFile(bundle, "w") as zf:
        zf.writestr("inner_dag.py", "# airflow dag\n")
    return {
        "present": str(present),
        "zip_member": f"{bundle}/inner_dag.py",
        "zip_missing_member": f"{bundle}/gone.py",
        "missing": str(dags / "deleted.py"),
    }


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["airflow", "stale-dags", *args])
    return result.exit_code, result.stdout, result.stderr


def test_lists_only_active_dags_whose_file_is_gone(
    db: str, files: dict[str, str], request: pytest.FixtureRequest
) -> None:
    insert_dag(db, "alive", files["present"])
    insert_dag(db, "in_zip", files["zip_member"])
    insert_dag(db, "gone", files["missing"])
    insert_dag(db, "gone_from_zip", files["zip_missing_member"])
    insert_dag(db, "gone_but_inactive", files["missing"], active=False)
    code, out, err = run("--conn", db, "-o", "json")
    assert code == 0, err
    report = json.loads(out)
    assert report["schema_version"] == 1
    assert report["active"] == 4
    schema, _backend = request.node.callspec.params["db"]
    assert report["active_column"] == ("is_stale" if schema.startswith("3.") else "is_active")
    assert {s["dag_id"]: s["reason"] for s in report["stale"]} == {
        "gone": "file missing",
        "gone_from_zip": "file missing",
    }
    assert report["deactivated"] == []
    assert dag_states(db) == {
        "alive": True,
        "in_zip": True,
        "gone": True,
        "gone_from_zip": True,
        "gone_but_inactive": False,
    }


def test_deactivate_flips_only_the_stale_ones(db: str, files: dict[str, str]) -> None:
    insert_dag(db, "alive", files["present"])
    insert_dag(db, "gone", files["missing"])
    for dag_id in ODD_IDS:
        insert_dag(db, dag_id, files["missing"] if dag_id != "it's" else files["present"])
    before = dag_states(db)
    code, out, err = run("--conn", db, "--deactivate", "--yes", "-o", "json")
    assert code == 0, err
    report = json.loads(out)
    expected = sorted(["gone", *[d for d in ODD_IDS if d != "it's"]])
    assert report["deactivated"] == expected
    after = dag_states(db)
    assert {d for d in after if after[d] != before[d]} == set(expected)
    assert all(after[d] is False for d in expected)
    assert after["alive"] is True
    assert after["it's"] is True
    # A second run finds nothing left to do.
    code, out, _ = run("--conn", db, "-o", "json")
    assert json.loads(out)["stale"] == []


def test_dry_run_and_unconfirmed_runs_change_nothing(db: str, files: dict[str, str]) -> None:
    insert_dag(db, "alive", files["present"])
    insert_dag(db, "gone", files["missing"])
    code, out, _ = run("--conn", db, "--deactivate", "--dry-run", "-o", "json")
    assert code == 0
    assert json.loads(out)["dry_run"] is True
    assert dag_states(db)["gone"] is True
    # CliRunner's stdin is not a terminal: without --yes bd refuses (exit 2) and changes nothing.
    code, _, err = run("--conn", db, "--deactivate")
    assert code == 2
    assert "--yes" in err
    assert dag_states(db)["gone"] is True


def test_refuses_when_every_active_dag_looks_stale(db: str, files: dict[str, str]) -> None:
    insert_dag(db, "a", files["missing"])
    insert_dag(db, "b", files["missing"] + ".other")
    code, _, err = run("--conn", db, "--deactivate", "--yes")
    assert code == 1
    assert "is bd running where the DAG files are" in err
    assert dag_states(db) == {"a": True, "b": True}
    code, out, err = run("--conn", db, "--deactivate", "--yes", "--force", "-o", "json")
    assert code == 0, err
    assert json.loads(out)["deactivated"] == ["a", "b"]
    assert dag_states(db) == {"a": False, "b": False}


def test_table_output_and_jsonl(db: str, files: dict[str, str]) -> None:
    insert_dag(db, "gone", files["missing"])
    insert_dag(db, "alive", files["present"])
    code, out, _ = run("--conn", db)
    assert code == 0
    assert "gone" in out
    assert "1 of 2 active DAGs have no file" in out
    code, out, _ = run("--conn", db, "-o", "jsonl")
    assert [json.loads(line)["dag_id"] for line in out.splitlines()] == ["gone"]


def test_not_an_airflow_database(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "other.db"
    sqlite3.connect(path).execute("create table t (x int)").connection.close()
    code, _, err = run("--conn", f"sqlite:///{path}")
    assert code == 2
    assert "no dag table" in err
