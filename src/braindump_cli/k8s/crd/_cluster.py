"""The CRD API paths, conditions and resource counts shared by the verbs that talk to a cluster."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from braindump_cli.errors import NotFoundError
from braindump_cli.k8s.client import ApiError, Json, KubeApi
from braindump_cli.k8s.crd.resolve import CrdInfo

CRD_API = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
FIELD_MANAGER = "bd"


def crd_path(name: str) -> str:
    return f"{CRD_API}/{name}"


def resource_path(crd: CrdInfo, version: str, namespace: str | None, name: str | None = None) -> str:
    base = f"/apis/{crd.group}/{version}"
    if crd.scope == "Namespaced" and namespace:
        base += f"/namespaces/{namespace}"
    base += f"/{crd.plural}"
    return f"{base}/{name}" if name else base


def cluster_crds(api: KubeApi) -> list[dict[str, Any]]:
    return list(api.request("GET", CRD_API, what="list CRDs").get("items") or [])


def get_crd(api: KubeApi, name: str, *, hint: str) -> Json:
    """The CRD `name` from the cluster; NotFoundError (exit 3) with `hint` if it is not installed."""
    try:
        return api.request("GET", crd_path(name), what=f"CRD {name}")
    except ApiError as e:
        if e.status != 404:
            raise
        raise NotFoundError(f"CRD {name} is not installed", hint=hint) from e


def conditions(crd: Mapping[str, Any]) -> dict[str, Json]:
    return {str(c.get("type")): c for c in ((crd.get("status") or {}).get("conditions") or [])}


def is_true(conds: Mapping[str, Json], kind: str) -> bool:
    return str((conds.get(kind) or {}).get("status")) == "True"


def _list_page(api: KubeApi, info: CrdInfo, version: str, cont: str | None) -> Json | None:
    query: dict[str, str | int | bool] = {"limit": 500}
    if cont:
        query["continue"] = cont
    try:
        return api.request(
            "GET", f"/apis/{info.group}/{version}/{info.plural}", query=query, what=f"list {info.plural}"
        )
    except ApiError as e:
        if e.status == 404:
            return None  # not served (yet): nothing can be stored under it
        raise


def _ref(item: Mapping[str, Any]) -> str:
    meta = item.get("metadata") or {}
    ns = meta.get("namespace")
    return f"{ns}/{meta.get('name')}" if ns else str(meta.get("name"))


def count_resources(api: KubeApi, info: CrdInfo, limit: int | None = None) -> tuple[int, list[str]]:
    """How many custom resources exist (all namespaces), and the first `limit` as ns/name."""
    version = next((v.name for v in info.versions if v.storage), None) or next(
        (v.name for v in info.versions if v.served), None
    )
    if version is None:
        return 0, []
    count, names = 0, list[str]()
    cont: str | None = None
    while True:
        page = _list_page(api, info, version, cont)
        if page is None:
            return count, names
        for item in page.get("items") or []:
            count += 1
            if limit is None or len(names) < limit:
                names.append(_ref(item))
        cont = (page.get("metadata") or {}).get("continue")
        if not cont:
            return count, names
