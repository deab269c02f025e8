"""The API server's steps before validation, on a copy of the object: drop the nulls of fields that
are not nullable, then apply the schema's defaults (structural defaulting), as the server does on
create and update, so that offline validation sees what the server validates."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

Schema = Mapping[str, Any]


def prepare(value: Any, schema: Schema) -> Any:
    """A copy of `value` with non-nullable nulls dropped and defaults applied."""
    out = copy.deepcopy(value)
    _walk(out, schema, root=True)
    return out


def _walk(value: Any, schema: Schema, *, root: bool = False) -> None:
    if isinstance(value, dict):
        _object(value, schema, root=root)
    elif isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, Mapping):
            for item in value:
                _walk(item, items)


def _object(value: dict[str, Any], schema: Schema, *, root: bool) -> None:
    props: Mapping[str, Schema] = schema.get("properties") or {}
    additional = schema.get("additionalProperties")
    for key in list(value):
        sub = props.get(key) if key in props else additional if isinstance(additional, Mapping) else None
        if sub is None or (root and key == "metadata"):
            continue
        if value[key] is None and not sub.get("nullable"):
            if "default" in sub:
                value[key] = copy.deepcopy(sub["default"])
            else:
                del value[key]
                continue
        _walk(value[key], sub)
    for key, sub in props.items():
        if key not in value and "default" in sub:
            value[key] = copy.deepcopy(sub["default"])
            _walk(value[key], sub)
