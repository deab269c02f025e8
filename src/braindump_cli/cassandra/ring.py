"""Token-ring math: sorted ring, token ranges, replicas per range, effective ownership.

The placement rules are Cassandra 5.0's (TokenMetadata-era, pre-TCM):

* SimpleStrategy.calculateNaturalReplicas: walk the ring clockwise from the range's end token and
  take the first RF distinct endpoints.
* NetworkTopologyStrategy.calculateNaturalReplicas: one walk, each DC filled independently; in a DC
  a node on a rack not seen yet is always taken, a node on an already-seen rack only while
  `acceptableRackRepeats = RF - racks_in_dc` is positive; a DC never takes more than its node count.
* StorageService.effectiveOwnership / Murmur3Partitioner.describeOwnership: a range's share is
  ((right - left) mod R) / R with R = 2**64 - 2 (sic: MAX - (MIN + 1)), rounded HALF_EVEN to 6 decimals, and a node owns
  the sum of the shares of every range it replicates.

Computing every range's replicas by walking the ring from each token costs O(tokens x walk); the
walk can be long (a small rack far away). Instead each DC's selection is maintained while the
ring is scanned backwards: prepending one token changes the selection in O(RF) (see
`_scan_distinct` and `_scan_rack_repeats`), so a whole ring costs O(tokens x RF).
"""

from __future__ import annotations

import bisect
import operator
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import accumulate, compress, repeat
from typing import TypeVar

from braindump_cli.cassandra.model import Node, Replication, Ring
from braindump_cli.errors import UsageError

RING_SIZE = 2**64 - 2  # Murmur3Partitioner.describeOwnership's R: MAX - (MIN + 1)
_MICRO = 1_000_000

Selection = tuple[int, ...]
T = TypeVar("T")


@dataclass(frozen=True)
class TokenRange:
    """The range (start, end]: tokens after `start` up to and including `end`, wrapping past the maximum.

    A ring with a single token has one range with start == end that covers every token.
    """

    start: int
    end: int


@dataclass(frozen=True)
class TokenRing:
    """Sorted tokens of the nodes that own tokens; `owners[i]` indexes `nodes` for `tokens[i]`."""

    nodes: tuple[Node, ...]
    tokens: tuple[int, ...]
    owners: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.tokens)

    def range_at(self, index: int) -> TokenRange:
        """Range number `index`: it ends at tokens[index] and starts after the previous token."""
        return TokenRange(self.tokens[index - 1], self.tokens[index])

    def ranges(self) -> tuple[TokenRange, ...]:
        t = self.tokens
        return tuple(TokenRange(t[i - 1], t[i]) for i in range(len(t)))

    def range_index(self, token: int) -> int:
        """Index of the range holding `token` (TokenMetadata.firstToken: first token >= it, wrapping)."""
        if not self.tokens:
            raise UsageError("the ring has no tokens", hint="is the cluster up? bd cassandra status")
        i = bisect.bisect_left(self.tokens, token)
        return 0 if i == len(self.tokens) else i


@dataclass(frozen=True)
class ComponentReplicas:
    """The replicas one DC contributes to every range (or all DCs', for SimpleStrategy: datacenter "").

    The DC's selection only changes at its own tokens: `selections[j]` replicates the ranges
    `positions[j-1]+1 .. positions[j]` (ring indices), and ranges after the last position wrap
    around to `selections[0]`.
    """

    datacenter: str
    positions: tuple[int, ...]
    selections: tuple[Selection, ...]

    def run_of(self, index: int) -> int:
        """Which selection covers range `index`."""
        j = bisect.bisect_left(self.positions, index)
        return 0 if j == len(self.positions) else j

    def per_range(self, values: Sequence[T], n: int) -> Sequence[T]:
        """Spread one value per selection over all n ranges without a Python-level loop per range."""
        m = len(self.positions)
        if m == n:
            return values
        if n == 1:
            return [values[0]]
        flags = [0] * n
        deque(map(flags.__setitem__, self.positions, repeat(1)), maxlen=0)
        # The number of this component's tokens before range i picks its selection; m wraps to 0.
        extended = [*values, values[0]]
        return list(operator.itemgetter(*accumulate(flags[:-1], initial=0))(extended))


