"""The session-wide kube-apiserver + etcd, shared by tests/k8s and tests/operator.

Import the fixture into a conftest: `from tests.kube_fixtures import kube_cluster  # noqa: F401`.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from braindump_cli.servers.kube import KubeCluster, start_kube
from tests.helpers import server_unavailable


@pytest.fixture(scope="session")
def kube_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeCluster]:
    workdir = tmp_path_factory.mktemp("kube")
    try:
        cluster = start_kube(workdir, progress=lambda m: print(f"kube harness: {m}", file=sys.stderr))
    except (RuntimeError, OSError) as exc:
        server_unavailable("kube-apiserver + etcd", str(exc))
        raise  # unreachable: server_unavailable fails or skips
    try:
        yield cluster
    finally:
        cluster.stop()
