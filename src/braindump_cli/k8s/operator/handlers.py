"""kopf wiring: which events call the reconciler, with what retries, and how kopf is configured.

* create / update(spec) / resume -> `Reconciler.reconcile`; an invalid spec is a
  `kopf.PermanentError` (reported in status + event, not retried until the spec changes); API
  trouble is a `kopf.TemporaryError` with exponential backoff (1, 2, 4 .. 30 s).
* a resync timer per Database re-runs the same level-triggered reconcile.
* watch events of the children (selected by the managed-by label) compare the child with the
  desired state from an in-memory index of Databases: a child deleted or edited by hand, or a
  StatefulSet whose readyReplicas moved, triggers a reconcile of its owner at once.
* delete (kopf's finalizer) -> `Reconciler.finalize`: snapshot Job, wait, delete the children.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import random
from collections.abc import Callable, Mapping
from typing import Any

from braindump_cli.k8s.client import ApiError, ConnectionDetails
from braindump_cli.k8s.operator.builders import (
    DbRef,
    build_backup_cronjob,
    build_configmap,
    build_service,
    build_statefulset,
    drift,
)
from braindump_cli.k8s.operator.model import (
    LABEL_MANAGED_BY,
    MANAGED_BY,
    InvalidSpecError,
    OperatorConfig,
    parse_spec,
)
from braindump_cli.k8s.operator.reconcile import Outcome, Reconciler, SpecInvalid, WaitingFor
from braindump_cli.k8s.operator.status import job_state

log = logging.getLogger("braindump_cli.k8s.operator")

ANNOTATION_PREFIX = "bd-operator.imaginedata.com"

# kind -> (group, version, plural) of the children watched for repairs.
CHILD_WATCHES: dict[str, tuple[str, str, str]] = {
    "StatefulSet": ("apps", "v1", "statefulsets"),
    "Service": ("", "v1", "services"),
    "ConfigMap": ("", "v1", "configmaps"),
    "CronJob": ("batch", "v1", "cronjobs"),
    # init and upgrade Jobs: their completion moves the Database on (Ready, the StatefulSet rolls)
    "Job": ("batch", "v1", "jobs"),
}


def backoff_delay(retry: int, *, cap: float = 30.0) -> float:
    """1, 2, 4, 8 .. `cap` seconds, with +-20% jitter so many Databases do not retry in lockstep."""
    base: float = min(cap, 2.0 ** min(retry, 10))
    return round(base * random.uniform(0.8, 1.2), 2)  # noqa: S311


def _plain(body: Mapping[str, Any]) -> dict[str, Any]:
    return {k: body[k] for k in body}


def _owner(body: Mapping[str, Any], config: OperatorConfig) -> dict[str, Any] | None:
    for ref in body.get("metadata", {}).get("ownerReferences") or []:
        if ref.get("kind") == config.kind and ref.get("apiVersion") == config.api_version:
            return dict(ref)
    return None


def needs_repair(kind: str, child: Mapping[str, Any], entry: Mapping[str, Any], config: OperatorConfig) -> str | None:
    """Why the owner must be reconciled after this child event (None: the child is as desired)."""
    try:
        spec = parse_spec(entry.get("spec"))
    except InvalidSpecError:
        return None
    if kind == "Job":
        state = job_state(child)
        return f"Job {state}" if state in ("complete", "failed") else None
    meta = child.get("metadata", {})
    owner = _owner(child, config) or {}
    db = DbRef(name=str(owner.get("name")), namespace=str(meta.get("namespace")), uid=str(owner.get("uid")))
    if kind == "StatefulSet":
        containers = (child.get("spec") or {}).get("template", {}).get("spec", {}).get("containers") or [{}]
        image = str(containers[0].get("image", ""))
        if image != spec.image:
            return "image differs from spec (upgrade or edit)"
        ready = int((child.get("status") or {}).get("readyReplicas") or 0)
        if ready != int(entry.get("ready_replicas") or 0):
            return "readyReplicas changed"
        desired = build_statefulset(db, spec, config, image=image)
    elif kind == "Service":
        desired = build_service(db, spec, config)
    elif kind == "ConfigMap":
        desired = build_configmap(db, spec, config)
    elif kind == "CronJob":
        cron = build_backup_cronjob(db, spec, config, image=spec.image)
        if cron is None:
            return "backup removed from spec"
        cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0].pop("image")
        desired = cron
    else:
        return None
    diff = drift(desired, child)
    return f"drifted: {', '.join(diff[:3])}" if diff else None


# Complexity over 10 on purpose: registers each kopf handler as a small closure over one registry; McCabe adds the
# closures' branches to this function.
def build_registry(  # noqa: C901
    reconciler: Reconciler,
    config: OperatorConfig,
    *,
    connection: ConnectionDetails,
    identity: str,
    watch_timeout: float = 300.0,
    workers: int = 16,
) -> Any:
    """A kopf OperatorRegistry with every handler of the Database operator."""
    import kopf

    registry = kopf.OperatorRegistry()
    res: dict[str, Any] = {"group": config.group, "version": config.version, "plural": config.plural}

    @kopf.on.startup(registry=registry)
    def configure(settings: Any, **_: Any) -> None:
        settings.persistence.finalizer = f"{config.group}/final-snapshot"
        # The Database's status schema is declared (and pruned): keep kopf's bookkeeping in annotations.
        settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=ANNOTATION_PREFIX)
        settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
            prefix=ANNOTATION_PREFIX, key="last-handled-configuration"
        )
        # Our own events say what was done; kopf's "handler succeeded" events would double them.
        settings.posting.level = logging.WARNING
        settings.posting.reporting_component = MANAGED_BY
        settings.posting.reporting_instance = identity
        # Finite watches: the server closes them and kopf reconnects (and survives restarts).
        settings.watching.server_timeout = int(watch_timeout)  # the apiserver wants an integer
        settings.watching.client_timeout = int(watch_timeout) + 15
        settings.watching.connect_timeout = 10
        settings.networking.request_timeout = 60
        settings.networking.error_backoffs = [1, 1, 2, 3, 5, 8, 13]
        # No namespace/CRD discovery: fewer permissions; the CRD must exist before the operator starts.
        settings.scanning.disabled = True
        settings.execution.max_workers = workers
        settings.batching.worker_limit = None
        # kopf waits this long for more events of one object before handling it; our handlers are
        # idempotent, so a short window only costs an occasional extra no-op pass.
        settings.batching.batch_window = 0.02

    @kopf.on.login(registry=registry)
    def login(**_: Any) -> Any:
        c = connection
        return kopf.ConnectionInfo(
            server=c.server,
            ca_path=c.ca_path,
            insecure=c.insecure,
            certificate_path=c.certificate_path,
            private_key_path=c.private_key_path,
            scheme="Bearer" if c.token else None,
            token=c.token,
            default_namespace=c.namespace,
        )

    def call(fn: Callable[[], Outcome], retry: int, what: str) -> None:
        try:
            out = fn()
        except SpecInvalid as e:
            raise kopf.PermanentError(f"invalid spec: {e}") from None
        except WaitingFor as e:
            raise kopf.TemporaryError(str(e), delay=e.delay) from None
        except ApiError as e:
            if e.status == 422 and not e.transient:
                raise kopf.PermanentError(f"{what}: the apiserver rejected a child: {e}") from None
            raise kopf.TemporaryError(f"{what}: {e}", delay=backoff_delay(retry)) from None
        if out.requeue_after is not None:
            raise kopf.TemporaryError("waiting for the upgrade Job to complete", delay=out.requeue_after)

    @kopf.on.create(**res, id="reconcile-create", registry=registry)
    def on_create(body: Any, retry: int, **_: Any) -> None:
        call(lambda: reconciler.reconcile(_plain(body), fresh=retry == 0), retry, "create")

    @kopf.on.update(**res, id="reconcile-update", field="spec", registry=registry)
    def on_update(body: Any, retry: int, **_: Any) -> None:
        call(lambda: reconciler.reconcile(_plain(body)), retry, "update")

    @kopf.on.resume(**res, id="reconcile-resume", registry=registry)
    def on_resume(body: Any, retry: int, **_: Any) -> None:
        call(lambda: reconciler.reconcile(_plain(body)), retry, "resume")

    @kopf.timer(
        **res,
        id="resync",
        interval=config.resync_seconds,
        initial_delay=config.resync_seconds,
        registry=registry,
    )
    def resync(body: Any, **_: Any) -> None:
        try:
            reconciler.reconcile(_plain(body))
        except SpecInvalid:
            pass  # already in status and events; waits for a spec change
        except ApiError as e:
            log.warning(
                "resync of %s/%s failed, next tick retries: %s",
                body["metadata"].get("namespace"),
                body["metadata"].get("name"),
                e,
            )

    @kopf.on.delete(**res, id="final-snapshot", registry=registry)
    def on_delete(body: Any, retry: int, **_: Any) -> None:
        call(lambda: reconciler.finalize(_plain(body)), retry, "delete")

    # Async (no thread hop): kopf runs sync handlers in a thread pool, costly at hundreds of events.
    @kopf.index(**res, id="databases", registry=registry)
    async def databases(namespace: str | None, name: str, body: Any, **_: Any) -> object:
        status = body.get("status") or {}
        return {
            (namespace, name): {
                "spec": dict(body.get("spec") or {}),
                "ready_replicas": status.get("readyReplicas"),
                "deleting": bool(body["metadata"].get("deletionTimestamp")),
            }
        }

    def repair_owner(namespace: str, name: str, why: str) -> None:
        try:
            db = reconciler.get_database(namespace, name)
            if db is None or db["metadata"].get("deletionTimestamp"):
                return
            log.info("%s/%s: reconciling because a child changed: %s", namespace, name, why)
            reconciler.reconcile(db)
        except SpecInvalid:
            pass
        except ApiError as e:
            log.warning("%s/%s: repair failed, the resync timer retries: %s", namespace, name, e)

    def child_handler(kind: str) -> Callable[..., Any]:
        async def on_child(type: str | None, body: Any, databases: Any, **_: Any) -> None:
            # The comparison runs in the event loop; only a needed repair (API calls) goes to a thread.
            owner = _owner(body, config)
            if owner is None:
                return
            namespace = body["metadata"].get("namespace")
            entries = list(databases.get((namespace, owner["name"]), []))
            if not entries or entries[-1]["deleting"]:
                return
            why = "deleted" if type == "DELETED" else needs_repair(kind, body, entries[-1], config)
            if why:
                what = f"{kind} {body['metadata'].get('name')} {why}"
                # kopf.event reads kopf's settings from a context variable: the thread needs this context
                context = contextvars.copy_context()
                await asyncio.get_running_loop().run_in_executor(
                    None, context.run, repair_owner, namespace, owner["name"], what
                )

        return on_child

    for kind, (group, version, plural) in CHILD_WATCHES.items():
        kopf.on.event(
            group=group,
            version=version,
            plural=plural,
            labels={LABEL_MANAGED_BY: MANAGED_BY},
            id=f"watch-{plural}",
            registry=registry,
        )(child_handler(kind))
    return registry
