"""`bd cassandra survive`: the exact worst nodes, racks or DC to lose, per consistency level."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from braindump_cli.cli import _options as opts
from braindump_cli.cli.output import OutputFormat, OutputOpt, emit, info, render_table
from braindump_cli.errors import CheckFailedError
from braindump_cli.settings import CassandraSettings


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


def register(app: typer.Typer) -> None:
    app.command("survive")(survive)
