"""Consistency verdicts and failure tolerance against brute force: every range, every node subset."""

from __future__ import annotations

import itertools
import random

import pytest

from braindump_cli.cassandra.consistency import (
    LEVELS,
    analyze_consistency,
    iter_range_verdicts,
    required_replicas,
)
from braindump_cli.cassandra.model import Node, Replication, Ring
from braindump_cli.errors import NotFoundError, UsageError
from tests.cassandra import _reference as ref
from tests.cassandra.synthetic import make_synthetic_ring


def _case(seed: int) -> tuple[Ring, Replication, str, list[str]]:
    rng = random.Random(seed)
    ring = ref.random_ring(rng, max_nodes=7, max_vnodes=4, max_dcs=2)
    dcs = sorted({n.datacenter for n in ring.nodes})
    if rng.random() < 0.3:
        replication = Replication("SimpleStrategy", {"": rng.randint(1, 5)})
    else:
        factors = {dc: rng.randint(1, 4) for dc in dcs}
        if rng.random() < 0.15:
            factors["ghost"] = 1
        replication = Replication("NetworkTopologyStrategy", factors)
    local_dc = rng.choice(dcs)
    down = [n.address for n in ring.nodes if rng.random() < 0.15]
    return ring, replication, local_dc, down


def _unavailable_ranges(
    ring: Ring, replication: Replication, level: str, op: str, live: set[str], local_dc: str
) -> int:
    tokens, _ = ref.sorted_tokens(ring)
    bad = 0
    for t in tokens:
        replicas = ref.natural_replicas(ring, replication.strategy, replication.factors, t)
        if not ref.level_ok(level, op, replication.strategy, replication.factors, replicas, live, local_dc):
            bad += 1
    return bad


@pytest.mark.parametrize("seed", range(60))
def test_verdicts_and_tolerance_match_brute_force(seed: int) -> None:
    ring, replication, local_dc, down = _case(seed)
    report = analyze_consistency(ring, replication, local_dc=local_dc, down=down)
    live = {n.address for n in ring.nodes if n.up and n.address not in down}
    tokens, _ = ref.sorted_tokens(ring)
    assert report.range_count == len(tokens)
    assert sum(g.range_count for g in report.groups) == len(tokens)

    for summary in report.levels:
        level = summary.level
        for op, ok, failing in (
            ("read", summary.read_ok, summary.failing_ranges_read),
            ("write", summary.write_ok, summary.failing_ranges_write),
        ):
            if level == "ANY" and op == "read":
                assert ok is None
                continue
            bad = _unavailable_ranges(ring, replication, level, op, live, local_dc)
            assert failing == bad, (level, op)
            assert ok is (bad == 0), (level, op)

        if level == "ANY":
            assert summary.losses_to_break is None  # writes at ANY fall back to hints
            continue
        # The fewest further failures (among live nodes) that make some range unavailable.
        expected = None
        for k in range(len(live) + 1):
            for lost in itertools.combinations(sorted(live), k):
                if _unavailable_ranges(ring, replication, level, "write", live - set(lost), local_dc):
                    expected = k
                    break
            if expected is not None:
                break
        assert summary.losses_to_break == expected, level
        if expected:
            assert summary.tolerates == expected - 1
            assert len(summary.breaking_nodes) == expected
            still = live - set(summary.breaking_nodes)
            assert _unavailable_ranges(ring, replication, level, "write", still, local_dc) > 0
            assert summary.worst_range is not None


@pytest.mark.parametrize("seed", range(30))
def test_per_range_verdicts_match_brute_force(seed: int) -> None:
    ring, replication, local_dc, down = _case(500 + seed)
    live = {n.address for n in ring.nodes if n.up and n.address not in down}
    rows = list(iter_range_verdicts(ring, replication, local_dc=local_dc, down=down))
    tokens, _ = ref.sorted_tokens(ring)
    assert [r.range.end for r in rows] == tokens
    for row, t in zip(rows, tokens, strict=True):
        replicas = ref.natural_replicas(ring, replication.strategy, replication.factors, t)
        assert sorted(row.replicas) == sorted(n.address for n in replicas)
        assert sorted(row.live) == sorted(n.address for n in replicas if n.address in live)
        for level in LEVELS:
            for op, verdicts in (("read", row.read), ("write", row.write)):
                expected = ref.level_ok(level, op, replication.strategy, replication.factors, replicas, live, local_dc)
                assert verdicts[level].ok is expected, (level, op)


def _dc(name: str, count: int, first_token: int, step: int, racks: int = 1) -> list[Node]:
    return [Node(f"{name}-{i}", name, f"r{i % racks}", (first_token + i * step,)) for i in range(count)]


