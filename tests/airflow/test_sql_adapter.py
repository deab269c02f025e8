"""The one SQL adapter of `bd airflow` (airflow/_db.py): every command that reads the metadata DB gets the
same answer for the same bad URL, because they all connect through it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from braindump_cli.cli.app import app
from braindump_cli.errors import BdError
from tests.airflow.fixtures import ARCHIVE_V1

# Every command that reads the metadata DB, with the arguments it needs besides --conn.
DB_COMMANDS = [
    pytest.param(["airflow", "check-db"], id="check-db"),
    pytest.param(["airflow", "stale-dags"], id="stale-dags"),
    pytest.param(["airflow", "delete-dag", "some_dag", "--dry-run"], id="delete-dag"),
    pytest.param(["airflow", "restore-dag", "ARCHIVE", "--yes"], id="restore-dag"),
]


def _run(args: list[str], conn: str) -> tuple[int, str, str]:
    args = [str(ARCHIVE_V1) if a == "ARCHIVE" else a for a in args]
    result = CliRunner().invoke(app, [*args, "--conn", conn])
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("args", DB_COMMANDS)
def test_a_missing_sqlite_file_is_not_found_everywhere_and_never_created(args: list[str], tmp_path: Path) -> None:
    path = tmp_path / "nope.db"
    code, out, err = _run(args, f"sqlite:///{path}")
    assert code == 3, err  # docs/exit-codes.md: 3 = the named object (here a file) does not exist
    assert out == ""
    assert f"no SQLite database file at {path}" in err
    assert "unexpected" not in err
    assert not path.exists()


@pytest.mark.parametrize("args", DB_COMMANDS)
@pytest.mark.parametrize("url", ["oracle://scott:tiger@db.example:1521/orcl", "mssql+pyodbc://u:p@dsn"])
def test_an_unsupported_backend_says_so_and_is_a_usage_error(args: list[str], url: str) -> None:
    code, out, err = _run(args, url)
    assert code == 2, err
    assert out == ""
    backend = url.split(":", 1)[0].split("+", 1)[0]
    assert f"bd: error: {backend} is not supported" in err
    assert "PostgreSQL, MySQL/MariaDB and SQLite" in err
    assert "pip install" not in err  # no extra would make it work
    assert "tiger" not in err


def test_an_archive_of_format_1_still_restores(tmp_path: Path) -> None:
    """Restore reads the kept format-1 archive; deleting the DAG again archives exactly the same rows."""
    from braindump_cli.airflow.archive import iter_sections
    from braindump_cli.airflow.delete import delete_dag
    from braindump_cli.airflow.restore import restore_dag
    from tests.airflow.fixtures.schema_1_10 import create_schema

    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    create_schema(url, "sqlite")
    restored = restore_dag(url, ARCHIVE_V1)
    assert restored.total == 25
    again = delete_dag(url, ["archived_dag"], archive=tmp_path / "again.jsonl.gz")
    assert again.deleted == restored.restored

    def rows(path: Path) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for section, table_rows in iter_sections(path):
            out.setdefault(section.table, []).extend(repr(r) for r in table_rows)
        return {t: sorted(r) for t, r in out.items()}

    assert rows(tmp_path / "again.jsonl.gz") == rows(ARCHIVE_V1)


@pytest.mark.postgres
def test_a_concurrent_change_in_a_one_transaction_write_says_run_again(
    populated_db: Callable[..., tuple[str, Any]],
) -> None:
    """PostgreSQL aborts a REPEATABLE READ transaction that updates a row another session changed after
    its snapshot (40001); bd says so, and how to avoid it, instead of sending the user to check-db."""
    url, _ = populated_db("3.3.2", "postgresql", ("victim",))
    with pytest.raises(BdError) as caught:
        _update_a_row_changed_since_the_snapshot(url)
    assert type(caught.value) is BdError
    assert "another session changed the same rows" in caught.value.message
    assert "could not serialize access" in caught.value.message
    assert caught.value.hint is not None
    assert "--batch-size" in caught.value.hint


def _update_a_row_changed_since_the_snapshot(url: str) -> None:
    from braindump_cli.airflow._db import connect, sql

    flip = sql("UPDATE dag SET is_paused = NOT is_paused WHERE dag_id = 'victim'")
    with connect(url, write=True) as conn:
        conn.execute(sql("SELECT is_paused FROM dag WHERE dag_id = 'victim'")).all()  # the snapshot
        with connect(url) as other:
            other.execute(flip)
            other.commit()
        conn.execute(flip)
