"""`bd cassandra plan` against real topology changes on the live cluster.

Node 3 (dc1/rack1) is decommissioned for real: every remaining node's effective ownership in
`nodetool status KS` must equal the plan (to nodetool's 0.1% rounding). On the 3-node ring left,
node 3 then joins again as a new node with random tokens (auto_bootstrap, no initial_token, as
Cassandra does without an allocator setting): its real tokens give, through bd's math, exactly
nodetool's ownership, and its real ownership must lie within the spread `plan --add` predicted
(mean +- 4 standard deviations of 200 draws). Node 3 then leaves again and rejoins with
`allocate_tokens_for_local_replication_factor: 2` in its yaml: its real tokens must be exactly the
ones `plan --add --allocate-rf 2` predicted, and its ownership nodetool's. Finally node 3 gets its
harness tokens back.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from typing import Any

import pytest
from typer.testing import CliRunner

from braindump_cli.cli.app import app
from braindump_cli.sandbox.servers.cassandra.cluster import GOSSIP_QUARANTINE_S
from tests.cassandra.conftest import LiveCassandra

pytestmark = [pytest.mark.cassandra, pytest.mark.slow]

runner = CliRunner()
KEYSPACES_CHECKED = ("ks_nts", "ks_simple", "ks_nts3")
NODE = 3


def _plan(live: LiveCassandra, *args: str) -> dict[str, Any]:
    ks = [a for k in KEYSPACES_CHECKED for a in ("-k", k)]
    result = runner.invoke(app, ["cassandra", "plan", *args, *ks, "-o", "json", *live.cli_args()])
    assert result.exit_code == 0, result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    assert report["schema_version"] == 1
    return report


def _owns(live: LiveCassandra, observer: int, keyspace: str) -> dict[str, float]:
    out = {}
    for line in live.cluster.nodetool(observer, "status", keyspace).splitlines():
        m = re.match(r"^UN\s+(\S+)\s+.*?\s(\d+(?:\.\d+)?)%\s+\S+\s+\S+\s*$", line)
        if m:
            out[m.group(1)] = float(m.group(2)) / 100
    return out


def _wait(live: LiveCassandra, observer: int, expected: set[str], timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = live.cluster.ring_states(observer)
        if {a for a, s in states.items() if s == "UN"} == expected and len(states) == len(expected):
            return
        time.sleep(2)
    raise AssertionError(f"ring never became {expected}: {live.cluster.ring_states(observer)}")


def _leave(live: LiveCassandra, all_nodes: set[str], leaving: str) -> float:
    """Decommission node 3 for real; the monotonic time its LEFT state was seen (quarantine starts)."""
    live.cluster.nodetool(NODE, "decommission", "--force", timeout=600)  # ks_dc1only has RF 3 in dc1
    _wait(live, 1, all_nodes - {leaving})
    return time.monotonic()


def _rejoin(live: LiveCassandra, left_at: float, *, random_tokens: bool, allocate_rf: int | None = None) -> None:
    """Start node 3 from empty directories: bootstrapping without initial_token (random tokens, or
    Cassandra's allocator with `allocate_rf`), or with its harness tokens.

    The other nodes ignore gossip from an address that has just left for the gossip quarantine, so
    node 3 waits that out after `left_at` before it starts again.
    """
    node = live.cluster.node(NODE)
    live.cluster.kill_node(NODE)
    time.sleep(max(0.0, left_at + GOSSIP_QUARANTINE_S + 5 - time.monotonic()))
    for sub in ("data", "commitlog", "hints", "saved_caches", "cdc_raw"):
        shutil.rmtree(node.directory / sub, ignore_errors=True)
    yaml = node.directory / "cassandra.yaml"
    text = yaml.read_text()
    harness = node.directory / "cassandra.yaml.harness"
    if not harness.exists():
        harness.write_text(text)
    if random_tokens:
        text = re.sub(r"(?m)^initial_token: .*\n", "", harness.read_text())
        text = text.replace("auto_bootstrap: false", "auto_bootstrap: true")
        if allocate_rf is not None:
            text += f"allocate_tokens_for_local_replication_factor: {allocate_rf}\n"
    else:
        text = harness.read_text()
    yaml.write_text(text)
    # a bootstrapping node checks it has heard from a seed only after the ring delay: give it 10 s
    live.cluster.start_node(NODE, timeout=600, ring_delay_ms=10_000 if random_tokens else 1000)


def _real_tokens(live: LiveCassandra, address: str) -> list[int]:
    ring = runner.invoke(app, ["cassandra", "ring", "--tokens", "-o", "json", *live.cli_args()])
    assert ring.exit_code == 0, ring.stderr
    return sorted(next(n for n in json.loads(ring.stdout) if n["address"] == address)["token_values"])


def _allocator_join_matches_the_plan(live: LiveCassandra, all_nodes: set[str], leaving: str) -> None:
    """Node 3 leaves again and rejoins with Cassandra's allocator: its real tokens are the predicted ones.

    dc1 then has rack1 (node 1) and rack2 (node 2). With local RF 3 Cassandra refuses to allocate
    (2 racks < RF 3), and plan says so; with RF 2 (racks = RF) it allocates on rack1's ring alone.
    """
    left_at = _leave(live, all_nodes, leaving)
    where = ["--add", "1", "--dc", "dc1", "--rack", "rack1"]
    refused = runner.invoke(app, ["cassandra", "plan", *where, "--allocate-rf", "3", "-o", "json", *live.cli_args()])
    assert refused.exit_code == 2, refused.stderr
    assert "dc1 has 2 racks, fewer than its replication factor 3" in refused.stderr
    plan = _plan(live, *where, "--allocate-rf", "2")
    assert plan["allocation"] == "allocator (allocate_tokens_for_local_replication_factor=2)"
    assert plan["tokens_exact"] is True
    assert plan["allocation_ring"] == "only rack rack1 of dc1 (2 racks = RF)"
    _rejoin(live, left_at, random_tokens=True, allocate_rf=2)
    _wait(live, 1, all_nodes)
    assert _real_tokens(live, leaving) == plan["new_tokens"]["new-node-1"]
    new = next(n for n in plan["nodes"] if n["new"])
    for ks in KEYSPACES_CHECKED:
        assert _owns(live, 1, ks)[leaving] == pytest.approx(new["owns_effective_after"][ks], abs=0.0005), ks


def test_decommission_then_random_join_match_the_plan(full_cluster: LiveCassandra) -> None:
    live = full_cluster
    all_nodes = {n.address for n in live.cluster.nodes}
    leaving = live.cluster.node(NODE).address
    plan = _plan(live, "--decommission", leaving)
    assert plan["change"] == "decommission"
    assert leaving not in {n["address"] for n in plan["nodes"]}
    assert plan["streams"], "a decommission with RF < nodes must stream something"
    try:
        left_at = _leave(live, all_nodes, leaving)
        for ks in KEYSPACES_CHECKED:
            real = _owns(live, 1, ks)
            predicted = {n["address"]: n["owns_effective_after"][ks] for n in plan["nodes"]}
            assert set(real) == set(predicted), ks
            for address, share in predicted.items():
                assert real[address] == pytest.approx(share, abs=0.0005), (ks, address)

        # the 3-node ring: predict a random join in dc1/rack1, then really join with random tokens
        add = _plan(live, "--add", "1", "--dc", "dc1", "--rack", "rack1")
        assert add["allocation"] == "random"
        assert add["num_tokens"] == 16
        spread = {s["keyspace"]: s for s in add["spread"]}
        _rejoin(live, left_at, random_tokens=True)
        _wait(live, 1, all_nodes)
        ring = runner.invoke(app, ["cassandra", "ring", "ks_nts", "-o", "json", *live.cli_args()])
        assert ring.exit_code == 0, ring.stderr
        joined = next(n for n in json.loads(ring.stdout) if n["address"] == leaving)
        assert joined["tokens"] == 16
        for ks in KEYSPACES_CHECKED:
            real = _owns(live, 1, ks)
            s = spread[ks]
            assert s["low"] - 4 * s["stdev"] <= real[leaving] <= s["high"] + 4 * s["stdev"], (ks, real[leaving], s)
            assert abs(real[leaving] - s["mean"]) <= 4 * s["stdev"] + 0.001, (ks, real[leaving], s)

        _allocator_join_matches_the_plan(live, all_nodes, leaving)
    finally:
        _restore(live, all_nodes, leaving)


def _restore(live: LiveCassandra, all_nodes: set[str], leaving: str) -> None:
    """Give node 3 its harness tokens back, however the test ended."""
    if live.cluster.node(NODE).pid is not None and leaving in _owns(live, 1, "ks_nts"):
        left_at = _leave(live, all_nodes, leaving)
    else:
        # node 3 left, died, or never became a member: make sure no live gossip state of it remains,
        # or it would be refused ("A node with address ... already exists")
        live.cluster.kill_node(NODE)
        try:
            live.cluster.nodetool(1, "assassinate", leaving, timeout=300)
        except RuntimeError as e:
            print(f"restore: nodetool assassinate {leaving} failed: {e}")
        left_at = time.monotonic()
    _rejoin(live, left_at, random_tokens=False)
    _wait(live, 1, all_nodes)
