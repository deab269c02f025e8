"""`run_operator`: start the kopf operator in this process until SIGTERM/SIGINT (or `stop_flag`)."""

from __future__ import annotations

import logging
import os
import random
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from braindump_cli.errors import UsageError
from braindump_cli.k8s.client import ApiError, KubeApi
from braindump_cli.k8s.operator.model import MANAGED_BY, OperatorConfig
from braindump_cli.settings import KubeSettings

log = logging.getLogger("braindump_cli.k8s.operator")

DEFAULT_PEERING = "bd-operator"


@dataclass(frozen=True)
class RunOptions:
    namespaces: tuple[str, ...] = ()  # empty: all namespaces (cluster-wide)
    standalone: bool = False
    priority: int | None = None  # None: random, so replicas of one Deployment differ
    peering_name: str = DEFAULT_PEERING
    liveness: str | None = None  # e.g. http://0.0.0.0:8080/healthz
    watch_timeout: float = 300.0
    workers: int = 16


def operator_identity() -> str:
    """The pod name in a cluster (POD_ID from the downward API), else host/pid."""
    return os.environ.get("POD_ID") or f"{socket.gethostname()}/{os.getpid()}"


def _ensure_reachable(api: KubeApi) -> None:
    """Ask the API server once before kopf starts: kopf reports an unreachable server as an aiohttp
    traceback, bd as one line and exit 5 (peering mode asked anyway; --standalone did not)."""
    api.request("GET", "/version", what="the API server version")


def _ensure_peering(api: KubeApi, options: RunOptions) -> None:
    """kopf pauses until it sees its peering object; create it (once) so a fresh install starts."""
    targets: Sequence[tuple[str, str]] = (
        [(f"/apis/kopf.dev/v1/namespaces/{ns}/kopfpeerings", "KopfPeering") for ns in options.namespaces]
        if options.namespaces
        else [("/apis/kopf.dev/v1/clusterkopfpeerings", "ClusterKopfPeering")]
    )
    for path, kind in targets:
        body = {"apiVersion": "kopf.dev/v1", "kind": kind, "metadata": {"name": options.peering_name}}
        try:
            api.request("POST", path, body=body)
        except ApiError as e:
            if e.status == 409:
                continue
            if e.status == 404:
                hint = (
                    "namespaced peering needs the KopfPeering CRD, the manifests ship the cluster-wide one: "
                    "use --all-namespaces, or --standalone"
                    if options.namespaces
                    else "apply `bd operator manifests` first, or run with --standalone"
                )
                raise UsageError(f"the {kind} CRD (kopf.dev) is not installed", hint=hint) from e
            if e.status == 403:
                log.warning("cannot create %s %s (forbidden); assuming it exists", kind, options.peering_name)
                continue
            raise


def run_operator(
    settings: KubeSettings,
    *,
    config: OperatorConfig | None = None,
    options: RunOptions | None = None,
    stop_flag: Any = None,
    ready_flag: Any = None,
) -> None:
    """Run the Database operator until stopped. Blocks; signals stop it cleanly."""
    import kopf

    from braindump_cli.k8s.operator.handlers import build_registry
    from braindump_cli.k8s.operator.reconcile import Reconciler

    config = config or OperatorConfig()
    options = options or RunOptions()
    api = KubeApi.from_settings(settings, pool_size=max(options.workers * 2, 10))
    identity = operator_identity()
    _ensure_reachable(api)
    if not options.standalone:
        _ensure_peering(api, options)

    def emit(body: Any, kind: str, reason: str, message: str) -> None:
        kopf.event(body, type=kind, reason=reason, message=message)

    reconciler = Reconciler(api, config, emit=emit)
    registry = build_registry(
        reconciler,
        config,
        connection=api.connection,
        identity=identity,
        watch_timeout=options.watch_timeout,
        workers=options.workers,
    )
    priority = options.priority if options.priority is not None else random.randint(1, 2**31 - 1)  # noqa: S311
    log.info(
        "%s %s starting: %s, %s",
        MANAGED_BY,
        identity,
        f"namespaces {','.join(options.namespaces)}" if options.namespaces else "all namespaces",
        "standalone" if options.standalone else f"peering {options.peering_name!r} priority {priority}",
    )
    try:
        kopf.run(
            registry=registry,
            standalone=options.standalone,
            priority=None if options.standalone else priority,
            peering_name=None if options.standalone else options.peering_name,
            namespaces=list(options.namespaces),
            clusterwide=not options.namespaces,
            liveness_endpoint=options.liveness,
            identity=cast(Any, identity),  # kopf types it as its own NewType of str
            stop_flag=stop_flag,
            ready_flag=ready_flag,
        )
    finally:
        api.close()
