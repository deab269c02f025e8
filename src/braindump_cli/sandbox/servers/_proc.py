"""Process helpers shared by the server harnesses: a free port, spawning into a log, stopping, log tails."""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

from braindump_cli.process import terminate as terminate  # the harnesses' `terminate`: one sequence for bd


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_ports(count: int) -> list[int]:
    """`count` distinct free loopback ports (each was free when picked)."""
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


def spawn(
    argv: Sequence[str],
    log: Path,
    *,
    cwd: Path | None = None,
    preexec_fn: Callable[[], None] | None = None,
) -> subprocess.Popen[bytes]:
    """Start a server in its own session (a Ctrl-C in the terminal is ours to handle), output appended to `log`."""
    with log.open("ab") as out:
        return subprocess.Popen(
            list(argv),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=preexec_fn,
        )


def tail(log: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def init_data_dir(argv: Sequence[str], root: Path, what: str) -> None:
    """Run a server's data-directory initialiser (initdb, mariadb-install-db); on failure remove `root`
    so no half-initialised directory is left, and raise with the tail of its output."""
    init = subprocess.run(list(argv), capture_output=True, text=True, check=False)
    if init.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"{what} failed: {(init.stderr or init.stdout).strip()[-2000:]}")
