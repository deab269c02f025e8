"""What a topology change would do, before anyone acts: ownership after it and the ranges that stream.

- decommission NODE: the node's tokens leave the ring; every range whose replica set gains a node
  streams to that node (Cassandra's StorageService.getChangedReplicasForLeaving does the same diff).
- replace NODE: the new node takes the old node's tokens (replace_address_first_boot), so ownership
  is unchanged and the new node streams every range the old one replicated.
- add N: N new nodes join with `num_tokens` tokens each. Where the cluster allocates tokens at
  random (no `allocate_tokens_for_local_replication_factor` / `allocate_tokens_for_keyspace`),
  bd draws random tokens as Cassandra does (a seeded sample for the figures, plus the spread of
  the new node's ownership over many draws). Where the cluster uses Cassandra's token allocator,
  bd says so and does not pretend to reproduce it (`allocation` in the report).

Bytes are estimated from system.size_estimates per range when the caller gives them, else from the
node's load spread over its token share; the report says which (`bytes_source`).
"""

from __future__ import annotations

import dataclasses
import random
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

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
    schema_version: int = 1


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


def plan_add(
    ring: Ring,
    keyspaces: Sequence[Keyspace],
    count: int,
    *,
    dc: str | None,
    rack: str | None,
    num_tokens: int,
    allocation: str,
    seed: int = 0,
    data: Mapping[str, Mapping[int, float]] | None = None,
) -> PlanReport:
    """N new nodes with random tokens (the figures of one seeded draw, and the spread over SAMPLES draws)."""
    if count < 1:
        raise UsageError("--add needs at least 1 node")
    dcs = sorted({n.datacenter for n in ring.nodes})
    dc = dc or (dcs[0] if len(dcs) == 1 else None)
    if dc is None:
        raise UsageError(f"the ring has several data centres ({', '.join(dcs)})", hint="say where: --dc DC --rack R")
    rack = rack or next((n.rack for n in ring.nodes if n.datacenter == dc), "rack1")
    rng = random.Random(seed)  # noqa: S311 - a reproducible sample of Cassandra's random allocation, not a secret
    after = _with_new_nodes(ring, count, dc, rack, num_tokens, rng)
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
    new = {f"new-node-{i + 1}" for i in range(count)}
    return _report(
        "add",
        tuple(sorted(new)),
        ring,
        after,
        keyspaces,
        data,
        new=new,
        allocation=allocation,
        num_tokens=num_tokens,
        spread=tuple(spread),
        note=None
        if allocation == "random"
        else "this cluster allocates tokens with Cassandra's allocator, which bd does not reproduce: the figures "
        "use random tokens, and the allocator gives a more even ownership than they show",
    )
