"""`bd cassandra status`: nodetool status, tpstats, compactionstats and listpendinghints in one, over CQL."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from braindump_cli.cli import _options as opts
from braindump_cli.cli._cassandra_format import human_size, percent, ring_columns
from braindump_cli.cli.output import OutputFormat, OutputOpt, emit, render_table
from braindump_cli.settings import CassandraSettings


@opts.with_cassandra
def status(
    keyspace: Annotated[
        str | None, typer.Argument(help="Keyspace for the 'Owns (effective)' column (like nodetool status KS).")
    ] = None,
    output: OutputOpt = OutputFormat.table,
    *,
    settings: CassandraSettings,
) -> None:
    """nodetool status, tpstats and compactionstats for every node, over CQL (no JMX); stable JSON.

    Example: bd cassandra status my_keyspace --hosts 10.0.0.1 -o json
    """
    from braindump_cli.cassandra.commands import describe_status

    report = describe_status(settings, keyspace=keyspace)
    emit(report, output, table=_status_table, jsonl_rows=lambda r: r.nodes)


def _backlog(views: Any) -> str | None:
    if not views.available:
        return None
    busy = [
        f"{p.name}={p.pending}" + (f" ({p.blocked} blocked)" if p.blocked else "")
        for p in views.thread_pools
        if p.pending or p.blocked
    ]
    return ", ".join(busy) or "-"


def _hints(views: Any) -> str | None:
    if views.pending_hints is None:
        return None
    return str(sum(h.files for h in views.pending_hints))


def _status_table(r: Any) -> None:
    agreement = "yes" if r.schema_agreement else f"NO ({len(r.schema_versions)} versions)"
    print(f"cluster: {r.cluster_name}")
    print(f"partitioner: {r.partitioner}")
    print(f"snitch: {r.snitch or 'not available'}")
    print(f"schema agreement: {agreement}")
    rows = [
        {
            "ud": n.status,
            "address": n.address,
            "dc": n.datacenter,
            "rack": n.rack,
            "load": human_size(n.load_bytes),
            "tokens": n.tokens,
            "owns": percent(n.owns_effective if r.keyspace else n.owns),
            "schema": (n.schema_version or "")[:8] or None,
            "pending": n.views.pending_compactions,
            "tasks": len(n.views.sstable_tasks) if n.views.available else None,
            "hints": _hints(n.views),
            "backlog": _backlog(n.views),
            "disk": None if n.views.disk_usage_mib is None else f"{n.views.disk_usage_mib} MiB",
            "clients": n.views.client_connections,
        }
        for n in r.nodes
    ]
    render_table(
        rows,
        [
            *ring_columns(effective=r.keyspace is not None),
            ("Schema", "schema"),
            ("Pending compactions", "pending"),
            ("SSTable tasks", "tasks"),
            ("Hint files", "hints"),
            ("Thread-pool backlog", "backlog"),
            ("Disk", "disk"),
            ("Clients", "clients"),
        ],
    )
    for n in r.nodes:
        if not n.views.available:
            print(f"{n.address}: system_views not available: {n.views.error}")


def register(app: typer.Typer) -> None:
    app.command("status")(status)
