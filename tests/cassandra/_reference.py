"""Brute-force reference implementations written straight from Cassandra's Java, for small rings.

Deliberately naive: one full ring walk per token (calculateNaturalReplicas), BigDecimal-style
ownership with `decimal`, and consistency verdicts re-derived from ConsistencyLevel and
ReplicaPlans for each range. The fast library code is checked against these.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_EVEN, Decimal, localcontext

from braindump_cli.cassandra.model import Node, Ring

R = 2**64 - 2  # describeOwnership: MAXIMUM - (MINIMUM + 1)


def random_ring(rng: random.Random, *, max_nodes: int = 24, max_vnodes: int = 8, max_dcs: int = 3) -> Ring:
    """Uneven layouts on purpose: per-node vnode counts, skewed racks, DCs of one node."""
    dcs = rng.randint(1, max_dcs)
    nodes = []
    used: set[int] = set()
    count = rng.randint(1, max_nodes)
    rack_counts = [rng.randint(1, 4) for _ in range(dcs)]
    for k in range(count):
        d = rng.randrange(dcs) if k >= dcs else k
        # a skewed rack choice: rack 1 is far more common, so rack-repeat rules matter
        rack = 1 if rng.random() < 0.6 else rng.randint(1, rack_counts[d])
        vn = rng.randint(1, max_vnodes)
        tokens = []
        while len(tokens) < vn:
            t = rng.randint(-(2**63) + 1, 2**63 - 1)
            if t not in used:
                used.add(t)
                tokens.append(t)
        nodes.append(
            Node(
                address=f"10.0.{k // 250}.{k % 250 + 1}",
                datacenter=f"dc{d + 1}",
                rack=f"rack{rack}",
                tokens=tuple(tokens),
                up=rng.random() > 0.1,
            )
        )
    return Ring(nodes=tuple(nodes))


def sorted_tokens(ring: Ring) -> tuple[list[int], dict[int, Node]]:
    owner = {t: n for n in ring.nodes for t in n.tokens}
    return sorted(owner), owner


_SORTED: dict[int, tuple[Ring, list[int], dict[int, Node]]] = {}


# Complexity over 10 on purpose: the brute-force reference is deliberately literal: Cassandra's algorithm
# transcribed, not factored.
def natural_replicas(ring: Ring, strategy: str, factors: Mapping[str, int], token: int) -> list[Node]:  # noqa: C901
    """calculateNaturalReplicas for one token, walking the ring from the token's range."""
    cached = _SORTED.get(id(ring))
    if cached is None or cached[0] is not ring:
        cached = _SORTED[id(ring)] = (ring, *sorted_tokens(ring))
    _, tokens, owner = cached
    start = next((i for i, t in enumerate(tokens) if t >= token), 0)
    walk = (owner[tokens[(start + k) % len(tokens)]] for k in range(len(tokens)))
    replicas: list[Node] = []
    if strategy == "SimpleStrategy":
        rf = sum(factors.values())
        for ep in walk:
            if len(replicas) >= rf:
                break
            if ep not in replicas:
                replicas.append(ep)
        return replicas
    members = [n for n in ring.nodes if n.tokens]
    if strategy == "EverywhereStrategy":
        return members
    state: dict[str, list[int]] = {}  # dc -> [rfLeft, acceptableRackRepeats]
    for dc, rf in factors.items():
        dc_nodes = [n for n in members if n.datacenter == dc]
        if rf <= 0 or not dc_nodes:
            continue
        state[dc] = [min(rf, len(dc_nodes)), rf - len({n.rack for n in dc_nodes})]
    seen: set[tuple[str, str]] = set()
    to_fill = len(state)
    for ep in walk:
        if to_fill == 0:
            break
        st = state.get(ep.datacenter)
        if st is None or st[0] == 0 or ep in replicas:
            continue
        loc = (ep.datacenter, ep.rack)
        if loc in seen:
            if st[1] <= 0:
                continue
            st[1] -= 1
        else:
            seen.add(loc)
        replicas.append(ep)
        st[0] -= 1
        if st[0] == 0:
            to_fill -= 1
    return replicas


def ownership(ring: Ring, strategy: str, factors: Mapping[str, int]) -> dict[str, Decimal]:
    """StorageService.effectiveOwnership with describeOwnership's 6-decimal HALF_EVEN shares."""
    tokens, _ = sorted_tokens(ring)
    out = {n.address: Decimal(0) for n in ring.nodes if n.tokens}
    with localcontext() as ctx:
        ctx.prec = 60
        for i, t in enumerate(tokens):
            if len(tokens) == 1:
                share = Decimal(1)
            else:
                share = (Decimal((t - tokens[i - 1] + R) % R) / Decimal(R)).quantize(
                    Decimal("0.000001"), rounding=ROUND_HALF_EVEN
                )
            for n in natural_replicas(ring, strategy, factors, t):
                out[n.address] += share
    return out


def level_ok(
    level: str,
    op: str,
    strategy: str,
    factors: Mapping[str, int],
    replicas: Sequence[Node],
    live: set[str],
    local_dc: str,
) -> bool | None:
    """Is one range available at `level` for `op` ("read"/"write")? None: invalid (ANY reads)."""
    nts = strategy == "NetworkTopologyStrategy"
    total = sum(factors.values())
    alive = [n for n in replicas if n.address in live]
    local_alive = [n for n in alive if n.datacenter == local_dc]
    if level == "ANY":
        return None if op == "read" else True
    if level in ("ONE", "TWO", "THREE"):
        return len(alive) >= {"ONE": 1, "TWO": 2, "THREE": 3}[level]
    if level == "QUORUM" or (level == "EACH_QUORUM" and not nts):
        return len(alive) >= total // 2 + 1
    if level == "ALL":
        return len(alive) >= total
    if level == "LOCAL_ONE":
        return len(local_alive) >= 1
    if level == "LOCAL_QUORUM":
        need = factors.get(local_dc, 0) // 2 + 1 if nts else total // 2 + 1
        return len(local_alive) >= need
    assert level == "EACH_QUORUM"
    return all(sum(1 for n in alive if n.datacenter == dc) >= rf // 2 + 1 for dc, rf in factors.items())
