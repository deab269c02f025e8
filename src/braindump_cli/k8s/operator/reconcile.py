"""Level-triggered, idempotent reconcile of one Database, and its deletion with a final snapshot.

Called by the kopf handlers (create/update/resume, a resync timer, child watch events and the
delete handler). Every write is either a server-side apply of the full desired child (idempotent
by construction) or a create-once POST whose 409 means "already there" (Secret, Jobs): two
operators or a retried handler can never duplicate anything. Nothing here logs object bodies;
the Secret is only ever POSTed, never read.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from braindump_cli.k8s.client import ApiError, KubeApi, Obj
from braindump_cli.k8s.operator.builders import (
    DbRef,
    build_backup_claim,
    build_backup_cronjob,
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
from braindump_cli.k8s.operator.model import (
    LABEL_DATABASE,
    LABEL_MANAGED_BY,
    MANAGED_BY,
    SKIP_SNAPSHOT_ANNOTATION,
    DatabaseSpec,
    ImagePlan,
    InvalidSpecError,
    OperatorConfig,
    parse_spec,
    plan_image,
)
from braindump_cli.k8s.operator.status import JobState, Observation, compute_status, job_state, status_differs

log = logging.getLogger("braindump_cli.k8s.operator")

# (body of the Database, event type Normal|Warning, reason, message)
EventSink = Callable[[Mapping[str, Any], str, str, str], None]


class SpecInvalid(Exception):
    """The spec is invalid; status and an event say so. Do not retry until the spec changes."""


class WaitingFor(Exception):
    """Deletion is waiting (for the snapshot Job); retry after `delay` seconds."""

    def __init__(self, message: str, delay: float) -> None:
        super().__init__(message)
        self.delay = delay


@dataclass
class Outcome:
    actions: list[str] = field(default_factory=list)
    status: dict[str, Any] | None = None
    requeue_after: float | None = None  # an upgrade Job is running: look again then


def db_ref(body: Mapping[str, Any]) -> DbRef:
    meta = body["metadata"]
    return DbRef(
        name=meta["name"], namespace=meta["namespace"], uid=meta["uid"], generation=int(meta.get("generation") or 1)
    )


def _container_image(sts: Mapping[str, Any] | None) -> str | None:
    if not sts:
        return None
    containers = ((sts.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers") or []
    return str(containers[0].get("image")) if containers else None


def _truthy(value: Any) -> bool:
    return str(value).strip().lower() in ("true", "1", "yes")


class Reconciler:
    def __init__(self, api: KubeApi, config: OperatorConfig, *, emit: EventSink) -> None:
        self.api = api
        self.config = config
        self._emit = emit
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._locks_guard = threading.Lock()

    # --- helpers --------------------------------------------------------------------------------
    def lock(self, namespace: str, name: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault((namespace, name), threading.Lock())

    def forget(self, namespace: str, name: str) -> None:
        with self._locks_guard:
            self._locks.pop((namespace, name), None)

    def event(self, body: Mapping[str, Any], kind: str, reason: str, message: str, out: Outcome | None = None) -> None:
        meta = body.get("metadata", {})
        log.info("%s/%s: %s: %s", meta.get("namespace"), meta.get("name"), reason, message)
        if out is not None:
            out.actions.append(f"{reason}: {message}")
        self._emit(body, kind, reason, message)

    def db_path(self, namespace: str, name: str) -> str:
        c = self.config
        return self.api.custom_path(c.group, c.version, c.plural, namespace, name)

    def get_database(self, namespace: str, name: str) -> Obj | None:
        try:
            return self.api.request("GET", self.db_path(namespace, name))
        except ApiError as e:
            if e.status == 404:
                return None
            raise

    def write_status(self, body: Mapping[str, Any], status: dict[str, Any]) -> bool:
        if not status_differs(status, body.get("status")):
            return False
        meta = body["metadata"]
        try:
            self.api.patch_merge(self.db_path(meta["namespace"], meta["name"]) + "/status", {"status": status})
        except ApiError as e:
            if e.status == 404:  # deleted meanwhile: nothing left to report on
                return False
            raise
        return True

    # --- reconcile ------------------------------------------------------------------------------
    def reconcile(self, body: Mapping[str, Any], *, fresh: bool = False) -> Outcome:
        """Make the children match the spec; `fresh` (just created) tries POST before GET."""
        meta = body["metadata"]
        if meta.get("deletionTimestamp"):
            return Outcome()
        start = time.monotonic()
        with self.lock(meta["namespace"], meta["name"]):
            out = self._reconcile(body, fresh=fresh)
        log.debug("%s/%s: reconciled in %.0f ms", meta["namespace"], meta["name"], (time.monotonic() - start) * 1000)
        return out

    def _previous_conditions(self, body: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        return list((body.get("status") or {}).get("conditions") or [])

    def _invalid(self, body: Mapping[str, Any], db: DbRef, err: InvalidSpecError) -> Outcome:
        out = Outcome()
        sts = self.api.get("StatefulSet", db.namespace, child_names(db.name).statefulset)
        ready = int(((sts or {}).get("status") or {}).get("readyReplicas") or 0)
        obs = Observation(
            generation=db.generation, invalid=str(err), sts_exists=sts is not None, ready_replicas=ready, replicas=ready
        )
        status = compute_status(obs, self._previous_conditions(body))
        if self.write_status(body, status):
            self.event(body, "Warning", "InvalidSpec", f"{err}; fix the spec (not retried until it changes)", out)
        out.status = status
        raise SpecInvalid(str(err))

    def _reconcile(self, body: Mapping[str, Any], *, fresh: bool) -> Outcome:
        db = db_ref(body)
        try:
            spec = parse_spec(body.get("spec"))
        except InvalidSpecError as err:
            return self._invalid(body, db, err)
        out = Outcome()
        names = child_names(db.name)
        api, config = self.api, self.config

        sts = None if fresh else api.get("StatefulSet", db.namespace, names.statefulset)
        if sts is not None and sts["metadata"].get("deletionTimestamp"):
            raise ApiError(f"StatefulSet {names.statefulset} is still being deleted", transient=True)
        current = _container_image(sts)
        plan, image, upgrade_state = self._choose_image(body, db, spec, current, out)

        # ConfigMap and Secret first: the StatefulSet's pods read them through envFrom.
        self._ensure(body, build_configmap(db, spec, config), fresh, out)
        self._create_once(body, db, spec, out)
        self._ensure(body, build_service(db, spec, config), fresh, out)
        sts_after = self._ensure(
            body, build_statefulset(db, spec, config, image=image), fresh, out, actual=sts, known=not fresh
        )
        if upgrade_state == "complete" and current != image:
            self.event(body, "Normal", "UpgradeRolled", f"StatefulSet rolls from {current} to {image}", out)

        self._ensure_backup(body, db, spec, image, fresh, out)
        conditions, init_state = self._init_job(body, db, spec, image, out)

        sts_status = (sts_after or {}).get("status") or {}
        obs = Observation(
            generation=db.generation,
            sts_exists=sts_after is not None,
            replicas=spec.replicas,
            ready_replicas=int(sts_status.get("readyReplicas") or 0),
            rolled=_container_image(sts_after) == plan.target or plan.refused is not None,
            current_image=_container_image(sts_after),
            upgrade=upgrade_state if upgrade_state != "complete" else None,
            upgrade_target=plan.target,
            refused=plan.refused,
            init=init_state,
            below_minimum=(
                f"spec.image is older than the minimum {config.min_version}, running {plan.target}"
                if plan.below_minimum
                else None
            ),
        )
        status = compute_status(obs, conditions)
        for cond in status["conditions"]:
            if cond.get("lastTransitionTime") is None:
                cond["lastTransitionTime"] = status["conditions"][0]["lastTransitionTime"]
        if self.write_status(body, status) and plan.refused:
            self.event(body, "Warning", "ChangeRefused", plan.refused, out)
        out.status = status
        if upgrade_state in ("absent", "running"):
            out.requeue_after = config.snapshot_poll_seconds
        return out

    def _create_once(self, body: Mapping[str, Any], db: DbRef, spec: DatabaseSpec, out: Outcome) -> None:
        """The Secret and the engine's backup volume: POSTed once, a 409 means already there."""
        names = child_names(db.name)
        secret = build_secret(db, spec, self.config, password=generate_password())
        if self.api.create(secret) is not None:
            self.event(
                body, "Normal", "SecretCreated", f"created Secret {names.secret} with generated credentials", out
            )
        del secret
        claim = build_backup_claim(db, spec, self.config)
        if claim is not None and self.api.create(claim) is not None:
            self.event(
                body,
                "Normal",
                "BackupVolumeCreated",
                f"created PersistentVolumeClaim {names.backup_claim} for archives (kept when the Database is deleted)",
                out,
            )

    def _choose_image(
        self, body: Mapping[str, Any], db: DbRef, spec: DatabaseSpec, current: str | None, out: Outcome
    ) -> tuple[ImagePlan, str, JobState | None]:
        """(plan, image the StatefulSet gets now, upgrade Job state or None): a version change
        waits for its upgrade Job; a refused one (downgrade) keeps the current image."""
        config = self.config
        plan = plan_image(spec.image, current, min_version=config.min_version, engine=spec.engine_name)
        if plan.below_minimum and current != plan.target:
            self.event(
                body,
                "Warning",
                "ImageBelowMinimum",
                f"spec.image {spec.image} is older than the minimum {config.min_version}; using {plan.target}",
                out,
            )
        if plan.refused:
            return plan, current or plan.target, None
        if plan.needs_upgrade and current is not None:
            state = self._upgrade(body, db, spec, current, plan.target, out)
            return plan, plan.target if state == "complete" else current, state
        return plan, plan.target, None

    def _ensure_backup(
        self, body: Mapping[str, Any], db: DbRef, spec: DatabaseSpec, image: str, fresh: bool, out: Outcome
    ) -> None:
        cron = build_backup_cronjob(db, spec, self.config, image=image)
        name = child_names(db.name).backup_cronjob
        if cron is not None:
            self._ensure(body, cron, fresh, out)
        elif not fresh and self.api.delete("CronJob", db.namespace, name):
            self.event(body, "Normal", "BackupCronJobDeleted", f"deleted CronJob {name}", out)

    def _init_job(
        self, body: Mapping[str, Any], db: DbRef, spec: DatabaseSpec, image: str, out: Outcome
    ) -> tuple[list[Mapping[str, Any]], JobState | None]:
        """Create the init Job once per Database; follow it until it completes (condition Initialized).

        Returns the conditions to carry and the Job's state while it has not completed (None after).
        A Database whose Initialized is True (also from older operators, reason InitJobCreated) is done.
        """
        name = child_names(db.name).init_job
        conditions = self._previous_conditions(body)
        init = next((c for c in conditions if c.get("type") == "Initialized"), None)
        if init is not None and init.get("status") == "True":
            return conditions, None
        if init is None:
            if self.api.create(build_init_job(db, spec, self.config, image=image)) is not None:
                self.event(body, "Normal", "InitJobCreated", f"created Job {name}", out)
            state: JobState = "running"
        else:
            state = job_state(self.api.get("Job", db.namespace, name))
        reason, message = {
            "complete": ("InitJobComplete", f"init Job {name} completed"),
            "failed": ("InitJobFailed", f"init Job {name} failed"),
        }.get(state, ("InitJobRunning", f"init Job {name} created (once per Database)"))
        if state == "absent":  # deleted by hand before it completed: it is not run again
            reason, message = "InitJobGone", f"init Job {name} was deleted before it completed"
        done = state == "complete"
        new: dict[str, Any] = {
            "type": "Initialized",
            "status": "True" if done else "False",
            "reason": reason,
            "message": message,
            "lastTransitionTime": init.get("lastTransitionTime") if init and not done else None,
        }
        conditions = [c for c in conditions if c.get("type") != "Initialized"] + [new]
        return conditions, None if done or state == "absent" else state

    def _upgrade(
        self, body: Mapping[str, Any], db: DbRef, spec: DatabaseSpec, current: str, target: str, out: Outcome
    ) -> JobState:
        job = build_upgrade_job(db, spec, self.config, from_image=current, to_image=target)
        name = job["metadata"]["name"]
        existing = self.api.get("Job", db.namespace, name)
        if existing is None:
            self.api.create(job)
            self.event(body, "Normal", "UpgradeJobCreated", f"created Job {name}: {current} -> {target}", out)
            return "running"
        state = job_state(existing)
        if state == "failed":
            was = (body.get("status") or {}).get("phase")
            if was != "Degraded":
                self.event(body, "Warning", "UpgradeFailed", f"Job {name} failed; {current} keeps running", out)
        return state

    def _ensure(
        self,
        body: Mapping[str, Any],
        desired: Obj,
        fresh: bool,
        out: Outcome,
        *,
        actual: Obj | None = None,
        known: bool = False,
    ) -> Obj | None:
        """Create the child or bring it back in line with `desired`; return what is stored.

        `fresh` (first pass of the create handler) skips the read; `known` means `actual` was read.
        """
        kind, name, ns = desired["kind"], desired["metadata"]["name"], desired["metadata"]["namespace"]
        if not fresh and not known:
            actual = self.api.get(kind, ns, name)
        if actual is None:
            # Server-side apply creates too; creating by POST would leave fields owned by an
            # "Update" manager that later applies could not remove (a changed port would duplicate).
            stored = self.api.apply(desired, field_manager=self.config.field_manager)
            self.event(body, "Normal", f"{kind}Created", f"created {kind} {name}", out)
            return stored
        diff = drift(desired, actual) if actual is not None else ["(missing)"]
        if not diff:
            return actual
        if kind == "StatefulSet" and any(d.startswith("spec.volumeClaimTemplates") for d in diff):
            self._resize_storage(body, desired, out)
        stored = self.api.apply(desired, field_manager=self.config.field_manager)
        fields = ", ".join(sorted({d.split("[")[0] for d in diff})[:4])
        self.event(body, "Normal", f"{kind}Updated", f"updated {kind} {name} ({fields})", out)
        return stored

    def _resize_storage(self, body: Mapping[str, Any], desired: Obj, out: Outcome) -> None:
        """volumeClaimTemplates are immutable: grow the existing claims, then recreate the
        StatefulSet with orphaned pods (they keep running; the new object adopts them)."""
        meta = desired["metadata"]
        size = desired["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"]
        selector = ",".join(f"{k}={v}" for k, v in desired["spec"]["selector"]["matchLabels"].items())
        for pvc in self.api.list("PersistentVolumeClaim", meta["namespace"], label_selector=selector):
            claim = pvc["metadata"]["name"]
            try:
                self.api.patch_merge(
                    self.api.path("PersistentVolumeClaim", meta["namespace"], claim),
                    {"spec": {"resources": {"requests": {"storage": size}}}},
                )
            except ApiError as e:
                # e.g. its StorageClass does not allow expansion: say so; new replicas still get `size`
                if e.status not in (403, 422):
                    raise
                self.event(body, "Warning", "VolumeResizeRefused", f"PersistentVolumeClaim {claim}: {e.detail}", out)
                continue
            self.event(body, "Normal", "VolumeResized", f"PersistentVolumeClaim {claim} to {size}", out)
        self.api.delete("StatefulSet", meta["namespace"], meta["name"], propagation="Orphan")
        self.event(
            body, "Normal", "StatefulSetRecreating", f"StatefulSet {meta['name']} recreated for storage {size}", out
        )
        # The orphaning delete completes asynchronously (the garbage collector releases the pods).
        raise ApiError(f"StatefulSet {meta['name']} is being recreated for storage {size}", transient=True)

    # --- deletion -------------------------------------------------------------------------------
    def finalize(self, body: Mapping[str, Any]) -> Outcome:
        """Run the final snapshot, then delete the children; raise WaitingFor while it runs."""
        meta = body["metadata"]
        with self.lock(meta["namespace"], meta["name"]):
            out = self._finalize(body)
        self.forget(meta["namespace"], meta["name"])
        return out

    def _finalize(self, body: Mapping[str, Any]) -> Outcome:
        db = db_ref(body)
        out = Outcome()
        names = child_names(db.name)
        annotations = body["metadata"].get("annotations") or {}
        if _truthy(annotations.get(SKIP_SNAPSHOT_ANNOTATION, "")):
            self.event(
                body,
                "Warning",
                "SnapshotSkipped",
                f"annotation {SKIP_SNAPSHOT_ANNOTATION} is set: deleting without a final snapshot",
                out,
            )
            self._delete_children(body, db, out)
            return out
        sts = self.api.get("StatefulSet", db.namespace, names.statefulset)
        job = self.api.get("Job", db.namespace, names.snapshot_job)
        if job is None:
            image = _container_image(sts)
            if image is None:
                try:
                    image = parse_spec(body.get("spec")).image
                except InvalidSpecError:
                    image = None
            if sts is None or image is None:
                self.event(body, "Normal", "NoSnapshotNeeded", "no StatefulSet exists: nothing to snapshot", out)
                self._delete_children(body, db, out)
                return out
            try:
                spec = parse_spec(body.get("spec"))
            except InvalidSpecError:
                spec = DatabaseSpec(name="db", port=1, storage_size="1Gi", image=image, replicas=0)
            self.api.create(build_snapshot_job(db, spec, self.config, image=image))
            self.event(body, "Normal", "SnapshotJobCreated", f"created Job {names.snapshot_job} (final snapshot)", out)
            state: JobState = "running"
        else:
            state = job_state(job)
        sts_replicas = int(((sts or {}).get("spec") or {}).get("replicas") or 0)
        obs = Observation(
            generation=db.generation,
            deleting=True,
            snapshot=state,
            sts_exists=sts is not None,
            replicas=sts_replicas,
            ready_replicas=int(((sts or {}).get("status") or {}).get("readyReplicas") or 0),
            current_image=_container_image(sts),
        )
        status = compute_status(obs, list((body.get("status") or {}).get("conditions") or []))
        changed = self.write_status(body, status)
        if state == "complete":
            self.event(body, "Normal", "SnapshotComplete", f"final snapshot Job {names.snapshot_job} completed", out)
            self._delete_children(body, db, out)
            return out
        if state == "failed":
            if changed:
                self.event(
                    body,
                    "Warning",
                    "SnapshotFailed",
                    f"final snapshot Job {names.snapshot_job} failed; the Database is kept. Delete the Job to retry, "
                    f"or set annotation {SKIP_SNAPSHOT_ANNOTATION}=true to delete without a snapshot",
                    out,
                )
            raise WaitingFor(f"final snapshot Job {names.snapshot_job} failed", self.config.snapshot_poll_seconds)
        raise WaitingFor(f"waiting for the final snapshot Job {names.snapshot_job}", self.config.snapshot_poll_seconds)

    def _delete_children(self, body: Mapping[str, Any], db: DbRef, out: Outcome) -> None:
        names = child_names(db.name)
        gone: list[str] = []
        for kind, name in (
            ("CronJob", names.backup_cronjob),
            ("StatefulSet", names.statefulset),
            ("Service", names.service),
            ("ConfigMap", names.configmap),
            ("Secret", names.secret),
            ("Job", names.init_job),
            ("Job", names.snapshot_job),
        ):
            if self.api.delete(kind, db.namespace, name):
                gone.append(f"{kind} {name}")
        selector = (
            f"{LABEL_MANAGED_BY}={MANAGED_BY},{LABEL_DATABASE}={names.service},app.kubernetes.io/component=upgrade"
        )
        for job in self.api.list("Job", db.namespace, label_selector=selector):
            if self.api.delete("Job", db.namespace, job["metadata"]["name"]):
                gone.append(f"Job {job['metadata']['name']}")
        if gone:
            self.event(body, "Normal", "ChildrenDeleted", "deleted " + ", ".join(gone), out)
