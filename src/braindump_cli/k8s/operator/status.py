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
    init: JobState | None = None  # the init Job while it has not completed (None: it has)


def job_state(job: Mapping[str, Any] | None) -> JobState:
    """A Job's outcome from the conditions the Job controller writes."""
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


Cond = tuple[bool, str, str]  # (status, reason, message)
NO_PROBLEM: Cond = (False, "AsExpected", "no problem found")
RECONCILED: Cond = (False, "Reconciled", "children match the spec")
SNAPSHOT_FAILED = (
    "the final snapshot Job failed; fix and delete the Job to retry, or annotate the Database "
    "with stable.imaginedata.com/skip-final-snapshot=true to delete without a snapshot"
)


def _ready(obs: Observation) -> Cond:
    counted = f"{obs.ready_replicas}/{obs.replicas} replicas ready"
    if not obs.sts_exists:
        return (False, "NotCreated", "the StatefulSet does not exist yet")
    if obs.replicas == 0:
        return (True, "ScaledToZero", "spec.replicas is 0")
    if obs.ready_replicas >= obs.replicas:
        return (True, "AllReplicasReady", counted)
    return (False, "ReplicasNotReady", counted)


def _phase(obs: Observation, ready: Cond) -> tuple[str, Cond, Cond]:
    """(phase, Progressing, Degraded): the first rule that holds, in order of precedence."""
    if obs.deleting:
        if obs.snapshot == "failed":
            return "SnapshotFailed", RECONCILED, (True, "SnapshotFailed", SNAPSHOT_FAILED)
        return "Deleting", (True, "Deleting", f"final snapshot Job is {obs.snapshot or 'absent'}"), NO_PROBLEM
    target = obs.upgrade_target
    # (holds, phase, is a problem (Degraded) rather than progress, reason, message)
    rules: list[tuple[bool, str, bool, str, str]] = [
        (obs.invalid is not None, "Invalid", True, "InvalidSpec", str(obs.invalid)),
        (obs.refused is not None, "Degraded", True, "ChangeRefused", str(obs.refused)),
        (obs.upgrade == "failed", "Degraded", True, "UpgradeFailed",
         f"the upgrade Job to {target} failed; the old image keeps running"),
        (obs.upgrade in ("absent", "running"), "Upgrading", False, "UpgradeJobRunning",
         f"waiting for the upgrade Job to {target}"),
        (not obs.sts_exists, "Creating", False, "Creating", "creating the children"),
        (not obs.rolled, "Upgrading", False, "Rolling", f"rolling the StatefulSet to {target}"),
        (obs.replicas > 0 and not ready[0], "Provisioning", False, "WaitingForReplicas", ready[2]),
        (obs.init == "failed", "Degraded", True, "InitJobFailed", "the init Job failed; delete it to run it again"),
        (obs.init is not None, "Provisioning", False, "WaitingForInitJob",
         "replicas are ready; waiting for the init Job to complete"),
    ]  # fmt: skip
    for holds, phase, problem, reason, message in rules:
        if holds:
            return (
                (phase, RECONCILED, (True, reason, message))
                if problem
                else (phase, (True, reason, message), NO_PROBLEM)
            )
    return "Ready", RECONCILED, NO_PROBLEM


def compute_status(
    obs: Observation, previous_conditions: Sequence[Mapping[str, Any]] = (), *, now: str | None = None
) -> dict[str, Any]:
    now = now or _now()
    prev = {str(c.get("type")): c for c in previous_conditions if isinstance(c, Mapping)}
    ready = _ready(obs)
    phase, progressing, degraded = _phase(obs, ready)
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
