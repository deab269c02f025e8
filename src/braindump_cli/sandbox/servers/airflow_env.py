"""Real Airflow schemas for tests and benchmarks: one virtualenv per Airflow version, outside the repo.

`ensure_airflow_venv("3.3.2")` makes `cache_root()/airflow/venv-3.3.2` with apache-airflow and the
database drivers, and writes a stamp file only after the install and an import check succeed, so a
half-built venv is rebuilt rather than trusted. `migrate_airflow_db` runs the real
`airflow db migrate` against any URL; `migrated_sqlite_file` caches one migrated SQLite file per
version to copy from.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from braindump_cli.progress import Progress, no_progress
from braindump_cli.sandbox.servers._cache import cache_root

AIRFLOW_VERSIONS = ("3.3.2", "2.10.5")
STAMP = ".bd-ready.json"


def venv_dir(version: str) -> Path:
    return cache_root() / "airflow" / f"venv-{version}"


def _packages(version: str) -> list[str]:
    pkgs = [f"apache-airflow=={version}", "psycopg2-binary", "pymysql"]
    if int(version.split(".")[0]) >= 3:
        pkgs.append("asyncpg")
    return pkgs


def _check(venv: Path, version: str) -> str | None:
    """None if the venv imports airflow at `version` and the drivers; else what is wrong."""
    python = venv / "bin" / "python"
    if not python.exists():
        return "no interpreter"
    code = "import airflow, psycopg2, pymysql; print(airflow.__version__)"
    proc = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=False, timeout=300)
    if proc.returncode != 0:
        return proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "import failed"
    got = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    return None if got == version else f"airflow {got} installed, {version} wanted"


def _stamp_ok(venv: Path, version: str) -> bool:
    try:
        data = json.loads((venv / STAMP).read_text())
    except (OSError, ValueError):
        return False
    return bool(data.get("version") == version and data.get("packages") == _packages(version))


def ensure_airflow_venv(version: str, *, progress: Progress = no_progress) -> Path:
    """The venv for Airflow `version`, created (about a minute from PyPI) if missing or unstamped."""
    venv = venv_dir(version)
    if _stamp_ok(venv, version) and (venv / "bin" / "airflow").exists():
        return venv
    if venv.exists():
        problem = _check(venv, version)
        if problem is None:
            progress(f"{venv} passes the import check: stamping it")
            _write_stamp(venv, version)
            return venv
        progress(f"{venv} is unusable ({problem}): rebuilding")
        shutil.rmtree(venv)
    venv.parent.mkdir(parents=True, exist_ok=True)
    progress(f"creating {venv}")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    progress("pip install " + " ".join(_packages(version)))
    proc = subprocess.run([*pip, *_packages(version)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"pip install apache-airflow=={version} failed: {proc.stderr.strip()[-3000:]}")
    problem = _check(venv, version)
    if problem is not None:
        raise RuntimeError(f"{venv}: {problem}")
    _write_stamp(venv, version)
    return venv


def _write_stamp(venv: Path, version: str) -> None:
    tmp = venv / (STAMP + ".tmp")
    tmp.write_text(json.dumps({"version": version, "packages": _packages(version)}))
    tmp.replace(venv / STAMP)


def airflow_env(version: str, url: str, home: Path) -> dict[str, str]:
    """Environment for running the `airflow` CLI of `version` against `url` with a private AIRFLOW_HOME."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    venv = venv_dir(version)
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": url,
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
            "AIRFLOW__CORE__FERNET_KEY": "",
            "PATH": f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
            "VIRTUAL_ENV": str(venv),
        }
    )
    env.pop("PYTHONPATH", None)
    return env


