"""Pure logic: phase and conditions from what the reconciler observed."""

from __future__ import annotations

from typing import Any

from braindump_cli.k8s.operator.status import Observation, compute_status, job_state, status_differs

T0 = "2026-01-01T00:00:00Z"
T1 = "2026-01-01T00:05:00Z"


def conds(status: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}


def test_ready_when_all_replicas_ready() -> None:
    s = compute_status(Observation(generation=4, sts_exists=True, replicas=2, ready_replicas=2), now=T0)
    assert s["phase"] == "Ready"
    assert s["observedGeneration"] == 4
    assert s["readyReplicas"] == 2
    assert conds(s) == {
        "Ready": ("True", "AllReplicasReady"),
        "Progressing": ("False", "Reconciled"),
        "Degraded": ("False", "AsExpected"),
    }


def test_provisioning_while_replicas_start() -> None:
    s = compute_status(Observation(generation=1, sts_exists=True, replicas=3, ready_replicas=1), now=T0)
    assert s["phase"] == "Provisioning"
    assert conds(s)["Ready"] == ("False", "ReplicasNotReady")
    assert conds(s)["Progressing"] == ("True", "WaitingForReplicas")


def test_ready_replicas_wait_for_the_init_job() -> None:
    running = Observation(generation=1, sts_exists=True, replicas=2, ready_replicas=2, init="running")
    s = compute_status(running, now=T0)
    assert s["phase"] == "Provisioning"
    assert conds(s)["Ready"] == ("True", "AllReplicasReady")
    assert conds(s)["Progressing"] == ("True", "WaitingForInitJob")
    failed = compute_status(Observation(generation=1, sts_exists=True, replicas=2, ready_replicas=2, init="failed"))
    assert failed["phase"] == "Degraded"
    assert conds(failed)["Degraded"] == ("True", "InitJobFailed")
    # replicas not ready yet: that is what the Database waits for first
    early = compute_status(Observation(generation=1, sts_exists=True, replicas=2, ready_replicas=0, init="running"))
    assert conds(early)["Progressing"] == ("True", "WaitingForReplicas")


def test_invalid_spec_is_degraded() -> None:
    s = compute_status(Observation(generation=2, invalid="spec.backup.schedule: bad"), now=T0)
    assert s["phase"] == "Invalid"
    assert conds(s)["Degraded"] == ("True", "InvalidSpec")


def test_upgrade_steps_show_in_status() -> None:
    running = compute_status(
        Observation(
            generation=2, sts_exists=True, replicas=1, ready_replicas=1, upgrade="running", upgrade_target="pg:2"
        ),
        now=T0,
    )
    assert running["phase"] == "Upgrading"
    assert conds(running)["Progressing"] == ("True", "UpgradeJobRunning")
    failed = compute_status(
        Observation(
            generation=2, sts_exists=True, replicas=1, ready_replicas=1, upgrade="failed", upgrade_target="pg:2"
        ),
        now=T0,
    )
    assert failed["phase"] == "Degraded"
    assert conds(failed)["Degraded"] == ("True", "UpgradeFailed")
    refused = compute_status(
        Observation(generation=2, sts_exists=True, replicas=1, ready_replicas=1, refused="downgrade from a to b"),
        now=T0,
    )
    assert conds(refused)["Degraded"] == ("True", "ChangeRefused")


def test_deletion_phases() -> None:
    assert compute_status(Observation(generation=1, deleting=True, snapshot="running"), now=T0)["phase"] == "Deleting"
    failed = compute_status(Observation(generation=1, deleting=True, snapshot="failed"), now=T0)
    assert failed["phase"] == "SnapshotFailed"
    assert "skip-final-snapshot" in next(c for c in failed["conditions"] if c["type"] == "Degraded")["message"]


def test_transition_time_moves_only_when_status_changes() -> None:
    first = compute_status(Observation(generation=1, sts_exists=True, replicas=1, ready_replicas=0), now=T0)
    same = compute_status(
        Observation(generation=1, sts_exists=True, replicas=1, ready_replicas=0), first["conditions"], now=T1
    )
    assert all(c["lastTransitionTime"] == T0 for c in same["conditions"])
    assert not status_differs(same, first)
    ready = compute_status(
        Observation(generation=1, sts_exists=True, replicas=1, ready_replicas=1), first["conditions"], now=T1
    )
    times = {c["type"]: c["lastTransitionTime"] for c in ready["conditions"]}
    assert times == {"Ready": T1, "Progressing": T1, "Degraded": T0}
    assert status_differs(ready, first)


def test_foreign_conditions_are_kept() -> None:
    prev = [
        {"type": "Initialized", "status": "True", "reason": "InitJobCreated", "message": "m", "lastTransitionTime": T0}
    ]
    s = compute_status(Observation(generation=1), prev, now=T1)
    assert conds(s)["Initialized"] == ("True", "InitJobCreated")


def test_job_state_from_status() -> None:
    assert job_state(None) == "absent"
    assert job_state({"status": {}}) == "running"
    assert job_state({"status": {"succeeded": 1}}) == "complete"
    assert job_state({"status": {"conditions": [{"type": "Complete", "status": "True"}]}}) == "complete"
    assert job_state({"status": {"conditions": [{"type": "Failed", "status": "True"}]}}) == "failed"
    assert job_state({"status": {"conditions": [{"type": "Failed", "status": "False"}]}}) == "running"
