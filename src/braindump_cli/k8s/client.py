"""The one adapter between bd and the Kubernetes API (shared by `bd crd` and `bd operator`).

The only module of bd that imports `kubernetes` (lazily, in `api_client`). `KubeApi` speaks plain
dicts: the generated client only builds the URL and the auth headers, and urllib3 sends the JSON
encoded here, because walking a body through the typed models costs a round trip per call for
nothing (the operator writes hundreds of objects a minute).

Every failure of a request comes out as one `ApiError` (a `BdError`) carrying the HTTP status (0
when no answer came), the decoded `Status` body, and `transient` (worth retrying: unreachable,
overloaded, 5xx, 429). Its exit code follows the status:

* no answer (refused, TLS or socket failure, timeout) -> exit 5 (unreachable)
* 404 -> exit 3 (not found)
* 401/403 -> exit 1, with the server's own "User X cannot ..." line and a hint
* other 4xx/5xx -> exit 1, with `reason` and `causes` for callers

Every request is bounded by the client's timeout and, when given, an overall deadline, so a dead
apiserver fails fast instead of hanging.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from braindump_cli.errors import BdError, BdTimeoutError, ExitCode, UsageError
from braindump_cli.settings import KubeSettings

Json = dict[str, Any]
Obj = Json
APPLY_PATCH = "application/apply-patch+yaml"
MERGE_PATCH = "application/merge-patch+json"
UNREACHABLE_HINT = "is the cluster up? check `kubectl cluster-info` and --kubeconfig/--context"

# kind -> (API path prefix, plural) of the built-in kinds bd reads and writes by kind
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


class ApiError(BdError):
    """A request failed: the server answered non-2xx (`status`), or did not answer (`status` 0).

    `transient` says a retry may succeed (no answer, 5xx, 429). The message never carries request
    bodies; `detail` is the server's own message.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int = 0,
        body: Json | None = None,
        transient: bool = False,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.body: Json = body or {}
        self.transient = transient
        self.exit_code = _exit_code(status)

    @property
    def reason(self) -> str:
        return str(self.body.get("reason", ""))

    @property
    def detail(self) -> str:
        return str(self.body.get("message", ""))[:500]

    @property
    def causes(self) -> list[Json]:
        details = self.body.get("details") or {}
        return list(details.get("causes") or [])


def _exit_code(status: int) -> ExitCode:
    if status == 0:
        return ExitCode.UNREACHABLE
    if status == 404:
        return ExitCode.NOT_FOUND
    return ExitCode.ERROR


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


Query = Mapping[str, str | int | bool] | Sequence[tuple[str, str | int | bool]]


