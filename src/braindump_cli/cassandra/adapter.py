"""The only module that talks CQL: builds `model.Ring`/`model.Keyspace` from system tables.

cassandra-driver is imported lazily inside functions. The driver's own schema and token metadata
are turned off: bd reads `system.local`, `system.peers_v2` and `system_schema.*` itself, so
connecting stays fast on a 1,000-node ring (the driver would rebuild a replica map per keyspace).
Every name the user gives is a bound parameter of a query on a system table; bd never pastes an
identifier into CQL text.

Liveness is the client's view: the load-balancing policy is DC-aware with every remote host at
REMOTE distance, so bd opens one connection to every node of every DC and a node is up when that
connection is open (the driver alone leaves remote-DC hosts "unknown").
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from braindump_cli.cassandra.model import Keyspace, Node, Replication, Ring
from braindump_cli.deadline import DeadlineExceeded, call_with_deadline
from braindump_cli.errors import NotFoundError, PermissionDeniedError, UnreachableError, UsageError
from braindump_cli.settings import CassandraSettings

log = logging.getLogger(__name__)

# Remote DCs get this many hosts at REMOTE distance: all of them, in any real cluster.
_ALL_REMOTE_HOSTS = 1_000_000

_GOSSIP_STATES = {
    "NORMAL": "NORMAL",
    "BOOT": "JOINING",
    "BOOT_REPLACE": "JOINING",
    "LEAVING": "LEAVING",
    "LEFT": "LEFT",
    "MOVING": "MOVING",
    "REMOVING": "REMOVING",
    "REMOVED": "REMOVED",
    "HIBERNATE": "HIBERNATE",
    "SHUTDOWN": "SHUTDOWN",
}


def quote_identifier(name: str) -> str:
    """A CQL identifier, double-quoted with embedded quotes doubled (case and unicode preserved)."""
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class KeyColumn:
    name: str
    cql_type: str


@dataclass(frozen=True)
class NodeInfo:
    """What the coordinator's system tables say about one node, beyond `model.Node`."""

    address: str
    schema_version: str | None
    native_address: str | None


@dataclass(frozen=True)
class ThreadPool:
    """One row of system_views.thread_pools (what `nodetool tpstats` prints)."""

    name: str
    active: int
    pending: int
    blocked: int
    blocked_all_time: int | None
    completed: int | None


@dataclass(frozen=True)
class SSTableTask:
    """One running compaction, cleanup, scrub, ... from system_views.sstable_tasks (`nodetool compactionstats`)."""

    keyspace: str
    table: str
    kind: str
    task_id: str
    progress: int
    total: int
    unit: str


@dataclass(frozen=True)
class PendingHints:
    """Hints this node holds for one target node, from system_views.pending_hints (4.1+)."""

    host_id: str
    address: str | None
    datacenter: str | None
    rack: str | None
    status: str | None
    files: int
    oldest: str | None
    newest: str | None
    total_bytes: int | None


@dataclass(frozen=True)
class NodeViews:
    """Node-local virtual tables (system_views, Cassandra 4.0+); `error` says why they are missing.

    `pending_hints` is None where the server has no system_views.pending_hints (before 4.1).
    """

    address: str
    available: bool
    error: str | None = None
    thread_pools: tuple[ThreadPool, ...] = ()
    sstable_tasks: tuple[SSTableTask, ...] = ()
    pending_hints: tuple[PendingHints, ...] | None = None
    pending_compactions: int | None = None
    active_compactions: int | None = None
    disk_usage_mib: int | None = None
    client_connections: int | None = None


def _silence_driver_logging() -> None:
    # Without a handler anywhere, Python's last-resort handler would print the driver's
    # reconnect warnings on stderr; --debug configures the root logger, which still receives them.
    drv = logging.getLogger("cassandra")
    if not any(isinstance(h, logging.NullHandler) for h in drv.handlers):
        drv.addHandler(logging.NullHandler())


