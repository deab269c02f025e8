"""`bd sandbox`: real local servers (kube-apiserver + etcd, Cassandra, PostgreSQL with an Airflow schema).

The servers are started by the same harnesses as bd's test suite (`braindump_cli.sandbox.servers`) and
outlive the `bd sandbox up` process. Everything the sandbox starts is recorded in
`<sandbox dir>/state.json` with each pid's start time, so `down` stops exactly those processes and
never a pid the kernel has since given to someone else.
"""

from __future__ import annotations

import shutil
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from braindump_cli.errors import NotFoundError, UsageError
from braindump_cli.process import is_alive, terminate
from braindump_cli.progress import Progress, no_progress
from braindump_cli.sandbox import _components as comp
from braindump_cli.sandbox._state import STATE_FILE, load_state, locked, save_state

DEFAULT_CASSANDRA_NODES = 3
DEFAULT_KUBE_NODES = 1
DEFAULT_CASSANDRA_IP = "127.0.0.1"
NOT_READY_GRACE = 30.0
SCHEMA_VERSION = 1


@dataclass(frozen=True, kw_only=True)
class ProcessStatus:
    name: str
    pid: int
    running: bool


@dataclass(frozen=True, kw_only=True)
class ComponentStatus:
    """One component: `state` is running | not ready | dead | stopped | not started."""

    name: str
    state: str
    running: bool
    ready: bool
    action: str | None = None
    processes: tuple[ProcessStatus, ...] = ()
    endpoints: dict[str, str] = field(default_factory=dict)
    ports: tuple[str, ...] = ()
    data: tuple[str, ...] = ()
    detail: str = ""

    @property
    def healthy(self) -> bool:
        """False when something recorded as running is dead or does not answer."""
        return self.state in ("running", "stopped", "not started")


@dataclass(frozen=True, kw_only=True)
class SandboxReport:
    schema_version: int = SCHEMA_VERSION
    directory: str
    components: tuple[ComponentStatus, ...]

    @property
    def healthy(self) -> bool:
        return all(c.healthy for c in self.components)


@dataclass(frozen=True, kw_only=True)
class SandboxEnv:
    schema_version: int = SCHEMA_VERSION
    directory: str
    variables: dict[str, str]
    not_running: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class StoppedProcess:
    component: str
    name: str
    pid: int
    was_running: bool


@dataclass(frozen=True, kw_only=True)
class DownReport:
    schema_version: int = SCHEMA_VERSION
    directory: str
    dry_run: bool
    keep: bool
    processes: tuple[StoppedProcess, ...]
    removed: tuple[str, ...]
    kept: tuple[str, ...]


# --- status ----------------------------------------------------------------------------------------


def _probe(name: str, entry: dict[str, Any] | None, *, action: str | None = None) -> ComponentStatus:
    if entry is None:
        return ComponentStatus(name=name, state="not started", running=False, ready=False, action=action)
    procs = comp.processes(entry)
    statuses = tuple(ProcessStatus(name=p.name, pid=p.pid, running=is_alive(p)) for p in procs)
    common: dict[str, Any] = {
        "name": name,
        "action": action,
        "processes": statuses,
        "endpoints": dict(entry.get("endpoints", {})),
        "ports": tuple(f"{h}:{p}" for h, p in entry.get("ports", [])),
        "data": tuple(entry.get("data", [])),
    }
    if entry.get("stopped"):
        return ComponentStatus(state="stopped", running=False, ready=False, detail="stopped; data kept", **common)
    running = bool(statuses) and all(s.running for s in statuses)
    if not running:
        gone = ", ".join(f"{s.name} (pid {s.pid})" for s in statuses if not s.running)
        return ComponentStatus(state="dead", running=False, ready=False, detail=f"not running: {gone}", **common)
    probe = {comp.KUBE: comp.probe_kube, comp.CASSANDRA: comp.probe_cassandra, comp.AIRFLOW: comp.probe_airflow}
    ready, detail = probe[name](entry)
    return ComponentStatus(
        state="running" if ready else "not ready", running=True, ready=ready, detail=detail, **common
    )


def status_sandbox(directory: Path) -> SandboxReport:
    """Probe every recorded component: are its processes alive, and does it answer?"""
    components = load_state(directory)["components"]
    return SandboxReport(directory=str(directory), components=tuple(_probe(n, components.get(n)) for n in comp.ORDER))


