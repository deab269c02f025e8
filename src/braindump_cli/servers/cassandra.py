"""Start a real Cassandra 5.0 cluster on loopback from Maven Central jars (tests, benchmarks, `bd sandbox`).

The jars come from `cassandra-all` and its runtime dependencies (`mvn dependency:copy-dependencies`),
cached under `cache_root()/cassandra/<version>/lib`. The binary tarball is not served by Maven
Central, so the yaml, logback config and JVM options are written here. Node i listens on
127.0.0.i with the same CQL/storage ports (as ccm does) and its own local JMX port 7i00.
Tokens are pre-generated (seeded, so every run builds the same, deliberately uneven ring) and
nodes start one after another, as concurrent joins may otherwise clash.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from braindump_cli.progress import Progress, no_progress
from braindump_cli.servers._cache import cache_root
from braindump_cli.servers._proc import spawn, terminate

CASSANDRA_VERSION = "5.0.8"
CQL_PORT = 9042
STORAGE_PORT = 7000
NUM_TOKENS = 16
READY_LINE = "Starting listening for CQL clients"
DEFAULT_SUPERUSER = ("cassandra", "cassandra")


# The JPMS flags of conf/jvm17-server.options in the Cassandra 5.0 distribution.
JVM17_FLAGS = [
    "--add-exports=java.base/jdk.internal.misc=ALL-UNNAMED",
    "--add-exports=java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED",
    "--add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED",
    "--add-exports=java.rmi/sun.rmi.server=ALL-UNNAMED",
    "--add-exports=java.sql/java.sql=ALL-UNNAMED",
    "--add-exports=java.base/java.lang.ref=ALL-UNNAMED",
    "--add-exports=jdk.unsupported/sun.misc=ALL-UNNAMED",
    "--add-exports=jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED",
    "--add-exports=jdk.attach/sun.tools.attach=ALL-UNNAMED",
    "--add-opens=java.base/java.lang.module=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.loader=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.ref=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.reflect=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.math=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.module=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.util.jar=ALL-UNNAMED",
    "--add-opens=jdk.management/com.sun.management.internal=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/java.lang.reflect=ALL-UNNAMED",
    "--add-opens=jdk.compiler/com.sun.tools.javac=ALL-UNNAMED",
    "--add-opens=java.base/java.lang=ALL-UNNAMED",
    "--add-opens=java.base/java.util=ALL-UNNAMED",
    "-Dio.netty.tryReflectionSetAccessible=true",
    "-Dio.netty.allocator.useCacheForAllThreads=true",
    "-Dio.netty.allocator.maxOrder=11",
]

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

# Many nodetool commands in one JVM: NodeTool's own `execute` (what `main` runs, minus System.exit),
# one command per stdin line (arguments separated by tabs), each output followed by a marker line.
NODETOOL_BATCH_JAVA = """\
import java.io.*;
import java.nio.charset.StandardCharsets;
import org.apache.cassandra.tools.*;

public class BdNodetoolBatch {
    public static void main(String[] a) throws Exception {
        INodeProbeFactory probes = new INodeProbeFactory() {
            public NodeProbe create(String h, int p) throws IOException { return new NodeProbe(h, p); }
            public NodeProbe create(String h, int p, String u, String pw) throws IOException {
                return new NodeProbe(h, p, u, pw);
            }
        };
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        PrintStream stdout = new PrintStream(new FileOutputStream(FileDescriptor.out), true, "UTF-8");
        String line;
        while ((line = in.readLine()) != null) {
            ByteArrayOutputStream buf = new ByteArrayOutputStream();
            PrintStream ps = new PrintStream(buf, true, "UTF-8");
            int rc = new NodeTool(probes, new Output(ps, ps)).execute(line.split("\\t", -1));
            ps.flush();
            stdout.print(buf.toString("UTF-8"));
            stdout.println("@@BD-END rc=" + rc);
        }
    }
}
"""

# A short-lived JMX client: start fast rather than run fast.
NODETOOL_FAST_FLAGS = [
    "-XX:TieredStopAtLevel=1",
    "-XX:+UseSerialGC",
    "-Xshare:auto",
    "--add-exports=java.base/sun.nio.ch=ALL-UNNAMED",  # FileUtils' DirectBuffer cleaner (jvm17-clients.options)
]

POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>bd</groupId><artifactId>bd-cassandra</artifactId><version>1</version>
  <dependencies>
    <dependency><groupId>org.apache.cassandra</groupId><artifactId>cassandra-all</artifactId><version>{version}</version></dependency>
  </dependencies>
</project>
"""

# nodetool logs to stdout by default: silence it so its output can be parsed.
LOGBACK_TOOLS = """<configuration scan="false"><root level="OFF"/></configuration>
"""

LOGBACK = """<configuration scan="false">
  <appender name="FILE" class="ch.qos.logback.core.FileAppender">
    <file>{log}</file>
    <encoder><pattern>%-5level [%thread] %date{{ISO8601}} %F:%L - %msg%n</pattern></encoder>
  </appender>
  <logger name="org.apache.cassandra" level="INFO"/>
  <root level="WARN"><appender-ref ref="FILE"/></root>
</configuration>
"""