def _ssl_context(settings: CassandraSettings) -> ssl.SSLContext | None:
    if not settings.uses_tls:
        return None
    ctx = ssl.create_default_context(cafile=str(settings.ssl_ca) if settings.ssl_ca else None)
    if settings.ssl_cert is not None:
        try:
            ctx.load_cert_chain(str(settings.ssl_cert), str(settings.ssl_key) if settings.ssl_key else None)
        except (OSError, ssl.SSLError) as e:
            raise UsageError(
                f"cannot load the TLS client certificate {settings.ssl_cert}: {e}",
                hint="pass PEM files to --ssl-cert and --ssl-key (the key unencrypted)",
            ) from e
    if not settings.ssl_verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _describe_no_host(exc: Exception) -> tuple[str, bool]:
    """A one-line reason from NoHostAvailable's per-host errors, and whether it is an auth failure."""
    errors = getattr(exc, "errors", None) or {}
    auth = False
    parts = []
    for endpoint, err in list(errors.items())[:3]:
        name = type(err).__name__
        text = str(err)
        auth = auth or "Authentication" in name or "authentication" in text.lower() or "credentials" in text.lower()
        if isinstance(err, ConnectionRefusedError) or "Connection refused" in text:
            reason = "connection refused"
        elif "timed out" in text.lower() or "Timeout" in name:
            reason = "timed out"
        else:
            detail = text.splitlines()[0][:160] if text else ""
            reason = f"{name}" + (f" ({detail})" if detail else "")
        parts.append(f"{endpoint}: {reason}")
    if len(errors) > 3:
        parts.append(f"and {len(errors) - 3} more")
    return "; ".join(parts) or str(exc), auth


