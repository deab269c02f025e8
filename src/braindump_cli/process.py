"""Processes from /proc (Linux): who a pid is, and the one way bd stops processes.

A pid alone is not an identity: after a reboot or a long time the kernel hands it to another
process. A `ProcessRecord` keeps the pid with its start time (clock ticks since boot, field 22 of
/proc/PID/stat), the boot id and argv[0]; a process matches only if all of them still agree (an
empty boot id or argv[0] is not compared).

`terminate` is the single SIGTERM, wait, SIGKILL sequence, for children (`subprocess.Popen`) and
for recorded processes alike.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROC = Path("/proc")


@dataclass(frozen=True)
class ProcStat:
    """The fields of /proc/PID/stat bd reads."""

    state: str
    ppid: int
    start_ticks: int


def read_stat(pid: int, proc: Path = PROC) -> ProcStat | None:
    """`pid`'s state letter, parent and start time, or None if there is no such process."""
    try:
        raw = (proc / str(pid) / "stat").read_text()
    except (OSError, ValueError):
        return None
    # comm (field 2) may hold spaces and parentheses: the fields after it start after the last ')'
    rest = raw[raw.rfind(")") + 2 :].split()
    try:
        return ProcStat(state=rest[0], ppid=int(rest[1]), start_ticks=int(rest[19]))
    except (IndexError, ValueError):
        return None


def read_argv(pid: int, proc: Path = PROC) -> list[str]:
    """`pid`'s command line ([] if it is gone or unreadable)."""
    try:
        raw = (proc / str(pid) / "cmdline").read_bytes()
    except OSError:
        return []
    return [a.decode("utf-8", "replace") for a in raw.split(b"\0") if a]


def boot_id() -> str:
    try:
        return (PROC / "sys" / "kernel" / "random" / "boot_id").read_text().strip()
    except OSError:
        return ""


@dataclass(frozen=True)
class ProcessRecord:
    """A process by identity; `name` is its role for messages (etcd, cassandra-node1, scheduler...)."""

    name: str
    pid: int
    start_ticks: int
    boot_id: str = ""
    argv0: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "pid": self.pid,
            "start_ticks": self.start_ticks,
            "boot_id": self.boot_id,
            "argv0": self.argv0,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ProcessRecord:
        return cls(
            name=str(data["name"]),
            pid=int(data["pid"]),
            start_ticks=int(data["start_ticks"]),
            boot_id=str(data["boot_id"]),
            argv0=str(data["argv0"]),
        )


def record_process(name: str, pid: int) -> ProcessRecord:
    """Record a process the caller has just started (raises ProcessLookupError if it already exited)."""
    stat = read_stat(pid)
    if stat is None or stat.state == "Z":
        raise ProcessLookupError(f"{name} (pid {pid}) exited right after it started")
    argv = read_argv(pid)
    return ProcessRecord(
        name=name, pid=pid, start_ticks=stat.start_ticks, boot_id=boot_id(), argv0=argv[0] if argv else ""
    )


def is_alive(rec: ProcessRecord, proc: Path = PROC) -> bool:
    """True only if `rec.pid` is still the very process recorded (not a zombie, not a reused pid)."""
    stat = read_stat(rec.pid, proc)
    if stat is None or stat.state in ("Z", "X"):
        return False
    if stat.start_ticks != rec.start_ticks or (rec.boot_id and rec.boot_id != boot_id()):
        return False
    argv = read_argv(rec.pid, proc) if rec.argv0 else []
    return not argv or argv[0] == rec.argv0


def _reap(pid: int) -> None:
    """Collect `pid` if it happens to be our own child (in-process callers such as tests)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def wait_gone(rec: ProcessRecord, *, timeout: float) -> bool:
    """Wait up to `timeout` seconds for the recorded process to exit; True if it did."""
    deadline = time.monotonic() + timeout
    while True:
        _reap(rec.pid)
        if not is_alive(rec):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)


Target = ProcessRecord | subprocess.Popen[Any]


def _signal(target: Target, sig: int) -> bool:
    """Send `sig` if the target still runs (a record only right after its identity check)."""
    if isinstance(target, ProcessRecord):
        if not is_alive(target):
            _reap(target.pid)
            return False
        with contextlib.suppress(ProcessLookupError):
            os.kill(target.pid, sig)
        return True
    if target.poll() is not None:
        return False
    with contextlib.suppress(ProcessLookupError):
        target.send_signal(sig)
    return True


def _gone_within(target: Target, timeout: float) -> bool:
    if isinstance(target, ProcessRecord):
        return wait_gone(target, timeout=timeout)
    try:
        target.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        return False
    return True


def _kill(target: Target) -> None:
    if isinstance(target, ProcessRecord) and not is_alive(target):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(target.pid, signal.SIGKILL)


def terminate(targets: Sequence[Target | None], *, sig: int = signal.SIGTERM, timeout: float = 15.0) -> list[bool]:
    """Signal every target still running, wait, SIGKILL what is left after `timeout` seconds.

    All are signalled first and then awaited, so servers drain in parallel. Returns, per target,
    True if it was running (and is now gone), False if it was already gone (or None). Raises
    TimeoutError if one survives SIGKILL.
    """
    was = [target is not None and _signal(target, sig) for target in targets]
    deadline = time.monotonic() + timeout
    for target, running in zip(targets, was, strict=True):
        if target is None or not running or _gone_within(target, max(0.0, deadline - time.monotonic())):
            continue
        _kill(target)
        if not _gone_within(target, 15.0):
            raise TimeoutError(f"pid {target.pid} survived SIGKILL")
    return was
