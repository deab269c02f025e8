"""Update semantics shared by the schema and CEL checks: which problems block CEL, and ratcheting
(a problem of a value that an update did not change is allowed, as on the API server)."""

from __future__ import annotations

import re
from typing import Any

from braindump_cli.k8s.schema_check import SchemaProblem

# problems after which the API server does not run CEL rules (unsafe to evaluate)
BLOCKING = frozenset(
    {"FieldValueNotSupported", "FieldValueRequired", "FieldValueTooLong", "FieldValueTooMany", "FieldValueTypeInvalid"}
)
_ABSENT: Any = object()
_STEP = re.compile(r"\[(\d+)\]|([^.\[\]]+)")


def value_at(obj: Any, path: str) -> Any:
    """The value at an API path (`spec.items[0].name`), or _ABSENT."""
    for index, key in _STEP.findall(path):
        if index:
            if not isinstance(obj, list) or int(index) >= len(obj):
                return _ABSENT
            obj = obj[int(index)]
        elif isinstance(obj, dict) and key in obj:
            obj = obj[key]
        else:
            return _ABSENT
    return obj


def unchanged(problem: SchemaProblem, new: Any, old: Any) -> bool:
    """True when the update left the value the problem is about (for a missing field: its parent) as it was."""
    path = problem.path
    if problem.type == "FieldValueRequired":
        path = path.rsplit(".", 1)[0] if "." in path else ""
    before = value_at(old, path)
    return before is not _ABSENT and before == value_at(new, path)
