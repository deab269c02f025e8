"""Connection settings: each source, in the documented order of precedence, for every server."""

from __future__ import annotations

from pathlib import Path

import pytest

from braindump_cli.errors import UsageError
from braindump_cli.settings import (
    airflow_config_file,
    airflow_home,
    resolve_airflow_db,
    resolve_cassandra,
    resolve_kube,
)

# ---------------------------------------------------------------- Kubernetes


@pytest.fixture
def kube_files(tmp_path: Path) -> dict[str, Path]:
    files = {}
    for name in ("flag", "env1", "env2", "home"):
        path = tmp_path / name / "config"
        path.parent.mkdir()
        path.write_text("apiVersion: v1\nkind: Config\n")
        files[name] = path
    token = tmp_path / "sa" / "token"
    token.parent.mkdir()
    token.write_text("in-cluster-token")
    files["token"] = token
    return files


def _kube(files: dict[str, Path], *, flag: bool, env: bool, home: bool, cluster: bool, context: str | None = None):  # type: ignore[no-untyped-def]
    environ = {}
    if env:
        environ["KUBECONFIG"] = f"{files['env1'].parent / 'missing'}:{files['env1']}:{files['env2']}"
    if cluster:
        environ["KUBERNETES_SERVICE_HOST"] = "10.0.0.1"
    home_dir = files["home"].parent.parent / ("homedir" if home else "empty-home")
    if home:
        (home_dir / ".kube").mkdir(parents=True, exist_ok=True)
        (home_dir / ".kube" / "config").write_text("kind: Config\n")
    return resolve_kube(
        kubeconfig=files["flag"] if flag else None,
        context=context,
        env=environ,
        home=home_dir,
        in_cluster_token=files["token"] if cluster else files["token"].parent / "absent",
    )


def test_kube_precedence_flag_env_home_in_cluster(kube_files: dict[str, Path]) -> None:
    every = _kube(kube_files, flag=True, env=True, home=True, cluster=True, context="ctx")
    assert (every.kubeconfig, every.context, every.source) == (kube_files["flag"], "ctx", "--kubeconfig")
    no_flag = _kube(kube_files, flag=False, env=True, home=True, cluster=True, context="ctx")
    # the first EXISTING file of the list (the missing one is skipped), context kept
    assert (no_flag.kubeconfig, no_flag.context, no_flag.source) == (kube_files["env1"], "ctx", "KUBECONFIG")
    home = _kube(kube_files, flag=False, env=False, home=True, cluster=True)
    assert home.source == "~/.kube/config"
    assert home.kubeconfig is not None
    assert home.kubeconfig.name == "config"
    assert home.kubeconfig.parent.name == ".kube"
    cluster = _kube(kube_files, flag=False, env=False, home=False, cluster=True)
    assert (cluster.kubeconfig, cluster.source) == (None, "in-cluster")


def test_kube_nothing_found_is_a_usage_error_with_a_hint(kube_files: dict[str, Path]) -> None:
    with pytest.raises(UsageError) as info:
        _kube(kube_files, flag=False, env=False, home=False, cluster=False)
    assert "bd sandbox env" in (info.value.hint or "")


def test_kube_missing_kubeconfig_flag_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such file"):
        resolve_kube(kubeconfig=tmp_path / "nope", env={})


@pytest.mark.parametrize("value", [":", "/definitely/missing:/also/missing"])
def test_kubeconfig_env_without_an_existing_file(value: str, tmp_path: Path) -> None:
    if value == ":":  # an empty list counts as unset: fall through to the next source
        with pytest.raises(UsageError, match="no Kubernetes configuration"):
            resolve_kube(env={"KUBECONFIG": value}, home=tmp_path, in_cluster_token=tmp_path / "x")
    else:
        with pytest.raises(UsageError, match="KUBECONFIG names no existing file"):
            resolve_kube(env={"KUBECONFIG": value}, home=tmp_path)


def test_context_cannot_apply_to_in_cluster_config(kube_files: dict[str, Path]) -> None:
    with pytest.raises(UsageError, match="--context"):
        _kube(kube_files, flag=False, env=False, home=False, cluster=True, context="prod")


def test_kube_timeout_is_carried() -> None:
    assert resolve_kube(kubeconfig=Path(__file__), env={}, request_timeout=2.5).request_timeout == 2.5


