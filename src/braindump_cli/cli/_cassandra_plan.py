"""`bd cassandra plan`: ownership and streams after adding, decommissioning or replacing nodes, before acting."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from braindump_cli.cli import _options as opts
from braindump_cli.cli._cassandra_format import human_size, percent
from braindump_cli.cli.output import OutputFormat, OutputOpt, emit, info, render_table
from braindump_cli.settings import CassandraSettings


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
        row["owns"] = f"{percent(n.owns_before) or '-'} -> {percent(n.owns_after)}"
        for k in names:
            row[k] = f"{percent(n.owns_effective_before.get(k)) or '-'} -> {percent(n.owns_effective_after.get(k))}"
        row["receives"] = human_size(int(r.bytes_to_stream[n.address])) if r.bytes_to_stream.get(n.address) else None
        rows.append(row)
    columns = [("Address", "address"), ("DC", "dc"), ("Rack", "rack"), ("", "new"), ("Owns", "owns")]
    render_table(rows, [*columns, *((f"{k} (effective)", k) for k in names), ("Receives", "receives")])
    for s in r.spread:
        print(
            f"{s.keyspace}: a new node's effective ownership over {s.samples} random draws: "
            f"mean {percent(s.mean)}, sd {percent(s.stdev)}, {percent(s.low)} to {percent(s.high)}"
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
                    "bytes": human_size(int(s.estimated_bytes)) if s.estimated_bytes is not None else None,
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


def register(app: typer.Typer) -> None:
    app.command("plan")(plan)
