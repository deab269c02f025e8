"""The three sandbox components, each started by the same harness the test suite uses.

Every component is recorded as a JSON entry (see `ComponentEntry` keys below) so that a later
`bd` process can probe it, print its environment and stop exactly the processes it started:

    processes  list of ProcessRecord JSON (pid + start time + boot id + argv0)
    ports      [[host, port], ...] it listens on
    data       directories it owns (removed by `down` unless --keep)
    endpoints  what to show people ({"server": ..., "kubeconfig": ...})
    env        variables `bd sandbox env` exports
    stopped    true after `down --keep`: data kept, nothing running on purpose
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import pwd
import shutil
import subprocess
from pathlib import Path
from typing import Any

from braindump_cli.errors import BdError, UsageError
from braindump_cli.process import ProcessRecord, is_alive, record_process
from braindump_cli.progress import Progress
from braindump_cli.sandbox._procs import port_in_use

Entry = dict[str, Any]

KUBE, CASSANDRA, AIRFLOW = "kube", "cassandra", "airflow"
ORDER = (KUBE, CASSANDRA, AIRFLOW)
CASSANDRA_CLUSTER_NAME = "bd-sandbox"
CASSANDRA_HEAP = "512M"
AIRFLOW_DATABASE = "airflow"


def processes(entry: Entry) -> list[ProcessRecord]:
    return [ProcessRecord.from_json(p) for p in entry.get("processes", [])]


def _short(exc: BaseException, limit: int = 700) -> str:
    text = " ".join(line.strip() for line in str(exc).splitlines() if line.strip()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _need(tool: str, package: str, why: str) -> None:
    if shutil.which(tool) is None:
        raise UsageError(f"`{tool}` is not installed; {why}", hint=f"install it: apt-get install {package}")


# --- Kubernetes ------------------------------------------------------------------------------------


def check_kube_tools(*, control_plane: bool = True) -> None:
    from braindump_cli.sandbox.servers.kube_build import binaries_dir, control_plane_dir, kwok_dir

    built = all((binaries_dir() / name).exists() for name in ("kube-apiserver", "etcd", "kubectl"))
    if control_plane:
        built = built and all((control_plane_dir() / n).exists() for n in ("kube-controller-manager", "kube-scheduler"))
        built = built and (kwok_dir() / "kwok").exists()
    if not built:
        _need("go", "golang-go", "the first run builds the Kubernetes binaries and KWOK from the Go module proxy")


KUBE_PLANE_PROCESSES = ("kube-controller-manager", "kube-scheduler", "kwok")


def start_kube_component(directory: Path, progress: Progress, *, nodes: int | None = 1) -> Entry:
    """The whole control plane with `nodes` KWOK Nodes, or kube-apiserver + etcd only (`nodes=None`)."""
    from braindump_cli.sandbox.servers.kube import start_kube
    from braindump_cli.sandbox.servers.kube_plane import start_control_plane

    workdir = directory / KUBE
    what = "the Kubernetes control plane" if nodes else "kube-apiserver + etcd"
    try:
        if nodes:
            plane = start_control_plane(workdir, nodes=nodes, progress=progress)
            cluster = plane.cluster
        else:
            plane, cluster = None, start_kube(workdir, progress=progress)
    except FileNotFoundError as e:
        raise UsageError(_short(e), hint="install it: apt-get install golang-go") from e
    except (RuntimeError, OSError) as e:
        raise BdError(f"{what} did not start: {_short(e)}", hint=f"see the *.log files in {workdir}") from e
    pids = {"etcd": cluster.etcd_pid, "kube-apiserver": cluster.apiserver_pid}
    if plane is not None:
        pids.update(zip(KUBE_PLANE_PROCESSES, (plane.kcm_pid, plane.scheduler_pid, plane.kwok_pid), strict=True))
    if any(pid is None for pid in pids.values()):  # start() returned, so every one ran
        (plane or cluster).stop()
        raise BdError(f"a process of {what} exited right after start", hint=f"see the *.log files in {workdir}")
    procs = [record_process(name, pid) for name, pid in pids.items() if pid is not None]
    ports = [cluster.etcd_port, cluster.etcd_peer_port, cluster.apiserver_port]
    if plane is not None:
        ports += [plane.kcm_port, plane.scheduler_port, plane.kwok_port]
    return {
        "workdir": str(workdir),
        "mode": "control-plane" if plane is not None else "apiserver-only",
        "nodes": nodes or 0,
        "etcd_port": cluster.etcd_port,
        "etcd_peer_port": cluster.etcd_peer_port,
        "apiserver_port": cluster.apiserver_port,
        "kcm_port": plane.kcm_port if plane else None,
        "scheduler_port": plane.scheduler_port if plane else None,
        "processes": [p.to_json() for p in procs],
        "ports": [["127.0.0.1", port] for port in ports],
        "data": [str(workdir)],
        "endpoints": {"server": cluster.server, "kubeconfig": str(cluster.admin_kubeconfig), "etcd": cluster.etcd_url},
        "env": {"KUBECONFIG": str(cluster.admin_kubeconfig)},
    }


def _kube_cluster(entry: Entry) -> Any:
    from braindump_cli.sandbox.servers.kube import KubeCluster
    from braindump_cli.sandbox.servers.kube_build import binaries_dir

    bins = binaries_dir()
    return KubeCluster(
        workdir=Path(entry["workdir"]),
        kube_apiserver_bin=bins / "kube-apiserver",
        etcd_bin=bins / "etcd",
        kubectl=bins / "kubectl",
        etcd_port=int(entry["etcd_port"]),
        etcd_peer_port=int(entry["etcd_peer_port"]),
        apiserver_port=int(entry["apiserver_port"]),
    )


def probe_kube(entry: Entry) -> tuple[bool, str]:
    """(ready, detail): the apiserver answers /readyz; with the control plane, the controller-manager
    and scheduler answer /healthz and KWOK keeps every Node Ready."""
    from braindump_cli.sandbox.servers.kube_plane import healthz, ready_nodes

    cluster = _kube_cluster(entry)
    if not cluster.is_ready():
        return False, "kube-apiserver does not answer /readyz"
    if entry.get("mode") != "control-plane":
        return True, "apiserver-only: /readyz ok (no controllers, scheduler or kubelet)"
    parts = ["kube-apiserver /readyz ok"]
    ok = True
    for name, key in (("kube-controller-manager", "kcm_port"), ("kube-scheduler", "scheduler_port")):
        healthy = healthz(int(entry[key]))
        ok = ok and healthy
        parts.append(f"{name} /healthz {'ok' if healthy else 'FAILING'}")
    ready, total = ready_nodes(cluster), int(entry.get("nodes") or 0)
    ok = ok and len(ready) >= total
    parts.append(f"kwok: {len(ready)}/{total} Node(s) Ready")
    return ok, "; ".join(parts)


# --- Cassandra -------------------------------------------------------------------------------------


def check_cassandra_tools() -> None:
    from braindump_cli.sandbox.servers.cassandra import cassandra_dir

    _need("java", "openjdk-17-jdk-headless", "Cassandra nodes and nodetool run on Java 17")
    if not (cassandra_dir() / ".complete").is_file():
        _need("mvn", "maven", "the first run fetches the Cassandra jars from Maven Central")


def cassandra_address_base(first_ip: str) -> int:
    """The last octet of node 1's address: the harness places nodes on 127.0.0.N, 127.0.0.N+1, ..."""
    try:
        ip = ipaddress.IPv4Address(first_ip)
    except ValueError as e:
        raise UsageError(
            f"--cassandra-ip {first_ip!r} is not an IPv4 address", hint="e.g. --cassandra-ip 127.0.0.11"
        ) from e
    octets = str(ip).split(".")
    if octets[:3] != ["127", "0", "0"] or not 1 <= int(octets[3]) <= 245:
        raise UsageError(
            f"--cassandra-ip {first_ip}: nodes must live on loopback 127.0.0.1 .. 127.0.0.254",
            hint="e.g. --cassandra-ip 127.0.0.11",
        )
    return int(octets[3])