# ---------------------------------------------------------------- Cassandra


def test_cassandra_hosts_flag_then_env_then_default() -> None:
    env = {"BD_CASSANDRA_HOSTS": "10.0.0.1, 10.0.0.2"}
    flag = resolve_cassandra(hosts="127.0.0.2,127.0.0.3", env=env)
    assert (flag.hosts, flag.source) == (("127.0.0.2", "127.0.0.3"), "--hosts")
    from_env = resolve_cassandra(env=env)
    assert (from_env.hosts, from_env.source) == (("10.0.0.1", "10.0.0.2"), "BD_CASSANDRA_HOSTS")
    default = resolve_cassandra(env={})
    assert (default.hosts, default.source, default.port) == (("127.0.0.1",), "default", 9042)


def test_cassandra_password_file_then_env(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("from-file\n")
    env = {"BD_CASSANDRA_PASSWORD": "from-env", "BD_CASSANDRA_USERNAME": "env-user"}
    both = resolve_cassandra(username="flag-user", password_file=secret, env=env)
    assert (both.username, both.password) == ("flag-user", "from-file")
    env_only = resolve_cassandra(env=env)
    assert (env_only.username, env_only.password) == ("env-user", "from-env")
    none = resolve_cassandra(env={})
    assert (none.username, none.password) == (None, None)
    assert "from-file" not in repr(both)


def test_cassandra_options_are_carried(tmp_path: Path) -> None:
    s = resolve_cassandra(port=19042, timeout=3.0, local_dc="dc2", ssl_ca=tmp_path / "ca.pem", env={})
    assert (s.port, s.timeout, s.local_dc, s.uses_tls, s.ssl_verify) == (19042, 3.0, "dc2", True, True)
    assert resolve_cassandra(ssl_verify=False, env={}).uses_tls is True
    assert resolve_cassandra(env={}).uses_tls is False


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"password_file": Path("/definitely/missing")}, "cannot read --password-file"),
        ({"ssl_key": Path("/k.pem")}, "--ssl-key needs --ssl-cert"),
        ({"hosts": " , "}, "no Cassandra hosts"),
    ],
)
def test_cassandra_bad_settings(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(UsageError, match=match):
        resolve_cassandra(username="u", env={}, **kwargs)  # type: ignore[arg-type]


def test_cassandra_password_without_user(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="without a user name"):
        resolve_cassandra(env={"BD_CASSANDRA_PASSWORD": "x"})
    empty = tmp_path / "empty"
    empty.write_text("\n")
    with pytest.raises(UsageError, match="is empty"):
        resolve_cassandra(username="u", password_file=empty, env={})


# ---------------------------------------------------------------- Airflow metadata DB

ALL_SOURCES = ["--conn", "BD_AIRFLOW_CONN", "DATABASE env", "CORE env", "cfg [database]", "cfg [core]", "default"]


def _airflow_case(tmp_path: Path, sources: list[str]) -> tuple[str | None, dict[str, str]]:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {"AIRFLOW_HOME": str(home)}
    conn = "postgresql://flag/db" if "--conn" in sources else None
    if "BD_AIRFLOW_CONN" in sources:
        env["BD_AIRFLOW_CONN"] = "postgresql://bd-env/db"
    if "DATABASE env" in sources:
        env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = "postgresql://database-env/db"
    if "CORE env" in sources:
        env["AIRFLOW__CORE__SQL_ALCHEMY_CONN"] = "postgresql://core-env/db"
    cfg = ""
    if "cfg [database]" in sources:
        cfg += "[database]\nsql_alchemy_conn = postgresql://cfg-database/db\n"
    if "cfg [core]" in sources:
        cfg += "[core]\nsql_alchemy_conn = postgresql://cfg-core/db\ndags_folder = /x\n"
    (home / "airflow.cfg").write_text(cfg)
    return conn, env


@pytest.mark.parametrize("first", range(len(ALL_SOURCES)))
def test_airflow_precedence_each_source_in_order(tmp_path: Path, first: int) -> None:
    """With every source from `first` on present, the source at `first` wins."""
    conn, env = _airflow_case(tmp_path, ALL_SOURCES[first:])
    got = resolve_airflow_db(conn=conn, env=env)
    home = tmp_path / "home"
    expected = {
        "--conn": ("postgresql://flag/db", "--conn"),
        "BD_AIRFLOW_CONN": ("postgresql://bd-env/db", "BD_AIRFLOW_CONN"),
        "DATABASE env": ("postgresql://database-env/db", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"),
        "CORE env": ("postgresql://core-env/db", "AIRFLOW__CORE__SQL_ALCHEMY_CONN"),
        "cfg [database]": ("postgresql://cfg-database/db", f"{home / 'airflow.cfg'} [database]"),
        "cfg [core]": ("postgresql://cfg-core/db", f"{home / 'airflow.cfg'} [core]"),
        "default": (f"sqlite:///{home / 'airflow.db'}", "default ($AIRFLOW_HOME/airflow.db)"),
    }[ALL_SOURCES[first]]
    assert (got.url, got.source) == expected


def test_airflow_home_defaults_to_tilde_airflow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert airflow_home({}) == tmp_path / "airflow"
    got = resolve_airflow_db(env={})
    assert got.url == f"sqlite:///{tmp_path}/airflow/airflow.db"
    assert got.url.startswith("sqlite:////")  # four slashes: an absolute path


def test_airflow_home_is_expanded_and_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    assert airflow_home({"AIRFLOW_HOME": "~/af"}) == tmp_path / "af"
    assert airflow_home({"AIRFLOW_HOME": "$BASE/af", "BASE": "/srv"}) == Path("/srv/af")
    assert airflow_home({"AIRFLOW_HOME": "rel"}) == tmp_path / "rel"


def test_airflow_config_env_names_the_cfg_file(tmp_path: Path) -> None:
    cfg = tmp_path / "elsewhere.cfg"
    cfg.write_text("[database]\nsql_alchemy_conn = postgresql://elsewhere/db\n")
    (tmp_path / "airflow.cfg").write_text("[database]\nsql_alchemy_conn = postgresql://home/db\n")
    env = {"AIRFLOW_HOME": str(tmp_path), "AIRFLOW_CONFIG": str(cfg)}
    assert airflow_config_file(env) == cfg
    assert resolve_airflow_db(env=env).url == "postgresql://elsewhere/db"


def test_airflow_cfg_interpolation_and_env_expansion_like_airflow(tmp_path: Path) -> None:
    (tmp_path / "airflow.cfg").write_text(
        "[database]\nsql_alchemy_conn = postgresql+psycopg2://u:p%%40ss@$DB_HOST/db\n"
    )
    got = resolve_airflow_db(env={"AIRFLOW_HOME": str(tmp_path), "DB_HOST": "db.example"})
    assert got.url == "postgresql+psycopg2://u:p%40ss@db.example/db"
    assert got.display_url == "postgresql+psycopg2://u:***@db.example/db"


def test_airflow_cfg_that_does_not_parse(tmp_path: Path) -> None:
    (tmp_path / "airflow.cfg").write_text("[database]\nsql_alchemy_conn = postgresql://u:100%@h/db\n")
    with pytest.raises(UsageError, match="cannot parse") as info:
        resolve_airflow_db(env={"AIRFLOW_HOME": str(tmp_path)})
    assert "%%" in (info.value.hint or "")


@pytest.mark.parametrize(
    ("env", "cfg", "where"),
    [
        ({"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_CMD": "cat /run/conn"}, "", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_CMD"),
        ({"AIRFLOW__CORE__SQL_ALCHEMY_CONN_SECRET": "conn"}, "", "AIRFLOW__CORE__SQL_ALCHEMY_CONN_SECRET"),
        ({}, "[database]\nsql_alchemy_conn_cmd = cat /run/conn\n", "sql_alchemy_conn_cmd"),
    ],
)
def test_airflow_conn_from_a_command_or_secret_is_refused(
    tmp_path: Path, env: dict[str, str], cfg: str, where: str
) -> None:
    (tmp_path / "airflow.cfg").write_text(cfg)
    with pytest.raises(UsageError, match=where) as info:
        resolve_airflow_db(env={"AIRFLOW_HOME": str(tmp_path), **env})
    assert "BD_AIRFLOW_CONN" in (info.value.hint or "")
    # a plain value of higher precedence still wins over the indirect one
    plain = {"AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__SQL_ALCHEMY_CONN": "sqlite:////x.db", **env}
    assert resolve_airflow_db(env=plain).url == "sqlite:////x.db"
