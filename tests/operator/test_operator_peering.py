"""Two operators at once (kopf peering): only the higher priority one acts; when it stops, the
other takes over. Both run as the ServiceAccount of `bd operator manifests`."""

from __future__ import annotations

from pathlib import Path

import pytest

from braindump_cli.k8s.client import KubeApi
from tests.operator.conftest import (
    OperatorSetup,
    children,
    create_db,
    events_for,
    new_namespace,
    reconciled,
    running,
    start_operator,
    wait_for,
)

pytestmark = [pytest.mark.kube, pytest.mark.slow]

PEERING = "/apis/kopf.dev/v1/clusterkopfpeerings/bd-operator"
ARGS = ("--all-namespaces", "--resync-seconds", "30", "--poll-seconds", "0.5", "--watch-timeout", "20")


def live_peers(api: KubeApi) -> set[str]:
    status = api.request("GET", PEERING).get("status") or {}
    return {k for k, v in status.items() if isinstance(v, dict) and v.get("lifetime", 0) > 0}


def test_only_one_of_two_operators_acts_and_the_other_takes_over(
    operator_setup: OperatorSetup, api: KubeApi, module_log_dir: Path
) -> None:
    kubeconfig = operator_setup.sa_kubeconfig
    ns = new_namespace(api, "op-peer")
    high = start_operator(kubeconfig, module_log_dir, "op-high", *ARGS, "--priority", "200")
    with running(high):
        wait_for("op-high in the peering", lambda: "op-high" in live_peers(api))
        low = start_operator(kubeconfig, module_log_dir, "op-low", *ARGS, "--priority", "100")
        with running(low):
            wait_for("op-low in the peering", lambda: "op-low" in live_peers(api))
            names = [f"db{i}" for i in range(8)]
            for name in names:
                create_db(api, ns, name, replicas=1, backup={"schedule": "0 2 * * *", "retention": 3})
            for name in names:
                wait_for(f"{name} reconciled", lambda n=name: reconciled(api, ns, n))
            for kind, per_db in (("StatefulSet", 1), ("Service", 1), ("ConfigMap", 1), ("CronJob", 1), ("Job", 1)):
                objs = children(api, ns, kind)
                assert len(objs) == per_db * len(names), (kind, [o["metadata"]["name"] for o in objs])
            # the operator's Events (the controllers and the scheduler report on Pods and Jobs too)
            ours = [e for e in events_for(api, ns) if e["involvedObject"].get("kind") == "Database"]
            assert {e.get("reportingInstance") for e in ours} == {"op-high"}
            assert "StatefulSetCreated" not in low.log()
            assert "StatefulSetCreated" in high.log()

            high.stop()  # a clean stop removes it from the peering: op-low resumes
            wait_for("op-high gone from the peering", lambda: "op-high" not in live_peers(api))
            create_db(api, ns, "after", replicas=1)
            wait_for("after reconciled by op-low", lambda: reconciled(api, ns, "after"), timeout=90)
            after = {
                e.get("reportingInstance")
                for e in events_for(api, ns, "after")
                if e["involvedObject"].get("kind") == "Database"
            }
            assert after == {"op-low"}
            assert len(children(api, ns, "StatefulSet")) == len(names) + 1
