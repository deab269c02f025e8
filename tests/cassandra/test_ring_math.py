"""The fast ring scan and ownership against a brute-force transcription of Cassandra's walk."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from braindump_cli.cassandra.model import Node, Replication, Ring
from braindump_cli.cassandra.ring import (
    TokenRange,
    build_replica_map,
    build_token_ring,
    effective_ownership,
    endpoints_for_token,
    primary_ownership,
    range_shares_micro,
)
from braindump_cli.errors import UsageError
from tests.cassandra import _reference as ref
from tests.cassandra.synthetic import make_synthetic_ring


def _random_replication(rng: random.Random, ring: Ring) -> Replication:
    dcs = sorted({n.datacenter for n in ring.nodes})
    if rng.random() < 0.3:
        return Replication("SimpleStrategy", {"": rng.randint(1, 5)})
    factors = {dc: rng.randint(0, 5) for dc in dcs if rng.random() < 0.85}
    if rng.random() < 0.2:
        factors["ghost_dc"] = rng.randint(1, 3)
    return Replication("org.apache.cassandra.locator.NetworkTopologyStrategy", factors)


def _short(strategy: str) -> str:
    return strategy.rsplit(".", 1)[-1]


@pytest.mark.parametrize("seed", range(120))
def test_every_range_matches_the_brute_force_walk(seed: int) -> None:
    rng = random.Random(seed)
    ring = ref.random_ring(rng)
    replication = _random_replication(rng, ring)
    rm = build_replica_map(ring, replication)
    tokens, _ = ref.sorted_tokens(ring)
    assert rm.ring.tokens == tuple(tokens)
    all_replicas = list(rm.iter_replicas())
    for i, t in enumerate(tokens):
        expected = ref.natural_replicas(ring, _short(replication.strategy), replication.factors, t)
        got = rm.addresses_at(i)
        # Same nodes; the same order within each DC (the bulk map groups DCs).
        assert sorted(got) == sorted(n.address for n in expected), (seed, i)
        if _short(replication.strategy) != "SimpleStrategy":
            for dc in {n.datacenter for n in ring.nodes}:
                members = {n.address for n in ring.nodes if n.datacenter == dc}
                in_dc = [a for a in got if a in members]
                assert in_dc == [n.address for n in expected if n.datacenter == dc], (seed, i, dc)
        assert all_replicas[i] == rm.replicas_at(i)
        # endpoints_for_token keeps Cassandra's exact order, primary first
        walk = endpoints_for_token(rm.ring, replication, t)
        assert [n.address for n in walk] == [n.address for n in expected]


@pytest.mark.parametrize("seed", range(40))
def test_tokens_between_ring_tokens_belong_to_the_next_range(seed: int) -> None:
    rng = random.Random(1000 + seed)
    ring = ref.random_ring(rng, max_nodes=10)
    replication = _random_replication(rng, ring)
    tr = build_token_ring(ring)
    for _ in range(30):
        token = rng.randint(-(2**63), 2**63 - 1)
        got = [n.address for n in endpoints_for_token(tr, replication, token)]
        expected = [
            n.address for n in ref.natural_replicas(ring, _short(replication.strategy), replication.factors, token)
        ]
        assert got == expected
        i = tr.range_index(token)
        r = tr.range_at(i)
        if len(tr) > 1:
            assert (r.start < token <= r.end) or (r.start >= r.end and (token > r.start or token <= r.end))


@pytest.mark.parametrize("seed", range(40))
def test_effective_ownership_matches_describe_ownership(seed: int) -> None:
    rng = random.Random(2000 + seed)
    ring = ref.random_ring(rng, max_nodes=12, max_vnodes=6)
    replication = _random_replication(rng, ring)
    expected = ref.ownership(ring, _short(replication.strategy), replication.factors)
    got = effective_ownership(ring, replication)
    assert set(got) == set(expected)
    for address, fraction in got.items():
        assert Decimal(round(fraction * 1_000_000)) / 1_000_000 == expected[address], address


@pytest.mark.parametrize(
    ("nodes_per_dc", "vnodes", "racks", "factors"),
    [
        ([1], 1, 1, {"dc1": 1}),
        ([1], 256, 1, {"dc1": 3}),
        ([3], 1, 1, {"dc1": 3}),
        ([7, 5, 2], 16, [3, 2, 1], {"dc1": 5, "dc2": 3, "dc3": 2}),
        ([1000], 1, 4, {"dc1": 5}),
        ([400, 300, 300], 4, [5, 2, 1], {"dc1": 3, "dc2": 4, "dc3": 1}),
        ([500, 500], 256, 3, {"dc1": 3, "dc2": 3}),
        ([600, 400], 256, [2, 1], {"dc1": 5, "dc2": 2}),
    ],
)
def test_synthetic_rings_up_to_256k_tokens(
    nodes_per_dc: list[int], vnodes: int, racks: int | list[int], factors: dict[str, int]
) -> None:
    ring = make_synthetic_ring(nodes_per_dc, vnodes=vnodes, racks_per_dc=racks, seed=len(nodes_per_dc) * vnodes)
    replication = Replication("NetworkTopologyStrategy", factors)
    rm = build_replica_map(ring, replication)
    n = len(rm.ring)
    assert n == sum(nodes_per_dc) * vnodes
    rng = random.Random(n)
    # The brute-force walk is O(ring) per token: check a sample of ranges plus both ends.
    sample = {0, n - 1, *(rng.randrange(n) for _ in range(60 if n > 10_000 else 300))}
    for i in sorted(sample):
        expected = ref.natural_replicas(ring, "NetworkTopologyStrategy", factors, rm.ring.tokens[i])
        assert sorted(rm.addresses_at(i)) == sorted(n.address for n in expected), i
    # Effective ownership per DC adds up to the DC's effective RF (up to 6-decimal rounding).
    own = effective_ownership(ring, replication, replica_map=rm)
    for d, count in enumerate(nodes_per_dc):
        dc = f"dc{d + 1}"
        total = sum(v for a, v in own.items() if a.startswith(f"10.{d + 1}."))
        assert abs(total - min(factors[dc], count)) <= n * 1e-6, dc


def test_simple_strategy_on_a_large_ring() -> None:
    ring = make_synthetic_ring([1000], vnodes=32, racks_per_dc=3, seed=5)
    replication = Replication("SimpleStrategy", {"": 3})
    rm = build_replica_map(ring, replication)
    rng = random.Random(5)
    for i in [rng.randrange(len(rm.ring)) for _ in range(100)]:
        expected = ref.natural_replicas(ring, "SimpleStrategy", {"": 3}, rm.ring.tokens[i])
        assert list(rm.addresses_at(i)) == [n.address for n in expected]


def _node(address: str, tokens: tuple[int, ...], dc: str = "dc1", rack: str = "r1") -> Node:
    return Node(address=address, datacenter=dc, rack=rack, tokens=tokens)


def test_three_evenly_spaced_nodes() -> None:
    third = (2**64) // 3
    ring = Ring(
        (
            _node("a", (-(2**63) + third,)),
            _node("b", (-(2**63) + 2 * third,)),
            _node("c", (2**63 - 1,)),
        )
    )
    rf1 = effective_ownership(ring, Replication("SimpleStrategy", {"": 1}))
    assert rf1 == pytest.approx({"a": 0.333333, "b": 0.333333, "c": 0.333333}, abs=1e-6)
    # Three shares rounded down to 0.333333 each: Cassandra reports 0.999999 (nodetool: 100.0%).
    rf3 = effective_ownership(ring, Replication("SimpleStrategy", {"": 3}))
    assert rf3 == pytest.approx({"a": 0.999999, "b": 0.999999, "c": 0.999999}, abs=1e-9)
    assert primary_ownership(ring) == rf1
    # A token just after a's token belongs to b's range; the replica list starts with b.
    tr = build_token_ring(ring)
    nodes = endpoints_for_token(tr, Replication("SimpleStrategy", {"": 2}), -(2**63) + third + 1)
    assert [n.address for n in nodes] == ["b", "c"]
    assert tr.range_at(0) == TokenRange(2**63 - 1, -(2**63) + third)


def test_single_token_ring_owns_everything() -> None:
    ring = Ring((_node("solo", (42,)),))
    assert range_shares_micro((42,)) == [1_000_000]
    assert effective_ownership(ring, Replication("NetworkTopologyStrategy", {"dc1": 3})) == {"solo": 1.0}
    assert [n.address for n in endpoints_for_token(ring, Replication("SimpleStrategy", {"": 3}), 7)] == ["solo"]


def test_rack_rule_puts_the_lone_rack_in_every_range() -> None:
    # Two racks, RF 2: every replica set spans both racks, so the single rack2 node holds everything.
    nodes = [_node(f"n{i}", (i * 1000 + 1, i * 1000 + 500), rack="rack1") for i in range(5)]
    nodes.append(_node("lonely", (2_500_250,), rack="rack2"))
    ring = Ring(tuple(nodes))
    own = effective_ownership(ring, Replication("NetworkTopologyStrategy", {"dc1": 2}))
    assert own["lonely"] == pytest.approx(1.0)
    assert sum(own.values()) == pytest.approx(2.0, abs=1e-5)


def test_nodes_without_tokens_are_not_in_the_ring() -> None:
    ring = Ring((_node("a", (1,)), _node("joining", ())))
    tr = build_token_ring(ring)
    assert [n.address for n in tr.nodes] == ["a"]
    assert "joining" not in effective_ownership(ring, Replication("SimpleStrategy", {"": 2}))


def test_duplicate_tokens_are_rejected() -> None:
    with pytest.raises(UsageError, match="claimed by both"):
        build_token_ring(Ring((_node("a", (1, 2)), _node("b", (2,)))))


def test_local_strategy_ownership_is_refused() -> None:
    with pytest.raises(UsageError, match="LocalStrategy"):
        effective_ownership(Ring((_node("a", (1,)),)), Replication("LocalStrategy", {}))


def test_everywhere_strategy_replicates_to_all_nodes() -> None:
    ring = Ring((_node("a", (1,)), _node("b", (5,), dc="dc2")))
    rm = build_replica_map(ring, Replication("EverywhereStrategy", {}))
    assert [sorted(rm.addresses_at(i)) for i in range(2)] == [["a", "b"], ["a", "b"]]
    assert effective_ownership(ring, Replication("EverywhereStrategy", {})) == {"a": 1.0, "b": 1.0}


def test_transient_replication_factors_count_as_full() -> None:
    ring = make_synthetic_ring([6], vnodes=4, racks_per_dc=3, seed=9)
    plain = build_replica_map(ring, Replication("NetworkTopologyStrategy", {"dc1": 3}))
    transient = build_replica_map(ring, Replication("NetworkTopologyStrategy", {"dc1": "3/1"}))  # type: ignore[dict-item]
    assert list(plain.iter_replicas()) == list(transient.iter_replicas())
