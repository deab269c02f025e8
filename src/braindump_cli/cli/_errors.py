"""Translate exceptions into `bd: error: ...` lines and exit codes: the only place that does."""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Sequence
from typing import Any

import typer
from typer._click.core import Context
from typer._click.exceptions import NoArgsIsHelpError, UsageError

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
    """

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

    def invoke(self, ctx: Context) -> None:
        """Run the command; its return value is dropped, so it can never become an exit code."""
        try:
            super().invoke(ctx)
        except (typer.Exit, typer.TyperException, BrokenPipeError):
            raise
        except (KeyboardInterrupt, Exception) as exc:
            code = handle(exc, ctx)
            raise typer.Exit(code) from None
