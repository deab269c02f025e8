"""The operator's whole lifecycle on a real control plane, running as the ServiceAccount of
`bd operator manifests` (so every feature here also proves the RBAC is enough).

kube-controller-manager (StatefulSet, Job, CronJob, garbage collector), kube-scheduler and KWOK
(the kubelet's part: Pods Running/Ready, Job Pods Succeeded, PVCs Bound) do the rest: no test
writes a status that a controller or the kubelet would write.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from braindump_cli.k8s.client import KubeApi
from braindump_cli.k8s.operator.status import job_state
from tests.operator.conftest import (
    OperatorProcess,
    OperatorSetup,
    create_db,
    delete_db,
    events_for,
    get_db,
    new_namespace,
    patch_db,
    reasons,
    reconciled,
    secret_values,
    start_operator,
    wait_for,
)

pytestmark = [pytest.mark.kube, pytest.mark.slow]

RESYNC = 3
SLOW = 180  # seconds a step of the real controllers may take on a loaded 2-core machine (a deadline)


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


def pods_of(api: KubeApi, ns: str, name: str) -> list[dict[str, Any]]:
    """The Database's Pods (made by the StatefulSet controller from the template's labels)."""
    selector = f"app.kubernetes.io/component=database,app.kubernetes.io/instance={name}"
    return list(api.request("GET", f"/api/v1/namespaces/{ns}/pods", query={"labelSelector": selector})["items"])


def pod_ready(pod: dict[str, Any]) -> bool:
    status = pod.get("status") or {}
    ready = any(c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions") or [])
    return status.get("phase") == "Running" and ready and not pod["metadata"].get("deletionTimestamp")


def rolled_out(api: KubeApi, ns: str, name: str, replicas: int, pod_check: Callable[[dict[str, Any]], bool]) -> bool:
    """The StatefulSet controller finished its rolling update: every Pod is new, Ready and passes `pod_check`."""
    status = sts_of(api, ns, name).get("status") or {}
    pods = pods_of(api, ns, name)
    return (
        status.get("updateRevision") == status.get("currentRevision")
        and status.get("updatedReplicas") == replicas
        and len(pods) == replicas
        and all(pod_ready(p) and pod_check(p) for p in pods)
    )


def job_is(api: KubeApi, ns: str, name: str, state: str) -> dict[str, Any] | None:
    job = api.get("Job", ns, name)
    return job if job is not None and job_state(job) == state else None


def phase_is(api: KubeApi, ns: str, name: str, phase: str) -> dict[str, Any] | None:
    db = reconciled(api, ns, name)
    return db if db is not None and db["status"].get("phase") == phase else None


def condition(db: dict[str, Any], ctype: str) -> dict[str, Any]:
    return next(c for c in db["status"]["conditions"] if c["type"] == ctype)


def event_order(api: KubeApi, ns: str, name: str) -> list[str]:
    """Reasons in the order they were first reported (resourceVersion orders creation)."""
    events = sorted(events_for(api, ns, name), key=lambda e: int(e["metadata"]["resourceVersion"]))
    return [e["reason"] for e in events]


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

    assert can("watch", "jobs.batch")
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
    assert {c["type"] for c in done["status"]["conditions"]} >= {"Ready", "Progressing", "Degraded", "Initialized"}

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


def test_pods_run_the_init_job_completes_and_the_database_is_ready(api: KubeApi, ns: str) -> None:
    db = wait_for("pg1 Ready", lambda: phase_is(api, ns, "pg1", "Ready"), timeout=SLOW)
    # the StatefulSet controller made the Pods, the scheduler placed them, KWOK runs them
    pods = pods_of(api, ns, "pg1")
    assert sorted(p["metadata"]["name"] for p in pods) == ["pg1-0", "pg1-1"]
    assert all(pod_ready(p) and p["spec"]["nodeName"].startswith("kwok-node-") for p in pods)
    sts = sts_of(api, ns, "pg1")
    assert sts["status"]["readyReplicas"] == 2
    assert db["status"]["readyReplicas"] == 2  # mirrored from the StatefulSet controller's status
    assert (condition(db, "Ready")["status"], condition(db, "Ready")["reason"]) == ("True", "AllReplicasReady")
    # the Job controller completed the init Job from its Pod's success
    init = job_is(api, ns, "pg1-init", "complete")
    assert init is not None
    assert init["status"]["succeeded"] == 1
    assert (condition(db, "Initialized")["status"], condition(db, "Initialized")["reason"]) == (
        "True",
        "InitJobComplete",
    )
    claims = api.list("PersistentVolumeClaim", ns, label_selector="app.kubernetes.io/instance=pg1")
    assert sorted((c["metadata"]["name"], c["status"]["phase"]) for c in claims) == [
        ("data-pg1-0", "Bound"),
        ("data-pg1-1", "Bound"),
    ]


def test_update_replicas_and_port(api: KubeApi, ns: str) -> None:
    patch_db(api, ns, "pg1", {"spec": {"replicas": 3, "port": 5433}})
    wait_for("replicas 3", lambda: sts_of(api, ns, "pg1")["spec"]["replicas"] == 3)
    sts = sts_of(api, ns, "pg1")
    assert [p["containerPort"] for p in container(sts)["ports"]] == [5433]
    wait_for("service port", lambda: api.get("Service", ns, "pg1")["spec"]["ports"][0]["port"] == 5433)
    wait_for("configmap port", lambda: api.get("ConfigMap", ns, "pg1-config")["data"]["DB_PORT"] == "5433")
    wait_for(
        "3 replicas Ready",
        lambda: (d := phase_is(api, ns, "pg1", "Ready")) and d["status"]["readyReplicas"] == 3 and d,
        timeout=SLOW,
    )
    port = lambda p: p["spec"]["containers"][0]["ports"][0]["containerPort"] == 5433  # noqa: E731
    wait_for("the Pods rolled to port 5433", lambda: rolled_out(api, ns, "pg1", 3, port), timeout=SLOW)
    wait_for("Ready with 3", lambda: (d := phase_is(api, ns, "pg1", "Ready")) and d["status"]["readyReplicas"] == 3)


def test_image_upgrade_runs_a_job_before_the_statefulset_rolls(api: KubeApi, ns: str) -> None:
    patch_db(api, ns, "pg1", {"spec": {"image": "postgres:16.2"}})
    job = wait_for("upgrade Job", lambda: api.get("Job", ns, "pg1-upgrade-16-2-0"))
    env = {e["name"]: e["value"] for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert (env["BD_FROM_IMAGE"], env["BD_TO_IMAGE"]) == ("postgres:16.1", "postgres:16.2")
    wait_for("upgrade Job Complete", lambda: job_is(api, ns, "pg1-upgrade-16-2-0", "complete"), timeout=SLOW)
    wait_for("rolled", lambda: container(sts_of(api, ns, "pg1"))["image"] == "postgres:16.2", timeout=SLOW)

    image = lambda p: p["spec"]["containers"][0]["image"] == "postgres:16.2"  # noqa: E731
    wait_for(
        "every Pod replaced by the StatefulSet controller", lambda: rolled_out(api, ns, "pg1", 3, image), timeout=SLOW
    )
    db = wait_for("Ready on 16.2", lambda: phase_is(api, ns, "pg1", "Ready"), timeout=SLOW)
    assert db["status"]["currentImage"] == "postgres:16.2"
    order = event_order(api, ns, "pg1")
    assert order.index("UpgradeJobCreated") < order.index("UpgradeRolled")


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


def test_backup_cronjob_fires_a_backup_job(api: KubeApi, ns: str) -> None:
    create_db(api, ns, "bk", replicas=1, backup={"schedule": "*/1 * * * *", "retention": 2})
    wait_for("bk Ready", lambda: phase_is(api, ns, "bk", "Ready"), timeout=SLOW)
    cron = api.get("CronJob", ns, "bk-backup")
    assert cron is not None

    def fired() -> list[dict[str, Any]]:
        jobs = [
            j
            for j in api.request("GET", api.path("Job", ns))["items"]
            if any(
                r["kind"] == "CronJob" and r["uid"] == cron["metadata"]["uid"]
                for r in j["metadata"].get("ownerReferences") or []
            )
        ]
        return [j for j in jobs if job_state(j) == "complete"]

    # the CronJob controller fires on the next minute boundary, the Job controller completes it
    (job, *_) = wait_for("a backup Job Complete", fired, timeout=SLOW)
    assert job["spec"]["template"]["spec"]["containers"][0]["args"][0] == "backup"
    assert wait_for(
        "lastSuccessfulTime", lambda: api.get("CronJob", ns, "bk-backup")["status"].get("lastSuccessfulTime")
    )
    # a CronJob firing every minute would load the rest of the session: remove it (no snapshot)
    patch_db(api, ns, "bk", {"metadata": {"annotations": {"stable.imaginedata.com/skip-final-snapshot": "true"}}})
    delete_db(api, ns, "bk")
    wait_for("bk gone", lambda: get_db(api, ns, "bk") is None, timeout=SLOW)
    assert api.get("CronJob", ns, "bk-backup") is None


def test_storage_growth_resizes_claims_and_recreates_the_statefulset(api: KubeApi, ns: str) -> None:
    create_db(api, ns, "grow", replicas=1)
    wait_for("grow Ready", lambda: phase_is(api, ns, "grow", "Ready"), timeout=SLOW)
    claim = api.get("PersistentVolumeClaim", ns, "data-grow-0")  # made by the StatefulSet controller
    assert claim is not None
    assert claim["status"]["phase"] == "Bound"  # KWOK provisioned and bound a volume
    old_uid = sts_of(api, ns, "grow")["metadata"]["uid"]
    patch_db(api, ns, "grow", {"spec": {"storage-size": "2Gi"}})
    wait_for(
        "claim resized",
        lambda: (
            api.get("PersistentVolumeClaim", ns, "data-grow-0")["spec"]["resources"]["requests"]["storage"] == "2Gi"
        ),
    )
    # volumeClaimTemplates are immutable: the operator deletes the StatefulSet orphaning its Pods,
    # the garbage collector completes that delete, the operator recreates it and it adopts the Pod
    new = wait_for(
        "recreated",
        lambda: (s := api.get("StatefulSet", ns, "grow")) and s["metadata"]["uid"] != old_uid and s,
        timeout=SLOW,
    )
    assert new["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "2Gi"
    assert {"VolumeResized", "StatefulSetRecreating"} <= set(reasons(api, ns, "grow"))

    def adopted() -> bool:
        pods = pods_of(api, ns, "grow")
        refs = [r["uid"] for p in pods for r in p["metadata"].get("ownerReferences") or []]
        return len(pods) == 1 and refs == [new["metadata"]["uid"]] and pod_ready(pods[0])

    wait_for("the Pod owned by the new StatefulSet", adopted, timeout=SLOW)
    wait_for("grow Ready again", lambda: phase_is(api, ns, "grow", "Ready"), timeout=SLOW)


def test_delete_waits_for_the_snapshot_then_removes_children(api: KubeApi, ns: str) -> None:
    delete_db(api, ns, "pg1")
    job = wait_for("snapshot Job", lambda: api.get("Job", ns, "pg1-snapshot"))
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["snapshot"]
    wait_for("pg1 gone", lambda: get_db(api, ns, "pg1") is None, timeout=SLOW)
    order = event_order(api, ns, "pg1")
    # the finalizer held the Database until the Job controller reported the snapshot complete
    assert order.index("SnapshotJobCreated") < order.index("SnapshotComplete") < order.index("ChildrenDeleted")
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
    # the Pods go with their StatefulSet (garbage collector) and KWOK removes them
    wait_for("pg1 Pods gone", lambda: pods_of(api, ns, "pg1") == [], timeout=SLOW)


def test_failing_snapshot_degrades_and_the_escape_hatch_releases(api: KubeApi, ns: str) -> None:
    # the sandbox's KWOK fails the Pods of Jobs whose instance label starts with fail-
    create_db(api, ns, "fail-snap", replicas=1)
    wait_for("fail-snap Pods Ready", lambda: [p for p in pods_of(api, ns, "fail-snap") if pod_ready(p)], timeout=SLOW)
    delete_db(api, ns, "fail-snap")
    wait_for("snapshot Job", lambda: api.get("Job", ns, "fail-snap-snapshot"))
    # the Job controller gives up after backoffLimit failed Pods (with its own back-off between them)
    failed = wait_for(
        "snapshot Job Failed",
        lambda: (
            (j := api.get("Job", ns, "fail-snap-snapshot"))
            and any(
                c["type"] == "Failed" and c["status"] == "True" for c in j.get("status", {}).get("conditions") or []
            )
            and j
        ),
        timeout=SLOW,
    )
    assert failed["status"]["failed"] == 3  # backoffLimit 2: three Pods failed, each through KWOK
    db = wait_for(
        "SnapshotFailed",
        lambda: (d := get_db(api, ns, "fail-snap")) and d["status"]["phase"] == "SnapshotFailed" and d,
        timeout=SLOW,
    )
    degraded = condition(db, "Degraded")
    assert degraded["status"] == "True"
    assert "skip-final-snapshot" in degraded["message"]
    warning = wait_for(
        "warning event", lambda: [e for e in events_for(api, ns, "fail-snap") if e["reason"] == "SnapshotFailed"]
    )
    assert warning[0]["type"] == "Warning"
    assert get_db(api, ns, "fail-snap") is not None  # nothing is deleted silently
    patch_db(
        api, ns, "fail-snap", {"metadata": {"annotations": {"stable.imaginedata.com/skip-final-snapshot": "true"}}}
    )
    wait_for("fail-snap released", lambda: get_db(api, ns, "fail-snap") is None, timeout=SLOW)
    assert api.get("StatefulSet", ns, "fail-snap") is None
    assert api.get("Job", ns, "fail-snap-snapshot") is None
    assert "SnapshotSkipped" in reasons(api, ns, "fail-snap")


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
