"""Fixtures for tests/operator: the session's whole control plane (apiserver, controller-manager,
scheduler, KWOK), the operator's manifests applied with kubectl, and a ServiceAccount token for
running the operator under exactly that RBAC. Nothing here writes a status that a controller or
the kubelet would write: the real controllers and KWOK do."""

from __future__ import annotations

import base64
import contextlib
import itertools
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from braindump_cli.k8s.client import ApiError, KubeApi
from braindump_cli.process import terminate
from braindump_cli.sandbox.servers.kube import KubeCluster
from braindump_cli.sandbox.servers.kube_plane import ControlPlane
from braindump_cli.settings import resolve_kube
from tests import kube_fixtures

kube_plane = kube_fixtures.kube_plane

GROUP_PATH = "/apis/stable.imaginedata.com/v1"
OPERATOR_NS = "bd-operator"
_ns_counter = itertools.count(1)


def wait_for(what: str, check: Callable[[], Any], *, timeout: float = 60.0, interval: float = 0.25) -> Any:
    """Poll until `check()` is truthy; fail naming `what` (a deadline for failure, not a timing claim)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            last = check()
            if last:
                return last
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


@dataclass
class OperatorProcess:
    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        terminate([self.proc], timeout=30)


def start_operator(kubeconfig: Path, log_dir: Path, name: str, *args: str) -> OperatorProcess:
    """`bd operator run` as a subprocess with POD_ID=name (its identity in events and peering)."""
    log_path = log_dir / f"operator-{name}.log"
    env = {**os.environ, "POD_ID": name, "KUBECONFIG": ""}
    with log_path.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "braindump_cli", "operator", "run", "--kubeconfig", str(kubeconfig), *args],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    op = OperatorProcess(name, proc, log_path)
    wait_for(f"operator {name} to start", lambda: "starting:" in op.log() or proc.poll() is not None, timeout=30)
    assert proc.poll() is None, op.log()
    return op


@dataclass(frozen=True)
class OperatorSetup:
    plane: ControlPlane
    cluster: KubeCluster
    api: KubeApi  # admin
    sa_kubeconfig: Path
    manifests_output: str


@pytest.fixture(scope="session")
def operator_setup(kube_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> OperatorSetup:
    """Apply `bd operator manifests` with kubectl, then mint a token for its ServiceAccount."""
    kube_cluster = kube_plane.cluster
    manifests = subprocess.run(
        [
            sys.executable,
            "-m",
            "braindump_cli",
            "operator",
            "manifests",
            "--namespace",
            OPERATOR_NS,
            "--image",
            "bd:test",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    applied = subprocess.run(
        [str(kube_cluster.kubectl), "apply", "-f", "-"],
        input=manifests,
        capture_output=True,
        text=True,
        env=kube_cluster.env(),
        check=False,
    )
    assert applied.returncode == 0, applied.stderr
    subprocess.run(
        [
            str(kube_cluster.kubectl),
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd/databases.stable.imaginedata.com",
            "crd/clusterkopfpeerings.kopf.dev",
        ],
        env=kube_cluster.env(),
        check=True,
        capture_output=True,
    )
    api = KubeApi.from_settings(resolve_kube(kubeconfig=kube_cluster.admin_kubeconfig))
    token = api.request(
        "POST",
        f"/api/v1/namespaces/{OPERATOR_NS}/serviceaccounts/bd-operator/token",
        body={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"expirationSeconds": 7200}},
    )["status"]["token"]
    path = kube_cluster.kubeconfig_for_token(token, tmp_path_factory.mktemp("sa") / "operator.kubeconfig")
    return OperatorSetup(kube_plane, kube_cluster, api, path, applied.stdout)


@pytest.fixture(scope="session")
def api(operator_setup: OperatorSetup) -> KubeApi:
    return operator_setup.api


def new_namespace(api: KubeApi, prefix: str) -> str:
    name = f"{prefix}-{next(_ns_counter)}-{os.getpid() % 10000}"
    api.request(
        "POST", "/api/v1/namespaces", body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    )
    return name


def db_body(name: str, namespace: str, **spec: Any) -> dict[str, Any]:
    full = {"name": "app", "port": 5432, "storage-size": "1Gi", "image": "postgres:16.1", "replicas": 2, **spec}
    return {
        "apiVersion": "stable.imaginedata.com/v1",
        "kind": "Database",
        "metadata": {"name": name, "namespace": namespace},
        "spec": full,
    }


def create_db(api: KubeApi, namespace: str, name: str, **spec: Any) -> dict[str, Any]:
    return api.request("POST", f"{GROUP_PATH}/namespaces/{namespace}/databases", body=db_body(name, namespace, **spec))


def get_db(api: KubeApi, namespace: str, name: str) -> dict[str, Any] | None:
    try:
        return api.request("GET", f"{GROUP_PATH}/namespaces/{namespace}/databases/{name}")
    except ApiError as e:
        if e.status == 404:
            return None
        raise


def patch_db(api: KubeApi, namespace: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
    return api.patch_merge(f"{GROUP_PATH}/namespaces/{namespace}/databases/{name}", patch)


def delete_db(api: KubeApi, namespace: str, name: str) -> None:
    api.request("DELETE", f"{GROUP_PATH}/namespaces/{namespace}/databases/{name}")


def reconciled(api: KubeApi, namespace: str, name: str) -> dict[str, Any] | None:
    """The Database once its status is current (observedGeneration == generation)."""
    db = get_db(api, namespace, name)
    if db and (db.get("status") or {}).get("observedGeneration") == db["metadata"]["generation"]:
        return db
    return None


def events_for(api: KubeApi, namespace: str, name: str | None = None) -> list[dict[str, Any]]:
    items = api.request("GET", f"/api/v1/namespaces/{namespace}/events")["items"]
    return [e for e in items if name is None or e["involvedObject"].get("name") == name]


def reasons(api: KubeApi, namespace: str, name: str) -> list[str]:
    return [e["reason"] for e in events_for(api, namespace, name)]


def secret_values(api: KubeApi, namespace: str) -> list[str]:
    out = []
    for s in api.request("GET", f"/api/v1/namespaces/{namespace}/secrets")["items"]:
        for value in (s.get("data") or {}).values():
            out.append(base64.b64decode(value).decode())
    return out


def children(api: KubeApi, namespace: str, kind: str) -> list[dict[str, Any]]:
    return api.list(kind, namespace, label_selector="app.kubernetes.io/managed-by=bd-operator")


@pytest.fixture(scope="module")
def module_log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("operator-logs")


@contextlib.contextmanager
def running(*ops: OperatorProcess) -> Iterator[tuple[OperatorProcess, ...]]:
    try:
        yield ops
    finally:
        for op in ops:
            op.stop()
