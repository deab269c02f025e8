"""Connection settings for every server bd talks to, resolved in one place.

Precedence (first match wins) is a documented contract, see docs/configuration.md:

* Kubernetes: `--kubeconfig`, `KUBECONFIG` (first existing file of the list), `~/.kube/config`,
  in-cluster config; `--context` picks a context of the chosen file (else its current-context).
* Cassandra: `--hosts`, `BD_CASSANDRA_HOSTS`, `127.0.0.1`; password from `--password-file`, else
  `BD_CASSANDRA_PASSWORD` (never a flag value, which would show in process listings); user from
  `--username`, else `BD_CASSANDRA_USERNAME`.
* Airflow metadata DB: `--conn`, `BD_AIRFLOW_CONN`, `AIRFLOW__DATABASE__SQL_ALCHEMY_CONN`,
  `AIRFLOW__CORE__SQL_ALCHEMY_CONN` (1.10), `sql_alchemy_conn` in `$AIRFLOW_CONFIG` (default
  `$AIRFLOW_HOME/airflow.cfg`; `[database]`, then `[core]`), then Airflow's embedded default
  `sqlite:///$AIRFLOW_HOME/airflow.db` (`AIRFLOW_HOME` defaults to `~/airflow`). As Airflow does,
  values expand `$VARS` and `~`, and airflow.cfg is read with `%%` meaning `%`. Settings Airflow
  would take from a command or a secrets backend (`..._CMD`, `..._SECRET`, `sql_alchemy_conn_cmd`)
  are refused with a hint rather than silently skipped: skipping them would point bd at the
  wrong database.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
        """Any TLS option turns TLS on (`--ssl-no-verify` alone means TLS without verification)."""
        return self.ssl_ca is not None or self.ssl_cert is not None or not self.ssl_verify


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
        kubeconfig = kubeconfig.expanduser()
        if not kubeconfig.is_file():
            raise UsageError(f"--kubeconfig {kubeconfig}: no such file", hint="check the path, or omit --kubeconfig")
        return KubeSettings(kubeconfig, context, "--kubeconfig", request_timeout)
    # A colon-separated list: bd reads one file, the first that exists (kubectl would merge them).
    paths = [Path(p).expanduser() for p in env.get("KUBECONFIG", "").split(os.pathsep) if p.strip()]
    if paths:
        chosen = next((p for p in paths if p.is_file()), None)
        if chosen is None:
            raise UsageError(
                f"KUBECONFIG names no existing file ({env['KUBECONFIG']})",
                hint="fix KUBECONFIG, or pass --kubeconfig FILE",
            )
        return KubeSettings(chosen, context, "KUBECONFIG", request_timeout)
    default = (home or Path.home()) / ".kube" / "config"
    if default.exists():
        return KubeSettings(default, context, "~/.kube/config", request_timeout)
    if env.get("KUBERNETES_SERVICE_HOST") and in_cluster_token.exists():
        if context is not None:
            raise UsageError(
                "--context needs a kubeconfig; none was found, only in-cluster config",
                hint="drop --context, or pass --kubeconfig FILE",
            )
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
            password = password_file.read_text(encoding="utf-8").rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as e:
            reason = e.strerror if isinstance(e, OSError) and e.strerror else type(e).__name__
            raise UsageError(
                f"cannot read --password-file {password_file}: {reason}",
                hint="check the path and its permissions (or set BD_CASSANDRA_PASSWORD instead)",
            ) from e
        if not password:
            raise UsageError(
                f"--password-file {password_file} is empty",
                hint="write the password alone on the first line of the file",
            )
    elif env.get("BD_CASSANDRA_PASSWORD"):
        password = env["BD_CASSANDRA_PASSWORD"]
    username = username or env.get("BD_CASSANDRA_USERNAME") or None
    if password is not None and username is None:
        raise UsageError("a Cassandra password was given without a user name", hint="add --username NAME")
    if ssl_key is not None and ssl_cert is None:
        raise UsageError("--ssl-key needs --ssl-cert", hint="pass the client certificate with --ssl-cert FILE")
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


_VAR = re.compile(r"\$(?:(\w+)|\{([^}]*)\})")


def _expand(value: str, env: Mapping[str, str]) -> str:
    """Airflow's `expand_env_var`: expand `$VAR`/`${VAR}` (unknown ones stay) and `~` until stable."""
    for _ in range(10):
        expanded = _VAR.sub(lambda m: env.get(m[1] or m[2], m[0]), value)
        expanded = os.path.expanduser(expanded) if expanded.startswith("~") else expanded
        if expanded == value:
            break
        value = expanded
    return value


def airflow_home(env: Mapping[str, str] | None = None) -> Path:
    """`$AIRFLOW_HOME` (expanded like Airflow does), else `~/airflow`, made absolute."""
    env = os.environ if env is None else env
    return Path(_expand(env.get("AIRFLOW_HOME") or "~/airflow", env)).expanduser().absolute()


