"""A real Cassandra 5.0 cluster on loopback: start nodes one after another, watch them, kill them.

Node i listens on 127.0.0.i with the same CQL/storage ports (as ccm does) and its own local JMX
port 7i00. Nodes start one after another, as concurrent joins may otherwise clash.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from braindump_cli.progress import Progress, no_progress
from braindump_cli.sandbox.servers._proc import spawn, terminate
from braindump_cli.sandbox.servers.cassandra.config import (
    CQL_PORT,
    LOGBACK,
    STORAGE_PORT,
    default_layout,
    generate_tokens,
    node_yaml,
)
from braindump_cli.sandbox.servers.cassandra.jars import ensure_cassandra_jars, java_command
from braindump_cli.sandbox.servers.cassandra.nodetool import nodetool_argv, run_nodetool, run_nodetool_batch

READY_LINE = "Starting listening for CQL clients"
DEFAULT_SUPERUSER = ("cassandra", "cassandra")
# Gossip quarantine (Cassandra's default is 2 x ring_delay). The harness shortens ring_delay to 1 s, which
# would make it 2 s, and with it the timeout after which a joining node that has not yet announced its
# status is dropped from gossip as a "FatClient" (half the quarantine: 1 s). Under load a bootstrapping
# node was dropped that way and then never joined ("Unable to contact any seeds", or never listed by
# the seed). 30 s gives 15 s; a node that left must stay away that long before it joins again.
GOSSIP_QUARANTINE_S = 30

# Small machine (2 cores shared by several nodes): C1 only, few GC threads, short thread stacks.
LIGHT_JVM_FLAGS = [
    "-XX:+UseG1GC",
    "-XX:ParallelGCThreads=1",
    "-XX:ConcGCThreads=1",
    "-XX:TieredStopAtLevel=1",
    "-XX:CICompilerCount=1",
    "-Xss256k",
    "-XX:MaxDirectMemorySize=256M",
]


@dataclass
class CassandraNode:
    index: int
    address: str
    jmx_port: int
    datacenter: str
    rack: str
    tokens: list[int]
    directory: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def log_file(self) -> Path:
        return self.directory / "logs" / "system.log"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None and self.process.poll() is None else None


@dataclass
class CassandraCluster:
    workdir: Path
    lib: Path
    nodes: list[CassandraNode]
    cluster_name: str
    snitch: str
    authenticator: str
    heap: str
    die_with_parent: bool = True
    progress: Progress = field(default=no_progress, repr=False)

    @property
    def contact_points(self) -> list[str]:
        return [n.address for n in self.nodes]

    @property
    def superuser(self) -> tuple[str, str]:
        return DEFAULT_SUPERUSER

    def node(self, i: int) -> CassandraNode:
        return self.nodes[i - 1]

    def nodetool_argv(self, i: int, *args: str, as_shipped: bool = False) -> list[str]:
        """The nodetool command line for node i: tuned to start fast, or with bin/nodetool's own JVM flags."""
        return nodetool_argv(self.lib, self.workdir, self.node(i).jmx_port, *args, as_shipped=as_shipped)

    def nodetool(self, i: int, *args: str, timeout: float = 120) -> str:
        """Run nodetool (from the same jars) against node i over its local JMX port."""
        return run_nodetool(self.lib, self.workdir, self.node(i).jmx_port, *args, timeout=timeout)

    def nodetool_batch(self, i: int, commands: Sequence[Sequence[str]], *, timeout: float = 300) -> list[str]:
        """Run many nodetool commands against node i in one JVM (same NodeTool code, no JVM start each)."""
        return run_nodetool_batch(self.lib, self.workdir, self.node(i).jmx_port, commands, timeout=timeout)

    def start_node(self, i: int, *, timeout: float = 300, ring_delay_ms: int = 1000) -> None:
        """Start node i and wait until it serves CQL.

        `ring_delay_ms` is Cassandra's wait for gossip before joining. 1 s is enough for a node that
        already owns tokens; a node that bootstraps checks that it has heard from a seed only after
        that wait, so under load it needs more (seen: "Unable to contact any seeds" after 1 s).
        """
        node = self.node(i)
        if node.pid is not None:
            return
        _check_free(node)
        logs = node.directory / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        offset = node.log_file.stat().st_size if node.log_file.exists() else 0
        cmd = java_command(
            self.lib,
            "org.apache.cassandra.service.CassandraDaemon",
            jvm=[
                f"-Xms{self.heap}",
                f"-Xmx{self.heap}",
                *LIGHT_JVM_FLAGS,
                "-Djdk.attach.allowAttachSelf=true",
                f"-Dcassandra.config=file://{node.directory / 'cassandra.yaml'}",
                f"-Dcassandra.storagedir={node.directory}",
                f"-Dcassandra.logdir={logs}",
                f"-Dlogback.configurationFile={node.directory / 'logback.xml'}",
                "-Dcassandra-foreground=yes",
                f"-Dcassandra.jmx.local.port={node.jmx_port}",
                "-Dcassandra.skip_wait_for_gossip_to_settle=0",
                f"-Dcassandra.ring_delay_ms={ring_delay_ms}",
                f"-Dcassandra.gossip_quarantine_delay_ms={GOSSIP_QUARANTINE_S * 1000}",
                "-Dcassandra.superuser_setup_delay_ms=0",
                f"-Dcassandra-rackdc.properties=file://{node.directory / 'cassandra-rackdc.properties'}",
            ],
        )
        self.progress(f"starting node {i} on {node.address} ({node.datacenter}/{node.rack})")
        node.process = spawn(
            cmd,
            logs / "stdout.log",
            cwd=node.directory,
            preexec_fn=_die_with_parent if self.die_with_parent else None,
        )
        self._wait_ready(node, offset, timeout)

    def _wait_ready(self, node: CassandraNode, offset: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        start = time.monotonic()
        while time.monotonic() < deadline:
            if node.process is None or node.process.poll() is not None:
                raise RuntimeError(f"node {node.index} exited during start-up; see {node.log_file}:\n{_tail(node)}")
            if node.log_file.exists():
                with node.log_file.open("rb") as f:
                    f.seek(offset)
                    if READY_LINE.encode() in f.read():
                        self.progress(f"node {node.index} ready after {time.monotonic() - start:.0f}s")
                        return
            time.sleep(0.5)
        raise RuntimeError(f"node {node.index} not ready after {timeout:.0f}s; see {node.log_file}:\n{_tail(node)}")

    def ring_states(self, i: int) -> dict[str, str]:
        """Address -> two-letter state (UN, UJ, DN, ...) as `nodetool status` on node i sees the ring."""
        states = {}
        for line in self.nodetool(i, "status").splitlines():
            parts = line.split()
            if len(parts) > 2 and len(parts[0]) == 2 and parts[0][0] in "UD" and parts[0][1] in "NLJM":
                states[parts[1]] = parts[0]
        return states

    def wait_converged(self, *, timeout: float = 180) -> None:
        """Wait until every running node sees every running node Up/Normal.

        A node logs that it listens for CQL before the others have learnt its tokens and datacenter;
        until they have, DDL sent to them fails (e.g. NetworkTopologyStrategy rejects an unknown DC).
        """
        running = [n for n in self.nodes if n.pid is not None]
        deadline = time.monotonic() + timeout
        for observer in running:
            while True:
                states = self.ring_states(observer.index)
                if all(states.get(n.address) == "UN" for n in running):
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"node {observer.index} does not see the ring converged after {timeout:.0f}s: {states}"
                    )
                time.sleep(1)
        self.progress(f"ring converged: {len(running)} nodes Up/Normal on every node")

    def kill_node(self, i: int) -> None:
        """SIGKILL the node's JVM (by the pid this harness started): a crash, not a drain."""
        node = self.node(i)
        if node.process is None:
            return
        if node.process.poll() is None:
            os.kill(node.process.pid, signal.SIGKILL)
        node.process.wait(timeout=30)
        node.process = None

    def stop(self) -> None:
        terminate([node.process for node in self.nodes], timeout=20)
        for node in self.nodes:
            node.process = None


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL the JVM if the process that started it dies (no orphans)."""
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


def _tail(node: CassandraNode, lines: int = 30) -> str:
    for f in (node.log_file, node.directory / "logs" / "stdout.log"):
        if f.exists():
            text = f.read_text(errors="replace").splitlines()
            errors = [i for i, ln in enumerate(text) if ln.startswith(("ERROR", "Exception", "Error"))]
            # each ERROR line with the exception message that follows it, not the stack frames
            picked = [ln for i in errors for ln in text[i : i + 3] if not ln.lstrip().startswith("at ")]
            return "\n".join((picked or text)[-lines:])
    return "(no log)"


def _check_free(node: CassandraNode) -> None:
    for host, port in ((node.address, CQL_PORT), (node.address, STORAGE_PORT), ("127.0.0.1", node.jmx_port)):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((host, port))
            except OSError as e:
                raise RuntimeError(
                    f"{host}:{port} is in use ({e.strerror}); another Cassandra (or ccm cluster) is running here"
                ) from e


def start_cluster(
    workdir: Path,
    *,
    nodes: int = 3,
    dcs: int = 1,
    layout: Sequence[tuple[str, str]] | None = None,
    cluster_name: str = "bd-test",
    authenticator: str = "AllowAllAuthenticator",
    heap: str = "512M",
    client_tls_pem: Path | None = None,
    die_with_parent: bool = True,
    address_base: int = 1,
    jmx_port_base: int = 7000,
    progress: Progress = no_progress,
) -> CassandraCluster:
    """Write the config of every node under `workdir` and start them one after another.

    `layout` gives (datacenter, rack) per node and implies GossipingPropertyFileSnitch; without it,
    one DC uses SimpleSnitch and two DCs use the default split of `default_layout`.
    `client_tls_pem` (key + certificate chain, PEM) turns on CQL TLS next to plaintext on the same port.
    `die_with_parent` (default) kills the JVMs when the calling process dies; `bd sandbox` turns it off.
    Node i listens on 127.0.0.(address_base + i - 1) with JMX port jmx_port_base + 100 * i, so a
    second cluster (e.g. `bd sandbox up --cassandra-ip 127.0.0.11`) can run beside the tests' one.
    On failure every node started so far is stopped before the error propagates.
    """
    lib = ensure_cassandra_jars(progress=progress)
    if layout is None:
        # SimpleSnitch puts every node in datacenter1/rack1 whatever the rackdc file says
        layout = [("datacenter1", "rack1")] * nodes if dcs == 1 else default_layout(nodes, dcs)
        snitch = "SimpleSnitch" if dcs == 1 else "GossipingPropertyFileSnitch"
    else:
        nodes = len(layout)
        snitch = "GossipingPropertyFileSnitch"
    if not 1 <= nodes <= 9:
        raise ValueError("between 1 and 9 nodes (JMX ports 7100..7900)")
    if not 1 <= address_base <= 255 - nodes:
        raise ValueError(f"address_base {address_base}: nodes would leave 127.0.0.1..127.0.0.254")
    tokens = generate_tokens(nodes)
    members = []
    for i in range(1, nodes + 1):
        dc, rack = layout[i - 1]
        d = workdir / f"node{i}"
        d.mkdir(parents=True, exist_ok=True)
        address = f"127.0.0.{address_base + i - 1}"
        member = CassandraNode(i, address, jmx_port_base + 100 * i, dc, rack, tokens[i - 1], d)
        seed = f"127.0.0.{address_base}"
        yaml = node_yaml(
            cluster_name,
            address=address,
            tokens=member.tokens,
            directory=d,
            seed=seed,
            snitch=snitch,
            authenticator=authenticator,
            client_tls_pem=client_tls_pem,
        )
        (d / "cassandra.yaml").write_text(yaml)
        (d / "logback.xml").write_text(LOGBACK.format(log=d / "logs" / "system.log"))
        (d / "cassandra-rackdc.properties").write_text(f"dc={dc}\nrack={rack}\nprefer_local=true\n")
        members.append(member)
    cluster = CassandraCluster(
        workdir, lib, members, cluster_name, snitch, authenticator, heap, die_with_parent, progress
    )
    try:
        for i in range(1, nodes + 1):
            cluster.start_node(i)
        if nodes > 1:
            cluster.wait_converged()
    except BaseException:
        cluster.stop()
        raise
    return cluster
