"""A test-only copy of the real root command with one extra group, `bd t`, whose commands fail on demand.

The root keeps the real root group class (lazy groups and the one error handler), callback
(`--debug`, `--version`) and settings of `braindump_cli.cli.app`, so the error path exercised is
exactly the one users hit.
"""

from __future__ import annotations

import time
from typing import Annotated

import typer

from braindump_cli import errors
from braindump_cli.cli import app as root_module
from braindump_cli.cli._options import YesOpt, confirm
from braindump_cli.cli.output import OutputFormat, OutputOpt, emit, info, render_table, warn

ERRORS: dict[str, type[errors.BdError]] = {
    "usage": errors.UsageError,
    "not-found": errors.NotFoundError,
    "check-failed": errors.CheckFailedError,
    "unreachable": errors.UnreachableError,
    "timeout": errors.BdTimeoutError,
    "refused": errors.RefusedError,
    "permission": errors.PermissionDeniedError,
    "aborted": errors.AbortedError,
    "base": errors.BdError,
}

t = typer.Typer(help="test-only commands.", no_args_is_help=True, rich_markup_mode=None)


@t.command()
def report(output: OutputOpt = OutputFormat.table) -> None:
    """Print a small report with progress and a warning on stderr."""
    info("working on it")
    warn("a warning for people")
    data = {"schema_version": 1, "rows": [{"name": "a", "count": 1.5, "ok": True}, {"name": "b", "count": None}]}
    emit(
        data,
        output,
        table=lambda d: render_table(d["rows"], [("NAME", "name"), ("COUNT", "count"), ("OK", "ok")]),
        jsonl_rows=lambda d: d["rows"],
    )


@t.command()
def fail(
    kind: str,
    message: Annotated[str, typer.Option("--message")] = "it went wrong",
    hint: Annotated[str | None, typer.Option("--hint")] = None,
) -> None:
    """Raise the BdError named KIND (or `interrupt`, `unexpected`)."""
    if kind == "interrupt":
        raise KeyboardInterrupt
    if kind == "unexpected":
        raise ValueError(message)
    raise ERRORS[kind](message, hint=hint)


@t.command()
def check(problems: int = 0, output: OutputOpt = OutputFormat.table) -> None:
    """Print a check report; exit 4 when it has problems."""
    emit({"schema_version": 1, "ok": problems == 0, "problems": list(range(problems))}, output)
    if problems:
        raise errors.CheckFailedError(f"{problems} problem(s) found")


@t.command()
def count(n: int) -> int:
    """Return an int: a command's return value must never become the exit code."""
    print(n)
    return n


@t.command()
def delete(yes: YesOpt = False) -> None:
    """Ask before a destructive step."""
    confirm("Delete everything?", yes=yes)
    print("deleted")


@t.command()
def sleep(seconds: float = 30.0) -> None:
    """Sleep (a real subprocess test interrupts it with SIGINT)."""
    print("sleeping", flush=True)
    time.sleep(seconds)


def make_app() -> typer.Typer:
    real = root_module.app
    copy = typer.Typer(
        name="bd",
        cls=root_module.RootGroup,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    copy.registered_callback = real.registered_callback
    copy.registered_groups = list(real.registered_groups)
    copy.registered_commands = list(real.registered_commands)
    copy.add_typer(t, name="t")
    return copy


def main() -> None:
    make_app()(prog_name="bd")


if __name__ == "__main__":
    main()
