"""Pure logic of the kopf wiring: when a child event means a repair, and the retry backoff."""

from __future__ import annotations

import copy

from braindump_cli.k8s.operator.builders import DbRef, build_configmap, build_service, build_statefulset
from braindump_cli.k8s.operator.handlers import backoff_delay, needs_repair
from braindump_cli.k8s.operator.model import OperatorConfig, parse_spec

CONFIG = OperatorConfig()
RAW = {"name": "app", "port": 5432, "storage-size": "1Gi", "image": "postgres:16.1", "replicas": 2}
DB = DbRef(name="pg1", namespace="demo", uid="u-1")
ENTRY = {"spec": RAW, "ready_replicas": 0, "deleting": False}


def test_children_as_built_need_no_repair() -> None:
    spec = parse_spec(RAW)
    assert needs_repair("Service", build_service(DB, spec, CONFIG), ENTRY, CONFIG) is None
    assert needs_repair("ConfigMap", build_configmap(DB, spec, CONFIG), ENTRY, CONFIG) is None
    assert (
        needs_repair("StatefulSet", build_statefulset(DB, spec, CONFIG, image="postgres:16.1"), ENTRY, CONFIG) is None
    )


def test_edits_and_status_changes_trigger_a_repair() -> None:
    spec = parse_spec(RAW)
    cm = build_configmap(DB, spec, CONFIG)
    cm["data"]["DB_PORT"] = "1"
    assert "data.DB_PORT" in (needs_repair("ConfigMap", cm, ENTRY, CONFIG) or "")
    sts = build_statefulset(DB, spec, CONFIG, image="postgres:16.1")
    scaled = copy.deepcopy(sts)
    scaled["spec"]["replicas"] = 9
    assert needs_repair("StatefulSet", scaled, ENTRY, CONFIG)
    ready = copy.deepcopy(sts)
    ready["status"] = {"readyReplicas": 2}
    assert needs_repair("StatefulSet", ready, ENTRY, CONFIG) == "readyReplicas changed"
    other_image = build_statefulset(DB, spec, CONFIG, image="postgres:16.0")
    assert needs_repair("StatefulSet", other_image, ENTRY, CONFIG)


def test_invalid_spec_never_triggers_repairs() -> None:
    spec = parse_spec(RAW)
    bad = {**ENTRY, "spec": {**RAW, "port": 0}}
    assert needs_repair("Service", build_service(DB, spec, CONFIG), bad, CONFIG) is None


def test_backoff_grows_and_is_capped() -> None:
    assert 0.8 <= backoff_delay(0) <= 1.2
    assert 6.4 <= backoff_delay(3) <= 9.6
    assert all(backoff_delay(n) <= 36 for n in range(50))
