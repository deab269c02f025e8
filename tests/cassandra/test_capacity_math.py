"""Capacity arithmetic: threshold from the strategies, crossing dates, nodes needed, growth from a snapshot."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from braindump_cli.cassandra.capacity import (
    NodeInput,
    TableInput,
    growth_since,
    parse_growth,
    parse_size,
    plan_capacity,
)
from braindump_cli.errors import UsageError

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
GIB = 2**30


def _tables(strategy: str) -> list[TableInput]:
    return [
        TableInput("ks", "big", strategy, 3, 100.0 * GIB, 1000, 0.1 * GIB, 2 * GIB),
        TableInput("ks", "empty", "LeveledCompactionStrategy", 3, 0.0, 0, None, None),
    ]


def _nodes() -> list[NodeInput]:
    return [
        NodeInput("10.0.0.1", "dc1", "r1", 100 * GIB, {"ks.big": 100 * GIB}),
        NodeInput("10.0.0.2", "dc1", "r1", 200 * GIB, {"ks.big": 200 * GIB}),
        NodeInput("10.0.0.3", "dc2", "r1", None, {"ks.big": 50 * GIB}),
    ]


def test_threshold_dates_and_nodes_needed() -> None:
    report = plan_capacity(
        _tables("SizeTieredCompactionStrategy"),
        _nodes(),
        now=NOW,
        growth=0.01,
        growth_source="--growth",
        horizon_days=100,
        disk_size=1000 * GIB,
    )
    assert report.threshold == 0.5  # STCS holds data; the empty LCS table does not count
    assert "SizeTieredCompactionStrategy" in report.threshold_source
    nodes = {n.address: n for n in report.nodes}
    assert nodes["10.0.0.3"].used_bytes == 50 * GIB  # no gossip load: disk_usage
    assert nodes["10.0.0.1"].skew == pytest.approx(100 / 150)
    assert nodes["10.0.0.2"].skew == pytest.approx(200 / 150)
    days = math.log(500 / 200) / math.log(1.01)
    assert nodes["10.0.0.2"].days_to_threshold == pytest.approx(days)
    assert nodes["10.0.0.2"].crosses_threshold_on == (NOW + dt.timedelta(days=days)).date().isoformat()
    assert report.total_bytes == 350 * GIB
    assert report.total_at_horizon == int(350 * GIB * 1.01**100)
    assert report.nodes_needed == math.ceil(report.total_at_horizon * (200 / 150) / (500 * GIB))
    table = next(t for t in report.tables if t.table == "big")
    assert table.replicated_bytes == 300.0 * GIB
    assert table.disk_bytes == 350 * GIB


def test_leveled_allows_more_and_no_growth_gives_no_dates() -> None:
    report = plan_capacity(
        _tables("LeveledCompactionStrategy"),
        _nodes(),
        now=NOW,
        growth=None,
        growth_source="none",
        horizon_days=30,
        disk_size=250 * GIB,
    )
    assert report.threshold == 0.8
    nodes = {n.address: n for n in report.nodes}
    assert nodes["10.0.0.2"].days_to_threshold == 0.0  # 200 GiB of 250: already past 80%
    assert nodes["10.0.0.1"].crosses_threshold_on is None
    assert report.nodes_needed is None


def test_growth_from_a_snapshot() -> None:
    then = {"taken_at": (NOW - dt.timedelta(days=10)).isoformat(), "total_bytes": 100}
    assert growth_since(then, 200, NOW) == pytest.approx(2 ** (1 / 10) - 1)
    with pytest.raises(UsageError):
        growth_since({"total_bytes": 1}, 2, NOW)


@pytest.mark.parametrize(("text", "value"), [("500GiB", 500 * GIB), ("2TB", 2 * 10**12), ("1048576", 2**20)])
def test_parse_size(text: str, value: int) -> None:
    assert parse_size(text) == value


@pytest.mark.parametrize("text", ["", "lots", "-1GiB", "5XB"])
def test_bad_sizes(text: str) -> None:
    with pytest.raises(UsageError):
        parse_size(text)


def test_parse_growth() -> None:
    assert parse_growth("1%") == pytest.approx(0.01)
    assert parse_growth("0.02") == pytest.approx(0.02)
    with pytest.raises(UsageError):
        parse_growth("fast")
