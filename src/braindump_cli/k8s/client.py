"""The one adapter between bd and the Kubernetes API (shared by `bd crd` and `bd operator`).

`api_client(settings)` builds a configured `kubernetes.client.ApiClient` (the heavy import happens
here, lazily). `KubeApi` is a small raw-REST wrapper on top of it that speaks plain dicts and
translates failures into bd's errors once:

* 401/403 -> PermissionDeniedError (exit 1), with the server's own "User X cannot ..." line
* 404 -> NotFoundError (exit 3)
* other 4xx/5xx -> ApiError (exit 1) carrying the decoded `Status` (reason, causes) for callers
* connection refused, TLS or socket failures, timeouts -> UnreachableError (exit 5)

Every request is bounded by `settings.request_timeout` and, when given, an overall deadline, so a
dead apiserver fails fast instead of hanging.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from braindump_cli.errors import (
    BdError,
    BdTimeoutError,
    NotFoundError,
    PermissionDeniedError,
    UnreachableError,
    UsageError,
)
from braindump_cli.settings import KubeSettings

Json = dict[str, Any]
APPLY_PATCH = "application/apply-patch+yaml"
MERGE_PATCH = "application/merge-patch+json"


class ApiError(BdError):
    """The API server answered with an error status other than 401/403/404."""

    def __init__(self, message: str, *, status: int, body: Json | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.body: Json = body or {}

    @property
    def reason(self) -> str:
        return str(self.body.get("reason", ""))

    @property
    def causes(self) -> list[Json]:
        details = self.body.get("details") or {}
        return list(details.get("causes") or [])


def api_client(settings: KubeSettings, *, pool_size: int | None = None, retries: bool = False) -> Any:
    """A `kubernetes.client.ApiClient` for these settings (kubeconfig + context, or in-cluster).

    A command fails fast (`retries=False`: bd decides about retries itself, and urllib3's default
    of 3 would multiply every timeout); the long-running operator keeps urllib3's retries so a
    pooled keep-alive connection the server dropped is re-sent instead of failing a reconcile.
    """
    from kubernetes import client, config

    cfg = client.Configuration()
    try:
        if settings.kubeconfig is None:
            config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
        else:
            if not settings.kubeconfig.exists():
                raise UsageError(
                    f"kubeconfig {settings.kubeconfig} does not exist (from {settings.source})",
                    hint="pass --kubeconfig FILE or set KUBECONFIG",
                )
            config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=str(settings.kubeconfig),
                context=settings.context,
                client_configuration=cfg,
                persist_config=False,
            )
    except config.ConfigException as e:
        raise UsageError(
            f"cannot use kubeconfig {settings.kubeconfig or '(in-cluster)'}: {str(e).splitlines()[0]}",
            hint="check the file and --context (`kubectl config get-contexts`)",
        ) from e
    if not retries:
        cfg.retries = False
    if pool_size is not None:
        cfg.connection_pool_maxsize = pool_size
    return client.ApiClient(cfg)


@dataclass
class KubeApi:
    """Raw REST calls returning decoded JSON; errors translated to bd's hierarchy."""

    settings: KubeSettings
    deadline: float | None = None  # time.monotonic() value after which no request starts
    _client: Any = field(default=None, repr=False)

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = api_client(self.settings)
        return self._client

    @property
    def server(self) -> str:
        return str(self.client.configuration.host)

    def remaining(self) -> float:
        if self.deadline is None:
            return self.settings.request_timeout
        return self.deadline - time.monotonic()

    def _timeout(self) -> float:
        left = self.remaining()
        if left <= 0:
            raise BdTimeoutError(
                f"no answer from the API server {self.server} within the timeout",
                hint="check `kubectl cluster-info`, or raise --timeout",
            )
        return min(self.settings.request_timeout, left)

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str | int | bool] | Sequence[tuple[str, str]] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        what: str | None = None,
    ) -> Json:
        """Send one request; return the decoded JSON body (an empty dict for an empty body)."""
        import urllib3

        url = self.server + path
        if query:
            items = query.items() if isinstance(query, Mapping) else query
            url += "?" + urllib.parse.urlencode([(k, _qs(v)) for k, v in items])
        headers = {"Accept": "application/json", "Content-Type": content_type}
        # the REST layer serialises dict bodies as JSON for JSON and YAML (apply-patch) content types
        payload = body
        auth_headers: dict[str, str] = {}
        self.client.update_params_for_auth(auth_headers, None, ["BearerToken"], path, method, payload)
        headers.update(auth_headers)
        headers.update(self.client.default_headers)
        timeout = self._timeout()
        try:
            resp = self.client.call_api(
                method, url, header_params=headers, body=payload, _request_timeout=(timeout, timeout)
            )
            raw = resp.read()
        except urllib3.exceptions.HTTPError as e:
            raise UnreachableError(
                f"cannot reach the API server {self.server}: {_short(e)}",
                hint="is the cluster up? check `kubectl cluster-info` and --kubeconfig/--context",
            ) from e
        except OSError as e:
            raise UnreachableError(
                f"cannot reach the API server {self.server}: {e}",
                hint="is the cluster up? check `kubectl cluster-info` and --kubeconfig/--context",
            ) from e
        except Exception as e:
            if type(e).__name__ == "ApiException" and getattr(e, "status", None) == 0:
                # the client wraps TLS failures as ApiException(status=0)
                raise UnreachableError(
                    f"TLS handshake with {self.server} failed: {_short(e)}",
                    hint="check certificate-authority in the kubeconfig",
                ) from e
            raise
        status = int(resp.status)
        decoded = _decode(raw)
        if 200 <= status < 300:
            return decoded
        raise _error(status, decoded, what or f"{method} {path}")


def _qs(value: str | int | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _decode(raw: bytes | None) -> Json:
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return {"message": raw[:500].decode("utf-8", "replace")}
    return value if isinstance(value, dict) else {"items": value}


def _short(e: BaseException) -> str:
    text = str(e)
    for marker in ("Connection refused", "timed out", "Name or service not known", "No route to host"):
        if marker in text:
            return marker.lower()
    reason = getattr(e, "reason", None)
    if reason is not None and reason is not e:
        return _short(reason)
    return text.splitlines()[0][:200] if text else type(e).__name__


def _error(status: int, body: Json, what: str) -> BdError:
    message = str(body.get("message") or f"HTTP {status}")
    if status == 401:
        return PermissionDeniedError(
            f"the API server did not accept the credentials: {message}",
            hint="refresh the credentials in the kubeconfig (or pick another with --context)",
        )
    if status == 403:
        return PermissionDeniedError(
            f"forbidden: {message}", hint="ask a cluster admin for the RBAC permission, or use another --context"
        )
    if status == 404:
        return NotFoundError(f"{what}: {message}")
    return ApiError(f"{what}: {message}", status=status, body=body)
