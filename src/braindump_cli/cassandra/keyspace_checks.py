"""Replication settings that will hurt: each finding is a warning with a stable code."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from braindump_cli.cassandra.model import Keyspace, Ring
from braindump_cli.cassandra.ring import parse_rf, strategy_name

RF_EXCEEDS_NODES = "rf-exceeds-nodes"
SIMPLE_STRATEGY_MULTI_DC = "simple-strategy-multi-dc"
RF_ONE = "rf-one"
UNKNOWN_DC = "unknown-dc"


@dataclass(frozen=True)
class KeyspaceWarning:
    code: str
    message: str
    keyspace: str
    datacenter: str | None = None


def check_keyspace(keyspace: Keyspace, ring: Ring) -> tuple[KeyspaceWarning, ...]:
    """Warnings for one keyspace's replication against the ring as it is now.

    RF greater than the nodes of a DC (ALL and often QUORUM can never succeed, and the DC holds
    fewer copies than asked), SimpleStrategy on a multi-DC ring (replicas land in whichever DC the
    ring walk meets), RF 1 (one node loss makes data unavailable) and a DC named in the
    replication that no node belongs to (names are case-sensitive). LocalStrategy and
    EverywhereStrategy keyspaces have nothing to check.
    """
    name = keyspace.name
    strategy = strategy_name(keyspace.replication)
    factors = {dc: parse_rf(rf) for dc, rf in keyspace.replication.factors.items()}
    nodes_per_dc = Counter(n.datacenter for n in ring.nodes)
    out: list[KeyspaceWarning] = []
    if strategy == "SimpleStrategy":
        rf = sum(factors.values())
        total = len(ring.nodes)
        if len(nodes_per_dc) > 1:
            out.append(
                KeyspaceWarning(
                    SIMPLE_STRATEGY_MULTI_DC,
                    f"{name}: SimpleStrategy on a ring of {len(nodes_per_dc)} data centres "
                    f"({', '.join(sorted(nodes_per_dc))}) places replicas regardless of DC; "
                    "use NetworkTopologyStrategy",
                    name,
                )
            )
        if rf > total:
            out.append(
                KeyspaceWarning(
                    RF_EXCEEDS_NODES,
                    f"{name}: replication factor {rf} but only {total} node(s) in the ring",
                    name,
                )
            )
        if rf == 1:
            out.append(KeyspaceWarning(RF_ONE, f"{name}: replication factor 1 keeps a single copy", name))
        return tuple(out)
    if strategy != "NetworkTopologyStrategy":
        return ()
    lowered = {dc.lower(): dc for dc in nodes_per_dc}
    for dc, rf in factors.items():
        have = nodes_per_dc.get(dc, 0)
        if have == 0:
            near = lowered.get(dc.lower())
            hint = f" (the ring has {near!r}; DC names are case-sensitive)" if near else ""
            known = ", ".join(sorted(nodes_per_dc)) or "none"
            out.append(
                KeyspaceWarning(
                    UNKNOWN_DC,
                    f"{name}: data centre {dc!r} in the replication has no nodes{hint}; ring DCs: {known}",
                    name,
                    dc,
                )
            )
        elif rf > have:
            out.append(
                KeyspaceWarning(
                    RF_EXCEEDS_NODES,
                    f"{name}: replication factor {rf} in {dc!r} but only {have} node(s) there",
                    name,
                    dc,
                )
            )
        if rf == 1:
            out.append(
                KeyspaceWarning(RF_ONE, f"{name}: replication factor 1 in {dc!r} keeps a single copy there", name, dc)
            )
    return tuple(out)
