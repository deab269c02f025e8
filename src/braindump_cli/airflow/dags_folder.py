"""Where Airflow's scheduler looks for DAG files, resolved like Airflow does."""

from __future__ import annotations

import configparser
import os
from collections.abc import Mapping
from pathlib import Path

from braindump_cli.settings import airflow_config_file, airflow_home


def resolve_dags_folder(explicit: Path | None = None, *, env: Mapping[str, str] | None = None) -> Path:
    """`--dags-folder`, `AIRFLOW__CORE__DAGS_FOLDER`, `[core] dags_folder` in airflow.cfg, `$AIRFLOW_HOME/dags`."""
    env = os.environ if env is None else env
    if explicit is not None:
        return explicit.expanduser()
    if env.get("AIRFLOW__CORE__DAGS_FOLDER"):
        return Path(os.path.expandvars(env["AIRFLOW__CORE__DAGS_FOLDER"])).expanduser()
    home = airflow_home(env)
    cfg = airflow_config_file(env)
    if cfg.is_file():
        parser = configparser.ConfigParser(strict=False)
        try:
            parser.read(cfg, encoding="utf-8")
            value = parser.get("core", "dags_folder", fallback="").strip()
        except (configparser.Error, UnicodeDecodeError):
            value = ""
        if value:
            value = value.replace("{AIRFLOW_HOME}", str(home)).replace("$AIRFLOW_HOME", str(home))
            return Path(value.replace("${AIRFLOW_HOME}", str(home))).expanduser()
    return home / "dags"