def run_airflow(version: str, url: str, args: list[str], *, home: Path | None = None, timeout: float = 600) -> str:
    """Run `airflow ARGS` from the venv of `version`; returns stdout, raises with stderr on failure."""
    venv = ensure_airflow_venv(version)
    own_home = home is None
    home = home or Path(tempfile.mkdtemp(prefix="bd-airflow-home-"))
    (home / "dags").mkdir(parents=True, exist_ok=True)
    try:
        proc = subprocess.run(
            [str(venv / "bin" / "airflow"), *args],
            env=airflow_env(version, url, home),
            cwd=home,
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
        )
    finally:
        if own_home:
            shutil.rmtree(home, ignore_errors=True)
    if proc.returncode != 0:
        raise RuntimeError(f"airflow {' '.join(args)} ({version}) failed: {proc.stderr.strip()[-3000:]}")
    return proc.stdout


def _mysql_packages(version: str) -> list[str]:
    """What Airflow `version` needs beyond PyMySQL to start against a `mysql+pymysql` URL.

    Airflow 3 imports `MySQLdb.converters` (mysqlclient, built against libmariadb-dev) for any mysql
    URL and opens an async engine through aiomysql; Airflow 2.10 runs on PyMySQL alone.
    """
    return ["mysqlclient", "aiomysql"] if int(version.split(".")[0]) >= 3 else []


def ensure_mysql_drivers(version: str, *, progress: Progress = no_progress) -> None:
    """Install the MySQL/MariaDB extras of `version` into its venv once (a separate stamp file)."""
    venv = ensure_airflow_venv(version, progress=progress)
    wanted = _mysql_packages(version)
    stamp = venv / ".bd-mysql.json"
    try:
        if json.loads(stamp.read_text()) == wanted:
            return
    except (OSError, ValueError):
        pass
    if wanted:
        progress("pip install " + " ".join(wanted))
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
        proc = subprocess.run([*pip, *wanted], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            hint = " (mysqlclient builds against libmariadb-dev + pkg-config)" if "mysqlclient" in wanted else ""
            raise RuntimeError(f"pip install {' '.join(wanted)} failed{hint}: {proc.stderr.strip()[-3000:]}")
    tmp = stamp.with_name(stamp.name + ".tmp")
    tmp.write_text(json.dumps(wanted))
    tmp.replace(stamp)


def migrate_airflow_db(version: str, url: str, *, progress: Progress = no_progress) -> None:
    """`airflow db migrate` with Airflow `version` against `url` (an empty database)."""
    if url.startswith(("mysql", "mariadb")):
        ensure_mysql_drivers(version, progress=progress)
    progress(f"airflow {version} db migrate")
    run_airflow(version, url, ["db", "migrate"])


def migrated_sqlite_file(version: str, *, progress: Progress = no_progress) -> Path:
    """A cached SQLite file holding a freshly migrated `version` schema: copy it, never write to it."""
    target = cache_root() / "airflow" / f"schema-{version}.sqlite"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.name}.{os.getpid()}.partial")  # concurrent builders do not collide
    tmp.unlink(missing_ok=True)
    migrate_airflow_db(version, f"sqlite:///{tmp}", progress=progress)
    tmp.replace(target)
    return target


def provision_airflow(version: str, *, progress: Progress = no_progress) -> Path:
    """The venv of `version` and its cached migrated SQLite schema."""
    ensure_airflow_venv(version, progress=progress)
    return migrated_sqlite_file(version, progress=progress)


def provision_airflow_3(*, progress: Progress = no_progress) -> Path:
    """Provisioning step: apache-airflow 3.3.2 venv + migrated schema."""
    return provision_airflow("3.3.2", progress=progress)


def provision_airflow_2(*, progress: Progress = no_progress) -> Path:
    """Provisioning step: apache-airflow 2.10.5 venv + migrated schema."""
    return provision_airflow("2.10.5", progress=progress)


def provision_airflow_mysql(*, progress: Progress = no_progress) -> None:
    """Provisioning step: the MySQL/MariaDB drivers Airflow needs in each venv (mysqlclient, aiomysql)."""
    for version in AIRFLOW_VERSIONS:
        ensure_mysql_drivers(version, progress=progress)
