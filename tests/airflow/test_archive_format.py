"""Archive format 2 (PostgreSQL COPY text sections) and its reader; format 1 stays readable."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from braindump_cli.airflow.archive import (
    FORMAT_VERSION,
    ArchiveWriter,
    CopySink,
    decode_copy_text,
    iter_sections,
    read_header,
)
from tests.airflow.fixtures import ARCHIVE_V1


def test_copy_text_fields_decode_to_the_servers_text() -> None:
    line = '1\tit\'s\t\\N\ta\\tb\\nc\\\\d\t\\\\x0080\t{"k": "v\\\\u00e9"}\t\n'
    assert decode_copy_text(line) == ["1", "it's", None, "a\tb\nc\\d", "\\x0080", '{"k": "v\\u00e9"}', ""]


def test_a_copy_section_is_kept_as_sent_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl.gz"
    writer = ArchiveWriter(path, {"dag_ids": ["d"], "created": "x", "dialect": "postgresql", "tables": {}})
    sent = b"1\tone\\ttab\n2\t\\N\n"

    def copy(sink: CopySink) -> None:
        sink.write(sent)

    assert writer.write_copy_rows("t", ["id", "v"], copy, text_rows=True) == 2
    writer.write_rows("u", ["id"], [[7]])
    writer.commit()
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        lines = fh.read().splitlines()
    assert json.loads(lines[0])["bd_archive"] == FORMAT_VERSION == 2
    assert json.loads(lines[1]) == {"table": "t", "columns": ["id", "v"], "rows": "pg-copy"}
    assert lines[2:4] == ["1\tone\\ttab", "2\t\\N"]  # byte for byte what COPY sent
    sections = [(s.table, s.rows, list(rows)) for s, rows in iter_sections(path)]
    assert sections == [("t", "pg-copy", [["1", "one\ttab"], ["2", None]]), ("u", "json", [[7]])]
    assert read_header(path).counts == {"t": 2, "u": 1}


def test_format_1_archives_are_still_read() -> None:
    with gzip.open(ARCHIVE_V1, "rt", encoding="utf-8") as fh:
        assert json.loads(fh.readline())["bd_archive"] == 1
    assert sum(read_header(ARCHIVE_V1).counts.values()) == 25
