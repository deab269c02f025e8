"""Pure logic of delete-dag / restore-dag: LIKE escaping, FK ordering, branches, archive format."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from braindump_cli.airflow._db import ForeignKey, Schema, TableInfo
from braindump_cli.airflow.archive import (
    ArchiveWriter,
    CopySink,
    decode_value,
    encode_value,
    iter_sections,
    read_header,
)
from braindump_cli.airflow.delete import default_archive_path
from braindump_cli.airflow.delete.selection import build_branches, delete_order, escape_like, run_id_list, seeds_of
from braindump_cli.airflow.delete.statements import _from_setting
from braindump_cli.errors import BdError, UsageError
from braindump_cli.settings import resolve_dags_folder


def _table(name: str, columns: tuple[str, ...], *fks: tuple[tuple[str, ...], str, tuple[str, ...]]) -> TableInfo:
    return TableInfo(
        name=name,
        columns=columns,
        types=tuple("VARCHAR(250)" for _ in columns),
        nullable=tuple(True for _ in columns),
        primary_key=columns[:1],
        foreign_keys=tuple(ForeignKey(name, c, ref, rc, None) for c, ref, rc in fks),
    )


def _schema(*tables: TableInfo) -> Schema:
    return Schema(dialect="sqlite", tables={t.name: t for t in tables}, revision=None)


AIRFLOW3_LIKE = _schema(
    _table("dag", ("dag_id", "fileloc")),
    _table("dag_version", ("id", "dag_id"), (("dag_id",), "dag", ("dag_id",))),
    _table("dag_run", ("id", "dag_id", "run_id")),
    _table(
        "task_instance",
        ("id", "dag_id", "run_id", "dag_version_id"),
        (("dag_id", "run_id"), "dag_run", ("dag_id", "run_id")),
        (("dag_version_id",), "dag_version", ("id",)),
    ),
    _table("task_reschedule", ("id", "ti_id"), (("ti_id",), "task_instance", ("id",))),
    _table("xcom", ("dag_id", "run_id"), (("dag_id", "run_id"), "task_instance", ("dag_id", "run_id"))),
    _table("dag_bundle", ("name",)),
    _table("log", ("id", "dag_id")),
    _table("adrq", ("target_dag_id", "asset_id")),
)


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [("plain", "plain"), ("a_b", "a!_b"), ("100%", "100!%"), ("x!y", "x!!y"), ("!_%", "!!!_!%")],
)
def test_escape_like(raw: str, escaped: str) -> None:
    assert escape_like(raw) == escaped


def test_delete_order_is_children_first() -> None:
    tables = [t for t in AIRFLOW3_LIKE.tables if t != "dag_bundle"]
    order = delete_order(AIRFLOW3_LIKE, tables)
    assert sorted(order) == sorted(tables)
    pos = {t: i for i, t in enumerate(order)}
    for t in tables:
        for fk in AIRFLOW3_LIKE.tables[t].foreign_keys:
            assert pos[t] < pos[fk.referred_table], (t, fk.referred_table)


def test_delete_order_survives_a_cycle() -> None:
    schema = _schema(
        _table("a", ("id", "b_id"), (("b_id",), "b", ("id",))),
        _table("b", ("id", "a_id"), (("a_id",), "a", ("id",))),
        _table("c", ("id", "a_id"), (("a_id",), "a", ("id",))),
    )
    order = delete_order(schema, ["a", "b", "c"])
    assert sorted(order) == ["a", "b", "c"]
    assert order.index("c") < order.index("a")


def test_branches_follow_keys_and_skip_redundant_dag_id_seeds() -> None:
    seeds = seeds_of(AIRFLOW3_LIKE, keep_logs=False, has_files=False, has_pairs=False)
    assert set(seeds) == {"dag", "dag_version", "dag_run", "task_instance", "xcom", "log", "adrq"}
    branches = build_branches(AIRFLOW3_LIKE, seeds)
    assert "dag_bundle" not in branches
    # task_reschedule has no dag_id: selected only through its key to task_instance
    (tr,) = branches["task_reschedule"]
    assert tr.kind == "fk"
    assert tr.fk is not None
    assert tr.fk.referred_table == "task_instance"
    # task_instance: its own seed, plus dag_version (id -> id keeps dag_version's seed); the key to
    # dag_run maps dag_id onto dag_id, so dag_run's seed adds nothing and that branch is dropped
    ti = branches["task_instance"]
    assert [b.kind for b in ti] == ["seed", "fk"]
    assert ti[1].fk is not None
    assert ti[1].fk.referred_table == "dag_version"
    assert [b.kind for b in branches["adrq"]] == ["seed"]
    assert branches["adrq"][0].column == "target_dag_id"
    assert "log" not in seeds_of(AIRFLOW3_LIKE, keep_logs=True, has_files=False, has_pairs=False)


def test_default_archive_path_is_safe_for_any_id(tmp_path: Path) -> None:
    now = dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    path = default_archive_path(["../x; rm -rf /"], now=now, directory=tmp_path)
    assert path.parent == tmp_path
    assert path.name == "bd-archive-_x_rm_-rf_-20250102T030405Z.jsonl.gz"
    many = default_archive_path(["a", "b", "c"], now=now, directory=tmp_path)
    assert many.name == "bd-archive-a-and-2-more-20250102T030405Z.jsonl.gz"
    assert len(default_archive_path(["é" * 250], now=now, directory=tmp_path).name) < 120


@pytest.mark.parametrize(
    "value",
    [None, 0, -1, 1.5, "", "dág 🚀", b"\x00\xff", dt.datetime(2024, 1, 2, 3, 4, 5, 6), dt.timedelta(days=1, seconds=2)],
)
def test_values_round_trip(value: object) -> None:
    decoded = decode_value(json.loads(json.dumps(encode_value(value))))
    if isinstance(value, dt.datetime):
        assert decoded == value.isoformat()  # handed back to the database as its ISO text
    else:
        assert decoded == value


def test_objects_become_their_text() -> None:
    assert decode_value(encode_value(Decimal("1.50"))) == "1.50"
    assert json.loads(decode_value(encode_value({"a": [1]}))) == {"a": [1]}
    with pytest.raises(UsageError):
        decode_value({"$unknown": 1})


def test_archive_writer_reader_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl.gz"
    writer = ArchiveWriter(path, {"dag_ids": ["d"], "created": "now", "dialect": "sqlite", "alembic_revision": "r",
                                  "tables": {"t1": {"columns": ["a", "b"]}, "t2": {"columns": ["c"]}}})  # fmt: skip
    assert not path.exists()  # only the .partial file until commit
    writer.write_rows("t1", ["a", "b"], iter([[1, b"\x01"], [2, None]]))
    writer.write_rows("t2", ["c"], iter([]))
    writer.write_rows("t1", ["a", "b"], iter([[3, "x"]]))
    assert writer.commit() == path
    assert not (tmp_path / "a.jsonl.gz.partial").exists()
    header = read_header(path)
    assert header.counts == {"t1": 3, "t2": 0}
    assert header.revision == "r"
    got = [(s.table, list(rows)) for s, rows in iter_sections(path)]
    assert got == [("t1", [[1, b"\x01"], [2, None]]), ("t2", []), ("t1", [[3, "x"]])]
    with pytest.raises(UsageError, match="already exists"):
        ArchiveWriter(path, {})


def test_incomplete_archive_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "cut.jsonl.gz"
    with gzip.open(path, "wt") as fh:
        fh.write(json.dumps({"bd_archive": 1, "kind": "airflow-dag", "dag_ids": ["d"]}) + "\n[1]\n")
    with pytest.raises(UsageError, match="incomplete"):
        read_header(path)
    aborted = ArchiveWriter(tmp_path / "b.jsonl.gz", {})
    aborted.abort()
    assert list(tmp_path.iterdir()) == [path]


def test_dags_folder_precedence(tmp_path: Path) -> None:
    cfg = tmp_path / "airflow.cfg"
    cfg.write_text("[core]\ndags_folder = {AIRFLOW_HOME}/from_cfg\n")
    env = {"AIRFLOW_HOME": str(tmp_path)}
    assert resolve_dags_folder(env=env) == tmp_path / "from_cfg"
    assert resolve_dags_folder(env={**env, "AIRFLOW__CORE__DAGS_FOLDER": "/x/env"}) == Path("/x/env")
    assert resolve_dags_folder(Path("/x/flag"), env={**env, "AIRFLOW__CORE__DAGS_FOLDER": "/x/env"}) == Path("/x/flag")
    cfg.unlink()
    assert resolve_dags_folder(env=env) == tmp_path / "dags"


def test_help_imports_no_database_client() -> None:
    code = (
        "import sys\n"
        "from braindump_cli.cli.app import app\n"
        "try:\n    app(['airflow', 'delete-dag', '--help'], prog_name='bd')\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('sqlalchemy', 'psycopg2', 'pymysql') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "HEAVY []" in out


def _sink_output(chunks: list[bytes]) -> tuple[bytes, int]:
    out: list[bytes] = []
    sink = CopySink(out.append)
    for c in chunks:
        sink.write(c)
    sink.close()
    return b"".join(out), sink.rows


def test_copy_sink_undoes_copy_escaping_across_any_chunking() -> None:
    rows = [json.dumps(["back\\slash", 'quote"', "tab\t", "日本"], ensure_ascii=False) for _ in range(3)]
    wire = "".join(r.replace("\\", "\\\\") + "\n" for r in rows).encode("utf-8")
    expected = "".join(r + "\n" for r in rows).encode("utf-8")
    for size in (1, 2, 3, 7, len(wire)):  # cuts inside escapes and inside UTF-8 characters
        out, n = _sink_output([wire[i : i + size] for i in range(0, len(wire), size)])
        assert (out, n) == (expected, 3)
        assert next(json.loads(line) for line in out.decode("utf-8").splitlines())[0] == "back\\slash"


def test_copy_sink_refuses_escapes_a_json_row_cannot_hold_and_torn_rows() -> None:
    with pytest.raises(BdError, match="escape"):
        _sink_output([b'["a\\tb"]\n'])
    with pytest.raises(BdError, match="inside a row"):
        _sink_output([b'["a"]\n["b'])


def test_copy_sink_flushes_in_chunks_at_line_ends() -> None:
    out: list[bytes] = []
    sink = CopySink(out.append)
    line = b'["' + b"x" * 1000 + b'"]\n'
    for _ in range(3000):  # about 3 MiB
        sink.write(line)
    sink.close()
    assert len(out) >= 3
    assert all(c.endswith(b"\n") for c in out)
    assert sink.rows == 3000
    assert b"".join(out) == line * 3000


def test_copy_statements_read_every_bind_from_the_setting() -> None:
    sql = "t.dag_id IN :ids OR (t.dag_id LIKE :sub0 ESCAPE '!' AND SUBSTR(t.dag_id, 1, :sub0_n) = :sub0_prefix)"
    out = _from_setting(sql, {"ids", "sub0", "sub0_n", "sub0_prefix"})
    assert ":ids" not in out
    assert ":sub0" not in out
    assert "= ANY (ARRAY(SELECT json_array_elements_text(CAST(current_setting('bd.params') AS json) -> 'ids')))" in out
    assert "CAST((CAST(current_setting('bd.params') AS json) ->> 'sub0_n') AS INTEGER)" in out
    with pytest.raises(ValueError, match=":other"):
        _from_setting("x = :other", {"ids"})


def test_run_ids_reach_the_sql_only_as_integers() -> None:
    assert run_id_list([3, 1, "7"]) == "(3, 1, 7)"
    assert run_id_list([]) == "(NULL)"  # matches nothing
    with pytest.raises(ValueError, match="invalid literal"):
        run_id_list(["1) OR (1 = 1"])
