"""`bd crd check`: validate custom resources offline against known CRDs, then by a server-side dry run."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from braindump_cli.errors import BdTimeoutError
from braindump_cli.k8s.client import APPLY_PATCH, ApiError, KubeApi
from braindump_cli.k8s.crd._cluster import FIELD_MANAGER, cluster_crds, resource_path
from braindump_cli.k8s.crd.cel import MISSING, has_rules, validate_rules
from braindump_cli.k8s.crd.defaults import prepare
from braindump_cli.k8s.crd.manifests import Document, Problem, read_manifests
from braindump_cli.k8s.crd.ratchet import BLOCKING, unchanged
from braindump_cli.k8s.crd.resolve import CrdInfo, VersionInfo, crd_info, is_crd, load_crd_file, resolve_kind
from braindump_cli.k8s.crd.shipped import database_crd
from braindump_cli.k8s.schema_check import SchemaProblem, validate
from braindump_cli.progress import Progress, no_progress
from braindump_cli.settings import KubeSettings

MAX_OBJECT_BYTES = int(1.5 * 2**20)  # etcd's default request limit: larger objects are refused
# answers that say nothing about the object: the dry run cannot go on (404 stays an error, exit 3)
_NO_VERDICT = (0, 401, 403)


@dataclass(frozen=True)
class CheckedObject:
    """A custom resource the check resolved to a known CRD."""

    file: str
    document: int
    group: str
    kind: str
    name: str


@dataclass(frozen=True)
class CheckReport:
    ok: bool
    documents: int
    checked: int  # documents that are custom resources of a known CRD
    server_dry_run: str  # "done", "offline", or "skipped: <why>"
    known_crds: tuple[str, ...]
    problems: tuple[Problem, ...]
    objects: tuple[CheckedObject, ...] = ()
    schema_version: int = 1


def to_statuses(report: CheckReport) -> list[dict[str, Any]]:
    """Per checked object, the `Status` the API server answers a create with (`-o status`):
    Success (code 201), or Failure 422 `Invalid` with `details.causes[].field/reason/message`."""
    out = []
    for obj in report.objects:
        mine = [p for p in report.problems if (p.file, p.document) == (obj.file, obj.document)]
        status: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}}
        details = {"name": obj.name, "group": obj.group, "kind": obj.kind}
        if not mine:
            status.update(status="Success", code=201, details=details)
        else:
            causes = [{"reason": p.type, "message": p.reason, "field": p.path or "<nil>"} for p in mine]
            listed = ", ".join(f"{p.path or '<nil>'}: {p.reason}" for p in mine)
            status.update(
                status="Failure",
                message=f'{obj.kind}.{obj.group} "{obj.name}" is invalid: [{listed}]',
                reason="Invalid",
                details={**details, "causes": causes},
                code=422,
            )
        out.append({"file": obj.file, "document": obj.document, "status": status})
    return out


# --- offline --------------------------------------------------------------------------------------

RULES_NOT_CHECKED = (
    "some validation rules were not checked because the object was invalid; correct the existing errors to "
    "complete validation"
)
UNKNOWN_FIELD = "FieldValueNotFound"  # the type bd gives a field the schema does not declare
# ObjectMeta's fields: the strict decoder refuses any other (metadata is decoded strictly too)
_OBJECT_META = frozenset(
    [
        "name",
        "generateName",
        "namespace",
        "selfLink",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "labels",
        "annotations",
        "ownerReferences",
        "finalizers",
        "managedFields",
    ]
)
_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def _check_name(meta: Mapping[str, Any]) -> list[Problem]:
    name = meta.get("name")
    if name is None:
        if meta.get("generateName"):
            return []
        return [Problem("", 0, "metadata.name", "required field is missing (or set metadata.generateName)")]
    if not isinstance(name, str):
        return [Problem("", 0, "metadata.name", f"must be a string, got {name!r}")]
    if len(name) > 253 or not _NAME.fullmatch(name):
        return [
            Problem(
                "",
                0,
                "metadata.name",
                f"{name!r} is not a lowercase RFC 1123 subdomain (lowercase letters, digits, '-' and '.', "
                "starting and ending with a letter or digit)",
            )
        ]
    return []


def _check_metadata(body: Mapping[str, Any], crd: CrdInfo) -> list[Problem]:
    meta = body.get("metadata")
    if meta is None:
        return [Problem("", 0, "metadata.name", "required field is missing")]
    if not isinstance(meta, dict):
        return [Problem("", 0, "metadata", f"must be of type object, got {type(meta).__name__}")]
    out = _check_name(meta)
    out += [
        Problem("", 0, f"metadata.{key}", "unknown field (not declared in the schema)", type=UNKNOWN_FIELD)
        for key in meta
        if key not in _OBJECT_META
    ]
    if meta.get("namespace") is not None and crd.scope == "Cluster":
        out.append(Problem("", 0, "metadata.namespace", f"{crd.kind} is cluster-scoped: remove the namespace"))
    for key in ("labels", "annotations"):
        value = meta.get(key)
        if value is not None and not (isinstance(value, dict) and all(isinstance(v, str) for v in value.values())):
            out.append(Problem("", 0, f"metadata.{key}", "must be a map of strings (quote numbers and booleans)"))
    return out


def _without_status(body: Any) -> Any:
    return {k: v for k, v in body.items() if k != "status"} if isinstance(body, Mapping) else body


def _schema_problems(
    body: Mapping[str, Any], schema: Mapping[str, Any], old: Any, *, status_subresource: bool
) -> list[SchemaProblem]:
    """The server's order: drop nulls and default, validate the schema, then (unless a blocking
    problem makes it unsafe, as on the server) the CEL rules; on an update, ratchet.

    With a status subresource, a create or update of the object ignores `status` (only the strict
    decoder still refuses unknown fields in it), as the server does."""
    found = validate(prepare(body, schema), schema)
    if status_subresource:
        found = [p for p in found if not p.path.startswith("status") or p.type == UNKNOWN_FIELD]
        body, old = _without_status(body), _without_status(old)
    prepared = prepare(body, schema)
    old_prepared = prepare(old, schema) if isinstance(old, Mapping) else MISSING
    if old_prepared is not MISSING:
        found = [p for p in found if not unchanged(p, prepared, old_prepared)]
    if not any(p.type in BLOCKING for p in found):
        found += validate_rules(prepared, schema, old=old_prepared)
    elif has_rules(schema):
        found.append(SchemaProblem("", RULES_NOT_CHECKED))
    return found


def check_document(
    body: Any, known: Sequence[CrdInfo], *, old: Mapping[str, Any] | None = None
) -> tuple[list[Problem], tuple[CrdInfo, VersionInfo] | None]:
    """Offline problems of one document (file/document fields left empty) and what it resolved to.

    With `old`, `body` is checked as an update of it: transition rules run, and problems of values
    that did not change are ratcheted (allowed), as the API server does.
    """
    if not isinstance(body, dict):
        return [Problem("", 0, "", f"a Kubernetes object must be a mapping, got {type(body).__name__}")], None
    resolved = resolve_kind(body, known)
    if resolved is None:
        return [], None
    if isinstance(resolved, list):
        return resolved, None
    crd, ver = resolved
    problems = _check_metadata(body, crd)
    if ver.schema is not None:
        found = _schema_problems(body, ver.schema, old, status_subresource=ver.status_subresource)
        problems += [Problem("", 0, p.path, p.reason, type=p.type) for p in found]
    unknown = [p for p in problems if p.type == UNKNOWN_FIELD]
    # the strict decoder refuses unknown fields before anything is validated, so the server names only them
    return unknown or problems, resolved


# --- server-side dry run --------------------------------------------------------------------------


def _cause_problems(err: ApiError) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for cause in err.causes:
        path = str(cause.get("field") or "").lstrip(".")
        if not path:
            continue
        message = str(cause.get("message") or cause.get("reason") or "invalid")
        message = message.replace(f"{path} in body ", "")
        out.append(("" if path == "<nil>" else path, message))  # <nil>: the object itself
    return out


def _message_problems(err: ApiError) -> list[tuple[str, str]]:
    message = str(err.body.get("message") or "")
    out = [
        (p.lstrip("."), "unknown field (not declared in the schema)")
        for p in re.findall(r'unknown field "([^"]+)"', message)
    ]
    out += [(p.lstrip("."), "duplicate field") for p in re.findall(r'duplicate field "([^"]+)"', message)]
    if not out and "typed patch" in message:
        for m in re.finditer(r"(?:^|\n|: )\s*\.([\w.\-\[\]=\"]+): ([^\n]+)", message):
            out.append((m.group(1), m.group(2).strip()))
    if not out:
        out.append(("", message.splitlines()[0] if message else f"rejected by the API server (HTTP {err.status})"))
    return out


def server_problems(err: ApiError) -> list[tuple[str, str]]:
    out = _cause_problems(err) or _message_problems(err)
    seen: set[str] = set()
    unique = []
    for path, reason in out:
        if path not in seen:
            seen.add(path)
            unique.append((path, reason))
    return unique


def _verdict(err: ApiError) -> list[tuple[str, str]]:
    if err.status in _NO_VERDICT or err.status == 404:
        raise err
    return server_problems(err)


def dry_run_document(api: KubeApi, body: Mapping[str, Any], crd: CrdInfo, ver: VersionInfo) -> list[tuple[str, str]]:
    """Problems the API server reports for creating (or, if it exists, applying) `body`, changing nothing."""
    meta = body.get("metadata") or {}
    namespace = str(meta.get("namespace") or "default")
    query = {"dryRun": "All", "fieldManager": FIELD_MANAGER, "fieldValidation": "Strict"}
    try:
        api.request("POST", resource_path(crd, ver.name, namespace), query=query, body=dict(body))
        return []
    except ApiError as e:
        if e.status != 409 or not meta.get("name"):
            return _verdict(e)
    try:  # it exists: validate the object as an update (CEL transition rules included)
        api.request(
            "PATCH",
            resource_path(crd, ver.name, namespace, str(meta["name"])),
            query={**query, "force": True},
            body=dict(body),
            content_type=APPLY_PATCH,
        )
        return []
    except ApiError as e:
        return _verdict(e)


@dataclass
class _Server:
    """The dry-run side of a check: the client (None once it cannot go on) and what it found out."""

    api: KubeApi | None
    state: str
    on_cluster: set[str] = field(default_factory=set)
    not_installed: set[str] = field(default_factory=set)

    def stop(self, why: str, progress: Progress) -> None:
        self.state = f"skipped: {why}"
        progress(f"server-side dry run stopped: {why}")
        self.api = None

    def final_state(self) -> str:
        if self.not_installed and self.state == "done":
            return f"done (skipped CRDs not on the cluster: {', '.join(sorted(self.not_installed))})"
        return self.state


def _known_crds(docs: Sequence[Document], crd_files: Sequence[Path | str]) -> dict[str, CrdInfo]:
    known: dict[str, CrdInfo] = {}
    if crd_files:
        for path in crd_files:
            for crd in load_crd_file(path):
                info = crd_info(crd, str(path))
                known[info.name] = info
    else:
        shipped = crd_info(database_crd(), "shipped")
        known[shipped.name] = shipped
    for d in docs:  # CRDs in the manifests themselves count too
        if is_crd(d.body):
            info = crd_info(d.body, f"{d.file}#{d.index}")
            known[info.name] = info
    return known


def _connect(
    settings: KubeSettings | None,
    *,
    offline: bool,
    known: dict[str, CrdInfo],
    prefer_files: bool,
    progress: Progress,
) -> _Server:
    """Learn the cluster's CRDs (adding them to `known`); a server that cannot answer is skipped."""
    if offline:
        return _Server(None, "offline")
    if settings is None:
        return _Server(None, "skipped: no Kubernetes configuration found")
    api = KubeApi(settings, deadline=time.monotonic() + settings.request_timeout)
    server = _Server(api, "done")
    try:
        for crd in cluster_crds(api):
            info = crd_info(crd, "cluster")
            server.on_cluster.add(info.name)
            if not prefer_files or info.name not in known:
                known[info.name] = info
    except (BdTimeoutError, ApiError) as e:
        server.state = f"skipped: {e.message}"
        progress(f"server-side dry run skipped: {e.message}")
        server.api = None
        return server
    api.deadline = None  # from here on each dry run is bounded by the request timeout alone
    return server


