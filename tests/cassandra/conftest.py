"""One real Cassandra 5.0 cluster for the whole session: four nodes, two DCs, racks, password auth.

Layout (GossipingPropertyFileSnitch):  127.0.0.1 dc1/rack1, 127.0.0.2 dc1/rack2,
127.0.0.3 dc1/rack1, 127.0.0.4 dc2/rack1. Three dc1 nodes on two racks make NetworkTopologyStrategy's
rack rule visible (with dc1 RF 2 the lone rack2 node holds every range); the seeded, random tokens
make ownership uneven, so a wrong formula cannot pass by symmetry.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from braindump_cli.cassandra.adapter import quote_identifier
from braindump_cli.settings import CassandraSettings, resolve_cassandra
from tests.helpers import server_unavailable

LAYOUT = [("dc1", "rack1"), ("dc1", "rack2"), ("dc1", "rack1"), ("dc2", "rack1")]
USER = "bd_admin"
PASSWORD = "s3cr3t-Pa55word-never-printed"  # asserted absent from every output

# name -> CQL replication map; the tests compare bd with nodetool on each of them.
KEYSPACES = {
    "ks_simple": "{'class': 'SimpleStrategy', 'replication_factor': 2}",
    "ks_nts": "{'class': 'NetworkTopologyStrategy', 'dc1': 2, 'dc2': 1}",
    "ks_nts3": "{'class': 'NetworkTopologyStrategy', 'dc1': 3, 'dc2': 1}",
    "ks_rf1": "{'class': 'SimpleStrategy', 'replication_factor': 1}",
    "ks_dc1only": "{'class': 'NetworkTopologyStrategy', 'dc1': 3}",
    "ks_overrf": "{'class': 'NetworkTopologyStrategy', 'dc1': 2, 'dc2': 2}",
    "MixedCase": "{'class': 'NetworkTopologyStrategy', 'dc1': 2, 'dc2': 1}",
}
TABLES = {
    "t_text": "k text PRIMARY KEY, v int",
    "t_int": "k int PRIMARY KEY, v int",
    "t_uuid": "k uuid PRIMARY KEY, v int",
    "t_comp": "a text, b int, c uuid, v int, PRIMARY KEY ((a, b, c))",
    "OddTable": '"clé ""x""" text, "Num" bigint, v int, PRIMARY KEY (("clé ""x""", "Num"))',
}


@dataclass
class LiveCassandra:
    cluster: Any  # braindump_cli.sandbox.servers.cassandra.CassandraCluster
    password_file: Path
    ca_file: Path | None = None  # the CA that signed the nodes' CQL TLS certificate
    hosts: str = "127.0.0.1,127.0.0.2,127.0.0.3,127.0.0.4"
    _sessions: list[Any] = field(default_factory=list)

    def settings(self, **kw: Any) -> CassandraSettings:
        args: dict[str, Any] = {
            "hosts": self.hosts,
            "username": USER,
            "password_file": self.password_file,
            "timeout": 15.0,
            "local_dc": "dc1",
            "env": {},
        }
        args.update(kw)
        return resolve_cassandra(**args)

    def cli_args(self) -> list[str]:
        return ["--hosts", self.hosts, "-u", USER, "--password-file", str(self.password_file), "--local-dc", "dc1"]

    def session(self, coordinator: str = "127.0.0.2", *, user: str = USER, password: str = PASSWORD) -> Any:
        """A driver session whose every request is coordinated by one node (dc1 unless told)."""
        from cassandra.auth import PlainTextAuthProvider
        from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
        from cassandra.policies import FallthroughRetryPolicy, WhiteListRoundRobinPolicy

        # No retries: an Unavailable must surface as itself, not as NoHostAvailable after a retry.
        profile = ExecutionProfile(
            load_balancing_policy=WhiteListRoundRobinPolicy([coordinator]),
            retry_policy=FallthroughRetryPolicy(),
            request_timeout=20,
        )
        c = Cluster(
            [coordinator],
            auth_provider=PlainTextAuthProvider(user, password),
            execution_profiles={EXEC_PROFILE_DEFAULT: profile},
            connect_timeout=20,
            protocol_version=5,
        )
        s = c.connect()
        self._sessions.append(c)
        return s

    def close_sessions(self) -> None:
        for c in self._sessions:
            c.shutdown()
        self._sessions.clear()


