"""Consistency analysis of a synthetic two-DC ring (1,000 nodes x 256 vnodes = 256,000 tokens,
NetworkTopologyStrategy dc1:3, dc2:3, three racks per DC) against the anchor: cassandra-driver's
own token-map build of the same ring (`Metadata.rebuild_token_map` + `TokenMap.rebuild_keyspace`,
i.e. Murmur3Token parsing, sorting and `NetworkTopologyStrategy.make_token_replica_map`, the
driver's compiled build), fed with the token strings it would read from system.peers.

bd's candidate does strictly more: sort the ring, place every range's replicas, then judge all
nine consistency levels for reads and writes over every range with two nodes down, including the
minimal failure set of each level. Candidates run interleaved in the same process and run.
Run: `.venv/bin/python -m bench cassandra_synthetic`.
"""

from __future__ import annotations

from collections.abc import Callable

from tests.cassandra.synthetic import make_synthetic_ring

from bench._timing import interleaved, report
from braindump_cli.cassandra.consistency import analyze_consistency
from braindump_cli.cassandra.model import Replication, Ring
from braindump_cli.cassandra.ring import build_replica_map, build_token_ring, effective_ownership

REPEAT = 5
GOAL_SPEEDUP = 5.0
NODES_PER_DC = (500, 500)
VNODES = 256
FACTORS = {"dc1": 3, "dc2": 3}
DOWN = ("10.1.0.7", "10.2.1.20")


def _driver_build(ring: Ring) -> Callable[[], object]:
    from cassandra.metadata import KeyspaceMetadata, Metadata
    from cassandra.policies import SimpleConvictionPolicy
    from cassandra.pool import Host

    options = {dc: str(rf) for dc, rf in FACTORS.items()}
    token_strings = {}
    for node in ring.nodes:
        host = Host(node.address, SimpleConvictionPolicy)
        host.set_location_info(node.datacenter, node.rack)
        token_strings[host] = [str(t) for t in node.tokens]

    def build() -> object:
        metadata = Metadata()
        metadata.keyspaces["bench"] = KeyspaceMetadata("bench", True, "NetworkTopologyStrategy", options)
        metadata.rebuild_token_map("org.apache.cassandra.dht.Murmur3Partitioner", token_strings)
        metadata.token_map.rebuild_keyspace("bench", build_if_absent=True)
        replica_map = metadata.token_map.tokens_to_hosts_by_ks["bench"]
        assert len(replica_map) == len(ring.nodes) * VNODES
        return replica_map

    return build


def _bd_analysis(ring: Ring, replication: Replication) -> Callable[[], object]:
    def analyse() -> object:
        replica_map = build_replica_map(build_token_ring(ring), replication)
        return analyze_consistency(ring, replication, local_dc="dc1", down=DOWN, replica_map=replica_map)

    return analyse


def _bd_ownership(ring: Ring, replication: Replication) -> Callable[[], object]:
    return lambda: effective_ownership(ring, replication)


def _check_same_replicas(ring: Ring, replication: Replication) -> int:
    """Both sides must place the same replicas, or the timing compares different work."""
    from cassandra.metadata import Murmur3Token

    driver_map = _driver_build(ring)()
    assert isinstance(driver_map, dict)
    rm = build_replica_map(ring, replication)
    mismatches = 0
    for token in rm.ring.tokens[:: max(1, len(rm.ring.tokens) // 2000)]:
        ours = sorted(rm.addresses_at(rm.ring.range_index(token)))
        theirs = sorted(h.address for h in driver_map[Murmur3Token(token)])
        mismatches += ours != theirs
    return mismatches


def main() -> str:
    ring = make_synthetic_ring(NODES_PER_DC, vnodes=VNODES, racks_per_dc=3, seed=2026)
    replication = Replication("NetworkTopologyStrategy", FACTORS)
    mismatches = _check_same_replicas(ring, replication)
    candidates = {
        "driver TokenMap build (anchor)": _driver_build(ring),
        "bd consistency analysis (ring + replicas + 9 levels)": _bd_analysis(ring, replication),
        "bd effective ownership (ring + replicas + shares)": _bd_ownership(ring, replication),
    }
    samples = interleaved(candidates, repeat=REPEAT, warmup=1)
    anchor = samples[0].median
    analysis = samples[1].median
    speedup = anchor / analysis
    verdict = "met" if speedup >= GOAL_SPEEDUP else "NOT met"
    tokens = sum(NODES_PER_DC) * VNODES
    text = report(
        f"Cassandra ring math: {sum(NODES_PER_DC)} nodes x {VNODES} vnodes ({tokens:,} tokens), NTS dc1:3 dc2:3",
        samples,
        baseline="driver TokenMap build (anchor)",
        goal=(
            f"consistency analysis >= {GOAL_SPEEDUP:.0f}x faster than the driver's token-map build: "
            f"{speedup:.1f}x, {verdict}. Replica sets compared on a sample of ranges: {mismatches} mismatches."
        ),
    )
    return text + (
        f"\nCommand: `.venv/bin/python -m bench cassandra_synthetic` ({REPEAT} interleaved runs each, medians).\n"
    )


if __name__ == "__main__":
    main()
