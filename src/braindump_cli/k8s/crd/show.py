"""`bd crd show`: the shipped CRD as YAML text."""

from __future__ import annotations

from braindump_cli.k8s.crd.shipped import SHIPPED_GROUP, check_group, shipped_crd_text


def show_crd(*, group: str | None = None) -> str:
    """The shipped CRD as YAML text, optionally under another group (comments kept when unchanged)."""
    if not group or group == SHIPPED_GROUP:
        return shipped_crd_text()
    check_group(group)
    text = shipped_crd_text()
    return text.replace(f"databases.{SHIPPED_GROUP}", f"databases.{group}").replace(
        f"group: {SHIPPED_GROUP}", f"group: {group}"
    )
