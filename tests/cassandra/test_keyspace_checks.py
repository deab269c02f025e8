"""Keyspace replication warnings against small hand-built rings."""

from __future__ import annotations

import pytest

from braindump_cli.cassandra.keyspace_checks import (
    RF_EXCEEDS_NODES,
    RF_ONE,
    SIMPLE_STRATEGY_MULTI_DC,
    UNKNOWN_DC,
    check_keyspace,
)
from braindump_cli.cassandra.model import Keyspace, Node, Replication, Ring


def _ring(*dcs: tuple[str, int]) -> Ring:
    nodes = []
    token = 0
    for dc, count in dcs:
        for i in range(count):
            token += 1000
            nodes.append(Node(f"{dc}-{i}", dc, "r1", (token,)))
    return Ring(tuple(nodes))


def _codes(ks: Keyspace, ring: Ring) -> list[tuple[str, str | None]]:
    return sorted((w.code, w.datacenter) for w in check_keyspace(ks, ring))


def test_healthy_keyspaces_have_no_warnings() -> None:
    ring = _ring(("dc1", 3), ("dc2", 3))
    assert _codes(Keyspace("ok", Replication("NetworkTopologyStrategy", {"dc1": 3, "dc2": 2})), ring) == []
    assert _codes(Keyspace("ok", Replication("SimpleStrategy", {"": 3})), _ring(("dc1", 3))) == []


@pytest.mark.parametrize(
    ("replication", "ring", "expected"),
    [
        (Replication("NetworkTopologyStrategy", {"dc1": 4}), _ring(("dc1", 3)), [(RF_EXCEEDS_NODES, "dc1")]),
        (Replication("NetworkTopologyStrategy", {"dc1": 1}), _ring(("dc1", 3)), [(RF_ONE, "dc1")]),
        (
            Replication("NetworkTopologyStrategy", {"dc1": 2, "DC2": 2}),
            _ring(("dc1", 3), ("dc2", 3)),
            [(UNKNOWN_DC, "DC2")],
        ),
        (
            Replication("NetworkTopologyStrategy", {"dc1": 5, "dc3": 1}),
            _ring(("dc1", 3)),
            [(RF_EXCEEDS_NODES, "dc1"), (RF_ONE, "dc3"), (UNKNOWN_DC, "dc3")],
        ),
        (
            Replication("SimpleStrategy", {"": 2}),
            _ring(("dc1", 2), ("dc2", 2)),
            [(SIMPLE_STRATEGY_MULTI_DC, None)],
        ),
        (
            Replication("org.apache.cassandra.locator.SimpleStrategy", {"": 1}),
            _ring(("dc1", 1), ("dc2", 1)),
            [(RF_ONE, None), (SIMPLE_STRATEGY_MULTI_DC, None)],
        ),
        (Replication("SimpleStrategy", {"": 3}), _ring(("dc1", 2)), [(RF_EXCEEDS_NODES, None)]),
        (Replication("LocalStrategy", {}), _ring(("dc1", 1), ("dc2", 1)), []),
    ],
)
def test_warnings(replication: Replication, ring: Ring, expected: list[tuple[str, str | None]]) -> None:
    assert _codes(Keyspace("ks", replication), ring) == sorted(expected)


def test_messages_name_the_keyspace_and_hint_at_case() -> None:
    ring = _ring(("dc1", 3))
    (warning,) = check_keyspace(Keyspace("Orders", Replication("NetworkTopologyStrategy", {"DC1": 3})), ring)
    assert warning.keyspace == "Orders"
    assert "'DC1'" in warning.message
    assert "case-sensitive" in warning.message
    assert "'dc1'" in warning.message