def cassandra_layout(nodes: int, first_ip: str) -> tuple[list[str], list[int], int]:
    """(addresses, JMX ports, jmx_port_base) for `nodes` nodes starting at `first_ip`.

    JMX binds to 127.0.0.1 only, so a cluster on other addresses shifts its JMX ports by the
    address offset (127.0.0.11 -> 7110, 7210, ...) and never meets the default 7100, 7200, ...
    """
    if not 1 <= nodes <= 9:
        raise UsageError(f"--cassandra {nodes}: between 1 and 9 nodes", hint="e.g. --cassandra 3")
    base = cassandra_address_base(first_ip)
    if base + nodes - 1 > 254:
        raise UsageError(f"--cassandra-ip {first_ip} leaves no room for {nodes} nodes", hint="pick a lower address")
    jmx_base = 7000 + base - 1
    addresses = [f"127.0.0.{base + i}" for i in range(nodes)]
    return addresses, [jmx_base + 100 * (i + 1) for i in range(nodes)], jmx_base


def cassandra_ports(nodes: int, first_ip: str, *, only: list[int] | None = None) -> list[tuple[str, int]]:
    """(host, port) pairs of nodes 1..`nodes` (or just the node numbers in `only`)."""
    from braindump_cli.sandbox.servers.cassandra import CQL_PORT, STORAGE_PORT

    addresses, jmx_ports, _ = cassandra_layout(nodes, first_ip)
    out: list[tuple[str, int]] = []
    for i, (address, jmx) in enumerate(zip(addresses, jmx_ports, strict=True), start=1):
        if only is None or i in only:
            out += [(address, CQL_PORT), (address, STORAGE_PORT), ("127.0.0.1", jmx)]
    return out


