"""delete-dag and restore-dag against real schemas (Airflow 3.3.2 and 2.10.5 from `airflow db migrate`,
the 1.10 DDL fixture) on SQLite (foreign keys enforced), PostgreSQL 15 and MariaDB."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from braindump_cli.airflow.delete import delete_dag, plan_dag_delete
from braindump_cli.airflow.restore import restore_dag
from braindump_cli.errors import NotFoundError, RefusedError
from tests.airflow.conftest import BACKEND_MARKS, BACKENDS, SCHEMAS
from tests.airflow.populate import table_snapshot

pytestmark = [pytest.mark.airflow_schema]

COMBOS = [pytest.param(s, b, marks=BACKEND_MARKS[b]) for s in SCHEMAS for b in BACKENDS]
ODD_ID_BACKENDS = [pytest.param(b, marks=BACKEND_MARKS[b]) for b in BACKENDS]
Populated = Callable[..., tuple[str, dict[str, dict[str, int]]]]


def _sql(url: str, sql: str, params: dict[str, Any] | None = None) -> None:
    from braindump_cli.airflow._db import connect

    with connect(url, write=True) as conn:
        from sqlalchemy import text

        conn.execute(text(sql), params or {})


def _removed(before: dict[str, list[str]], after: dict[str, list[str]]) -> dict[str, int]:
    """Rows per table that disappeared; fails if any row appeared or changed into something new."""
    removed = {}
    for table, rows in before.items():
        left = list(after[table])
        assert set(left) <= set(rows), f"{table}: rows changed or appeared"
        if len(rows) != len(left):
            removed[table] = len(rows) - len(left)
    return removed


@pytest.mark.parametrize(("schema", "backend"), COMBOS)
def test_delete_removes_exactly_the_dag_and_restore_brings_it_back(
    schema: str, backend: str, airflow_db: Callable[[str, str], str], tmp_path: Path
) -> None:
    from tests.airflow.populate import populate_dags

    url = airflow_db(schema, backend)
    populate_dags(url, ["other_dag"])
    without = table_snapshot(url)
    made = populate_dags(url, ["victim"])["victim"]
    with_victim = table_snapshot(url)

    plan = plan_dag_delete(url, ["victim"])
    assert plan.dry_run
    assert plan.deleted == made
    assert table_snapshot(url) == with_victim

    archive = tmp_path / "victim.jsonl.gz"
    result = delete_dag(url, ["victim"], archive=archive)
    assert result.deleted == made
    assert result.total == sum(made.values())
    assert result.archive == str(archive)
    assert table_snapshot(url) == without  # every row of the victim gone, the other DAG and shared rows untouched

    restored = restore_dag(url, archive)
    assert restored.restored == made
    assert restored.skipped == {}
    assert table_snapshot(url) == with_victim  # identical rows, every table

    # the other DAG goes through a delete untouched by the first one's restore
    assert delete_dag(url, ["other_dag"], archive=None).total == sum(made.values())


def test_archive_header_has_revision_types_and_a_trailer(populated_db: Populated, tmp_path: Path) -> None:
    url, made = populated_db("3.3.2", "sqlite", ("other_dag", "victim"))
    archive = tmp_path / "a.jsonl.gz"
    delete_dag(url, ["victim"], archive=archive)
    with gzip.open(archive, "rt", encoding="utf-8") as fh:
        lines = [json.loads(line) for line in fh]
    header, trailer = lines[0], lines[-1]
    assert header["bd_archive"] == 2
    assert header["dag_ids"] == ["victim"]
    assert header["alembic_revision"] == "d2f4e1b3c5a7"
    assert header["dialect"] == "sqlite"
    ti = header["tables"]["task_instance"]
    assert "dag_version_id" in ti["columns"]
    assert len(ti["types"]) == len(ti["columns"])
    assert trailer == {"end": True, "counts": made["victim"]}
    assert not (tmp_path / "a.jsonl.gz.partial").exists()


def test_restore_refuses_conflicts_unless_told_to_skip(populated_db: Populated, tmp_path: Path) -> None:
    url, made = populated_db("2.10.5", "postgresql", ("other_dag", "victim"))
    archive = tmp_path / "a.jsonl.gz"
    delete_dag(url, ["victim"], archive=archive)
    restore_dag(url, archive)
    before = table_snapshot(url)
    with pytest.raises(RefusedError, match="conflicts"):
        restore_dag(url, archive)
    assert table_snapshot(url) == before
    result = restore_dag(url, archive, on_conflict="skip")
    assert result.total == 0
    assert result.skipped == made["victim"]
    assert table_snapshot(url) == before


def test_restore_into_another_database_with_the_same_schema(
    populated_db: Populated, airflow_db: Callable[[str, str], str], tmp_path: Path
) -> None:
    url, made = populated_db("3.3.2", "postgresql", ("other_dag", "victim"))
    archive = tmp_path / "a.jsonl.gz"
    delete_dag(url, ["victim"], archive=archive)
    empty = airflow_db("3.3.2", "postgresql")
    with pytest.raises(RefusedError, match="lacks"):  # no dag_bundle / log_template rows there
        restore_dag(empty, archive)
    assert table_snapshot(empty)["dag"] == []
    with pytest.raises(RefusedError, match="revision"):
        restore_dag(airflow_db("2.10.5", "postgresql"), archive)
    # a database with the same shared rows (the populator makes them deterministic) takes the archive
    from tests.airflow.populate import populate_dags

    fresh = airflow_db("3.3.2", "postgresql")
    populate_dags(fresh, ["other_dag"])
    assert restore_dag(fresh, archive).restored == made["victim"]


def test_keep_logs_keeps_the_log_rows(populated_db: Populated) -> None:
    url, made = populated_db("2.10.5", "sqlite", ("other_dag", "victim"))
    before = table_snapshot(url)
    result = delete_dag(url, ["victim"], archive=None, keep_logs=True)
    assert "log" not in result.deleted
    assert made["victim"]["log"] > 0
    assert _removed(before, table_snapshot(url)) == {t: n for t, n in made["victim"].items() if t != "log"}


def test_missing_dag_is_not_found_and_changes_nothing(populated_db: Populated) -> None:
    url, _ = populated_db("1.10", "sqlite", ("other_dag", "victim"))
    before = table_snapshot(url)
    with pytest.raises(NotFoundError, match="nope"):
        delete_dag(url, ["victim", "nope"], archive=None)
    with pytest.raises(NotFoundError):
        plan_dag_delete(url, ["nope"])
    assert table_snapshot(url) == before


@pytest.mark.parametrize("state", ["running", "queued"])
def test_refuses_while_task_instances_run_unless_forced(populated_db: Populated, state: str) -> None:
    url, made = populated_db("3.3.2", "sqlite", ("other_dag", "victim"))
    _sql(url, "UPDATE task_instance SET state = :s WHERE dag_id = 'victim' AND task_id IN "
         "(SELECT task_id FROM task_instance WHERE dag_id = 'victim' LIMIT 1)", {"s": state})  # fmt: skip
    before = table_snapshot(url)
    with pytest.raises(RefusedError, match="running or queued") as err:
        delete_dag(url, ["victim"], archive=None)
    assert "--force" in (err.value.hint or "")
    assert table_snapshot(url) == before
    assert plan_dag_delete(url, ["victim"]).warnings  # the dry run reports what would be refused
    warnings: list[str] = []
    result = delete_dag(url, ["victim"], archive=None, force=True, progress=warnings.append)
    assert result.deleted == made["victim"]
    assert any("running or queued" in w for w in warnings)


def test_refuses_while_the_dag_file_exists(populated_db: Populated, tmp_path: Path) -> None:
    url, made = populated_db("2.10.5", "postgresql", ("other_dag", "victim"))
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "victim.py").write_text("# the DAG is still here\n")
    for table, column in (("dag_code", "fileloc"), ("import_error", "filename"), ("dag", "fileloc")):
        victim_file = "(SELECT fileloc FROM dag WHERE dag_id = 'victim')"
        _sql(url, f"UPDATE {table} SET {column} = :f WHERE {column} = {victim_file}", {"f": str(dags / "victim.py")})
    with pytest.raises(RefusedError, match="still exists"):
        delete_dag(url, ["victim"], archive=None, dags_folder=dags)
    (dags / "victim.py").unlink()
    assert delete_dag(url, ["victim"], archive=None, dags_folder=dags).total == sum(made["victim"].values())


def test_dag_file_found_through_the_dags_folder_and_relative_fileloc(populated_db: Populated, tmp_path: Path) -> None:
    url, _ = populated_db("3.3.2", "postgresql", ("other_dag", "victim"))
    (tmp_path / "victim_rel.py").write_text("")
    _sql(url, "UPDATE dag SET relative_fileloc = 'victim_rel.py' WHERE dag_id = 'victim'")
    with pytest.raises(RefusedError, match=r"victim_rel\.py"):
        delete_dag(url, ["victim"], archive=None, dags_folder=tmp_path)


def test_dag_code_and_import_errors_of_a_shared_file_are_kept(populated_db: Populated) -> None:
    """2.x keys dag_code and import_error by file: only a file no remaining DAG uses goes."""
    url, made = populated_db("2.10.5", "sqlite", ("other_dag", "victim"))
    _sql(url, "UPDATE dag SET fileloc = (SELECT fileloc FROM dag WHERE dag_id = 'other_dag') WHERE dag_id = 'victim'")
    result = delete_dag(url, ["victim"], archive=None)
    assert "dag_code" not in result.deleted
    assert "import_error" not in result.deleted
    assert result.deleted["task_instance"] == made["victim"]["task_instance"]


def test_subdags_only_with_the_flag_and_wildcards_escaped(populated_db: Populated) -> None:
    ids = ("a_b", "a_b.child", "axb.child", "A_B.upper", "a%b.c", "other_dag")
    url, made = populated_db("1.10", "postgresql", ids)
    before = table_snapshot(url)
    result = delete_dag(url, ["a_b"], archive=None)
    assert result.deleted == made["a_b"]  # no subdag without the flag
    assert _removed(before, table_snapshot(url)) == made["a_b"]

    url, made = populated_db("1.10", "postgresql", ids)
    before = table_snapshot(url)
    result = delete_dag(url, ["a_b"], archive=None, include_subdags=True)
    # a_b and a_b.child; not axb.child (`_` is no wildcard), not A_B.upper, not a%b.c
    both = {t: made["a_b"].get(t, 0) + made["a_b.child"].get(t, 0) for t in made["a_b"]}
    assert result.deleted == both
    assert _removed(before, table_snapshot(url)) == both


@pytest.mark.parametrize(
    ("schema", "backend"),
    [
        ("2.10.5", "sqlite"),
        pytest.param("2.10.5", "mariadb", marks=pytest.mark.mariadb),
        # the 1.10 DDL leaves dag_id in the database's case-insensitive default collation on MariaDB
        pytest.param("1.10", "mariadb", marks=pytest.mark.mariadb),
    ],
)
def test_subdags_are_case_sensitive_where_like_ignores_case(schema: str, backend: str, populated_db: Populated) -> None:
    url, made = populated_db(schema, backend, ("p", "p.c", "P.upper", "p%.x", "other_dag"))
    result = delete_dag(url, ["p"], archive=None, include_subdags=True)
    assert result.total == sum(made["p"].values()) + sum(made["p.c"].values())
    with pytest.raises(NotFoundError):
        plan_dag_delete(url, ["p.c"])
    assert plan_dag_delete(url, ["P.upper"]).total == sum(made["P.upper"].values())


ODD_IDS = [
    "it's",
    'dq"dag',
    "a%b",
    "a_b",
    "x; DROP TABLE dag; --",
    "' OR '1'='1",
    "back\\slash",
    "dág-ü-日本-🚀",
    "L" * 250,
]


@pytest.mark.parametrize("backend", ODD_ID_BACKENDS)
def test_odd_ids_change_only_that_dag(backend: str, populated_db: Populated, tmp_path: Path) -> None:
    decoys = ["ab", "axb", "a", "its", "L" * 249]
    odd = ODD_IDS
    if backend == "mariadb":
        # Airflow declares dag_id `utf8mb3_bin` on MySQL/MariaDB: no 4-byte characters, case-sensitive.
        odd = [i for i in ODD_IDS if all(ord(ch) <= 0xFFFF for ch in i)] + ["dág-ü-日本", "It's"]
    url, made = populated_db("3.3.2", backend, tuple(odd + decoys))
    for dag_id in odd:
        before = table_snapshot(url)
        archive = tmp_path / f"{abs(hash(dag_id))}.jsonl.gz"
        result = delete_dag(url, [dag_id], archive=archive)
        assert _removed(before, table_snapshot(url)) == made[dag_id], dag_id
        assert result.deleted == made[dag_id]
        restore_dag(url, archive)
        assert table_snapshot(url) == before, dag_id


@pytest.mark.parametrize("backend", ODD_ID_BACKENDS)
def test_rows_of_another_dag_that_reference_the_dag_go_with_it_and_come_back(
    backend: str, populated_db: Populated, tmp_path: Path
) -> None:
    """A task instance of other_dag pointing at victim's dag_version (RESTRICT key): it and its own
    children (xcom, rendered fields... keyed by other_dag's dag_id) must be deleted, archived and restored."""
    url, made = populated_db("3.3.2", backend, ("other_dag", "victim"))
    _sql(
        url,
        "UPDATE task_instance SET dag_version_id = (SELECT id FROM dag_version WHERE dag_id = 'victim') "
        "WHERE id = (SELECT id FROM task_instance WHERE dag_id = 'other_dag' ORDER BY task_id, run_id LIMIT 1)",
    )
    before = table_snapshot(url)
    archive = tmp_path / "a.jsonl.gz"
    result = delete_dag(url, ["victim"], archive=archive)
    removed = _removed(before, table_snapshot(url))
    assert result.deleted == removed
    assert removed["task_instance"] == made["victim"]["task_instance"] + 1
    assert removed["xcom"] > made["victim"]["xcom"]  # the foreign task instance's xcom rows too
    restore_dag(url, archive)
    assert table_snapshot(url) == before
