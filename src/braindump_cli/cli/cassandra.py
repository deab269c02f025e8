"""`bd cassandra` commands: thin wrappers over braindump_cli.cassandra.commands (imported lazily)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from braindump_cli.cli import _options as opts
from braindump_cli.cli.output import OutputFormat, OutputOpt, emit, info, render_table
from braindump_cli.errors import CheckFailedError, UsageError
from braindump_cli.settings import CassandraSettings

app = typer.Typer(
    help="Cassandra ring, keyspaces, consistency levels, key placement and status, read over CQL (no JMX).",
    no_args_is_help=True,
    rich_markup_mode=None,
)


def _pct(value: float | None) -> str | None:
    return None if value is None else f"{value * 100:.1f}%"


def _size(value: int | None) -> str | None:
    if value is None:
        return None
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.2f} {unit}" if unit != "B" else f"{int(size)} B"
        size /= 1024
    return None  # pragma: no cover


def _ring_columns(*, effective: bool) -> list[tuple[str, str]]:
    """The columns `nodetool status` starts with, shared by `ring` and `status`."""
    owns = "Owns (effective)" if effective else "Owns"
    return [
        ("--", "ud"),
        ("Address", "address"),
        ("DC", "dc"),
        ("Rack", "rack"),
        ("Load", "load"),
        ("Tokens", "tokens"),
        (owns, "owns"),
    ]


@app.command("ring")
@opts.with_cassandra
def ring(
    keyspace: Annotated[
        str | None, typer.Argument(help="Keyspace for the 'Owns (effective)' column (like nodetool status KS).")
    ] = None,
    tokens: Annotated[
        bool, typer.Option("--tokens", help="List every token of every node (like nodetool ring).")
    ] = False,
    output: OutputOpt = OutputFormat.table,
    *,
    settings: CassandraSettings,
) -> None:
    """Nodes of the ring: DC, rack, up/down, state, tokens, ownership, host id, version, load.

    Example: bd cassandra ring my_keyspace --hosts 10.0.0.1
    """
    from braindump_cli.cassandra.commands import describe_ring

    report = describe_ring(settings, keyspace=keyspace, with_tokens=tokens)

    def table(r: Any) -> None:
        if tokens:
            rows = sorted(
                (
                    {
                        "token": t,
                        "address": n.address,
                        "dc": n.datacenter,
                        "rack": n.rack,
                        "status": "Up" if n.up else "Down",
                        "state": n.state.capitalize(),
                        "owns": _pct(n.owns_effective if keyspace else n.owns),
                    }
                    for n in r.nodes
                    for t in (n.token_values or ())
                ),
                key=lambda row: row["token"],
            )
            render_table(
                rows,
                [
                    ("Token", "token"),
                    ("Address", "address"),
                    ("DC", "dc"),
                    ("Rack", "rack"),
                    ("Status", "status"),
                    ("State", "state"),
                    ("Owns", "owns"),
                ],
            )
            return
        rows = [
            {
                "ud": ("U" if n.up else "D") + n.state[:1],
                "address": n.address,
                "dc": n.datacenter,
                "rack": n.rack,
                "load": _size(n.load_bytes),
                "tokens": n.tokens,
                "owns": _pct(n.owns_effective if keyspace else n.owns),
                "host_id": n.host_id,
                "version": n.release_version,
            }
            for n in r.nodes
        ]
        render_table(
            rows,
            [
                *_ring_columns(effective=keyspace is not None),
                ("Host ID", "host_id"),
                ("Version", "version"),
            ],
            title=f"cluster {r.cluster_name}" + (f", keyspace {keyspace}" if keyspace else ""),
        )

    emit(list(report.nodes), output, table=lambda _: table(report))


@app.command("keyspaces")
@opts.with_cassandra
def keyspaces(
    name: Annotated[str | None, typer.Argument(help="Only this keyspace (case-sensitive).")] = None,
    check: Annotated[bool, typer.Option("--check", help="Exit 4 when any keyspace has a warning.")] = False,
    output: OutputOpt = OutputFormat.table,
    *,
    settings: CassandraSettings,
) -> None:
    """Replication (class, RF per DC), durable_writes and tables of each keyspace, with warnings.

    Example: bd cassandra keyspaces --check
    """
    from braindump_cli.cassandra.commands import describe_keyspaces

    report = describe_keyspaces(settings, name=name)

    def table(r: Any) -> None:
        rows = [
            {
                "name": k.name,
                "strategy": k.strategy,
                "rf": ", ".join(f"{dc}:{rf}" if dc else str(rf) for dc, rf in k.replication.items()) or None,
                "durable": k.durable_writes,
                "tables": len(k.tables),
                "warnings": len(k.warnings),
            }
            for k in r.keyspaces
        ]
        render_table(
            rows,
            [
                ("Keyspace", "name"),
                ("Strategy", "strategy"),
                ("RF", "rf"),
                ("Durable writes", "durable"),
                ("Tables", "tables"),
                ("Warnings", "warnings"),
            ],
        )
        for k in r.keyspaces:
            for w in k.warnings:
                print(f"warning: {w.message}")

    emit(report, output, table=table, jsonl_rows=lambda r: r.keyspaces)
    warned = [k for k in report.keyspaces if k.warnings]
    if check and warned:
        count = sum(len(k.warnings) for k in warned)
        raise CheckFailedError(
            f"{count} warning(s) in {len(warned)} keyspace(s): {', '.join(k.name for k in warned)}",
            hint="fix the replication with ALTER KEYSPACE ... WITH replication = {...}, then run a full repair",
        )


@app.command("consistency")
@opts.with_cassandra
def consistency(
    keyspace: Annotated[str, typer.Argument(help="Keyspace whose replication to analyse (case-sensitive).")],
    level: Annotated[
        list[str] | None,
        typer.Option(
            "--level",
            "-l",
            help="Only these levels (repeatable): ANY ONE TWO THREE QUORUM ALL LOCAL_ONE LOCAL_QUORUM EACH_QUORUM.",
        ),
    ] = None,
    down: Annotated[
        list[str] | None, typer.Option("--down", help="Treat this node (address or host id) as down (repeatable).")
    ] = None,
    require: Annotated[
        str | None, typer.Option("--require", help="Exit 4 unless this level is achievable for reads and writes.")
    ] = None,
    ranges: Annotated[
        bool, typer.Option("--ranges", help="Also report every token range (replicas, live, per-level verdicts).")
    ] = False,
    output: OutputOpt = OutputFormat.table,
    *,
    settings: CassandraSettings,
) -> None:
    """What each consistency level survives on the live ring: per range and per level, reads and writes.

    Example: bd cassandra consistency my_keyspace --down 10.0.0.3 --require LOCAL_QUORUM
    """
    from braindump_cli.cassandra.commands import analyse_consistency

    report = analyse_consistency(
        settings, keyspace, levels=level or None, down=down or (), require=require, with_ranges=ranges
    )

    def verdict(v: Any) -> str:
        if v.achievable is None:
            return "n/a"
        return "yes" if v.achievable else f"NO ({v.failing_ranges} ranges)"

    def table(r: Any) -> None:
        rf = ", ".join(f"{dc}:{n}" if dc else str(n) for dc, n in r.replication.items())
        print(
            f"keyspace {r.keyspace}: {r.strategy} {rf}; {r.range_count} token ranges; local DC {r.local_dc}; "
            f"down: {', '.join(r.down) or 'none'}"
        )
        rows = [
            {
                "level": lv.level,
                "needs": lv.required
                if lv.scope != "each"
                else " + ".join(f"{dc}:{n}" for dc, n in lv.required_per_dc.items()),
                "scope": {"all": "all DCs", "local": "local DC", "each": "each DC", "none": "hint"}[lv.scope],
                "read": verdict(lv.read),
                "write": verdict(lv.write),
                "tolerates": "any" if lv.losses_to_break is None else lv.tolerates,
                "breaks": ", ".join(lv.breaking_nodes) or None,
            }
            for lv in r.levels
        ]
        render_table(
            rows,
            [
                ("Level", "level"),
                ("Needs", "needs"),
                ("Counted in", "scope"),
                ("Read now", "read"),
                ("Write now", "write"),
                ("Node losses tolerated", "tolerates"),
                ("First to break it", "breaks"),
            ],
        )
        if r.ranges is not None:
            names = [lv.level for lv in r.levels]
            render_table(
                [
                    {
                        "start": rg.start,
                        "end": rg.end,
                        "replicas": ", ".join(rg.replicas),
                        "live": len(rg.live),
                        "failing": ", ".join(n for n in names if rg.levels[n].write is False) or None,
                    }
                    for rg in r.ranges
                ],
                [
                    ("Start (excl.)", "start"),
                    ("End", "end"),
                    ("Replicas", "replicas"),
                    ("Live", "live"),
                    ("Unavailable levels", "failing"),
                ],
            )

    emit(report, output, table=table, jsonl_rows=lambda r: r.levels)
    if report.required_failed:
        raise CheckFailedError(
            report.required_failed,
            hint=f"bring the down replicas back; see the ranges with `bd cassandra consistency {keyspace} --ranges`",
        )


@app.command("endpoints", context_settings={"ignore_unknown_options": True})
@opts.with_cassandra
def endpoints(
    keyspace: Annotated[str, typer.Argument(help="Keyspace (case-sensitive).")],
    table_name: Annotated[str, typer.Argument(metavar="TABLE", help="Table (case-sensitive).")],
    key: Annotated[
        list[str], typer.Argument(help="Partition key: one value per partition key column, in order (CQL literals).")
    ],
    output: OutputOpt = OutputFormat.table,
    *,
    settings: CassandraSettings,
) -> None:
    """The Murmur3 token and replica nodes of a partition key (like nodetool getendpoints).

    Example: bd cassandra endpoints shop orders 42 2024-05-01
    """
    from braindump_cli.cassandra.commands import find_endpoints

    result = find_endpoints(settings, keyspace, table_name, key)

    def table(r: Any) -> None:
        print(f"token: {r.token}")
        for address in r.replicas:
            print(address)

    emit(result, output, table=table, jsonl_rows=lambda r: [{"token": r.token, "replica": a} for a in r.replicas])


@app.command("survive")
@opts.with_cassandra
def survive(
    keyspace: Annotated[str, typer.Argument(help="Keyspace whose replication to judge (case-sensitive).")],
    level: Annotated[
        list[str] | None,
        typer.Option("--level", "-l", help="Only these levels (repeatable); default: all nine."),
    ] = None,
    nodes: Annotated[
        int | None, typer.Option("--nodes", min=1, max=3, help="Lose the worst K nodes (1-3; the default is 2).")
    ] = None,
    racks: Annotated[int | None, typer.Option("--racks", min=1, help="Lose K whole racks: every combination.")] = None,
    dc: Annotated[str | None, typer.Option("--dc", help="Lose this whole data centre.")] = None,
    check: Annotated[bool, typer.Option("--check", help="Exit 4 if some level loses ranges (for CI gates).")] = False,
    output: OutputOpt = OutputFormat.table,
    *,
    settings: CassandraSettings,
) -> None:
    """The exact worst K nodes, racks or DC to lose per level: share of ranges and data made unavailable.

    Example: bd cassandra survive my_keyspace --nodes 2 --level LOCAL_QUORUM
    """
    from braindump_cli.cassandra.commands import survive_keyspace

    report = survive_keyspace(settings, keyspace, levels=level or None, nodes=nodes, racks=racks, dc=dc, progress=info)
    emit(report, output, table=_survive_table, jsonl_rows=lambda r: r.levels)
    fatal = [lv.level for lv in report.levels if not lv.survives]
    if check and fatal:
        raise CheckFailedError(f"levels that lose ranges: {', '.join(fatal)}", hint="see the worst sets above")


def _share(value: float | None) -> str | None:
    return None if value is None else f"{value * 100:.3g}%"


def _survive_table(r: Any) -> None:
    rf = ", ".join(f"{dc}:{n}" if dc else str(n) for dc, n in r.factors.items())
    what = {"nodes": f"worst {r.count} node(s)", "racks": f"{r.count} rack(s)", "dc": "the data centre"}[r.mode]
    print(
        f"keyspace {r.keyspace}: {r.strategy} {rf}; {r.range_count} token ranges; local DC {r.local_dc}; losing {what}"
    )
    rows = []
    for lv in r.levels:
        for loss in lv.combinations or (lv.worst,):
            rows.append(
                {
                    "level": lv.level,
                    "ops": "/".join(lv.operations),
                    "lost": ", ".join(loss.units) or "-",
                    "verdict": "safe" if loss.failing_ranges == 0 else "FATAL",
                    "ranges": loss.failing_ranges,
                    "share": _share(loss.range_share),
                    "data": _share(loss.data_share),
                }
            )
    render_table(
        rows,
        [
            ("Level", "level"),
            ("Reads/writes", "ops"),
            ("Lost", "lost"),
            ("Verdict", "verdict"),
            ("Ranges down", "ranges"),
            ("Token share", "share"),
            ("Data share", "data"),
        ],
    )


@app.command("plan")
@opts.with_cassandra
def plan(
    add: Annotated[
        int | None,
        typer.Option("--add", min=1, help="Add N nodes, one after another, with the tokens Cassandra would pick."),
    ] = None,
    dc: Annotated[str | None, typer.Option("--dc", help="Data centre of the added nodes.")] = None,
    rack: Annotated[str | None, typer.Option("--rack", help="Rack of the added nodes.")] = None,
    decommission: Annotated[
        str | None, typer.Option("--decommission", help="Decommission this node (address or host id).")
    ] = None,
    replace: Annotated[str | None, typer.Option("--replace", help="Replace this node (address or host id).")] = None,
    keyspace: Annotated[
        list[str] | None, typer.Option("--keyspace", "-k", help="Only these keyspaces (repeatable); default: all.")
    ] = None,
    allocate_rf: Annotated[
        int | None,
        typer.Option(
            "--allocate-rf",
            min=0,
            help="The new nodes' local RF for Cassandra's token allocator, where their cassandra.yaml differs "
            "from the cluster's (0: random tokens).",
        ),
    ] = None,
    num_tokens: Annotated[
        int | None, typer.Option("--num-tokens", min=1, help="The new nodes' num_tokens (default: the cluster's).")
    ] = None,
    streams: Annotated[bool, typer.Option("--streams", help="List every range that would stream.")] = False,
    output: OutputOpt = OutputFormat.table,
    *,
    settings: CassandraSettings,
) -> None:
    """Ownership after adding, decommissioning or replacing nodes, and what would stream, before acting.

    --add uses Cassandra's own token allocator where the cluster's settings turn it on (exact tokens),
    else random tokens (one seeded draw, and the spread over many).

    Example: bd cassandra plan --decommission 10.0.0.3 -o json
    """
    from braindump_cli.cassandra.commands import plan_topology

    report = plan_topology(
        settings,
        add=add,
        dc=dc,
        rack=rack,
        decommission=decommission,
        replace=replace,
        keyspaces=keyspace or (),
        allocate_rf=allocate_rf,
        num_tokens=num_tokens,
        progress=info,
    )
    emit(report, output, table=lambda r: _plan_table(r, streams), jsonl_rows=lambda r: r.nodes)
    if report.note:
        info(f"note: {report.note}")


def _plan_table(r: Any, streams: bool) -> None:
    what = f"{r.change} {', '.join(r.subject)}"
    if r.allocation:
        what += f" ({r.num_tokens} tokens each, {r.allocation} allocation)"
    print(f"plan: {what}; bytes from {r.bytes_source}")
    if r.allocation and r.allocation != "random":
        print(
            f"allocation ring: {r.allocation_ring}; tokens {'exact' if r.tokens_exact else 'from a random first token'}"
        )
        for address, tokens in r.new_tokens.items():
            print(f"{address}: {','.join(map(str, tokens))}")
    names = sorted({k for n in r.nodes for k in n.owns_effective_after})
    rows = []
    for n in r.nodes:
        row = {"address": n.address, "dc": n.datacenter, "rack": n.rack, "new": "new" if n.new else ""}
        row["owns"] = f"{_pct(n.owns_before) or '-'} -> {_pct(n.owns_after)}"
        for k in names:
            row[k] = f"{_pct(n.owns_effective_before.get(k)) or '-'} -> {_pct(n.owns_effective_after.get(k))}"
        row["receives"] = _size(int(r.bytes_to_stream[n.address])) if r.bytes_to_stream.get(n.address) else None
        rows.append(row)
    columns = [("Address", "address"), ("DC", "dc"), ("Rack", "rack"), ("", "new"), ("Owns", "owns")]
    render_table(rows, [*columns, *((f"{k} (effective)", k) for k in names), ("Receives", "receives")])
    for s in r.spread:
        print(
            f"{s.keyspace}: a new node's effective ownership over {s.samples} random draws: "
            f"mean {_pct(s.mean)}, sd {_pct(s.stdev)}, {_pct(s.low)} to {_pct(s.high)}"
        )
    if streams:
        render_table(
            [
                {
                    "keyspace": s.keyspace,
                    "start": s.start,
                    "end": s.end,
                    "to": s.target,
                    "from": ", ".join(s.sources),
                    "bytes": _size(int(s.estimated_bytes)) if s.estimated_bytes is not None else None,
                }
                for s in r.streams
            ],
            [
                ("Keyspace", "keyspace"),
                ("Start (excl.)", "start"),
                ("End", "end"),
                ("To", "to"),
                ("From", "from"),
                ("Bytes", "bytes"),
            ],
        )


@app.command("capacity")
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
    print(f"total {_size(r.total_bytes)}; growth {growth} ({r.growth_source})")
    print(f"threshold {r.threshold:.0%} of the disk ({r.threshold_source})")
    render_table(
        [
            {
                "address": n.address,
                "dc": n.datacenter,
                "rack": n.rack,
                "used": _size(n.used_bytes),
                "skew": f"{n.skew:.2f}x",
                "full": _pct(n.used_fraction),
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
                "size": _size(int(t.estimated_bytes)),
                "disk": _size(t.disk_bytes),
                "partitions": t.partitions,
                "largest": _size(t.max_partition_bytes),
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
        print(f"in {r.horizon_days} days: {_size(r.total_at_horizon)}{need}")


@app.command("status")
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
            "load": _size(n.load_bytes),
            "tokens": n.tokens,
            "owns": _pct(n.owns_effective if r.keyspace else n.owns),
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
            *_ring_columns(effective=r.keyspace is not None),
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
