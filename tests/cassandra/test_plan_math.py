"""Topology what-ifs against Cassandra's own placement walk (endpoints_for_token) on the rings before and after."""

from __future__ import annotations

import pytest

from braindump_cli.cassandra.allocate import AllocationRefusedError, allocate_tokens
from braindump_cli.cassandra.model import Keyspace, Node, Replication
from braindump_cli.cassandra.plan import AllocatorSetting, plan_add, plan_decommission, plan_replace
from braindump_cli.cassandra.ring import endpoints_for_token, primary_ownership
from braindump_cli.errors import NotFoundError, UsageError
from tests.cassandra.synthetic import make_synthetic_ring

KEYSPACES = (
    Keyspace("simple", Replication("SimpleStrategy", {"": 2})),
    Keyspace("nts", Replication("NetworkTopologyStrategy", {"dc1": 3, "dc2": 1})),
)


def _expected_streams(before: object, after: object, ks: Keyspace) -> set[tuple[str, int, int, str]]:
    tokens = sorted({t for n in before.nodes for t in n.tokens} | {t for n in after.nodes for t in n.tokens})  # type: ignore[attr-defined]
    out = set()
    for i, end in enumerate(tokens):
        old = {n.address for n in endpoints_for_token(before, ks.replication, end)}  # type: ignore[arg-type]
        for n in endpoints_for_token(after, ks.replication, end):  # type: ignore[arg-type]
            if n.address not in old:
                out.add((ks.name, tokens[i - 1], end, n.address))
    return out


@pytest.mark.parametrize("seed", range(4))
def test_decommission_streams_equal_the_placement_walk(seed: int) -> None:
    ring = make_synthetic_ring([5, 3], vnodes=8, racks_per_dc=2, seed=seed)
    leaving = ring.nodes[seed].address
    report = plan_decommission(ring, KEYSPACES, leaving)
    after = type(ring)(tuple(n for n in ring.nodes if n.address != leaving))
    for ks in KEYSPACES:
        ours = {(s.keyspace, s.start, s.end, s.target) for s in report.streams if s.keyspace == ks.name}
        assert ours == _expected_streams(ring, after, ks)
        rf = sum(ks.replication.factors.values())
        assert sum(n.owns_effective_after[ks.name] for n in report.nodes) == pytest.approx(rf, abs=1e-4)
    assert leaving not in {n.address for n in report.nodes}
    assert all(s.target != leaving for s in report.streams)
    assert sum(n.owns_after for n in report.nodes) == pytest.approx(1.0, abs=1e-4)


def test_replace_streams_everything_the_old_node_held_and_keeps_ownership() -> None:
    ring = make_synthetic_ring([4, 2], vnodes=8, racks_per_dc=2, seed=5)
    old = ring.nodes[2]
    report = plan_replace(ring, KEYSPACES, old.address)
    new = next(n for n in report.nodes if n.new)
    assert new.owns_before is None
    assert new.owns_after == pytest.approx(primary_ownership(ring)[old.address])
    for ks in KEYSPACES:
        width = sum((s.end - s.start) % (2**64 - 2) for s in report.streams if s.keyspace == ks.name)
        held = next(n for n in report.nodes if n.new).owns_effective_after[ks.name]
        assert width / (2**64 - 2) == pytest.approx(held, abs=1e-4)
    assert {s.target for s in report.streams} == {new.address}
    with pytest.raises(NotFoundError):
        plan_replace(ring, KEYSPACES, "10.9.9.9")


def test_add_with_random_tokens_streams_to_the_new_node_only() -> None:
    ring = make_synthetic_ring([4, 2], vnodes=8, racks_per_dc=2, seed=6)
    report = plan_add(ring, KEYSPACES, 1, dc="dc1", rack="r1", num_tokens=8)
    new = next(n for n in report.nodes if n.new)
    assert new.tokens == 8
    assert {s.target for s in report.streams} == {new.address}
    for spread in report.spread:
        assert spread.samples == 200
        assert spread.low <= spread.mean <= spread.high
    nts = next(s for s in report.spread if s.keyspace == "nts")
    assert nts.mean == pytest.approx(3 / 5, abs=0.15)  # dc1 RF 3 over 5 dc1 nodes after the join


