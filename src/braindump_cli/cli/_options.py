"""Options shared by several commands, declared once so every command spells them the same way."""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from braindump_cli.errors import AbortedError, UsageError
from braindump_cli.settings import (
    AirflowDbSettings,
    KubeSettings,
    resolve_airflow_db,
    resolve_cassandra,
    resolve_kube,
)

YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation (for CI).")]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Print the plan and change nothing.")]

# Airflow metadata database
ConnOpt = Annotated[
    str | None,
    typer.Option(
        "--conn",
        help="SQLAlchemy URL of the Airflow metadata DB (else BD_AIRFLOW_CONN, AIRFLOW__DATABASE__SQL_ALCHEMY_CONN, "
        "AIRFLOW__CORE__SQL_ALCHEMY_CONN, airflow.cfg, sqlite:///$AIRFLOW_HOME/airflow.db).",
        show_default=False,
    ),
]

# Kubernetes
KubeconfigOpt = Annotated[
    Path | None, typer.Option("--kubeconfig", help="kubeconfig file (else KUBECONFIG, ~/.kube/config, in-cluster).")
]
ContextOpt = Annotated[str | None, typer.Option("--context", help="kubeconfig context to use.")]
KubeTimeoutOpt = Annotated[float, typer.Option("--timeout", help="Seconds to wait for the API server.", min=0.1)]

# Cassandra
HostsOpt = Annotated[
    str | None, typer.Option("--hosts", help="Contact points, comma-separated (else BD_CASSANDRA_HOSTS, 127.0.0.1).")
]
PortOpt = Annotated[int, typer.Option("--port", help="CQL native port.", min=1, max=65535)]
UsernameOpt = Annotated[
    str | None, typer.Option("--username", "-u", help="CQL user (password: BD_CASSANDRA_PASSWORD).")
]
PasswordFileOpt = Annotated[
    Path | None, typer.Option("--password-file", help="File holding the CQL password (never pass it as a flag).")
]
CqlTimeoutOpt = Annotated[float, typer.Option("--timeout", help="Seconds to wait for the cluster.", min=0.1)]
LocalDcOpt = Annotated[str | None, typer.Option("--local-dc", help="Data centre for LOCAL_* levels and routing.")]
SslCaOpt = Annotated[Path | None, typer.Option("--ssl-ca", help="CA bundle: enables TLS.")]
SslCertOpt = Annotated[Path | None, typer.Option("--ssl-cert", help="Client certificate for TLS.")]
SslKeyOpt = Annotated[Path | None, typer.Option("--ssl-key", help="Client key for TLS.")]
SslNoVerifyOpt = Annotated[bool, typer.Option("--ssl-no-verify", help="Do not verify the server certificate.")]


def airflow_db(conn: str | None) -> AirflowDbSettings:
    return resolve_airflow_db(conn=conn)


def kube(kubeconfig: Path | None, context: str | None, timeout: float = 10.0) -> KubeSettings:
    return resolve_kube(kubeconfig=kubeconfig, context=context, request_timeout=timeout)


# The connection options of every `bd cassandra` command, in the order --help lists them.
_CQL_OPTIONS = tuple(
    inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=annotation, default=default)
    for name, annotation, default in (
        ("hosts", HostsOpt, None),
        ("port", PortOpt, 9042),
        ("username", UsernameOpt, None),
        ("password_file", PasswordFileOpt, None),
        ("timeout", CqlTimeoutOpt, 10.0),
        ("local_dc", LocalDcOpt, None),
        ("ssl_ca", SslCaOpt, None),
        ("ssl_cert", SslCertOpt, None),
        ("ssl_key", SslKeyOpt, None),
        ("ssl_no_verify", SslNoVerifyOpt, False),
    )
)


def with_cassandra(command: Callable[..., None]) -> Callable[..., None]:
    """Give a command the CQL connection options; it receives them resolved as `settings`.

    Typer reads a command's options from its signature, so the shared options are spliced into
    the signature (just before `--output`) rather than repeated on every command.
    """
    signature = inspect.signature(command, eval_str=True)
    params = [p for p in signature.parameters.values() if p.name != "settings"]
    at = next((i for i, p in enumerate(params) if p.name == "output"), len(params))
    params[at:at] = _CQL_OPTIONS

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> None:
        conn = {p.name: kwargs.pop(p.name) for p in _CQL_OPTIONS}
        conn["ssl_verify"] = not conn.pop("ssl_no_verify")
        command(settings=resolve_cassandra(**conn), **kwargs)

    wrapper.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in params} | {"return": None}
    return wrapper


def confirm(question: str, *, yes: bool) -> None:
    """Ask on stderr before a destructive step; `--yes` skips it. Without a terminal, refuse.

    The prompt and the answer never touch stdout (click's prompt echoes a character there), so
    `-o json > file` stays clean. Ctrl-C propagates as KeyboardInterrupt (exit 130).
    """
    if yes:
        return
    if not sys.stdin.isatty():
        raise UsageError("confirmation needed but stdin is not a terminal", hint="pass --yes to run unattended")
    while True:
        sys.stderr.write(f"{question} [y/N]: ")
        sys.stderr.flush()
        line = sys.stdin.readline()
        if not line:  # end of input
            sys.stderr.write("\n")
            break
        answer = line.strip().lower()
        if answer in {"y", "yes"}:
            return
        if answer in {"", "n", "no"}:
            break
        sys.stderr.write("please answer y or n\n")
    raise AbortedError("nothing was changed (answered no)")
