"""The Database CRD (shipped with bd) and the recipes around CRDs: show, install, check, status,
uninstall. Plain typed functions returning frozen dataclasses; the CLI renders them.

`database_crd(group=None)` is the shipped CRD as a dict (the operator's manifests reuse it).
"""

from __future__ import annotations

import copy
import datetime as dt
import difflib
import io
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, BinaryIO

import yaml

from braindump_cli.errors import (
    BdError,
    BdTimeoutError,
    NotFoundError,
    PermissionDeniedError,
    RefusedError,
    UnreachableError,
    UsageError,
)
from braindump_cli.k8s.client import APPLY_PATCH, ApiError, Json, KubeApi
from braindump_cli.k8s.schema_check import validate
from braindump_cli.progress import Progress, no_progress
from braindump_cli.settings import KubeSettings

CRD_API = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
FIELD_MANAGER = "bd"
SHIPPED_GROUP = "stable.imaginedata.com"
SHIPPED_NAME = f"databases.{SHIPPED_GROUP}"
MAX_INPUT_BYTES = 64 * 2**20  # refuse to parse more than this per input
MAX_OBJECT_BYTES = int(1.5 * 2**20)  # etcd's default request limit: larger objects are refused


# --- the shipped CRD ------------------------------------------------------------------------------


def shipped_crd_text() -> str:
    return resources.files("braindump_cli.k8s").joinpath("database-crd.yaml").read_text(encoding="utf-8")


def rewrite_group(crd: Mapping[str, Any], group: str) -> dict[str, Any]:
    """The same CRD under another API group (metadata.name follows: <plural>.<group>)."""
    out = copy.deepcopy(dict(crd))
    spec = out.setdefault("spec", {})
    spec["group"] = group
    plural = (spec.get("names") or {}).get("plural")
    if plural:
        out.setdefault("metadata", {})["name"] = f"{plural}.{group}"
    return out


def database_crd(group: str | None = None) -> dict[str, Any]:
    crd: dict[str, Any] = yaml.safe_load(shipped_crd_text())
    return rewrite_group(crd, group) if group else crd


def show_crd(*, group: str | None = None) -> str:
    """The shipped CRD as YAML text, optionally under another group (comments kept when unchanged)."""
    if not group or group == SHIPPED_GROUP:
        return shipped_crd_text()
    _check_group(group)
    text = shipped_crd_text()
    return text.replace(f"databases.{SHIPPED_GROUP}", f"databases.{group}").replace(
        f"group: {SHIPPED_GROUP}", f"group: {group}"
    )


def _check_group(group: str) -> None:
    import re

    if len(group) > 253 or not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+", group):
        raise UsageError(
            f"--group {group!r} is not a DNS subdomain with at least one dot",
            hint="use a domain you own, e.g. --group stable.example.com",
        )


# --- reading manifests ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Document:
    file: str
    index: int  # 1-based position in its file
    body: Any = field(repr=False)
    size: int


@dataclass(frozen=True)
class Problem:
    file: str
    document: int
    path: str
    reason: str
    source: str = "offline"  # offline | server


def _read_source(source: str, stdin: BinaryIO | None) -> tuple[str, bytes]:
    if source == "-":
        stream = stdin if stdin is not None else sys.stdin.buffer
        data = stream.read(MAX_INPUT_BYTES + 1)
        name = "<stdin>"
    else:
        path = Path(source)
        name = source
        try:
            if path.is_dir():
                raise UsageError(f"{source} is a directory, not a manifest file", hint="pass the YAML files in it")
            with path.open("rb") as f:
                data = f.read(MAX_INPUT_BYTES + 1)
        except FileNotFoundError as e:
            raise UsageError(
                f"cannot read {source}: no such file", hint="check the path, or pass - to read stdin"
            ) from e
        except OSError as e:
            raise UsageError(f"cannot read {source}: {e.strerror or e}") from e
    if len(data) > MAX_INPUT_BYTES:
        raise UsageError(f"{name} is larger than {MAX_INPUT_BYTES // 2**20} MiB; bd does not parse inputs that large")
    return name, data


