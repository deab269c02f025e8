"""The one exception hierarchy of bd and the exit-code contract.

Every expected failure is a `BdError` subclass carrying its exit code and an optional hint (the next
command to run). Adapters wrap third-party errors with `raise ... from e`; the CLI translates them
once, in `braindump_cli.cli.app`.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    ERROR = 1
    USAGE = 2
    NOT_FOUND = 3
    CHECK_FAILED = 4
    UNREACHABLE = 5
    TIMEOUT = 6
    INTERRUPTED = 130


class BdError(Exception):
    """Base of every error bd expects; `str(err)` is one line, safe to print (no secrets)."""

    exit_code: ExitCode = ExitCode.ERROR

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(BdError):
    """Bad options or arguments, or input that cannot be read or parsed."""

    exit_code = ExitCode.USAGE


class NotFoundError(BdError):
    """The named object (DAG, keyspace, table, CRD, file) does not exist."""

    exit_code = ExitCode.NOT_FOUND


class CheckFailedError(BdError):
    """A check ran and found problems; the report itself went to stdout."""

    exit_code = ExitCode.CHECK_FAILED


class UnreachableError(BdError):
    """The server (apiserver, Cassandra, database) could not be reached."""

    exit_code = ExitCode.UNREACHABLE


class BdTimeoutError(BdError):
    """An operation did not finish within its deadline."""

    exit_code = ExitCode.TIMEOUT


class RefusedError(BdError):
    """bd refused to act because acting would be unsafe (override flags are named in the hint)."""

    exit_code = ExitCode.ERROR


class PermissionDeniedError(BdError):
    """The server understood the request and refused it for this identity."""

    exit_code = ExitCode.ERROR


class AbortedError(BdError):
    """The user answered no at a confirmation prompt; nothing was changed."""

    exit_code = ExitCode.ERROR
