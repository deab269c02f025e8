"""Options shared by several commands, declared once so every command spells them the same way."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from braindump_cli.errors import AbortedError, UsageError
from braindump_cli.settings import (
    AirflowDbSettings,
    CassandraSettings,
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


def cassandra(
    hosts: str | None,
    port: int,
    username: str | None,
    password_file: Path | None,
    timeout: float,
    local_dc: str | None = None,
    ssl_ca: Path | None = None,
    ssl_cert: Path | None = None,
    ssl_key: Path | None = None,
    ssl_no_verify: bool = False,
) -> CassandraSettings:
    return resolve_cassandra(
        hosts=hosts,
        port=port,
        username=username,
        password_file=password_file,
        timeout=timeout,
        local_dc=local_dc,
        ssl_ca=ssl_ca,
        ssl_cert=ssl_cert,
        ssl_key=ssl_key,
        ssl_verify=not ssl_no_verify,
    )


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
