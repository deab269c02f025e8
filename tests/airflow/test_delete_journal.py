"""The batched delete's journal (airflow/delete/journal.py) survives the crashes it is there for."""

from __future__ import annotations

from pathlib import Path

import pytest

from braindump_cli.airflow.archive import iter_sections, read_header
from braindump_cli.airflow.delete.journal import BatchJournal
from braindump_cli.errors import NotFoundError, UsageError

TABLE = {"columns": ["id", "v"], "types": ["INTEGER", "TEXT"], "primary_key": ["id"]}
HEADER = {"dag_ids": ["d"], "created": "2026-01-01T00:00:00+00:00", "dialect": "sqlite", "alembic_revision": None}
HEADER.update(order=["t"], tables={"t": TABLE})


def _rows(path: Path) -> list[tuple[str, list[list[object]]]]:
    return [(section.table, list(rows)) for section, rows in iter_sections(path)]


def test_a_crash_mid_batch_leaves_a_journal_that_resumes_to_a_complete_archive(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl.gz"
    journal = BatchJournal.create(path, HEADER)
    journal.write_batch("t", ["id", "v"], ['[1,"a"]', '[2,"b"]'])
    journal.write_batch("t", ["id", "v"], ['[3,"c"]'])
    journal.close()
    # the crash: half a gzip member in the archive, half a line in the journal
    with open(path.with_name(path.name + ".partial"), "ab") as fh:
        fh.write(b"\x1f\x8b\x08\x00garbage")
    with open(path.with_name(path.name + ".journal"), "a", encoding="utf-8") as fh:
        fh.write('{"table": "t", "ro')

    resumed = BatchJournal.resume(path)
    assert [b.rows for b in resumed.batches] == [2, 1]
    assert resumed.last_batch_rows() == ("t", ("id", "v"), [[3, "c"]])
    resumed.drop_last()  # its DELETE did not commit
    resumed.write_batch("t", ["id", "v"], ['[3,"c"]', '[4,"d"]'])
    resumed.close()

    again = BatchJournal.resume(path)  # the rewritten journal reads back whole
    assert [b.rows for b in again.batches] == [2, 2]
    final = again.finish()
    assert read_header(final).counts == {"t": 4}
    assert _rows(final) == [("t", [[1, "a"], [2, "b"]]), ("t", [[3, "c"], [4, "d"]])]
    assert not path.with_name(path.name + ".journal").exists()
    with pytest.raises(UsageError, match="already finished"):
        BatchJournal.resume(path)


def test_resume_needs_the_journal(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="no interrupted batched run"):
        BatchJournal.resume(tmp_path / "none.jsonl.gz")


def test_a_header_without_a_journal_is_a_run_that_never_started(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl.gz"
    path.with_name(path.name + ".partial").write_bytes(b"killed after the header")
    journal = BatchJournal.create(path, HEADER)  # starts over instead of refusing
    journal.write_batch("t", ["id", "v"], ['[1,"a"]'])
    assert read_header(journal.finish()).counts == {"t": 1}
