"""Knowing CRDs: what a CRD defines (`CrdInfo`), reading CRD files, and which CRD and version a
document belongs to (with a "did you mean" when it matches none)."""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from braindump_cli.errors import UsageError
from braindump_cli.k8s.crd.manifests import Problem, decode_text, parse_documents, read_source


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


def is_crd(body: Any) -> bool:
    return (
        isinstance(body, dict)
        and body.get("kind") == "CustomResourceDefinition"
        and str(body.get("apiVersion", "")).startswith("apiextensions.k8s.io/")
    )


def load_crd_file(path: Path | str, *, stdin: BinaryIO | None = None) -> list[dict[str, Any]]:
    """Every CRD in a YAML file; UsageError (exit 2) if it holds none or cannot be read."""
    name, data = read_source(str(path), stdin)
    docs = parse_documents(name, decode_text(name, data))
    crds = [d.body for d in docs if is_crd(d.body)]
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


def split_api_version(api_version: str) -> tuple[str, str]:
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


def _problem(path: str, reason: str) -> list[Problem]:
    return [Problem("", 0, path, reason)]


def _unknown_group(api_version: str, kind: str, group: str, version: str, known: Sequence[CrdInfo]) -> list[Problem]:
    same_kind = [c for c in known if c.kind == kind]
    groups = [c.group for c in known]
    if _builtin_group(group) and same_kind:
        served = next((v.name for v in same_kind[0].versions if v.served), version)
        return _problem(
            "apiVersion",
            f"kind {kind} is a custom resource of {same_kind[0].group}, not of the built-in "
            f"API {api_version!r}; did you mean 'apiVersion: {same_kind[0].group}/{served}'?",
        )
    suggestion = same_kind[0].group if same_kind else _suggest(group, groups)
    known_list = ", ".join(sorted(set(groups))) or "none"
    return _problem(
        "apiVersion",
        f"no CRD defines API group {group!r}{_did_you_mean(suggestion)}"
        + ("" if suggestion else f" (known groups: {known_list})"),
    )


def _unserved_version(crd: CrdInfo, group: str, version: str, ver: VersionInfo | None) -> list[Problem]:
    serving = [v.name for v in crd.versions if v.served]
    state = "is not served" if ver is not None else "does not exist"
    suggestion = _suggest(version, serving) or (serving[0] if len(serving) == 1 else None)
    instead = _did_you_mean(f"{group}/{suggestion}" if suggestion else None)
    return _problem("apiVersion", f"version {version!r} of {crd.kind}.{group} {state}{instead}")


def resolve_kind(
    body: Mapping[str, Any], known: Sequence[CrdInfo]
) -> tuple[CrdInfo, VersionInfo] | list[Problem] | None:
    """The CRD and version a document belongs to, problems naming what is wrong, or None (built-in kind)."""
    api_version = body.get("apiVersion")
    kind = body.get("kind")
    if not isinstance(api_version, str) or not api_version or not isinstance(kind, str) or not kind:
        out: list[Problem] = []
        if not isinstance(api_version, str) or not api_version:
            out += _problem("apiVersion", "required field is missing")
        if not isinstance(kind, str) or not kind:
            out += _problem("kind", "required field is missing")
        return out
    group, version = split_api_version(api_version)
    in_group = [c for c in known if c.group == group]
    if not in_group:
        if _builtin_group(group) and not any(c.kind == kind for c in known):
            return None
        return _unknown_group(api_version, kind, group, version, known)
    crd = next((c for c in in_group if c.kind == kind), None)
    if crd is None:
        suggestion = _suggest(kind, [c.kind for c in in_group])
        return _problem("kind", f"API group {group!r} defines no kind {kind!r}{_did_you_mean(suggestion)}")
    ver = crd.version(version)
    if ver is None or not ver.served:
        return _unserved_version(crd, group, version, ver)
    return crd, ver
