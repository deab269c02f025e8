"""`bd cassandra survive`: the exact worst K nodes against the brute-force reference (every K-set
against every range) on a ring where brute force finishes, and on 1,000 nodes x 256 vnodes against
the replica-map build the analysis starts from (brute force there would try 166 million 3-sets).

Both sides must return the same worst loss, or the timing compares different work.
Run: `.venv/bin/python -m bench cassandra_survive`.
"""

from __future__ import annotations

from collections.abc import Callable

from tests.cassandra.synthetic import make_synthetic_ring

from bench._timing import interleaved, report
from braindump_cli.cassandra.model import Replication, Ring
from braindump_cli.cassandra.ring import build_replica_map
from braindump_cli.cassandra.survive import brute_force_worst_nodes, level_groups, range_weights, worst_nodes

REPEAT = 3
SMALL = (24, 12)  # nodes per DC where brute force finishes
LARGE = (500, 500)
FACTORS = {"dc1": 3, "dc2": 3}
LEVELS = ("LOCAL_QUORUM", "QUORUM", "ALL")


def _survive(ring: Ring, *, k: int, reference: bool) -> Callable[[], object]:
    replication = Replication("NetworkTopologyStrategy", FACTORS)

    def run() -> object:
        rm = build_replica_map(ring, replication)
        weights = range_weights(rm)
        live = range(len(ring.nodes))
        out = []
        for level in LEVELS:
            built = level_groups(rm, level, local_dc="dc1")
            assert built is not None
            if reference:
                out.append(brute_force_worst_nodes(built[0], weights, k=k, candidates=live)[0])
            else:
                out.append(worst_nodes(built[0], weights, n=len(ring.nodes), k=k, candidates=live)[0])
        return out

    return run


def _replica_map(ring: Ring) -> Callable[[], object]:
    return lambda: build_replica_map(ring, Replication("NetworkTopologyStrategy", FACTORS))


def main() -> str:
    small = make_synthetic_ring(SMALL, vnodes=16, racks_per_dc=3, seed=7)
    sections = []
    for k in (2, 3):
        ours, theirs = _survive(small, k=k, reference=False), _survive(small, k=k, reference=True)
        assert ours() == theirs(), f"worst losses differ at K={k}"
        samples = interleaved({"brute force (every K-set x every range)": theirs, "bd survive": ours}, repeat=REPEAT)
        ratio = samples[0].median / samples[1].median
        sections.append(
            report(
                f"survive K={k}, {sum(SMALL)} nodes x 16 vnodes, NTS dc1:3 dc2:3, levels {', '.join(LEVELS)}",
                samples,
                baseline="brute force (every K-set x every range)",
                goal=f"same worst losses as brute force; bd {ratio:.0f}x faster",
            )
        )
    large = make_synthetic_ring(LARGE, vnodes=256, racks_per_dc=3, seed=2026)
    for k in (2, 3):
        samples = interleaved(
            {"replica map build (anchor)": _replica_map(large), "bd survive": _survive(large, k=k, reference=False)},
            repeat=1,
            warmup=0,
        )
        sections.append(
            report(
                f"survive K={k}, {sum(LARGE)} nodes x 256 vnodes ({sum(LARGE) * 256:,} ranges), "
                f"levels {', '.join(LEVELS)}",
                samples,
                baseline="replica map build (anchor)",
            )
        )
    return "\n".join(sections) + f"\nCommand: `.venv/bin/python -m bench cassandra_survive` (medians of {REPEAT}).\n"


if __name__ == "__main__":
    main()
