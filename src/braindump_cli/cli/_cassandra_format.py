"""Cell formats shared by the `bd cassandra` commands' tables."""

from __future__ import annotations


def percent(value: float | None) -> str | None:
    return None if value is None else f"{value * 100:.1f}%"


def human_size(value: int | None) -> str | None:
    if value is None:
        return None
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.2f} {unit}" if unit != "B" else f"{int(size)} B"
        size /= 1024
    return None  # pragma: no cover


def ring_columns(*, effective: bool) -> list[tuple[str, str]]:
    """The columns `nodetool status` starts with, shared by `ring` and `status`."""
    owns = "Owns (effective)" if effective else "Owns"
    return [
        ("--", "ud"),
        ("Address", "address"),
        ("DC", "dc"),
        ("Rack", "rack"),
        ("Load", "load"),
        ("Tokens", "tokens"),
        (owns, "owns"),
    ]
