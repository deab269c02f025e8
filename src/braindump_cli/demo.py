"""`make demo` / `python -m braindump_cli.demo`: a scripted tour that runs real `bd` commands.

Each step echoes its command line (`$ bd ...`) and then shows the command's own output, exactly as
a user would see it. The tour is a list of sections; a section prepares what its steps need (for
Airflow: a throwaway metadata DB built by the real `airflow db migrate`) and then runs its steps.
A step whose command does not exist in this build of bd is skipped with a note; a step that exists
and does not end with the expected exit code fails the demo (exit 1) after the remaining sections
have run.

To extend the tour (the sandbox tour of issue 7), append a `Section` to `TOUR`.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

AIRFLOW_VERSION = "3.3.2"

Context = dict[str, str]


@dataclass(frozen=True)
class Step:
    """One `bd` command line. `{name}` placeholders are filled from the section's context."""

    args: tuple[str, ...]
    say: str = ""
    expect: int = 0


@dataclass(frozen=True)
class Section:
    title: str
    steps: tuple[Step, ...]
    # Builds what the steps need inside `workdir`; returns placeholders and environment variables.
    prepare: Callable[[Path], tuple[Context, Mapping[str, str]]] | None = None
    env_shown: tuple[str, ...] = field(default=())


def _bd() -> list[str]:
    script = Path(sys.executable).with_name("bd")
    return [str(script)] if script.exists() else [sys.executable, "-m", "braindump_cli"]


def _note(message: str) -> None:
    print(f"demo: {message}", file=sys.stderr, flush=True)


def _clean_env(extra: Mapping[str, str]) -> dict[str, str]:
    """The user's environment without settings that would point bd at another server."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AIRFLOW", "BD_")) and k not in {"KUBECONFIG", "PYTHONPATH"}
    }
    env.update(extra)
    return env


def command_exists(args: tuple[str, ...]) -> bool:
    """True when `bd <group> <command>` (or a root option) exists in this build, per `bd <group> --help`."""
    if not args or args[0].startswith("-"):
        return True
    group, command = args[0], (args[1] if len(args) > 1 and not args[1].startswith("-") else None)
    proc = subprocess.run([*_bd(), group, "--help"], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        return False
    if command is None:
        return True
    listing = proc.stdout.partition("Commands:")[2]
    return any(line.split()[:1] == [command] for line in listing.splitlines())


def run_step(step: Step, ctx: Context, env: Mapping[str, str], cwd: Path) -> bool:
    args = [a.format(**ctx) for a in step.args]
    if step.say:
        print(f"\n# {step.say}", flush=True)
    print("$ " + shlex.join(["bd", *args]), flush=True)
    proc = subprocess.run([*_bd(), *args], env=_clean_env(env), cwd=cwd, check=False)
    if proc.returncode != step.expect:
        _note(f"FAILED: `bd {shlex.join(args)}` exited {proc.returncode}, expected {step.expect}")
        return False
    if step.expect:
        print(f"(exit code {proc.returncode}, as expected)", flush=True)
    return True


# ---------------------------------------------------------------- Airflow

DEMO_DAG = """\
from datetime import datetime

from airflow.sdk import DAG
from airflow.providers.standard.operators.empty import EmptyOperator

with DAG("demo_etl", start_date=datetime(2024, 1, 1), schedule=None, catchup=False):
    EmptyOperator(task_id="extract") >> EmptyOperator(task_id="load")
