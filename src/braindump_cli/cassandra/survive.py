"""The worst failures a keyspace can take: the exact worst set of K nodes, of whole racks, or a DC.

A range is unavailable at a level when, in some replica group the level counts (every replica for
ONE..ALL and QUORUM, the local DC's for LOCAL_*, each DC's for EACH_QUORUM), at least `t` replicas
are lost, `t = replicas in the group - live replicas the level needs + 1` (consistency.py's rules).

Worst K nodes, exactly, without trying every K-set. The loss f(S) (the ring share whose ranges
fail when the nodes S fail) is a sum over ranges; by Moebius inversion over the subsets of each
range's replicas, f(S) = sum of g(X) over the non-empty X in S with |X| <= K, where g is non-zero
only for sets of nodes that share a range (for a single group and threshold t, g(X) depends on
|X| alone: g1 = [t<=1], g2 = [t<=2] - 2[t<=1], g3 = [t<=3] - 3[t<=2] + 3[t<=1]). One pass over the
ranges builds g for singles, pairs and triples (K <= 3); then
- K = 1: the best single;
- K = 2: every pair, O(1) each: g(a) + g(b) + g(ab);
- K = 3: each triple is found from its heaviest pair (a, b) (largest g(ab)), so its other pairs weigh
  at most g(ab); pairs are tried in the order of that bound and the search stops when the bound
  falls below the best triple found, and for a pair only the nodes that share a range with a or b,
  plus the best unrelated node, can complete it.
A brute-force reference (every K-set, every range) checks it in the tests and the benchmark.
Racks and DCs are few: every combination is evaluated directly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from math import comb

from braindump_cli.cassandra.consistency import LEVELS, Requirement, normalize_level, required_replicas
from braindump_cli.cassandra.model import Replication, Ring
from braindump_cli.cassandra.ring import RING_SIZE, ReplicaMap, build_replica_map
from braindump_cli.errors import NotFoundError, UsageError

MAX_K = 3

# One group a level counts on one range: (node indices, losses that make the range fail).
Group = tuple[tuple[int, ...], int]


@dataclass(frozen=True)
class LossSet:
    """One set of failed units (nodes, racks or a DC) and what it makes unavailable at one level."""

    units: tuple[str, ...]
    nodes: tuple[str, ...]
    failing_ranges: int
    range_share: float  # fraction of the token ring whose ranges fail
    data_share: float | None  # fraction of the keyspace's data on them (None: no data sizes known)


@dataclass(frozen=True)
class LevelSurvival:
    """One level: the worst loss set and, for racks/DC, every combination, safe or fatal.

    Reads and writes agree except at ANY (a write at ANY always succeeds; a read at ANY is invalid),
    so `operations` says which of them the figures are for.
    """

    level: str
    operations: tuple[str, ...]
    survives: bool  # no range fails whatever units of the given kind and count are lost
    worst: LossSet
    combinations: tuple[LossSet, ...]  # racks and DC: every combination, worst first; nodes: ()


@dataclass(frozen=True)
class SurviveReport:
    keyspace: str
    strategy: str
    factors: Mapping[str, int]
    local_dc: str
    mode: str  # "nodes", "racks" or "dc"
    count: int  # K nodes or racks; 1 for a DC
    range_count: int
    levels: tuple[LevelSurvival, ...]
    schema_version: int = 1


# ---------------------------------------------------------------- per-range groups


def level_groups(rm: ReplicaMap, level: str, *, local_dc: str) -> tuple[list[tuple[Group, ...]], Requirement] | None:
    """Per range, the groups whose losses fail it at `level`; None where nothing can fail (write at ANY).

    Nodes the ring reports down are lost already: they leave their groups and lower the threshold.
    """
    tr = rm.ring
    down = {i for i, n in enumerate(tr.nodes) if not n.up}
    req = required_replicas(level, rm.replication, local_dc=local_dc, node_count=len(tr.nodes))
    if req.scope == "none":
        return None
    dc_of = [n.datacenter for n in tr.nodes]
    wanted = {local_dc: req.block_for} if req.scope == "local" else dict(req.per_dc)

    def group(members: tuple[int, ...], need: int) -> Group:
        live = tuple(x for x in members if x not in down)
        return live, len(live) - need + 1

    out: list[tuple[Group, ...]] = []
    for replicas in rm.iter_replicas():
        if req.scope == "all":
            out.append((group(replicas, req.block_for),))
        else:
            out.append(tuple(group(tuple(x for x in replicas if dc_of[x] == d), need) for d, need in wanted.items()))
    return out, req


def fails(groups: Iterable[Group], lost: set[int] | frozenset[int]) -> bool:
    return any(sum(1 for x in members if x in lost) >= t for members, t in groups)


def range_weights(rm: ReplicaMap) -> list[int]:
    """Each range's width in tokens (the single range of a one-token ring is the whole ring)."""
    t = rm.ring.tokens
    if len(t) == 1:
        return [RING_SIZE]
    return [(t[i] - t[i - 1]) % RING_SIZE for i in range(len(t))]


