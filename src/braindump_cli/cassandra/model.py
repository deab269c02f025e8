"""The ring as bd reasons about it: plain data, built from driver metadata or synthesised in tests.

This is the contract between the adapter (which reads a live cluster with cassandra-driver) and
the pure ring/consistency math. Nothing here imports the driver.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Node:
    address: str
    datacenter: str
    rack: str
    tokens: tuple[int, ...]
    up: bool = True
    state: str = "NORMAL"
    host_id: str | None = None
    release_version: str | None = None
    load_bytes: int | None = None


@dataclass(frozen=True)
class Replication:
    """A keyspace's replication settings as CQL states them.

    `strategy` is the short class name (SimpleStrategy, NetworkTopologyStrategy, LocalStrategy,
    EverywhereStrategy). For SimpleStrategy `factors` is {"": rf}; for NetworkTopologyStrategy it
    maps data centre name to its replication factor (transient replicas, "3/1", count as full).
    """

    strategy: str
    factors: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Keyspace:
    name: str
    replication: Replication
    durable_writes: bool = True
    tables: tuple[str, ...] = ()


@dataclass(frozen=True)
class Ring:
    """The cluster's token ring: every node with its tokens, partitioner Murmur3."""

    nodes: tuple[Node, ...]
    cluster_name: str | None = None
    partitioner: str = "org.apache.cassandra.dht.Murmur3Partitioner"

    def by_address(self) -> dict[str, Node]:
        return {n.address: n for n in self.nodes}
