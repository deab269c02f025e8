"""Synthetic rings for tests and benchmarks (test harness, not shipped): random vnode tokens, no server."""

from __future__ import annotations

import random
from collections.abc import Sequence

from braindump_cli.cassandra.model import Node, Ring
from braindump_cli.cassandra.murmur3 import MAX_TOKEN, MIN_TOKEN


def make_synthetic_ring(
    nodes_per_dc: Sequence[int],
    *,
    vnodes: int = 16,
    racks_per_dc: int | Sequence[int] = 1,
    seed: int = 0,
) -> Ring:
    """A ring of len(nodes_per_dc) DCs ("dc1", ...), nodes spread round-robin over racks ("r1", ...).

    Tokens are distinct uniform random longs, like Cassandra's random allocation; addresses are
    10.<dc>.<hi>.<lo> so they sort and read naturally.
    """
    rng = random.Random(seed)
    racks = [racks_per_dc] * len(nodes_per_dc) if isinstance(racks_per_dc, int) else list(racks_per_dc)
    used: set[int] = set()
    nodes = []
    for d, count in enumerate(nodes_per_dc):
        for k in range(count):
            tokens: list[int] = []
            while len(tokens) < vnodes:
                t = rng.randint(MIN_TOKEN + 1, MAX_TOKEN)
                if t not in used:
                    used.add(t)
                    tokens.append(t)
            nodes.append(
                Node(
                    address=f"10.{d + 1}.{k // 256}.{k % 256}",
                    datacenter=f"dc{d + 1}",
                    rack=f"r{k % racks[d] + 1}",
                    tokens=tuple(sorted(tokens)),
                    host_id=f"00000000-0000-4000-8000-{d + 1:04d}{k:08d}",
                )
            )
    return Ring(nodes=tuple(nodes), cluster_name="synthetic")
