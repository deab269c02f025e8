"""`bd crd uninstall`: delete a CRD; refuse while custom resources of it exist unless forced."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from braindump_cli.errors import RefusedError
from braindump_cli.k8s.client import ApiError, KubeApi
from braindump_cli.k8s.crd._cluster import count_resources, crd_path, get_crd
from braindump_cli.k8s.crd.resolve import crd_info
from braindump_cli.k8s.crd.shipped import SHIPPED_NAME
from braindump_cli.progress import Progress, no_progress
from braindump_cli.settings import KubeSettings


@dataclass(frozen=True)
class UninstallPlan:
    name: str
    resources: int
    examples: tuple[str, ...]  # up to 10 ns/name of the custom resources that would go


@dataclass(frozen=True)
class UninstallReport:
    name: str
    action: str  # deleted | would delete | deleting (finalizers pending)
    resources_deleted: int
    dry_run: bool
    schema_version: int = 1


def _gone(api: KubeApi, method: str, name: str, what: str) -> bool:
    """Send `method` to the CRD; True when the answer is 404 (it is gone)."""
    try:
        api.request(method, crd_path(name), what=what)
    except ApiError as e:
        if e.status == 404:
            return True
        raise
    return False


def uninstall_crd(
    settings: KubeSettings,
    name: str | None = None,
    *,
    force: bool = False,
    dry_run: bool = False,
    timeout: float = 60.0,
    confirm: Callable[[UninstallPlan], None] | None = None,
    progress: Progress = no_progress,
) -> UninstallReport:
    """Delete a CRD; refuse while custom resources exist unless `force` (they are deleted with it)."""
    name = name or SHIPPED_NAME
    api = KubeApi(settings, deadline=time.monotonic() + timeout)
    crd = get_crd(api, name, hint="`kubectl get crd` lists the installed CRDs")
    info = crd_info(crd, "cluster")
    count, examples = count_resources(api, info, limit=10)
    if count and not force:
        shown = ", ".join(examples[:5]) + (f" and {count - 5} more" if count > 5 else "")
        raise RefusedError(
            f"{count} {info.kind} resource{'s still exist' if count != 1 else ' still exists'}: {shown}",
            hint=f"delete them first (`kubectl delete {info.plural}.{info.group} --all -A`), "
            "or pass --force to delete them with the CRD",
        )
    if dry_run:
        return UninstallReport(name, "would delete", count, dry_run=True)
    if confirm is not None:
        confirm(UninstallPlan(name, count, tuple(examples)))
    progress(f"deleting CRD {name}" + (f" and {count} custom resources" if count else ""))
    if _gone(api, "DELETE", name, f"delete CRD {name}"):
        return UninstallReport(name, "deleted", count, dry_run=False)
    delay = 0.05
    while api.remaining() > delay:
        if _gone(api, "GET", name, f"CRD {name}"):
            return UninstallReport(name, "deleted", count, dry_run=False)
        time.sleep(delay)
        delay = min(delay * 2, 0.5)
    return UninstallReport(name, "deleting (custom resources with finalizers are still being removed)", count, False)
