"""Status of a Database computed from what the reconciler observed (pure).

Phases: Creating, Provisioning, Upgrading, Ready, Invalid, Degraded, Deleting, SnapshotFailed.
Conditions: Ready, Progressing, Degraded, each with a reason; `lastTransitionTime` only moves
when a condition's status changes, so repeated reconciles write nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

JobState = Literal["absent", "running", "complete", "failed"]


@dataclass(frozen=True)
class Observation:
    generation: int
    invalid: str | None = None  # the InvalidSpecError text
    sts_exists: bool = False
    replicas: int = 0  # desired (spec.replicas)
    ready_replicas: int = 0  # mirrored from the StatefulSet's status
    rolled: bool = True  # the StatefulSet runs the target image
    upgrade: JobState | None = None  # None: no upgrade in play
    upgrade_target: str | None = None
    refused: str | None = None  # e.g. a downgrade
    below_minimum: str | None = None
    deleting: bool = False
    snapshot: JobState | None = None
    current_image: str | None = None  # what the StatefulSet runs


def job_state(job: Mapping[str, Any] | None) -> JobState:
    """A Job's outcome from its status (the test suite plays the Job controller's part)."""
    if job is None:
        return "absent"
    status = job.get("status") or {}
    for cond in status.get("conditions") or []:
        if cond.get("status") == "True" and cond.get("type") in ("Complete", "SuccessCriteriaMet"):
            return "complete"
        if cond.get("status") == "True" and cond.get("type") in ("Failed", "FailureTarget"):
            return "failed"
    if (status.get("succeeded") or 0) >= 1:
        return "complete"
    return "running"


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _condition(
    previous: Mapping[str, Mapping[str, Any]],
    ctype: str,
    ok: bool,
    reason: str,
    message: str,
    generation: int,
    now: str,
) -> dict[str, Any]:
    status = "True" if ok else "False"
    prev = previous.get(ctype)
    since = prev.get("lastTransitionTime") if prev and prev.get("status") == status else None
    return {
        "type": ctype,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": since or now,
        "observedGeneration": generation,
    }


def compute_status(
    obs: Observation, previous_conditions: Sequence[Mapping[str, Any]] = (), *, now: str | None = None
) -> dict[str, Any]:
    now = now or _now()
    prev = {str(c.get("type")): c for c in previous_conditions if isinstance(c, Mapping)}
    ready_ok = obs.sts_exists and obs.ready_replicas >= obs.replicas
    if not obs.sts_exists:
        ready = (False, "NotCreated", "the StatefulSet does not exist yet")
    elif obs.replicas == 0:
        ready = (True, "ScaledToZero", "spec.replicas is 0")
    elif ready_ok:
        ready = (True, "AllReplicasReady", f"{obs.ready_replicas}/{obs.replicas} replicas ready")
    else:
        ready = (False, "ReplicasNotReady", f"{obs.ready_replicas}/{obs.replicas} replicas ready")

    degraded: tuple[bool, str, str] = (False, "AsExpected", "no problem found")
    progressing: tuple[bool, str, str] = (False, "Reconciled", "children match the spec")
    if obs.deleting:
        phase = "SnapshotFailed" if obs.snapshot == "failed" else "Deleting"
        if obs.snapshot == "failed":
            degraded = (
                True,
                "SnapshotFailed",
                "the final snapshot Job failed; fix and delete the Job to retry, or annotate the Database "
                "with stable.imaginedata.com/skip-final-snapshot=true to delete without a snapshot",
            )
        else:
            progressing = (True, "Deleting", f"final snapshot Job is {obs.snapshot or 'absent'}")
    elif obs.invalid is not None:
        phase = "Invalid"
        degraded = (True, "InvalidSpec", obs.invalid)
    elif obs.refused is not None:
        phase = "Degraded"
        degraded = (True, "ChangeRefused", obs.refused)
    elif obs.upgrade == "failed":
        phase = "Degraded"
        degraded = (
            True,
            "UpgradeFailed",
            f"the upgrade Job to {obs.upgrade_target} failed; the old image keeps running",
        )
    elif obs.upgrade in ("absent", "running"):
        phase = "Upgrading"
        progressing = (True, "UpgradeJobRunning", f"waiting for the upgrade Job to {obs.upgrade_target}")
    elif not obs.sts_exists:
        phase = "Creating"
        progressing = (True, "Creating", "creating the children")
    elif not obs.rolled:
        phase = "Upgrading"
        progressing = (True, "Rolling", f"rolling the StatefulSet to {obs.upgrade_target}")
    elif not ready_ok:
        phase = "Provisioning"
        progressing = (True, "WaitingForReplicas", ready[2])
    else:
        phase = "Ready"
    if obs.below_minimum and not degraded[0]:
        progressing = (progressing[0], progressing[1], f"{progressing[2]}; {obs.below_minimum}")
    conditions = [
        _condition(prev, "Ready", ready[0], ready[1], ready[2], obs.generation, now),
        _condition(prev, "Progressing", *progressing, obs.generation, now),
        _condition(prev, "Degraded", *degraded, obs.generation, now),
    ]
    # Conditions this module does not own (for example Initialized) are carried over unchanged.
    conditions += [dict(c) for t, c in prev.items() if t not in ("Ready", "Progressing", "Degraded")]
    status: dict[str, Any] = {
        "phase": phase,
        "observedGeneration": obs.generation,
        "readyReplicas": obs.ready_replicas,
        "conditions": conditions,
    }
    if obs.current_image:
        status["currentImage"] = obs.current_image
    return status


def status_differs(new: Mapping[str, Any], old: Mapping[str, Any] | None) -> bool:
    """True when writing `new` would change what is stored (so unchanged reconciles write nothing)."""
    if not old:
        return True
    for key in ("phase", "observedGeneration", "readyReplicas", "currentImage"):
        if new.get(key) != old.get(key):
            return True

    def norm(conds: Any) -> list[tuple[Any, ...]]:
        return sorted(
            (c.get("type"), c.get("status"), c.get("reason"), c.get("message"))
            for c in (conds or [])
            if isinstance(c, Mapping)
        )

    return norm(new.get("conditions")) != norm(old.get("conditions"))
