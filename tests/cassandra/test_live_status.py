"""`bd cassandra status -o json` (schema_version 2) against nodetool status, tpstats, compactionstats and
the same nodes: the JMX figures bd reads over CQL instead. (Pending hints are read the same way but
not yet proven against `nodetool listpendinghints`: the harness runs with hinted handoff off.)"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from typer.testing import CliRunner

from braindump_cli.cli.app import app
from tests.cassandra.conftest import PASSWORD, LiveCassandra

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
