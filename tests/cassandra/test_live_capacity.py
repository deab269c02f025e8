"""`bd cassandra capacity` on the live cluster against nodetool status (load) and tablestats (sizes, partitions)."""

from __future__ import annotations

import json
import random
import re
import time
from typing import Any

import pytest
from typer.testing import CliRunner

from braindump_cli.cli.app import app
from tests.cassandra.conftest import KEYSPACES, LiveCassandra

pytestmark = [pytest.mark.cassandra, pytest.mark.slow]

runner = CliRunner()
ROWS = 3000
UNITS = {"bytes": 1, "B": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30}


def _capacity(live: LiveCassandra, *args: str) -> dict[str, Any]:
    result = runner.invoke(app, ["cassandra", "capacity", *args, "-o", "json", *live.cli_args()])
    assert result.exit_code == 0, result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    assert report["schema_version"] == 1
    return report


def _tablestats(text: str) -> dict[str, int]:
    out = {}
    for key in ("Space used (total)", "Number of partitions (estimate)"):
        m = re.search(rf"{re.escape(key)}: (\d+)", text)
        assert m, text
        out[key] = int(m.group(1))
    return out


def _status_load(text: str) -> dict[str, float]:
    out = {}
    for line in text.splitlines():
        m = re.match(r"^UN\s+(\S+)\s+(\d+(?:\.\d+)?)\s+(bytes|B|KiB|MiB|GiB)\s", line)
        if m:
            out[m.group(1)] = float(m.group(2)) * UNITS[m.group(3)]
    return out


def test_capacity_matches_nodetool_status_and_tablestats(cassandra: LiveCassandra, tmp_path: Any) -> None:
    s = cassandra.session()
    s.execute(f"CREATE KEYSPACE IF NOT EXISTS bd_capacity WITH replication = {KEYSPACES['ks_nts']}")
    s.execute("CREATE TABLE IF NOT EXISTS bd_capacity.cap_t (k int PRIMARY KEY, v text)")
    rng = random.Random("capacity")
    insert = s.prepare("INSERT INTO bd_capacity.cap_t (k, v) VALUES (?, ?)")
    for k in range(ROWS):
        s.execute(insert, (k, rng.randbytes(500).hex()))  # incompressible: sizes on disk stay visible
    nodes = cassandra.cluster.nodes
    for n in nodes:
        cassandra.cluster.nodetool_batch(n.index, [["flush", "bd_capacity"], ["refreshsizeestimates"]])
    # per node: the load nodetool status prints (rounded to two decimals of its unit). Both read gossip
    # LOAD, which each node republishes every 60 s: wait until the write has reached both sides.
    deadline = time.monotonic() + 180
    while True:
        report = _capacity(cassandra, "--growth", "1%", "--horizon", "30", "--disk-size", "1GiB")
        loads = _status_load(cassandra.cluster.nodetool(1, "status"))
        off = [n for n in report["nodes"] if n["used_bytes"] != pytest.approx(loads[n["address"]], rel=0.01)]
        if (not off and all(v > ROWS * 100 for v in loads.values())) or time.monotonic() > deadline:
            break
        time.sleep(5)
    assert not off, (off, loads)
    for node in report["nodes"]:
        assert node["used_fraction"] == pytest.approx(node["used_bytes"] / 2**30)
        assert node["crosses_threshold_on"] is not None
    table = next(t for t in report["tables"] if (t["keyspace"], t["table"]) == ("bd_capacity", "cap_t"))
    assert table["strategy"] == "SizeTieredCompactionStrategy"  # Cassandra 5.0's default without default_compaction
    assert report["threshold"] == 0.5
    assert table["replication_factor"] == 3  # dc1:2 + dc2:1
    stats = [_tablestats(cassandra.cluster.nodetool(n.index, "tablestats", "bd_capacity.cap_t")) for n in nodes]
    # every replica's partitions, over RF, is one copy: size_estimates covers each primary range once
    copies = sum(x["Number of partitions (estimate)"] for x in stats) / 3
    assert table["partitions"] == pytest.approx(copies, rel=0.15)
    assert table["partitions"] == pytest.approx(ROWS, rel=0.15)
    # disk_usage is each node's total sstable space, rounded up to whole MiB
    assert table["disk_bytes"] == sum(-(-x["Space used (total)"] // 2**20) * 2**20 for x in stats)
    assert table["max_partition_bytes"] == 2**20  # one row of ~1 KB, rounded up to 1 MiB
    assert table["mean_partition_bytes"] > 1000
    # growth measured from a snapshot equals the ratio of the totals
    snapshot = tmp_path / "before.json"
    snapshot.write_text(json.dumps({**report, "taken_at": "2020-01-01T00:00:00+00:00"}))
    again = _capacity(cassandra, "--since", str(snapshot))
    assert again["growth_source"] == "--since SNAPSHOT"
    assert again["growth_per_day"] == pytest.approx(0.0, abs=1e-3)
    bad = runner.invoke(app, ["cassandra", "capacity", "--disk-size", "lots", *cassandra.cli_args()])
    assert bad.exit_code == 2, bad.stderr
