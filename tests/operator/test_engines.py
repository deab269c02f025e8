"""Pure logic: how a Database picks its engine, and what each profile renders.

What the PostgreSQL scripts do is proven against real PostgreSQL in test_postgres_profile.py.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from braindump_cli.k8s.operator.builders import (
    DbRef,
    build_backup_claim,
    build_backup_cronjob,
    build_init_job,
    build_secret,
    build_snapshot_job,
    build_statefulset,
    build_upgrade_job,
)
from braindump_cli.k8s.operator.engines import (
    BACKUP_MOUNT,
    DATA_MOUNT,
    HOOK_COMMAND,
    infer_engine,
    postgres_uid,
    script,
)
from braindump_cli.k8s.operator.model import InvalidSpecError, OperatorConfig, parse_spec, plan_image

DB = DbRef(name="orders", namespace="shop", uid="u-1")
CONFIG = OperatorConfig()
BASE = {"name": "orders", "port": 5432, "storage-size": "1Gi", "replicas": 1, "backup": {"schedule": "@daily"}}


def _spec(image: str, **extra: Any) -> Any:
    return parse_spec({**BASE, "image": image, **extra})


def _pod(obj: dict[str, Any]) -> dict[str, Any]:
    spec = obj["spec"]
    if obj["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    return dict(spec["template"]["spec"])


def _all_rendered(image: str, **extra: Any) -> list[dict[str, Any]]:
    spec = _spec(image, **extra)
    cron = build_backup_cronjob(DB, spec, CONFIG, image=image)
    assert cron is not None
    return [
        build_statefulset(DB, spec, CONFIG, image=image),
        build_init_job(DB, spec, CONFIG, image=image),
        build_snapshot_job(DB, spec, CONFIG, image=image),
        build_upgrade_job(DB, spec, CONFIG, from_image=image, to_image=image + ".1"),
        cron,
    ]


@pytest.mark.parametrize(
    ("image", "engine"),
    [
        ("postgres:16.4", "postgres"),
        ("postgres", "postgres"),
        ("docker.io/library/postgres:16.4-alpine", "postgres"),
        ("mirror.example.com:5000/library/postgres:15@sha256:" + "a" * 64, "postgres"),
        ("bitnami/postgresql:16", "hook"),  # another image with other conventions
        ("postgres-custom:1", "hook"),
        ("registry.example.com/postgres/server:16", "hook"),  # the repository's name is `server`
        ("super-great-docker-image", "hook"),
    ],
)
def test_engine_is_inferred_from_the_repository_name(image: str, engine: str) -> None:
    assert infer_engine(image) == engine
    assert _spec(image).engine_name == engine


def test_spec_engine_overrides_the_inference() -> None:
    assert _spec("registry.example.com/team/pg:16.4", engine="postgres").engine_name == "postgres"
    assert _spec("postgres:16.4", engine="hook").engine_name == "hook"
    assert _spec("postgres:16.4").engine is None  # not written back: the spec stays as the user wrote it
    with pytest.raises(InvalidSpecError) as err:
        _spec("postgres:16.4", engine="mysql")
    assert err.value.path == "spec.engine"


def test_hook_engine_keeps_the_generic_contract() -> None:
    for obj in _all_rendered("registry.example.com/team/db:2.1"):
        (container,) = _pod(obj)["containers"]
        if obj["kind"] == "StatefulSet":
            assert "command" not in container
            assert container["volumeMounts"] == [{"name": "data", "mountPath": DATA_MOUNT}]
        else:
            assert container["command"] == [HOOK_COMMAND]
    assert build_backup_claim(DB, _spec("registry.example.com/team/db:2.1"), CONFIG) is None


def test_postgres_engine_runs_the_stock_image_without_the_hook() -> None:
    rendered = _all_rendered("postgres:16.4")
    assert HOOK_COMMAND not in json.dumps(rendered)
    for obj in rendered:
        pod = _pod(obj)
        (container,) = pod["containers"]
        assert container["image"].startswith("postgres:16.4")
        assert container["command"][:2] == ["sh", "-c"]
        assert pod["securityContext"] == {"runAsUser": 999, "runAsGroup": 999, "fsGroup": 999, "runAsNonRoot": True}
        text = container["command"][2]
        # the kubelet expands $(VAR) and $$ in command and args: the scripts use neither
        assert "$(" not in text
        assert "$$" not in text
        # paths come from env (mapped to temp dirs by the real-server tests), never literals
        assert DATA_MOUNT not in text
        assert BACKUP_MOUNT not in text


def test_postgres_server_has_probes_port_and_pgdata_on_the_volume() -> None:
    sts = build_statefulset(DB, _spec("postgres:16.4", port=6543), CONFIG, image="postgres:16.4")
    (c,) = sts["spec"]["template"]["spec"]["containers"]
    assert c["ports"] == [{"name": "db", "containerPort": 6543, "protocol": "TCP"}]
    (pgdata,) = c["env"]
    assert pgdata["name"] == "PGDATA"
    assert pgdata["value"].startswith(DATA_MOUNT + "/")
    assert c["volumeMounts"] == [{"name": "data", "mountPath": DATA_MOUNT}]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert "pg_isready" in c[probe]["exec"]["command"][2]
    assert "--pwfile" in c["command"][2]  # the password reaches initdb in a file, not an argument


def test_postgres_jobs_mount_the_backup_volume_that_outlives_the_database() -> None:
    spec = _spec("postgres:16.4")
    claim = build_backup_claim(DB, spec, CONFIG)
    assert claim is not None
    assert "ownerReferences" not in claim["metadata"]
    sts = build_statefulset(DB, spec, CONFIG, image="postgres:16.4")
    selector = sts["spec"]["selector"]["matchLabels"]
    assert not all(claim["metadata"]["labels"].get(k) == v for k, v in selector.items())  # storage growth skips it
    init = build_init_job(DB, spec, CONFIG, image="postgres:16.4")
    assert "volumes" not in _pod(init)
    for job in _all_rendered("postgres:16.4")[2:]:
        pod = _pod(job)
        assert pod["volumes"] == [{"name": "backups", "persistentVolumeClaim": {"claimName": "orders-backups"}}]
        env = {e["name"]: e["value"] for e in pod["containers"][0]["env"]}
        assert env["BD_BACKUP_DIR"] == BACKUP_MOUNT


def test_the_password_is_only_in_the_secret() -> None:
    spec = _spec("postgres:16.4")
    password = "s3cretPassw0rdThatIsLongEnough12"
    secret = build_secret(DB, spec, CONFIG, password=password)
    assert password in json.dumps(secret)
    assert password not in json.dumps(_all_rendered("postgres:16.4"))
    for obj in _all_rendered("postgres:16.4"):
        (container,) = _pod(obj)["containers"]
        assert {"secretRef": {"name": "orders-credentials"}} in container["envFrom"]


def test_alpine_images_run_as_their_postgres_uid() -> None:
    assert postgres_uid("postgres:16.4-alpine3.20") == 70
    assert postgres_uid("postgres:16.4-bookworm") == 999
    sts = build_statefulset(DB, _spec("postgres:16-alpine"), CONFIG, image="postgres:16-alpine")
    assert sts["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == 70


def test_postgres_minor_versions_upgrade_and_major_versions_are_refused() -> None:
    minor = plan_image("postgres:16.6", "postgres:16.4", engine="postgres")
    assert (minor.needs_upgrade, minor.refused) == (True, None)
    major = plan_image("postgres:17.2", "postgres:16.4", engine="postgres")
    assert not major.needs_upgrade
    assert major.refused is not None
    assert "major upgrade postgres:16.4 -> postgres:17.2 refused" in major.refused
    assert "Restore a backup" in major.refused
    # the hook engine leaves major versions to the image's upgrade hook
    assert plan_image("db:17.2", "db:16.4", engine="hook").needs_upgrade
    # a raised minimum that crosses a major version is refused too, with the same reason
    raised = plan_image("postgres:15.1", "postgres:15.1", min_version="16", engine="postgres")
    assert raised.refused is not None
    assert "major upgrade" in raised.refused


def test_every_job_script_starts_strict() -> None:
    for action in ("server", "init", "backup", "snapshot", "upgrade"):
        assert script(action).startswith("set -eu\n")
        assert "set -x" not in script(action)
