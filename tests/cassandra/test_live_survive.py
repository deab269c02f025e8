"""`bd cassandra survive` on the live cluster: the worst set equals brute force on the live ring, and
with that set really killed, each level fails exactly on the predicted ranges and works elsewhere."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from typer.testing import CliRunner

from braindump_cli.cassandra.keys import partition_key_token
from braindump_cli.cassandra.model import Replication, Ring
from braindump_cli.cassandra.ring import build_replica_map
from braindump_cli.cassandra.survive import brute_force_worst_nodes, fails, level_groups, range_weights
from braindump_cli.cli.app import app
from tests.cassandra.conftest import KEYSPACES, LiveCassandra, wait_for_status
from tests.cassandra.test_live_consistency import _attempt

pytestmark = [pytest.mark.cassandra, pytest.mark.slow]

runner = CliRunner()
GLOBAL_LEVELS = ("ONE", "TWO", "QUORUM", "ALL")  # counted over every DC: the coordinator's DC does not matter


def _survive(live: LiveCassandra, keyspace: str, *extra: str) -> dict[str, Any]:
    result = runner.invoke(app, ["cassandra", "survive", keyspace, "-o", "json", *live.cli_args(), *extra])
    assert result.exit_code == 0, result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    assert report["schema_version"] == 1
    return report


def _live_ring(live: LiveCassandra) -> Ring:
    from braindump_cli.cassandra import adapter

    with adapter.connect(live.settings()) as cql:
        ring, _ = cql.read_ring()
    return ring


def _replication(keyspace: str) -> Replication:
    from braindump_cli.cassandra.adapter import parse_replication

    text = KEYSPACES[keyspace].replace("'", '"')
    return parse_replication({k: str(v) for k, v in json.loads(text).items()})


@pytest.mark.parametrize("keyspace", ["ks_simple", "ks_nts", "ks_nts3", "ks_overrf"])
def test_worst_sets_equal_brute_force_on_the_live_ring(cassandra: LiveCassandra, keyspace: str) -> None:
    ring = _live_ring(cassandra)
    rm = build_replica_map(ring, _replication(keyspace))
    weights = range_weights(rm)
    names = [n.address for n in rm.ring.nodes]
    for k in (1, 2, 3):
        report = _survive(cassandra, keyspace, "--nodes", str(k))
        for lv in report["levels"]:
            built = level_groups(rm, lv["level"], local_dc="dc1")
            if built is None:
                assert lv["survives"] is True
                continue
            best, _ = brute_force_worst_nodes(built[0], weights, k=k, candidates=range(len(names)))
            lost = {names.index(a) for a in lv["worst"]["nodes"]}
            assert len(lost) == k
            ours = sum(w for g, w in zip(built[0], weights, strict=True) if fails(g, lost))
            assert ours == best, (keyspace, k, lv["level"])
            assert lv["worst"]["range_share"] == pytest.approx(best / (2**64 - 2))
            assert lv["survives"] is (best == 0)


def test_racks_and_dc_combinations(cassandra: LiveCassandra) -> None:
    racks = _survive(cassandra, "ks_nts", "--racks", "1", "-l", "LOCAL_QUORUM", "-l", "ONE")
    by_level = {lv["level"]: lv for lv in racks["levels"]}
    units = sorted(tuple(c["units"]) for c in by_level["ONE"]["combinations"])
    assert units == [("dc1/rack1",), ("dc1/rack2",), ("dc2/rack1",)]
    assert by_level["ONE"]["survives"] is True
    # dc1 RF 2 over two racks: losing rack2 (127.0.0.2, on every range) breaks LOCAL_QUORUM everywhere
    rack2 = next(c for c in by_level["LOCAL_QUORUM"]["combinations"] if c["units"] == ["dc1/rack2"])
    assert rack2["range_share"] == pytest.approx(1.0)
    dc = _survive(cassandra, "ks_nts", "--dc", "dc2", "-l", "EACH_QUORUM", "-l", "LOCAL_QUORUM")
    verdicts = {lv["level"]: lv["survives"] for lv in dc["levels"]}
    assert verdicts == {"EACH_QUORUM": False, "LOCAL_QUORUM": True}
    check = runner.invoke(app, ["cassandra", "survive", "ks_nts", "--dc", "dc2", "--check", *cassandra.cli_args()])
    assert check.exit_code == 4, check.stderr
    bad = runner.invoke(app, ["cassandra", "survive", "ks_nts", "--dc", "nowhere", *cassandra.cli_args()])
    assert bad.exit_code == 3, bad.stderr


def test_killing_the_worst_pair_fails_exactly_the_predicted_ranges(full_cluster: LiveCassandra) -> None:
    """ks_simple (RF 2 on four nodes): ONE's worst pair takes some ranges down and leaves others up."""
    live = full_cluster
    keyspace = "ks_simple"
    report = _survive(live, keyspace, "--nodes", "2", *[a for lv in GLOBAL_LEVELS for a in ("-l", lv)])
    one = next(lv for lv in report["levels"] if lv["level"] == "ONE")
    worst = one["worst"]["nodes"]
    assert one["survives"] is False
    ring = _live_ring(live)
    rm = build_replica_map(ring, _replication(keyspace))
    names = [n.address for n in rm.ring.nodes]
    lost = {names.index(a) for a in worst}
    predicted = {}
    for level in GLOBAL_LEVELS:
        built = level_groups(rm, level, local_dc="dc1")
        assert built is not None
        predicted[level] = [fails(g, lost) for g in built[0]]
    assert sum(predicted["ONE"]) == one["worst"]["failing_ranges"]
    assert any(predicted["ONE"])
    assert not all(predicted["ONE"])  # both outcomes really occur
    # one int key in every range
    rng = random.Random("survive")
    key_of: dict[int, int] = {}
    while len(key_of) < len(rm.ring.tokens):
        k = rng.randint(-(2**31), 2**31 - 1)
        key_of.setdefault(rm.ring.range_index(partition_key_token(["int"], [k])), k)
    # Cassandra 5.0 checks credentials and superuser rights at LOCAL_QUORUM of system_auth (dc1:3, dc2:1):
    # coordinate from dc2's node, whose DC quorum is itself, unless it is one of the nodes to kill.
    alive = [n for n in live.cluster.nodes if n.address not in worst]
    coordinator = next((n for n in alive if n.datacenter == "dc2"), alive[0])
    session = live.session(coordinator.address)
    for address in worst:
        live.cluster.kill_node(next(n.index for n in live.cluster.nodes if n.address == address))
    wait_for_status(
        live, {n.address: "D" if n.address in worst else "U" for n in live.cluster.nodes}, observer=coordinator.index
    )
    mismatches = []
    for level in GLOBAL_LEVELS:
        for i, key in sorted(key_of.items()):
            for op in ("write", "read"):
                got = _attempt(session, keyspace, level, key, op)
                if got is not (not predicted[level][i]):
                    mismatches.append((level, op, i, rm.addresses_at(i), predicted[level][i], got))
    assert not mismatches, "\n".join(map(str, mismatches))
