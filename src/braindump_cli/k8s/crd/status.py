"""`bd crd status`: conditions, versions, stored versions and resource count of one CRD."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

from braindump_cli.k8s.client import Json, KubeApi
from braindump_cli.k8s.crd._cluster import conditions, count_resources, get_crd, is_true
from braindump_cli.k8s.crd.resolve import VersionInfo, crd_info
from braindump_cli.k8s.crd.shipped import SHIPPED_NAME
from braindump_cli.settings import KubeSettings


@dataclass(frozen=True)
class Condition:
    type: str
    status: str
    reason: str
    message: str


@dataclass(frozen=True)
class CrdStatus:
    name: str
    group: str
    kind: str
    scope: str
    healthy: bool
    conditions: tuple[Condition, ...]
    versions: tuple[VersionInfo, ...]
    storage_version: str | None
    stored_versions: tuple[str, ...]
    needs_migration: tuple[str, ...]  # stored versions other than the storage version
    resources: int
    status_subresource: bool
    problems: tuple[str, ...]
    schema_version: int = 1


def _problems(conds: Mapping[str, Json]) -> list[str]:
    problems = []
    for wanted in ("Established", "NamesAccepted"):
        if not is_true(conds, wanted):
            cond: Json = conds.get(wanted) or {}
            why = cond.get("message") or cond.get("reason") or "condition missing"
            problems.append(f"{wanted} is not True: {why}")
    for bad in ("NonStructuralSchema", "Terminating"):
        found = conds.get(bad)
        if found is not None and str(found.get("status")) == "True":
            problems.append(f"{bad}: {found.get('message') or found.get('reason')}")
    return problems


def status_crd(settings: KubeSettings, name: str | None = None) -> CrdStatus:
    """Conditions, versions, stored versions and resource count of one CRD (default: the shipped one)."""
    name = name or SHIPPED_NAME
    api = KubeApi(settings, deadline=time.monotonic() + settings.request_timeout)
    crd = get_crd(api, name, hint="`bd crd install` installs the shipped one; `kubectl get crd` lists what is there")
    info = crd_info(crd, "cluster")
    conds = conditions(crd)
    problems = _problems(conds)
    storage = next((v.name for v in info.versions if v.storage), None)
    stored = tuple((crd.get("status") or {}).get("storedVersions") or ())
    count = count_resources(api, info)[0] if is_true(conds, "Established") else 0
    return CrdStatus(
        name=info.name,
        group=info.group,
        kind=info.kind,
        scope=info.scope,
        healthy=not problems,
        conditions=tuple(
            Condition(t, str(c.get("status", "")), str(c.get("reason", "")), str(c.get("message", "")))
            for t, c in conds.items()
        ),
        versions=info.versions,
        storage_version=storage,
        stored_versions=stored,
        needs_migration=tuple(v for v in stored if v != storage),
        resources=count,
        status_subresource=any(v.status_subresource for v in info.versions if v.served),
        problems=tuple(problems),
    )