# ---------------------------------------------------------------- exact worst K nodes


def _single_group_coefficients(t: int, k: int) -> tuple[int, ...]:
    """g for 1..k nodes of a group with threshold t: sum over j of C(s, j) (-1)^(s-j) [j >= t]."""
    return tuple(sum(comb(s, j) * (-1) ** (s - j) for j in range(max(t, 0), s + 1)) for s in range(1, k + 1))


class _Moebius:
    """g(X) of f(S) = sum over X in S of g(X), for |X| <= k, accumulated over the ranges."""

    def __init__(self, n: int, k: int) -> None:
        self.k = k
        self.g1 = [0] * n
        self.g2: dict[tuple[int, int], int] = {}
        self.g3: dict[tuple[int, int, int], int] = {}
        self.base = 0  # ranges that fail with no loss at all (a level the ring cannot meet)

    def add(self, groups: tuple[Group, ...], w: int) -> None:
        if any(t <= 0 for _, t in groups):
            self.base += w
            return
        live = [g for g in groups if g[1] <= min(len(g[0]), self.k)]  # groups that k losses can break
        if len(live) == 1 or all(a[1] + b[1] > self.k for a, b in combinations(live, 2)):
            # Disjoint DC groups no k-set can break two of at once: the range's loss is their sum.
            for g in live:
                self._add_single(g, w)
        else:
            self._add_general(tuple(live), w)

    def _add_single(self, group: Group, w: int) -> None:
        members, t = group
        coeff = _single_group_coefficients(t, self.k)
        self._spread(sorted(members), [c * w for c in coeff])

    def _spread(self, members: Sequence[int], values: Sequence[int]) -> None:
        if values[0]:
            for a in members:
                self.g1[a] += values[0]
        if len(values) > 1 and values[1]:
            for p in combinations(members, 2):
                self.g2[p] = self.g2.get(p, 0) + values[1]
        if len(values) > 2 and values[2]:
            for q in combinations(members, 3):
                self.g3[q] = self.g3.get(q, 0) + values[2]

    def _add_general(self, groups: tuple[Group, ...], w: int) -> None:
        nodes = sorted({x for members, _ in groups for x in members})
        killed: dict[tuple[int, ...], int] = {(): 0}
        for size in range(1, self.k + 1):
            for subset in combinations(nodes, size):
                killed[subset] = int(fails(groups, set(subset)))
                g = sum((-1) ** (size - len(y)) * killed[y] for r in range(size + 1) for y in combinations(subset, r))
                if g:
                    self._put(subset, g * w)

    def _put(self, subset: tuple[int, ...], value: int) -> None:
        if len(subset) == 1:
            self.g1[subset[0]] += value
        elif len(subset) == 2:
            p = (subset[0], subset[1])
            self.g2[p] = self.g2.get(p, 0) + value
        else:
            q = (subset[0], subset[1], subset[2])
            self.g3[q] = self.g3.get(q, 0) + value


def _pair(a: int, b: int) -> tuple[int, int]:
    return (a, b) if a < b else (b, a)


def _triple(a: int, b: int, c: int) -> tuple[int, int, int]:
    x, y, z = sorted((a, b, c))
    return (x, y, z)