class CassandraSession:
    """One connection to a cluster. Use `connect(settings)` as a context manager."""

    def __init__(self, settings: CassandraSettings) -> None:
        self.settings = settings
        self._deadline = time.monotonic() + settings.timeout
        self._cluster: Any = None
        self._session: Any = None
        self._open()

    # -- connection -------------------------------------------------------------------------

    def _open(self) -> None:
        _silence_driver_logging()
        from cassandra.auth import PlainTextAuthProvider
        from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
        from cassandra.policies import DCAwareRoundRobinPolicy, ExponentialReconnectionPolicy

        from cassandra import ProtocolVersion

        s = self.settings
        policy = DCAwareRoundRobinPolicy(local_dc=s.local_dc, used_hosts_per_remote_dc=_ALL_REMOTE_HOSTS)
        profile = ExecutionProfile(load_balancing_policy=policy, request_timeout=s.timeout)
        auth = PlainTextAuthProvider(username=s.username, password=s.password or "") if s.username else None
        self._cluster = Cluster(
            contact_points=list(s.hosts),
            port=s.port,
            auth_provider=auth,
            ssl_context=_ssl_context(s),
            execution_profiles={EXEC_PROFILE_DEFAULT: profile},
            connect_timeout=s.timeout,
            control_connection_timeout=s.timeout,
            schema_metadata_enabled=False,
            token_metadata_enabled=False,
            reconnection_policy=ExponentialReconnectionPolicy(60.0, 600.0),
            idle_heartbeat_interval=0,
        )
        # Start the negotiation at v5 (Cassandra 4.0+) instead of DSE v66: two round trips fewer per
        # connection. Set after construction so the driver may still downgrade for Cassandra 3.x.
        self._cluster.protocol_version = ProtocolVersion.V5
        where = ",".join(s.hosts) + f":{s.port}"
        # The driver tries contact points one after another, each up to connect_timeout; a daemon
        # thread lets bd give up at --timeout whatever the driver does.
        try:
            self._session = call_with_deadline(
                self._cluster.connect, seconds=self._remaining(), name="bd-cassandra-connect"
            )
        except DeadlineExceeded:
            self._shutdown_background()
            raise UnreachableError(
                f"no Cassandra node answered at {where} within {s.timeout:g}s",
                hint="check --hosts/--port (or BD_CASSANDRA_HOSTS) and that the nodes listen for CQL; "
                "raise --timeout on a slow network",
            ) from None
        except Exception as error:
            self._shutdown_background()
            self._raise_connect_error(error, where)
        self._wait_for_pools()

    def _raise_connect_error(self, err: BaseException, where: str) -> None:
        from cassandra.cluster import NoHostAvailable

        from cassandra import AuthenticationFailed, OperationTimedOut

        if isinstance(err, NoHostAvailable):
            reason, auth = _describe_no_host(err)
            if auth:
                raise PermissionDeniedError(
                    f"Cassandra at {where} refused the credentials: {reason}",
                    hint="check --username and the password (BD_CASSANDRA_PASSWORD or --password-file)",
                ) from err
            raise UnreachableError(
                f"cannot connect to Cassandra: {reason}",
                hint="check --hosts/--port (or BD_CASSANDRA_HOSTS), TLS options and that CQL is enabled",
            ) from err
        if isinstance(err, AuthenticationFailed):
            raise PermissionDeniedError(
                f"Cassandra at {where} refused the credentials",
                hint="check --username and the password (BD_CASSANDRA_PASSWORD or --password-file)",
            ) from err
        if isinstance(err, (OperationTimedOut, OSError)):
            raise UnreachableError(
                f"cannot connect to Cassandra at {where}: {err}",
                hint="check --hosts/--port (or BD_CASSANDRA_HOSTS), TLS options and that CQL is enabled",
            ) from err
        if isinstance(err, Exception):
            raise err
        raise UnreachableError(f"connecting to {where} was interrupted") from err

    def _wait_for_pools(self) -> None:
        """Wait (within the deadline) until the driver has tried every node it connects to: each
        has a connection pool (`Session.get_pool_state`) or is marked down (`Host.is_up` False).
        `connect()` returns as soon as one node answers; until the others are tried, up and down
        cannot be told apart. Hosts the load-balancing policy ignores get no pool and are not waited for."""
        from cassandra.policies import HostDistance

        cluster, session = self._cluster, self._session
        hosts = [h for h in cluster.metadata.all_hosts() if cluster.profile_manager.distance(h) != HostDistance.IGNORED]
        while time.monotonic() < self._deadline:
            pools = session.get_pool_state()
            if all(h in pools or h.is_up is False for h in hosts):
                return
            time.sleep(0.02)

    def _remaining(self) -> float:
        return max(self._deadline - time.monotonic(), 0.05)

    def _shutdown_background(self) -> None:
        cluster = self._cluster
        threading.Thread(target=cluster.shutdown, name="bd-cassandra-shutdown", daemon=True).start()

    def close(self) -> None:
        if self._cluster is not None:
            self._cluster.shutdown()
            self._cluster = None

    # -- queries ----------------------------------------------------------------------------

    def _coordinator(self) -> Any:
        return self._cluster.get_control_connection_host()

    def query(self, cql: str, params: Iterable[Any] = (), *, host: Any = None) -> list[Any]:
        """Run one read on system tables; driver errors become bd errors."""
        from cassandra.cluster import NoHostAvailable

        from cassandra import OperationTimedOut, Unavailable

        try:
            rs = self._session.execute(cql, tuple(params), timeout=self._remaining(), host=host)
            return list(rs)
        except (NoHostAvailable, OperationTimedOut, Unavailable) as e:
            raise UnreachableError(
                f"Cassandra did not answer `{cql.split(' WHERE ')[0]}`: {e}",
                hint="see which nodes are down with `bd cassandra status`, or raise --timeout",
            ) from e

    def local_dc(self) -> str | None:
        policy = self._cluster.profile_manager.default.load_balancing_policy
        dc = getattr(policy, "local_dc", None)
        return str(dc) if dc else None

    def _up_host_ids(self) -> tuple[set[str], dict[str, Any]]:
        pools = self._session.get_pool_state()
        up: set[str] = set()
        hosts: dict[str, Any] = {}
        for host in self._cluster.metadata.all_hosts():
            hid = str(host.host_id) if host.host_id else None
            if hid is None:
                continue
            hosts[hid] = host
            state = pools.get(host)
            if state and state.get("open_count", 0) > 0 and not state.get("shutdown"):
                up.add(hid)
        return up, hosts

    def host_for(self, host_id: str | None) -> Any:
        _, hosts = self._up_host_ids()
        return hosts.get(host_id or "")

    def read_ring(self) -> tuple[Ring, dict[str, NodeInfo]]:
        """Every node with its tokens, DC, rack and liveness, plus per-node schema versions."""
        coord = self._coordinator()
        local_rows = self.query(
            "SELECT broadcast_address, listen_address, rpc_address, data_center, rack, tokens, host_id, "
            "release_version, schema_version, cluster_name, partitioner FROM system.local",
            host=coord,
        )
        try:
            peers = self.query(
                "SELECT peer, native_address, data_center, rack, tokens, host_id, release_version, schema_version "
                "FROM system.peers_v2",
                host=coord,
            )
        except Exception:  # pre-4.0: no peers_v2
            peers = self.query(
                "SELECT peer, rpc_address AS native_address, data_center, rack, tokens, host_id, release_version, "
                "schema_version FROM system.peers",
                host=coord,
            )
        gossip = self._gossip(coord)
        up, _ = self._up_host_ids()
        loc = local_rows[0]
        rows = [
            (
                str(loc.broadcast_address or loc.listen_address),
                str(loc.rpc_address) if loc.rpc_address else None,
                loc,
            )
        ]
        rows += [(str(p.peer), str(p.native_address) if p.native_address else None, p) for p in peers]
        nodes = []
        infos: dict[str, NodeInfo] = {}
        for address, native, r in rows:
            hid = str(r.host_id) if r.host_id else None
            g = gossip.get(address, {})
            state = g.get("state") or "NORMAL"
            nodes.append(
                Node(
                    address=address,
                    datacenter=r.data_center or "",
                    rack=r.rack or "",
                    tokens=tuple(sorted(int(t) for t in (r.tokens or ()))),
                    up=hid in up and state != "SHUTDOWN",
                    state=state,
                    host_id=hid,
                    release_version=r.release_version,
                    load_bytes=g.get("load"),
                )
            )
            infos[address] = NodeInfo(address, str(r.schema_version) if r.schema_version else None, native)
        nodes.sort(key=lambda n: address_key(n.address))
        ring = Ring(nodes=tuple(nodes), cluster_name=loc.cluster_name, partitioner=loc.partitioner or Ring.partitioner)
        return ring, infos

    def _gossip(self, coord: Any) -> dict[str, dict[str, Any]]:
        """State and load per node from system_views.gossip_info (4.1+); {} where absent."""
        try:
            rows = self.query("SELECT * FROM system_views.gossip_info", host=coord)
        except Exception:
            return {}
        out: dict[str, dict[str, Any]] = {}
        for r in rows:
            d = r._asdict()
            status = d.get("status_with_port") or d.get("status") or ""
            word = status.split(",")[0].upper() if status else ""
            load = d.get("load")
            try:
                load_bytes = int(float(load)) if load else None
            except ValueError:
                load_bytes = None
            out[str(d["address"])] = {"state": _GOSSIP_STATES.get(word, word or None), "load": load_bytes}
        return out

    def keyspaces(self, name: str | None = None) -> list[Keyspace]:
        if name is None:
            rows = self.query("SELECT keyspace_name, durable_writes, replication FROM system_schema.keyspaces")
            tables = self.query("SELECT keyspace_name, table_name FROM system_schema.tables")
        else:
            rows = self.query(
                "SELECT keyspace_name, durable_writes, replication FROM system_schema.keyspaces "
                "WHERE keyspace_name = %s",
                (name,),
            )
            if not rows:
                raise NotFoundError(
                    f"keyspace {name!r} does not exist",
                    hint="names are case-sensitive; list them with `bd cassandra keyspaces`",
                )
            tables = self.query(
                "SELECT keyspace_name, table_name FROM system_schema.tables WHERE keyspace_name = %s", (name,)
            )
        by_ks: dict[str, list[str]] = {}
        for t in tables:
            by_ks.setdefault(t.keyspace_name, []).append(t.table_name)
        out = [
            Keyspace(
                name=r.keyspace_name,
                replication=parse_replication(dict(r.replication or {})),
                durable_writes=bool(r.durable_writes),
                tables=tuple(sorted(by_ks.get(r.keyspace_name, []))),
            )
            for r in rows
        ]
        return sorted(out, key=lambda k: k.name)

    def keyspace(self, name: str) -> Keyspace:
        return self.keyspaces(name)[0]

    def partition_key(self, keyspace: str, table: str) -> list[KeyColumn]:
        """The partition key columns of a table (or materialized view) in order, with CQL types."""
        ks = self.keyspace(keyspace)
        rows = self.query(
            "SELECT column_name, kind, position, type FROM system_schema.columns "
            "WHERE keyspace_name = %s AND table_name = %s",
            (keyspace, table),
        )
        keys = sorted((r for r in rows if r.kind == "partition_key"), key=lambda r: r.position)
        if not keys:
            raise NotFoundError(
                f"table {table!r} does not exist in keyspace {keyspace!r}",
                hint=f"tables of {keyspace}: {', '.join(ks.tables) or '(none)'} (names are case-sensitive)",
            )
        return [KeyColumn(r.column_name, r.type) for r in keys]

    def setting(self, name: str, *, host: Any = None) -> str | None:
        """One row of system_views.settings (4.0+), None where unavailable."""
        try:
            rows = self.query("SELECT value FROM system_views.settings WHERE name = %s", (name,), host=host)
        except Exception:
            return None
        return rows[0].value if rows else None

    def node_views(self, host: Any, address: str) -> NodeViews:
        """Node-local figures from that node's own system_views tables (`SELECT *`: columns vary by version)."""
        if host is None:
            return NodeViews(address, False, "node is down or unreachable from this client")
        try:
            pools = tuple(_thread_pool(r) for r in self.query("SELECT * FROM system_views.thread_pools", host=host))
            tasks = tuple(_sstable_task(r) for r in self.query("SELECT * FROM system_views.sstable_tasks", host=host))
            disk = self.query("SELECT mebibytes FROM system_views.disk_usage", host=host)
            clients = self.query("SELECT address FROM system_views.clients", host=host)
        except Exception as e:
            return NodeViews(address, False, f"system_views not available (Cassandra 4.0+ has them): {e}")
        compaction = next((p for p in pools if p.name == "CompactionExecutor"), None)
        return NodeViews(
            address=address,
            available=True,
            thread_pools=tuple(sorted(pools, key=lambda p: p.name)),
            sstable_tasks=tasks,
            pending_hints=self._pending_hints(host),
            pending_compactions=compaction.pending if compaction else None,
            active_compactions=compaction.active if compaction else None,
            disk_usage_mib=sum(d.mebibytes or 0 for d in disk),
            client_connections=len(clients),
        )

    def range_sizes(self, keyspace: str, hosts: Iterable[Any]) -> dict[int, float]:
        """Estimated bytes per token range (keyed by the range's end token) of a keyspace's tables.

        From system.size_estimates (mean partition size x partitions, per table and primary range),
        which each node keeps for its own primary ranges: every given host is asked.
        """
        sizes: dict[int, float] = {}
        for host in hosts:
            rows = self.query(
                "SELECT range_end, mean_partition_size, partitions_count FROM system.size_estimates "
                "WHERE keyspace_name = %s",
                (keyspace,),
                host=host,
            )
            for r in rows:
                end = int(r.range_end)
                sizes[end] = sizes.get(end, 0.0) + float((r.mean_partition_size or 0) * (r.partitions_count or 0))
        return sizes

    def virtual_tables(self) -> set[str]:
        """Names of the system_views tables this server has (probed in system_virtual_schema, 4.0+)."""
        try:
            rows = self.query(
                "SELECT table_name FROM system_virtual_schema.tables WHERE keyspace_name = 'system_views'"
            )
        except Exception:
            return set()
        return {r.table_name for r in rows}

    def compaction_classes(self) -> dict[tuple[str, str], str]:
        """(keyspace, table) -> the short class name of its compaction strategy."""
        rows = self.query("SELECT keyspace_name, table_name, compaction FROM system_schema.tables")
        return {
            (r.keyspace_name, r.table_name): str((r.compaction or {}).get("class", "")).rsplit(".", 1)[-1] for r in rows
        }

    def table_estimates(self, hosts: Iterable[Any]) -> dict[tuple[str, str], tuple[float, int]]:
        """(keyspace, table) -> (estimated bytes of one copy, partitions), summed over the hosts' primary ranges."""
        out: dict[tuple[str, str], tuple[float, int]] = {}
        for host in hosts:
            rows = self.query(
                "SELECT keyspace_name, table_name, mean_partition_size, partitions_count FROM system.size_estimates",
                host=host,
            )
            for r in rows:
                key = (r.keyspace_name, r.table_name)
                size, count = out.get(key, (0.0, 0))
                n = r.partitions_count or 0
                out[key] = (size + float((r.mean_partition_size or 0) * n), count + n)
        return out

    def node_table_disk(self, host: Any, views: set[str]) -> tuple[dict[str, int], dict[str, int]]:
        """One node's bytes on disk per "ks.table" (disk_usage) and largest partition per table (max_partition_size).

        Both views give mebibytes rounded up (TableMetricTables), so these are whole MiB.
        """
        disk: dict[str, int] = {}
        largest: dict[str, int] = {}
        if "disk_usage" in views:
            for r in self.query("SELECT keyspace_name, table_name, mebibytes FROM system_views.disk_usage", host=host):
                disk[f"{r.keyspace_name}.{r.table_name}"] = int(r.mebibytes or 0) * 2**20
        if "max_partition_size" in views:
            rows = self.query(
                "SELECT keyspace_name, table_name, mebibytes FROM system_views.max_partition_size", host=host
            )
            for r in rows:  # the server rounds up to whole MiB
                largest[f"{r.keyspace_name}.{r.table_name}"] = int(r.mebibytes or 0) * 2**20
        return disk, largest

    def _pending_hints(self, host: Any) -> tuple[PendingHints, ...] | None:
        try:
            rows = self.query("SELECT * FROM system_views.pending_hints", host=host)
        except Exception:  # before 4.1
            return None
        return tuple(sorted((_pending_hints(r) for r in rows), key=lambda h: address_key(h.address or h.host_id)))


