"""`bd airflow doctor` with real bytecode, real Airflow interpreters (3.3.2, 2.10.5 venvs) and real
migrated metadata schemas.

The stale-bytecode cases are proven by importing: an unchecked-hash pyc and a sourceless pyc really
shadow the edited/deleted source until `--fix` removes them.
"""

from __future__ import annotations

import json
import os
import py_compile
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from braindump_cli.airflow.doctor.interpreter import _shebang_python, find_airflow_python
from braindump_cli.cli.app import app
from braindump_cli.sandbox.servers.airflow_env import ensure_airflow_venv
from tests.airflow.diag_support import insert_dag, insert_import_error
from tests.helpers import server_unavailable

DAG_3 = """
import datetime
from airflow.sdk import DAG
from airflow.providers.standard.operators.empty import EmptyOperator

bound = DAG("{bound}", start_date=datetime.datetime(2024, 1, 1), schedule=None)
with DAG("{unbound}", start_date=datetime.datetime(2024, 1, 1), schedule=None):
    EmptyOperator(task_id="t")
"""
DAG_2 = """
import datetime
from airflow import DAG
from airflow.operators.empty import EmptyOperator

with DAG("{dag_id}", start_date=datetime.datetime(2024, 1, 1), schedule=None) as dag:
    EmptyOperator(task_id="t")
"""


def _venv(version: str) -> Path:
    try:
        return ensure_airflow_venv(version)
    except Exception as e:
        server_unavailable(f"Airflow {version} virtualenv", str(e))
        raise


def run(*args: str) -> tuple[int, dict[str, Any], str]:
    result = CliRunner().invoke(app, ["airflow", "doctor", "-o", "json", *args])
    assert result.stdout, result.stderr
    return result.exit_code, json.loads(result.stdout), result.stderr


