"""`bd sandbox`: start, inspect, export and stop real local servers to try bd against."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from braindump_cli.cli.output import OutputFormat, OutputOpt, emit, info
from braindump_cli.errors import CheckFailedError

app = typer.Typer(
    help="Real local servers to try bd on: a Kubernetes control plane (KWOK Nodes), Cassandra, PostgreSQL with an "
    "Airflow schema "
    "(state in $BD_SANDBOX_DIR, default ~/.local/state/braindump/sandbox).",
    no_args_is_help=True,
    rich_markup_mode=None,
)

ENDPOINT_KEYS = {"kube": "server", "cassandra": "hosts", "airflow": "url"}


def _directory() -> Any:
    from braindump_cli.sandbox._state import sandbox_dir

    return sandbox_dir()


def _components_table(report: Any, *, with_action: bool) -> None:
    """One line per component, never truncated (endpoints are meant to be copied); details below."""
    rows = []
    for c in report.components:
        pids = ",".join(str(p.pid) for p in c.processes) or "-"
        row = [c.name, c.state] + ([c.action or "-"] if with_action else []) + [pids]
        rows.append((row, c.endpoints.get(ENDPOINT_KEYS[c.name], "-"), c.detail))
    header = ["COMPONENT", "STATE"] + (["ACTION"] if with_action else []) + ["PIDS"]
    widths = [max(len(r[0][i]) for r in [(header, "", ""), *rows]) for i in range(len(header))]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + "  ENDPOINT"]
    for row, endpoint, _ in rows:
        lines.append("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) + "  " + endpoint)
    lines += [f"{c.name}: {c.detail}" for c in report.components if c.detail]
    sys.stdout.write("\n".join(lines) + "\n")


@app.command("up")
def up(
    kube: Annotated[
        bool,
        typer.Option(
            "--kube",
            help="Start Kubernetes: etcd, kube-apiserver, kube-controller-manager, kube-scheduler and KWOK "
            "(simulated Nodes that run Pods, complete Jobs and bind volumes).",
        ),
    ] = False,
    nodes: Annotated[int, typer.Option("--nodes", metavar="N", min=1, max=50, help="KWOK Nodes for --kube.")] = 1,
    apiserver_only: Annotated[
        bool,
        typer.Option(
            "--apiserver-only", help="Start only kube-apiserver + etcd (fast; nothing runs Pods or controllers)."
        ),
    ] = False,
    cassandra: Annotated[
        int | None,
        typer.Option(
            "--cassandra", metavar="N", min=1, max=9, help="Start an N-node Cassandra 5.0 cluster (default 3)."
        ),
    ] = None,
    cassandra_ip: Annotated[
        str | None,
        typer.Option(
            "--cassandra-ip",
            help="Loopback address of Cassandra node 1; node i takes the next ones (default 127.0.0.1).",
        ),
    ] = None,
    airflow: Annotated[
        bool, typer.Option("--airflow", help="Start PostgreSQL with a migrated Airflow 3.3.2 schema.")
    ] = False,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Start the sandbox's servers (all of them unless some are named); running ones are left alone.

    Example: bd sandbox up --kube --nodes 2 --airflow --cassandra 1
    """
    from braindump_cli.sandbox.lifecycle import up_sandbox

    kube = kube or apiserver_only
    everything = not (kube or airflow or cassandra is not None)
    report = up_sandbox(
        _directory(),
        kube=kube or everything,
        kube_nodes=None if apiserver_only else nodes,
        cassandra=cassandra is not None or everything,
        cassandra_nodes=cassandra,
        cassandra_ip=cassandra_ip,
        airflow=airflow or everything,
        progress=info,
    )
    emit(report, output, table=lambda r: _components_table(r, with_action=True), jsonl_rows=lambda r: r.components)
    if output is OutputFormat.table:
        info('next: eval "$(bd sandbox env)"')


@app.command("status")
def status(output: OutputOpt = OutputFormat.table) -> None:
    """Show each component's processes, endpoints and health; exit 4 if a recorded one is down.

    Example: bd sandbox status -o json
    """
    from braindump_cli.sandbox.lifecycle import status_sandbox

    report = status_sandbox(_directory())
    emit(report, output, table=lambda r: _components_table(r, with_action=False), jsonl_rows=lambda r: r.components)
    if not report.healthy:
        bad = ", ".join(c.name for c in report.components if not c.healthy)
        raise CheckFailedError(f"sandbox component(s) not running or not ready: {bad}", hint="bd sandbox up")


@app.command("env")
def env(output: OutputOpt = OutputFormat.table) -> None:
    """Print `export` lines that point bd, kubectl and friends at the sandbox (for eval).

    Example: eval "$(bd sandbox env)"
    """
    import shlex

    from braindump_cli.sandbox.lifecycle import env_sandbox

    result = env_sandbox(_directory())
    for name in result.not_running:
        info(f"bd: warning: sandbox component {name} is not running (bd sandbox up)")

    def table(r: Any) -> None:
        sys.stdout.write("".join(f"export {k}={shlex.quote(v)}\n" for k, v in r.variables.items()))

    emit(result, output, table=table, jsonl_rows=lambda r: [{"name": k, "value": v} for k, v in r.variables.items()])


@app.command("down")
def down(
    keep: Annotated[
        bool, typer.Option("--keep", help="Keep the data (etcd, Cassandra, PostgreSQL) for the next up.")
    ] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print what would be stopped and removed.")] = False,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Stop only the processes the sandbox started (by recorded pid) and remove its data unless --keep.

    Example: bd sandbox down --keep
    """
    from braindump_cli.sandbox.lifecycle import down_sandbox

    report = down_sandbox(_directory(), keep=keep, dry_run=dry_run, progress=info)

    def table(r: Any) -> None:
        verb = "would stop" if r.dry_run else "stopped"
        lines = []
        for p in r.processes:
            state = "" if p.was_running else " (already gone)"
            lines.append(f"{verb} {p.component}/{p.name} pid {p.pid}{state}\n")
        for path in r.removed:
            lines.append(f"{'would remove' if r.dry_run else 'removed'} {path}\n")
        for path in r.kept:
            lines.append(f"kept {path}\n")
        if not lines:
            lines.append("nothing to stop: no sandbox recorded\n")
        sys.stdout.write("".join(lines))

    emit(report, output, table=table, jsonl_rows=lambda r: r.processes)