def cassandra_dir(version: str = CASSANDRA_VERSION) -> Path:
    return cache_root() / "cassandra" / version


def ensure_cassandra_jars(*, progress: Progress = no_progress, version: str = CASSANDRA_VERSION) -> Path:
    """The directory holding cassandra-all and its runtime jars; fetched with Maven once, then cached."""
    root = cassandra_dir(version)
    lib = root / "lib"
    stamp = root / ".complete"
    if stamp.is_file() and (lib / f"cassandra-all-{version}.jar").is_file():
        progress(f"cached: {lib}")
        return lib
    mvn = shutil.which("mvn")
    if mvn is None:
        raise FileNotFoundError("mvn is not installed (Debian: apt-get install maven)")
    root.mkdir(parents=True, exist_ok=True)
    (root / "pom.xml").write_text(POM.format(version=version))
    staging = root / "lib.partial"
    shutil.rmtree(staging, ignore_errors=True)
    progress(f"fetching cassandra-all {version} and its runtime dependencies from Maven Central")
    proc = subprocess.run(
        [
            mvn,
            "-q",
            "-B",
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={staging}",
        ],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"mvn dependency:copy-dependencies failed:\n{(proc.stdout + proc.stderr)[-4000:]}")
    if not (staging / f"cassandra-all-{version}.jar").is_file():
        raise RuntimeError(f"mvn finished but {staging} has no cassandra-all-{version}.jar")
    shutil.rmtree(lib, ignore_errors=True)
    staging.rename(lib)
    stamp.write_text(f"{len(list(lib.glob('*.jar')))} jars\n")
    progress(f"{len(list(lib.glob('*.jar')))} jars in {lib}")
    return lib


def java_command(lib: Path, main: str, *, jvm: Sequence[str] = ()) -> list[str]:
    java = shutil.which("java")
    if java is None:
        raise FileNotFoundError("java is not installed (Debian: apt-get install openjdk-17-jre-headless)")
    return [java, *JVM17_FLAGS, *jvm, "-cp", f"{lib}/*", main]


def generate_tokens(count: int, *, num_tokens: int = NUM_TOKENS, seed: int = 20250508) -> list[list[int]]:
    """Distinct random Murmur3 tokens per node: an uneven ring is a sharper test of ownership math."""
    rng = random.Random(seed)  # noqa: S311 - reproducible test tokens, not secrets
    seen: set[int] = set()
    out: list[list[int]] = []
    for _ in range(count):
        tokens: list[int] = []
        while len(tokens) < num_tokens:
            t = rng.randrange(-(2**63) + 1, 2**63)
            if t not in seen:
                seen.add(t)
                tokens.append(t)
        out.append(sorted(tokens))
    return out


def default_layout(nodes: int, dcs: int) -> list[tuple[str, str]]:
    """(datacenter, rack) per node: with two DCs the first DC takes the larger half; racks alternate."""
    if dcs not in (1, 2):
        raise ValueError("dcs must be 1 or 2")
    first = nodes if dcs == 1 else (nodes + 1) // 2
    layout = []
    for i in range(nodes):
        dc, k = ("dc1", i) if i < first else ("dc2", i - first)
        layout.append((dc, f"rack{k % 2 + 1}"))
    return layout


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
        node = self.node(i)
        jvm = ["-ea", "-Xmx128m", "-XX:ParallelGCThreads=1"] if as_shipped else ["-Xmx256M", *NODETOOL_FAST_FLAGS]
        if as_shipped:
            jvm.append("--add-exports=java.base/sun.nio.ch=ALL-UNNAMED")
        jvm.append(f"-Dlogback.configurationFile={self._tools_logback()}")
        cmd = java_command(self.lib, "org.apache.cassandra.tools.NodeTool", jvm=jvm)
        return [*cmd, "-h", "127.0.0.1", "-p", str(node.jmx_port), *args]

    def nodetool(self, i: int, *args: str, timeout: float = 120) -> str:
        """Run nodetool (from the same jars) against node i over its local JMX port."""
        proc = _run_tool(self.nodetool_argv(i, *args), timeout=timeout)
        if proc.returncode != 0:
            raise RuntimeError(f"nodetool {' '.join(args)} on node {i} failed: {(proc.stdout + proc.stderr)[-2000:]}")
        return proc.stdout

    def nodetool_batch(self, i: int, commands: Sequence[Sequence[str]], *, timeout: float = 300) -> list[str]:
        """Run many nodetool commands against node i in one JVM (same NodeTool code, no JVM start each)."""
        node = self.node(i)
        src = self.workdir / "BdNodetoolBatch.java"
        if not src.exists():
            src.write_text(NODETOOL_BATCH_JAVA)
        cmd = java_command(
            self.lib,
            str(src),
            jvm=["-Xmx256M", *NODETOOL_FAST_FLAGS, f"-Dlogback.configurationFile={self._tools_logback()}"],
        )
        lines = []
        for args in commands:
            full = ["-h", "127.0.0.1", "-p", str(node.jmx_port), *args]
            if any("\t" in a or "\n" in a for a in full):
                raise ValueError("nodetool_batch arguments cannot hold tabs or newlines")
            lines.append("\t".join(full))
        proc = _run_tool(cmd, input="\n".join(lines) + "\n", timeout=timeout)
        outputs: list[str] = []
        current: list[str] = []
        for line in proc.stdout.splitlines(keepends=True):
            at = line.find("@@BD-END rc=")
            if at >= 0:  # the marker may follow output that did not end its last line
                current.append(line[:at])
                rc = int(line[at:].strip().split("=", 1)[1])
                if rc != 0:
                    raise RuntimeError(f"nodetool {commands[len(outputs)]} on node {i} failed: {''.join(current)}")
                outputs.append("".join(current))
                current = []
            else:
                current.append(line)
        if proc.returncode != 0 or len(outputs) != len(commands):
            raise RuntimeError(
                f"nodetool batch on node {i} failed ({proc.returncode}): {(proc.stdout + proc.stderr)[-2000:]}"
            )
        return outputs

    def _tools_logback(self) -> Path:
        path = self.workdir / "logback-tools.xml"
        if not path.exists():
            path.write_text(LOGBACK_TOOLS)
        return path

    def start_node(self, i: int, *, timeout: float = 300) -> None:
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
                "-Dcassandra.ring_delay_ms=1000",
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


