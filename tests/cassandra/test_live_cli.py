"""`bd cassandra keyspaces/status` and the error contract on the live cluster: exit codes, odd names, secrets."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from braindump_cli.cli.app import app
from tests.cassandra.conftest import PASSWORD, USER, LiveCassandra

pytestmark = pytest.mark.cassandra

runner = CliRunner()


def _json(args: list[str], live: LiveCassandra, code: int = 0) -> object:
    result = runner.invoke(app, ["cassandra", *args, "-o", "json", *live.cli_args()])
    assert result.exit_code == code, result.stderr
    assert PASSWORD not in result.stdout + result.stderr
    return json.loads(result.stdout)


def test_keyspaces_report_replication_tables_and_warnings(cassandra: LiveCassandra) -> None:
    report = _json(["keyspaces"], cassandra)
    assert isinstance(report, dict)
    assert report["schema_version"] == 1
    by_name = {k["name"]: k for k in report["keyspaces"]}
    assert by_name["ks_nts"]["strategy"] == "NetworkTopologyStrategy"
    assert by_name["ks_nts"]["replication"] == {"dc1": 2, "dc2": 1}
    assert by_name["ks_simple"]["replication"] == {"": 2}
    assert by_name["ks_nts"]["durable_writes"] is True
    assert set(by_name["ks_nts"]["tables"]) == {"t_text", "t_int", "t_uuid", "t_comp", "OddTable"}
    codes = {name: sorted(w["code"] for w in k["warnings"]) for name, k in by_name.items()}
    assert codes["ks_rf1"] == ["rf-one", "simple-strategy-multi-dc"]
    assert codes["ks_overrf"] == ["rf-exceeds-nodes"]
    assert codes["ks_dc1only"] == []
    assert codes["ks_nts"] == ["rf-one"]  # dc2: 1
    assert codes["ks_nts3"] == ["rf-one"]
    assert "system_auth" in by_name
    assert "system" in by_name


def test_keyspaces_check_exits_4_on_warnings_and_0_without(cassandra: LiveCassandra) -> None:
    bad = runner.invoke(app, ["cassandra", "keyspaces", "ks_overrf", "--check", *cassandra.cli_args()])
    assert bad.exit_code == 4, bad.stderr
    assert "ks_overrf" in bad.stdout
    assert "bd: error:" in bad.stderr
    good = runner.invoke(app, ["cassandra", "keyspaces", "ks_dc1only", "--check", *cassandra.cli_args()])
    assert good.exit_code == 0, good.stderr
    assert "ks_dc1only" in good.stdout


def test_names_are_case_sensitive_like_cql_quoted_identifiers(cassandra: LiveCassandra) -> None:
    report = _json(["keyspaces", "MixedCase"], cassandra)
    assert isinstance(report, dict)
    assert [k["name"] for k in report["keyspaces"]] == ["MixedCase"]
    missing = runner.invoke(app, ["cassandra", "keyspaces", "mixedcase", *cassandra.cli_args()])
    assert missing.exit_code == 3
    assert "'mixedcase' does not exist" in missing.stderr


@pytest.mark.parametrize(
    "name",
    [
        "nope",
        "ks_nts; DROP KEYSPACE ks_nts",
        "ks_nts' OR '1'='1",
        'ks_nts" WITH',
        "ks_nts\u0000",
        "ключ_空間",
    ],
)
def test_unknown_or_hostile_keyspace_is_not_found_and_harms_nothing(cassandra: LiveCassandra, name: str) -> None:
    for args in (["keyspaces", name], ["ring", name], ["consistency", name], ["endpoints", name, "t_int", "1"]):
        result = runner.invoke(app, ["cassandra", *args, *cassandra.cli_args()])
        assert result.exit_code == 3, (args, result.stderr)
        assert "does not exist" in result.stderr
    assert "ks_nts" in [k["name"] for k in _json(["keyspaces"], cassandra)["keyspaces"]]  # type: ignore[index]


@pytest.mark.parametrize("table", ["nope", "t_int; DROP TABLE ks_nts.t_int", "T_INT", "t_int'--", "oddtable"])
def test_unknown_table_is_not_found(cassandra: LiveCassandra, table: str) -> None:
    result = runner.invoke(app, ["cassandra", "endpoints", "ks_nts", table, "1", *cassandra.cli_args()])
    assert result.exit_code == 3, result.stderr
    assert "does not exist in keyspace 'ks_nts'" in result.stderr
    assert "t_int" in result.stderr  # the hint lists the real tables


def test_odd_quoted_names_work_end_to_end(cassandra: LiveCassandra) -> None:
    """A case-sensitive table with quoted, unicode column names: bd's key matches the server's token."""
    s = cassandra.session()
    s.execute('INSERT INTO "MixedCase"."OddTable" ("clé ""x""", "Num", v) VALUES (%s, %s, 1)', ("d'Artagnan", 7))
    row = s.execute(
        'SELECT token("clé ""x""", "Num") AS t FROM "MixedCase"."OddTable" WHERE "clé ""x""" = %s AND "Num" = %s',
        ("d'Artagnan", 7),
    ).one()
    got = _json(["endpoints", "MixedCase", "OddTable", "d'Artagnan", "7"], cassandra)
    assert isinstance(got, dict)
    assert got["token"] == row.t
    assert len(got["replicas"]) == 3


