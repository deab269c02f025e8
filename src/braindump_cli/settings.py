"""Connection settings for every server bd talks to, resolved in one place.

Precedence (first match wins) is a documented contract, see docs/configuration.md:

* Kubernetes: `--kubeconfig`/`--context` flags, `KUBECONFIG`, `~/.kube/config`, in-cluster config.
* Cassandra: `--hosts`, `BD_CASSANDRA_HOSTS`, `127.0.0.1`; password from `BD_CASSANDRA_PASSWORD`
  or `--password-file` (never a flag value, which would show in process listings).
* Airflow metadata DB: `--conn`, `BD_AIRFLOW_CONN`, `AIRFLOW__DATABASE__SQL_ALCHEMY_CONN`,
  `AIRFLOW__CORE__SQL_ALCHEMY_CONN` (1.10), `sql_alchemy_conn` in `$AIRFLOW_HOME/airflow.cfg`
  (`[database]`, then `[core]`), then `sqlite:///$AIRFLOW_HOME/airflow.db`.
"""

from __future__ import annotations

import configparser
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from braindump_cli.errors import UsageError
from braindump_cli.redact import redact_url

IN_CLUSTER_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")


@dataclass(frozen=True)
class KubeSettings:
    """Which kubeconfig (None: in-cluster) and context to use, and where that choice came from."""

    kubeconfig: Path | None
    context: str | None
    source: str
    request_timeout: float = 10.0


@dataclass(frozen=True)
class CassandraSettings:
    hosts: tuple[str, ...]
    port: int
    username: str | None
    password: str | None = field(repr=False)
    source: str
    timeout: float = 10.0
    local_dc: str | None = None
    ssl_ca: Path | None = None
    ssl_cert: Path | None = None
    ssl_key: Path | None = None
    ssl_verify: bool = True

    @property
    def uses_tls(self) -> bool:
        return self.ssl_ca is not None or self.ssl_cert is not None


@dataclass(frozen=True)
class AirflowDbSettings:
    url: str = field(repr=False)
    source: str

    @property
    def display_url(self) -> str:
        return redact_url(self.url)


def resolve_kube(
    *,
    kubeconfig: Path | None = None,
    context: str | None = None,
    request_timeout: float = 10.0,
    env: Mapping[str, str] | None = None,
    home: Path | None = None,
    in_cluster_token: Path = IN_CLUSTER_TOKEN,
) -> KubeSettings:
    env = os.environ if env is None else env
    if kubeconfig is not None:
        return KubeSettings(kubeconfig, context, "--kubeconfig", request_timeout)
    if env.get("KUBECONFIG"):
        # Like kubectl, the first existing file of a colon-separated list is the one that counts.
        paths = [Path(p) for p in env["KUBECONFIG"].split(os.pathsep) if p]
        chosen = next((p for p in paths if p.exists()), paths[0])
        return KubeSettings(chosen, context, "KUBECONFIG", request_timeout)
    default = (home or Path.home()) / ".kube" / "config"
    if default.exists():
        return KubeSettings(default, context, "~/.kube/config", request_timeout)
    if env.get("KUBERNETES_SERVICE_HOST") and in_cluster_token.exists():
        return KubeSettings(None, None, "in-cluster", request_timeout)
    raise UsageError(
        "no Kubernetes configuration found",
        hint="pass --kubeconfig FILE, set KUBECONFIG, or run `eval $(bd sandbox env)`",
    )


def _split_hosts(value: str) -> tuple[str, ...]:
    return tuple(h.strip() for h in value.replace(" ", ",").split(",") if h.strip())


def resolve_cassandra(
    *,
    hosts: str | None = None,
    port: int = 9042,
    username: str | None = None,
    password_file: Path | None = None,
    timeout: float = 10.0,
    local_dc: str | None = None,
    ssl_ca: Path | None = None,
    ssl_cert: Path | None = None,
    ssl_key: Path | None = None,
    ssl_verify: bool = True,
    env: Mapping[str, str] | None = None,
) -> CassandraSettings:
    env = os.environ if env is None else env
    if hosts:
        chosen, source = _split_hosts(hosts), "--hosts"
    elif env.get("BD_CASSANDRA_HOSTS"):
        chosen, source = _split_hosts(env["BD_CASSANDRA_HOSTS"]), "BD_CASSANDRA_HOSTS"
    else:
        chosen, source = ("127.0.0.1",), "default"
    if not chosen:
        raise UsageError("no Cassandra hosts given", hint="pass --hosts 10.0.0.1,10.0.0.2")
    password: str | None = None
    if password_file is not None:
        try:
            password = password_file.read_text().rstrip("\r\n")
        except OSError as e:
            raise UsageError(f"cannot read --password-file {password_file}: {e.strerror}") from e
    elif env.get("BD_CASSANDRA_PASSWORD"):
        password = env["BD_CASSANDRA_PASSWORD"]
    username = username or env.get("BD_CASSANDRA_USERNAME") or None
    if password is not None and username is None:
        raise UsageError("a Cassandra password was given without a user name", hint="add --username NAME")
    return CassandraSettings(
        hosts=chosen,
        port=port,
        username=username,
        password=password,
        source=source,
        timeout=timeout,
        local_dc=local_dc,
        ssl_ca=ssl_ca,
        ssl_cert=ssl_cert,
        ssl_key=ssl_key,
        ssl_verify=ssl_verify,
    )


def airflow_home(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    value = env.get("AIRFLOW_HOME")
    return Path(value).expanduser() if value else Path.home() / "airflow"


def _from_airflow_cfg(cfg: Path) -> tuple[str, str] | None:
    if not cfg.is_file():
        return None
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read(cfg, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError) as e:
        raise UsageError(f"cannot parse {cfg}: {type(e).__name__}") from e
    for section in ("database", "core"):
        value = parser.get(section, "sql_alchemy_conn", fallback="").strip()
        if value:
            return value, f"{cfg} [{section}]"
    return None


def resolve_airflow_db(*, conn: str | None = None, env: Mapping[str, str] | None = None) -> AirflowDbSettings:
    env = os.environ if env is None else env
    if conn:
        return AirflowDbSettings(conn, "--conn")
    for var in ("BD_AIRFLOW_CONN", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__CORE__SQL_ALCHEMY_CONN"):
        if env.get(var):
            return AirflowDbSettings(env[var], var)
    home = airflow_home(env)
    found = _from_airflow_cfg(home / "airflow.cfg")
    if found is not None:
        return AirflowDbSettings(*found)
    return AirflowDbSettings(f"sqlite:///{home / 'airflow.db'}", "default ($AIRFLOW_HOME/airflow.db)")
