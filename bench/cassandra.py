"""`bd cassandra ring` against `nodetool ring` on the same live cluster (goal: at most half the wall time).

The harness starts a three-node, two-DC Cassandra 5.0.8 cluster from the cached jars. Each candidate
is a fresh process, as an operator runs it, timed round-robin in the same run:

* anchor: nodetool with the JVM flags of bin/nodetool (-Xmx128m, -XX:ParallelGCThreads=1, -ea),
* nodetool tuned to start fast (C1 only, SerialGC): the best a JVM tool does here,
* `bd cassandra ring` (every node, tokens counted, liveness probed over CQL) and
  `bd cassandra ring KS` (plus effective ownership, the `nodetool status KS` figure).

The synthetic 1,000-node consistency benchmark is bench/cassandra_synthetic.py.
Run: `.venv/bin/python -m bench cassandra`.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from bench._timing import interleaved, report

REPEAT = 10
GOAL = 0.5
KEYSPACE = "bench_ks"


def _run(argv: list[str]) -> Callable[[], object]:
    def call() -> object:
        return subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    return call


def main() -> str:
    from cassandra.cluster import Cluster

    from braindump_cli.sandbox.servers.cassandra import start_cluster

    work = Path(tempfile.mkdtemp(prefix="bd-bench-cassandra-"))
    cluster = start_cluster(work, nodes=3, dcs=2, progress=lambda m: print(f"bench: {m}", file=sys.stderr))
    try:
        c = Cluster(cluster.contact_points, protocol_version=5)
        s = c.connect()
        s.execute(
            f"CREATE KEYSPACE {KEYSPACE} WITH replication = {{'class': 'NetworkTopologyStrategy', 'dc1': 2, 'dc2': 1}}"
        )
        c.shutdown()
        bd = str(Path(sys.executable).with_name("bd"))
        hosts = ",".join(cluster.contact_points)
        anchor = "nodetool ring (bin/nodetool JVM flags)"
        candidates = {
            anchor: _run(cluster.nodetool_argv(1, "ring", as_shipped=True)),
            "nodetool status KS (bin/nodetool JVM flags)": _run(
                cluster.nodetool_argv(1, "status", KEYSPACE, as_shipped=True)
            ),
            "nodetool ring (tuned: C1, SerialGC)": _run(cluster.nodetool_argv(1, "ring")),
            "bd cassandra ring": _run([bd, "cassandra", "ring", "--hosts", hosts, "-o", "json"]),
            "bd cassandra ring KS (effective ownership)": _run(
                [bd, "cassandra", "ring", KEYSPACE, "--hosts", hosts, "--local-dc", "dc1"]
            ),
        }
        samples = interleaved(candidates, repeat=REPEAT, warmup=1)
    finally:
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)
    base = next(x for x in samples if x.label == anchor).median
    ratio = next(x for x in samples if x.label == "bd cassandra ring").median / base
    verdict = "met" if ratio <= GOAL else "NOT met"
    text = report(
        "bd cassandra ring vs nodetool ring (3 nodes, 2 DCs, 16 vnodes each, Cassandra 5.0.8, same cluster)",
        samples,
        baseline=anchor,
        goal=f"`bd cassandra ring` <= {GOAL}x the wall time of `nodetool ring`: {ratio:.2f}x, {verdict}.",
    )
    return text + f"\nCommand: `.venv/bin/python -m bench cassandra` ({REPEAT} interleaved runs each, medians).\n"


if __name__ == "__main__":
    main()
