"""Run a `bd` command and SIGKILL it after it printed a chosen number of matching stderr lines, and
bring a killed run to its end."""

from __future__ import annotations

import os
import re
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path


def run_and_kill(
    args: Sequence[str],
    *,
    pattern: re.Pattern[str],
    after_lines: int,
    delay: float,
    quiet: float = 3.0,
    startup: float = 120.0,
) -> tuple[int | None, str]:
    """Start `python -m braindump_cli ARGS`; after `after_lines` stderr lines matching `pattern` (or once it
    printed nothing for `quiet` seconds: blocked on a lock), wait `delay` and SIGKILL it if still running.
    Returns (exit code, stderr).

    Until its first line the process gets `startup` seconds, not `quiet`: on a loaded machine the
    interpreter and its imports alone took over 3 s, and every kill then landed before the first batch.
    """
    cmd = [sys.executable, "-m", "braindump_cli", *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    fd = proc.stderr.fileno()
    sel = selectors.DefaultSelector()
    sel.register(fd, selectors.EVENT_READ)
    seen, buf, text = 0, b"", []
    try:
        while seen < after_lines and sel.select(quiet if text else startup):
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for line in lines:
                decoded = line.decode("utf-8", "replace")
                text.append(decoded)
                seen += bool(pattern.search(decoded))
        time.sleep(delay)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        rest = proc.stderr.read()
        text.append((buf + rest).decode("utf-8", "replace"))
    finally:
        proc.wait(timeout=60)
        sel.close()
        proc.stderr.close()
    return proc.returncode, "\n".join(text)


def finish_after_kill(archive: Path, resume: list[str], run_again: Callable[[], object]) -> str:
    """Whatever a kill left, bring the run to its end the way a user would; say how it ended.

    `resume`: the bd arguments that finish an interrupted run (`... --resume ARCHIVE`); `run_again`:
    the whole run, for a kill while planning, which wrote and changed nothing.
    """
    from typer.testing import CliRunner

    from braindump_cli.cli.app import app

    if archive.exists():
        return "finished before the kill"
    if archive.with_name(archive.name + ".journal").exists():
        result = CliRunner().invoke(app, resume)
        assert result.exit_code == 0, result.stderr
        return "resumed"
    run_again()
    return "killed before the first batch"