def check_cassandra_ports(nodes: int, first_ip: str, *, only: list[int] | None = None) -> None:
    for host, port in cassandra_ports(nodes, first_ip, only=only):
        if port_in_use(host, port):
            raise UsageError(
                f"{host}:{port} is already in use (another Cassandra, a ccm cluster or bd's own tests?)",
                hint="stop that server, or put the sandbox's nodes elsewhere: bd sandbox up --cassandra-ip 127.0.0.11",
            )


def cassandra_nodes_to_start(previous: Entry | None, nodes: int) -> list[int]:
    """Node numbers to start: all for a new cluster, else the recorded nodes that are not running.

    A recorded cluster whose config is still on disk gets only its dead nodes started again (the
    live ones keep serving); without its config it is started afresh.
    """
    if previous is None or not _configs_exist(previous, nodes):
        return list(range(1, nodes + 1))
    alive = {rec.name for rec in processes(previous) if is_alive(rec)}
    return [i for i in range(1, nodes + 1) if f"cassandra-node{i}" not in alive]


def _configs_exist(entry: Entry, nodes: int) -> bool:
    workdir = Path(entry["workdir"])
    return all((workdir / f"node{i}" / "cassandra.yaml").is_file() for i in range(1, nodes + 1))


def start_cassandra_component(
    directory: Path, nodes: int, first_ip: str, previous: Entry | None, progress: Progress
) -> Entry:
    from braindump_cli.sandbox.servers.cassandra import CQL_PORT

    addresses, jmx_ports, _ = cassandra_layout(nodes, first_ip)
    todo = cassandra_nodes_to_start(previous, nodes)
    check_cassandra_ports(nodes, first_ip, only=todo)
    workdir = directory / CASSANDRA
    kept: list[ProcessRecord] = []
    try:
        if previous is not None and _configs_exist(previous, nodes):
            kept = [rec for rec in processes(previous) if is_alive(rec)]
            started = _start_recorded_nodes(workdir, addresses, jmx_ports, todo, progress)
        else:
            started = _start_new_cluster(workdir, nodes, first_ip, progress)
    except FileNotFoundError as e:
        raise UsageError(_short(e), hint="install it: apt-get install openjdk-17-jdk-headless maven") from e
    except (RuntimeError, OSError, ValueError) as e:
        raise BdError(f"Cassandra did not start: {_short(e)}", hint=f"see {workdir}/node*/logs/system.log") from e
    procs = sorted([*kept, *started], key=lambda r: r.name)
    hosts = ",".join(addresses)
    return {
        "workdir": str(workdir),
        "nodes": nodes,
        "first_ip": first_ip,
        "heap": CASSANDRA_HEAP,
        "addresses": addresses,
        "jmx_ports": jmx_ports,
        "processes": [p.to_json() for p in procs],
        "ports": [[h, p] for h, p in cassandra_ports(nodes, first_ip)],
        "data": [str(workdir)],
        "endpoints": {"hosts": hosts, "cql_port": str(CQL_PORT), "jmx_ports": ",".join(map(str, jmx_ports))},
        "env": {"BD_CASSANDRA_HOSTS": hosts},
    }