@dataclass(frozen=True)
class ReplicaMap:
    """Replicas of every range of a ring for one replication setting.

    `replicas_at(i)` are the node indices (into `ring.nodes`) replicating range i: within a DC in
    Cassandra's walk order, DCs in `components` order (Cassandra interleaves DCs in walk order,
    which `endpoints_for_token` reproduces exactly for one token).
    """

    ring: TokenRing
    replication: Replication
    strategy: str
    components: tuple[ComponentReplicas, ...]

    def replicas_at(self, index: int) -> Selection:
        out: Selection = ()
        for c in self.components:
            out += c.selections[c.run_of(index)]
        return out

    def addresses_at(self, index: int) -> tuple[str, ...]:
        nodes = self.ring.nodes
        return tuple(nodes[i].address for i in self.replicas_at(index))

    def iter_replicas(self) -> Iterator[Selection]:
        """Replicas of range 0, 1, ... in ring order."""
        n = len(self.ring.tokens)
        if not self.components:
            yield from (() for _ in range(n))
            return
        columns = [c.per_range(c.selections, n) for c in self.components]
        if len(columns) == 1:
            yield from columns[0]
        else:
            for parts in zip(*columns, strict=True):
                yield sum(parts, ())


def strategy_name(replication: Replication) -> str:
    """Short class name: org.apache.cassandra.locator.SimpleStrategy -> SimpleStrategy."""
    return replication.strategy.rsplit(".", 1)[-1]


def build_token_ring(ring: Ring) -> TokenRing:
    """Sort every node's tokens into one ring; nodes without tokens are left out (like TokenMetadata)."""
    nodes = tuple(n for n in ring.nodes if n.tokens)
    owner_of = {t: idx for idx, node in enumerate(nodes) for t in node.tokens}
    if len(owner_of) != sum(map(len, (node.tokens for node in nodes))):
        claimed: dict[int, int] = {}
        for idx, node in enumerate(nodes):
            for t in node.tokens:
                if claimed.setdefault(t, idx) != idx:
                    other = nodes[claimed[t]].address
                    raise UsageError(f"token {t} is claimed by both {other} and {node.address}")
    tokens = sorted(owner_of)
    return TokenRing(nodes, tuple(tokens), tuple(map(owner_of.__getitem__, tokens)))


def _as_token_ring(ring: Ring | TokenRing) -> TokenRing:
    return ring if isinstance(ring, TokenRing) else build_token_ring(ring)


def parse_rf(value: object) -> int:
    """A replication factor as the schema states it: 3, "3" or "3/1" (transient replicas count as full)."""
    return int(str(value).split("/", 1)[0])


def _simple_rf(replication: Replication) -> int:
    return sum(parse_rf(v) for v in replication.factors.values())


def _check_strategy(strategy: str) -> None:
    if strategy == "LocalStrategy":
        raise UsageError(
            "ownership and replicas of a LocalStrategy keyspace are meaningless: every node keeps its own copy",
            hint="pick a keyspace with SimpleStrategy or NetworkTopologyStrategy: bd cassandra keyspaces",
        )
    if strategy not in ("SimpleStrategy", "NetworkTopologyStrategy", "EverywhereStrategy"):
        raise UsageError(f"replication strategy {strategy!r} is not supported by bd")


# ---------------------------------------------------------------- the fast scan


def _warmup_end(
    positions: Sequence[int], owners: Sequence[int], key_of: Sequence[int], keys_needed: int, nodes_needed: int
) -> int:
    """Index of the last position the warm-up lap must cover.

    The state at the last position looks ahead across the wrap; it is complete once the start of
    the lap holds `keys_needed` distinct keys and `nodes_needed` distinct nodes (or the lap ends).
    """
    keys: set[int] = set()
    seen: set[int] = set()
    for j, p in enumerate(positions):
        node = owners[p]
        seen.add(node)
        keys.add(key_of[node])
        if len(keys) >= keys_needed and len(seen) >= nodes_needed:
            return j
    return len(positions) - 1


def _scan_distinct(
    positions: Sequence[int], owners: Sequence[int], key_of: Sequence[int], k: int, key_count: int
) -> list[Selection]:
    """Per position: the first node of each of the first k distinct keys met walking clockwise.

    Keys are nodes (SimpleStrategy) or racks (a DC with at least RF racks, where
    acceptableRackRepeats <= 0 means only rack-new nodes are ever taken). Scanning backwards,
    prepending node x of key r makes x the first of r; everything else keeps its order.
    """
    m = len(positions)
    keys: list[int] = []
    sel: list[int] = []
    out: list[Selection] = [()] * m
    warm = _warmup_end(positions, owners, key_of, min(k, key_count), 0)
    # Hot loop: bound methods as locals; the warm-up lap only builds state, the second records it.
    index, insert_key, insert_sel, pop_key, pop_sel = keys.index, keys.insert, sel.insert, keys.pop, sel.pop
    for j in range(warm, -1, -1):
        node = owners[positions[j]]
        r = key_of[node]
        if r in keys:
            at = index(r)
            del keys[at]
            del sel[at]
        elif len(keys) == k:
            pop_key()
            pop_sel()
        insert_key(0, r)
        insert_sel(0, node)
    for j in range(m - 1, -1, -1):
        node = owners[positions[j]]
        r = key_of[node]
        if r in keys:
            at = index(r)
            del keys[at]
            del sel[at]
        elif len(keys) == k:
            pop_key()
            pop_sel()
        insert_key(0, r)
        insert_sel(0, node)
        out[j] = tuple(sel)
    return out


