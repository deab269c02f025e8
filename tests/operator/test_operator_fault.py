"""Fault: the apiserver restarts while 50 Databases reconcile; all converge, nothing duplicates."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from braindump_cli.k8s.client import KubeApi
from tests.operator.conftest import (
    OperatorSetup,
    children,
    create_db,
    get_db,
    new_namespace,
    reconciled,
    running,
    start_operator,
    wait_for,
)

pytestmark = [pytest.mark.kube, pytest.mark.slow]

COUNT = 50


def test_apiserver_restart_while_50_databases_reconcile(
    operator_setup: OperatorSetup, api: KubeApi, module_log_dir: Path
) -> None:
    cluster = operator_setup.cluster
    ns = new_namespace(api, "op-fault")
    op = start_operator(
        cluster.admin_kubeconfig,
        module_log_dir,
        "op-fault",
        "--namespace",
        ns,
        "--standalone",
        "--resync-seconds",
        "10",
        "--watch-timeout",
        "15",
        # few workers: reconciling 50 takes long enough for the restart to land in the middle
        "--workers",
        "2",
    )
    names = [f"db{i:02d}" for i in range(COUNT)]
    with running(op):
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda n: create_db(api, ns, n, replicas=1), names))
        wait_for("the first Databases reconciled", lambda: any(reconciled(api, ns, n) for n in names[:10]))
        done_before = sum(1 for n in names if reconciled(api, ns, n))
        cluster.restart_apiserver()
        assert done_before < COUNT, "the restart must hit Databases still being reconciled"
        for name in names:
            wait_for(f"{name} reconciled", lambda n=name: reconciled(api, ns, n), timeout=120)
        for kind in ("StatefulSet", "Service", "ConfigMap", "Job"):
            objs = children(api, ns, kind)
            owners = Counter(o["metadata"]["ownerReferences"][0]["name"] for o in objs)
            assert set(owners) == set(names), kind
            assert set(owners.values()) == {1}, (kind, owners.most_common(3))
        secrets = api.request("GET", f"/api/v1/namespaces/{ns}/secrets")["items"]
        assert len(secrets) == COUNT
        # the real controllers and KWOK carry every one on to Ready (Pods Running, init Job Complete)
        for name in names:
            wait_for(
                f"{name} Ready",
                lambda n=name: (d := get_db(api, ns, n)) and d["status"].get("phase") == "Ready",
                timeout=300,
            )
        assert op.proc.poll() is None, "the operator must survive the restart"
