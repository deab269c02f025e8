"""`bd cassandra capacity`: disk use per node, when each crosses its threshold, and the nodes needed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from braindump_cli.cli import _options as opts
from braindump_cli.cli._cassandra_format import human_size, percent
from braindump_cli.cli.output import OutputFormat, OutputOpt, emit, info, render_table
from braindump_cli.errors import UsageError
from braindump_cli.settings import CassandraSettings


@opts.with_cassandra
def capacity(
    growth: Annotated[
        str | None, typer.Option("--growth", help="Daily compound growth, e.g. 1% or 0.01 (else measured by --since).")
    ] = None,
    horizon: Annotated[int, typer.Option("--horizon", min=1, help="Days to plan for.")] = 365,
    disk_size: Annotated[str | None, typer.Option("--disk-size", help="Data disk size per node, e.g. 500GiB.")] = None,
    since: Annotated[
        Path | None, typer.Option("--since", help="An earlier `bd cassandra capacity -o json` to measure growth from.")
    ] = None,
    threshold: Annotated[
        float | None,
        typer.Option("--threshold", min=0.05, max=1.0, help="Fill limit per node (default: the strategies' headroom)."),
    ] = None,
    output: OutputOpt = OutputFormat.table,
    *,
    settings: CassandraSettings,
) -> None:
    """Disk use and skew per node, when each crosses its compaction headroom, and nodes needed for the horizon.

    Example: bd cassandra capacity --growth 0.5% --horizon 180 --disk-size 1TiB
    """
    from braindump_cli.cassandra import capacity as cap
    from braindump_cli.cassandra.commands import capacity_report

    snapshot = _read_snapshot(since) if since is not None else None
    report = capacity_report(
        settings,
        growth=cap.parse_growth(growth) if growth is not None else None,
        growth_snapshot=snapshot,
        horizon_days=horizon,
        disk_size=cap.parse_size(disk_size) if disk_size is not None else None,
        threshold=threshold,
        progress=info,
    )
    emit(report, output, table=_capacity_table, jsonl_rows=lambda r: r.nodes)


def _read_snapshot(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise UsageError(
            f"cannot read --since {path}: {e}", hint="pass a file saved from `bd cassandra capacity -o json`"
        ) from e
    if not isinstance(data, dict):
        raise UsageError(f"--since {path} is not a `bd cassandra capacity -o json` report")
    return data


def _capacity_table(r: Any) -> None:
    growth = "unknown (give --growth or --since)" if r.growth_per_day is None else f"{r.growth_per_day * 100:.3g}%/day"
    print(f"total {human_size(r.total_bytes)}; growth {growth} ({r.growth_source})")
    print(f"threshold {r.threshold:.0%} of the disk ({r.threshold_source})")
    render_table(
        [
            {
                "address": n.address,
                "dc": n.datacenter,
                "rack": n.rack,
                "used": human_size(n.used_bytes),
                "skew": f"{n.skew:.2f}x",
                "full": percent(n.used_fraction),
                "crosses": n.crosses_threshold_on,
            }
            for n in r.nodes
        ],
        [
            ("Address", "address"),
            ("DC", "dc"),
            ("Rack", "rack"),
            ("Used", "used"),
            ("Skew", "skew"),
            ("Of disk", "full"),
            ("Crosses threshold", "crosses"),
        ],
    )
    render_table(
        [
            {
                "table": f"{t.keyspace}.{t.table}",
                "strategy": t.strategy.replace("CompactionStrategy", ""),
                "rf": t.replication_factor,
                "size": human_size(int(t.estimated_bytes)),
                "disk": human_size(t.disk_bytes),
                "partitions": t.partitions,
                "largest": human_size(t.max_partition_bytes),
            }
            for t in r.tables
            if t.disk_bytes or t.estimated_bytes
        ],
        [
            ("Table", "table"),
            ("Compaction", "strategy"),
            ("RF", "rf"),
            ("Estimated (1 copy)", "size"),
            ("On disk (all nodes)", "disk"),
            ("Partitions", "partitions"),
            ("Largest partition", "largest"),
        ],
    )
    if r.total_at_horizon is not None:
        need = f"; nodes needed: {r.nodes_needed} (now {r.nodes_now})" if r.nodes_needed is not None else ""
        print(f"in {r.horizon_days} days: {human_size(r.total_at_horizon)}{need}")


def register(app: typer.Typer) -> None:
    app.command("capacity")(capacity)
