"""A thin JSON adapter over the official kubernetes client's REST layer.

The operator writes dicts (the builders' output) and reads dicts; going through the generated
typed models would cost a pydantic round trip per call for nothing. Errors come out as
`ApiError` (with the HTTP status) or `TransientApiError` (connection trouble, 5xx, 429), which
the kopf handlers turn into `kopf.TemporaryError` with backoff.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from braindump_cli.k8s.client import api_client
from braindump_cli.settings import KubeSettings

Obj = dict[str, Any]

# kind -> (API path prefix, plural)
KINDS: dict[str, tuple[str, str]] = {
    "StatefulSet": ("/apis/apps/v1", "statefulsets"),
    "Service": ("/api/v1", "services"),
    "ConfigMap": ("/api/v1", "configmaps"),
    "Secret": ("/api/v1", "secrets"),
    "Job": ("/apis/batch/v1", "jobs"),
    "CronJob": ("/apis/batch/v1", "cronjobs"),
    "Event": ("/api/v1", "events"),
    "ServiceAccount": ("/api/v1", "serviceaccounts"),
    "PersistentVolumeClaim": ("/api/v1", "persistentvolumeclaims"),
}


class ApiError(Exception):
    """A non-2xx answer; `status` is the HTTP code. The message never carries request bodies."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"HTTP {status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.detail = message


class TransientApiError(Exception):
    """Worth retrying: the apiserver was unreachable, overloaded or answered 5xx/429/409."""


@dataclass(frozen=True)
class ConnectionDetails:
    """What kopf's login handler needs (paths and token as the kubernetes client resolved them)."""

    server: str
    ca_path: str | None
    insecure: bool
    certificate_path: str | None
    private_key_path: str | None
    token: str | None
    namespace: str | None


class KubeApi:
    def __init__(self, api_client: Any, *, timeout: float = 30.0) -> None:
        self._client = api_client
        self._timeout = timeout

    @classmethod
    def from_settings(cls, settings: KubeSettings, *, pool_size: int = 32) -> KubeApi:
        return cls(api_client(settings, pool_size=pool_size, retries=True), timeout=max(settings.request_timeout, 30.0))

    @property
    def connection(self) -> ConnectionDetails:
        cfg = self._client.configuration
        auth = (cfg.api_key or {}).get("authorization") or (cfg.api_key or {}).get("BearerToken")
        token = auth.split(" ", 1)[1] if auth and " " in auth else auth
        return ConnectionDetails(
            server=cfg.host,
            ca_path=cfg.ssl_ca_cert,
            insecure=not cfg.verify_ssl,
            certificate_path=cfg.cert_file,
            private_key_path=cfg.key_file,
            token=token,
            namespace=None,
        )

    def close(self) -> None:
        self._client.close()

    # --- raw ------------------------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        query: Mapping[str, str] | None = None,
        content_type: str = "application/json",
    ) -> Obj:
        import urllib3

        # The generated client would walk `body` through sanitize_for_serialization (slow for big
        # objects); it only builds the URL and auth headers here, urllib3 sends the JSON we encode.
        m, url, hdrs, _, _ = self._client.param_serialize(
            method,
            path,
            query_params=list((query or {}).items()) or None,
            header_params={"Accept": "application/json", "Content-Type": content_type},
            auth_settings=["BearerToken"],
        )
        payload = None if body is None else json.dumps(body, separators=(",", ":")).encode()
        try:
            resp = self._client.rest_client.pool_manager.request(
                m, url, body=payload, headers=hdrs, timeout=urllib3.Timeout(total=self._timeout)
            )
            raw = resp.data
        except (urllib3.exceptions.HTTPError, OSError) as e:
            raise TransientApiError(f"{method} {path}: {type(e).__name__}") from e
        status = int(resp.status)
        if 200 <= status < 300:
            return json.loads(raw) if raw else {}
        try:
            detail = json.loads(raw)
            message = str(detail.get("message", ""))
            reason = str(detail.get("reason", resp.reason))
        except (ValueError, AttributeError):
            message, reason = "", str(resp.reason)
        if status >= 500 or status == 429:
            raise TransientApiError(f"{method} {path}: HTTP {status} {reason}")
        raise ApiError(status, reason, message[:500])

    # --- typed-ish helpers ----------------------------------------------------------------------
    @staticmethod
    def path(kind: str, namespace: str, name: str | None = None) -> str:
        prefix, plural = KINDS[kind]
        base = f"{prefix}/namespaces/{namespace}/{plural}"
        return f"{base}/{name}" if name else base

    def get(self, kind: str, namespace: str, name: str) -> Obj | None:
        try:
            return self.request("GET", self.path(kind, namespace, name))
        except ApiError as e:
            if e.status == 404:
                return None
            raise

    def list(self, kind: str, namespace: str, *, label_selector: str) -> list[Obj]:
        out = self.request("GET", self.path(kind, namespace), query={"labelSelector": label_selector})
        return list(out.get("items") or [])

    def create(self, obj: Mapping[str, Any]) -> Obj | None:
        """POST; None when an object of that name already exists (409)."""
        meta = obj["metadata"]
        try:
            return self.request("POST", self.path(str(obj["kind"]), meta["namespace"]), body=obj)
        except ApiError as e:
            if e.status == 409:
                return None
            raise

    def apply(self, obj: Mapping[str, Any], *, field_manager: str) -> Obj:
        """Server-side apply (create or update), taking over fields another manager changed."""
        meta = obj["metadata"]
        return self.request(
            "PATCH",
            self.path(str(obj["kind"]), meta["namespace"], meta["name"]),
            body=obj,
            query={"fieldManager": field_manager, "force": "true"},
            content_type="application/apply-patch+yaml",
        )

    def delete(self, kind: str, namespace: str, name: str, *, propagation: str = "Background") -> bool:
        try:
            self.request(
                "DELETE",
                self.path(kind, namespace, name),
                body={"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": propagation},
            )
            return True
        except ApiError as e:
            if e.status == 404:
                return False
            raise

    def custom_path(self, group: str, version: str, plural: str, namespace: str, name: str | None = None) -> str:
        base = f"/apis/{group}/{version}/namespaces/{namespace}/{plural}"
        return f"{base}/{name}" if name else base

    def patch_merge(self, path: str, patch: Mapping[str, Any]) -> Obj:
        return self.request("PATCH", path, body=patch, content_type="application/merge-patch+json")
