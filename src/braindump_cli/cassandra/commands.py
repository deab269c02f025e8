"""The `bd cassandra` recipes: thin glue of the CQL adapter and the pure ring/consistency math.

Each function connects with `CassandraSettings`, reads what it needs from system tables and
returns frozen dataclasses; the CLI renders them. Nothing here prints.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from braindump_cli.cassandra import adapter, capacity, keys
from braindump_cli.cassandra import consistency as cl
from braindump_cli.cassandra import ring as ringmath
from braindump_cli.cassandra.adapter import NodeViews
from braindump_cli.cassandra.capacity import CapacityReport
from braindump_cli.cassandra.keyspace_checks import KeyspaceWarning, check_keyspace
from braindump_cli.cassandra.model import Keyspace, Ring
from braindump_cli.cassandra.plan import AllocatorSetting, PlanReport, plan_add, plan_decommission, plan_replace
from braindump_cli.cassandra.ring import TokenRange
from braindump_cli.cassandra.survive import SurviveReport, analyse_survival
from braindump_cli.errors import NotFoundError, UsageError
from braindump_cli.progress import Progress, no_progress
from braindump_cli.settings import CassandraSettings

SCHEMA_VERSION = 1


# ---------------------------------------------------------------- ring


@dataclass(frozen=True)
class RingNode:
    """One node as `bd cassandra ring` shows it (`nodetool status` + `nodetool ring` figures)."""

    address: str
    datacenter: str
    rack: str
    up: bool
    state: str
    tokens: int
    owns: float | None
    owns_effective: float | None
    host_id: str | None
    release_version: str | None
    load_bytes: int | None
    token_values: tuple[int, ...] | None = None


@dataclass(frozen=True)
class RingReport:
    cluster_name: str | None
    keyspace: str | None
    nodes: tuple[RingNode, ...]


def ring_nodes(ring: Ring, keyspace: Keyspace | None, *, with_tokens: bool = False) -> tuple[RingNode, ...]:
    """Per-node ring figures; `owns_effective` needs a keyspace (as for `nodetool status KS`)."""
    primary = ringmath.primary_ownership(ring)
    effective = ringmath.effective_ownership(ring, keyspace.replication) if keyspace is not None else {}
    return tuple(
        RingNode(
            address=n.address,
            datacenter=n.datacenter,
            rack=n.rack,
            up=n.up,
            state=n.state,
            tokens=len(n.tokens),
            owns=primary.get(n.address),
            owns_effective=effective.get(n.address) if keyspace is not None else None,
            host_id=n.host_id,
            release_version=n.release_version,
            load_bytes=n.load_bytes,
            token_values=n.tokens if with_tokens else None,
        )
        for n in ring.nodes
    )


def describe_ring(settings: CassandraSettings, *, keyspace: str | None = None, with_tokens: bool = False) -> RingReport:
    """Every node with DC, rack, liveness, token count and ownership (effective for `keyspace`)."""
    with adapter.connect(settings) as cql:
        ks = cql.keyspace(keyspace) if keyspace is not None else None
        ring, _ = cql.read_ring()
    return RingReport(ring.cluster_name, keyspace, ring_nodes(ring, ks, with_tokens=with_tokens))


# ---------------------------------------------------------------- endpoints


@dataclass(frozen=True)
class Endpoints:
    """Where one partition key lives: its Murmur3 token and replica addresses (primary first)."""

    token: int
    replicas: tuple[str, ...]


def find_endpoints(settings: CassandraSettings, keyspace: str, table: str, key: Sequence[str]) -> Endpoints:
    """The token and replicas of a partition key given as one string per partition key column."""
    return find_endpoints_many(settings, keyspace, table, [key])[0]


def find_endpoints_many(
    settings: CassandraSettings, keyspace: str, table: str, keys_: Sequence[Sequence[str]]
) -> list[Endpoints]:
    """`find_endpoints` for many keys of one table over one connection."""
    with adapter.connect(settings) as cql:
        columns = cql.partition_key(keyspace, table)
        ks = cql.keyspace(keyspace)
        ring, _ = cql.read_ring()
    types = [c.cql_type for c in columns]
    token_ring = ringmath.build_token_ring(ring)
    out = []
    for key in keys_:
        try:
            token = keys.partition_key_token(types, keys.parse_partition_key(types, list(key)))
        except UsageError as e:
            if e.hint is None:
                shape = ", ".join(f"{c.name} {c.cql_type}" for c in columns)
                e.hint = (
                    f"the partition key of {keyspace}.{table} is ({shape}): one value per column, as nodetool "
                    "getendpoints takes them; collections and tuples as CQL literals, e.g. [1, 2] or (1, 'a')"
                )
            raise
        replicas = ringmath.endpoints_for_token(token_ring, ks.replication, token)
        out.append(Endpoints(token, tuple(n.address for n in replicas)))
    return out


# ---------------------------------------------------------------- status


STATUS_SCHEMA_VERSION = 2


@dataclass(frozen=True)
class StatusNode:
    """One node as `nodetool status` shows it, plus its own tpstats, compactionstats and pending hints."""

    address: str
    host_id: str | None
    datacenter: str
    rack: str
    up: bool
    state: str
    status: str  # nodetool's two letters: U/D then N/J/L/M
    tokens: int
    owns: float | None
    owns_effective: float | None
    load_bytes: int | None
    schema_version: str | None
    release_version: str | None
    views: NodeViews


@dataclass(frozen=True)
class ClusterStatus:
    cluster_name: str | None
    partitioner: str
    snitch: str | None
    keyspace: str | None
    schema_agreement: bool
    schema_versions: dict[str, tuple[str, ...]]
    nodes: tuple[StatusNode, ...]
    schema_version: int = field(default=STATUS_SCHEMA_VERSION)


def describe_status(
    settings: CassandraSettings, *, keyspace: str | None = None, progress: Progress = no_progress
) -> ClusterStatus:
    """`nodetool status [KS]`, `tpstats`, `compactionstats` and pending hints of every node, over CQL only."""
    with adapter.connect(settings) as cql:
        ks = cql.keyspace(keyspace) if keyspace is not None else None
        ring, infos = cql.read_ring()
        snitch = cql.setting("endpoint_snitch")
        views = {}
        for n in ring.nodes:
            progress(f"reading system_views on {n.address}")
            views[n.address] = cql.node_views(cql.host_for(n.host_id) if n.up else None, n.address)
    nodes = tuple(
        StatusNode(
            address=r.address,
            host_id=r.host_id,
            datacenter=r.datacenter,
            rack=r.rack,
            up=r.up,
            state=r.state,
            status=("U" if r.up else "D") + r.state[:1],
            tokens=r.tokens,
            owns=r.owns,
            owns_effective=r.owns_effective,
            load_bytes=r.load_bytes,
            schema_version=infos[r.address].schema_version,
            release_version=r.release_version,
            views=views[r.address],
        )
        for r in ring_nodes(ring, ks)
    )
    versions: dict[str, list[str]] = {}
    for sn in nodes:
        if sn.up and sn.schema_version:
            versions.setdefault(sn.schema_version, []).append(sn.address)
    return ClusterStatus(
        cluster_name=ring.cluster_name,
        partitioner=ring.partitioner,
        snitch=snitch.rsplit(".", 1)[-1] if snitch else None,
        keyspace=keyspace,
        schema_agreement=len(versions) <= 1,
        schema_versions={v: tuple(a) for v, a in sorted(versions.items())},
        nodes=nodes,
    )


# ---------------------------------------------------------------- keyspaces


@dataclass(frozen=True)
class KeyspaceInfo:
    name: str
    strategy: str
    replication: dict[str, int]
    durable_writes: bool
    tables: tuple[str, ...]
    warnings: tuple[KeyspaceWarning, ...]


@dataclass(frozen=True)
class KeyspacesReport:
    keyspaces: tuple[KeyspaceInfo, ...]
    schema_version: int = field(default=SCHEMA_VERSION)


def keyspace_info(ks: Keyspace, ring: Ring) -> KeyspaceInfo:
    return KeyspaceInfo(
        name=ks.name,
        strategy=ks.replication.strategy,
        replication=dict(ks.replication.factors),
        durable_writes=ks.durable_writes,
        tables=ks.tables,
        warnings=check_keyspace(ks, ring),
    )


def describe_keyspaces(settings: CassandraSettings, *, name: str | None = None) -> KeyspacesReport:
    """Replication, durable_writes, tables and replication warnings of every keyspace (or one)."""
    with adapter.connect(settings) as cql:
        found = cql.keyspaces(name)
        ring, _ = cql.read_ring()
    return KeyspacesReport(tuple(keyspace_info(ks, ring) for ks in found))


# ---------------------------------------------------------------- consistency


@dataclass(frozen=True)
class OperationVerdict:
    achievable: bool | None  # None: the level is not valid for this operation (reads at ANY)
    failing_ranges: int


@dataclass(frozen=True)
class LevelReport:
    level: str
    required: int
    scope: str
    required_per_dc: dict[str, int]
    read: OperationVerdict
    write: OperationVerdict
    tolerates: int | None  # node losses survived in the worst range; None: any number
    losses_to_break: int | None
    breaking_nodes: tuple[str, ...]
    worst_range: TokenRange | None


@dataclass(frozen=True)
class RangeLevel:
    required: int
    alive: int
    read: bool | None
    write: bool | None


@dataclass(frozen=True)
class RangeReport:
    start: int
    end: int
    replicas: tuple[str, ...]
    live: tuple[str, ...]
    levels: dict[str, RangeLevel]


@dataclass(frozen=True)
class RangeGroupReport:
    """Ranges with the same replica and live counts per DC share every verdict."""

    ranges: int
    replicas_per_dc: dict[str, int]
    live_per_dc: dict[str, int]
    example_range: TokenRange
    example_replicas: tuple[str, ...]
    example_live: tuple[str, ...]


@dataclass(frozen=True)
class ConsistencyAnalysis:
    keyspace: str
    strategy: str
    replication: dict[str, int]
    local_dc: str
    down: tuple[str, ...]  # every node counted as down: reported down by the cluster or --down
    simulated_down: tuple[str, ...]
    range_count: int
    levels: tuple[LevelReport, ...]
    range_groups: tuple[RangeGroupReport, ...]
    ranges: tuple[RangeReport, ...] | None
    require: str | None
    required_failed: str | None = field(default=None, repr=False)
    schema_version: int = field(default=SCHEMA_VERSION)


def _resolve_down(ring: Ring, names: Sequence[str]) -> tuple[str, ...]:
    """--down takes addresses or host ids; the analysis wants addresses."""
    by_id = {n.host_id: n.address for n in ring.nodes if n.host_id}
    addresses = {n.address for n in ring.nodes}
    out = []
    for name in names:
        if name in addresses:
            out.append(name)
        elif name.lower() in by_id:
            out.append(by_id[name.lower()])
        else:
            raise NotFoundError(
                f"--down {name!r} is not a node of the ring",
                hint="give an address or host id from `bd cassandra ring`",
            )
    return tuple(dict.fromkeys(out))


def consistency_report(
    keyspace: Keyspace,
    ring: Ring,
    *,
    local_dc: str | None,
    levels: Sequence[str] | None = None,
    down: Sequence[str] = (),
    require: str | None = None,
    with_ranges: bool = False,
) -> ConsistencyAnalysis:
    """The pure part of `analyse_consistency`: a ring and keyspace in, the report out."""
    wanted = tuple(cl.normalize_level(x) for x in (levels or cl.LEVELS))
    required_level = cl.normalize_level(require) if require else None
    if required_level and required_level not in wanted:
        wanted = (*wanted, required_level)
    simulated = _resolve_down(ring, down)
    replica_map = ringmath.build_replica_map(ring, keyspace.replication)
    rep = cl.analyze_consistency(
        ring, keyspace.replication, local_dc=local_dc, down=simulated, levels=wanted, replica_map=replica_map
    )
    level_reports = tuple(
        LevelReport(
            level=s.level,
            required=s.requirement.block_for,
            scope=s.requirement.scope,
            required_per_dc=dict(s.requirement.per_dc),
            read=OperationVerdict(s.read_ok, s.failing_ranges_read),
            write=OperationVerdict(s.write_ok, s.failing_ranges_write),
            tolerates=s.tolerates,
            losses_to_break=s.losses_to_break,
            breaking_nodes=s.breaking_nodes,
            worst_range=s.worst_range,
        )
        for s in rep.levels
    )
    ranges = None
    if with_ranges:
        ranges = tuple(
            RangeReport(
                start=rv.range.start,
                end=rv.range.end,
                replicas=rv.replicas,
                live=rv.live,
                levels={
                    lv: RangeLevel(rv.write[lv].required, rv.write[lv].alive, rv.read[lv].ok, rv.write[lv].ok)
                    for lv in wanted
                },
            )
            for rv in cl.iter_range_verdicts(
                ring,
                keyspace.replication,
                local_dc=rep.local_dc,
                down=simulated,
                levels=wanted,
                replica_map=replica_map,
            )
        )
    down_all = tuple(sorted({*(n.address for n in ring.nodes if not n.up), *simulated}, key=adapter.address_key))
    failed = None
    if required_level:
        s = next(x for x in level_reports if x.level == required_level)
        broken = [op for op, v in (("reads", s.read), ("writes", s.write)) if v.achievable is False]
        if broken:
            counts = max(s.read.failing_ranges, s.write.failing_ranges)
            failed = (
                f"{required_level} is not achievable for {' and '.join(broken)} on {keyspace.name}: "
                f"{counts} of {rep.range_count} token ranges lack live replicas"
                + (f" (down: {', '.join(down_all)})" if down_all else "")
            )
    return ConsistencyAnalysis(
        keyspace=keyspace.name,
        strategy=rep.strategy,
        replication=dict(keyspace.replication.factors),
        local_dc=rep.local_dc,
        down=down_all,
        simulated_down=simulated,
        range_count=rep.range_count,
        levels=level_reports,
        range_groups=tuple(
            RangeGroupReport(
                g.range_count,
                dict(g.replicas_per_dc),
                dict(g.live_per_dc),
                g.example_range,
                g.example_replicas,
                g.example_live,
            )
            for g in rep.groups
        ),
        ranges=ranges,
        require=required_level,
        required_failed=failed,
    )


def analyse_consistency(
    settings: CassandraSettings,
    keyspace: str,
    *,
    levels: Sequence[str] | None = None,
    down: Sequence[str] = (),
    require: str | None = None,
    with_ranges: bool = False,
) -> ConsistencyAnalysis:
    """Per level and token range: replicas, live replicas, required replicas and verdicts.

    The local DC for LOCAL_* levels is `settings.local_dc`, else the DC the driver picked for its
    contact points. `down` simulates failures on top of the nodes the cluster reports down.
    """
    for lv in (*(levels or ()), *([require] if require else [])):
        cl.normalize_level(lv)  # a typo fails before connecting
    with adapter.connect(settings) as cql:
        ks = cql.keyspace(keyspace)
        ring, _ = cql.read_ring()
        local_dc = settings.local_dc or cql.local_dc()
    return consistency_report(
        ks, ring, local_dc=local_dc, levels=levels, down=down, require=require, with_ranges=with_ranges
    )


# ---------------------------------------------------------------- survive


def survive_keyspace(
    settings: CassandraSettings,
    keyspace: str,
    *,
    levels: Sequence[str] | None = None,
    nodes: int | None = None,
    racks: int | None = None,
    dc: str | None = None,
    progress: Progress = no_progress,
) -> SurviveReport:
    """The exact worst loss of K nodes, K racks or one DC for each level, on the live ring.

    The data share weighs each range by system.size_estimates (all nodes asked); where no node has
    estimates yet, only the token share is reported.
    """
    if sum(x is not None for x in (nodes, racks, dc)) > 1:
        raise UsageError("give one of --nodes, --racks, --dc")
    for lv in levels or ():
        cl.normalize_level(lv)
    with adapter.connect(settings) as cql:
        ks = cql.keyspace(keyspace)
        ring, _ = cql.read_ring()
        local_dc = settings.local_dc or cql.local_dc() or ""
        progress("reading system.size_estimates on every live node")
        sizes = cql.range_sizes(keyspace, [cql.host_for(n.host_id) for n in ring.nodes if n.up])
    token_ring = ringmath.build_token_ring(ring)
    data: list[float] | None = None
    if any(sizes.values()):
        data = [0.0] * len(token_ring.tokens)
        for end, size in sizes.items():
            data[token_ring.range_index(end)] += size
    progress("searching the worst failures")
    return analyse_survival(
        ring,
        ks.replication,
        keyspace=keyspace,
        local_dc=local_dc,
        levels=levels or cl.LEVELS,
        nodes=nodes if nodes is not None or racks is not None or dc is not None else 2,
        racks=racks,
        dc=dc,
        data_per_range=data,
    )


# ---------------------------------------------------------------- plan

_REPLICATED = ("SimpleStrategy", "NetworkTopologyStrategy", "EverywhereStrategy")


def _set(value: str | None) -> str | None:
    return None if value in (None, "", "null") else value


def token_allocation(settings_of: Mapping[str, str | None], keyspace_of: Callable[[str], Keyspace]) -> AllocatorSetting:
    """How a joining node picks tokens on this cluster (BootStrapper.getBootstrapTokens: keyspace, then local RF)."""
    ks = _set(settings_of.get("allocate_tokens_for_keyspace"))
    if ks is not None:
        return AllocatorSetting(keyspace=keyspace_of(ks))
    rf = _set(settings_of.get("allocate_tokens_for_local_replication_factor"))
    return AllocatorSetting(local_rf=int(rf)) if rf is not None else AllocatorSetting()


def plan_topology(
    settings: CassandraSettings,
    *,
    add: int | None = None,
    dc: str | None = None,
    rack: str | None = None,
    decommission: str | None = None,
    replace: str | None = None,
    keyspaces: Sequence[str] = (),
    allocate_rf: int | None = None,
    num_tokens: int | None = None,
    progress: Progress = no_progress,
) -> PlanReport:
    """Ownership after adding, decommissioning or replacing nodes, and the ranges and bytes that would stream.

    `allocate_rf` (0: random tokens) and `num_tokens` stand for the joining node's cassandra.yaml
    where it differs from the settings of the node bd reads them from.
    """
    if sum(x is not None for x in (add, decommission, replace)) != 1:
        raise UsageError("give exactly one of --add N, --decommission NODE, --replace NODE")
    if add is None and (allocate_rf is not None or num_tokens is not None):
        raise UsageError("--allocate-rf and --num-tokens describe the nodes of --add N")
    with adapter.connect(settings) as cql:
        ring, _ = cql.read_ring()
        all_ks = [cql.keyspace(k) for k in keyspaces] if keyspaces else cql.keyspaces()
        chosen = [k for k in all_ks if ringmath.strategy_name(k.replication) in _REPLICATED]
        names = ("num_tokens", "allocate_tokens_for_local_replication_factor", "allocate_tokens_for_keyspace")
        conf = {n: cql.setting(n) for n in names}
        allocator = (
            token_allocation(conf, cql.keyspace)
            if allocate_rf is None
            else AllocatorSetting(local_rf=allocate_rf or None)
        )
        progress("reading system.size_estimates on every live node")
        hosts = [cql.host_for(n.host_id) for n in ring.nodes if n.up]
        data = {k.name: cql.range_sizes(k.name, hosts) for k in chosen}
    sizes = {k: v for k, v in data.items() if any(v.values())} or None
    if decommission is not None:
        return plan_decommission(ring, chosen, decommission, data=sizes)
    if replace is not None:
        return plan_replace(ring, chosen, replace, data=sizes)
    tokens = num_tokens or int(conf["num_tokens"] or 0) or max((len(n.tokens) for n in ring.nodes), default=16)
    progress(f"picking tokens for {add} new node(s): {allocator.label}")
    return plan_add(ring, chosen, add or 0, dc=dc, rack=rack, num_tokens=tokens, allocator=allocator, data=sizes)


# ---------------------------------------------------------------- capacity


def _copies(ks: Keyspace, ring: Ring) -> int:
    """Replicas of each partition on this ring: the RF of every DC that has nodes (SimpleStrategy: min(RF, nodes))."""
    dcs = {n.datacenter for n in ring.nodes}
    if ringmath.strategy_name(ks.replication) == "SimpleStrategy":
        return min(sum(ks.replication.factors.values()), len(ring.nodes))
    if ringmath.strategy_name(ks.replication) == "EverywhereStrategy":
        return len(ring.nodes)
    return sum(rf for dc, rf in ks.replication.factors.items() if dc in dcs)


def capacity_report(
    settings: CassandraSettings,
    *,
    growth: float | None,
    growth_snapshot: Mapping[str, object] | None,
    horizon_days: int,
    disk_size: int | None,
    threshold: float | None = None,
    progress: Progress = no_progress,
) -> CapacityReport:
    """Disk use, skew and threshold dates per node, table sizes and the nodes the horizon needs."""
    if growth is not None and growth_snapshot is not None:
        raise UsageError("give --growth or --since, not both")
    with adapter.connect(settings) as cql:
        ring, _ = cql.read_ring()
        keyspaces = {k.name: k for k in cql.keyspaces()}
        classes = cql.compaction_classes()
        views = cql.virtual_tables()
        live = [(n, cql.host_for(n.host_id)) for n in ring.nodes if n.up]
        progress(f"reading system.size_estimates and system_views on {len(live)} live node(s)")
        estimates = cql.table_estimates([h for _, h in live])
        per_node = {n.address: cql.node_table_disk(h, views) for n, h in live}
    largest: dict[str, int] = {}
    for _, sizes in per_node.values():
        for key, size in sizes.items():
            largest[key] = max(largest.get(key, 0), size)
    tables = []
    for (ks_name, table), strategy in sorted(classes.items()):
        ks = keyspaces.get(ks_name)
        if ks is None or ringmath.strategy_name(ks.replication) not in _REPLICATED:
            continue
        one_copy, partitions = estimates.get((ks_name, table), (0.0, 0))
        tables.append(
            capacity.TableInput(
                keyspace=ks_name,
                table=table,
                strategy=strategy,
                replication_factor=_copies(ks, ring),
                estimated_bytes=one_copy,
                partitions=partitions,
                mean_partition_bytes=one_copy / partitions if partitions else None,
                max_partition_bytes=largest.get(f"{ks_name}.{table}"),
            )
        )
    nodes = [
        capacity.NodeInput(n.address, n.datacenter, n.rack, n.load_bytes, per_node.get(n.address, ({}, {}))[0])
        for n in ring.nodes
    ]
    now = dt.datetime.now(dt.timezone.utc)
    source = "--growth" if growth is not None else "none"
    if growth_snapshot is not None:
        total_now = sum(n.load_bytes or sum(n.disk_by_table.values()) for n in nodes)
        growth, source = capacity.growth_since(growth_snapshot, total_now, now), "--since SNAPSHOT"
    return capacity.plan_capacity(
        tables,
        nodes,
        now=now,
        growth=growth,
        growth_source=source,
        horizon_days=horizon_days,
        disk_size=disk_size,
        threshold=threshold,
    )
