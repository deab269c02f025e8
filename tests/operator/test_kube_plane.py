"""The control-plane harness itself (servers.kube_plane): versions, Nodes, the default
StorageClass, and what the controllers and KWOK do for plain objects (no operator involved)."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from braindump_cli.k8s.client import KubeApi
from braindump_cli.sandbox.servers.kube_build import KUBE_VERSION, KWOK_VERSION
from braindump_cli.sandbox.servers.kube_plane import ControlPlane
from tests.operator.conftest import new_namespace, wait_for

pytestmark = [pytest.mark.kube, pytest.mark.slow]

SLOW = 180  # a deadline on a loaded machine, not a timing claim


def _version(binary: str) -> str:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True)
    return (out.stdout + out.stderr).strip()


def test_binaries_report_their_release(kube_plane: ControlPlane) -> None:
    assert _version(str(kube_plane.bins.kube_controller_manager)) == f"Kubernetes {KUBE_VERSION}"
    assert _version(str(kube_plane.bins.kube_scheduler)) == f"Kubernetes {KUBE_VERSION}"
    assert _version(str(kube_plane.bins.kwok)).startswith(f"kwok version {KWOK_VERSION}")


def test_nodes_ready_default_storage_class_and_service_account(kube_plane: ControlPlane) -> None:
    assert kube_plane.nodes_ready()
    classes = kube_plane.cluster.request("GET", "/apis/storage.k8s.io/v1/storageclasses")["items"]
    (default,) = [
        c
        for c in classes
        if (c["metadata"].get("annotations") or {}).get("storageclass.kubernetes.io/is-default-class") == "true"
    ]
    assert (default["metadata"]["name"], default["allowVolumeExpansion"]) == ("kwok-volume", True)
    # the controller-manager's service-account controller made it
    kube_plane.cluster.request("GET", "/api/v1/namespaces/default/serviceaccounts/default")


def _job(ns: str, name: str, instance: str) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "metadata": {"labels": {"app.kubernetes.io/instance": instance}},
                "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox:1"}]},
            },
        },
    }


def _finished(job: dict[str, Any] | None, ctype: str) -> dict[str, Any] | None:
    """The Job once the Job controller set its final condition `ctype` (Complete or Failed)."""
    conditions = (job or {}).get("status", {}).get("conditions") or []
    return job if any(c["type"] == ctype and c["status"] == "True" for c in conditions) else None


def test_jobs_complete_and_fail_by_label(kube_plane: ControlPlane, api: KubeApi) -> None:
    ns = new_namespace(api, "plane-jobs")
    api.request("POST", api.path("Job", ns), body=_job(ns, "ok", "plain"))
    api.request("POST", api.path("Job", ns), body=_job(ns, "bad", "fail-demo"))
    ok = wait_for("Job ok Complete", lambda: _finished(api.get("Job", ns, "ok"), "Complete"), timeout=SLOW)
    assert ok["status"]["succeeded"] == 1
    bad = wait_for("Job bad Failed", lambda: _finished(api.get("Job", ns, "bad"), "Failed"), timeout=SLOW)
    assert bad["status"]["failed"] == 1
    pods = api.request("GET", f"/api/v1/namespaces/{ns}/pods", query={"labelSelector": "job-name=bad"})["items"]
    assert [p["status"]["phase"] for p in pods] == ["Failed"]
    assert pods[0]["spec"]["nodeName"].startswith("kwok-node-")  # scheduled by kube-scheduler


def test_claims_bind_and_the_garbage_collector_cascades(kube_plane: ControlPlane, api: KubeApi) -> None:
    ns = new_namespace(api, "plane-gc")
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data", "namespace": ns},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    api.request("POST", api.path("PersistentVolumeClaim", ns), body=claim)
    bound = wait_for(
        "claim Bound",
        lambda: (c := api.get("PersistentVolumeClaim", ns, "data")) and c["status"].get("phase") == "Bound" and c,
        timeout=SLOW,
    )
    assert bound["spec"]["storageClassName"] == "kwok-volume"  # the default class was filled in
    owner = api.request(
        "POST", api.path("ConfigMap", ns), body={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "owner"}}
    )
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner["metadata"]["uid"]}
    child = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "child", "ownerReferences": [ref]}}
    api.request("POST", api.path("ConfigMap", ns), body=child)
    api.delete("ConfigMap", ns, "owner")
    wait_for("child collected", lambda: api.get("ConfigMap", ns, "child") is None, timeout=SLOW)
