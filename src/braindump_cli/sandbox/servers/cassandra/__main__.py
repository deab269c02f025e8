"""Manual smoke run: `python -m braindump_cli.sandbox.servers.cassandra [NODES]` starts a two-DC cluster."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from braindump_cli.sandbox.servers.cassandra.cluster import start_cluster


def main() -> None:  # pragma: no cover - manual smoke run: python -m braindump_cli.sandbox.servers.cassandra

    work = Path(tempfile.mkdtemp(prefix="bd-cassandra-"))
    start = time.monotonic()
    cluster = start_cluster(work, nodes=int(sys.argv[1]) if len(sys.argv) > 1 else 3, dcs=2, progress=print)
    print(f"cluster up in {time.monotonic() - start:.0f}s under {work}")
    try:
        print(cluster.nodetool(1, "status"))
    finally:
        cluster.stop()


if __name__ == "__main__":  # pragma: no cover
    main()