def test_wrong_key_arity_or_type_is_a_usage_error(cassandra: LiveCassandra) -> None:
    arity = runner.invoke(app, ["cassandra", "endpoints", "ks_nts", "t_comp", "a", "1", *cassandra.cli_args()])
    assert arity.exit_code == 2
    assert "3 column(s)" in arity.stderr
    bad = runner.invoke(app, ["cassandra", "endpoints", "ks_nts", "t_int", "forty-two", *cassandra.cli_args()])
    assert bad.exit_code == 2
    assert "not a valid int" in bad.stderr
    assert "hint: the partition key of ks_nts.t_int is (k int)" in bad.stderr


def test_status_reports_schema_agreement_and_node_views(cassandra: LiveCassandra) -> None:
    report = _json(["status"], cassandra)
    assert isinstance(report, dict)
    assert report["schema_version"] == 2
    assert report["cluster_name"] == "bd-test"
    assert report["partitioner"].endswith("Murmur3Partitioner")
    assert report["snitch"] == "GossipingPropertyFileSnitch"
    assert report["schema_agreement"] is True
    assert len(report["schema_versions"]) == 1
    nodes = {n["address"]: n for n in report["nodes"]}
    assert set(nodes) == {"127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"}
    for n in nodes.values():
        assert n["up"] is True
        assert n["state"] == "NORMAL"
        views = n["views"]
        assert views["available"] is True, views
        assert views["pending_compactions"] >= 0
        assert views["client_connections"] >= 1  # bd's own connection at least
        assert views["disk_usage_mib"] >= 0
    table = runner.invoke(app, ["cassandra", "status", *cassandra.cli_args()])
    assert table.exit_code == 0, table.stderr
    assert "schema agreement: yes" in table.stdout


def test_password_is_taken_from_env_or_file_and_never_shown(cassandra: LiveCassandra) -> None:
    base = ["cassandra", "ring", "-o", "json", "--hosts", cassandra.hosts, "-u", USER]
    ok = runner.invoke(app, base, env={"BD_CASSANDRA_PASSWORD": PASSWORD})
    assert ok.exit_code == 0, ok.stderr
    assert PASSWORD not in ok.stdout + ok.stderr
    wrong = runner.invoke(app, base, env={"BD_CASSANDRA_PASSWORD": "wrong-" + PASSWORD})
    assert wrong.exit_code == 1
    assert "refused the credentials" in wrong.stderr
    assert PASSWORD not in wrong.stdout + wrong.stderr
    none = runner.invoke(app, ["cassandra", "ring", "--hosts", cassandra.hosts], env={"BD_CASSANDRA_PASSWORD": ""})
    assert none.exit_code == 1
    assert "credentials" in none.stderr or "Authentication" in none.stderr


SILENT_HOSTS = ("127.0.0.5", "127.0.0.6", "127.0.0.7")


