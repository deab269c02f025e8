"""Process identity and port parsing: the pieces that keep `bd sandbox down` to its own pids."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from braindump_cli.process import is_alive, record_process, terminate
from braindump_cli.sandbox._procs import listening_ports, port_in_use
from braindump_cli.sandbox._state import sandbox_dir


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(["sleep", "300"])
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def test_a_recorded_process_is_alive_until_stopped(sleeper: subprocess.Popen[bytes]) -> None:
    rec = record_process("sleep", sleeper.pid)
    assert rec.argv0 == "sleep"
    assert is_alive(rec)
    assert terminate([rec], timeout=5) == [True]
    assert sleeper.poll() is not None  # gone and reaped, not a zombie left behind
    assert not is_alive(rec)
    assert terminate([rec], timeout=5) == [False]  # already gone: nothing is signalled


def test_a_reused_pid_is_never_signalled(sleeper: subprocess.Popen[bytes]) -> None:
    rec = record_process("sleep", sleeper.pid)
    # The same pid, but a different start time or program: the kernel gave the pid to someone else.
    for impostor in (replace(rec, start_ticks=rec.start_ticks - 1), replace(rec, argv0="/usr/bin/etcd")):
        assert not is_alive(impostor)
        assert terminate([impostor], timeout=1) == [False]
        assert sleeper.poll() is None, "a process that is not the recorded one was signalled"


def test_a_zombie_is_not_alive() -> None:
    proc = subprocess.Popen(["sleep", "0.3"])
    rec = record_process("sleep", proc.pid)
    deadline = time.monotonic() + 10
    while _state(proc.pid) != "Z":  # exited but not reaped: its /proc entry is still there
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert not is_alive(rec)
    proc.wait()
    with pytest.raises(ProcessLookupError):
        record_process("sleep", proc.pid)


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


@pytest.mark.parametrize(("family", "host"), [(socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")])
def test_listening_ports_sees_a_listening_socket(family: int, host: str) -> None:
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port = s.getsockname()[1]
        assert (host, port) not in listening_ports()  # bound, not yet listening
        s.listen()
        assert (host, port) in listening_ports()
        assert port_in_use(host, port)
    assert (host, port) not in listening_ports()


def test_an_ipv4_mapped_listener_counts_as_its_ipv4_address() -> None:
    # Java (Cassandra) listens on IPv6 sockets bound to ::ffff:127.0.0.x
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
        s.bind(("::ffff:127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert ("127.0.0.1", port) in listening_ports()
        assert port_in_use("127.0.0.1", port)


def test_sandbox_dir_precedence(tmp_path: Path) -> None:
    assert sandbox_dir({"BD_SANDBOX_DIR": str(tmp_path / "x"), "XDG_STATE_HOME": "/s"}) == tmp_path / "x"
    assert sandbox_dir({"XDG_STATE_HOME": "/s"}) == Path("/s/braindump/sandbox")
    assert sandbox_dir({}) == Path.home() / ".local" / "state" / "braindump" / "sandbox"