def test_requirements_follow_cassandra_block_for() -> None:
    nts = Replication("NetworkTopologyStrategy", {"dc1": 3, "dc2": 2, "absent": 2})
    quorum = required_replicas("QUORUM", nts, local_dc="dc1")
    assert quorum.block_for == 7 // 2 + 1  # over every configured DC, even one with no nodes
    assert required_replicas("ALL", nts, local_dc="dc1").block_for == 7
    assert required_replicas("LOCAL_QUORUM", nts, local_dc="dc2").block_for == 2
    assert required_replicas("LOCAL_QUORUM", nts, local_dc="elsewhere").block_for == 1
    each = required_replicas("EACH_QUORUM", nts, local_dc="dc1")
    assert dict(each.per_dc) == {"dc1": 2, "dc2": 2, "absent": 2}
    assert each.block_for == 6
    simple = Replication("SimpleStrategy", {"": 3})
    assert required_replicas("LOCAL_QUORUM", simple, local_dc="dc1").block_for == 2
    assert required_replicas("EACH_QUORUM", simple, local_dc="dc1").scope == "all"
    with pytest.raises(UsageError):
        required_replicas("SERIAL", simple, local_dc="dc1")


def test_two_dc_ring_with_one_dc_down() -> None:
    ring = Ring(tuple(_dc("dc1", 3, -9000, 100) + _dc("dc2", 3, -8950, 100)))
    replication = Replication("NetworkTopologyStrategy", {"dc1": 3, "dc2": 3})
    report = analyze_consistency(ring, replication, local_dc="dc1", down=["dc2-0", "dc2-1", "dc2-2"])
    ok = {s.level: s.write_ok for s in report.levels}
    assert ok == {
        "ANY": True,
        "ONE": True,
        "TWO": True,
        "THREE": True,
        "QUORUM": False,  # needs 4 of 6
        "ALL": False,
        "LOCAL_ONE": True,
        "LOCAL_QUORUM": True,
        "EACH_QUORUM": False,
    }
    assert report.level("any").read_ok is None
    local_quorum = report.level("LOCAL_QUORUM")
    assert local_quorum.losses_to_break == 2
    assert local_quorum.tolerates == 1
    assert set(local_quorum.breaking_nodes) <= {"dc1-0", "dc1-1", "dc1-2"}
    assert report.down == ("dc2-0", "dc2-1", "dc2-2")


def test_local_levels_under_simple_strategy_count_only_the_local_dc() -> None:
    ring = Ring(tuple(_dc("dc1", 2, -9000, 100) + _dc("dc2", 2, -8950, 100)))
    report = analyze_consistency(ring, Replication("SimpleStrategy", {"": 3}), local_dc="dc1")
    # Every range has 3 replicas over both DCs, at most 2 in dc1; LOCAL_QUORUM needs 2 of them local.
    lq = report.level("LOCAL_QUORUM")
    groups = {tuple(sorted(g.replicas_per_dc.items())): g for g in report.groups}
    assert all(sum(g.replicas_per_dc.values()) == 3 for g in report.groups)
    expected_ok = all(g.replicas_per_dc.get("dc1", 0) >= 2 for g in groups.values())
    assert lq.read_ok is expected_ok


def test_large_ring_groups_stay_few() -> None:
    ring = make_synthetic_ring([200, 200], vnodes=64, racks_per_dc=3, seed=1)
    replication = Replication("NetworkTopologyStrategy", {"dc1": 3, "dc2": 3})
    report = analyze_consistency(ring, replication, local_dc="dc1", down=["10.1.0.0", "10.2.0.0"])
    assert report.range_count == 400 * 64
    assert len(report.groups) <= 9  # 0/1 down replica in each DC
    assert sum(g.range_count for g in report.groups) == report.range_count
    assert report.level("ALL").write_ok is False
    assert report.level("QUORUM").read_ok is True
    assert report.level("EACH_QUORUM").losses_to_break == 1


def test_unknown_down_node_and_missing_local_dc() -> None:
    ring = Ring(tuple(_dc("dc1", 2, 0, 10) + _dc("dc2", 1, 5, 10)))
    replication = Replication("NetworkTopologyStrategy", {"dc1": 2})
    with pytest.raises(NotFoundError):
        analyze_consistency(ring, replication, local_dc="dc1", down=["10.9.9.9"])
    with pytest.raises(UsageError, match="LOCAL_"):
        analyze_consistency(ring, replication)


def test_empty_ring_is_a_usage_error() -> None:
    ring = Ring((Node("joining", "dc1", "r1", ()),))
    with pytest.raises(UsageError, match="no tokens"):
        analyze_consistency(ring, Replication("SimpleStrategy", {"": 1}), local_dc="dc1")
