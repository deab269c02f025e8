"""`procs`: the Airflow processes on this machine, read from /proc, and killing exactly the ones named.

A process counts when its command line is `airflow <role>` (directly, through `python .../airflow` or
`python -m airflow`, or as a process title such as `airflow scheduler -- DagFileProcessorManager`)
or it is a gunicorn process serving Airflow (its title or command line names airflow, or an Airflow
process is its parent). Matching is on the parsed command line, never a substring: `grep airflow
scheduler` is not a scheduler.

Kills are by pid only: each pid must be one of the listed processes, and its start time is checked
again right before the signal so a recycled pid is never hit.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from braindump_cli.errors import NotFoundError, RefusedError
from braindump_cli.process import PROC, ProcessRecord, ProcStat, is_alive, read_argv, read_stat
from braindump_cli.redact import redact_text

SCHEMA_VERSION = 1
ROLES = ("scheduler", "webserver", "api-server", "dag-processor", "triggerer", "standalone")
_TITLE_PREFIXES = ("[ready]", "[booting]")


@dataclass(frozen=True)
class AirflowProcess:
    pid: int
    ppid: int
    role: str
    started_at: dt.datetime
    age_seconds: int
    cmdline: str
    """The command line with passwords and tokens masked."""
    parent_is_airflow: bool
    orphaned: bool
    """Parent is pid 1, or a gunicorn / sub-process whose parent is no longer an Airflow process."""
    older_than_dags: bool | None
    """Started before the newest DAG file changed (None: no DAGs folder to compare with)."""
    start_ticks: int = field(repr=False, default=0)


@dataclass(frozen=True)
class KillResult:
    pid: int
    role: str
    signal: str
    exited: bool
    """The process was gone (or a zombie) within the wait."""
    error: str | None = None


@dataclass(frozen=True)
class ProcsReport:
    processes: tuple[AirflowProcess, ...]
    dags_folder: str | None
    newest_dag_file: str | None
    newest_dag_mtime: dt.datetime | None
    dry_run: bool = False
    kill_planned: tuple[int, ...] = ()
    killed: tuple[KillResult, ...] = ()
    schema_version: int = field(default=SCHEMA_VERSION)


def _is_python(word: str) -> bool:
    name = os.path.basename(word)
    return name.startswith("python") or name == "pypy3"


# Complexity over 10 on purpose: one branch per way Airflow names its processes (airflow CLI, gunicorn, celery,
# python -m), kept side by side so a new form is added in one place.
def classify(argv: Sequence[str]) -> tuple[str, bool] | None:  # noqa: C901
    """(role, is a sub-process) for an Airflow or gunicorn command line, else None.

    A process title (`exec -a`, setproctitle) arrives as a first argument with spaces: split it.
    """
    words = list(argv)
    if words and " " in words[0]:
        words = words[0].split() + words[1:]
    while words and words[0] in _TITLE_PREFIXES:
        words = words[1:]
    if not words:
        return None
    first = os.path.basename(words[0])
    if first in ("gunicorn", "gunicorn:"):
        kind = words[1] if first == "gunicorn:" and len(words) > 1 else ""
        return (f"gunicorn {kind}".strip(), True)
    python_gunicorn = len(words) > 1 and (os.path.basename(words[1]) == "gunicorn" or words[1:3] == ["-m", "gunicorn"])
    if _is_python(words[0]) and python_gunicorn:
        return ("gunicorn", True)
    at = None
    if first == "airflow":
        at = 0
    elif _is_python(words[0]) and len(words) > 1:
        if os.path.basename(words[1]) == "airflow":
            at = 1
        elif words[1:3] == ["-m", "airflow"]:
            at = 2
    if at is None:
        return None
    rest = words[at + 1 :]
    if not rest or rest[0] not in ROLES:
        return None
    if len(rest) > 2 and rest[1] == "--":  # Airflow's title for a scheduler's child: `airflow scheduler -- X`
        return (f"{rest[0]}: {' '.join(rest[2:])}", True)
    return (rest[0], False)


def _boot_time(proc: Path = PROC) -> float:
    for line in (proc / "stat").read_text().splitlines():
        if line.startswith("btime "):
            return float(line.split()[1])
    raise RuntimeError("no btime in /proc/stat")  # pragma: no cover


def newest_dag_file(folder: Path) -> tuple[Path, float] | None:
    newest: tuple[Path, float] | None = None
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d != "__pycache__"]
        for name in files:
            if name.endswith((".py", ".zip")):
                path = Path(root) / name
                try:
                    mtime = path.stat().st_mtime
                except OSError:
                    continue
                if newest is None or mtime > newest[1]:
                    newest = (path, mtime)
    return newest


def _candidates(proc: Path) -> Iterator[tuple[int, ProcStat, tuple[str, bool], list[str]]]:
    """(pid, stat, (role, is a sub-process), argv) of every live Airflow or gunicorn process but this one."""
    me = os.getpid()
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        pid = int(entry.name)
        argv = read_argv(pid, proc)
        found = classify(argv) if argv else None
        st = read_stat(pid, proc) if found is not None else None
        if found is not None and st is not None and st.state != "Z":
            yield pid, st, found, argv


def list_airflow_processes(
    *, dags_folder: Path | None = None, proc: Path = PROC, now: float | None = None
) -> tuple[list[AirflowProcess], tuple[Path, float] | None]:
    ticks = os.sysconf("SC_CLK_TCK")
    boot = _boot_time(proc)
    now = time.time() if now is None else now
    stats: dict[int, ProcStat] = {}
    roles: dict[int, tuple[str, bool]] = {}
    argvs: dict[int, list[str]] = {}
    for pid, st, found, argv in _candidates(proc):
        stats[pid], roles[pid], argvs[pid] = st, found, argv
    mentions_airflow = {pid for pid, argv in argvs.items() if "airflow" in " ".join(argv).lower()}
    airflow_pids = {pid for pid, (role, _) in roles.items() if not role.startswith("gunicorn")}

    def has_airflow_ancestor(pid: int) -> bool:
        seen = set()
        current = stats[pid].ppid if pid in stats else 0
        while current > 1 and current not in seen:
            if current in airflow_pids or (current in roles and current in mentions_airflow):
                return True
            seen.add(current)
            parent = read_stat(current, proc)
            current = parent.ppid if parent else 0
        return False

    newest = newest_dag_file(dags_folder) if dags_folder is not None else None
    out = []
    for pid, (role, is_child) in sorted(roles.items()):
        if role.startswith("gunicorn") and pid not in mentions_airflow and not has_airflow_ancestor(pid):
            continue  # somebody else's gunicorn
        st = stats[pid]
        started = boot + st.start_ticks / ticks
        parent_is_airflow = st.ppid in roles
        orphaned = st.ppid == 1 or (is_child and not parent_is_airflow)
        out.append(
            AirflowProcess(
                pid=pid,
                ppid=st.ppid,
                role=role,
                started_at=dt.datetime.fromtimestamp(started, dt.timezone.utc).replace(microsecond=0),
                age_seconds=max(0, int(now - started)),
                cmdline=redact_text(" ".join(argvs[pid])),
                parent_is_airflow=parent_is_airflow,
                orphaned=orphaned,
                older_than_dags=None if newest is None else started < newest[1],
                start_ticks=st.start_ticks,
            )
        )
    return out, newest


def _gone(pid: int, start_ticks: int, proc: Path) -> bool:
    return not is_alive(ProcessRecord(name="", pid=pid, start_ticks=start_ticks), proc)


def _sigterm(targets: Sequence[AirflowProcess], *, wait: float, proc: Path) -> list[KillResult]:
    """SIGTERM each target that is still the listed process, then wait up to `wait` seconds for all.

    No SIGKILL: Airflow's own shutdown (finishing a task, releasing a slot) is what the user asked for.
    """
    results: list[KillResult] = []
    signalled: list[AirflowProcess] = []
    for target in targets:
        if _gone(target.pid, target.start_ticks, proc):
            results.append(KillResult(target.pid, target.role, "none", True, "already gone"))
            continue
        try:
            os.kill(target.pid, signal.SIGTERM)
        except ProcessLookupError:
            results.append(KillResult(target.pid, target.role, "none", True, "already gone"))
            continue
        except PermissionError:
            results.append(KillResult(target.pid, target.role, "SIGTERM", False, "permission denied"))
            continue
        signalled.append(target)
    deadline = time.monotonic() + wait
    pending = list(signalled)
    while pending and time.monotonic() < deadline:
        pending = [t for t in pending if not _gone(t.pid, t.start_ticks, proc)]
        if pending:
            time.sleep(0.05)
    for target in signalled:
        exited = target not in pending
        error = None if exited else f"still running after {wait:g}s (send SIGKILL yourself if it must go)"
        results.append(KillResult(target.pid, target.role, "SIGTERM", exited, error))
    return results


def procs(
    *,
    dags_folder: Path | None = None,
    kill: Sequence[int] = (),
    dry_run: bool = False,
    confirm: Callable[[Sequence[AirflowProcess]], None] | None = None,
    wait: float = 10.0,
    proc: Path = PROC,
) -> ProcsReport:
    """List Airflow processes; with `kill`, SIGTERM exactly those pids (each must be listed).

    `confirm(targets)` is called before any signal (it raises to abort).
    """
    found, newest = list_airflow_processes(dags_folder=dags_folder, proc=proc)
    newest_file = str(newest[0]) if newest else None
    newest_mtime = dt.datetime.fromtimestamp(newest[1], dt.timezone.utc) if newest else None
    folder = str(dags_folder) if dags_folder is not None else None
    if not kill:
        return ProcsReport(tuple(found), folder, newest_file, newest_mtime)
    by_pid = {p.pid: p for p in found}
    wanted = list(dict.fromkeys(kill))
    missing = [pid for pid in wanted if read_stat(pid, proc) is None]
    if missing:
        raise NotFoundError(
            f"no process with pid {', '.join(map(str, missing))}; nothing was killed",
            hint="run `bd airflow procs` to list the Airflow processes",
        )
    foreign = [pid for pid in wanted if pid not in by_pid]
    if foreign:
        raise RefusedError(
            f"pid {', '.join(map(str, foreign))} is not one of the listed Airflow processes; nothing was killed",
            hint="bd kills only pids that `bd airflow procs` lists",
        )
    targets = [by_pid[pid] for pid in wanted]
    if dry_run:
        return ProcsReport(tuple(found), folder, newest_file, newest_mtime, True, tuple(wanted))
    if confirm is not None:
        confirm(targets)
    results = _sigterm(targets, wait=wait, proc=proc)
    results.sort(key=lambda r: wanted.index(r.pid))
    return ProcsReport(tuple(found), folder, newest_file, newest_mtime, False, tuple(wanted), tuple(results))