def _run_tool(cmd: Sequence[str], *, timeout: float, input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run a Cassandra tool JVM (nodetool) to completion, text in and out, in a UTF-8 locale."""
    return subprocess.run(
        cmd,
        input=input,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=timeout,
        check=False,
        env={**os.environ, "LC_ALL": "C.UTF-8"},
    )


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL the JVM if the process that started it dies (no orphans)."""
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


def _tail(node: CassandraNode, lines: int = 30) -> str:
    for f in (node.log_file, node.directory / "logs" / "stdout.log"):
        if f.exists():
            text = f.read_text(errors="replace").splitlines()
            errors = [ln for ln in text if ln.startswith(("ERROR", "Exception", "Error"))]
            return "\n".join((errors or text)[-lines:])
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


def _client_tls_yaml(pem: Path | None) -> str:
    """CQL TLS from one PEM (unencrypted PKCS#8 key + certificate chain); `optional` keeps plaintext too."""
    if pem is None:
        return ""
    return f"""\
client_encryption_options:
  enabled: true
  optional: true
  ssl_context_factory:
    class_name: org.apache.cassandra.security.PEMBasedSslContextFactory
  keystore: '{pem}'
  require_client_auth: false
"""


def _yaml(
    cluster_name: str, node: CassandraNode, seed: str, snitch: str, authenticator: str, client_tls_pem: Path | None
) -> str:
    d = node.directory
    tokens = ",".join(str(t) for t in node.tokens)
    return (
        _client_tls_yaml(client_tls_pem)
        + f"""\
cluster_name: '{cluster_name}'
num_tokens: {len(node.tokens)}
initial_token: '{tokens}'
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
endpoint_snitch: {snitch}
authenticator: {authenticator}
authorizer: AllowAllAuthorizer
role_manager: CassandraRoleManager
commitlog_sync: periodic
commitlog_sync_period: 10000ms
commitlog_segment_size: 8MiB
data_file_directories: ['{d / "data"}']
commitlog_directory: '{d / "commitlog"}'
hints_directory: '{d / "hints"}'
saved_caches_directory: '{d / "saved_caches"}'
cdc_raw_directory: '{d / "cdc_raw"}'
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: "{seed}:{STORAGE_PORT}"
listen_address: {node.address}
rpc_address: {node.address}
storage_port: {STORAGE_PORT}
native_transport_port: {CQL_PORT}
start_native_transport: true
auto_bootstrap: false
auto_snapshot: false
hinted_handoff_enabled: false
concurrent_reads: 4
concurrent_writes: 4
concurrent_counter_writes: 2
concurrent_materialized_view_writes: 2
concurrent_compactors: 1
native_transport_max_threads: 16
memtable_heap_space: 48MiB
memtable_offheap_space: 48MiB
key_cache_size: 8MiB
counter_cache_size: 0MiB
prepared_statements_cache_size: 4MiB
index_summary_capacity: 4MiB
compaction_throughput: 0MiB/s
write_request_timeout: 2000ms
read_request_timeout: 5000ms
range_request_timeout: 10000ms
request_timeout: 10000ms
storage_compatibility_mode: NONE
"""
    )


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
        (d / "cassandra.yaml").write_text(_yaml(cluster_name, member, seed, snitch, authenticator, client_tls_pem))
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


def main() -> None:  # pragma: no cover - manual smoke run: python -m braindump_cli.servers.cassandra
    import sys

    work = Path(tempfile.mkdtemp(prefix="bd-cassandra-"))
    start = time.monotonic()
    cluster = start_cluster(work, nodes=int(sys.argv[1]) if len(sys.argv) > 1 else 3, dcs=2, progress=print)
    print(f"cluster up in {time.monotonic() - start:.0f}s under {work}")
    try:
        print(cluster.nodetool(1, "status"))
    finally:
        cluster.stop()


if __name__ == "__main__":  # pragma: no cover
    main()