def _scan_rack_repeats(
    positions: Sequence[int],
    owners: Sequence[int],
    rack_of: Sequence[int],
    repeats: int,
    rack_count: int,
    n: int,
) -> list[Selection]:
    """Per position: a DC's replicas when it has fewer racks than its RF.

    Then the walk takes the first node of every rack plus the first `repeats` nodes that are not
    the first of their rack (acceptableRackRepeats, capped by the nodes left). Scanning backwards,
    prepending node x of rack r makes x the first of r and demotes r's previous first node into
    the ordered repeat list, of which only the first `repeats` entries can ever matter. Positions
    of the warm-up lap are shifted by the ring size so walk order stays comparable across the wrap.
    """
    m = len(positions)
    first: dict[int, int] = {}
    first_at: dict[int, int] = {}
    reps: list[tuple[int, int]] = []
    out: list[Selection] = [()] * m
    warm = _warmup_end(positions, owners, rack_of, rack_count, rack_count + repeats)
    for lap, top in ((0, warm), (1, m - 1)):
        shift = 0 if lap else n
        for j in range(top, -1, -1):
            at = positions[j] + shift
            node = owners[positions[j]]
            r = rack_of[node]
            f = first.get(r)
            if f is not None and f != node:
                for q, (_, x) in enumerate(reps):
                    if x == node:
                        del reps[q]
                        break
                bisect.insort(reps, (first_at[r], f))
                if len(reps) > repeats:
                    reps.pop()
            first[r] = node
            first_at[r] = at
            if lap:
                chosen = sorted([(first_at[k], first[k]) for k in first] + reps)
                out[j] = tuple(x for _, x in chosen)
    return out


def build_replica_map(ring: Ring | TokenRing, replication: Replication) -> ReplicaMap:
    """Replicas of every token range of `ring` under `replication`, as Cassandra places them."""
    tr = _as_token_ring(ring)
    strategy = strategy_name(replication)
    _check_strategy(strategy)
    n = len(tr.tokens)
    nodes = tr.nodes
    owners = tr.owners
    components: list[ComponentReplicas] = []
    if n == 0:
        return ReplicaMap(tr, replication, strategy, ())

    if strategy == "EverywhereStrategy":
        everyone = tuple(range(len(nodes)))
        components.append(ComponentReplicas("", (n - 1,), (everyone,)))
    elif strategy == "SimpleStrategy":
        rf = _simple_rf(replication)
        if rf > 0:
            sels = _scan_distinct(range(n), owners, range(len(nodes)), rf, len(nodes))
            components.append(ComponentReplicas("", tuple(range(n)), tuple(sels)))
    else:
        rack_ids: dict[tuple[str, str], int] = {}
        rack_of = [rack_ids.setdefault((nd.datacenter, nd.rack), len(rack_ids)) for nd in nodes]
        dc_ids: dict[str, int] = {}
        dc_of = [dc_ids.setdefault(nd.datacenter, len(dc_ids)) for nd in nodes]
        token_dc = list(map(dc_of.__getitem__, owners))
        for dc, rf_value in replication.factors.items():
            rf = parse_rf(rf_value)
            code = dc_ids.get(dc)
            if rf <= 0 or code is None:
                continue
            positions = list(compress(range(n), map(code.__eq__, token_dc)))
            dc_nodes = [i for i, c in enumerate(dc_of) if c == code]
            racks = {rack_of[o] for o in dc_nodes}
            repeats = rf - len(racks)
            if repeats <= 0:
                sels = _scan_distinct(positions, owners, rack_of, rf, len(racks))
            else:
                cap = min(repeats, len(dc_nodes) - len(racks))
                sels = _scan_rack_repeats(positions, owners, rack_of, cap, len(racks), n)
            components.append(ComponentReplicas(dc, tuple(positions), tuple(sels)))
    return ReplicaMap(tr, replication, strategy, tuple(components))


# ---------------------------------------------------------------- one token, Cassandra's own walk


