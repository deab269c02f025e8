"""bd finds the same metadata DB URL as Airflow itself: the real `airflow config get-value` is the oracle."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from braindump_cli.settings import resolve_airflow_db
from tests.helpers import server_unavailable

pytestmark = [pytest.mark.airflow_schema, pytest.mark.slow]

VERSIONS = ["3.3.2", "2.10.5"]

DB = "[database]\nsql_alchemy_conn = postgresql+psycopg2://af:pw@cfg-database/db\n"
CORE = "[core]\nsql_alchemy_conn = postgresql+psycopg2://af:pw@cfg-core/db\n"
SCENARIOS: dict[str, tuple[dict[str, str], str | None]] = {
    "embedded default": ({}, None),
    "cfg [database]": ({}, DB),
    "cfg [core] only": ({}, CORE),
    "cfg [database] beats [core]": ({}, CORE + DB),
    "env CORE beats cfg [database]": ({"AIRFLOW__CORE__SQL_ALCHEMY_CONN": "postgresql+psycopg2://core-env/db"}, DB),
    "env DATABASE beats env CORE": (
        {
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "postgresql+psycopg2://database-env/db",
            "AIRFLOW__CORE__SQL_ALCHEMY_CONN": "postgresql+psycopg2://core-env/db",
        },
        DB,
    ),
    "%% and $VAR in cfg": (
        {"DB_HOST": "db.example"},
        "[database]\nsql_alchemy_conn = postgresql+psycopg2://af:p%%40ss@$DB_HOST/db\n",
    ),
    "AIRFLOW_CONFIG elsewhere": ({"AIRFLOW_CONFIG": "{tmp}/other.cfg"}, DB),
}


@pytest.fixture(scope="module", params=VERSIONS)
def airflow_bin(request: pytest.FixtureRequest) -> Path:
    version: str = request.param
    try:
        from braindump_cli.sandbox.servers.airflow_env import ensure_airflow_venv

        venv = ensure_airflow_venv(version)
    except Exception as exc:
        server_unavailable(f"Airflow {version} virtualenv", str(exc))
    return venv / "bin" / "airflow"


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_same_url_as_airflow(airflow_bin: Path, tmp_path: Path, scenario: str) -> None:
    extra, cfg = SCENARIOS[scenario]
    home = tmp_path / "airflow-home"
    home.mkdir()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8", "AIRFLOW_HOME": str(home)}
    env.update({k: v.replace("{tmp}", str(tmp_path)) for k, v in extra.items()})
    if cfg is not None:
        Path(env.get("AIRFLOW_CONFIG", home / "airflow.cfg")).write_text(cfg)
        if "AIRFLOW_CONFIG" in env:  # a decoy where the default file would be
            (home / "airflow.cfg").write_text("[database]\nsql_alchemy_conn = postgresql+psycopg2://decoy/db\n")
    ours = resolve_airflow_db(env=env).url  # before Airflow writes a default airflow.cfg of its own
    proc = subprocess.run(
        [str(airflow_bin), "config", "get-value", "database", "sql_alchemy_conn"],
        env={**env, "AIRFLOW__CORE__LOAD_EXAMPLES": "False"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    theirs = proc.stdout.strip().splitlines()[-1]
    assert ours == theirs, f"{scenario}: bd {ours!r} vs airflow {theirs!r}"
