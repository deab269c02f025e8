"""Desired state: the child objects one Database should have, as plain dicts.

Pure functions of (Database identity, parsed spec, operator config). The reconciler applies them
with server-side apply (or creates them once: Secret and Jobs) and compares them with what exists
to spot children edited by hand.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from braindump_cli.k8s.operator.engines import DATA_MOUNT as DATA_MOUNT
from braindump_cli.k8s.operator.engines import profile
from braindump_cli.k8s.operator.model import (
    LABEL_DATABASE,
    LABEL_MANAGED_BY,
    MANAGED_BY,
    DatabaseSpec,
    OperatorConfig,
    image_version,
)

Obj = dict[str, Any]


@dataclass(frozen=True)
class DbRef:
    """Identity of the Database that owns the children."""

    name: str
    namespace: str
    uid: str
    generation: int = 1


def _dns_label(text: str, limit: int) -> str:
    """A DNS-1035 label (what Service names need) of at most `limit` characters, stable per input."""
    label = re.sub(r"[^a-z0-9-]", "-", text.lower()).strip("-") or "db"
    if not label[0].isalpha():
        label = "db-" + label
    if len(label) > limit:
        digest = hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:8]
        label = label[: limit - 9].rstrip("-") + "-" + digest
    return label


@dataclass(frozen=True)
class ChildNames:
    statefulset: str
    service: str
    configmap: str
    secret: str
    init_job: str
    snapshot_job: str
    backup_cronjob: str
    backup_claim: str

    def upgrade_job(self, image: str) -> str:
        version = image_version(image)
        slug = "-".join(str(v) for v in version) if version else hashlib.sha1(image.encode()).hexdigest()[:8]  # noqa: S324
        return _dns_label(f"{self.statefulset}-upgrade-{slug}", 63)


def child_names(db_name: str) -> ChildNames:
    # StatefulSet names feed pod names and the controller-revision-hash label (<= 63 with suffixes),
    # CronJob names get a timestamp suffix for their Jobs: hence 52.
    return ChildNames(
        statefulset=_dns_label(db_name, 52),
        service=_dns_label(db_name, 63),
        configmap=_dns_label(f"{db_name}-config", 63),
        secret=_dns_label(f"{db_name}-credentials", 63),
        init_job=_dns_label(f"{db_name}-init", 63),
        snapshot_job=_dns_label(f"{db_name}-snapshot", 63),
        backup_cronjob=_dns_label(f"{db_name}-backup", 52),
        backup_claim=_dns_label(f"{db_name}-backups", 63),
    )


def selector_labels(db: DbRef) -> dict[str, str]:
    return {"app.kubernetes.io/name": "database", "app.kubernetes.io/instance": _dns_label(db.name, 63)}


def labels(db: DbRef, component: str) -> dict[str, str]:
    return {
        **selector_labels(db),
        "app.kubernetes.io/component": component,
        LABEL_MANAGED_BY: MANAGED_BY,
        LABEL_DATABASE: _dns_label(db.name, 63),
    }


def owner_reference(db: DbRef, config: OperatorConfig) -> Obj:
    return {
        "apiVersion": config.api_version,
        "kind": config.kind,
        "name": db.name,
        "uid": db.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _meta(db: DbRef, name: str, component: str, config: OperatorConfig) -> Obj:
    return {
        "name": name,
        "namespace": db.namespace,
        "labels": labels(db, component),
        "ownerReferences": [owner_reference(db, config)],
    }


def _env_from(names: ChildNames) -> list[Obj]:
    return [{"configMapRef": {"name": names.configmap}}, {"secretRef": {"name": names.secret}}]


def build_statefulset(db: DbRef, spec: DatabaseSpec, config: OperatorConfig, *, image: str) -> Obj:
    """`image` is passed separately: during an upgrade the StatefulSet keeps the old one."""
    names = child_names(db.name)
    pod_labels = labels(db, "database")
    parts = profile(spec.engine_name).server(image=image, port=spec.port, env_from=_env_from(names))
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": _meta(db, names.statefulset, "database", config),
        "spec": {
            "serviceName": names.service,
            "replicas": spec.replicas,
            "selector": {"matchLabels": selector_labels(db)},
            "template": {
                "metadata": {"labels": pod_labels},
                "spec": {**parts.pod, "containers": [parts.container]},
            },
            "volumeClaimTemplates": [
                {
                    "apiVersion": "v1",
                    "kind": "PersistentVolumeClaim",
                    "metadata": {"name": "data", "labels": selector_labels(db)},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": spec.storage_size}},
                    },
                }
            ],
        },
    }


def build_service(db: DbRef, spec: DatabaseSpec, config: OperatorConfig) -> Obj:
    names = child_names(db.name)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(db, names.service, "database", config),
        "spec": {
            "clusterIP": "None",
            "publishNotReadyAddresses": True,
            "selector": selector_labels(db),
            "ports": [{"name": "db", "port": spec.port, "targetPort": spec.port, "protocol": "TCP"}],
        },
    }


def build_configmap(db: DbRef, spec: DatabaseSpec, config: OperatorConfig) -> Obj:
    names = child_names(db.name)
    host = f"{names.service}.{db.namespace}.svc"
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta(db, names.configmap, "config", config),
        "data": {
            "DB_HOST": host,
            "DB_PRIMARY_HOST": f"{names.statefulset}-0.{host}",
            "DB_PORT": str(spec.port),
            "DB_NAME": spec.name,
            "DB_SERVICE": names.service,
            "DB_NAMESPACE": db.namespace,
        },
    }


def generate_password(length: int = 32) -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


def build_secret(db: DbRef, spec: DatabaseSpec, config: OperatorConfig, *, password: str) -> Obj:
    """Created once and never overwritten; `password` comes from `generate_password()`."""
    names = child_names(db.name)
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": _meta(db, names.secret, "credentials", config),
        "stringData": {"DB_USER": spec.name, "DB_PASSWORD": password},
    }


def _job(
    db: DbRef,
    spec: DatabaseSpec,
    name: str,
    component: str,
    image: str,
    action: str,
    config: OperatorConfig,
    env: Mapping[str, str],
) -> Obj:
    names = child_names(db.name)
    pod_labels = labels(db, component)
    parts = profile(spec.engine_name).job(
        action, image=image, env_from=_env_from(names), env=env, claim=names.backup_claim
    )
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": _meta(db, name, component, config),
        "spec": {
            "backoffLimit": 2,
            "template": {
                "metadata": {"labels": pod_labels},
                "spec": {"restartPolicy": "Never", **parts.pod, "containers": [parts.container]},
            },
        },
    }


def build_init_job(db: DbRef, spec: DatabaseSpec, config: OperatorConfig, *, image: str) -> Obj:
    return _job(db, spec, child_names(db.name).init_job, "init", image, "init", config, {})


def build_snapshot_job(db: DbRef, spec: DatabaseSpec, config: OperatorConfig, *, image: str) -> Obj:
    return _job(db, spec, child_names(db.name).snapshot_job, "snapshot", image, "snapshot", config, {})


def build_upgrade_job(db: DbRef, spec: DatabaseSpec, config: OperatorConfig, *, from_image: str, to_image: str) -> Obj:
    name = child_names(db.name).upgrade_job(to_image)
    env = {"BD_FROM_IMAGE": from_image, "BD_TO_IMAGE": to_image}
    return _job(db, spec, name, "upgrade", to_image, "upgrade", config, env)


def build_backup_cronjob(db: DbRef, spec: DatabaseSpec, config: OperatorConfig, *, image: str) -> Obj | None:
    if spec.backup is None:
        return None
    names = child_names(db.name)
    env = {"BD_BACKUP_RETENTION": str(spec.backup.retention)}
    job = _job(db, spec, names.backup_cronjob, "backup", image, "backup", config, env)
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": _meta(db, names.backup_cronjob, "backup", config),
        "spec": {
            "schedule": spec.backup.schedule,
            "concurrencyPolicy": "Forbid",
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {"metadata": {"labels": labels(db, "backup")}, "spec": job["spec"]},
        },
    }


def build_backup_claim(db: DbRef, spec: DatabaseSpec, config: OperatorConfig) -> Obj | None:
    """The volume the engine's backup, snapshot and upgrade Jobs write to (None for `hook`).

    Created once, as large as `storage-size`, and deliberately without an ownerReference and
    outside the StatefulSet's selector: it outlives the Database (the final snapshot is on it),
    and storage growth leaves it alone. Delete it by hand once its archives are not needed.
    """
    if not profile(spec.engine_name).keeps_backups():
        return None
    names = child_names(db.name)
    instance = _dns_label(db.name, 63)
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {
            "name": names.backup_claim,
            "namespace": db.namespace,
            # not app.kubernetes.io/instance: selections of the Database's data volumes use it
            "labels": {
                "app.kubernetes.io/name": "database-backups",
                "app.kubernetes.io/component": "backups",
                LABEL_MANAGED_BY: MANAGED_BY,
                LABEL_DATABASE: instance,
            },
        },
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": spec.storage_size}}},
    }


def build_children(db: DbRef, spec: DatabaseSpec, config: OperatorConfig, *, image: str) -> list[Obj]:
    """The children kept in shape by server-side apply (Secret and Jobs are created once instead)."""
    children = [
        build_configmap(db, spec, config),
        build_service(db, spec, config),
        build_statefulset(db, spec, config, image=image),
    ]
    cron = build_backup_cronjob(db, spec, config, image=image)
    if cron is not None:
        children.append(cron)
    return children


def drift(desired: Any, actual: Any, path: str = "") -> list[str]:
    """Paths where `actual` does not carry `desired` (fields the server adds are ignored)."""
    if isinstance(desired, Mapping):
        if not isinstance(actual, Mapping):
            return [path or "."]
        out: list[str] = []
        for key, value in desired.items():
            out += drift(value, actual.get(key), f"{path}.{key}" if path else str(key))
        return out
    if isinstance(desired, list):
        if not isinstance(actual, list) or len(actual) != len(desired):
            return [path]
        out = []
        for i, (d, a) in enumerate(zip(desired, actual, strict=True)):
            out += drift(d, a, f"{path}[{i}]")
        return out
    return [] if desired == actual else [path]
