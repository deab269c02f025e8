"""braindump_cli.process: the one SIGTERM-wait-SIGKILL sequence, for children and recorded processes alike."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from braindump_cli.process import read_argv, read_stat, record_process, terminate

# A child that ignores SIGTERM and says so once it does (only SIGKILL stops it).
STUBBORN = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(300)"
)


@pytest.fixture
def children() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def _default_sigint() -> None:
    # A shell starts background jobs (CI's make under nohup, `cmd &`) with SIGINT ignored, and an exec'd
    # child inherits that: `sleep` would then outlive SIGINT and be SIGKILLed. Give it the default disposition.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start(children: list[subprocess.Popen[str]], *argv: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(list(argv), stdout=subprocess.PIPE, text=True, preexec_fn=_default_sigint)
    children.append(proc)
    return proc


def test_a_child_that_ignores_sigterm_is_killed(children: list[subprocess.Popen[str]]) -> None:
    stubborn = _start(children, sys.executable, "-c", STUBBORN)
    assert stubborn.stdout is not None
    assert stubborn.stdout.readline() == "ready\n"
    polite = _start(children, "sleep", "300")
    assert terminate([stubborn, None, polite], timeout=1) == [True, False, True]
    assert stubborn.returncode == -signal.SIGKILL
    assert polite.returncode == -signal.SIGTERM


def test_children_and_records_go_through_the_same_sequence(children: list[subprocess.Popen[str]]) -> None:
    child = _start(children, "sleep", "300")
    recorded = _start(children, "sleep", "301")
    rec = record_process("sleeper", recorded.pid)
    assert terminate([child, rec], sig=signal.SIGINT, timeout=10) == [True, True]
    assert child.returncode == -signal.SIGINT
    assert recorded.wait(timeout=10) is not None  # reaped by terminate's wait (not a child it knew of)
    assert terminate([child, rec], timeout=1) == [False, False]  # both gone: nothing is signalled again


def test_stat_and_argv_of_a_process_whose_name_holds_parentheses(
    children: list[subprocess.Popen[str]], tmp_path: Path
) -> None:
    """comm (field 2 of /proc/PID/stat) may hold spaces and ')': the fields after it must still parse."""
    odd = tmp_path / "a) (b c"
    odd.symlink_to(shutil.which("sleep") or "/bin/sleep")
    proc = _start(children, str(odd), "300")
    stat = read_stat(proc.pid)
    assert stat is not None
    assert Path(f"/proc/{proc.pid}/comm").read_text() == "a) (b c\n"  # the case this test is about
    assert stat.state in {"S", "R"}
    assert stat.ppid == os.getpid()
    assert stat.start_ticks > 0
    assert read_argv(proc.pid) == [str(odd), "300"]
    proc.kill()
    proc.wait()
    assert read_stat(proc.pid) is None
    assert read_argv(proc.pid) == []
