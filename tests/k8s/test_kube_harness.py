"""The harness itself: admin works, the second identity is denied, tokens and restarts work."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from braindump_cli.sandbox.servers.kube import KubeCluster

pytestmark = pytest.mark.kube


def _kubectl(kc: KubeCluster, kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(kc.kubectl), "--kubeconfig", str(kubeconfig), *args], capture_output=True, text=True, check=False
    )


def test_admin_and_user_identities(kube_cluster: KubeCluster) -> None:
    admin = _kubectl(
        kube_cluster, kube_cluster.admin_kubeconfig, "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"
    )
    assert admin.returncode == 0, admin.stderr
    assert admin.stdout == "bd-admin"
    denied = _kubectl(kube_cluster, kube_cluster.user_kubeconfig, "get", "namespaces")
    assert denied.returncode != 0
    assert 'User "bd-tester" cannot list resource "namespaces"' in denied.stderr


def test_service_account_token_kubeconfig(kube_cluster: KubeCluster, tmp_path: Path) -> None:
    created = _kubectl(kube_cluster, kube_cluster.admin_kubeconfig, "create", "serviceaccount", "harness-probe")
    assert created.returncode == 0, created.stderr
    token = _kubectl(kube_cluster, kube_cluster.admin_kubeconfig, "create", "token", "harness-probe")
    assert token.returncode == 0, token.stderr
    path = kube_cluster.kubeconfig_for_token(token.stdout.strip(), tmp_path / "token.kubeconfig")
    who = _kubectl(kube_cluster, path, "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}")
    assert who.stdout == "system:serviceaccount:default:harness-probe", who.stderr


def test_restart_apiserver_keeps_data_and_port(kube_cluster: KubeCluster) -> None:
    before_pid, before_server = kube_cluster.apiserver_pid, kube_cluster.server
    created = _kubectl(kube_cluster, kube_cluster.admin_kubeconfig, "create", "configmap", "survives-restart")
    assert created.returncode == 0, created.stderr
    kube_cluster.restart_apiserver()
    assert kube_cluster.apiserver_pid not in (None, before_pid)
    assert kube_cluster.server == before_server
    got = _kubectl(kube_cluster, kube_cluster.admin_kubeconfig, "get", "configmap", "survives-restart", "-o", "name")
    assert got.stdout.strip() == "configmap/survives-restart", got.stderr