@pytest.fixture
def airflow_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private AIRFLOW_HOME with a dags folder; no AIRFLOW_* settings leak in from outside."""
    for key in list(os.environ):
        if key.startswith(("AIRFLOW", "BD_AIRFLOW")):
            monkeypatch.delenv(key)
    home = tmp_path / "airflow-home"
    (home / "dags").mkdir(parents=True)
    monkeypatch.setenv("AIRFLOW_HOME", str(home))
    monkeypatch.setenv("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    return home


# -- bytecode -----------------------------------------------------------------------------------------


def _write(path: Path, text: str, *, shift: float = 0.0) -> None:
    path.write_text(text)
    if shift:
        st = path.stat()
        os.utime(path, (st.st_atime + shift, st.st_mtime + shift))


def _import_value(folder: Path, module: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-B", "-c", f"import {module}; print({module}.X)"],
        cwd=folder,
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.stdout.strip() if proc.returncode == 0 else f"error: {proc.stderr.strip().splitlines()[-1]}"


def test_stale_bytecode_found_proven_and_fixed(airflow_home: Path) -> None:
    dags = airflow_home / "dags"
    (dags / "pkg").mkdir()
    for name in ("changed", "pinned", "vanished", "fresh"):
        _write(dags / f"{name}.py", "X = 'old'\n")
    py_compile.compile(str(dags / "changed.py"), doraise=True)
    py_compile.compile(
        str(dags / "pinned.py"), doraise=True, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH
    )
    py_compile.compile(str(dags / "vanished.py"), doraise=True)
    py_compile.compile(str(dags / "fresh.py"), doraise=True)
    _write(dags / "pkg" / "legacy.py", "X = 'legacy'\n")
    py_compile.compile(str(dags / "pkg" / "legacy.py"), cfile=str(dags / "pkg" / "legacy.pyc"), doraise=True)
    (dags / "pkg" / "legacy.py").unlink()
    (dags / "vanished.py").unlink()
    _write(dags / "changed.py", "X = 'new, longer'\n", shift=10)
    _write(dags / "pinned.py", "X = 'new, longer'\n", shift=10)

    # What Python really does: the unchecked pyc wins over the edited source, the sourceless pyc imports.
    assert _import_value(dags, "pinned") == "old"
    assert _import_value(dags, "changed") == "new, longer"
    assert _import_value(dags / "pkg", "legacy") == "legacy"

    code, report, err = run("--no-db", "--python", sys.executable)
    assert code == 4, err
    found = {Path(s["path"]).name.split(".")[0]: s for s in report["stale_bytecode"]}
    assert set(found) == {"changed", "pinned", "vanished", "legacy"}
    assert found["changed"]["reason"] == "source changed"
    assert found["changed"]["shadows_source"] is False
    assert found["pinned"]["reason"] == "source changed"
    assert found["pinned"]["shadows_source"] is True
    assert found["vanished"]["reason"] == "source missing"
    assert found["legacy"]["reason"] == "sourceless pyc"
    assert found["legacy"]["shadows_source"] is True
    assert not any(s["removed"] for s in report["stale_bytecode"])
    assert len(report["problems"]) == 4

    code, report, err = run("--no-db", "--python", sys.executable, "--fix")
    assert code == 0, err
    assert all(s["removed"] for s in report["stale_bytecode"])
    assert len(report["stale_bytecode"]) == 4
    for entry in report["stale_bytecode"]:
        assert not Path(entry["path"]).exists()
        assert f"removed {entry['path']}" in err
    assert _import_value(dags, "pinned") == "new, longer"
    assert _import_value(dags / "pkg", "legacy").startswith("error: ModuleNotFoundError")
    assert list((dags / "__pycache__").glob("fresh.*.pyc"))  # the matching pyc stays

    code, report, _ = run("--no-db", "--python", sys.executable)
    assert code == 0
    assert report["stale_bytecode"] == []
    assert report["interpreters_differ"] is False


# -- parsing with Airflow's interpreter, and the metadata DB ---------------------------------------------


@pytest.mark.airflow_schema
def test_airflow_3_interpreter_files_and_db(
    airflow_home: Path, airflow_db: Callable[[str, str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    venv = _venv("3.3.2")
    monkeypatch.setenv("PATH", f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}")
    dags = airflow_home / "dags"
    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(dags))
    (dags / "good.py").write_text(DAG_3.format(bound="good_dag", unbound="unbound_dag"))
    (dags / "exits.py").write_text("# airflow dag\nimport os\nos._exit(3)\n")
    (dags / "missing.py").write_text("import airflow  # dag\nimport no_such_module_xyz\n")
    (dags / "noisy.py").write_text('print("{not json")\n' + DAG_3.format(bound="noisy_dag", unbound="noisy2_dag"))
    (dags / "slow.py").write_text("# airflow dag\nimport time\ntime.sleep(120)\n")
    (dags / "syntax.py").write_text("# airflow dag\ndef broken(:\n")
    (dags / "helper.py").write_text("VALUE = 1\n")  # no DAG words: skipped like Airflow's safe mode

    url = airflow_db("3.3.2", "sqlite")
    insert_dag(url, "good_dag", str(dags / "good.py"))
    insert_dag(url, "noisy_dag", str(dags / "noisy.py"))
    insert_dag(url, "noisy2_dag", str(dags / "noisy.py"))
    insert_dag(url, "ghost_dag", str(dags / "deleted.py"))
    insert_dag(url, "broken_dag", str(dags / "syntax.py"))  # its file fails: reported once, as the file
    insert_dag(url, "retired_dag", str(dags / "deleted.py"), active=False)
    table = insert_import_error(url, str(dags / "missing.py"), "Traceback...\nModuleNotFoundError: no_such_module_xyz")
    monkeypatch.setenv("BD_AIRFLOW_CONN", url)

    assert find_airflow_python(None)[1].startswith("airflow on PATH")
    code, report, err = run("--timeout", "10")
    assert code == 4, err
    assert report["schema_version"] == 1
    assert report["dags_folder"] == str(dags.resolve())
    interp = report["airflow_interpreter"]
    assert interp["airflow_version"] == "3.3.2"
    assert interp["prefix"] == str(venv)
    assert interp["source"].startswith("airflow on PATH")
    assert report["interpreters_differ"] is True
    assert report["skipped_files"] == 1

    files = {Path(f["path"]).name: f for f in report["files"]}
    assert set(files) == {"good.py", "exits.py", "missing.py", "noisy.py", "slow.py", "syntax.py"}
    assert files["good.py"]["ok"] is True
    assert files["good.py"]["dag_ids"] == ["good_dag", "unbound_dag"]
    assert files["noisy.py"]["dag_ids"] == ["noisy2_dag", "noisy_dag"]
    assert files["missing.py"]["missing_module"] == "no_such_module_xyz"
    assert files["missing.py"]["line"] == 2
    assert files["syntax.py"]["error_type"] == "SyntaxError"
    assert files["exits.py"]["error_type"] == "WorkerDied"
    assert files["slow.py"]["timed_out"] is True

    assert report["import_error_table"] == table
    assert [e["filename"] for e in report["import_errors"]] == [str(dags / "missing.py")]
    assert report["import_errors"][0]["error"] == "ModuleNotFoundError: no_such_module_xyz"
    assert report["dags"] == {
        "in_files_not_active_in_db": ["unbound_dag"],
        "active_in_db_not_in_files": ["ghost_dag"],
        "active_in_db": 5,
    }
    assert "bd: error: " in err


@pytest.mark.airflow_schema
@pytest.mark.postgres
def test_airflow_2_interpreter_clean_then_a_3x_only_import(
    airflow_home: Path, airflow_db: Callable[[str, str], str]
) -> None:
    venv = _venv("2.10.5")
    dags = airflow_home / "dags"
    (dags / "etl.py").write_text(DAG_2.format(dag_id="etl_dag"))
    url = airflow_db("2.10.5", "postgresql")
    insert_dag(url, "etl_dag", str(dags / "etl.py"))
    args = ["--python", str(venv / "bin" / "python"), "--conn", url, "--dags-folder", str(dags)]
    code, report, _ = run(*args)
    assert code == 0, report["problems"]
    assert report["problems"] == []
    assert report["airflow_interpreter"]["airflow_version"] == "2.10.5"
    assert report["airflow_interpreter"]["source"] == "--python"
    assert report["files"][0]["dag_ids"] == ["etl_dag"]
    assert report["import_error_table"] == "import_error"

    # A DAG written for Airflow 3 parsed by the 2.10 interpreter: the missing module is named.
    (dags / "new_style.py").write_text(DAG_3.format(bound="new_dag", unbound="new2_dag"))
    code, report, _ = run(*args)
    assert code == 4
    files = {Path(f["path"]).name: f for f in report["files"]}
    assert files["new_style.py"]["missing_module"] == "airflow.sdk"
    assert any("missing module 'airflow.sdk'" in p for p in report["problems"])
    result = CliRunner().invoke(app, ["airflow", "doctor", *args])
    assert result.exit_code == 4
    assert "missing module airflow.sdk" in result.stdout


def test_unreachable_db_is_a_problem_but_the_file_checks_still_run(airflow_home: Path) -> None:
    (airflow_home / "dags" / "plain.py").write_text("X = 1\n")
    code, report, err = run("--python", sys.executable, "--conn", "postgresql://u:topsecret@127.0.0.1:1/x")
    assert code == 4
    assert report["database_error"].startswith("cannot reach the Airflow metadata DB")
    assert "topsecret" not in json.dumps(report) + err
    assert report["skipped_files"] == 1
    assert report["dags"] is None


def test_missing_dags_folder_is_a_usage_error(airflow_home: Path) -> None:
    result = CliRunner().invoke(app, ["airflow", "doctor", "--dags-folder", str(airflow_home / "nope")])
    assert result.exit_code == 2
    assert "does not exist" in result.stderr


def test_interpreter_of_a_console_script(tmp_path: Path) -> None:
    plain = tmp_path / "airflow"
    plain.write_text(f"#!{sys.executable}\nprint(1)\n")
    assert _shebang_python(plain) == sys.executable
    trampoline = tmp_path / "airflow-long"
    trampoline.write_text(f"#!/bin/sh\n'''exec' \"{sys.executable}\" \"$0\" \"$@\"\n' '''\nprint(1)\n")
    assert _shebang_python(trampoline) == sys.executable
    env = tmp_path / "airflow-env"
    env.write_text("#!/usr/bin/env -S python3 -u\n")
    found = _shebang_python(env)
    assert found is not None
    assert os.path.basename(found).startswith("python3")
    binary = tmp_path / "airflow-bin"
    binary.write_bytes(b"\x7fELF\x02\x01")
    assert _shebang_python(binary) is None
