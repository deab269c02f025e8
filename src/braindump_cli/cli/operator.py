"""`bd operator`: run the Database operator, or print the manifests that deploy it."""

from __future__ import annotations

import logging
import sys
from typing import Annotated, Any

import typer

from braindump_cli.cli import _options as opts
from braindump_cli.cli.output import OutputFormat, OutputOpt, emit
from braindump_cli.errors import UsageError
from braindump_cli.redact import redact_text

app = typer.Typer(
    help="Run the Database operator (kopf) or print the manifests that deploy it.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


class _RedactingFilter(logging.Filter):
    """Last line of defence: nothing that looks like a password or token reaches the log."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact_text(record.getMessage())
        record.args = None
        return True


def _configure_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    # urllib3 warns on each connection retry; the operator reports the failed call once itself.
    for noisy in ("urllib3", "aiohttp.access", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    if not verbose:
        # kopf logs every handler call ("Handler ... succeeded"); the operator logs each action itself.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)


@app.command("run")
def run(
    namespace: Annotated[
        list[str] | None,
        typer.Option("--namespace", "-n", help="Watch this namespace (repeatable); default: all namespaces."),
    ] = None,
    all_namespaces: Annotated[
        bool, typer.Option("--all-namespaces", "-A", help="Watch every namespace (the default).")
    ] = False,
    standalone: Annotated[
        bool, typer.Option("--standalone", help="No peering: act even if other operators run (dev, tests).")
    ] = False,
    priority: Annotated[
        int | None,
        typer.Option("--priority", help="Peering priority; the highest live one acts (default: random)."),
    ] = None,
    peering_name: Annotated[str, typer.Option("--peering-name", help="Name of the (Cluster)KopfPeering object.")] = (
        "bd-operator"
    ),
    liveness: Annotated[
        str | None, typer.Option("--liveness", help="Serve kopf's liveness probe, e.g. http://0.0.0.0:8080/healthz.")
    ] = None,
    group: Annotated[str, typer.Option("--group", help="API group of the Database CRD.")] = "stable.imaginedata.com",
    min_version: Annotated[
        str | None,
        typer.Option("--min-version", help="Oldest image version allowed; older specs are upgraded to it (e.g. 14)."),
    ] = None,
    resync_seconds: Annotated[
        float, typer.Option("--resync-seconds", help="Level-triggered resync of every Database.", min=1)
    ] = 300.0,
    snapshot_poll_seconds: Annotated[
        float, typer.Option("--poll-seconds", help="How often to look at snapshot and upgrade Jobs.", min=0.2)
    ] = 5.0,
    watch_timeout: Annotated[
        float, typer.Option("--watch-timeout", help="Server-side watch timeout; kopf reconnects after it.", min=1)
    ] = 300.0,
    workers: Annotated[int, typer.Option("--workers", help="Threads for reconciles.", min=1, max=256)] = 16,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logs (kopf's too).")] = False,
    kubeconfig: opts.KubeconfigOpt = None,
    context: opts.ContextOpt = None,
) -> None:
    """Run the Database operator in the foreground until SIGTERM or Ctrl-C (logs on stderr).

    Example: bd operator run --namespace databases --min-version 14
    """
    from braindump_cli.k8s.operator import OperatorConfig, RunOptions, run_operator

    if namespace and all_namespaces:
        raise UsageError("--namespace and --all-namespaces exclude each other", hint="pass only one of them")
    if standalone and priority is not None:
        raise UsageError("--standalone and --priority exclude each other", hint="peering needs a priority")
    _configure_logging(verbose)
    config = OperatorConfig(
        group=group,
        min_version=min_version,
        resync_seconds=resync_seconds,
        snapshot_poll_seconds=snapshot_poll_seconds,
    )
    options = RunOptions(
        namespaces=tuple(namespace or ()),
        standalone=standalone,
        priority=priority,
        peering_name=peering_name,
        liveness=liveness,
        watch_timeout=watch_timeout,
        workers=workers,
    )
    run_operator(opts.kube(kubeconfig, context), config=config, options=options)


@app.command("manifests")
def manifests(
    image: Annotated[str, typer.Option("--image", help="Operator image for the Deployment.")] = (
        "ghcr.io/braindump/bd-operator:latest"
    ),
    namespace: Annotated[str, typer.Option("--namespace", "-n", help="Namespace the operator runs in.")] = (
        "bd-operator"
    ),
    group: Annotated[str | None, typer.Option("--group", help="API group of the Database CRD.")] = None,
    min_version: Annotated[str | None, typer.Option("--min-version", help="Passed to `bd operator run`.")] = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Print the CRDs, ServiceAccount, least-privilege RBAC and Deployment (YAML; JSON with -o json).

    Example: bd operator manifests --image registry.example.com/bd-operator:0.1 | kubectl apply -f -
    """
    from braindump_cli.k8s.operator.manifests import manifests_yaml, render_operator_manifests

    docs = render_operator_manifests(image=image, namespace=namespace, group=group, min_version=min_version)

    def table(d: Any) -> None:
        sys.stdout.write(manifests_yaml(d))

    emit(docs, output, table=table)
