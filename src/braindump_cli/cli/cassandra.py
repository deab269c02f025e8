"""`bd cassandra` commands: thin wrappers over braindump_cli.cassandra.commands (imported lazily)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from braindump_cli.cli import _options as opts
from braindump_cli.cli._cassandra_format import human_size, percent, ring_columns
from braindump_cli.cli.output import OutputFormat, OutputOpt, emit, render_table
from braindump_cli.errors import CheckFailedError
from braindump_cli.settings import CassandraSettings

app = typer.Typer(
    help="Cassandra ring, keyspaces, consistency levels, key placement and status, read over CQL (no JMX).",
    no_args_is_help=True,
    rich_markup_mode=None,
)


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
                        "owns": percent(n.owns_effective if keyspace else n.owns),
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
                "load": human_size(n.load_bytes),
                "tokens": n.tokens,
                "owns": percent(n.owns_effective if keyspace else n.owns),
                "host_id": n.host_id,
                "version": n.release_version,
            }
            for n in r.nodes
        ]
        render_table(
            rows,
            [
                *ring_columns(effective=keyspace is not None),
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


# survive, plan, capacity and status live in their own modules (issue 13).
from braindump_cli.cli import _cassandra_survive  # noqa: E402

_cassandra_survive.register(app)

from braindump_cli.cli import _cassandra_plan  # noqa: E402

_cassandra_plan.register(app)

from braindump_cli.cli import _cassandra_capacity  # noqa: E402

_cassandra_capacity.register(app)

from braindump_cli.cli import _cassandra_status  # noqa: E402

_cassandra_status.register(app)