def _col(row: Any, name: str) -> Any:
    """A column that some server versions lack: None there."""
    return getattr(row, name, None)


def _timestamp(value: Any) -> str | None:
    """ISO 8601 to the millisecond, Cassandra's precision (isoformat alone drops a zero fraction)."""
    return value.isoformat(timespec="milliseconds") if value is not None else None


def _thread_pool(r: Any) -> ThreadPool:
    return ThreadPool(
        name=r.name,
        active=r.active_tasks or 0,
        pending=r.pending_tasks or 0,
        blocked=r.blocked_tasks or 0,
        blocked_all_time=_col(r, "blocked_tasks_all_time"),
        completed=_col(r, "completed_tasks"),
    )


def _sstable_task(r: Any) -> SSTableTask:
    return SSTableTask(
        keyspace=r.keyspace_name,
        table=r.table_name,
        kind=r.kind,
        task_id=str(r.task_id),
        progress=r.progress or 0,
        total=r.total or 0,
        unit=r.unit,
    )


def _pending_hints(r: Any) -> PendingHints:
    return PendingHints(
        host_id=str(r.host_id),
        address=str(r.address) if _col(r, "address") is not None else None,
        datacenter=_col(r, "dc"),
        rack=_col(r, "rack"),
        status=_col(r, "status"),
        files=r.files or 0,
        oldest=_timestamp(_col(r, "oldest")),
        newest=_timestamp(_col(r, "newest")),
        total_bytes=_col(r, "total_size"),
    )


def address_key(address: str) -> tuple[int, int, str]:
    """Sort addresses numerically (10.0.0.9 before 10.0.0.10), names after them."""
    import ipaddress

    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return (9, 0, address)
    return (ip.version, int(ip), "")


def parse_replication(options: Mapping[str, str]) -> Replication:
    """system_schema.keyspaces.replication to `Replication` (transient "3/1" counts as 3)."""
    strategy = str(options.get("class", "")).rsplit(".", 1)[-1]

    def factor(value: str) -> int:
        return int(str(value).split("/")[0])

    if strategy == "SimpleStrategy":
        return Replication(strategy, {"": factor(options.get("replication_factor", "1"))})
    if strategy == "NetworkTopologyStrategy":
        return Replication(strategy, {k: factor(v) for k, v in sorted(options.items()) if k != "class"})
    return Replication(strategy, {})


@contextmanager
def connect(settings: CassandraSettings) -> Iterator[CassandraSession]:
    session = CassandraSession(settings)
    try:
        yield session
    finally:
        session.close()
