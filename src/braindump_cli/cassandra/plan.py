"""What a topology change would do, before anyone acts: ownership after it and the ranges that stream.

- decommission NODE: the node's tokens leave the ring; every range whose replica set gains a node
  streams to that node (Cassandra's StorageService.getChangedReplicasForLeaving does the same diff).
- replace NODE: the new node takes the old node's tokens (replace_address_first_boot), so ownership
  is unchanged and the new node streams every range the old one replicated.
- add N: N new nodes join, one after another, with `num_tokens` tokens each. Where the cluster uses
  Cassandra's token allocator (`allocate_tokens_for_local_replication_factor`, on in 5.0's stock
  cassandra.yaml, or `allocate_tokens_for_keyspace`), bd runs its transcription of that allocator
  (`braindump_cli.cassandra.allocate`): the tokens are exactly Cassandra's, except where the
  allocation ring is empty (the first node of a DC), whose first token Cassandra draws at random.
  Where the cluster allocates at random, bd draws random tokens as Cassandra does (a seeded sample
  for the figures, plus the spread of the new node's ownership over many draws).

Bytes are estimated from system.size_estimates per range when the caller gives them, else from the
node's load spread over its token share; the report says which (`bytes_source`).
"""

from __future__ import annotations

import dataclasses
import random
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from braindump_cli.cassandra.allocate import (
    MURMUR3,
    AllocationRefusedError,
    RandomStartError,
    allocate_tokens,
)
from braindump_cli.cassandra.model import Keyspace, Node, Ring
from braindump_cli.cassandra.ring import (
    RING_SIZE,
    build_replica_map,
    build_token_ring,
    effective_ownership,
    primary_ownership,
)
from braindump_cli.errors import NotFoundError, UsageError

MIN_TOKEN = -(2**63)
MAX_TOKEN = 2**63 - 1
SAMPLES = 200


@dataclass(frozen=True)
class NodeAfter:
    address: str
    datacenter: str
    rack: str
    new: bool
    tokens: int
    owns_before: float | None
    owns_after: float
    owns_effective_before: Mapping[str, float]
    owns_effective_after: Mapping[str, float]


@dataclass(frozen=True)
class Stream:
    """One range (start, end] of one keyspace that `target` must receive."""

    keyspace: str
    start: int
    end: int
    target: str
    sources: tuple[str, ...]  # replicas before the change that hold it
    estimated_bytes: float | None


@dataclass(frozen=True)
class OwnershipSpread:
    """Effective ownership of a new node over many random draws (add with random tokens)."""

    keyspace: str
    mean: float
    stdev: float
    low: float
    high: float
    samples: int


@dataclass(frozen=True)
class PlanReport:
    change: str  # "add", "decommission", "replace"
    subject: tuple[str, ...]
    allocation: str | None  # add: "random" or "allocator (...)"; else None
    num_tokens: int | None
    nodes: tuple[NodeAfter, ...]
    streams: tuple[Stream, ...]
    bytes_to_stream: Mapping[str, float | None]  # per receiving node
    bytes_source: str
    spread: tuple[OwnershipSpread, ...]
    note: str | None = None
    new_tokens: Mapping[str, tuple[int, ...]] = dataclasses.field(default_factory=dict)  # add: each new node's
    tokens_exact: bool | None = None  # add: True where new_tokens are the tokens Cassandra will pick
    allocation_ring: str | None = None  # add (allocator): which nodes the allocator balanced against
    schema_version: int = 1


@dataclass(frozen=True)
class AllocatorSetting:
    """The cluster's token allocator setting; neither field set means random tokens."""

    local_rf: int | None = None  # allocate_tokens_for_local_replication_factor
    keyspace: Keyspace | None = None  # allocate_tokens_for_keyspace, with its replication

    @property
    def label(self) -> str:
        if self.local_rf is not None:
            return f"allocator (allocate_tokens_for_local_replication_factor={self.local_rf})"
        if self.keyspace is not None:
            return f"allocator (allocate_tokens_for_keyspace={self.keyspace.name})"
        return "random"


