"""`bd crd`: show, install, check, inspect and uninstall the Database CRD (or any CRD)."""

from __future__ import annotations

import enum
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from braindump_cli.cli import _options as opts
from braindump_cli.cli.output import OutputFormat, OutputOpt, emit, info, render_table, to_jsonable
from braindump_cli.errors import CheckFailedError, UsageError

app = typer.Typer(
    help="Install, check and inspect the Database CRD (or any CRD) on a Kubernetes API server.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

GroupOpt = Annotated[
    str | None,
    typer.Option("--group", help="Use this API group instead of stable.imaginedata.com (renames the CRD too)."),
]
NameArg = Annotated[
    str | None, typer.Argument(help="CRD name (default: databases.stable.imaginedata.com).", show_default=False)
]


@app.command("show")
def show(group: GroupOpt = None, output: OutputOpt = OutputFormat.table) -> None:
    """Print the shipped Database CRD (YAML; JSON with -o json).

    Example: bd crd show --group stable.imaginedata.co > database-crd.yaml
    """
    from braindump_cli.k8s.crd.show import show_crd

    text = show_crd(group=group)
    if output is OutputFormat.table:
        sys.stdout.write(text)
        return
    import yaml

    emit(yaml.safe_load(text), output)


@app.command("install")
def install(
    file: Annotated[
        str | None, typer.Option("--file", "-f", help="CRD file to apply, or - for stdin (default: the shipped CRD).")
    ] = None,
    group: GroupOpt = None,
    dry_run: opts.DryRunOpt = False,
    timeout: opts.KubeTimeoutOpt = 60.0,
    kubeconfig: opts.KubeconfigOpt = None,
    context: opts.ContextOpt = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Server-side apply a CRD (field manager bd) and wait until it is Established.

    Example: bd crd install --timeout 30
    """
    from braindump_cli.k8s.crd.install import install_crd

    settings = opts.kube(kubeconfig, context, timeout)
    report = install_crd(settings, file=file, group=group, dry_run=dry_run, timeout=timeout, progress=info)

    def table(r: Any) -> None:
        suffix = " (dry run)" if r.dry_run else ""
        for c in r.crds:
            state = "Established" if c.established else "not Established"
            sys.stdout.write(f"customresourcedefinition/{c.name} {c.action}{suffix} ({state})\n")

    emit(report, output, table=table, jsonl_rows=lambda r: r.crds)


class CheckFormat(str, enum.Enum):
    """`bd crd check`'s outputs: the usual three, plus `status` (the API server's Status per object)."""

    table = "table"
    json = "json"
    jsonl = "jsonl"
    status = "status"


@app.command("check")
def check(
    file: Annotated[
        list[str],
        typer.Option("--file", "-f", help="Manifest file(s) with custom resources (multi-document YAML); - for stdin."),
    ],
    old: Annotated[
        list[str] | None,
        typer.Option(
            "--old",
            help="Old version(s) of the objects: check each object of -f as an update of its namesake here "
            "(CEL transition rules, ratcheting).",
        ),
    ] = None,
    crd: Annotated[
        list[Path] | None,
        typer.Option("--crd", help="Validate against the CRD(s) in this file instead of the shipped CRD."),
    ] = None,
    offline: Annotated[
        bool, typer.Option("--offline", help="Do not contact a cluster (no server-side dry run).")
    ] = False,
    timeout: opts.KubeTimeoutOpt = 10.0,
    kubeconfig: opts.KubeconfigOpt = None,
    context: opts.ContextOpt = None,
    output: Annotated[
        CheckFormat,
        typer.Option(
            "--output",
            "-o",
            envvar="BD_OUTPUT",
            case_sensitive=False,
            help="table, json, jsonl, or status (the API server's Status per object, to diff with a dry run).",
        ),
    ] = CheckFormat.table,
) -> None:
    """Validate custom resources against the CRD schema and CEL rules, offline and by a server-side dry run.

    Example: bd crd check -f database.yaml --old database-live.yaml --offline
    """
    from braindump_cli.k8s.crd.check import check_crd, to_statuses

    settings = None
    if not offline:
        try:
            settings = opts.kube(kubeconfig, context, timeout)
        except UsageError:
            if kubeconfig is not None:
                raise
    report = check_crd(
        file, crd_files=crd or (), old_sources=old or (), settings=settings, offline=offline, progress=info
    )

    def table(r: Any) -> None:
        if r.problems:
            rows = [to_jsonable(p) for p in r.problems]
            render_table(
                rows,
                [("FILE", "file"), ("DOC", "document"), ("PATH", "path"), ("REASON", "reason"), ("FOUND BY", "source")],
            )
        verdict = "ok" if r.ok else f"{len(r.problems)} problem{'s' if len(r.problems) != 1 else ''}"
        sys.stdout.write(
            f"{verdict}: {r.documents} document(s), {r.checked} custom resource(s) checked; "
            f"server-side dry run: {r.server_dry_run}\n"
        )

    if output is CheckFormat.status:
        emit(to_statuses(report), OutputFormat.json)
    else:
        emit(report, OutputFormat(output.value), table=table, jsonl_rows=lambda r: r.problems)
    if not report.ok:
        raise CheckFailedError(
            f"{len(report.problems)} problem(s) in {', '.join(sorted({p.file for p in report.problems}))}",
            hint="fix the fields named above; `bd crd show` prints the schema",
        )


@app.command("status")
def status(
    name: NameArg = None,
    timeout: opts.KubeTimeoutOpt = 10.0,
    kubeconfig: opts.KubeconfigOpt = None,
    context: opts.ContextOpt = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Show a CRD's conditions, versions, stored versions and custom resource count; exit 4 if unhealthy.

    Example: bd crd status databases.stable.imaginedata.com
    """
    from braindump_cli.k8s.crd.status import status_crd

    report = status_crd(opts.kube(kubeconfig, context, timeout), name)

    def table(r: Any) -> None:
        served = ",".join(v.name for v in r.versions if v.served) or "-"
        rows = [
            {"key": "name", "value": r.name},
            {"key": "kind", "value": f"{r.kind} ({r.scope})"},
            {"key": "healthy", "value": r.healthy},
            {"key": "served versions", "value": served},
            {"key": "storage version", "value": r.storage_version},
            {"key": "stored versions", "value": ",".join(r.stored_versions) or "-"},
            {"key": "needs migration", "value": ",".join(r.needs_migration) or "no"},
            {"key": "custom resources", "value": r.resources},
            {"key": "status subresource", "value": r.status_subresource},
        ]
        rows += [{"key": f"condition {c.type}", "value": f"{c.status} {c.reason}".strip()} for c in r.conditions]
        render_table(rows, [("FIELD", "key"), ("VALUE", "value")])
        for p in r.problems:
            sys.stdout.write(f"problem: {p}\n")

    emit(report, output, table=table, jsonl_rows=lambda r: [r])
    if not report.healthy:
        raise CheckFailedError(f"CRD {report.name} is unhealthy: {'; '.join(report.problems)}")


@app.command("uninstall")
def uninstall(
    name: NameArg = None,
    force: Annotated[
        bool, typer.Option("--force", help="Delete even while custom resources exist (they are deleted too).")
    ] = False,
    dry_run: opts.DryRunOpt = False,
    yes: opts.YesOpt = False,
    timeout: opts.KubeTimeoutOpt = 60.0,
    kubeconfig: opts.KubeconfigOpt = None,
    context: opts.ContextOpt = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Delete a CRD; refuses while custom resources of it exist unless --force.

    Example: bd crd uninstall databases.stable.imaginedata.com --yes
    """
    from braindump_cli.k8s.crd.uninstall import UninstallPlan, uninstall_crd

    def ask(plan: UninstallPlan) -> None:
        extra = f" and its {plan.resources} custom resource(s)" if plan.resources else ""
        opts.confirm(f"Delete CRD {plan.name}{extra}?", yes=yes)

    report = uninstall_crd(
        opts.kube(kubeconfig, context, timeout),
        name,
        force=force,
        dry_run=dry_run,
        timeout=timeout,
        confirm=ask,
        progress=info,
    )

    def table(r: Any) -> None:
        extra = f" ({r.resources_deleted} custom resource(s))" if r.resources_deleted else ""
        sys.stdout.write(f"customresourcedefinition/{r.name} {r.action}{extra}\n")

    emit(report, output, table=table)
