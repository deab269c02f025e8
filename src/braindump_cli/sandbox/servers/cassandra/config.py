"""The configuration files of one node: cassandra.yaml, logback.xml, rack/DC, and its tokens.

Tokens are pre-generated (seeded, so every run builds the same, deliberately uneven ring), as
concurrent joins may otherwise pick clashing ones.
"""

from __future__ import annotations

import random
from pathlib import Path

CQL_PORT = 9042
STORAGE_PORT = 7000
NUM_TOKENS = 16

LOGBACK = """<configuration scan="false">
  <appender name="FILE" class="ch.qos.logback.core.FileAppender">
    <file>{log}</file>
    <encoder><pattern>%-5level [%thread] %date{{ISO8601}} %F:%L - %msg%n</pattern></encoder>
  </appender>
  <logger name="org.apache.cassandra" level="INFO"/>
  <root level="WARN"><appender-ref ref="FILE"/></root>
</configuration>
"""


def generate_tokens(count: int, *, num_tokens: int = NUM_TOKENS, seed: int = 20250508) -> list[list[int]]:
    """Distinct random Murmur3 tokens per node: an uneven ring is a sharper test of ownership math."""
    rng = random.Random(seed)  # noqa: S311 - reproducible test tokens, not secrets
    seen: set[int] = set()
    out: list[list[int]] = []
    for _ in range(count):
        tokens: list[int] = []
        while len(tokens) < num_tokens:
            t = rng.randrange(-(2**63) + 1, 2**63)
            if t not in seen:
                seen.add(t)
                tokens.append(t)
        out.append(sorted(tokens))
    return out


def default_layout(nodes: int, dcs: int) -> list[tuple[str, str]]:
    """(datacenter, rack) per node: with two DCs the first DC takes the larger half; racks alternate."""
    if dcs not in (1, 2):
        raise ValueError("dcs must be 1 or 2")
    first = nodes if dcs == 1 else (nodes + 1) // 2
    layout = []
    for i in range(nodes):
        dc, k = ("dc1", i) if i < first else ("dc2", i - first)
        layout.append((dc, f"rack{k % 2 + 1}"))
    return layout


def _client_tls_yaml(pem: Path | None) -> str:
    """CQL TLS from one PEM (unencrypted PKCS#8 key + certificate chain); `optional` keeps plaintext too."""
    if pem is None:
        return ""
    return f"""\
client_encryption_options:
  enabled: true
  optional: true
  ssl_context_factory:
    class_name: org.apache.cassandra.security.PEMBasedSslContextFactory
  keystore: '{pem}'
  require_client_auth: false
"""


def node_yaml(
    cluster_name: str,
    *,
    address: str,
    tokens: list[int],
    directory: Path,
    seed: str,
    snitch: str,
    authenticator: str,
    client_tls_pem: Path | None,
) -> str:
    """cassandra.yaml of one node: small caches and pools for a shared 2-core machine, fixed tokens."""
    d = directory
    initial = ",".join(str(t) for t in tokens)
    return (
        _client_tls_yaml(client_tls_pem)
        + f"""\
cluster_name: '{cluster_name}'
num_tokens: {len(tokens)}
initial_token: '{initial}'
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
endpoint_snitch: {snitch}
authenticator: {authenticator}
authorizer: AllowAllAuthorizer
role_manager: CassandraRoleManager
commitlog_sync: periodic
commitlog_sync_period: 10000ms
commitlog_segment_size: 8MiB
data_file_directories: ['{d / "data"}']
commitlog_directory: '{d / "commitlog"}'
hints_directory: '{d / "hints"}'
saved_caches_directory: '{d / "saved_caches"}'
cdc_raw_directory: '{d / "cdc_raw"}'
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: "{seed}:{STORAGE_PORT}"
listen_address: {address}
rpc_address: {address}
storage_port: {STORAGE_PORT}
native_transport_port: {CQL_PORT}
start_native_transport: true
auto_bootstrap: false
auto_snapshot: false
hinted_handoff_enabled: false
concurrent_reads: 4
concurrent_writes: 4
concurrent_counter_writes: 2
concurrent_materialized_view_writes: 2
concurrent_compactors: 1
native_transport_max_threads: 16
memtable_heap_space: 48MiB
memtable_offheap_space: 48MiB
key_cache_size: 8MiB
counter_cache_size: 0MiB
prepared_statements_cache_size: 4MiB
index_summary_capacity: 4MiB
compaction_throughput: 0MiB/s
write_request_timeout: 2000ms
read_request_timeout: 5000ms
range_request_timeout: 10000ms
request_timeout: 10000ms
storage_compatibility_mode: NONE
"""
    )
