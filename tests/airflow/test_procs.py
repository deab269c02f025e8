"""`bd airflow procs` against real processes this test starts, with Airflow-shaped command lines.

Processes are named the ways real ones are: `python .../bin/airflow scheduler ...` (a console
script), `exec -a "airflow webserver"` (a process title), gunicorn titles, and an orphan made by a
double fork. Decoys with `airflow` in their command line must not be listed or killable. Every
process is killed by the pid the test started, in teardown.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from braindump_cli.airflow.procs import classify
from braindump_cli.cli.app import app

FAKE_AIRFLOW = """#!{python}
import sys, time
time.sleep(300)
"""
WEBSERVER = """
import subprocess, sys, time
child = subprocess.Popen(["bash", "-c", 'exec -a "gunicorn: master [airflow-webserver]" sleep 300'])
print(child.pid, flush=True)
time.sleep(300)
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


def _ppid(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def _wait_for(predicate: Any, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


class Spawner:
    def __init__(self) -> None:
        self.popens: list[subprocess.Popen[bytes]] = []
        self.pids: list[int] = []  # processes we started that are not our children (double fork)

    def titled(self, title: str, *, ignore_term: bool = False) -> subprocess.Popen[bytes]:
        trap = "trap '' TERM; " if ignore_term else ""
        proc = subprocess.Popen(["bash", "-c", f'{trap}exec -a "{title}" sleep 300'])
        self.popens.append(proc)
        _wait_for(lambda: Path(f"/proc/{proc.pid}/cmdline").read_bytes().startswith(title.encode()), title)
        return proc

    def argv(self, *argv: str) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(list(argv))
        self.popens.append(proc)
        _wait_for(lambda: Path(f"/proc/{proc.pid}/cmdline").read_bytes().count(b"\0") >= len(argv), argv[1])
        return proc

    def webserver(self, script: Path) -> tuple[subprocess.Popen[bytes], int]:
        proc = subprocess.Popen(
            ["bash", "-c", 'exec -a "airflow webserver" "$0" "$1"', sys.executable, str(script)],
            stdout=subprocess.PIPE,
        )
        self.popens.append(proc)
        assert proc.stdout is not None
        child = int(proc.stdout.readline())
        self.pids.append(child)
        _wait_for(lambda: Path(f"/proc/{child}/cmdline").read_bytes().startswith(b"gunicorn: master"), "gunicorn")
        return proc, child

    def double_fork(self, title: str) -> int:
        out = subprocess.run(
            ["bash", "-c", f'( exec -a "{title}" sleep 300 ) > /dev/null 2>&1 & echo $!'],
            capture_output=True,
            text=True,
            check=True,
        )
        pid = int(out.stdout.strip())
        self.pids.append(pid)
        _wait_for(lambda: Path(f"/proc/{pid}/cmdline").read_bytes().startswith(title.encode()), title)
        return pid

    def close(self) -> None:
        for proc in self.popens:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        for pid in self.pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture
def spawn() -> Iterator[Spawner]:
    spawner = Spawner()
    try:
        yield spawner
    finally:
        spawner.close()


@pytest.fixture
def fake_airflow(tmp_path: Path) -> Path:
    script = tmp_path / "venv" / "bin" / "airflow"
    script.parent.mkdir(parents=True)
    script.write_text(FAKE_AIRFLOW.format(python=sys.executable))
    script.chmod(0o755)
    return script


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["airflow", "procs", *args])
    return result.exit_code, result.stdout, result.stderr


def listed(*args: str) -> dict[int, dict[str, Any]]:
    code, out, err = run("-o", "json", *args)
    assert code == 0, err
    report = json.loads(out)
    assert report["schema_version"] == 1
    return {p["pid"]: p for p in report["processes"]}


# -- parsing command lines ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["/venv/bin/python3", "/venv/bin/airflow", "scheduler"], ("scheduler", False)),
        (["/usr/bin/python3.11", "-m", "airflow", "dag-processor", "-D"], ("dag-processor", False)),
        (["/venv/bin/airflow", "api-server", "--port", "8080"], ("api-server", False)),
        (["airflow webserver"], ("webserver", False)),
        (["airflow scheduler -- DagFileProcessorManager"], ("scheduler: DagFileProcessorManager", True)),
        (["gunicorn: master [airflow-webserver]"], ("gunicorn master", True)),
        (["[ready] gunicorn: worker [airflow-webserver]"], ("gunicorn worker", True)),
        (["/venv/bin/python", "/venv/bin/gunicorn", "-w", "4", "airflow.www.app:cached_app()"], ("gunicorn", True)),
        (["airflow", "triggerer"], ("triggerer", False)),
        (["grep", "airflow", "scheduler"], None),
        (["/venv/bin/python", "/venv/bin/bd", "airflow", "procs"], None),
        (["airflow", "dags", "list"], None),
        (["vim", "airflow scheduler notes.txt"], None),
        (["python3", "-c", "airflow scheduler"], None),
        ([], None),
    ],
)
def test_classify(argv: list[str], expected: tuple[str, bool] | None) -> None:
    assert classify(argv) == expected


# -- real processes -----------------------------------------------------------------------------------