def airflow_config_file(env: Mapping[str, str] | None = None) -> Path:
    """`$AIRFLOW_CONFIG`, else `$AIRFLOW_HOME/airflow.cfg`: the file Airflow itself reads."""
    env = os.environ if env is None else env
    explicit = env.get("AIRFLOW_CONFIG")
    return Path(_expand(explicit, env)).expanduser() if explicit else airflow_home(env) / "airflow.cfg"


def _refuse_indirect(where: str) -> UsageError:
    return UsageError(
        f"the Airflow DB URL is set through {where}, which bd does not evaluate",
        hint="pass --conn URL or set BD_AIRFLOW_CONN (e.g. BD_AIRFLOW_CONN=$(your command))",
    )


@dataclass(frozen=True)
class AirflowCfg:
    """airflow.cfg as Airflow reads it: a ConfigParser with basic interpolation (`%%` in the file means `%`)."""

    path: Path
    parser: Any = field(repr=False)

    def get(self, section: str, key: str) -> str:
        """The stripped value ('' when absent); a value or file that does not parse is a UsageError (exit 2)."""
        import configparser

        try:
            return str(self.parser.get(section, key, fallback="")).strip()
        except configparser.Error as e:
            raise _cfg_error(self.path, e) from e


def _cfg_error(cfg: Path, e: Exception) -> UsageError:
    return UsageError(f"cannot parse {cfg}: {type(e).__name__}", hint="a literal % must be written %% in airflow.cfg")


def read_airflow_cfg(env: Mapping[str, str] | None = None) -> AirflowCfg | None:
    """The one reader of airflow.cfg: the file Airflow reads (`$AIRFLOW_CONFIG`, else `$AIRFLOW_HOME/airflow.cfg`)."""
    import configparser  # only commands that read airflow.cfg pay for it

    env = os.environ if env is None else env
    cfg = airflow_config_file(env)
    if not cfg.is_file():
        return None
    parser = configparser.ConfigParser(strict=False)
    try:
        parser.read(cfg, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError) as e:
        raise _cfg_error(cfg, e) from e
    return AirflowCfg(cfg, parser)


def _from_airflow_cfg(env: Mapping[str, str]) -> tuple[str, str] | None:
    cfg = read_airflow_cfg(env)
    if cfg is None:
        return None
    for section in ("database", "core"):
        value = cfg.get(section, "sql_alchemy_conn")
        if value:
            return _expand(value, env), f"{cfg.path} [{section}]"
    for section in ("database", "core"):
        for suffix in ("cmd", "secret"):
            if cfg.get(section, f"sql_alchemy_conn_{suffix}"):
                raise _refuse_indirect(f"sql_alchemy_conn_{suffix} in {cfg.path} [{section}]")
    return None


def resolve_dags_folder(explicit: Path | None = None, *, env: Mapping[str, str] | None = None) -> Path:
    """Where Airflow's scheduler reads DAG files, resolved like Airflow does (the folder may not exist).

    `--dags-folder`, `AIRFLOW__CORE__DAGS_FOLDER`, `[core] dags_folder` in `$AIRFLOW_CONFIG` (default
    `$AIRFLOW_HOME/airflow.cfg`; `{AIRFLOW_HOME}` and `$VARS` expanded), then `$AIRFLOW_HOME/dags`.
    """
    env = os.environ if env is None else env
    if explicit is not None:
        return explicit.expanduser()
    if env.get("AIRFLOW__CORE__DAGS_FOLDER"):
        return Path(_expand(env["AIRFLOW__CORE__DAGS_FOLDER"], env)).expanduser()
    home = airflow_home(env)
    cfg = read_airflow_cfg(env)
    value = cfg.get("core", "dags_folder") if cfg is not None else ""
    if value:
        return Path(_expand(value.replace("{AIRFLOW_HOME}", str(home)), env)).expanduser()
    return home / "dags"


def resolve_airflow_db(*, conn: str | None = None, env: Mapping[str, str] | None = None) -> AirflowDbSettings:
    env = os.environ if env is None else env
    if conn:
        return AirflowDbSettings(conn, "--conn")
    if env.get("BD_AIRFLOW_CONN"):
        return AirflowDbSettings(env["BD_AIRFLOW_CONN"], "BD_AIRFLOW_CONN")
    # Airflow's own lookup order: env var, then its _CMD and _SECRET variants; the new [database]
    # name before the deprecated [core] one.
    for suffix in ("", "_CMD", "_SECRET"):
        for section in ("DATABASE", "CORE"):
            var = f"AIRFLOW__{section}__SQL_ALCHEMY_CONN{suffix}"
            if not env.get(var):
                continue
            if suffix:
                raise _refuse_indirect(var)
            return AirflowDbSettings(_expand(env[var], env), var)
    found = _from_airflow_cfg(env)
    if found is not None:
        return AirflowDbSettings(*found)
    return AirflowDbSettings(f"sqlite:///{airflow_home(env) / 'airflow.db'}", "default ($AIRFLOW_HOME/airflow.db)")
