"""Topology what-ifs against Cassandra's own placement walk (endpoints_for_token) on the rings before and after."""

from __future__ import annotations

import pytest

from braindump_cli.cassandra.model import Keyspace, Replication
from braindump_cli.cassandra.plan import plan_add, plan_decommission, plan_replace
from braindump_cli.cassandra.ring import endpoints_for_token, primary_ownership
from braindump_cli.errors import NotFoundError
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
    report = plan_add(ring, KEYSPACES, 1, dc="dc1", rack="r1", num_tokens=8, allocation="random")
    new = next(n for n in report.nodes if n.new)
    assert new.tokens == 8
    assert {s.target for s in report.streams} == {new.address}
    for spread in report.spread:
        assert spread.samples == 200
        assert spread.low <= spread.mean <= spread.high
    nts = next(s for s in report.spread if s.keyspace == "nts")
    assert nts.mean == pytest.approx(3 / 5, abs=0.15)  # dc1 RF 3 over 5 dc1 nodes after the join
