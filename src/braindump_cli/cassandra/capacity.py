"""Capacity planning from the live cluster: how full each node is, when it crosses its threshold, and
how many nodes the horizon needs.

Inputs (read by the adapter): each node's load (gossip, nodetool status "Load"), each node's
per-table disk use (system_views.disk_usage), each table's estimated size and partition sizes
(system.size_estimates on every node; system_views.max_partition_size where it exists), the
keyspaces' replication factors and every table's compaction strategy.

Compaction headroom: the fraction of a disk a node may fill before compaction can run out of space.
- SizeTieredCompactionStrategy: 50%. A major (or large tier) compaction writes its whole output
  before deleting the inputs (Cassandra docs, "Size Tiered Compaction Strategy"; DataStax capacity
  planning: run at 50% to 80% "depending on the compaction strategy").
- LeveledCompactionStrategy and TimeWindowCompactionStrategy: 80%, the upper end of that range:
  LCS compacts fixed-size sstables level by level, TWCS only the current window.
- UnifiedCompactionStrategy: 75%: compactions are split into shards (base_shard_count 4 by
  default), so the largest one rewrites about a quarter of a node's data.
The node threshold is the strictest strategy that holds data on the cluster, unless --threshold
gives one.

Growth is compound per day: `--growth 0.01` is 1%/day. With `--since` an earlier `-o json` of this
command, the rate is measured: (total now / total then) ** (1 / days between) - 1.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from braindump_cli.errors import UsageError

HEADROOM = {
    "SizeTieredCompactionStrategy": 0.50,
    "LeveledCompactionStrategy": 0.80,
    "TimeWindowCompactionStrategy": 0.80,
    "UnifiedCompactionStrategy": 0.75,
}
HEADROOM_SOURCES = {
    "SizeTieredCompactionStrategy": "Cassandra docs (STCS major compaction); DataStax capacity planning 50%-80%",
    "LeveledCompactionStrategy": "DataStax capacity planning, upper end (80%): fixed-size sstables, level by level",
    "TimeWindowCompactionStrategy": "DataStax capacity planning, upper end (80%): only the current window compacts",
    "UnifiedCompactionStrategy": "sharded compactions (base_shard_count 4): the largest rewrites ~1/4 of a node",
}
DEFAULT_HEADROOM = 0.50


@dataclass(frozen=True)
class TableInput:
    keyspace: str
    table: str
    strategy: str  # short class name
    replication_factor: int  # replicas of each partition over the whole cluster
    estimated_bytes: float  # one copy, from system.size_estimates
    partitions: int
    mean_partition_bytes: float | None
    max_partition_bytes: int | None


@dataclass(frozen=True)
class NodeInput:
    address: str
    datacenter: str
    rack: str
    load_bytes: int | None
    disk_by_table: Mapping[str, int]  # "ks.table" -> bytes on disk (system_views.disk_usage)


@dataclass(frozen=True)
class TableCapacity:
    keyspace: str
    table: str
    strategy: str
    headroom: float
    replication_factor: int
    estimated_bytes: float
    replicated_bytes: float
    partitions: int
    mean_partition_bytes: float | None
    max_partition_bytes: int | None
    disk_bytes: int  # sum over nodes of system_views.disk_usage


@dataclass(frozen=True)
class NodeCapacity:
    address: str
    datacenter: str
    rack: str
    used_bytes: int
    skew: float  # used / mean used of the node's DC
    used_fraction: float | None  # of --disk-size
    crosses_threshold_on: str | None  # ISO date; None: never within the model or no disk size
    days_to_threshold: float | None


@dataclass(frozen=True)
class CapacityReport:
    taken_at: str
    total_bytes: int
    growth_per_day: float | None
    growth_source: str  # "--growth", "--since SNAPSHOT", or "none"
    horizon_days: int
    disk_size_bytes: int | None
    threshold: float
    threshold_source: str
    headroom_sources: Mapping[str, str]
    tables: tuple[TableCapacity, ...]
    nodes: tuple[NodeCapacity, ...]
    total_at_horizon: int | None
    nodes_now: int
    nodes_needed: int | None
    schema_version: int = 1


def parse_size(text: str) -> int:
    """`500GiB`, `2TiB`, `1.5TB`, `1048576`: bytes (binary and decimal suffixes, case-insensitive)."""
    units = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9}
    units |= {"t": 10**12, "tb": 10**12, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
    s = text.strip().lower().replace(" ", "")
    number = s.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = s[len(number) :]
    try:
        value = float(number)
    except ValueError as e:
        raise UsageError(f"cannot read size {text!r}", hint="e.g. --disk-size 500GiB or 2TB") from e
    if unit not in units or value <= 0:
        raise UsageError(f"cannot read size {text!r}", hint="e.g. --disk-size 500GiB or 2TB")
    return int(value * units[unit])


def parse_growth(text: str) -> float:
    """`1%` or `0.01`: compound growth per day as a fraction."""
    s = text.strip()
    try:
        value = float(s[:-1]) / 100 if s.endswith("%") else float(s)
    except ValueError as e:
        raise UsageError(f"cannot read growth rate {text!r}", hint="e.g. --growth 1% (per day)") from e
    if not -1 < value < 10:
        raise UsageError(f"growth rate {text!r} is out of range", hint="a daily rate, e.g. --growth 0.5%")
    return value


def growth_since(snapshot: Mapping[str, object], total_now: int, now: dt.datetime) -> float:
    """The daily compound rate between an earlier report's total and today's."""
    try:
        then = dt.datetime.fromisoformat(str(snapshot["taken_at"]))
        total_then = int(snapshot["total_bytes"])  # type: ignore[call-overload]
    except (KeyError, ValueError, TypeError) as e:
        raise UsageError("the --since file is not a `bd cassandra capacity -o json` report") from e
    days = (now - then).total_seconds() / 86400
    if days < 1 / 24 or total_then <= 0:
        raise UsageError("the --since snapshot must be at least an hour old and non-empty")
    return float((total_now / total_then) ** (1 / days) - 1)


def _threshold(tables: Sequence[TableCapacity], override: float | None) -> tuple[float, str]:
    if override is not None:
        return override, "--threshold"
    holding = [t for t in tables if t.disk_bytes > 0 or t.estimated_bytes > 0]
    if not holding:
        return DEFAULT_HEADROOM, "no table holds data: SizeTieredCompactionStrategy's 50%"
    strict = min(holding, key=lambda t: t.headroom)
    return strict.headroom, f"{strict.strategy} ({strict.keyspace}.{strict.table})"


def _table(t: TableInput, nodes: Sequence[NodeInput]) -> TableCapacity:
    key = f"{t.keyspace}.{t.table}"
    return TableCapacity(
        keyspace=t.keyspace,
        table=t.table,
        strategy=t.strategy,
        headroom=HEADROOM.get(t.strategy, DEFAULT_HEADROOM),
        replication_factor=t.replication_factor,
        estimated_bytes=t.estimated_bytes,
        replicated_bytes=t.estimated_bytes * t.replication_factor,
        partitions=t.partitions,
        mean_partition_bytes=t.mean_partition_bytes,
        max_partition_bytes=t.max_partition_bytes,
        disk_bytes=sum(n.disk_by_table.get(key, 0) for n in nodes),
    )


def _days_to(used: int, limit: float, growth: float | None) -> float | None:
    if used >= limit:
        return 0.0
    if not growth or growth <= 0 or used <= 0:
        return None
    return math.log(limit / used) / math.log1p(growth)


def _node(
    n: NodeInput, used: int, mean_dc: float, disk: int | None, threshold: float, growth: float | None, now: dt.datetime
) -> NodeCapacity:
    days = _days_to(used, disk * threshold, growth) if disk else None
    return NodeCapacity(
        address=n.address,
        datacenter=n.datacenter,
        rack=n.rack,
        used_bytes=used,
        skew=used / mean_dc if mean_dc else 1.0,
        used_fraction=used / disk if disk else None,
        crosses_threshold_on=(now + dt.timedelta(days=days)).date().isoformat() if days is not None else None,
        days_to_threshold=days,
    )


def plan_capacity(
    tables: Sequence[TableInput],
    nodes: Sequence[NodeInput],
    *,
    now: dt.datetime,
    growth: float | None,
    growth_source: str,
    horizon_days: int,
    disk_size: int | None,
    threshold: float | None = None,
) -> CapacityReport:
    """Per node: use, skew, threshold-crossing date; per cluster: total at the horizon and nodes needed."""
    table_caps = tuple(_table(t, nodes) for t in tables)
    limit, limit_source = _threshold(table_caps, threshold)
    used = {n.address: n.load_bytes if n.load_bytes is not None else sum(n.disk_by_table.values()) for n in nodes}
    by_dc: dict[str, list[int]] = {}
    for n in nodes:
        by_dc.setdefault(n.datacenter, []).append(used[n.address])
    means = {dc: sum(v) / len(v) for dc, v in by_dc.items()}
    node_caps = tuple(_node(n, used[n.address], means[n.datacenter], disk_size, limit, growth, now) for n in nodes)
    total = sum(used.values())
    at_horizon = int(total * (1 + growth) ** horizon_days) if growth is not None else None
    needed = None
    if at_horizon is not None and disk_size:
        skew = max((c.skew for c in node_caps), default=1.0)
        needed = max(1, math.ceil(at_horizon * skew / (disk_size * limit)))
    return CapacityReport(
        taken_at=now.isoformat(),
        total_bytes=total,
        growth_per_day=growth,
        growth_source=growth_source,
        horizon_days=horizon_days,
        disk_size_bytes=disk_size,
        threshold=limit,
        threshold_source=limit_source,
        headroom_sources=HEADROOM_SOURCES,
        tables=table_caps,
        nodes=node_caps,
        total_at_horizon=at_horizon,
        nodes_now=len(nodes),
        nodes_needed=needed,
    )
