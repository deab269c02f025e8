"""What each consistency level needs and survives, range by range, by Cassandra 5.0's own rules.

Rules (ConsistencyLevel.blockFor and ReplicaPlans.assureSufficientLiveReplicas):

* ONE/LOCAL_ONE/ANY need 1, TWO 2, THREE 3; QUORUM needs (sum of every configured DC's RF) // 2 + 1
  and ALL the configured RF sum, both counted over live replicas in every DC. DCs named in the
  replication but absent from the ring still count towards QUORUM and ALL.
* LOCAL_QUORUM needs RF(local DC) // 2 + 1 under NetworkTopologyStrategy and the whole keyspace's
  quorum under SimpleStrategy; LOCAL_ONE needs 1; both count only live replicas in the local DC
  (the coordinator's), whatever the strategy.
* EACH_QUORUM under NetworkTopologyStrategy needs RF(dc) // 2 + 1 live replicas in every configured
  DC; under SimpleStrategy it falls back to QUORUM over all replicas.
* ANY is invalid for reads; a write at ANY always succeeds (the coordinator keeps a hint).

Reads and writes then differ only by ANY: bd has no pending (joining/leaving) ranges to add to a
write's blockFor. Ranges whose replicas have the same counts per DC share every verdict, so the
analysis works on those groups and stays cheap on 256k-range vnode rings.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from braindump_cli.cassandra.model import Replication, Ring
from braindump_cli.cassandra.ring import (
    ReplicaMap,
    TokenRange,
    TokenRing,
    build_replica_map,
    parse_rf,
    strategy_name,
)
from braindump_cli.errors import NotFoundError, UsageError

LEVELS: tuple[str, ...] = (
    "ANY",
    "ONE",
    "TWO",
    "THREE",
    "QUORUM",
    "ALL",
    "LOCAL_ONE",
    "LOCAL_QUORUM",
    "EACH_QUORUM",
)

# Per component (one DC under NetworkTopologyStrategy, every DC otherwise) of one range:
# (replicas, live replicas, replicas in the local DC, live replicas in the local DC).
_Sig = tuple[int, int, int, int]


@dataclass(frozen=True)
class Requirement:
    """Live replicas a level needs by Cassandra's rules for one keyspace and coordinator DC.

    `scope` is "all" (counted over every replica), "local" (only the local DC's), "each" (per DC,
    see `per_dc`) or "none" (ANY: a hint is enough for a write).
    """

    level: str
    block_for: int
    scope: str
    per_dc: Mapping[str, int]


@dataclass(frozen=True)
class Verdict:
    """One level on one group of ranges, for reads or for writes.

    `ok` is None when the level is not valid for the operation (ANY for reads).
    `losses_to_break` is how many more live replicas must fail before this range becomes
    unavailable (0: unavailable now; None: never, as for writes at ANY); `breaking_nodes` is one
    such minimal set of addresses.
    """

    ok: bool | None
    required: int
    alive: int
    losses_to_break: int | None
    breaking_nodes: tuple[str, ...]


@dataclass(frozen=True)
class RangeGroup:
    """Ranges that have the same number of replicas and live replicas per DC, so the same verdicts."""

    range_count: int
    replicas_per_dc: Mapping[str, int]
    live_per_dc: Mapping[str, int]
    example_range: TokenRange
    example_replicas: tuple[str, ...]
    example_live: tuple[str, ...]
    read: Mapping[str, Verdict]
    write: Mapping[str, Verdict]


@dataclass(frozen=True)
class LevelSummary:
    """One level over the whole ring.

    `read_ok`/`write_ok`: every range is available now (None: level invalid for the operation).
    `failing_ranges_*`: ranges unavailable now. `losses_to_break`: the fewest further node
    failures that make some range unavailable (0: already; None: never), `tolerates` the
    failures survived (losses_to_break - 1, floored at 0), `breaking_nodes` an example set and
    `worst_range` the range it breaks. Reads and writes share these figures except at ANY.
    """

    level: str
    requirement: Requirement
    read_ok: bool | None
    write_ok: bool | None
    failing_ranges_read: int
    failing_ranges_write: int
    losses_to_break: int | None
    tolerates: int | None
    breaking_nodes: tuple[str, ...]
    worst_range: TokenRange | None


@dataclass(frozen=True)
class ConsistencyReport:
    strategy: str
    factors: Mapping[str, int]
    local_dc: str
    down: tuple[str, ...]
    range_count: int
    levels: tuple[LevelSummary, ...]
    groups: tuple[RangeGroup, ...]

    def level(self, name: str) -> LevelSummary:
        for s in self.levels:
            if s.level == name.upper():
                return s
        raise KeyError(name)


@dataclass(frozen=True)
class RangeVerdict:
    """One token range: its replicas, live replicas and per-level verdicts."""

    range: TokenRange
    replicas: tuple[str, ...]
    live: tuple[str, ...]
    read: Mapping[str, Verdict]
    write: Mapping[str, Verdict]


def normalize_level(level: str) -> str:
    name = level.strip().upper()
    if name not in LEVELS:
        raise UsageError(
            f"unknown consistency level {level!r}",
            hint="use one of " + ", ".join(LEVELS),
        )
    return name


def _total_rf(replication: Replication, node_count: int) -> int:
    if strategy_name(replication) == "EverywhereStrategy":
        return node_count
    return sum(parse_rf(v) for v in replication.factors.values())


def required_replicas(level: str, replication: Replication, *, local_dc: str, node_count: int = 0) -> Requirement:
    """ConsistencyLevel.blockFor for `level` (node_count only matters for EverywhereStrategy)."""
    name = normalize_level(level)
    strategy = strategy_name(replication)
    nts = strategy == "NetworkTopologyStrategy"
    total = _total_rf(replication, node_count)
    quorum = total // 2 + 1

    def local_quorum(dc: str) -> int:
        return parse_rf(replication.factors.get(dc, 0)) // 2 + 1 if nts else quorum

    if name == "ANY":
        return Requirement(name, 1, "none", {})
    if name in ("ONE", "TWO", "THREE"):
        return Requirement(name, {"ONE": 1, "TWO": 2, "THREE": 3}[name], "all", {})
    if name == "QUORUM":
        return Requirement(name, quorum, "all", {})
    if name == "ALL":
        return Requirement(name, total, "all", {})
    if name == "LOCAL_ONE":
        return Requirement(name, 1, "local", {local_dc: 1})
    if name == "LOCAL_QUORUM":
        return Requirement(name, local_quorum(local_dc), "local", {local_dc: local_quorum(local_dc)})
    if nts:
        per_dc = {dc: local_quorum(dc) for dc in replication.factors}
        return Requirement(name, sum(per_dc.values()), "each", per_dc)
    return Requirement(name, quorum, "all", {})


def _resolve_local_dc(tr: TokenRing, local_dc: str | None) -> str:
    dcs = sorted({n.datacenter for n in tr.nodes})
    if local_dc is not None:
        return local_dc
    if len(dcs) == 1:
        return dcs[0]
    raise UsageError(
        f"the ring has several data centres ({', '.join(dcs)}); LOCAL_* levels depend on the coordinator's",
        hint="name the client's data centre, e.g. --local-dc " + (dcs[0] if dcs else "dc1"),
    )


class _Context:
    """Per-analysis constants: live flags, component layout and the requirement of every level."""

    def __init__(
        self,
        rm: ReplicaMap,
        *,
        local_dc: str,
        down: Iterable[str],
        levels: Sequence[str],
    ) -> None:
        tr = rm.ring
        self.rm = rm
        self.nodes = tr.nodes
        by_address = {n.address: i for i, n in enumerate(tr.nodes)}
        down_set = set()
        for address in down:
            if address not in by_address:
                known = {n.address for n in rm.ring.nodes}
                raise NotFoundError(
                    f"node {address!r} is not in the ring",
                    hint="list the nodes with: bd cassandra ring" if known else None,
                )
            down_set.add(by_address[address])
        self.down_addresses = tuple(sorted(tr.nodes[i].address for i in down_set))
        self.down_set = frozenset(i for i, n in enumerate(tr.nodes) if not n.up or i in down_set)
        self.live = [n.up and i not in down_set for i, n in enumerate(tr.nodes)]
        self.local = [n.datacenter == local_dc for n in tr.nodes]
        self.local_dc = local_dc
        self.nts = rm.strategy == "NetworkTopologyStrategy"
        self.components = rm.components
        self.levels = tuple(normalize_level(x) for x in levels)
        self.requirements = {
            lv: required_replicas(lv, rm.replication, local_dc=local_dc, node_count=len(tr.nodes)) for lv in self.levels
        }

    def sig(self, selection: Sequence[int]) -> _Sig:
        live = self.live
        local = self.local
        n_live = sum(1 for x in selection if live[x])
        n_local = sum(1 for x in selection if local[x])
        n_local_live = sum(1 for x in selection if local[x] and live[x])
        return (len(selection), n_live, n_local, n_local_live)

    def verdicts(self, replicas: Sequence[int]) -> tuple[dict[str, Verdict], dict[str, Verdict]]:
        """Read and write verdicts for one range with these replicas (node indices)."""
        reads: dict[str, Verdict] = {}
        writes: dict[str, Verdict] = {}
        live = [x for x in replicas if self.live[x]]
        for lv in self.levels:
            req = self.requirements[lv]
            if req.scope == "none":
                reads[lv] = Verdict(None, req.block_for, len(live), None, ())
                writes[lv] = Verdict(True, req.block_for, len(live), None, ())
                continue
            if req.scope == "all":
                v = self._count_verdict(req.block_for, live)
            elif req.scope == "local":
                v = self._count_verdict(req.block_for, [x for x in live if self.local[x]])
            else:
                v = self._each_verdict(req, live)
            reads[lv] = v
            writes[lv] = v
        return reads, writes

    def _count_verdict(self, need: int, pool: Sequence[int]) -> Verdict:
        have = len(pool)
        if have < need:
            return Verdict(False, need, have, 0, ())
        k = have - need + 1
        return Verdict(True, need, have, k, tuple(self.nodes[x].address for x in pool[:k]))

    def _each_verdict(self, req: Requirement, live: Sequence[int]) -> Verdict:
        best: tuple[int, tuple[str, ...]] | None = None
        ok = True
        for dc, need in req.per_dc.items():
            pool = [x for x in live if self.nodes[x].datacenter == dc]
            if len(pool) < need:
                ok = False
                continue
            k = len(pool) - need + 1
            if best is None or k < best[0]:
                best = (k, tuple(self.nodes[x].address for x in pool[:k]))
        if not ok:
            return Verdict(False, req.block_for, len(live), 0, ())
        if best is None:  # no DC configured at all: nothing can ever be required
            return Verdict(True, req.block_for, len(live), None, ())
        return Verdict(True, req.block_for, len(live), best[0], best[1])


def _per_range_signatures(ctx: _Context) -> Sequence[Hashable]:
    """A hashable per-range key (counts per component) that determines every verdict.

    Signatures are computed once per selection (a DC's replicas only change at its own tokens)
    and spread over the ranges with C-level helpers, so 256k ranges cost a few passes.
    """
    rm = ctx.rm
    n = len(rm.ring.tokens)
    any_down = not all(ctx.live)
    columns: list[Sequence[_Sig]] = []
    for comp in rm.components:
        sels = comp.selections
        if ctx.nts:
            local_comp = comp.datacenter == ctx.local_dc
            base = {k: (k, k, k, k) if local_comp else (k, k, 0, 0) for k in set(map(len, sels))}
            if any_down:
                clean = map(ctx.down_set.isdisjoint, sels)
                sigs = [base[len(s)] if c else ctx.sig(s) for s, c in zip(sels, clean, strict=True)]
            else:
                sigs = list(map(base.__getitem__, map(len, sels)))
        else:
            sigs = [ctx.sig(s) for s in sels]
        columns.append(comp.per_range(sigs, n))
    if not columns:
        return [(0, 0, 0, 0)] * n
    if len(columns) == 1:
        return columns[0]
    return list(zip(*columns, strict=True))


def analyze_consistency(
    ring: Ring | TokenRing,
    replication: Replication,
    *,
    local_dc: str | None = None,
    down: Iterable[str] = (),
    levels: Sequence[str] = LEVELS,
    replica_map: ReplicaMap | None = None,
) -> ConsistencyReport:
    """For each level: is it achievable now for reads and writes, and what failure breaks it first.

    `down` names nodes to treat as failed on top of those the ring reports down; `local_dc` is
    the coordinator's data centre for LOCAL_* levels (required when the ring has several DCs).
    """
    rm = replica_map if replica_map is not None else build_replica_map(ring, replication)
    tr = rm.ring
    if not tr.tokens:
        raise UsageError("the ring has no tokens: no node has joined it", hint="bd cassandra status")
    ctx = _Context(rm, local_dc=_resolve_local_dc(tr, local_dc), down=down, levels=levels)
    n = len(tr.tokens)

    keys = _per_range_signatures(ctx)
    counts = Counter(keys)
    first_index = dict(zip(reversed(keys), range(n - 1, -1, -1), strict=True))

    groups: list[RangeGroup] = []
    for key, count in sorted(counts.items(), key=lambda kv: first_index[kv[0]]):
        i = first_index[key]
        replicas = rm.replicas_at(i)
        reads, writes = ctx.verdicts(replicas)
        per_dc: dict[str, int] = {}
        live_dc: dict[str, int] = {}
        for x in replicas:
            dc = tr.nodes[x].datacenter
            per_dc[dc] = per_dc.get(dc, 0) + 1
            live_dc[dc] = live_dc.get(dc, 0) + (1 if ctx.live[x] else 0)
        groups.append(
            RangeGroup(
                range_count=count,
                replicas_per_dc=per_dc,
                live_per_dc=live_dc,
                example_range=tr.range_at(i),
                example_replicas=tuple(tr.nodes[x].address for x in replicas),
                example_live=tuple(tr.nodes[x].address for x in replicas if ctx.live[x]),
                read=reads,
                write=writes,
            )
        )

    summaries = tuple(_summarise(lv, ctx.requirements[lv], groups) for lv in ctx.levels)
    return ConsistencyReport(
        strategy=rm.strategy,
        factors={dc: parse_rf(rf) for dc, rf in replication.factors.items()},
        local_dc=ctx.local_dc,
        down=ctx.down_addresses,
        range_count=n,
        levels=summaries,
        groups=tuple(groups),
    )


def _summarise(level: str, req: Requirement, groups: Sequence[RangeGroup]) -> LevelSummary:
    def status(op: str) -> tuple[bool | None, int]:
        verdicts = [(g, g.read[level] if op == "read" else g.write[level]) for g in groups]
        if any(v.ok is None for _, v in verdicts):
            return None, 0
        failing = sum(g.range_count for g, v in verdicts if not v.ok)
        return failing == 0, failing

    read_ok, failing_read = status("read")
    write_ok, failing_write = status("write")
    # Reads and writes only differ at ANY, where writes cannot break; use whichever is valid.
    worst: tuple[int, RangeGroup, Verdict] | None = None
    for g in groups:
        v = g.read[level] if g.read[level].ok is not None else g.write[level]
        if v.losses_to_break is None:
            continue
        if worst is None or v.losses_to_break < worst[0]:
            worst = (v.losses_to_break, g, v)
    if worst is None:
        return LevelSummary(level, req, read_ok, write_ok, failing_read, failing_write, None, None, (), None)
    losses, g, v = worst
    return LevelSummary(
        level,
        req,
        read_ok,
        write_ok,
        failing_read,
        failing_write,
        losses,
        max(losses - 1, 0),
        v.breaking_nodes,
        g.example_range,
    )


def iter_range_verdicts(
    ring: Ring | TokenRing,
    replication: Replication,
    *,
    local_dc: str | None = None,
    down: Iterable[str] = (),
    levels: Sequence[str] = LEVELS,
    replica_map: ReplicaMap | None = None,
) -> Iterator[RangeVerdict]:
    """Every token range with its replicas, live replicas and verdicts, in ring order (lazily)."""
    rm = replica_map if replica_map is not None else build_replica_map(ring, replication)
    tr = rm.ring
    ctx = _Context(rm, local_dc=_resolve_local_dc(tr, local_dc), down=down, levels=levels)
    cache: dict[tuple[int, ...], tuple[dict[str, Verdict], dict[str, Verdict]]] = {}
    for i, replicas in enumerate(rm.iter_replicas()):
        live = tuple(x for x in replicas if ctx.live[x])
        key = replicas
        hit = cache.get(key)
        if hit is None:
            hit = cache[key] = ctx.verdicts(replicas)
        yield RangeVerdict(
            range=tr.range_at(i),
            replicas=tuple(tr.nodes[x].address for x in replicas),
            live=tuple(tr.nodes[x].address for x in live),
            read=hit[0],
            write=hit[1],
        )