def test_tls_with_the_cluster_ca_and_refusal_of_an_unknown_ca(
    cassandra: LiveCassandra, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from tests.cassandra.conftest import write_tls_files

    assert cassandra.ca_file is not None
    args = ["cassandra", "ring", "-o", "json", *cassandra.cli_args()]
    ok = runner.invoke(app, [*args, "--ssl-ca", str(cassandra.ca_file)])
    assert ok.exit_code == 0, ok.stderr
    assert len(json.loads(ok.stdout)) == len(cassandra.cluster.nodes)
    assert all(n["up"] for n in json.loads(ok.stdout))  # every node answered over TLS
    _, other_ca = write_tls_files(tmp_path_factory.mktemp("other-ca"), ["127.0.0.1"])
    refused = runner.invoke(app, [*args, "--ssl-ca", str(other_ca), "--timeout", "5"])
    assert refused.exit_code == 5, refused.stderr
    assert "certificate" in refused.stderr.lower()
    unverified = runner.invoke(app, [*args, "--ssl-ca", str(other_ca), "--ssl-no-verify"])
    assert unverified.exit_code == 0, unverified.stderr


@pytest.fixture
def silent_port() -> Iterator[int]:
    """One port on three addresses that accept connections and never answer (hung nodes).

    The driver alone would try the three contact points one after another, each up to its connect
    timeout; bd must give up at --timeout overall.
    """
    first = socket.socket()
    first.bind((SILENT_HOSTS[0], 0))
    port = first.getsockname()[1]
    servers = [first]
    for host in SILENT_HOSTS[1:]:
        srv = socket.socket()
        srv.bind((host, port))
        servers.append(srv)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept(srv: socket.socket) -> None:
        srv.listen(16)
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
                held.append(conn)
            except OSError:
                continue

    threads = [threading.Thread(target=accept, args=(srv,), daemon=True) for srv in servers]
    for t in threads:
        t.start()
    yield port
    stop.set()
    for t in threads:
        t.join()
    for c in held:
        c.close()
    for srv in servers:
        srv.close()


# No wall-clock assertions: the per-test timeout guards against a command that ignores --timeout.
@pytest.mark.timeout(60)
def test_unreachable_cluster_exits_5_within_timeout(silent_port: int) -> None:
    result = runner.invoke(
        app,
        ["cassandra", "ring", "--hosts", ",".join(SILENT_HOSTS), "--port", str(silent_port), "--timeout", "2"],
    )
    assert result.exit_code == 5, result.stderr
    assert "within 2s" in result.stderr
    assert "hint:" in result.stderr

    with socket.socket() as s:  # a port nobody listens on: refused at once
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    refused = runner.invoke(app, ["cassandra", "status", "--hosts", "127.0.0.1", "--port", str(closed)])
    assert refused.exit_code == 5
    assert "cannot connect" in refused.stderr


def test_consistency_levels_filter_and_bad_input(cassandra: LiveCassandra) -> None:
    report = _json(["consistency", "ks_nts", "--level", "quorum", "-l", "LOCAL_ONE"], cassandra)
    assert isinstance(report, dict)
    assert [lv["level"] for lv in report["levels"]] == ["QUORUM", "LOCAL_ONE"]
    quorum = report["levels"][0]
    assert quorum["required"] == 2  # (2 + 1) // 2 + 1
    assert quorum["tolerates"] == 1
    assert report["ranges"] is None
    assert report["range_count"] == 16 * len(cassandra.cluster.nodes)
    assert sum(g["ranges"] for g in report["range_groups"]) == report["range_count"]
    simulated = _json(["consistency", "ks_nts", "--down", "127.0.0.2", "--level", "LOCAL_QUORUM"], cassandra)
    assert isinstance(simulated, dict)
    assert simulated["simulated_down"] == ["127.0.0.2"]
    assert simulated["levels"][0]["write"]["achievable"] is False  # 127.0.0.2 holds every dc1 range
    bad = runner.invoke(app, ["cassandra", "consistency", "ks_nts", "--level", "MOST", *cassandra.cli_args()])
    assert bad.exit_code == 2
    assert "unknown consistency level 'MOST'" in bad.stderr
    ghost = runner.invoke(app, ["cassandra", "consistency", "ks_nts", "--down", "10.9.9.9", *cassandra.cli_args()])
    assert ghost.exit_code == 3
    assert "10.9.9.9" in ghost.stderr