class _Search:
    def __init__(self, m: _Moebius, candidates: Sequence[int]) -> None:
        self.m = m
        self.candidates = list(candidates)
        allowed = set(candidates)
        self.adj: dict[int, dict[int, int]] = {a: {} for a in candidates}
        for (a, b), v in m.g2.items():
            if a in allowed and b in allowed:
                self.adj[a][b] = v
                self.adj[b][a] = v
        self._third: dict[tuple[int, int], dict[int, int]] | None = None
        self.by_g1 = sorted(candidates, key=lambda a: -m.g1[a])

    @property
    def third(self) -> dict[tuple[int, int], dict[int, int]]:
        """(a, b) -> {c: g(abc)} for the triples among the candidates, built on first use."""
        if self._third is None:
            allowed = set(self.candidates)
            self._third = {}
            for (a, b, c), v in self.m.g3.items():
                if a in allowed and b in allowed and c in allowed:
                    for x, y, z in ((a, b, c), (a, c, b), (b, c, a)):
                        self._third.setdefault((x, y), {})[z] = v
        return self._third

    def best_unrelated(self, exclude: set[int]) -> int | None:
        for a in self.by_g1:
            if a not in exclude:
                return a
        return None

    def value(self, chosen: Sequence[int]) -> int:
        """f(S) minus the always-failing base, from the Moebius terms."""
        m = self.m
        total = sum(m.g1[a] for a in chosen)
        total += sum(m.g2.get(_pair(a, b), 0) for a, b in combinations(chosen, 2))
        return total + sum(m.g3.get(_triple(*t), 0) for t in combinations(chosen, 3))

    def one(self) -> tuple[int, tuple[int, ...]]:
        a = self.by_g1[0]
        return self.m.g1[a], (a,)

    def two(self) -> tuple[int, tuple[int, ...]]:
        g1 = self.m.g1
        best = (g1[self.by_g1[0]] + g1[self.by_g1[1]] + self.adj[self.by_g1[0]].get(self.by_g1[1], 0),)
        best_set = (self.by_g1[0], self.by_g1[1])
        for a in self.candidates:
            for b, v in self.adj[a].items():
                if a < b and g1[a] + g1[b] + v > best[0]:
                    best, best_set = (g1[a] + g1[b] + v,), (a, b)
        # pairs without a shared range: g(a) + g(b), best taken in g1 order with a bound
        for i, a in enumerate(self.by_g1):
            if g1[a] + g1[self.by_g1[min(i + 1, len(self.by_g1) - 1)]] <= best[0]:
                break
            for b in self.by_g1[i + 1 :]:
                if g1[a] + g1[b] <= best[0]:
                    break
                if b not in self.adj[a]:
                    best, best_set = (g1[a] + g1[b],), (a, b)
                    break
        return best[0], best_set

    def complete(self, a: int, b: int) -> tuple[int, int]:
        """The best third node for the pair (a, b): its marginal gain and the node."""
        g1 = self.m.g1
        near = set(self.adj[a]) | set(self.adj[b]) | set(self.third.get((a, b), {}))
        near.discard(a)
        near.discard(b)
        best_gain, best_c = -(1 << 200), -1
        lone = self.best_unrelated(near | {a, b})
        if lone is not None:
            best_gain, best_c = g1[lone], lone
        e = self.third.get((a, b), {})
        for c in near:
            gain = g1[c] + self.adj[a].get(c, 0) + self.adj[b].get(c, 0) + e.get(c, 0)
            if gain > best_gain:
                best_gain, best_c = gain, c
        return best_gain, best_c

    def three(self) -> tuple[int, tuple[int, ...]]:
        allowed = set(self.candidates)
        if not any(self.m.g1[a] for a in self.candidates) and not any(self.adj.values()):
            # only triples matter (every group needs three losses): the heaviest triple is the answer
            triples = ((v, q) for q, v in self.m.g3.items() if allowed.issuperset(q))
            return max(triples, default=(0, (self.by_g1[0], self.by_g1[1], self.by_g1[2])))
        return self._three_anchored()

    def _three_anchored(self) -> tuple[int, tuple[int, ...]]:
        g1 = self.m.g1
        top_g1 = g1[self.by_g1[0]]
        pos = {a: max([0, *self.adj[a].values()]) for a in self.candidates}
        e_pos = {p: max(0, *v.values()) for p, v in self.third.items()}
        # every pair is an anchor candidate; a triple is reached from its heaviest pair, so its two
        # other pairs add at most min(pos, g(ab)) each
        bounds = []
        for a, b in self._anchor_pairs():
            v = self.adj[a].get(b, 0)
            cap = max(v, 0)
            bound = g1[a] + g1[b] + v + top_g1 + min(pos[a], cap) + min(pos[b], cap) + e_pos.get((a, b), 0)
            bounds.append((bound, a, b))
        bounds.sort(reverse=True)
        best_set = (self.by_g1[0], self.by_g1[1], self.by_g1[2])
        best = self.value(best_set)
        for bound, a, b in bounds:
            if bound <= best:
                break
            gain, c = self.complete(a, b)
            value = g1[a] + g1[b] + self.adj[a].get(b, 0) + gain
            if c >= 0 and value > best:
                best, best_set = value, (a, b, c)
        return best, best_set

    def _anchor_pairs(self) -> Iterable[tuple[int, int]]:
        """Pairs that share a range, plus, for pairs that share none, the leading ones by g(a) + g(b)."""
        seen: set[tuple[int, int]] = set()
        for a in self.candidates:
            for b in self.adj[a]:
                if a < b:
                    seen.add((a, b))
                    yield a, b
        for a, b in self.third:
            if a < b and (a, b) not in seen:
                seen.add((a, b))
                yield a, b
        yield from self._unrelated_pairs(seen)

    def _unrelated_pairs(self, seen: set[tuple[int, int]]) -> Iterable[tuple[int, int]]:
        # Without a shared range a pair scores g(a) + g(b) + its third node's gain; when g1 is zero
        # everywhere no such pair can beat one that shares a range, so only g1 > 0 nodes are paired.
        ranked = [a for a in self.by_g1 if self.m.g1[a] > 0]
        for i, a in enumerate(ranked):
            for b in ranked[i + 1 :]:
                p = _pair(a, b)
                if p not in seen:
                    yield p


