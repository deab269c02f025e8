"""The exact worst K nodes against the brute-force reference (every K-set against every range)."""

from __future__ import annotations

import dataclasses
import random

import pytest

from braindump_cli.cassandra.consistency import LEVELS
from braindump_cli.cassandra.model import Replication
from braindump_cli.cassandra.ring import build_replica_map
from braindump_cli.cassandra.survive import (
    analyse_survival,
    brute_force_worst_nodes,
    fails,
    level_groups,
    range_weights,
    worst_nodes,
)
from braindump_cli.errors import UsageError
from tests.cassandra.synthetic import make_synthetic_ring

REPLICATIONS = [
    Replication("SimpleStrategy", {"": 1}),
    Replication("SimpleStrategy", {"": 3}),
    Replication("NetworkTopologyStrategy", {"dc1": 3, "dc2": 2}),
    Replication("NetworkTopologyStrategy", {"dc1": 2, "dc2": 1}),
    Replication("NetworkTopologyStrategy", {"dc1": 1, "dc2": 1}),
    Replication("NetworkTopologyStrategy", {"dc1": 5}),
]


@pytest.mark.parametrize("seed", range(12))
def test_worst_nodes_equal_brute_force(seed: int) -> None:
    rng = random.Random(seed)
    ring = make_synthetic_ring(
        [rng.randint(3, 7), rng.randint(2, 5)], vnodes=rng.choice([1, 4, 8]), racks_per_dc=rng.randint(1, 3), seed=seed
    )
    if seed % 3 == 0:  # a node already down counts as lost
        nodes = list(ring.nodes)
        nodes[1] = dataclasses.replace(nodes[1], up=False)
        ring = dataclasses.replace(ring, nodes=tuple(nodes))
    live = [i for i, n in enumerate(ring.nodes) if n.up]
    checked = 0
    for replication in REPLICATIONS:
        rm = build_replica_map(ring, replication)
        weights = range_weights(rm)
        for level in LEVELS:
            built = level_groups(rm, level, local_dc="dc1")
            if built is None:
                continue
            per_range, _ = built
            for k in (1, 2, 3):
                ours, chosen = worst_nodes(per_range, weights, n=len(ring.nodes), k=k, candidates=live)
                reference, _ = brute_force_worst_nodes(per_range, weights, k=k, candidates=live)
                assert ours == reference, (replication, level, k)
                lost = set(chosen)
                assert len(lost) == k
                assert lost <= set(live)
                assert sum(w for g, w in zip(per_range, weights, strict=True) if fails(g, lost)) == reference
                checked += 1
    assert checked > 100


def test_racks_and_dc_list_every_combination() -> None:
    ring = make_synthetic_ring([6, 3], vnodes=8, racks_per_dc=3, seed=4)
    rep = Replication("NetworkTopologyStrategy", {"dc1": 3, "dc2": 1})
    report = analyse_survival(ring, rep, keyspace="ks", local_dc="dc1", levels=["LOCAL_QUORUM", "ONE"], racks=1)
    by_level = {lv.level: lv for lv in report.levels}
    lq = by_level["LOCAL_QUORUM"]
    assert [c.units for c in lq.combinations] == sorted(
        [(u,) for u in ("dc1/r1", "dc1/r2", "dc1/r3", "dc2/r1", "dc2/r2", "dc2/r3")],
        key=lambda u: (-next(c.range_share for c in lq.combinations if c.units == u), u),
    )
    # dc1 RF 3 over three racks: one replica per rack, so one rack lost leaves 2 of 3 (quorum holds)
    assert lq.survives is True
    assert by_level["ONE"].survives is True
    dc = analyse_survival(
        ring, rep, keyspace="ks", local_dc="dc1", levels=["LOCAL_QUORUM", "EACH_QUORUM", "ONE"], dc="dc2"
    )
    verdicts = {lv.level: (lv.survives, lv.worst.range_share) for lv in dc.levels}
    assert verdicts["LOCAL_QUORUM"] == (True, 0.0)
    assert verdicts["EACH_QUORUM"][0] is False
    assert verdicts["EACH_QUORUM"][1] == pytest.approx(1.0)
    assert verdicts["ONE"] == (True, 0.0)


def test_worst_pair_share_is_a_ring_fraction() -> None:
    ring = make_synthetic_ring([5], vnodes=4, seed=9)
    report = analyse_survival(
        ring,
        Replication("SimpleStrategy", {"": 2}),
        keyspace="ks",
        local_dc="dc1",
        levels=["ONE", "ALL", "ANY"],
        nodes=2,
    )
    by_level = {lv.level: lv for lv in report.levels}
    assert 0 < by_level["ONE"].worst.range_share < by_level["ALL"].worst.range_share <= 1
    assert by_level["ANY"].survives is True
    assert by_level["ANY"].operations == ("write",)
    with pytest.raises(UsageError):
        analyse_survival(ring, Replication("SimpleStrategy", {"": 2}), keyspace="ks", local_dc="dc1", nodes=4)
