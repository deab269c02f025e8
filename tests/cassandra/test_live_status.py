"""`bd cassandra status -o json` (schema_version 2) against nodetool status, tpstats, compactionstats and
the same nodes: the JMX figures bd reads over CQL instead, and pending hints against
`nodetool listpendinghints` (the harness runs with hinted handoff off; one test turns it on)."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest
from typer.testing import CliRunner

from braindump_cli.cli.app import app
from tests.cassandra.conftest import PASSWORD, LiveCassandra, wait_for_status

pytestmark = pytest.mark.cassandra

runner = CliRunner()

NODE_KEYS = {
    "address", "host_id", "datacenter", "rack", "up", "state", "status", "tokens", "owns", "owns_effective",
    "load_bytes", "schema_version", "release_version", "views",
}  # fmt: skip
VIEW_KEYS = {
    "address", "available", "error", "thread_pools", "sstable_tasks", "pending_hints", "pending_compactions",
    "active_compactions", "disk_usage_mib", "client_connections",
}  # fmt: skip


def _status(live: LiveCassandra, *args: str) -> dict[str, Any]:
    result = runner.invoke(app, ["cassandra", "status", *args, "-o", "json", *live.cli_args()])
    assert result.exit_code == 0, result.stderr
    assert PASSWORD not in result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert isinstance(report, dict)
    return report


def _nodetool_status(text: str) -> dict[str, tuple[str, int, float]]:
    """Address -> (UN/DN..., tokens, owns fraction) of `nodetool status KS`."""
    out = {}
    for line in text.splitlines():
        m = re.match(r"^([UD][NLJM])\s+(\S+)\s+.*?\s(\d+)\s+(\d+(?:\.\d+)?)%\s+\S+\s+\S+\s*$", line)
        if m:
            out[m.group(2)] = (m.group(1), int(m.group(3)), float(m.group(4)) / 100)
    return out


def _tpstats_pools(text: str) -> dict[str, int]:
    """Pool name -> "All time blocked" of the first table of `nodetool tpstats`."""
    pools = {}
    for line in text.splitlines()[1:]:
        parts = line.split()
        if not parts:
            break
        if len(parts) == 6 and all(p.isdigit() or p == "N/A" for p in parts[1:]):
            pools[parts[0]] = int(parts[5]) if parts[5].isdigit() else -1
    return pools


def test_status_json_is_nodetool_status_tpstats_and_compactionstats(cassandra: LiveCassandra) -> None:
    report = _status(cassandra, "ks_nts")
    assert report["schema_version"] == 2
    assert report["keyspace"] == "ks_nts"
    assert report["schema_agreement"] is True
    nodes = {n["address"]: n for n in report["nodes"]}
    assert set(nodes) == {n.address for n in cassandra.cluster.nodes}
    theirs = _nodetool_status(cassandra.cluster.nodetool(1, "status", "ks_nts"))
    assert set(theirs) == set(nodes)
    for address, node in nodes.items():
        assert set(node) == NODE_KEYS
        assert set(node["views"]) == VIEW_KEYS
        status, tokens, owns = theirs[address]
        assert (node["status"], node["tokens"]) == (status, tokens)
        assert node["owns_effective"] == pytest.approx(owns, abs=0.0005)  # nodetool rounds to 0.1%
        assert node["load_bytes"] > 0
    outputs = {
        n.index: cassandra.cluster.nodetool_batch(n.index, [["tpstats"], ["compactionstats"]])
        for n in cassandra.cluster.nodes
    }
    for n in cassandra.cluster.nodes:
        views = nodes[n.address]["views"]
        assert views["available"] is True, views
        tpstats, compactionstats = outputs[n.index]
        ours = {p["name"]: p for p in views["thread_pools"]}
        pools = _tpstats_pools(tpstats)
        assert set(pools) <= set(ours), set(pools) - set(ours)
        for name, blocked_all_time in pools.items():
            if blocked_all_time >= 0:
                assert ours[name]["blocked_all_time"] == blocked_all_time, name
        pending = re.search(r"pending tasks:?\s+(\d+)", compactionstats)
        assert pending, compactionstats
        assert views["pending_compactions"] == int(pending.group(1))
        assert views["sstable_tasks"] == []  # a quiet cluster: nodetool lists no running task either
        assert views["pending_hints"] == []  # the harness runs with hinted handoff off
        assert views["client_connections"] >= 1
    jsonl = runner.invoke(app, ["cassandra", "status", "-o", "jsonl", *cassandra.cli_args()])
    assert jsonl.exit_code == 0, jsonl.stderr
    assert [json.loads(line)["address"] for line in jsonl.stdout.splitlines()] == sorted(nodes, key=lambda a: a)
    table = runner.invoke(app, ["cassandra", "status", "ks_nts", *cassandra.cli_args()], env={"COLUMNS": "250"})
    assert table.exit_code == 0, table.stderr
    assert "Owns (effective)" in table.stdout


def test_unknown_status_keyspace_exits_3(cassandra: LiveCassandra) -> None:
    result = runner.invoke(app, ["cassandra", "status", "no_such_ks", *cassandra.cli_args()])
    assert result.exit_code == 3, result.stderr


def _listpendinghints(text: str) -> dict[str, dict[str, str]]:
    """Host ID -> the row of `nodetool listpendinghints` (Address, Rack, DC, Status, Total files, Newest, Oldest)."""
    rows = {}
    for line in text.splitlines():
        m = re.match(
            r"^([0-9a-f-]{36})\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\d+)\s+(\S+ \S+)\s+(\S+ \S+)\s*$", line.strip()
        )
        if m:
            keys = ("address", "rack", "dc", "status", "files", "newest", "oldest")
            rows[m.group(1)] = dict(zip(keys, m.groups()[1:], strict=True))
    return rows


def _nodetool_time(text: str) -> str:
    """nodetool's `2026-12-01 18:20:00,123` (UTC) as bd's ISO form to the millisecond."""
    return text.replace(" ", "T").replace(",", ".")


def test_pending_hints_match_nodetool_listpendinghints(full_cluster: LiveCassandra) -> None:
    """Node 2 down, node 1 coordinating CL ONE writes to RF 2: node 1 holds hints for node 2, and bd's
    status reads the same hints over CQL (system_views.pending_hints) as nodetool reads over JMX.

    Cassandra lists a hints file only once its writer is closed, and it closes it only to dispatch it
    (the target is up again), at 128 MiB, or at shutdown. So node 1 is drained and restarted with node 2
    still down: the case of a coordinator restarted while a replica is away.
    """
    from cassandra import ConsistencyLevel

    live = full_cluster
    live.cluster.nodetool(1, "enablehandoff")
    try:
        live.cluster.kill_node(2)
        wait_for_status(live, {"127.0.0.2": "D"}, observer=1)
        s = live.session("127.0.0.1")
        s.execute("CREATE TABLE IF NOT EXISTS ks_simple.hints_probe (k int PRIMARY KEY, v int)")
        insert = s.prepare("INSERT INTO ks_simple.hints_probe (k, v) VALUES (?, ?)")
        insert.consistency_level = ConsistencyLevel.ONE
        for k in range(200):
            s.execute(insert, (k, k))
        live.close_sessions()
        host_id = _host_id(live, "127.0.0.2")
        live.cluster.nodetool(1, "drain")
        live.cluster.kill_node(1)
        live.cluster.start_node(1)
        states = {"127.0.0.1": "U", "127.0.0.2": "D", "127.0.0.3": "U", "127.0.0.4": "U"}
        for observer in (1, 3, 4):  # the client learns node 1 is back from whichever node it asks
            wait_for_status(live, states, observer=observer)
        # bd and nodetool read the same source at different instants, and just after node 1's restart it
        # moves (node 2's status went DOWN -> Unknown while Cassandra dropped it from gossip): compare
        # until a bd reading between two equal nodetool readings agrees with them, for up to 2 minutes.
        deadline = time.monotonic() + 120
        while True:
            problems = _hints_disagreements(live, host_id)
            if not problems or time.monotonic() > deadline:
                break
            time.sleep(3)
        assert not problems, problems
    finally:
        live.cluster.start_node(1)  # a no-op unless the test stopped between the kill and the start
        live.cluster.nodetool(1, "disablehandoff")
        live.cluster.nodetool(1, "truncatehints")


def _hints_disagreements(live: LiveCassandra, host_id: str) -> list[str]:
    """What differs between bd's pending hints on node 1 and `nodetool listpendinghints` (nothing: [])."""
    before = _listpendinghints(live.cluster.nodetool(1, "listpendinghints"))
    nodes = {n["address"]: n for n in _status(live)["nodes"]}
    after = _listpendinghints(live.cluster.nodetool(1, "listpendinghints"))
    if before != after:
        return [f"nodetool changed while bd read: {before} then {after}"]
    if host_id not in after:
        return [f"node 1 lists no hints for node 2 ({host_id}): {after}"]
    views = nodes["127.0.0.1"]["views"]
    if not views["available"]:
        return [f"bd could not read node 1's views: {views['error']}"]
    others = ("127.0.0.3", "127.0.0.4")  # node 1 coordinated every write
    problems = [
        f"{a} holds hints: {nodes[a]['views']['pending_hints']}" for a in others if nodes[a]["views"]["pending_hints"]
    ]
    ours = {h["host_id"]: h for h in views["pending_hints"] or []}
    if set(ours) != set(after):
        return [*problems, f"bd lists {sorted(ours)}, nodetool {sorted(after)}"]
    hint, row = ours[host_id], after[host_id]
    checks = {
        "address": (hint["address"], row["address"].rsplit(":", 1)[0].lstrip("/")),
        "dc/rack": ((hint["datacenter"], hint["rack"]), (row["dc"], row["rack"])),
        "status": (hint["status"], row["status"]),
        "files": (hint["files"], int(row["files"])),
        "newest": (hint["newest"], _nodetool_time(row["newest"])),
        "oldest": (hint["oldest"], _nodetool_time(row["oldest"])),
        # 5.0's pending_hints has no size column; bd reads total_size where a server has it
        "total_bytes": (hint["total_bytes"], None),
    }
    problems += [
        f"{what}: bd {ours_!r}, nodetool {theirs_!r}" for what, (ours_, theirs_) in checks.items() if ours_ != theirs_
    ]
    if not problems:
        assert hint["address"] == "127.0.0.2"
        assert hint["files"] >= 1
        assert row["status"] in ("DOWN", "Unknown")  # Unknown: node 2 is out of node 1's gossip map for now
    return problems


def _host_id(live: LiveCassandra, address: str) -> str:
    for line in live.cluster.nodetool(1, "status").splitlines():
        parts = line.split()
        if len(parts) > 2 and parts[1] == address:
            return next(p for p in parts if re.fullmatch(r"[0-9a-f-]{36}", p))
    raise AssertionError(f"{address} not in nodetool status")