def _start_new_cluster(workdir: Path, nodes: int, first_ip: str, progress: Progress) -> list[ProcessRecord]:
    from braindump_cli.sandbox.servers.cassandra import start_cluster

    _, _, jmx_base = cassandra_layout(nodes, first_ip)
    cluster = start_cluster(
        workdir,
        nodes=nodes,
        cluster_name=CASSANDRA_CLUSTER_NAME,
        heap=CASSANDRA_HEAP,
        address_base=cassandra_address_base(first_ip),
        jmx_port_base=jmx_base,
        die_with_parent=False,
        progress=progress,
    )
    return _records(cluster)


def _start_recorded_nodes(
    workdir: Path, addresses: list[str], jmx_ports: list[int], todo: list[int], progress: Progress
) -> list[ProcessRecord]:
    """Start nodes `todo` of a cluster whose config the harness wrote earlier (data and tokens kept)."""
    from braindump_cli.sandbox.servers.cassandra import CassandraCluster, CassandraNode, ensure_cassandra_jars

    lib = ensure_cassandra_jars(progress=progress)
    members = []
    for i, (address, jmx) in enumerate(zip(addresses, jmx_ports, strict=True), start=1):
        # tokens, snitch and the rest live in the config the harness wrote; start_node reads it
        place = _rackdc(workdir / f"node{i}" / "cassandra-rackdc.properties")
        members.append(
            CassandraNode(i, address, jmx, place.get("dc", "?"), place.get("rack", "?"), [], workdir / f"node{i}")
        )
    cluster = CassandraCluster(
        workdir, lib, members, CASSANDRA_CLUSTER_NAME, "", "", CASSANDRA_HEAP, die_with_parent=False, progress=progress
    )
    try:
        for i in todo:
            cluster.start_node(i)
    except BaseException:
        cluster.stop()  # only the nodes started here: the others have no process object
        raise
    return _records(cluster)


def _rackdc(path: Path) -> dict[str, str]:
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return {}
    return dict(line.split("=", 1) for line in lines if "=" in line)


def _records(cluster: Any) -> list[ProcessRecord]:
    out = []
    for node in cluster.nodes:
        if node.process is None:
            continue  # not started by this call
        if node.pid is None:
            cluster.stop()
            raise BdError(f"Cassandra node {node.index} exited right after start", hint=f"see {node.log_file}")
        out.append(record_process(f"cassandra-node{node.index}", node.pid))
    return out


def probe_cassandra(entry: Entry) -> tuple[bool, str]:
    """(ready, detail): every node accepts a TCP connection on its CQL port."""
    import socket

    from braindump_cli.sandbox.servers.cassandra import CQL_PORT

    down = []
    for address in entry["addresses"]:
        try:
            with socket.create_connection((address, CQL_PORT), timeout=2):
                pass
        except OSError:
            down.append(address)
    if down:
        return False, f"CQL port {CQL_PORT} closed on {', '.join(down)}"
    return True, f"{entry['nodes']} node(s) answer on CQL port {CQL_PORT}"


# --- Airflow metadata database -----------------------------------------------------------------------


def airflow_version() -> str:
    from braindump_cli.sandbox.servers.airflow_env import AIRFLOW_VERSIONS

    return AIRFLOW_VERSIONS[0]


def check_airflow_tools() -> None:
    from braindump_cli.sandbox.servers.postgres import pg_bin_dir

    try:
        if not (pg_bin_dir() / "initdb").exists():  # BD_PG_BIN is taken as given by the harness
            raise FileNotFoundError("initdb")
    except FileNotFoundError as e:
        raise UsageError(
            "PostgreSQL server binaries (initdb, pg_ctl) are not installed; the Airflow piece runs a "
            "throwaway PostgreSQL",
            hint="install it: apt-get install postgresql",
        ) from e
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError as e:
            raise UsageError(
                "PostgreSQL refuses to run as root and there is no `postgres` user to run it as",
                hint="install the server package, which creates that user: apt-get install postgresql",
            ) from e


def _as_postgres() -> list[str]:
    # PostgreSQL refuses uid 0: as root, run pg_ctl as the `postgres` OS user (as the harness does)
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def _postmaster_pid(data_dir: Path) -> int:
    return int((data_dir / "postmaster.pid").read_text().split()[0])