def worst_nodes(
    per_range: Sequence[tuple[Group, ...]], weights: Sequence[int], *, n: int, k: int, candidates: Sequence[int]
) -> tuple[int, tuple[int, ...]]:
    """The largest total weight of failing ranges over every set of k of the candidate nodes, and one such set."""
    if not 1 <= k <= MAX_K:
        raise UsageError(f"--nodes {k}: bd finds the exact worst set for 1 to {MAX_K} nodes")
    if len(candidates) < k:
        raise UsageError(f"--nodes {k}: the ring has only {len(candidates)} live node(s)")
    m = _Moebius(n, k)
    for groups, w in zip(per_range, weights, strict=True):
        m.add(groups, w)
    search = _Search(m, candidates)
    value, chosen = (search.one, search.two, search.three)[k - 1]()
    return value + m.base, tuple(sorted(chosen))


def brute_force_worst_nodes(
    per_range: Sequence[tuple[Group, ...]], weights: Sequence[int], *, k: int, candidates: Sequence[int]
) -> tuple[int, tuple[int, ...]]:
    """Reference: every k-set of candidates against every range."""
    best, best_set = -1, tuple[int, ...]()
    for subset in combinations(sorted(candidates), k):
        lost = set(subset)
        value = sum(w for groups, w in zip(per_range, weights, strict=True) if fails(groups, lost))
        if value > best:
            best, best_set = value, subset
    return best, best_set


# ---------------------------------------------------------------- the recipe's pure core


def _loss(
    units: tuple[str, ...],
    lost: set[int],
    per_range: Sequence[tuple[Group, ...]],
    weights: Sequence[int],
    data: Sequence[float] | None,
    names: Sequence[str],
) -> LossSet:
    failing = [i for i, groups in enumerate(per_range) if fails(groups, lost)]
    data_share = None
    if data is not None:
        total = sum(data)
        data_share = sum(data[i] for i in failing) / total if total else 0.0
    return LossSet(
        units=units,
        nodes=tuple(names[i] for i in sorted(lost)),
        failing_ranges=len(failing),
        range_share=sum(weights[i] for i in failing) / RING_SIZE,
        data_share=data_share,
    )