class KubeApi:
    """Raw REST calls returning decoded JSON; every failure is an `ApiError`.

    `KubeApi(settings, deadline=...)` is a command's client (no urllib3 retries, an optional
    overall deadline); `KubeApi.from_settings(settings, pool_size=...)` the operator's long-lived
    pooled one.
    """

    def __init__(
        self,
        settings: KubeSettings,
        *,
        deadline: float | None = None,
        timeout: float | None = None,
        pool_size: int | None = None,
        retries: bool = False,
    ) -> None:
        self.settings = settings
        self.deadline = deadline  # time.monotonic() value after which no request starts
        self.timeout = timeout if timeout is not None else settings.request_timeout
        self._pool_size = pool_size
        self._retries = retries
        self._client: Any = None

    @classmethod
    def from_settings(cls, settings: KubeSettings, *, pool_size: int = 32) -> KubeApi:
        """The operator's client: pooled, urllib3 retries on dropped keep-alives, 30 s per request."""
        return cls(settings, pool_size=pool_size, retries=True, timeout=max(settings.request_timeout, 30.0))

    @property
    def client(self) -> Any:
        if self._client is None:
            started = time.monotonic()
            self._client = api_client(self.settings, pool_size=self._pool_size, retries=self._retries)
            if self.deadline is not None:
                # importing the client and reading the kubeconfig is not waiting for the API server
                # (a loaded machine can spend seconds there; --timeout is about the server)
                self.deadline += time.monotonic() - started
        return self._client

    @property
    def server(self) -> str:
        return str(self.client.configuration.host)

    @property
    def connection(self) -> ConnectionDetails:
        cfg = self.client.configuration
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
        if self._client is not None:
            self._client.close()

    def remaining(self) -> float:
        if self.deadline is None:
            return self.timeout
        return self.deadline - time.monotonic()

    def _request_timeout(self) -> float:
        left = self.remaining()
        if left <= 0:
            raise BdTimeoutError(
                f"no answer from the API server {self.server} within the timeout",
                hint="check `kubectl cluster-info`, or raise --timeout",
            )
        return min(self.timeout, left)

    # --- raw ------------------------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        *,
        query: Query | None = None,
        body: Any = None,
        content_type: str = "application/json",
        what: str | None = None,
    ) -> Json:
        """Send one request; return the decoded JSON body (an empty dict for an empty body)."""
        import urllib3

        items = list(query.items() if isinstance(query, Mapping) else query or ())
        # The generated client only builds the URL and the auth headers (refreshing tokens);
        # urllib3 sends the JSON encoded here (JSON is YAML too, for apply patches).
        m, url, headers, _, _ = self.client.param_serialize(
            method,
            path,
            query_params=[(k, _qs(v)) for k, v in items] or None,
            header_params={"Accept": "application/json", "Content-Type": content_type},
            auth_settings=["BearerToken"],
        )
        payload = None if body is None else json.dumps(body, separators=(",", ":")).encode()
        timeout = self._request_timeout()
        try:
            resp = self.client.rest_client.pool_manager.request(
                m, url, body=payload, headers=headers, timeout=urllib3.Timeout(total=timeout)
            )
        except (urllib3.exceptions.HTTPError, OSError) as e:
            raise ApiError(
                f"cannot reach the API server {self.server}: {_short(e)}",
                transient=True,
                hint="check certificate-authority in the kubeconfig" if _is_tls(e) else UNREACHABLE_HINT,
            ) from e
        status = int(resp.status)
        decoded = _decode(resp.data)
        if 200 <= status < 300:
            return decoded
        raise _error(status, decoded, what or f"{method} {path}")

    # --- by kind --------------------------------------------------------------------------------
    @staticmethod
    def path(kind: str, namespace: str, name: str | None = None) -> str:
        prefix, plural = KINDS[kind]
        base = f"{prefix}/namespaces/{namespace}/{plural}"
        return f"{base}/{name}" if name else base

    @staticmethod
    def custom_path(group: str, version: str, plural: str, namespace: str, name: str | None = None) -> str:
        base = f"/apis/{group}/{version}/namespaces/{namespace}/{plural}"
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
            query={"fieldManager": field_manager, "force": True},
            content_type=APPLY_PATCH,
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

    def patch_merge(self, path: str, patch: Mapping[str, Any]) -> Obj:
        return self.request("PATCH", path, body=patch, content_type=MERGE_PATCH)


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


def _is_tls(e: BaseException) -> bool:
    import ssl

    import urllib3

    seen: BaseException | None = e
    while seen is not None:
        if isinstance(seen, (ssl.SSLError, urllib3.exceptions.SSLError)):
            return True
        reason = getattr(seen, "reason", None)
        seen = reason if isinstance(reason, BaseException) and reason is not seen else None
    return False


def _short(e: BaseException) -> str:
    text = str(e)
    for marker in ("Connection refused", "timed out", "Name or service not known", "No route to host"):
        if marker in text:
            return marker.lower()
    if _is_tls(e):
        return f"TLS handshake failed: {text.splitlines()[0][:200]}"
    reason = getattr(e, "reason", None)
    if isinstance(reason, BaseException) and reason is not e:
        return _short(reason)
    return text.splitlines()[0][:200] if text else type(e).__name__


def _error(status: int, body: Json, what: str) -> ApiError:
    message = str(body.get("message") or f"HTTP {status}")
    transient = status >= 500 or status == 429
    if status == 401:
        return ApiError(
            f"the API server did not accept the credentials: {message}",
            status=status,
            body=body,
            hint="refresh the credentials in the kubeconfig (or pick another with --context)",
        )
    if status == 403:
        return ApiError(
            f"forbidden: {message}",
            status=status,
            body=body,
            hint="ask a cluster admin for the RBAC permission, or use another --context",
        )
    return ApiError(f"{what}: {message}", status=status, body=body, transient=transient)
