"""Pure logic: the desired children of one Database."""

from __future__ import annotations

from braindump_cli.k8s.operator.builders import (
    DbRef,
    build_backup_cronjob,
    build_children,
    build_configmap,
    build_init_job,
    build_secret,
    build_service,
    build_snapshot_job,
    build_statefulset,
    build_upgrade_job,
    child_names,
    drift,
    generate_password,
)
from braindump_cli.k8s.operator.model import LABEL_MANAGED_BY, OperatorConfig, parse_spec

DB = DbRef(name="pg1", namespace="demo", uid="1234-uid", generation=3)
CONFIG = OperatorConfig()
SPEC = parse_spec(
    {
        "name": "app",
        "port": 5433,
        "storage-size": "2Gi",
        "image": "postgres:16.1",
        "replicas": 3,
        "backup": {"schedule": "0 3 * * *", "retention": 4},
    }
)


def _owned(obj: dict) -> None:  # type: ignore[type-arg]
    meta = obj["metadata"]
    assert meta["namespace"] == "demo"
    assert meta["labels"][LABEL_MANAGED_BY] == "bd-operator"
    (ref,) = meta["ownerReferences"]
    assert ref == {
        "apiVersion": "stable.imaginedata.com/v1",
        "kind": "Database",
        "name": "pg1",
        "uid": "1234-uid",
        "controller": True,
        "blockOwnerDeletion": True,
    }


def test_statefulset_carries_replicas_image_port_and_storage() -> None:
    sts = build_statefulset(DB, SPEC, CONFIG, image="postgres:16.1")
    _owned(sts)
    spec = sts["spec"]
    assert spec["replicas"] == 3
    assert spec["serviceName"] == "pg1"
    (container,) = spec["template"]["spec"]["containers"]
    assert container["image"] == "postgres:16.1"
    assert container["ports"] == [{"name": "db", "containerPort": 5433, "protocol": "TCP"}]
    assert container["envFrom"] == [
        {"configMapRef": {"name": "pg1-config"}},
        {"secretRef": {"name": "pg1-credentials"}},
    ]
    (claim,) = spec["volumeClaimTemplates"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "2Gi"
    # the selector must match the pod labels or the apiserver rejects the StatefulSet
    labels = spec["template"]["metadata"]["labels"]
    assert all(labels[k] == v for k, v in spec["selector"]["matchLabels"].items())


def test_headless_service_and_configmap() -> None:
    svc = build_service(DB, SPEC, CONFIG)
    _owned(svc)
    assert svc["spec"]["clusterIP"] == "None"
    assert svc["spec"]["ports"][0]["port"] == 5433
    cm = build_configmap(DB, SPEC, CONFIG)
    _owned(cm)
    assert cm["data"]["DB_HOST"] == "pg1.demo.svc"
    assert cm["data"]["DB_PORT"] == "5433"
    assert cm["data"]["DB_NAME"] == "app"


def test_secret_holds_the_generated_password_only_in_string_data() -> None:
    password = generate_password()
    assert len(password) == 32
    assert password != generate_password()
    secret = build_secret(DB, SPEC, CONFIG, password=password)
    _owned(secret)
    assert secret["stringData"] == {"DB_USER": "app", "DB_PASSWORD": password}


def test_jobs_run_the_hook_with_connection_details() -> None:
    init = build_init_job(DB, SPEC, CONFIG, image="postgres:16.1")
    snap = build_snapshot_job(DB, SPEC, CONFIG, image="postgres:16.1")
    up = build_upgrade_job(DB, SPEC, CONFIG, from_image="postgres:16.1", to_image="postgres:16.2")
    for job, name, action in (
        (init, "pg1-init", "init"),
        (snap, "pg1-snapshot", "snapshot"),
        (up, "pg1-upgrade-16-2-0", "upgrade"),
    ):
        _owned(job)
        assert job["metadata"]["name"] == name
        (c,) = job["spec"]["template"]["spec"]["containers"]
        assert c["args"] == [action]
        assert {"secretRef": {"name": "pg1-credentials"}} in c["envFrom"]
    env = {e["name"]: e["value"] for e in up["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["BD_FROM_IMAGE"] == "postgres:16.1"
    assert env["BD_TO_IMAGE"] == "postgres:16.2"


def test_backup_cronjob_reads_configmap_and_secret() -> None:
    cron = build_backup_cronjob(DB, SPEC, CONFIG, image="postgres:16.1")
    assert cron is not None
    _owned(cron)
    assert cron["spec"]["schedule"] == "0 3 * * *"
    (c,) = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert c["envFrom"] == [{"configMapRef": {"name": "pg1-config"}}, {"secretRef": {"name": "pg1-credentials"}}]
    assert {"name": "BD_BACKUP_RETENTION", "value": "4"} in c["env"]
    no_backup = parse_spec({"name": "app", "port": 1, "storage-size": "1Gi", "image": "pg:1", "replicas": 1})
    assert build_backup_cronjob(DB, no_backup, CONFIG, image="pg:1") is None
    assert [c["kind"] for c in build_children(DB, no_backup, CONFIG, image="pg:1")] == [
        "ConfigMap",
        "Service",
        "StatefulSet",
    ]


def test_long_and_odd_names_become_valid_dns_labels() -> None:
    names = child_names("9" + "x" * 80 + ".prod")
    for name in (names.statefulset, names.backup_cronjob):
        assert len(name) <= 52
    for name in (names.service, names.configmap, names.secret, names.init_job, names.snapshot_job):
        assert len(name) <= 63
        assert name[0].isalpha()
        assert "." not in name
    # stable: the same Database always gets the same names (idempotent creates)
    assert child_names("9" + "x" * 80 + ".prod") == names


def test_drift_ignores_server_defaults_and_finds_edits() -> None:
    desired = build_service(DB, SPEC, CONFIG)
    actual = {
        **desired,
        "metadata": {**desired["metadata"], "resourceVersion": "7", "uid": "u"},
        "spec": {**desired["spec"], "sessionAffinity": "None", "type": "ClusterIP"},
    }
    assert drift(desired, actual) == []
    edited = {**actual, "spec": {**actual["spec"], "ports": [{**desired["spec"]["ports"][0], "port": 1}]}}
    assert drift(desired, edited) == ["spec.ports[0].port"]
    assert drift(desired, {**actual, "spec": {}}) != []