def _unit_members(ring: Ring, mode: str, dc: str | None) -> dict[str, set[int]]:
    if mode == "racks":
        units: dict[str, set[int]] = {}
        for i, node in enumerate(ring.nodes):
            units.setdefault(f"{node.datacenter}/{node.rack}", set()).add(i)
        return units
    names = sorted({n.datacenter for n in ring.nodes})
    if dc not in names:
        raise NotFoundError(f"data centre {dc!r} is not in the ring", hint=f"data centres: {', '.join(names)}")
    return {dc: {i for i, n in enumerate(ring.nodes) if n.datacenter == dc}}


def analyse_survival(
    ring: Ring,
    replication: Replication,
    *,
    keyspace: str,
    local_dc: str,
    levels: Sequence[str] = LEVELS,
    nodes: int | None = None,
    racks: int | None = None,
    dc: str | None = None,
    data_per_range: Sequence[float] | None = None,
) -> SurviveReport:
    """The worst loss of `nodes` nodes, of `racks` whole racks, or of the DC `dc`, per level.

    `data_per_range` (bytes per ring range, e.g. from system.size_estimates) gives the data share;
    without it only the token share is known.
    """
    rm = build_replica_map(ring, replication)
    if not rm.ring.tokens:
        raise UsageError("the ring has no tokens: no node has joined it", hint="bd cassandra status")
    if nodes is not None:
        mode, count = "nodes", nodes
    elif racks is not None:
        mode, count = "racks", racks
    else:
        mode, count = "dc", 1
    ctx = _Inputs(rm, [n.address for n in rm.ring.nodes], range_weights(rm), data_per_range)
    out = [
        _level_survival(ctx, level, local_dc=local_dc, mode=mode, count=count, dc=dc)
        for level in dict.fromkeys(normalize_level(x) for x in levels)
    ]
    return SurviveReport(
        keyspace=keyspace,
        strategy=rm.strategy,
        factors=dict(replication.factors),
        local_dc=local_dc,
        mode=mode,
        count=count,
        range_count=len(rm.ring.tokens),
        levels=tuple(out),
    )


@dataclass(frozen=True)
class _Inputs:
    rm: ReplicaMap
    names: list[str]
    weights: list[int]
    data: Sequence[float] | None


def _level_survival(ctx: _Inputs, level: str, *, local_dc: str, mode: str, count: int, dc: str | None) -> LevelSurvival:
    built = level_groups(ctx.rm, level, local_dc=local_dc)
    operations = ("write",) if level == "ANY" else ("read", "write")
    if built is None:
        empty = LossSet((), (), 0, 0.0, 0.0 if ctx.data is not None else None)
        return LevelSurvival(level, operations, True, empty, ())
    per_range, _ = built
    nodes = ctx.rm.ring.nodes
    if mode == "nodes":
        live = [i for i, n in enumerate(nodes) if n.up]
        _, chosen = worst_nodes(per_range, ctx.weights, n=len(nodes), k=count, candidates=live)
        worst = _loss(tuple(ctx.names[i] for i in chosen), set(chosen), per_range, ctx.weights, ctx.data, ctx.names)
        return LevelSurvival(level, operations, worst.failing_ranges == 0, worst, ())
    members = _unit_members(Ring(nodes), mode, dc)
    if mode == "racks" and not 1 <= count <= len(members):
        raise UsageError(f"--racks {count}: the ring has {len(members)} rack(s)")
    combos = [
        _loss(c, set().union(*(members[u] for u in c)), per_range, ctx.weights, ctx.data, ctx.names)
        for c in combinations(sorted(members), count)
    ]
    combos.sort(key=lambda x: (-x.range_share, x.units))
    return LevelSurvival(level, operations, combos[0].failing_ranges == 0, combos[0], tuple(combos))