# Complexity over 10 on purpose: follows NetworkTopologyStrategy.calculateNaturalReplicas step for step (racks
# skipped then revisited per DC) so it can be checked against Cassandra's own.
def endpoints_for_token(ring: Ring | TokenRing, replication: Replication, token: int) -> tuple[Node, ...]:  # noqa: C901
    """Replicas of `token` in Cassandra's order (the first is the primary), by walking the ring.

    This is a direct transcription of calculateNaturalReplicas for one token; `nodetool
    getendpoints` prints the same nodes.
    """
    tr = _as_token_ring(ring)
    strategy = strategy_name(replication)
    _check_strategy(strategy)
    if not tr.tokens:
        return ()
    nodes = tr.nodes
    start = tr.range_index(token)
    n = len(tr.tokens)
    walk = (tr.owners[(start + k) % n] for k in range(n))
    if strategy == "EverywhereStrategy":
        return nodes
    chosen: list[int] = []
    if strategy == "SimpleStrategy":
        rf = _simple_rf(replication)
        for o in walk:
            if len(chosen) >= rf:
                break
            if o not in chosen:
                chosen.append(o)
        return tuple(nodes[i] for i in chosen)

    dc_nodes: dict[str, set[int]] = {}
    dc_racks: dict[str, set[str]] = {}
    for i, nd in enumerate(nodes):
        dc_nodes.setdefault(nd.datacenter, set()).add(i)
        dc_racks.setdefault(nd.datacenter, set()).add(nd.rack)
    left: dict[str, int] = {}
    repeats: dict[str, int] = {}
    for dc, rf_value in replication.factors.items():
        rf = parse_rf(rf_value)
        count = len(dc_nodes.get(dc, ()))
        if rf <= 0 or count <= 0:
            continue
        left[dc] = min(rf, count)
        repeats[dc] = rf - len(dc_racks[dc])
    seen_racks: set[tuple[str, str]] = set()
    to_fill = len(left)
    for o in walk:
        if to_fill == 0:
            break
        nd = nodes[o]
        dc = nd.datacenter
        if left.get(dc, 0) == 0 or o in chosen:
            continue
        location = (dc, nd.rack)
        if location not in seen_racks:
            seen_racks.add(location)
        elif repeats[dc] > 0:
            repeats[dc] -= 1
        else:
            continue
        chosen.append(o)
        left[dc] -= 1
        if left[dc] == 0:
            to_fill -= 1
    return tuple(nodes[i] for i in chosen)


# ---------------------------------------------------------------- ownership


def range_shares_micro(tokens: Sequence[int]) -> list[int]:
    """Each range's share of the ring in millionths, rounded HALF_EVEN like describeOwnership.

    share = ((t[i] - t[i-1] + R) mod R) / R with R = 2**64 - 2, to 6 decimals. A tie would need
    2 w 10**6 = (2q + 1) R, i.e. w 10**6 = (2q + 1)(2**63 - 1): impossible, as 2**63 - 1 is coprime
    to 10**6 and an odd number cannot be a multiple of 10**6. So half-up, floor((2 w 10**6 + R) / 2R),
    equals HALF_EVEN, computed with exact integer maps and no per-range Python loop.
    """
    n = len(tokens)
    if n == 0:
        return []
    if n == 1:
        return [_MICRO]
    previous = [tokens[-1], *tokens[:-1]]
    widths = map(operator.mod, map(operator.sub, tokens, previous), repeat(RING_SIZE))
    scaled = map(operator.add, map(operator.mul, widths, repeat(2 * _MICRO)), repeat(RING_SIZE))
    return list(map(operator.floordiv, scaled, repeat(2 * RING_SIZE)))


def effective_ownership(
    ring: Ring | TokenRing, replication: Replication, *, replica_map: ReplicaMap | None = None
) -> dict[str, float]:
    """Per node address, the fraction of the ring it holds a replica of ("Owns (effective)").

    The figure nodetool status KEYSPACE prints: for every range the node replicates, the range's
    share rounded to 6 decimals, summed. Nodes without tokens are absent from the result.
    """
    rm = replica_map if replica_map is not None else build_replica_map(ring, replication)
    tr = rm.ring
    n = len(tr.tokens)
    prefix = [0, *accumulate(range_shares_micro(tr.tokens))]
    acc = [0] * len(tr.nodes)
    for comp in rm.components:
        prev = 0
        for j, (p, sel) in enumerate(zip(comp.positions, comp.selections, strict=True)):
            w = prefix[p + 1] - prefix[prev]
            if j == 0:
                w += prefix[n] - prefix[comp.positions[-1] + 1]
            prev = p + 1
            for i in sel:
                acc[i] += w
    return {nd.address: acc[i] / _MICRO for i, nd in enumerate(tr.nodes)}


def primary_ownership(ring: Ring | TokenRing) -> dict[str, float]:
    """Per node address, the share of the ring its own tokens end (nodetool status "Owns" without a keyspace)."""
    tr = _as_token_ring(ring)
    acc = [0] * len(tr.nodes)
    for owner, share in zip(tr.owners, range_shares_micro(tr.tokens), strict=True):
        acc[owner] += share
    return {nd.address: acc[i] / _MICRO for i, nd in enumerate(tr.nodes)}
