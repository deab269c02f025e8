"""The operator against the real kube-apiserver, running as the ServiceAccount of
`bd operator manifests` (so every feature here also proves the RBAC is enough).

No kubelet or controllers run: the tests play their part (Job and StatefulSet status).
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from braindump_cli.k8s.client import KubeApi
from tests.operator.conftest import (
    OperatorProcess,
    OperatorSetup,
    children,
    create_db,
    delete_db,
    events_for,
    finish_job,
    get_db,
    new_namespace,
    patch_db,
    reasons,
    reconciled,
    secret_values,
    set_ready_replicas,
    start_operator,
    wait_for,
)

pytestmark = [pytest.mark.kube, pytest.mark.slow]

RESYNC = 3


@pytest.fixture(scope="module")
def operator(operator_setup: OperatorSetup, module_log_dir: Path) -> Iterator[OperatorProcess]:
    op = start_operator(
        operator_setup.sa_kubeconfig,
        module_log_dir,
        "op-lifecycle",
        "--all-namespaces",
        "--priority",
        "10",
        "--resync-seconds",
        str(RESYNC),
        "--poll-seconds",
        "0.5",
        "--watch-timeout",
        "20",
        "--min-version",
        "10",
        "--verbose",
    )
    yield op
    op.stop()


@pytest.fixture(scope="module")
def ns(api: KubeApi, operator: OperatorProcess) -> str:
    return new_namespace(api, "op-life")


def sts_of(api: KubeApi, ns: str, name: str) -> dict[str, Any]:
    sts = api.get("StatefulSet", ns, name)
    assert sts is not None
    return sts


def container(sts: dict[str, Any]) -> dict[str, Any]:
    return sts["spec"]["template"]["spec"]["containers"][0]


def test_manifests_applied_cleanly_and_grant_only_what_is_used(operator_setup: OperatorSetup) -> None:
    assert "deployment.apps/bd-operator" in operator_setup.manifests_output
    kc = operator_setup.cluster
    sa = "system:serviceaccount:bd-operator:bd-operator"

    def can(verb: str, resource: str) -> bool:
        out = subprocess.run(
            [str(kc.kubectl), "auth", "can-i", verb, resource, "--as", sa, "-n", "default"],
            capture_output=True,
            text=True,
            env=kc.env(),
            check=False,
        )
        return out.stdout.strip() == "yes"

    assert can("create", "secrets")
    assert not can("get", "secrets")
    assert not can("list", "secrets")
    assert can("patch", "statefulsets.apps")
    assert can("patch", "databases.stable.imaginedata.com")
    assert not can("delete", "databases.stable.imaginedata.com")
    assert not can("create", "pods")
    assert not can("create", "clusterroles.rbac.authorization.k8s.io")


def test_create_builds_every_child(api: KubeApi, ns: str) -> None:
    db = create_db(api, ns, "pg1", backup={"schedule": "0 3 * * *", "retention": 5})
    uid = db["metadata"]["uid"]
    done = wait_for("pg1 reconciled", lambda: reconciled(api, ns, "pg1"))
    assert done["status"]["phase"] == "Provisioning"
    assert {c["type"] for c in done["status"]["conditions"]} >= {"Ready", "Progressing", "Degraded"}

    sts = sts_of(api, ns, "pg1")
    assert sts["spec"]["replicas"] == 2
    assert container(sts)["image"] == "postgres:16.1"
    assert container(sts)["ports"][0]["containerPort"] == 5432
    assert sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "1Gi"
    svc = api.get("Service", ns, "pg1")
    assert svc is not None
    assert svc["spec"]["clusterIP"] == "None"
    cm = api.get("ConfigMap", ns, "pg1-config")
    assert cm is not None
    assert cm["data"]["DB_PORT"] == "5432"
    secret = api.request("GET", f"/api/v1/namespaces/{ns}/secrets/pg1-credentials")
    assert set(secret["data"]) == {"DB_USER", "DB_PASSWORD"}
    init = api.get("Job", ns, "pg1-init")
    assert init is not None
    cron = api.get("CronJob", ns, "pg1-backup")
    assert cron is not None
    assert cron["spec"]["schedule"] == "0 3 * * *"
    for obj in (sts, svc, cm, secret, init, cron):
        (ref,) = obj["metadata"]["ownerReferences"]
        assert (ref["kind"], ref["name"], ref["uid"], ref["controller"]) == ("Database", "pg1", uid, True)
        assert obj["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "bd-operator"
    got = wait_for("creation events", lambda: {"StatefulSetCreated", "InitJobCreated"} <= set(reasons(api, ns, "pg1")))
    assert got
    assert {"ServiceCreated", "ConfigMapCreated", "SecretCreated", "CronJobCreated"} <= set(reasons(api, ns, "pg1"))


def test_ready_replicas_are_mirrored(api: KubeApi, ns: str) -> None:
    set_ready_replicas(api, ns, "pg1", 2)
    db = wait_for("Ready", lambda: (d := get_db(api, ns, "pg1")) and d["status"].get("phase") == "Ready" and d)
    assert db["status"]["readyReplicas"] == 2
    ready = next(c for c in db["status"]["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("True", "AllReplicasReady")


def test_update_replicas_and_port(api: KubeApi, ns: str) -> None:
    patch_db(api, ns, "pg1", {"spec": {"replicas": 3, "port": 5433}})
    wait_for("replicas 3", lambda: sts_of(api, ns, "pg1")["spec"]["replicas"] == 3)
    sts = sts_of(api, ns, "pg1")
    assert [p["containerPort"] for p in container(sts)["ports"]] == [5433]
    wait_for("service port", lambda: api.get("Service", ns, "pg1")["spec"]["ports"][0]["port"] == 5433)
    wait_for("configmap port", lambda: api.get("ConfigMap", ns, "pg1-config")["data"]["DB_PORT"] == "5433")
    db = wait_for("reconciled", lambda: reconciled(api, ns, "pg1"))
    assert db["status"]["phase"] == "Provisioning"  # 2 of 3 ready


def test_image_upgrade_runs_a_job_before_the_statefulset_rolls(api: KubeApi, ns: str) -> None:
    patch_db(api, ns, "pg1", {"spec": {"image": "postgres:16.2"}})
    job = wait_for("upgrade Job", lambda: api.get("Job", ns, "pg1-upgrade-16-2-0"))
    env = {e["name"]: e["value"] for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert (env["BD_FROM_IMAGE"], env["BD_TO_IMAGE"]) == ("postgres:16.1", "postgres:16.2")
    db = wait_for("Upgrading", lambda: (d := reconciled(api, ns, "pg1")) and d["status"]["phase"] == "Upgrading" and d)
    progressing = next(c for c in db["status"]["conditions"] if c["type"] == "Progressing")
    assert progressing["reason"] == "UpgradeJobRunning"
    assert container(sts_of(api, ns, "pg1"))["image"] == "postgres:16.1"  # not rolled yet

    finish_job(api, ns, "pg1-upgrade-16-2-0")
    wait_for("rolled", lambda: container(sts_of(api, ns, "pg1"))["image"] == "postgres:16.2")
    db = wait_for("after upgrade", lambda: (d := get_db(api, ns, "pg1")) and d["status"]["phase"] != "Upgrading" and d)
    assert db["status"]["currentImage"] == "postgres:16.2"
    assert "UpgradeRolled" in reasons(api, ns, "pg1")


def test_downgrade_is_refused(api: KubeApi, ns: str) -> None:
    patch_db(api, ns, "pg1", {"spec": {"image": "postgres:15.0"}})
    db = wait_for("refused", lambda: (d := reconciled(api, ns, "pg1")) and d["status"]["phase"] == "Degraded" and d)
    degraded = next(c for c in db["status"]["conditions"] if c["type"] == "Degraded")
    assert degraded["reason"] == "ChangeRefused"
    assert container(sts_of(api, ns, "pg1"))["image"] == "postgres:16.2"
    wait_for("ChangeRefused event", lambda: "ChangeRefused" in reasons(api, ns, "pg1"))
    patch_db(api, ns, "pg1", {"spec": {"image": "postgres:16.2"}})
    wait_for("back to normal", lambda: (d := reconciled(api, ns, "pg1")) and d["status"]["phase"] != "Degraded")


def test_children_deleted_or_edited_by_hand_are_repaired(api: KubeApi, ns: str) -> None:
    svc_uid = api.get("Service", ns, "pg1")["metadata"]["uid"]
    api.delete("Service", ns, "pg1")
    wait_for("service recreated", lambda: (s := api.get("Service", ns, "pg1")) and s["metadata"]["uid"] != svc_uid)
    api.patch_merge(api.path("ConfigMap", ns, "pg1-config"), {"data": {"DB_PORT": "1"}})
    wait_for("configmap repaired", lambda: api.get("ConfigMap", ns, "pg1-config")["data"]["DB_PORT"] == "5433")
    api.patch_merge(api.path("StatefulSet", ns, "pg1"), {"spec": {"replicas": 7}})
    wait_for("statefulset repaired", lambda: sts_of(api, ns, "pg1")["spec"]["replicas"] == 3)
    sts_uid = sts_of(api, ns, "pg1")["metadata"]["uid"]
    api.delete("StatefulSet", ns, "pg1")
    wait_for(
        "statefulset recreated", lambda: (s := api.get("StatefulSet", ns, "pg1")) and s["metadata"]["uid"] != sts_uid
    )
    api.delete("CronJob", ns, "pg1-backup")
    wait_for("cronjob recreated", lambda: api.get("CronJob", ns, "pg1-backup"))
    # The Secret is never read or watched (least privilege): the resync timer recreates it.
    api.delete("Secret", ns, "pg1-credentials")
    wait_for("secret recreated", lambda: api.get("Secret", ns, "pg1-credentials"), timeout=RESYNC * 10)
    assert "ServiceCreated" in reasons(api, ns, "pg1")
    assert "ConfigMapUpdated" in reasons(api, ns, "pg1")


def test_backup_removed_from_spec_deletes_the_cronjob(api: KubeApi, ns: str) -> None:
    patch_db(api, ns, "pg1", {"spec": {"backup": None}})
    wait_for("cronjob gone", lambda: api.get("CronJob", ns, "pg1-backup") is None)
    patch_db(api, ns, "pg1", {"spec": {"backup": {"schedule": "30 1 * * *", "retention": 2}}})
    cron = wait_for("cronjob back", lambda: api.get("CronJob", ns, "pg1-backup"))
    assert cron["spec"]["schedule"] == "30 1 * * *"


def test_init_job_runs_once(api: KubeApi, ns: str) -> None:
    init_uid = api.get("Job", ns, "pg1-init")["metadata"]["uid"]
    api.delete("Job", ns, "pg1-init")
    patch_db(api, ns, "pg1", {"spec": {"replicas": 2}})
    wait_for("reconciled", lambda: reconciled(api, ns, "pg1"))
    wait_for("a resync", lambda: sts_of(api, ns, "pg1")["spec"]["replicas"] == 2)
    assert api.get("Job", ns, "pg1-init") is None, f"init Job {init_uid} was recreated"
    assert reasons(api, ns, "pg1").count("InitJobCreated") == 1


def test_image_below_minimum_is_raised(api: KubeApi, ns: str) -> None:
    create_db(api, ns, "old", image="postgres:9.6", replicas=1)
    db = wait_for("old reconciled", lambda: reconciled(api, ns, "old"))
    assert container(sts_of(api, ns, "old"))["image"] == "postgres:10"
    assert db["status"]["currentImage"] == "postgres:10"
    wait_for("ImageBelowMinimum event", lambda: "ImageBelowMinimum" in reasons(api, ns, "old"))


def test_invalid_spec_is_reported_once_and_not_retried(api: KubeApi, ns: str, operator: OperatorProcess) -> None:
    create_db(api, ns, "bad", backup={"schedule": "every day", "retention": 3})
    db = wait_for("Invalid", lambda: (d := reconciled(api, ns, "bad")) and d["status"]["phase"] == "Invalid" and d)
    degraded = next(c for c in db["status"]["conditions"] if c["type"] == "Degraded")
    assert degraded["reason"] == "InvalidSpec"
    assert "spec.backup.schedule" in degraded["message"]
    assert api.get("StatefulSet", ns, "bad") is None
    # Several resync periods later there is still one event: kopf got a PermanentError (no retry
    # loop) and the resync timer reconciles without re-reporting an unchanged status.
    time.sleep(RESYNC * 2.5)
    assert reasons(api, ns, "bad").count("InvalidSpec") == 1
    assert "failed permanently" in operator.log()
    patch_db(api, ns, "bad", {"spec": {"backup": {"schedule": "0 4 * * *", "retention": 3}}})
    wait_for("fixed", lambda: (d := reconciled(api, ns, "bad")) and d["status"]["phase"] != "Invalid")
    assert api.get("StatefulSet", ns, "bad") is not None


def test_delete_waits_for_the_snapshot_then_removes_children(api: KubeApi, ns: str) -> None:
    delete_db(api, ns, "pg1")
    job = wait_for("snapshot Job", lambda: api.get("Job", ns, "pg1-snapshot"))
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["snapshot"]
    db = wait_for("Deleting", lambda: (d := get_db(api, ns, "pg1")) and d["status"]["phase"] == "Deleting" and d)
    assert db["metadata"]["finalizers"] == ["stable.imaginedata.com/final-snapshot"]
    assert api.get("StatefulSet", ns, "pg1") is not None  # held while the snapshot runs
    finish_job(api, ns, "pg1-snapshot")
    wait_for("pg1 gone", lambda: get_db(api, ns, "pg1") is None)
    for kind, name in [
        ("StatefulSet", "pg1"),
        ("Service", "pg1"),
        ("ConfigMap", "pg1-config"),
        ("Secret", "pg1-credentials"),
        ("CronJob", "pg1-backup"),
        ("Job", "pg1-snapshot"),
        ("Job", "pg1-upgrade-16-2-0"),
    ]:
        assert api.get(kind, ns, name) is None, f"{kind} {name} survived"
    assert {"SnapshotJobCreated", "SnapshotComplete", "ChildrenDeleted"} <= set(reasons(api, ns, "pg1"))


def test_escape_hatch_releases_a_database_whose_snapshot_fails(api: KubeApi, ns: str) -> None:
    delete_db(api, ns, "old")
    wait_for("snapshot Job", lambda: api.get("Job", ns, "old-snapshot"))
    finish_job(api, ns, "old-snapshot", succeeded=False)
    db = wait_for(
        "SnapshotFailed", lambda: (d := get_db(api, ns, "old")) and d["status"]["phase"] == "SnapshotFailed" and d
    )
    degraded = next(c for c in db["status"]["conditions"] if c["type"] == "Degraded")
    assert "skip-final-snapshot" in degraded["message"]
    warning = wait_for(
        "warning event", lambda: [e for e in events_for(api, ns, "old") if e["reason"] == "SnapshotFailed"]
    )
    assert warning[0]["type"] == "Warning"
    assert get_db(api, ns, "old") is not None  # nothing is deleted silently
    patch_db(api, ns, "old", {"metadata": {"annotations": {"stable.imaginedata.com/skip-final-snapshot": "true"}}})
    wait_for("old released", lambda: get_db(api, ns, "old") is None)
    assert children(api, ns, "StatefulSet") == [
        s for s in children(api, ns, "StatefulSet") if s["metadata"]["name"] != "old"
    ]
    assert api.get("Job", ns, "old-snapshot") is None
    assert "SnapshotSkipped" in reasons(api, ns, "old")


def test_storage_growth_resizes_claims_and_recreates_the_statefulset(api: KubeApi, ns: str) -> None:
    create_db(api, ns, "grow", replicas=1)
    wait_for("grow reconciled", lambda: reconciled(api, ns, "grow"))
    # Play the StatefulSet and volume controllers: a bound claim of pod 0 in an expandable class.
    api.request(
        "POST",
        "/apis/storage.k8s.io/v1/storageclasses",
        body={
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": f"expandable-{ns}"},
            "provisioner": "example.com/none",
            "allowVolumeExpansion": True,
        },
    )
    selector = sts_of(api, ns, "grow")["spec"]["selector"]["matchLabels"]
    api.create(
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "data-grow-0", "namespace": ns, "labels": selector},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": f"expandable-{ns}",
                "volumeName": f"pv-{ns}",
                "resources": {"requests": {"storage": "1Gi"}},
            },
        }
    )
    api.patch_merge(
        api.path("PersistentVolumeClaim", ns, "data-grow-0") + "/status",
        {"status": {"phase": "Bound", "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"]}},
    )
    old_uid = sts_of(api, ns, "grow")["metadata"]["uid"]
    patch_db(api, ns, "grow", {"spec": {"storage-size": "2Gi"}})
    wait_for(
        "claim resized",
        lambda: (
            api.get("PersistentVolumeClaim", ns, "data-grow-0")["spec"]["resources"]["requests"]["storage"] == "2Gi"
        ),
    )
    # volumeClaimTemplates are immutable: the operator deletes the StatefulSet orphaning its pods;
    # play the garbage collector that would then drop the orphan finalizer.
    doomed = wait_for(
        "orphaning delete",
        lambda: (s := api.get("StatefulSet", ns, "grow")) and s["metadata"].get("deletionTimestamp") and s,
    )
    assert doomed["metadata"]["finalizers"] == ["orphan"]
    api.patch_merge(api.path("StatefulSet", ns, "grow"), {"metadata": {"finalizers": None}})
    new = wait_for(
        "recreated", lambda: (s := api.get("StatefulSet", ns, "grow")) and s["metadata"]["uid"] != old_uid and s
    )
    assert new["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "2Gi"
    assert {"VolumeResized", "StatefulSetRecreating"} <= set(reasons(api, ns, "grow"))
    wait_for("grow reconciled", lambda: reconciled(api, ns, "grow"))


def test_secrets_never_reach_logs_or_events(api: KubeApi, ns: str, operator: OperatorProcess) -> None:
    create_db(api, ns, "leak", replicas=1)
    wait_for("leak reconciled", lambda: reconciled(api, ns, "leak"))
    passwords = [v for v in secret_values(api, ns) if len(v) == 32]
    assert passwords, "expected generated passwords to search for"
    log = operator.log()
    assert "SecretCreated" in log  # the captured log is the real, verbose one
    events = " ".join(f"{e.get('message')} {e.get('reason')}" for e in events_for(api, ns))
    for password in passwords:
        assert password not in log
        assert password not in events