def test_add_random_reports_its_draw_as_not_exact() -> None:
    ring = make_synthetic_ring([3], vnodes=4, seed=2)
    report = plan_add(ring, KEYSPACES, 2, dc="dc1", rack="r1", num_tokens=4)
    assert report.allocation == "random"
    assert report.tokens_exact is False
    assert sorted(report.new_tokens) == ["new-node-1", "new-node-2"]
    assert all(len(t) == 4 for t in report.new_tokens.values())


def test_add_with_the_allocator_joins_one_node_after_another() -> None:
    ring = make_synthetic_ring([4, 2], vnodes=8, racks_per_dc=1, seed=3)
    report = plan_add(ring, KEYSPACES, 3, dc="dc1", rack="r1", num_tokens=8, allocator=AllocatorSetting(local_rf=3))
    assert report.allocation == "allocator (allocate_tokens_for_local_replication_factor=3)"
    assert report.tokens_exact is True
    assert report.spread == ()
    members = [Node(n.address, n.datacenter, n.rack, n.tokens) for n in ring.nodes]
    for i in range(3):
        address = f"new-node-{i + 1}"
        want = allocate_tokens(members, address=address, dc="dc1", rack="r1", num_tokens=8, replicas=3).tokens
        assert report.new_tokens[address] == want
        members.append(Node(address, "dc1", "r1", want))
    node = {n.address: n for n in report.nodes}
    assert all(node[a].tokens == 8 and node[a].new for a in report.new_tokens)
    # the allocator balances dc1: the new nodes own about as much as the others (random tokens would not)
    shares = [n.owns_effective_after["nts"] for n in report.nodes if n.datacenter == "dc1"]
    assert max(shares) / min(shares) < 1.6


def test_add_allocator_for_keyspace_uses_its_strategy() -> None:
    ring = make_synthetic_ring([4, 2], vnodes=8, racks_per_dc=1, seed=4)
    nts = AllocatorSetting(keyspace=KEYSPACES[1])
    by_ks = plan_add(ring, KEYSPACES, 1, dc="dc1", rack="r1", num_tokens=8, allocator=nts)
    by_rf = plan_add(ring, KEYSPACES, 1, dc="dc1", rack="r1", num_tokens=8, allocator=AllocatorSetting(local_rf=3))
    assert by_ks.allocation == "allocator (allocate_tokens_for_keyspace=nts)"
    assert by_ks.new_tokens == by_rf.new_tokens  # NTS dc1:3 is what local RF 3 means for a dc1 node
    everywhere = AllocatorSetting(keyspace=Keyspace("e", Replication("EverywhereStrategy", {})))
    with pytest.raises(AllocationRefusedError):
        plan_add(ring, KEYSPACES, 1, dc="dc1", rack="r1", num_tokens=8, allocator=everywhere)


def test_add_allocator_refusals_and_random_start() -> None:
    ring = make_synthetic_ring([4], vnodes=8, racks_per_dc=2, seed=5)
    with pytest.raises(AllocationRefusedError, match="fewer than its replication factor"):
        plan_add(ring, KEYSPACES, 1, dc="dc1", rack="r1", num_tokens=8, allocator=AllocatorSetting(local_rf=3))
    report = plan_add(ring, KEYSPACES, 2, dc="dc9", rack="a", num_tokens=8, allocator=AllocatorSetting(local_rf=3))
    assert report.tokens_exact is False
    assert report.note is not None
    assert "at random" in report.note
    odd = type(ring)(ring.nodes, ring.cluster_name, "org.apache.cassandra.dht.RandomPartitioner")
    with pytest.raises(UsageError, match="Murmur3Partitioner"):
        plan_add(odd, KEYSPACES, 1, dc="dc1", rack="r1", num_tokens=8, allocator=AllocatorSetting(local_rf=1))
