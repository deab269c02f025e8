"""`spec.engine` in the shipped CRD, against the real kube-apiserver: every Database that was valid
before the field existed is still accepted unchanged, and the field takes only known engines."""

from __future__ import annotations

from typing import Any

import pytest

from braindump_cli.k8s.client import ApiError, KubeApi
from braindump_cli.k8s.operator.builders import drift
from tests.operator.conftest import GROUP_PATH, new_namespace

pytestmark = pytest.mark.kube

# Databases valid under the CRD before spec.engine: the blog's sample, the docs' and the tests'.
VALID_BEFORE: list[dict[str, Any]] = [
    {
        "name": "name-of-database",
        "port": 5432,
        "storage-size": "50G",
        "image": "super-great-docker-image",
        "replicas": 3,
    },
    {
        "name": "orders",
        "port": 5432,
        "storage-size": "10Gi",
        "image": "postgres:16.4",
        "replicas": 2,
        "backup": {"schedule": "0 3 * * *", "retention": 7},
    },
    {"name": "app", "port": 5432, "storage-size": "1Gi", "image": "postgres:16.1", "replicas": 2},
    {"name": "appdb", "port": 5432, "storage-size": 1073741824, "image": "postgres:16.4"},
    {"name": "_x", "port": 1, "storage-size": "1", "image": "registry.example.com:5000/db@sha256:" + "a" * 64},
    {
        "name": "app",
        "port": 65535,
        "storage-size": "1Ti",
        "image": "x",
        "replicas": 0,
        "backup": {"schedule": "@midnight"},
    },
]


def _body(ns: str, i: int, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "stable.imaginedata.com/v1",
        "kind": "Database",
        "metadata": {"name": f"db-{i}", "namespace": ns},
        "spec": spec,
    }


def _dry_run(api: KubeApi, ns: str, i: int, spec: dict[str, Any]) -> dict[str, Any]:
    return api.request(
        "POST", f"{GROUP_PATH}/namespaces/{ns}/databases", body=_body(ns, i, spec), query={"dryRun": "All"}
    )


@pytest.fixture(scope="module")
def crd_ns(api: KubeApi) -> str:
    return new_namespace(api, "engine-crd")


@pytest.mark.parametrize("index", range(len(VALID_BEFORE)))
def test_databases_valid_before_the_engine_field_stay_valid(api: KubeApi, crd_ns: str, index: int) -> None:
    spec = VALID_BEFORE[index]
    stored = _dry_run(api, crd_ns, index, spec)
    assert "engine" not in stored["spec"]  # no default: the engine stays inferred from the image
    assert drift(spec, stored["spec"]) == []  # stored as sent (schema defaults may add fields)


@pytest.mark.parametrize("engine", ["postgres", "hook"])
def test_known_engines_are_accepted(api: KubeApi, crd_ns: str, engine: str) -> None:
    stored = _dry_run(api, crd_ns, 100, {**VALID_BEFORE[2], "engine": engine})
    assert stored["spec"]["engine"] == engine


def test_unknown_engine_is_rejected_naming_the_field(api: KubeApi, crd_ns: str) -> None:
    with pytest.raises(ApiError) as err:
        _dry_run(api, crd_ns, 101, {**VALID_BEFORE[2], "engine": "mysql"})
    assert err.value.status == 422
    assert "spec.engine" in str(err.value)