def random_tokens(count: int, taken: set[int], rng: random.Random) -> tuple[int, ...]:
    """Murmur3Partitioner.getRandomToken: uniform over the long range, distinct from the ring's."""
    out: list[int] = []
    while len(out) < count:
        t = rng.randint(MIN_TOKEN, MAX_TOKEN)
        if t not in taken and t != MIN_TOKEN:
            taken.add(t)
            out.append(t)
    return tuple(sorted(out))


def _range_owner_index(tokens: Sequence[int], token: int) -> int:
    import bisect

    i = bisect.bisect_left(tokens, token)
    return 0 if i == len(tokens) else i


def _fine_streams(
    before: Ring, after: Ring, keyspace: Keyspace, data: Mapping[int, float] | None, load_share: Mapping[str, float]
) -> list[Stream]:
    """Streams of one keyspace on the union of both rings' tokens (each fine range has one replica set each side)."""
    rm_b = build_replica_map(before, keyspace.replication)
    rm_a = build_replica_map(after, keyspace.replication)
    tb, ta = rm_b.ring, rm_a.ring
    fine = sorted(set(tb.tokens) | set(ta.tokens))
    out = []
    for i, end in enumerate(fine):
        start = fine[i - 1]
        old = set(rm_b.addresses_at(_range_owner_index(tb.tokens, end)))
        new = rm_a.addresses_at(_range_owner_index(ta.tokens, end))
        width = (end - start) % RING_SIZE or RING_SIZE
        for target in new:
            if target in old:
                continue
            size = _range_bytes(data, tb.tokens, start, end, width, old, load_share)
            out.append(Stream(keyspace.name, start, end, target, tuple(sorted(old)), size))
    return out


def _range_bytes(
    data: Mapping[int, float] | None,
    tokens: Sequence[int],
    start: int,
    end: int,
    width: int,
    holders: set[str],
    load_share: Mapping[str, float],
) -> float | None:
    """A fine range's bytes: its share of the enclosing ring range's size estimate, else of a holder's load."""
    if data is not None:
        i = _range_owner_index(tokens, end)
        full = (tokens[i] - tokens[i - 1]) % RING_SIZE or RING_SIZE
        return data.get(tokens[i], 0.0) * width / full
    rates = [load_share[h] for h in holders if h in load_share]
    return max(rates) * width if rates else None


def _load_per_token(ring: Ring, keyspaces: Sequence[Keyspace]) -> dict[str, float]:
    """Bytes per token of each node: its gossip load over the token share it replicates (all keyspaces)."""
    out: dict[str, float] = {}
    for ks in keyspaces:
        eff = effective_ownership(ring, ks.replication)
        for n in ring.nodes:
            if n.load_bytes and eff.get(n.address):
                out[n.address] = max(out.get(n.address, 0.0), n.load_bytes / (eff[n.address] * RING_SIZE))
    return out


def _nodes_after(before: Ring, after: Ring, keyspaces: Sequence[Keyspace], new: set[str]) -> tuple[NodeAfter, ...]:
    pb, pa = primary_ownership(before), primary_ownership(after)
    eb = {ks.name: effective_ownership(before, ks.replication) for ks in keyspaces}
    ea = {ks.name: effective_ownership(after, ks.replication) for ks in keyspaces}
    return tuple(
        NodeAfter(
            address=n.address,
            datacenter=n.datacenter,
            rack=n.rack,
            new=n.address in new,
            tokens=len(n.tokens),
            owns_before=pb.get(n.address),
            owns_after=pa.get(n.address, 0.0),
            owns_effective_before={k: v[n.address] for k, v in eb.items() if n.address in v},
            owns_effective_after={k: v.get(n.address, 0.0) for k, v in ea.items()},
        )
        for n in after.nodes
    )


def _find(ring: Ring, name: str) -> Node:
    for n in ring.nodes:
        if name in (n.address, n.host_id):
            return n
    raise NotFoundError(f"node {name!r} is not in the ring", hint="list the nodes with: bd cassandra ring")


