"""Start a real Cassandra 5.0 cluster on loopback from Maven Central jars (tests, benchmarks, `bd sandbox`).

- `jars`: fetch and cache cassandra-all and its runtime jars; the java command line.
- `config`: each node's cassandra.yaml, logback.xml, rack/DC file and pre-generated tokens.
- `nodetool`: nodetool from the same jars, one JVM per command or many commands in one.
- `cluster`: start, watch, kill and stop the nodes.
"""

from __future__ import annotations

from braindump_cli.sandbox.servers.cassandra.cluster import CassandraCluster, CassandraNode, start_cluster
from braindump_cli.sandbox.servers.cassandra.config import CQL_PORT, NUM_TOKENS, STORAGE_PORT
from braindump_cli.sandbox.servers.cassandra.jars import CASSANDRA_VERSION, cassandra_dir, ensure_cassandra_jars

__all__ = [
    "CASSANDRA_VERSION",
    "CQL_PORT",
    "NUM_TOKENS",
    "STORAGE_PORT",
    "CassandraCluster",
    "CassandraNode",
    "cassandra_dir",
    "ensure_cassandra_jars",
    "start_cluster",
]