def _dry_run(server: _Server, d: Document, target: CrdInfo, ver: VersionInfo, progress: Progress) -> list[Problem]:
    if server.api is None:
        return []
    if target.name not in server.on_cluster:
        server.not_installed.add(target.name)
        return []
    try:
        found = dry_run_document(server.api, d.body, target, ver)
    except BdTimeoutError as e:
        server.stop(e.message, progress)
        return []
    except ApiError as e:
        if e.status not in _NO_VERDICT:
            raise
        server.stop(e.message, progress)
        return []
    return [Problem(d.file, d.index, path, reason, "server") for path, reason in found]


def object_key(body: Any) -> tuple[str, str, str, str] | None:
    """What pairs a new document with its old version: apiVersion group, kind, namespace, name."""
    if not isinstance(body, dict) or not isinstance(body.get("metadata"), dict):
        return None
    meta = body["metadata"]
    group = str(body.get("apiVersion") or "").rpartition("/")[0]
    return group, str(body.get("kind") or ""), str(meta.get("namespace") or ""), str(meta.get("name") or "")


def _old_objects(old_sources: Sequence[str], stdin: BinaryIO | None) -> dict[tuple[str, str, str, str], Any]:
    if not old_sources:
        return {}
    docs, _ = read_manifests(old_sources, stdin=stdin)
    return {key: d.body for d in docs if (key := object_key(d.body)) is not None}