# --- env -------------------------------------------------------------------------------------------


def env_sandbox(directory: Path) -> SandboxEnv:
    """The variables that point bd (and kubectl, cqlsh, airflow) at the running sandbox."""
    components = load_state(directory)["components"]
    live = {n: e for n, e in components.items() if not e.get("stopped")}
    if not live:
        raise NotFoundError(f"no sandbox is running (state in {directory})", hint="start one: bd sandbox up")
    variables: dict[str, str] = {}
    not_running = []
    for name in comp.ORDER:
        entry = live.get(name)
        if entry is None:
            continue
        variables.update(entry.get("env", {}))
        if not all(is_alive(p) for p in comp.processes(entry)):
            not_running.append(name)
    return SandboxEnv(directory=str(directory), variables=variables, not_running=tuple(not_running))


# --- up --------------------------------------------------------------------------------------------


def up_sandbox(
    directory: Path,
    *,
    kube: bool = True,
    kube_nodes: int | None = DEFAULT_KUBE_NODES,
    cassandra: bool = True,
    cassandra_nodes: int | None = None,
    cassandra_ip: str | None = None,
    airflow: bool = True,
    progress: Progress = no_progress,
) -> SandboxReport:
    """Start the requested components that are not running; leave healthy ones alone.

    `kube_nodes` KWOK Nodes run with the whole control plane (controller-manager, scheduler, KWOK);
    None starts kube-apiserver + etcd only. A component whose processes died is stopped (what is
    left of it) and started again on its kept data. `cassandra_nodes`/`cassandra_ip` default to
    the recorded cluster's, else 3 nodes from 127.0.0.1; they cannot change while a recorded
    cluster's data exists (`down` first).
    """
    with locked(directory):
        state = load_state(directory)
        components: dict[str, Any] = state["components"]
        wanted = [n for n, on in ((comp.KUBE, kube), (comp.CASSANDRA, cassandra),
                                  (comp.AIRFLOW, airflow)) if on]  # fmt: skip
        if not wanted:
            raise UsageError("nothing to start", hint="bd sandbox up (everything) or bd sandbox up --kube")
        nodes, first_ip = _cassandra_request(components.get(comp.CASSANDRA), cassandra_nodes, cassandra_ip)

        # Decide first, then check tools and ports for everything to start, then start: a missing
        # package or a busy port fails before anything runs.
        todo = _to_start(wanted, components, progress)
        checks = {comp.KUBE: lambda: comp.check_kube_tools(control_plane=kube_nodes is not None),
                  comp.CASSANDRA: comp.check_cassandra_tools, comp.AIRFLOW: comp.check_airflow_tools}  # fmt: skip
        for name in todo:
            checks[name]()
        for name, action in todo.items():
            entry = components.get(name)
            status = _probe(name, entry)
            if entry is not None and action == "restarted":
                progress(f"{name}: {status.detail}; restarting it")
                # Cassandra's live nodes keep serving while its dead ones start again; anything
                # else half-alive (or not answering) is stopped and started as a whole
                if name != comp.CASSANDRA or status.state != "dead":
                    _stop_entry(name, entry, progress)
            if name == comp.CASSANDRA:
                comp.check_cassandra_ports(nodes, first_ip, only=comp.cassandra_nodes_to_start(entry, nodes))

        for name, action in todo.items():
            report = _prefixed(progress, name)
            previous = components.get(name)
            if name == comp.KUBE:
                components[name] = comp.start_kube_component(directory, report, nodes=kube_nodes)
            else:
                components[name] = _start_data_component(name, directory, (nodes, first_ip), previous, report)
            save_state(directory, state)
            progress(f"{name}: {action}")
        return SandboxReport(
            directory=str(directory),
            components=tuple(
                _probe(n, components.get(n), action=todo.get(n, "already running")) for n in comp.ORDER if n in wanted
            ),
        )


def _start_data_component(
    name: str, directory: Path, cassandra: tuple[int, str], previous: dict[str, Any] | None, report: Progress
) -> dict[str, Any]:
    if name == comp.CASSANDRA:
        return comp.start_cassandra_component(directory, *cassandra, previous, report)
    return comp.start_airflow_component(directory, previous, report)


