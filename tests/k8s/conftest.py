"""Fixtures for tests/k8s: one real kube-apiserver + etcd per session, and a `bd` runner."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from braindump_cli.cli.app import app
from braindump_cli.k8s.client import KubeApi
from braindump_cli.sandbox.servers.kube import KubeCluster
from braindump_cli.settings import KubeSettings, resolve_kube
from tests import kube_fixtures

Bd = Callable[..., Result]
kube_cluster = kube_fixtures.kube_cluster  # the session-wide apiserver + etcd


@pytest.fixture(scope="session")
def bd() -> Bd:
    """Run `bd ARGS...` in-process; stdout and stderr are kept apart."""

    def run(*args: str, input: str | bytes | None = None, env: dict[str, str | None] | None = None) -> Result:
        result = CliRunner().invoke(app, list(args), input=input, env={"BD_OUTPUT": None, **(env or {})})
        assert "Traceback" not in result.stderr + result.stdout, result.stderr
        return result

    return run


def as_json(result: Result) -> Any:
    return json.loads(result.stdout)


@pytest.fixture(scope="session")
def admin(kube_cluster: KubeCluster) -> KubeSettings:
    return resolve_kube(kubeconfig=kube_cluster.admin_kubeconfig)


@pytest.fixture(scope="session")
def admin_api(admin: KubeSettings) -> KubeApi:
    return KubeApi(admin)


@pytest.fixture(scope="session")
def test_namespace(admin_api: KubeApi) -> str:
    """A namespace of our own, so CRs made here never meet the operator tests' objects."""
    name = "bd-crd-tests"
    admin_api.request(
        "POST", "/api/v1/namespaces", body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    )
    return name
