"""The Database CRD shipped with bd, optionally under another API group."""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from importlib import resources
from typing import Any

import yaml

from braindump_cli.errors import UsageError

SHIPPED_GROUP = "stable.imaginedata.com"
SHIPPED_NAME = f"databases.{SHIPPED_GROUP}"


def shipped_crd_text() -> str:
    return resources.files(__package__ or __name__).joinpath("database-crd.yaml").read_text(encoding="utf-8")


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


def check_group(group: str) -> None:
    """UsageError unless `group` is a DNS subdomain with at least one dot (what the API server requires)."""
    if len(group) > 253 or not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+", group):
        raise UsageError(
            f"--group {group!r} is not a DNS subdomain with at least one dot",
            hint="use a domain you own, e.g. --group stable.example.com",
        )
