"""Restarts mid-lifecycle on the real control plane: kube-controller-manager, or the operator
itself, stops and starts again while a Database is being created or deleted; it still converges."""

from __future__ import annotations

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
    get_db,
    new_namespace,
    reasons,
    reconciled,
    running,
    start_operator,
    wait_for,
)

pytestmark = [pytest.mark.kube, pytest.mark.slow]

SLOW = 180  # a deadline for the real controllers on a loaded machine, not a timing claim


def _operator(setup: OperatorSetup, log_dir: Path, name: str, ns: str) -> OperatorProcess:
    args = ("--namespace", ns, "--standalone", "--resync-seconds", "5", "--poll-seconds", "1")
    return start_operator(setup.sa_kubeconfig, log_dir, name, *args, "--watch-timeout", "20")


def _ready(api: KubeApi, ns: str, name: str) -> dict[str, Any] | None:
    db = reconciled(api, ns, name)
    return db if db is not None and db["status"].get("phase") == "Ready" else None


def _init_complete(api: KubeApi, ns: str, name: str) -> bool:
    job = api.get("Job", ns, f"{name}-init")
    return job is not None and job_state(job) == "complete"


def test_controller_manager_restart_while_a_database_is_created(
    operator_setup: OperatorSetup, api: KubeApi, module_log_dir: Path
) -> None:
    ns = new_namespace(api, "op-kcm")
    with running(_operator(operator_setup, module_log_dir, "op-kcm", ns)):
        create_db(api, ns, "kcm", replicas=2)
        wait_for("the StatefulSet", lambda: api.get("StatefulSet", ns, "kcm"), timeout=SLOW)
        operator_setup.plane.restart_controller_manager()
        db = wait_for("kcm Ready after the restart", lambda: _ready(api, ns, "kcm"), timeout=SLOW)
        assert db["status"]["readyReplicas"] == 2
        assert _init_complete(api, ns, "kcm")


def test_operator_restart_mid_create_and_mid_delete(
    operator_setup: OperatorSetup, api: KubeApi, module_log_dir: Path
) -> None:
    ns = new_namespace(api, "op-restart")
    first = _operator(operator_setup, module_log_dir, "op-first", ns)
    with running(first):
        create_db(api, ns, "rs", replicas=2)
        wait_for("the StatefulSet", lambda: api.get("StatefulSet", ns, "rs"), timeout=SLOW)
    # stopped before it saw the Database Ready: the next operator resumes from the cluster's state
    second = _operator(operator_setup, module_log_dir, "op-second", ns)
    with running(second):
        db = wait_for("rs Ready", lambda: _ready(api, ns, "rs"), timeout=SLOW)
        assert db["status"]["readyReplicas"] == 2
        assert _init_complete(api, ns, "rs")
        delete_db(api, ns, "rs")
        wait_for("the snapshot Job", lambda: api.get("Job", ns, "rs-snapshot"), timeout=SLOW)
    # stopped while the finalizer waits for the snapshot: the third one finishes the deletion
    third = _operator(operator_setup, module_log_dir, "op-third", ns)
    with running(third):
        wait_for("rs gone", lambda: get_db(api, ns, "rs") is None, timeout=SLOW)
        assert api.get("StatefulSet", ns, "rs") is None
    # Each Job was created exactly once across the three operators. Counted in their logs, which bd
    # writes when the POST succeeds: the Event of a Job created just as SIGTERM arrives can be lost
    # with kopf's event queue (seen in CI: the first operator logged InitJobCreated 66 ms after SIGTERM,
    # and no Event followed), so Events may only be fewer, never more.
    logs = "".join(op.log() for op in (first, second, third))
    for reason in ("InitJobCreated", "SnapshotJobCreated"):
        assert logs.count(f"{ns}/rs: {reason}: ") == 1, reason
        assert reasons(api, ns, "rs").count(reason) <= 1, reason