def test_lists_airflow_processes_and_nothing_else(spawn: Spawner, fake_airflow: Path, tmp_path: Path) -> None:
    scheduler = spawn.argv(sys.executable, str(fake_airflow), "scheduler", "--conn", "postgresql://u:hunter2@db/af")
    triggerer = spawn.titled("airflow triggerer")
    web_script = tmp_path / "web.py"
    web_script.write_text(WEBSERVER)
    webserver, gunicorn = spawn.webserver(web_script)
    orphan = spawn.double_fork("airflow dag-processor")
    decoys = [spawn.titled("grep airflow scheduler"), spawn.titled("gunicorn: master [shop]")]

    procs = listed()
    assert procs[scheduler.pid]["role"] == "scheduler"
    assert "hunter2" not in procs[scheduler.pid]["cmdline"]
    assert "postgresql://u:***@db/af" in procs[scheduler.pid]["cmdline"]
    assert procs[triggerer.pid]["role"] == "triggerer"
    assert procs[webserver.pid]["role"] == "webserver"
    assert procs[gunicorn]["role"] == "gunicorn master"
    assert procs[gunicorn]["ppid"] == webserver.pid
    assert procs[gunicorn]["parent_is_airflow"] is True
    assert procs[gunicorn]["orphaned"] is False
    for pid in (scheduler.pid, triggerer.pid, webserver.pid):
        assert procs[pid]["ppid"] == os.getpid()
        assert procs[pid]["orphaned"] is False
        assert procs[pid]["age_seconds"] >= 0
    # The double-forked process was re-parented when its parent shell exited.
    assert procs[orphan]["role"] == "dag-processor"
    assert procs[orphan]["ppid"] == _ppid(orphan)
    assert _ppid(orphan) != os.getpid()
    assert procs[orphan]["orphaned"] is (_ppid(orphan) == 1)
    for decoy in decoys:
        assert decoy.pid not in procs
    assert os.getpid() not in procs


def test_gunicorn_left_behind_by_a_dead_webserver_is_orphaned(
    spawn: Spawner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    web_script = tmp_path / "web.py"
    web_script.write_text(WEBSERVER)
    webserver, gunicorn = spawn.webserver(web_script)
    webserver.kill()
    webserver.wait()
    _wait_for(lambda: _ppid(gunicorn) != webserver.pid, "re-parenting")
    procs = listed()
    assert webserver.pid not in procs
    assert procs[gunicorn]["orphaned"] is True
    assert procs[gunicorn]["parent_is_airflow"] is False
    monkeypatch.setenv("COLUMNS", "400")
    code, out, _ = run()
    assert code == 0
    line = next(line for line in out.splitlines() if line.startswith(str(gunicorn)))
    assert "gunicorn master" in line
    assert "orphaned" in line
    assert "gunicorn: master [airflow-webserver]" in line  # brackets survive the table renderer


def test_older_than_the_newest_dag_file(spawn: Spawner, tmp_path: Path) -> None:
    proc = spawn.titled("airflow scheduler")
    dags = tmp_path / "dags"
    (dags / "sub").mkdir(parents=True)
    old, new = dags / "old.py", dags / "sub" / "new.py"
    old.write_text("# dag")
    new.write_text("# dag")
    day = 86400
    os.utime(old, (time.time() - 3 * day, time.time() - 3 * day))
    os.utime(new, (time.time() - 2 * day, time.time() - 2 * day))
    code, out, _ = run("-o", "json", "--dags-folder", str(dags))
    assert code == 0
    report = json.loads(out)
    assert report["newest_dag_file"] == str(new)
    mine = {p["pid"]: p for p in report["processes"]}[proc.pid]
    assert mine["older_than_dags"] is False
    os.utime(old, (time.time() + day, time.time() + day))  # edited "after" the scheduler started
    mine = listed("--dags-folder", str(dags))[proc.pid]
    assert mine["older_than_dags"] is True
    code, out, _ = run("--dags-folder", str(dags))
    assert code == 0
    assert "older than DAGs" in out


def test_kill_terminates_exactly_the_named_pid(spawn: Spawner, fake_airflow: Path) -> None:
    scheduler = spawn.argv(sys.executable, str(fake_airflow), "scheduler")
    other = spawn.titled("airflow dag-processor")
    code, out, err = run("--kill", str(scheduler.pid), "--yes", "-o", "json")
    assert code == 0, err
    report = json.loads(out)
    assert report["killed"] == [
        {"pid": scheduler.pid, "role": "scheduler", "signal": "SIGTERM", "exited": True, "error": None}
    ]
    assert scheduler.wait(timeout=10) == -signal.SIGTERM
    assert _alive(other.pid)


def test_kill_refuses_pids_that_are_not_listed(spawn: Spawner) -> None:
    target = spawn.titled("airflow scheduler")
    decoy = spawn.titled("grep airflow scheduler")
    code, _, err = run("--kill", f"{target.pid},{decoy.pid}", "--yes")
    assert code == 1
    assert f"pid {decoy.pid} is not one of the listed Airflow processes" in err
    assert _alive(target.pid)
    assert _alive(decoy.pid)
    gone = subprocess.Popen(["true"])
    gone.wait()
    code, _, err = run("--kill", str(gone.pid), "--yes")
    assert code == 3
    assert "nothing was killed" in err
    code, _, err = run("--kill", "sched*")
    assert code == 2


def test_kill_without_yes_or_with_dry_run_changes_nothing(spawn: Spawner) -> None:
    target = spawn.titled("airflow scheduler")
    code, _, err = run("--kill", str(target.pid))
    assert code == 2
    assert "--yes" in err
    code, out, _ = run("--kill", str(target.pid), "--dry-run", "-o", "json")
    assert code == 0
    report = json.loads(out)
    assert report["kill_planned"] == [target.pid]
    assert report["killed"] == []
    time.sleep(0.2)
    assert _alive(target.pid)


def test_a_process_that_ignores_sigterm_is_reported_still_running(spawn: Spawner) -> None:
    stubborn = spawn.titled("airflow triggerer", ignore_term=True)
    code, out, err = run("--kill", str(stubborn.pid), "--yes", "--wait", "0.5")
    assert code == 1
    assert "still running" in out
    assert f"kill -KILL {stubborn.pid}" in err
    assert _alive(stubborn.pid)
