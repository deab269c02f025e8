"""The `bd` root command. Groups are thin Typer apps; their heavy imports happen inside commands."""

from __future__ import annotations

from typing import Annotated

import typer

from braindump_cli import __version__
from braindump_cli.cli import airflow, cassandra, crd, operator, sandbox
from braindump_cli.cli._errors import DEBUG_KEY, BdGroup

app = typer.Typer(
    name="bd",
    cls=BdGroup,
    help="Operational recipes for Kubernetes, Cassandra and Airflow: safe against production, easy to script.",
    epilog="Exit codes: 0 ok, 1 error, 2 usage, 3 not found, 4 check failed, 5 unreachable, 6 timeout, "
    "130 interrupted.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        print(f"bd {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks and debug logs on stderr.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print `bd <version>` and exit.")
    ] = False,
) -> None:
    """bd: braindump recipes as commands."""
    ctx.meta[DEBUG_KEY] = debug
    if debug:
        import logging

        logging.basicConfig(level=logging.DEBUG, format="bd: debug: %(name)s: %(message)s")


app.add_typer(crd.app, name="crd")
app.add_typer(operator.app, name="operator")
app.add_typer(cassandra.app, name="cassandra")
app.add_typer(airflow.app, name="airflow")
app.add_typer(sandbox.app, name="sandbox")


def main() -> None:
    app(prog_name="bd")
