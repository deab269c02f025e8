"""`bd crd install`: server-side apply CRDs (field manager `bd`) and wait until they are Established."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from braindump_cli.errors import BdError, BdTimeoutError, UsageError
from braindump_cli.k8s.client import APPLY_PATCH, ApiError, Json, KubeApi
from braindump_cli.k8s.crd._cluster import FIELD_MANAGER, conditions, crd_path, is_true
from braindump_cli.k8s.crd.resolve import crd_info, load_crd_file
from braindump_cli.k8s.crd.shipped import check_group, database_crd, rewrite_group
from braindump_cli.progress import Progress, no_progress
from braindump_cli.settings import KubeSettings


@dataclass(frozen=True)
class InstallOutcome:
    name: str
    group: str
    kind: str
    action: str  # created | configured | unchanged
    established: bool
    names_accepted: bool


@dataclass(frozen=True)
class InstallReport:
    dry_run: bool
    server: str
    crds: tuple[InstallOutcome, ...]
    schema_version: int = 1


def _comparable(crd: Mapping[str, Any]) -> Any:
    meta = crd.get("metadata") or {}
    return (crd.get("spec"), meta.get("labels") or {}, meta.get("annotations") or {})


def _wait_established(api: KubeApi, name: str, progress: Progress) -> Json:
    delay = 0.05
    while True:
        current = api.request("GET", crd_path(name), what=f"CRD {name}")
        conds = conditions(current)
        names = conds.get("NamesAccepted") or {}
        if str(names.get("status")) == "False":
            raise BdError(
                f"CRD {name} was stored but its names were not accepted: {names.get('message') or names.get('reason')}",
                hint=f"pick another plural/short name, then `bd crd install` again; see `bd crd status {name}`",
            )
        if is_true(conds, "Established") and is_true(conds, "NamesAccepted"):
            return current
        if api.remaining() <= delay:
            raise BdTimeoutError(
                f"CRD {name} is not Established yet",
                hint=f"wait and run `bd crd status {name}`, or pass a longer --timeout",
            )
        progress(f"waiting for {name} to be Established")
        time.sleep(delay)
        delay = min(delay * 2, 0.5)


def _action(before: Json | None, after: Json, *, dry_run: bool) -> str:
    if before is None:
        return "created"
    if dry_run:
        return "unchanged" if _comparable(before) == _comparable(after) else "configured"
    same = (before.get("metadata") or {}).get("resourceVersion") == (after.get("metadata") or {}).get("resourceVersion")
    return "unchanged" if same else "configured"


def _install_one(api: KubeApi, crd: Mapping[str, Any], *, dry_run: bool, progress: Progress) -> InstallOutcome:
    name = str((crd.get("metadata") or {}).get("name") or "")
    if not name:
        raise UsageError("a CRD in the input has no metadata.name")
    try:
        before: Json | None = api.request("GET", crd_path(name), what=f"CRD {name}")
    except ApiError as e:
        if e.status != 404:
            raise
        before = None
    query: dict[str, str | int | bool] = {"fieldManager": FIELD_MANAGER, "force": True}
    if dry_run:
        query["dryRun"] = "All"
    progress(f"applying {name}{' (dry run)' if dry_run else ''}")
    after = api.request(
        "PATCH", crd_path(name), query=query, body=dict(crd), content_type=APPLY_PATCH, what=f"apply CRD {name}"
    )
    info = crd_info(after, "cluster")
    if dry_run:
        conds = conditions(before or {})
        established, accepted = is_true(conds, "Established"), is_true(conds, "NamesAccepted")
    else:
        _wait_established(api, name, progress)
        established = accepted = True
    action = _action(before, after, dry_run=dry_run)
    return InstallOutcome(name, info.group, info.kind, action, established, accepted)


def install_crd(
    settings: KubeSettings,
    *,
    file: Path | str | None = None,
    group: str | None = None,
    dry_run: bool = False,
    timeout: float = 60.0,
    progress: Progress = no_progress,
    stdin: BinaryIO | None = None,
) -> InstallReport:
    """Server-side apply (field manager `bd`) every CRD of `file` (default: the shipped one), wait Established."""
    crds = load_crd_file(file, stdin=stdin) if file is not None else [database_crd()]
    if group:
        check_group(group)
        crds = [rewrite_group(c, group) for c in crds]
    api = KubeApi(settings, deadline=time.monotonic() + timeout)
    outcomes = tuple(_install_one(api, crd, dry_run=dry_run, progress=progress) for crd in crds)
    return InstallReport(dry_run=dry_run, server=api.server, crds=outcomes)
