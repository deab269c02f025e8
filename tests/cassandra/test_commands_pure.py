"""The glue of `bd cassandra` without a server: replication parsing, report building, --down, --require."""

from __future__ import annotations

import pytest

from braindump_cli.cassandra.adapter import address_key, parse_replication, quote_identifier
from braindump_cli.cassandra.commands import consistency_report, keyspace_info, ring_nodes
from braindump_cli.cassandra.model import Keyspace, Node, Replication, Ring
from braindump_cli.errors import NotFoundError, UsageError
from tests.cassandra.synthetic import make_synthetic_ring


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (
            {"class": "org.apache.cassandra.locator.SimpleStrategy", "replication_factor": "3"},
            Replication("SimpleStrategy", {"": 3}),
        ),
        (
            {"class": "org.apache.cassandra.locator.NetworkTopologyStrategy", "dc2": "2", "DC1": "3/1"},
            Replication("NetworkTopologyStrategy", {"DC1": 3, "dc2": 2}),
        ),
        ({"class": "NetworkTopologyStrategy"}, Replication("NetworkTopologyStrategy", {})),
        ({"class": "org.apache.cassandra.locator.LocalStrategy"}, Replication("LocalStrategy", {})),
        ({"class": "org.apache.cassandra.locator.EverywhereStrategy"}, Replication("EverywhereStrategy", {})),
    ],
)
def test_parse_replication(options: dict[str, str], expected: Replication) -> None:
    assert parse_replication(options) == expected


def test_quote_identifier_doubles_quotes_and_keeps_case_and_unicode() -> None:
    assert quote_identifier("MixedCase") == '"MixedCase"'
    assert quote_identifier('clé "x"') == '"clé ""x"""'
    assert quote_identifier('a"; DROP KEYSPACE k; --') == '"a""; DROP KEYSPACE k; --"'


def test_addresses_sort_numerically_then_names() -> None:
    addresses = ["10.0.0.10", "node-b", "10.0.0.9", "::1", "10.0.0.1"]
    assert sorted(addresses, key=address_key) == ["10.0.0.1", "10.0.0.9", "10.0.0.10", "::1", "node-b"]


def _two_dc_ring(down: tuple[str, ...] = ()) -> Ring:
    ring = make_synthetic_ring([4, 2], vnodes=8, racks_per_dc=[2, 1], seed=7)
    nodes = tuple(
        Node(n.address, n.datacenter, n.rack, n.tokens, up=n.address not in down, host_id=f"id-{i}")
        for i, n in enumerate(ring.nodes)
    )
    return Ring(nodes, cluster_name="synthetic")


NTS = Keyspace("ks", Replication("NetworkTopologyStrategy", {"dc1": 3, "dc2": 2}), tables=("t",))


def test_consistency_report_all_up_and_require_passes() -> None:
    ring = _two_dc_ring()
    rep = consistency_report(NTS, ring, local_dc="dc1", require="local_quorum")
    assert rep.require == "LOCAL_QUORUM"
    assert rep.required_failed is None
    assert rep.range_count == 6 * 8
    assert rep.ranges is None
    by_level = {lv.level: lv for lv in rep.levels}
    assert rep.levels[0].level == "ANY"
    assert by_level["QUORUM"].required == 3  # (3 + 2) // 2 + 1
    assert by_level["EACH_QUORUM"].required_per_dc == {"dc1": 2, "dc2": 2}
    assert by_level["LOCAL_QUORUM"].tolerates == 1
    assert by_level["ALL"].tolerates == 0
    assert by_level["ANY"].read.achievable is None
    assert by_level["ANY"].write.achievable is True
    assert sum(g.ranges for g in rep.range_groups) == rep.range_count