"""


def prepare_airflow(workdir: Path) -> tuple[Context, Mapping[str, str]]:
    """A real Airflow metadata DB at Airflow's embedded default location, holding one DAG with a run.

    `$AIRFLOW_HOME` holds only `airflow.db` (no airflow.cfg), so bd finds the database exactly as
    Airflow would with no configuration: `sqlite:///$AIRFLOW_HOME/airflow.db`.
    """
    from braindump_cli.servers.airflow_env import ensure_airflow_venv, migrate_airflow_db, run_airflow

    home = workdir / "airflow-home"
    home.mkdir()
    url = f"sqlite:///{home / 'airflow.db'}"
    _note(f"preparing Airflow {AIRFLOW_VERSION} (first run: a virtualenv from PyPI, about a minute)")
    ensure_airflow_venv(AIRFLOW_VERSION, progress=_note)
    migrate_airflow_db(AIRFLOW_VERSION, url, progress=lambda m: _note(f"{m} into {url}"))
    # The DAG lives in a second home whose dags folder the Airflow CLI parses; afterwards the file
    # is removed, which is the situation delete-dag is for: a DAG gone from disk, rows left behind.
    cli_home = workdir / "airflow-cli-home"
    (cli_home / "dags").mkdir(parents=True)
    dag_file = cli_home / "dags" / "demo_etl.py"
    dag_file.write_text(DEMO_DAG)
    _note("airflow dags reserialize; airflow dags trigger demo_etl")
    run_airflow(AIRFLOW_VERSION, url, ["dags", "reserialize"], home=cli_home)
    run_airflow(AIRFLOW_VERSION, url, ["dags", "trigger", "demo_etl"], home=cli_home)
    dag_file.unlink()
    ctx = {"archive": str(workdir / "demo_etl.jsonl.gz")}
    return ctx, {"AIRFLOW_HOME": str(home)}


AIRFLOW = Section(
    title=f"Airflow metadata DB (a throwaway SQLite DB migrated by Airflow {AIRFLOW_VERSION})",
    prepare=prepare_airflow,
    env_shown=("AIRFLOW_HOME",),
    steps=(
        Step(("airflow", "check-db"), "Which database, found how, at which schema revision?"),
        Step(("airflow", "delete-dag", "demo_etl", "--dry-run"), "The plan: rows per table. Nothing changes."),
        Step(
            ("airflow", "delete-dag", "demo_etl", "--yes", "--archive", "{archive}"),
            "Delete in one transaction, archiving every row first.",
        ),
        Step(("airflow", "delete-dag", "demo_etl", "--dry-run"), "Gone: a missing DAG is exit code 3.", expect=3),
        Step(("airflow", "restore-dag", "{archive}", "--yes"), "Undo: put the archived rows back."),
        Step(("airflow", "delete-dag", "demo_etl", "--dry-run", "-o", "json"), "Back again, as JSON for scripts."),
    ),
)

BASICS = Section(title="bd itself", steps=(Step(("--version",)),))

TOUR: list[Section] = [BASICS, AIRFLOW]


def run_section(section: Section, workdir: Path) -> bool:
    print(f"\n## {section.title}", flush=True)
    runnable = [s for s in section.steps if command_exists(s.args)]
    for step in section.steps:
        if step not in runnable:
            _note(f"skipped `bd {' '.join(step.args[:2])}`: not in this build of bd yet")
    if not runnable:
        return True
    ctx: Context = {}
    env: Mapping[str, str] = {}
    if section.prepare is not None:
        try:
            ctx, env = section.prepare(workdir)
        except Exception as exc:  # a failed preparation fails the demo with its reason
            _note(f"FAILED to prepare {section.title}: {exc}")
            return False
    for name in section.env_shown:
        print(f"$ export {name}={shlex.quote(env[name])}", flush=True)
    return all(run_step(step, ctx, env, workdir) for step in runnable)  # stops at the first failure


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m braindump_cli.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory for a look around")
    opts = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="bd-demo-"))
    failed: list[str] = []
    try:
        for index, section in enumerate(TOUR):
            section_dir = workdir / f"{index:02d}"
            section_dir.mkdir()
            if not run_section(section, section_dir):
                failed.append(section.title)
    except KeyboardInterrupt:
        _note("interrupted")
        return 130
    finally:
        if opts.keep:
            _note(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    if failed:
        _note("the demo FAILED in: " + "; ".join(failed))
        return 1
    print("\nDone. Next: `bd --help`, docs/index.md, and `make test` for the whole suite.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
