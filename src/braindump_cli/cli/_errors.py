"""Translate exceptions into `bd: error: ...` lines and exit codes: the only place that does."""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from collections.abc import Sequence
from difflib import get_close_matches
from typing import Any, ClassVar

import typer

# Typer (>= 0.26) bundles click as the private `typer._click` and exports no public name for the
# usage-error classes, the help formatter or the base Command/Context that a Group subclass needs
# (Typer's own rich_utils tells NoArgsIsHelpError by its class name). These six names are the only
# private imports bd has: pyproject.toml bounds typer to the tested range, and
# tests/install/test_dependency_bounds.py fails loudly on a Typer that moved any of them.
from typer._click.core import Command, Context
from typer._click.exceptions import NoArgsIsHelpError, UsageError
from typer._click.formatting import HelpFormatter
from typer._click.utils import make_default_short_help

from braindump_cli.cli.output import error_line
from braindump_cli.errors import BdError, ExitCode

DEBUG_KEY = "bd.debug"


def debug_enabled(ctx: Context | None) -> bool:
    if os.environ.get("BD_DEBUG", "").lower() in {"1", "true", "yes"}:
        return True
    while ctx is not None:
        if ctx.meta.get(DEBUG_KEY):
            return True
        ctx = ctx.parent
    return False


def handle(exc: BaseException, ctx: Context | None) -> int:
    """Print one line (plus a hint) for `exc` on stderr and return the exit code to use."""
    debug = debug_enabled(ctx)
    if isinstance(exc, (KeyboardInterrupt, typer.Abort)):
        # typer.Abort comes from Ctrl-C (or end of input) at a prompt: the same as an interrupt.
        error_line("interrupted")
        return int(ExitCode.INTERRUPTED)
    if debug:
        traceback.print_exception(exc, file=sys.stderr)
    if isinstance(exc, BdError):
        error_line(exc.message, exc.hint)
        return int(exc.exit_code)
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    error_line(
        f"unexpected {type(exc).__name__}" + (f": {lines[0]}" if lines else ""),
        None if debug else "run again with --debug for a traceback, and report it",
    )
    return int(ExitCode.ERROR)


def _silence_stdout() -> None:
    """stdout's reader went away (`bd ... | head`): drop what is left instead of a traceback at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


class BdGroup(typer.core.TyperGroup):
    """Root group: every command runs inside this `invoke`, so errors are translated once.

    `main` also renders click's own usage errors in bd's one-line format (exit 2).

    Groups named in `lazy_groups` ({name: (module, one-line help)}) are imported only when used:
    `bd --help` lists them from that table, `bd airflow ...` imports `module` and nothing of the
    other groups. The module must define `app = typer.Typer(...)`; the table's help replaces its own.
    """

    lazy_groups: ClassVar[dict[str, tuple[str, str]]] = {}

    def list_commands(self, ctx: Context) -> list[str]:
        eager = [name for name in super().list_commands(ctx) if name not in self.lazy_groups]
        return [*self.lazy_groups, *eager]

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        if cmd_name in self.lazy_groups and cmd_name not in self.commands:
            module_name, help_text = self.lazy_groups[cmd_name]
            group = typer.main.get_group(importlib.import_module(module_name).app)
            group.name = cmd_name
            group.help = help_text
            self.commands[cmd_name] = group
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: Context, formatter: HelpFormatter) -> None:
        """List the groups without importing them (unlike click, which loads each for its help)."""
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(n) for n in names)
        rows = []
        for name in names:
            if name in self.lazy_groups and name not in self.commands:
                rows.append((name, make_default_short_help(self.lazy_groups[name][1], limit)))
                continue
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def resolve_command(self, ctx: Context, args: list[str]) -> tuple[str | None, Command | None, list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except UsageError as e:
            matches = get_close_matches(args[0], self.list_commands(ctx)) if args else []
            if matches and "Did you mean" not in e.message:
                e.message = e.message.rstrip(".") + ". Did you mean " + ", ".join(repr(m) for m in matches) + "?"
            raise

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        try:
            rv = super().main(args=args, prog_name=prog_name, complete_var=complete_var, standalone_mode=False, **extra)
            sys.stdout.flush()
        except BrokenPipeError:
            _silence_stdout()
            code = int(ExitCode.ERROR)
        except NoArgsIsHelpError as e:
            e.show()
            code = e.exit_code
        except UsageError as e:
            command = e.ctx.command_path if e.ctx is not None else "bd"
            error_line(e.format_message(), f"see `{command} --help`")
            code = int(ExitCode.USAGE)
        except typer.TyperException as e:
            error_line(e.format_message())
            code = int(e.exit_code)
        except (KeyboardInterrupt, typer.Abort) as e:
            code = handle(e, None)
        else:
            # `invoke` returns None, so an int here is the code of a `typer.Exit`.
            code = rv if isinstance(rv, int) else 0
        if not standalone_mode:
            return code
        sys.exit(code)

    def get_help_option(self, ctx: Context) -> Any:
        """Typer's help flag defaults to None, which Typer then coerces through a pydantic validator
        (about 50 ms of imports) on every `bd <group> ...` run; a False default skips that."""
        option = super().get_help_option(ctx)
        if option is not None and option.default is None:
            option.default = False
        return option

    def invoke(self, ctx: Context) -> None:
        """Run the command; its return value is dropped, so it can never become an exit code."""
        try:
            super().invoke(ctx)
        except (typer.Exit, typer.TyperException, BrokenPipeError):
            raise
        except (KeyboardInterrupt, Exception) as exc:
            code = handle(exc, ctx)
            raise typer.Exit(code) from None