def write_tls_files(directory: Path, addresses: list[str]) -> tuple[Path, Path]:
    """A CA and one server certificate for every node address: (server PEM with key, CA PEM)."""
    from braindump_cli.sandbox.servers._pki import TestCa, cert_pem, key_pem

    ca = TestCa.create("bd test CA", days=30)
    key, cert = ca.issue("cassandra", usage="server", sans=addresses)
    pem = directory / "node-tls.pem"
    pem.write_bytes(key_pem(key) + cert_pem(cert) + cert_pem(ca.cert))
    ca_file = directory / "ca.pem"
    ca_file.write_bytes(cert_pem(ca.cert))
    return pem, ca_file


def _progress(message: str) -> None:
    print(f"cassandra fixture: {message}", file=sys.__stderr__, flush=True)


def _superuser_session(live: LiveCassandra) -> Any:
    deadline = time.monotonic() + 90
    while True:  # the default superuser is created a moment after the node starts
        try:
            return live.session("127.0.0.1", user="cassandra", password="cassandra")
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def _prepare(live: LiveCassandra) -> None:
    s = _superuser_session(live)
    # Auth data on every node, so logins survive the node kills of the consistency tests.
    s.execute("ALTER KEYSPACE system_auth WITH replication = {'class': 'NetworkTopologyStrategy', 'dc1': 3, 'dc2': 1}")
    s.execute(f"CREATE ROLE IF NOT EXISTS {USER} WITH PASSWORD = '{PASSWORD}' AND SUPERUSER = true AND LOGIN = true")
    for name, replication in KEYSPACES.items():
        s.execute(f"CREATE KEYSPACE IF NOT EXISTS {quote_identifier(name)} WITH replication = {replication}")
    for ks in ("ks_nts", "ks_simple", "MixedCase", "ks_nts3"):
        for table, columns in TABLES.items():
            if ks == "ks_nts3" and table != "t_int":
                continue
            s.execute(f"CREATE TABLE IF NOT EXISTS {quote_identifier(ks)}.{quote_identifier(table)} ({columns})")
    live.close_sessions()


@pytest.fixture(scope="session")
def cassandra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveCassandra]:
    from braindump_cli.sandbox.servers.cassandra import start_cluster

    work = tmp_path_factory.mktemp("cassandra")
    start = time.monotonic()
    tls_pem, ca_file = write_tls_files(work, [f"127.0.0.{i}" for i in range(1, len(LAYOUT) + 1)])
    try:
        cluster = start_cluster(
            work,
            layout=LAYOUT,
            authenticator="PasswordAuthenticator",
            heap="512M",
            client_tls_pem=tls_pem,
            progress=_progress,
        )
    except Exception as e:
        server_unavailable("Cassandra 5.0 cluster", str(e))
        raise
    password_file = work / "password"
    password_file.write_text(PASSWORD + "\n")
    live = LiveCassandra(cluster, password_file, ca_file)
    try:
        _prepare(live)
        _progress(f"cluster ready in {time.monotonic() - start:.0f}s")
        yield live
    finally:
        live.close_sessions()
        cluster.stop()


@pytest.fixture
def full_cluster(cassandra: LiveCassandra) -> Iterator[LiveCassandra]:
    """The cluster with every node up before and after the test (tests that kill nodes use it)."""
    _restart_dead(cassandra)
    yield cassandra
    cassandra.close_sessions()
    _restart_dead(cassandra)


def _restart_dead(live: LiveCassandra) -> None:
    dead = [n.index for n in live.cluster.nodes if n.pid is None]
    for i in dead:
        live.cluster.start_node(i)
    if dead:
        live.cluster.wait_converged()


def wait_for_status(live: LiveCassandra, expected: dict[str, str], *, observer: int, timeout: float = 90) -> None:
    """Poll `nodetool status` on node `observer` until every address shows U or D as expected."""
    deadline = time.monotonic() + timeout
    last: dict[str, str] = {}
    while time.monotonic() < deadline:
        last = live.cluster.ring_states(observer)
        if all(last.get(a, "")[:1] == s for a, s in expected.items()):
            return
        time.sleep(1)
    raise AssertionError(f"node states never became {expected}: {last}")