def _report(
    change: str,
    subject: tuple[str, ...],
    before: Ring,
    after: Ring,
    keyspaces: Sequence[Keyspace],
    data: Mapping[str, Mapping[int, float]] | None,
    *,
    new: set[str],
    allocation: str | None = None,
    num_tokens: int | None = None,
    spread: tuple[OwnershipSpread, ...] = (),
    note: str | None = None,
    new_tokens: Mapping[str, tuple[int, ...]] | None = None,
    tokens_exact: bool | None = None,
    allocation_ring: str | None = None,
) -> PlanReport:
    load_share = _load_per_token(before, keyspaces)
    streams = [
        s for ks in keyspaces for s in _fine_streams(before, after, ks, data.get(ks.name) if data else None, load_share)
    ]
    totals: dict[str, float | None] = {}
    for s in streams:
        prev = totals.get(s.target, 0.0)
        totals[s.target] = None if prev is None or s.estimated_bytes is None else prev + s.estimated_bytes
    source = "system.size_estimates" if data else "node load (gossip) over its effective token share"
    return PlanReport(
        change=change,
        subject=subject,
        allocation=allocation,
        num_tokens=num_tokens,
        nodes=_nodes_after(before, after, keyspaces, new),
        streams=tuple(streams),
        bytes_to_stream=totals,
        bytes_source=source,
        spread=spread,
        note=note,
        new_tokens=new_tokens or {},
        tokens_exact=tokens_exact,
        allocation_ring=allocation_ring,
    )


def plan_decommission(
    ring: Ring, keyspaces: Sequence[Keyspace], node: str, *, data: Mapping[str, Mapping[int, float]] | None = None
) -> PlanReport:
    leaving = _find(ring, node)
    after = Ring(tuple(n for n in ring.nodes if n.address != leaving.address), ring.cluster_name, ring.partitioner)
    if not build_token_ring(after).tokens:
        raise UsageError("decommissioning the last node leaves no ring")
    return _report("decommission", (leaving.address,), ring, after, keyspaces, data, new=set())


def plan_replace(
    ring: Ring,
    keyspaces: Sequence[Keyspace],
    node: str,
    *,
    new_address: str = "new-node",
    data: Mapping[str, Mapping[int, float]] | None = None,
) -> PlanReport:
    old = _find(ring, node)
    replacement = dataclasses.replace(old, address=new_address, host_id=None, load_bytes=None, up=True)
    after = Ring(tuple(replacement if n is old else n for n in ring.nodes), ring.cluster_name, ring.partitioner)
    return _report("replace", (old.address,), ring, after, keyspaces, data, new={new_address})


def _with_new_nodes(ring: Ring, count: int, dc: str, rack: str, num_tokens: int, rng: random.Random) -> Ring:
    taken = {t for n in ring.nodes for t in n.tokens}
    added = [Node(f"new-node-{i + 1}", dc, rack, random_tokens(num_tokens, taken, rng), up=True) for i in range(count)]
    return Ring((*ring.nodes, *added), ring.cluster_name, ring.partitioner)


def _replicas(setting: AllocatorSetting, dc: str) -> tuple[int, bool]:
    """The replicas the allocator balances for in `dc`, and whether the strategy is SimpleStrategy."""
    if setting.local_rf is not None:
        return setting.local_rf, False
    assert setting.keyspace is not None  # noqa: S101 - label() says random otherwise, and plan_add checks it
    rep = setting.keyspace.replication
    if rep.strategy.endswith("SimpleStrategy"):
        return sum(rep.factors.values()), True
    if rep.strategy.endswith("NetworkTopologyStrategy"):
        return rep.factors.get(dc, 0), False
    raise AllocationRefusedError(
        f"Cassandra's token allocation does not support {rep.strategy} (keyspace {setting.keyspace.name})",
        hint="set allocate_tokens_for_local_replication_factor instead, or give: --allocate-rf N",
    )