def _check_one(
    d: Document, known: Sequence[CrdInfo], server: _Server, progress: Progress, old: Any = None
) -> tuple[list[Problem], bool]:
    """Problems of one document, and whether it was a custom resource of a known CRD."""
    found, resolved = check_document(d.body, known, old=old)
    if resolved is not None and d.duplicates:  # the strict decoder stops at duplicate fields too
        found = [Problem("", 0, path, "duplicate field", type=UNKNOWN_FIELD) for path in d.duplicates]
    problems = [Problem(d.file, d.index, p.path, p.reason, type=p.type) for p in found]
    if resolved is None:
        return problems, False
    if d.size > MAX_OBJECT_BYTES:
        reason = f"object is {d.size / 2**20:.1f} MiB; the API server stores at most 1.5 MiB per object"
        return [*problems, Problem(d.file, d.index, "", reason)], True
    offline_paths = {p.path for p in found}
    problems += [p for p in _dry_run(server, d, *resolved, progress) if p.path not in offline_paths]
    return problems, True


def check_crd(
    sources: Sequence[str],
    *,
    crd_files: Sequence[Path | str] = (),
    settings: KubeSettings | None = None,
    offline: bool = False,
    old_sources: Sequence[str] = (),
    stdin: BinaryIO | None = None,
    progress: Progress = no_progress,
) -> CheckReport:
    """Validate custom resources offline against known CRDs, then by a server-side dry run.

    With `old_sources`, each document that has an old version there (same group, kind, namespace
    and name) is checked as an update of it (transition rules, ratcheting).
    """
    docs, problems = read_manifests(sources, stdin=stdin)
    olds = _old_objects(old_sources, stdin)
    known = _known_crds(docs, crd_files)
    server = _connect(settings, offline=offline, known=known, prefer_files=bool(crd_files), progress=progress)
    known_list = list(known.values())
    objects: list[CheckedObject] = []
    checked = 0
    for d in docs:
        if is_crd(d.body):
            continue
        key = object_key(d.body)
        found, was_checked = _check_one(d, known_list, server, progress, olds.get(key) if key else None)
        problems += found
        checked += was_checked
        if was_checked and key is not None:
            objects.append(CheckedObject(d.file, d.index, key[0], key[1], key[3]))
    return CheckReport(
        ok=not problems,
        documents=len(docs),
        checked=checked,
        objects=tuple(objects),
        server_dry_run=server.final_state(),
        known_crds=tuple(sorted(known)),
        problems=tuple(sorted(problems, key=lambda p: (p.file, p.document))),
    )
