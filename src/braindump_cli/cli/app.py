"""The `bd` root command. Groups are thin Typer apps, imported only when used (see `GROUPS`)."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from braindump_cli import __version__
from braindump_cli.cli._errors import DEBUG_KEY, BdGroup

# name -> (module defining `app`, one-line help). The help shown by `bd --help` and `bd <group> --help`
# lives here so that listing the groups imports none of them.
GROUPS: dict[str, tuple[str, str]] = {
    "crd": ("braindump_cli.cli.crd", "Install, check and inspect the Database CRD on an API server."),
    "operator": ("braindump_cli.cli.operator", "Run the Database operator and print its deployment manifests."),
    "cassandra": ("braindump_cli.cli.cassandra", "Live Cassandra ring: ownership, consistency levels, replicas."),
    "airflow": ("braindump_cli.cli.airflow", "Delete, restore and diagnose DAGs in the Airflow metadata DB."),
    "sandbox": ("braindump_cli.cli.sandbox", "Local kube-apiserver, Cassandra and Airflow DB to try bd on."),
}


class RootGroup(BdGroup):
    lazy_groups = GROUPS


app = typer.Typer(
    name="bd",
    cls=RootGroup,
    help="Operational recipes for Kubernetes, Cassandra and Airflow: safe against production, easy to script.",
    epilog="Exit codes: 0 ok, 1 error, 2 usage, 3 not found, 4 check failed, 5 unreachable, 6 timeout, "
    "130 interrupted.",
    no_args_is_help=True,
    # Typer's own completion options default to None, which makes every `bd <group> ...` run build a
    # pydantic validator for them (about 50 ms of imports); the root callback declares them as plain
    # flags instead.
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        print(f"bd {__version__}")
        raise typer.Exit()


def _shell() -> str | bool:
    """The user's shell as Typer detects it (shellingham, from the parent processes), else $SHELL's name."""
    import shellingham

    try:
        name: str = shellingham.detect_shell()[0]
    except shellingham.ShellDetectionFailure:
        name = os.path.basename(os.environ.get("SHELL", ""))
    return name or True


def _init_completion() -> None:
    """Register Typer's completion classes (bash, zsh, fish, PowerShell) with its bundled click.

    `get_completion_inspect_parameters` is the public function that does it (it also builds the two
    completion options, which bd declares itself and ignores).
    """
    from typer.completion import get_completion_inspect_parameters

    get_completion_inspect_parameters()


def _show_completion(ctx: typer.Context, param: typer.CallbackParam, value: bool) -> None:
    if value:
        from typer import completion

        _init_completion()
        completion.show_callback(ctx, param, _shell())


def _install_completion(ctx: typer.Context, param: typer.CallbackParam, value: bool) -> None:
    if value:
        from typer import completion

        _init_completion()
        completion.install_callback(ctx, param, _shell())


@app.callback()
def root(
    ctx: typer.Context,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks and debug logs on stderr.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print `bd <version>` and exit.")
    ] = False,
    install_completion: Annotated[
        bool,
        typer.Option(
            "--install-completion",
            callback=_install_completion,
            expose_value=False,
            help="Install completion for the current shell.",
        ),
    ] = False,
    show_completion: Annotated[
        bool,
        typer.Option(
            "--show-completion",
            callback=_show_completion,
            expose_value=False,
            help="Show the completion script for the current shell.",
        ),
    ] = False,
) -> None:
    """bd: braindump recipes as commands."""
    ctx.meta[DEBUG_KEY] = debug
    if debug:
        import logging

        logging.basicConfig(level=logging.DEBUG, format="bd: debug: %(name)s: %(message)s")


def main() -> None:
    if "_BD_COMPLETE" in os.environ:  # a shell asks for completions: use Typer's completion classes
        _init_completion()
    app(prog_name="bd")
