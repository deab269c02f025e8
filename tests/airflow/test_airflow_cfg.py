"""One airflow.cfg reader (settings.read_airflow_cfg) for the DB URL and the DAGs folder, for every command."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from braindump_cli.cli.app import app
from braindump_cli.settings import resolve_airflow_db, resolve_dags_folder


@pytest.fixture
def cfg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An airflow.cfg outside $AIRFLOW_HOME, named by $AIRFLOW_CONFIG only."""
    home = tmp_path / "home"
    home.mkdir()
    path = tmp_path / "elsewhere" / "my-airflow.cfg"
    path.parent.mkdir()
    path.write_text(
        "[core]\ndags_folder = {AIRFLOW_HOME}/from-cfg\n[database]\nsql_alchemy_conn = sqlite:///$AIRFLOW_HOME/x.db\n"
    )
    for var in ("AIRFLOW__CORE__DAGS_FOLDER", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "BD_AIRFLOW_CONN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AIRFLOW_HOME", str(home))
    monkeypatch.setenv("AIRFLOW_CONFIG", str(path))
    return path


def test_dags_folder_and_db_url_come_from_the_same_airflow_config(cfg: Path) -> None:
    home = cfg.parent.parent / "home"
    assert resolve_dags_folder() == home / "from-cfg"
    assert resolve_airflow_db().url == f"sqlite:///{home}/x.db"


@pytest.mark.parametrize("command", [["doctor", "--no-db"], ["procs"]])
def test_doctor_and_procs_read_the_dags_folder_from_airflow_config(cfg: Path, command: list[str]) -> None:
    missing = cfg.parent.parent / "home" / "from-cfg"
    result = CliRunner().invoke(app, ["airflow", *command, "-o", "json"])
    if command[0] == "doctor":
        assert result.exit_code == 2
        assert f"DAGs folder {missing} does not exist" in result.stderr
    else:  # procs goes on without a folder: the DAG-age column is left out
        assert result.exit_code == 0, result.stderr
    (missing).mkdir()
    (missing / "plain.py").write_text("X = 1\n")
    result = CliRunner().invoke(app, ["airflow", *command, "-o", "json"])
    assert result.exit_code in (0, 4), result.stderr
    assert str(missing) in result.stdout


def test_a_broken_airflow_cfg_is_a_usage_error_for_every_reader(cfg: Path) -> None:
    cfg.write_text("[core]\ndags_folder = 100%\n")
    result = CliRunner().invoke(app, ["airflow", "doctor", "--no-db"])
    assert result.exit_code == 2
    assert f"cannot parse {cfg}" in result.stderr