def _to_start(wanted: list[str], components: dict[str, Any], progress: Progress) -> dict[str, str]:
    """{component: "started" | "restarted"} for the wanted ones that are not running and ready."""
    todo: dict[str, str] = {}
    for name in wanted:
        status = _probe(name, components.get(name))
        deadline = time.monotonic() + NOT_READY_GRACE
        while status.state == "not ready" and time.monotonic() < deadline:
            time.sleep(1.0)  # busy, or still starting: give it a moment before restarting it
            status = _probe(name, components.get(name))
        if status.state == "running":
            progress(f"{name}: already running")
        else:
            todo[name] = {"not started": "started", "stopped": "started"}.get(status.state, "restarted")
    return todo


def _cassandra_request(entry: dict[str, Any] | None, nodes: int | None, first_ip: str | None) -> tuple[int, str]:
    """Nodes and first address to use: the recorded ones unless the caller asks for others."""
    if entry is None:
        want = (nodes or DEFAULT_CASSANDRA_NODES, first_ip or DEFAULT_CASSANDRA_IP)
        comp.cassandra_layout(*want)  # validates both
        return want
    recorded = (int(entry["nodes"]), str(entry["first_ip"]))
    want = (nodes if nodes is not None else recorded[0], first_ip if first_ip is not None else recorded[1])
    comp.cassandra_layout(*want)
    if want != recorded:
        raise UsageError(
            f"the sandbox's Cassandra has {recorded[0]} node(s) from {recorded[1]}; "
            f"{want[0]} from {want[1]} needs a new cluster",
            hint=f"remove the old one first: bd sandbox down && bd sandbox up --cassandra {want[0]} "
            f"--cassandra-ip {want[1]}",
        )
    return want


def _prefixed(progress: Progress, name: str) -> Progress:
    def report(message: str) -> None:
        progress(f"{name}: {message}")

    return report


def _stop_entry(name: str, entry: dict[str, Any], progress: Progress) -> list[StoppedProcess]:
    """Stop the component's recorded processes (all signalled at once, then awaited)."""
    recs = list(reversed(comp.processes(entry)))  # newest first: the apiserver before its etcd
    # PostgreSQL: SIGINT is its "fast" shutdown (SIGTERM waits for clients to leave)
    sig = signal.SIGINT if name == comp.AIRFLOW else signal.SIGTERM
    was = terminate(recs, sig=sig, timeout=30.0)
    out = []
    for rec, running in zip(recs, was, strict=True):
        if running:
            progress(f"{name}: stopped {rec.name} (pid {rec.pid})")
        out.append(StoppedProcess(component=name, name=rec.name, pid=rec.pid, was_running=running))
    entry["processes"] = []
    return out


# --- down ------------------------------------------------------------------------------------------


def down_sandbox(
    directory: Path, *, keep: bool = False, dry_run: bool = False, progress: Progress = no_progress
) -> DownReport:
    """Stop every process the sandbox recorded (by pid, identity checked) and remove its data unless `keep`."""
    with locked(directory):
        state = load_state(directory)
        components: dict[str, Any] = state["components"]
        stopped: list[StoppedProcess] = []
        paths = [p for n in comp.ORDER if n in components for p in components[n].get("data", [])]
        if dry_run:
            for name in reversed(comp.ORDER):
                for rec in reversed(comp.processes(components.get(name, {}))):
                    stopped.append(
                        StoppedProcess(component=name, name=rec.name, pid=rec.pid, was_running=is_alive(rec))
                    )
            return DownReport(
                directory=str(directory), dry_run=True, keep=keep, processes=tuple(stopped),
                removed=() if keep else tuple(paths), kept=tuple(paths) if keep else (),
            )  # fmt: skip
        for name in reversed(comp.ORDER):
            if name in components:
                stopped += _stop_entry(name, components[name], progress)
                components[name]["stopped"] = True
                save_state(directory, state)
        removed: list[str] = []
        if not keep:
            for path in paths:
                if Path(path).exists():
                    progress(f"removing {path}")
                    shutil.rmtree(path, ignore_errors=True)
                    removed.append(path)
            (directory / STATE_FILE).unlink(missing_ok=True)
        report = DownReport(
            directory=str(directory), dry_run=False, keep=keep, processes=tuple(stopped),
            removed=tuple(removed), kept=tuple(paths) if keep else (),
        )  # fmt: skip
    return report