def _decode(name: str, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise UsageError(
            f"{name} is not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start})",
            hint="Kubernetes manifests must be UTF-8; convert with `iconv -t UTF-8`",
        ) from e


def _jsonable(value: Any) -> Any:
    """What the apiserver sees after kubectl's YAML-to-JSON step: timestamps become strings."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dt.datetime):
        text = value.isoformat()
        return text.replace("+00:00", "Z") if value.tzinfo else text + "Z"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bytes):
        import base64

        return base64.b64encode(value).decode()
    return value


def parse_documents(name: str, text: str) -> tuple[list[Document], list[Problem]]:
    """Split multi-document YAML; a syntax error becomes a problem of the document it is in."""
    loader_cls = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    loader = loader_cls(io.StringIO(text))
    docs: list[Document] = []
    problems: list[Problem] = []
    index = 0
    try:
        while True:
            index += 1
            try:
                if not loader.check_node():
                    break
                node = loader.get_node()
                body = loader.construct_document(node)
            except yaml.MarkedYAMLError as e:
                mark = e.problem_mark or e.context_mark
                where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
                reason = f"YAML syntax error{where}: {e.problem or e.context or 'cannot parse'}"
                problems.append(Problem(name, index, "", reason))
                break
            except (yaml.YAMLError, ValueError, TypeError) as e:
                problems.append(Problem(name, index, "", f"cannot parse YAML: {str(e).splitlines()[0]}"))
                break
            if body is None:
                index -= 1  # empty documents (a trailing ---) are not counted, as kubectl skips them
                continue
            size = node.end_mark.index - node.start_mark.index if node is not None else 0
            docs.append(Document(name, index, _jsonable(body), size))
    finally:
        loader.dispose()
    return docs, problems


def read_manifests(sources: Sequence[str], *, stdin: BinaryIO | None = None) -> tuple[list[Document], list[Problem]]:
    if not sources:
        raise UsageError("no manifests given", hint="pass -f FILE (or -f - for stdin)")
    docs: list[Document] = []
    problems: list[Problem] = []
    for source in sources:
        name, data = _read_source(source, stdin)
        text = _decode(name, data)
        found, bad = parse_documents(name, text)
        if not found and not bad:
            bad = [Problem(name, 1, "", "no Kubernetes objects: the input is empty")]
        docs += found
        problems += bad
    return docs, problems


# --- knowing CRDs ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class VersionInfo:
    name: str
    served: bool
    storage: bool
    status_subresource: bool
    scale_subresource: bool
    schema: Mapping[str, Any] | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class CrdInfo:
    name: str
    group: str
    kind: str
    plural: str
    short_names: tuple[str, ...]
    scope: str
    versions: tuple[VersionInfo, ...]
    source: str

    def version(self, name: str) -> VersionInfo | None:
        return next((v for v in self.versions if v.name == name), None)


def crd_info(crd: Mapping[str, Any], source: str) -> CrdInfo:
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    versions = []
    for v in spec.get("versions") or []:
        sub = v.get("subresources") or {}
        versions.append(
            VersionInfo(
                name=str(v.get("name", "")),
                served=bool(v.get("served", False)),
                storage=bool(v.get("storage", False)),
                status_subresource="status" in sub,
                scale_subresource="scale" in sub,
                schema=(v.get("schema") or {}).get("openAPIV3Schema"),
            )
        )
    return CrdInfo(
        name=str((crd.get("metadata") or {}).get("name", "")),
        group=str(spec.get("group", "")),
        kind=str(names.get("kind", "")),
        plural=str(names.get("plural", "")),
        short_names=tuple(names.get("shortNames") or ()),
        scope=str(spec.get("scope", "Namespaced")),
        versions=tuple(versions),
        source=source,
    )


def _is_crd(body: Any) -> bool:
    return (
        isinstance(body, dict)
        and body.get("kind") == "CustomResourceDefinition"
        and str(body.get("apiVersion", "")).startswith("apiextensions.k8s.io/")
    )


def load_crd_file(path: Path | str, *, stdin: BinaryIO | None = None) -> list[dict[str, Any]]:
    """Every CRD in a YAML file; UsageError (exit 2) if it holds none or cannot be read."""
    name, data = _read_source(str(path), stdin)
    docs, problems = parse_documents(name, _decode(name, data))
    if problems:
        p = problems[0]
        raise UsageError(f"{name} document {p.document}: {p.reason}")
    crds = [d.body for d in docs if _is_crd(d.body)]
    if not crds:
        raise UsageError(
            f"{name} holds no CustomResourceDefinition (apiextensions.k8s.io/v1)",
            hint="`bd crd show > crd.yaml` writes the shipped one",
        )
    if len(crds) != len(docs):
        raise UsageError(f"{name} mixes CRDs with other objects; give a file of CRDs only")
    return crds


def _builtin_group(group: str) -> bool:
    return group == "" or "." not in group or group.endswith(".k8s.io")


def _split_api_version(api_version: str) -> tuple[str, str]:
    if "/" in api_version:
        group, version = api_version.split("/", 1)
        return group, version
    return "", api_version


def _suggest(word: str, choices: Sequence[str]) -> str | None:
    found = difflib.get_close_matches(word, list(dict.fromkeys(choices)), n=1, cutoff=0.6)
    if found:
        return found[0]
    lower = {c.lower(): c for c in choices}
    return lower.get(word.lower())


def _did_you_mean(suggestion: str | None) -> str:
    return f"; did you mean {suggestion!r}?" if suggestion else ""


def resolve_kind(
    body: Mapping[str, Any], known: Sequence[CrdInfo]
) -> tuple[CrdInfo, VersionInfo] | list[Problem] | None:
    """The CRD and version a document belongs to, problems naming what is wrong, or None (built-in kind)."""
    api_version = body.get("apiVersion")
    kind = body.get("kind")
    out: list[Problem] = []
    if not isinstance(api_version, str) or not api_version:
        out.append(Problem("", 0, "apiVersion", "required field is missing"))
    if not isinstance(kind, str) or not kind:
        out.append(Problem("", 0, "kind", "required field is missing"))
    if out or not isinstance(api_version, str) or not isinstance(kind, str):
        return out
    group, version = _split_api_version(api_version)
    same_kind = [c for c in known if c.kind == kind]
    in_group = [c for c in known if c.group == group]
    if not in_group:
        if _builtin_group(group) and not same_kind:
            return None
        groups = [c.group for c in known]
        suggestion = same_kind[0].group if same_kind else _suggest(group, groups)
        if _builtin_group(group) and same_kind:
            served = next((v.name for v in same_kind[0].versions if v.served), version)
            return [
                Problem(
                    "",
                    0,
                    "apiVersion",
                    f"kind {kind} is a custom resource of {same_kind[0].group}, not of the built-in "
                    f"API {api_version!r}; did you mean 'apiVersion: {same_kind[0].group}/{served}'?",
                )
            ]
        known_list = ", ".join(sorted(set(groups))) or "none"
        return [
            Problem(
                "",
                0,
                "apiVersion",
                f"no CRD defines API group {group!r}{_did_you_mean(suggestion)}"
                + ("" if suggestion else f" (known groups: {known_list})"),
            )
        ]
    crd = next((c for c in in_group if c.kind == kind), None)
    if crd is None:
        suggestion = _suggest(kind, [c.kind for c in in_group])
        return [Problem("", 0, "kind", f"API group {group!r} defines no kind {kind!r}{_did_you_mean(suggestion)}")]
    ver = crd.version(version)
    if ver is None or not ver.served:
        serving = [v.name for v in crd.versions if v.served]
        state = "is not served" if ver is not None else "does not exist"
        suggestion = _suggest(version, serving) or (serving[0] if len(serving) == 1 else None)
        instead = _did_you_mean(f"{group}/{suggestion}" if suggestion else None)
        return [
            Problem(
                "",
                0,
                "apiVersion",
                f"version {version!r} of {crd.kind}.{group} {state}{instead}",
            )
        ]
    return crd, ver


def _check_metadata(body: Mapping[str, Any], crd: CrdInfo) -> list[Problem]:
    import re

    meta = body.get("metadata")
    if meta is None:
        return [Problem("", 0, "metadata.name", "required field is missing")]
    if not isinstance(meta, dict):
        return [Problem("", 0, "metadata", f"must be of type object, got {type(meta).__name__}")]
    out = []
    name = meta.get("name")
    if name is None:
        if not meta.get("generateName"):
            out.append(Problem("", 0, "metadata.name", "required field is missing (or set metadata.generateName)"))
    elif not isinstance(name, str):
        out.append(Problem("", 0, "metadata.name", f"must be a string, got {name!r}"))
    elif len(name) > 253 or not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*", name):
        out.append(
            Problem(
                "",
                0,
                "metadata.name",
                f"{name!r} is not a lowercase RFC 1123 subdomain (lowercase letters, digits, '-' and '.', "
                "starting and ending with a letter or digit)",
            )
        )
    ns = meta.get("namespace")
    if ns is not None and crd.scope == "Cluster":
        out.append(Problem("", 0, "metadata.namespace", f"{crd.kind} is cluster-scoped: remove the namespace"))
    for key in ("labels", "annotations"):
        value = meta.get(key)
        if value is not None and not (isinstance(value, dict) and all(isinstance(v, str) for v in value.values())):
            out.append(Problem("", 0, f"metadata.{key}", "must be a map of strings (quote numbers and booleans)"))
    return out


def check_document(body: Any, known: Sequence[CrdInfo]) -> tuple[list[Problem], tuple[CrdInfo, VersionInfo] | None]:
    """Offline problems of one document (file/document fields left empty) and what it resolved to."""
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
        problems += [Problem("", 0, p.path, p.reason) for p in validate(body, ver.schema)]
    return problems, resolved


# --- talking to the cluster -----------------------------------------------------------------------


def _crd_path(name: str) -> str:
    return f"{CRD_API}/{name}"


def _resource_path(crd: CrdInfo, version: str, namespace: str | None, name: str | None = None) -> str:
    base = f"/apis/{crd.group}/{version}"
    if crd.scope == "Namespaced" and namespace:
        base += f"/namespaces/{namespace}"
    base += f"/{crd.plural}"
    return f"{base}/{name}" if name else base


def cluster_crds(api: KubeApi) -> list[dict[str, Any]]:
    return list(api.request("GET", CRD_API, what="list CRDs").get("items") or [])


def _conditions(crd: Mapping[str, Any]) -> dict[str, Json]:
    return {str(c.get("type")): c for c in ((crd.get("status") or {}).get("conditions") or [])}


def _true(conds: Mapping[str, Json], kind: str) -> bool:
    return str((conds.get(kind) or {}).get("status")) == "True"


# --- install --------------------------------------------------------------------------------------


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
        current = api.request("GET", _crd_path(name), what=f"CRD {name}")
        conds = _conditions(current)
        names = conds.get("NamesAccepted") or {}
        if str(names.get("status")) == "False":
            raise BdError(
                f"CRD {name} was stored but its names were not accepted: {names.get('message') or names.get('reason')}",
                hint=f"pick another plural/short name, then `bd crd install` again; see `bd crd status {name}`",
            )
        if _true(conds, "Established") and _true(conds, "NamesAccepted"):
            return current
        if api.remaining() <= delay:
            raise BdTimeoutError(
                f"CRD {name} is not Established yet",
                hint=f"wait and run `bd crd status {name}`, or pass a longer --timeout",
            )
        progress(f"waiting for {name} to be Established")
        time.sleep(delay)
        delay = min(delay * 2, 0.5)


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
        _check_group(group)
        crds = [rewrite_group(c, group) for c in crds]
    api = KubeApi(settings, deadline=time.monotonic() + timeout)
    outcomes = []
    for crd in crds:
        name = str((crd.get("metadata") or {}).get("name") or "")
        if not name:
            raise UsageError("a CRD in the input has no metadata.name")
        try:
            before: Json | None = api.request("GET", _crd_path(name), what=f"CRD {name}")
        except NotFoundError:
            before = None
        query: dict[str, str | int | bool] = {"fieldManager": FIELD_MANAGER, "force": True}
        if dry_run:
            query["dryRun"] = "All"
        progress(f"applying {name}{' (dry run)' if dry_run else ''}")
        after = api.request(
            "PATCH", _crd_path(name), query=query, body=crd, content_type=APPLY_PATCH, what=f"apply CRD {name}"
        )
        if before is None:
            action = "created"
        elif dry_run:
            action = "unchanged" if _comparable(before) == _comparable(after) else "configured"
        else:
            same = (before.get("metadata") or {}).get("resourceVersion") == (after.get("metadata") or {}).get(
                "resourceVersion"
            )
            action = "unchanged" if same else "configured"
        info = crd_info(after, "cluster")
        if dry_run:
            conds = _conditions(before or {})
            established, accepted = _true(conds, "Established"), _true(conds, "NamesAccepted")
        else:
            _wait_established(api, name, progress)
            established = accepted = True
        outcomes.append(InstallOutcome(name, info.group, info.kind, action, established, accepted))
    return InstallReport(dry_run=dry_run, server=api.server, crds=tuple(outcomes))


# --- check ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckReport:
    ok: bool
    documents: int
    checked: int  # documents that are custom resources of a known CRD
    server_dry_run: str  # "done", "offline", or "skipped: <why>"
    known_crds: tuple[str, ...]
    problems: tuple[Problem, ...]
    schema_version: int = 1


def _server_problems(err: ApiError) -> list[tuple[str, str]]:
    import re

    out: list[tuple[str, str]] = []
    for cause in err.causes:
        path = str(cause.get("field") or "").lstrip(".")
        if not path or path == "<nil>":
            continue
        message = str(cause.get("message") or cause.get("reason") or "invalid")
        message = message.replace(f"{path} in body ", "")
        out.append((path, message))
    message = str(err.body.get("message") or "")
    if not out:
        for field_path in re.findall(r'unknown field "([^"]+)"', message):
            out.append((field_path.lstrip("."), "unknown field (not declared in the schema)"))
        for field_path in re.findall(r'duplicate field "([^"]+)"', message):
            out.append((field_path.lstrip("."), "duplicate field"))
    if not out and "typed patch" in message:
        for m in re.finditer(r"(?:^|\n|: )\s*\.([\w.\-\[\]=\"]+): ([^\n]+)", message):
            out.append((m.group(1), m.group(2).strip()))
    if not out:
        out.append(("", message.splitlines()[0] if message else f"rejected by the API server (HTTP {err.status})"))
    seen: set[str] = set()
    unique = []
    for path, reason in out:
        if path not in seen:
            seen.add(path)
            unique.append((path, reason))
    return unique


def dry_run_document(api: KubeApi, body: Mapping[str, Any], crd: CrdInfo, ver: VersionInfo) -> list[tuple[str, str]]:
    """Problems the API server reports for creating (or, if it exists, applying) `body`, changing nothing."""
    meta = body.get("metadata") or {}
    namespace = str(meta.get("namespace") or "default")
    query = {"dryRun": "All", "fieldManager": FIELD_MANAGER, "fieldValidation": "Strict"}
    try:
        api.request("POST", _resource_path(crd, ver.name, namespace), query=query, body=dict(body))
        return []
    except ApiError as e:
        if e.status != 409 or not meta.get("name"):
            return _server_problems(e)
    try:  # it exists: validate the object as an update (CEL transition rules included)
        api.request(
            "PATCH",
            _resource_path(crd, ver.name, namespace, str(meta["name"])),
            query={**query, "force": True},
            body=dict(body),
            content_type=APPLY_PATCH,
        )
        return []
    except ApiError as e:
        return _server_problems(e)


def check_crd(
    sources: Sequence[str],
    *,
    crd_files: Sequence[Path | str] = (),
    settings: KubeSettings | None = None,
    offline: bool = False,
    stdin: BinaryIO | None = None,
    progress: Progress = no_progress,
) -> CheckReport:
    """Validate custom resources offline against known CRDs, then by a server-side dry run."""
    docs, problems = read_manifests(sources, stdin=stdin)
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
        if _is_crd(d.body):
            info = crd_info(d.body, f"{d.file}#{d.index}")
            known[info.name] = info
    api: KubeApi | None = None
    server_state = "offline"
    on_cluster: set[str] = set()
    if not offline and settings is not None:
        api = KubeApi(settings, deadline=time.monotonic() + settings.request_timeout)
        try:
            for crd in cluster_crds(api):
                info = crd_info(crd, "cluster")
                on_cluster.add(info.name)
                if not crd_files or info.name not in known:
                    known[info.name] = info
            server_state = "done"
        except (UnreachableError, BdTimeoutError, PermissionDeniedError, ApiError) as e:
            server_state = f"skipped: {e.message}"
            progress(f"server-side dry run skipped: {e.message}")
            api = None
        if api is not None:
            api.deadline = None  # from here on each dry run is bounded by the request timeout alone
    elif not offline:
        server_state = "skipped: no Kubernetes configuration found"
    known_list = list(known.values())
    checked = 0
    not_installed: set[str] = set()
    for d in docs:
        if _is_crd(d.body):
            continue
        found, resolved = check_document(d.body, known_list)
        problems += [Problem(d.file, d.index, p.path, p.reason) for p in found]
        if resolved is None:
            continue
        checked += 1
        too_big = d.size > MAX_OBJECT_BYTES
        if too_big:
            problems.append(
                Problem(
                    d.file,
                    d.index,
                    "",
                    f"object is {d.size / 2**20:.1f} MiB; the API server stores at most 1.5 MiB per object",
                )
            )
        if api is None or too_big:
            continue
        target, ver = resolved
        if target.name not in on_cluster:
            not_installed.add(target.name)
            continue
        try:
            server = dry_run_document(api, d.body, target, ver)
        except (UnreachableError, BdTimeoutError, PermissionDeniedError) as e:
            server_state = f"skipped: {e.message}"
            progress(f"server-side dry run stopped: {e.message}")
            api = None
            continue
        offline_paths = {p.path for p in found}
        problems += [
            Problem(d.file, d.index, path, reason, "server") for path, reason in server if path not in offline_paths
        ]
    if not_installed and server_state == "done":
        server_state = f"done (skipped CRDs not on the cluster: {', '.join(sorted(not_installed))})"
    return CheckReport(
        ok=not problems,
        documents=len(docs),
        checked=checked,
        server_dry_run=server_state,
        known_crds=tuple(sorted(known)),
        problems=tuple(sorted(problems, key=lambda p: (p.file, p.document))),
    )


# --- status ---------------------------------------------------------------------------------------


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


def _count_resources(api: KubeApi, info: CrdInfo, limit: int | None = None) -> tuple[int, list[str]]:
    """How many custom resources exist (all namespaces), and the first `limit` as ns/name."""
    version = next((v.name for v in info.versions if v.storage), None) or next(
        (v.name for v in info.versions if v.served), None
    )
    if version is None:
        return 0, []
    count, names = 0, list[str]()
    cont: str | None = None
    while True:
        query: dict[str, str | int | bool] = {"limit": 500}
        if cont:
            query["continue"] = cont
        try:
            page = api.request(
                "GET", f"/apis/{info.group}/{version}/{info.plural}", query=query, what=f"list {info.plural}"
            )
        except NotFoundError:
            return count, names  # not served (yet): nothing can be stored under it
        for item in page.get("items") or []:
            count += 1
            if limit is None or len(names) < limit:
                meta = item.get("metadata") or {}
                ns = meta.get("namespace")
                names.append(f"{ns}/{meta.get('name')}" if ns else str(meta.get("name")))
        cont = (page.get("metadata") or {}).get("continue")
        if not cont:
            return count, names


def status_crd(settings: KubeSettings, name: str | None = None) -> CrdStatus:
    """Conditions, versions, stored versions and resource count of one CRD (default: the shipped one)."""
    name = name or SHIPPED_NAME
    api = KubeApi(settings, deadline=time.monotonic() + settings.request_timeout)
    try:
        crd = api.request("GET", _crd_path(name), what=f"CRD {name}")
    except NotFoundError as e:
        raise NotFoundError(
            f"CRD {name} is not installed",
            hint="`bd crd install` installs the shipped one; `kubectl get crd` lists what is there",
        ) from e
    info = crd_info(crd, "cluster")
    conds = _conditions(crd)
    conditions = tuple(
        Condition(t, str(c.get("status", "")), str(c.get("reason", "")), str(c.get("message", "")))
        for t, c in conds.items()
    )
    problems = []
    for wanted in ("Established", "NamesAccepted"):
        if not _true(conds, wanted):
            cond = conds.get(wanted) or {}
            why = cond.get("message") or cond.get("reason") or "condition missing"
            problems.append(f"{wanted} is not True: {why}")
    for bad in ("NonStructuralSchema", "Terminating"):
        found = conds.get(bad)
        if found is not None and str(found.get("status")) == "True":
            problems.append(f"{bad}: {found.get('message') or found.get('reason')}")
    storage = next((v.name for v in info.versions if v.storage), None)
    stored = tuple((crd.get("status") or {}).get("storedVersions") or ())
    migrate = tuple(v for v in stored if v != storage)
    count = _count_resources(api, info)[0] if _true(conds, "Established") else 0
    return CrdStatus(
        name=info.name,
        group=info.group,
        kind=info.kind,
        scope=info.scope,
        healthy=not problems,
        conditions=conditions,
        versions=info.versions,
        storage_version=storage,
        stored_versions=stored,
        needs_migration=migrate,
        resources=count,
        status_subresource=any(v.status_subresource for v in info.versions if v.served),
        problems=tuple(problems),
    )


# --- uninstall ------------------------------------------------------------------------------------


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
    try:
        crd = api.request("GET", _crd_path(name), what=f"CRD {name}")
    except NotFoundError as e:
        raise NotFoundError(f"CRD {name} is not installed", hint="`kubectl get crd` lists the installed CRDs") from e
    info = crd_info(crd, "cluster")
    count, examples = _count_resources(api, info, limit=10)
    plan = UninstallPlan(name, count, tuple(examples))
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
        confirm(plan)
    progress(f"deleting CRD {name}" + (f" and {count} custom resources" if count else ""))
    try:
        api.request("DELETE", _crd_path(name), what=f"delete CRD {name}")
    except NotFoundError:
        return UninstallReport(name, "deleted", count, dry_run=False)
    delay = 0.05
    while api.remaining() > delay:
        try:
            api.request("GET", _crd_path(name), what=f"CRD {name}")
        except NotFoundError:
            return UninstallReport(name, "deleted", count, dry_run=False)
        time.sleep(delay)
        delay = min(delay * 2, 0.5)
    return UninstallReport(name, "deleting (custom resources with finalizers are still being removed)", count, False)