# Complexity over 10 on purpose: one start-or-resume sequence whose steps each undo on failure; splitting it would
# separate a step from its undo.
def start_airflow_component(directory: Path, previous: Entry | None, progress: Progress) -> Entry:  # noqa: C901
    """A PostgreSQL holding a real Airflow schema (`airflow db migrate`), resumed if its data was kept."""
    from braindump_cli.sandbox.servers.airflow_env import ensure_airflow_venv, migrate_airflow_db
    from braindump_cli.sandbox.servers.postgres import PostgresServer, pg_bin_dir, start_postgres

    version = airflow_version()
    try:
        ensure_airflow_venv(version, progress=progress)
    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
        raise BdError(f"could not build the Airflow {version} virtualenv: {_short(e)}") from e
    bin_dir = pg_bin_dir()
    server: PostgresServer | None = None
    if previous is not None and (Path(previous["root"]) / "data" / "PG_VERSION").is_file():
        server = _resume_postgres(Path(previous["root"]), int(previous["port"]), bin_dir, progress)
    elif previous is not None:
        shutil.rmtree(previous["root"], ignore_errors=True)  # a half-made data dir: start afresh
    fresh = server is None
    if server is None:
        try:
            server = start_postgres(progress=progress)
        except (RuntimeError, OSError, TimeoutError, KeyError) as e:
            raise BdError(f"PostgreSQL did not start: {_short(e)}") from e
    # The schema lives in the sandbox's own database; the server is started by the harness in a
    # temp dir because the `postgres` user cannot enter a home directory such as /root.
    try:
        if fresh or not server.database_exists(AIRFLOW_DATABASE):
            server.create_database(AIRFLOW_DATABASE)
        url = server.url(AIRFLOW_DATABASE)
        if not _schema_revision(server):
            migrate_airflow_db(version, url, progress=progress)
            # a fresh schema gets example DAGs, so delete-dag/restore-dag have something to work on
            from braindump_cli.sandbox.airflow_seed import seed_example_dags

            seed_example_dags(url, progress=progress)
        pid = _postmaster_pid(server.data_dir)
        proc = record_process("postgres", pid)
    except BaseException as e:
        if fresh:
            server.stop()  # a half-made fresh server is removed; a resumed one keeps its data
        if isinstance(e, (RuntimeError, OSError, ValueError)):
            raise BdError(f"Airflow {version} schema could not be created: {_short(e)}") from e
        raise
    return {
        "root": str(server.root),
        "port": server.port,
        "database": AIRFLOW_DATABASE,
        "airflow_version": version,
        "processes": [proc.to_json()],
        "ports": [["127.0.0.1", server.port]],
        "data": [str(server.root)],
        "endpoints": {"url": url, "airflow_version": version},
        "env": {"BD_AIRFLOW_CONN": url},
    }


def _resume_postgres(root: Path, port: int, bin_dir: Path, progress: Progress) -> Any:
    """Start a kept data directory again on its old port (`pg_ctl restart` reuses postmaster.opts)."""
    from braindump_cli.sandbox.servers.postgres import PostgresServer

    if port_in_use("127.0.0.1", port):
        raise UsageError(
            f"127.0.0.1:{port}, the port of the sandbox's kept PostgreSQL, is in use by another process",
            hint="stop that process, or drop the kept data: bd sandbox down && bd sandbox up",
        )
    progress(f"starting the kept PostgreSQL in {root} on 127.0.0.1:{port}")
    proc = subprocess.run(
        [*_as_postgres(), str(bin_dir / "pg_ctl"), "-D", str(root / "data"), "-l", str(root / "server.log"),
         "-w", "-t", "60", "restart"],
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise BdError(
            f"the kept PostgreSQL did not start: {_short(RuntimeError(proc.stderr or proc.stdout))}",
            hint=f"see {root / 'server.log'}; or drop the kept data: bd sandbox down && bd sandbox up",
        )
    return PostgresServer(root=root, port=port, bin_dir=bin_dir)


def _schema_revision(server: Any) -> str:
    with contextlib.suppress(RuntimeError, OSError):
        out: str = server.psql("SELECT version_num FROM alembic_version", database=AIRFLOW_DATABASE)
        return out.strip()
    return ""


def probe_airflow(entry: Entry) -> tuple[bool, str]:
    """(ready, detail): the database answers and holds Airflow's alembic revision."""
    from braindump_cli.sandbox.servers.postgres import PostgresServer, pg_bin_dir

    try:
        server = PostgresServer(root=Path(entry["root"]), port=int(entry["port"]), bin_dir=pg_bin_dir())
    except FileNotFoundError:
        return False, "PostgreSQL binaries are gone"
    revision = _schema_revision(server)
    if revision:
        return True, f"Airflow {entry['airflow_version']} schema, alembic revision {revision}"
    return False, "no Airflow schema (alembic_version) in the database, or the server does not answer"
