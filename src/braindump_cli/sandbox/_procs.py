"""Process identity and listening ports from /proc (Linux), so `down` only ever signals its own pids.

A pid alone is not an identity: after a reboot or a long time the kernel hands it to another
process. A record keeps the pid with its start time (clock ticks since boot, field 22 of
/proc/PID/stat), the boot id and argv[0]; a process matches only if all three still agree.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import signal
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROC = Path("/proc")


@dataclass(frozen=True)
class ProcessRecord:
    """A process the sandbox started: `name` is the role (etcd, kube-apiserver, cassandra-node1, ...)."""

    name: str
    pid: int
    start_ticks: int
    boot_id: str
    argv0: str

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


def boot_id() -> str:
    try:
        return (PROC / "sys" / "kernel" / "random" / "boot_id").read_text().strip()
    except OSError:
        return ""


def _stat(pid: int) -> tuple[str, int] | None:
    """(state letter, start time in ticks) of `pid`, or None if there is no such process."""
    try:
        raw = (PROC / str(pid) / "stat").read_text()
    except (OSError, ValueError):
        return None
    # comm (field 2) may hold spaces and parentheses: the fields after it start after the last ')'
    rest = raw[raw.rfind(")") + 2 :].split()
    try:
        return rest[0], int(rest[19])
    except (IndexError, ValueError):
        return None


def _argv0(pid: int) -> str:
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return ""
    return raw.split(b"\0", 1)[0].decode(errors="replace")


def record_process(name: str, pid: int) -> ProcessRecord:
    """Record a process the caller has just started (raises if it already exited)."""
    stat = _stat(pid)
    if stat is None or stat[0] == "Z":
        raise ProcessLookupError(f"{name} (pid {pid}) exited right after it started")
    return ProcessRecord(name=name, pid=pid, start_ticks=stat[1], boot_id=boot_id(), argv0=_argv0(pid))


def is_alive(rec: ProcessRecord) -> bool:
    """True only if `rec.pid` is still the very process recorded (not a zombie, not a reused pid)."""
    stat = _stat(rec.pid)
    if stat is None or stat[0] in ("Z", "X"):
        return False
    if stat[1] != rec.start_ticks or (rec.boot_id and rec.boot_id != boot_id()):
        return False
    argv0 = _argv0(rec.pid)
    return not argv0 or not rec.argv0 or argv0 == rec.argv0


def _reap(pid: int) -> None:
    """Collect `pid` if it happens to be our own child (in-process callers such as tests)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def stop_process(rec: ProcessRecord, *, sig: int = signal.SIGTERM, timeout: float = 30.0) -> bool:
    """Stop one recorded process; see `stop_processes`."""
    return stop_processes([rec], sig=sig, timeout=timeout)[0]


def stop_processes(recs: list[ProcessRecord], *, sig: int = signal.SIGTERM, timeout: float = 30.0) -> list[bool]:
    """Signal every recorded process that is still the same one, wait, SIGKILL what is left after `timeout`.

    Returns, per record, True if it was running (and is now gone), False if it was already gone.
    Each signal is sent only right after the identity check, so a reused pid is never touched.
    All are signalled first and then awaited: Cassandra nodes drain in parallel.
    """
    was = []
    for rec in recs:
        alive = is_alive(rec)
        if alive:
            with contextlib.suppress(ProcessLookupError):
                os.kill(rec.pid, sig)
        else:
            _reap(rec.pid)
        was.append(alive)
    deadline = time.monotonic() + timeout
    for rec, alive in zip(recs, was, strict=True):
        if not alive or wait_gone(rec, timeout=max(0.0, deadline - time.monotonic())):
            continue
        if is_alive(rec):
            with contextlib.suppress(ProcessLookupError):
                os.kill(rec.pid, signal.SIGKILL)
        if not wait_gone(rec, timeout=15.0):
            raise TimeoutError(f"{rec.name} (pid {rec.pid}) survived SIGKILL")
    return was


def wait_gone(rec: ProcessRecord, *, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        _reap(rec.pid)
        if not is_alive(rec):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)


def listening_ports() -> set[tuple[str, int]]:
    """(address, port) of every IPv4/IPv6 TCP socket in LISTEN state, from /proc/net/tcp{,6}."""
    out: set[tuple[str, int]] = set()
    for name, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
        try:
            lines = (PROC / "net" / name).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 4 or fields[3] != "0A":  # 0A = TCP_LISTEN
                continue
            addr_hex, port_hex = fields[1].split(":")
            raw = bytes.fromhex(addr_hex)
            # the kernel prints each 32-bit word in host (little-endian) order
            words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            address = ipaddress.ip_address(socket.inet_ntop(family, words))
            # Java listens on IPv6 sockets: an IPv4-mapped address is the IPv4 address it serves
            mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
            out.add((str(mapped or address), int(port_hex, 16)))
    return out


def port_in_use(host: str, port: int) -> bool:
    """True if something listens on host:port (or on the wildcard address of its family)."""
    listening = listening_ports()
    wildcard = "::" if ":" in host else "0.0.0.0"  # noqa: S104 - a lookup, not a bind
    return (host, port) in listening or (wildcard, port) in listening or ("::", port) in listening
