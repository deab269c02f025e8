"""The installed `bd` as users run it: a real process, real exit codes, real signals and pipes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from braindump_cli import __version__
from braindump_cli.errors import ExitCode
from tests.core.conftest import BD, REPO, run


def test_version() -> None:
    proc = run([str(BD), "--version"])
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, f"bd {__version__}\n", "")


def test_python_dash_m() -> None:
    proc = run([sys.executable, "-m", "braindump_cli", "--version"])
    assert (proc.returncode, proc.stdout) == (0, f"bd {__version__}\n")


def test_help_lists_every_group_and_the_exit_codes() -> None:
    proc = run([str(BD), "--help"])
    assert proc.returncode == 0
    for group in ("crd", "operator", "cassandra", "airflow", "sandbox"):
        assert f"\n  {group} " in proc.stdout
    assert "130 interrupted" in proc.stdout
    assert run([str(BD), "-h"]).stdout == proc.stdout


def test_usage_errors_exit_2_with_one_line_and_a_hint() -> None:
    for argv in (["--no-such-flag"], ["no-such-group"], ["airflow", "no-such-command"]):
        proc = run([str(BD), *argv])
        assert proc.returncode == ExitCode.USAGE, argv
        assert proc.stdout == ""
        lines = proc.stderr.splitlines()
        assert len(lines) == 2, proc.stderr
        assert lines[0].startswith("bd: error: ")
        assert lines[1].startswith("hint: see `bd")


def test_no_arguments_shows_help_on_stderr_and_exits_2() -> None:
    proc = run([str(BD)])
    assert proc.returncode == ExitCode.USAGE
    assert proc.stdout == ""
    assert "Usage: bd" in proc.stderr


def test_completion_script_is_available() -> None:
    proc = run([str(BD), "--show-completion"], env={"SHELL": "/bin/bash"})
    assert proc.returncode == 0
    assert "_BD_COMPLETE" in proc.stdout


def _default_sigint() -> None:
    # A shell starts background jobs with SIGINT ignored, and Python then installs no
    # KeyboardInterrupt handler; give the child the default disposition a terminal user has.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _test_app_process(*args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BD_")}
    env["PYTHONPATH"] = str(REPO)
    return subprocess.Popen(
        [sys.executable, "-m", "tests.core._testapp", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_default_sigint,
    )


def test_sigint_exits_130_with_one_line() -> None:
    proc = _test_app_process("t", "sleep", "--seconds", "60")
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "sleeping\n"  # the command is running: interrupt it now
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == ExitCode.INTERRUPTED
    assert err == "bd: error: interrupted\n"
    assert "Traceback" not in err


def test_closed_stdout_pipe_is_quiet() -> None:
    """`bd ... -o jsonl | head -1`: no BrokenPipeError traceback when the reader goes away."""
    proc = _test_app_process("t", "report", "-o", "json")
    assert proc.stdout is not None
    proc.stdout.close()  # the reader is gone before bd writes
    time.sleep(0.1)
    _, err = proc.communicate(timeout=30)
    assert "Traceback" not in err
    assert "BrokenPipeError" not in err
    assert proc.returncode == ExitCode.ERROR


def test_json_through_a_real_pipe() -> None:
    proc = _test_app_process("t", "check", "--problems", "1", "-o", "json")
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == ExitCode.CHECK_FAILED
    assert json.loads(out) == {"schema_version": 1, "ok": False, "problems": [0]}
    assert err == "bd: error: 1 problem(s) found\n"
