"""The session-wide Kubernetes servers, shared by tests/k8s and tests/operator.

- `kube_cluster`: kube-apiserver + etcd only (the fast, apiserver-only mode): objects are stored,
  validated and watched; no Pod runs, no Job completes, no garbage collection.
- `kube_plane`: the whole control plane (`servers.kube_plane`): the same apiserver + etcd with
  kube-controller-manager, kube-scheduler and KWOK, so StatefulSets get Ready Pods, Jobs
  complete, CronJobs fire, PVCs bind and the garbage collector runs.

Import the one you need into a conftest: `from tests.kube_fixtures import kube_cluster  # noqa: F401`.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from braindump_cli.sandbox.servers.kube import KubeCluster, start_kube
from braindump_cli.sandbox.servers.kube_plane import ControlPlane, start_control_plane
from tests.helpers import server_unavailable


def _report(message: str) -> None:
    print(f"kube harness: {message}", file=sys.stderr)


@pytest.fixture(scope="session")
def kube_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeCluster]:
    workdir = tmp_path_factory.mktemp("kube")
    try:
        cluster = start_kube(workdir, progress=_report)
    except (RuntimeError, OSError) as exc:
        server_unavailable("kube-apiserver + etcd", str(exc))
        raise  # unreachable: server_unavailable fails or skips
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def kube_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    workdir = tmp_path_factory.mktemp("kube-plane")
    try:
        plane = start_control_plane(workdir, nodes=2, progress=_report)
    except (RuntimeError, OSError, ValueError) as exc:
        server_unavailable("the Kubernetes control plane (apiserver, controller-manager, scheduler, kwok)", str(exc))
        raise
    try:
        yield plane
    finally:
        plane.stop()