def _allocated(
    ring: Ring, setting: AllocatorSetting, count: int, dc: str, rack: str, num_tokens: int, rng: random.Random
) -> tuple[Ring, dict[str, tuple[int, ...]], bool, str]:
    """Ring after `count` nodes join one after another, each with the tokens Cassandra's allocator gives it."""
    if ring.partitioner.rsplit(".", 1)[-1] != MURMUR3.rsplit(".", 1)[-1]:
        raise UsageError(
            f"bd reproduces Cassandra's token allocator only for Murmur3Partitioner, not {ring.partitioner}"
        )
    replicas, simple = _replicas(setting, dc)
    new: dict[str, tuple[int, ...]] = {}
    exact, described = True, ""
    for i in range(count):
        members = [n for n in ring.nodes if n.tokens]
        address = f"new-node-{i + 1}"
        try:
            result = allocate_tokens(
                members, address=address, dc=dc, rack=rack, num_tokens=num_tokens, replicas=replicas, simple=simple
            )
        except RandomStartError:
            first = random_tokens(1, {t for m in members for t in m.tokens}, rng)[0]
            result = allocate_tokens(
                members,
                address=address,
                dc=dc,
                rack=rack,
                num_tokens=num_tokens,
                replicas=replicas,
                simple=simple,
                first_token=first,
            )
            exact = False
        described = described or result.ring.description
        new[address] = result.tokens
        ring = Ring((*ring.nodes, Node(address, dc, rack, result.tokens, up=True)), ring.cluster_name, ring.partitioner)
    return ring, new, exact, described


def _where(ring: Ring, dc: str | None, rack: str | None) -> tuple[str, str]:
    dcs = sorted({n.datacenter for n in ring.nodes})
    dc = dc or (dcs[0] if len(dcs) == 1 else None)
    if dc is None:
        raise UsageError(f"the ring has several data centres ({', '.join(dcs)})", hint="say where: --dc DC --rack R")
    return dc, rack or next((n.rack for n in ring.nodes if n.datacenter == dc), "rack1")


def _random_spread(
    ring: Ring, keyspaces: Sequence[Keyspace], dc: str, rack: str, num_tokens: int, rng: random.Random
) -> tuple[OwnershipSpread, ...]:
    spread = []
    for ks in keyspaces:
        shares = [
            effective_ownership(_with_new_nodes(ring, 1, dc, rack, num_tokens, rng), ks.replication)["new-node-1"]
            for _ in range(SAMPLES)
        ]
        spread.append(
            OwnershipSpread(
                ks.name, statistics.fmean(shares), statistics.pstdev(shares), min(shares), max(shares), SAMPLES
            )
        )
    return tuple(spread)


_RANDOM_START = (
    "the allocation ring is empty (no node yet in {dc}'s allocation ring): Cassandra draws the first new node's "
    "first token at random, so bd used a seeded random one; the other tokens follow from it as Cassandra's do"
)


def plan_add(
    ring: Ring,
    keyspaces: Sequence[Keyspace],
    count: int,
    *,
    dc: str | None,
    rack: str | None,
    num_tokens: int,
    allocator: AllocatorSetting | None = None,
    seed: int = 0,
    data: Mapping[str, Mapping[int, float]] | None = None,
) -> PlanReport:
    """N new nodes joining one after another: the tokens Cassandra's allocator gives them, or random tokens.

    With the allocator the tokens are exact (`tokens_exact`); with random tokens the figures are one
    seeded draw and `spread` gives the new node's ownership over SAMPLES draws.
    """
    if count < 1:
        raise UsageError("--add needs at least 1 node")
    if num_tokens < 1:
        raise UsageError("num_tokens must be >= 1")
    dc, rack = _where(ring, dc, rack)
    setting = allocator or AllocatorSetting()
    rng = random.Random(seed)  # noqa: S311 - a reproducible sample of Cassandra's random allocation, not a secret
    if setting.label == "random":
        after = _with_new_nodes(ring, count, dc, rack, num_tokens, rng)
        new_tokens = {n.address: n.tokens for n in after.nodes[len(ring.nodes) :]}
        spread, exact, described, note = _random_spread(ring, keyspaces, dc, rack, num_tokens, rng), False, None, None
    else:
        after, new_tokens, exact, described = _allocated(ring, setting, count, dc, rack, num_tokens, rng)
        spread, note = (), None if exact else _RANDOM_START.format(dc=dc)
    new = set(new_tokens)
    return _report(
        "add",
        tuple(sorted(new)),
        ring,
        after,
        keyspaces,
        data,
        new=new,
        allocation=setting.label,
        num_tokens=num_tokens,
        spread=spread,
        note=note,
        new_tokens=new_tokens,
        tokens_exact=exact,
        allocation_ring=described,
    )