def test_simulated_down_by_address_or_host_id_equals_really_down() -> None:
    ring = _two_dc_ring()
    dc2 = [n for n in ring.nodes if n.datacenter == "dc2"]
    # one by address, one by host id (upper-cased: ids are matched case-insensitively)
    host_id = f"ID-{ring.nodes.index(dc2[1])}"
    simulated = consistency_report(NTS, ring, local_dc="dc1", down=[dc2[0].address, host_id], with_ranges=True)
    really_down = _two_dc_ring(down=(dc2[0].address, dc2[1].address))
    really = consistency_report(NTS, really_down, local_dc="dc1", with_ranges=True)
    assert simulated.levels == really.levels
    assert simulated.ranges == really.ranges
    assert simulated.down == really.down == tuple(sorted((dc2[0].address, dc2[1].address), key=address_key))
    assert simulated.simulated_down != really.simulated_down == ()
    by_level = {lv.level: lv for lv in really.levels}
    assert by_level["EACH_QUORUM"].write.achievable is False
    assert by_level["EACH_QUORUM"].write.failing_ranges == really.range_count
    assert by_level["LOCAL_QUORUM"].write.achievable is True


def test_require_reports_the_failing_level_with_range_counts() -> None:
    ring = _two_dc_ring()
    dc2 = [n.address for n in ring.nodes if n.datacenter == "dc2"]
    rep = consistency_report(NTS, ring, local_dc="dc1", down=dc2, require="EACH_QUORUM", levels=["ONE"])
    assert [lv.level for lv in rep.levels] == ["ONE", "EACH_QUORUM"]  # the required level is always analysed
    assert rep.required_failed is not None
    assert rep.required_failed.startswith("EACH_QUORUM is not achievable for reads and writes on ks: 48 of 48")


def test_range_rows_list_replicas_and_per_level_verdicts() -> None:
    ring = _two_dc_ring()
    down = ring.nodes[0].address
    rep = consistency_report(NTS, ring, local_dc="dc1", down=[down], levels=["ALL", "ONE"], with_ranges=True)
    assert rep.ranges is not None
    assert len(rep.ranges) == rep.range_count
    for r in rep.ranges:
        assert len(r.replicas) == 5
        assert set(r.live) == set(r.replicas) - {down}
        assert r.levels["ALL"].write is (down not in r.replicas)
        assert r.levels["ONE"].read is True
        assert r.levels["ALL"].alive == len(r.live)


def test_unknown_down_node_and_bad_level_are_rejected() -> None:
    ring = _two_dc_ring()
    with pytest.raises(NotFoundError, match=r"10\.9\.9\.9"):
        consistency_report(NTS, ring, local_dc="dc1", down=["10.9.9.9"])
    with pytest.raises(UsageError, match="unknown consistency level"):
        consistency_report(NTS, ring, local_dc="dc1", levels=["MOST"])


def test_ring_nodes_ownership_with_and_without_a_keyspace() -> None:
    ring = _two_dc_ring()
    plain = ring_nodes(ring, None, with_tokens=True)
    assert all(n.owns_effective is None for n in plain)
    assert sum(n.owns or 0 for n in plain) == pytest.approx(1.0, abs=1e-5)
    assert all(n.token_values is not None and len(n.token_values) == 8 for n in plain)
    effective = ring_nodes(ring, NTS)
    by_dc: dict[str, float] = {}
    for n in effective:
        assert n.token_values is None
        by_dc[n.datacenter] = by_dc.get(n.datacenter, 0.0) + (n.owns_effective or 0.0)
    # every range has RF replicas in each DC: the effective shares of a DC add up to its RF
    assert by_dc["dc1"] == pytest.approx(3.0, abs=1e-4)
    assert by_dc["dc2"] == pytest.approx(2.0, abs=1e-4)


def test_keyspace_info_carries_the_warnings() -> None:
    ring = _two_dc_ring()
    info = keyspace_info(Keyspace("k", Replication("SimpleStrategy", {"": 1})), ring)
    assert info.replication == {"": 1}
    assert {w.code for w in info.warnings} == {"rf-one", "simple-strategy-multi-dc"}
