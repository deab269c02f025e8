"""Seeded corpora of custom resources for the differential tests: a valid base per CRD and
mutations (types, bounds, patterns, enums, required fields, unknown fields at depth, list-map and
set duplicates, CEL violations, quantity edge cases, nulls, metadata), applied 0-2 at a time."""

from __future__ import annotations

import contextlib
import copy
import random
from collections.abc import Callable
from typing import Any

Obj = dict[str, Any]
Mutation = Callable[[Obj], None]


def _set(path: str, value: Any) -> Mutation:
    def apply(obj: Obj) -> None:
        *parents, last = _steps(path)
        node: Any = obj
        for step in parents:
            node = node.setdefault(step, {}) if isinstance(step, str) else node[step]
        node[last] = copy.deepcopy(value)

    apply.__name__ = f"{path}={value!r}"[:80]
    return apply


def _delete(path: str) -> Mutation:
    def apply(obj: Obj) -> None:
        *parents, last = _steps(path)
        node: Any = obj
        for step in parents:
            node = node[step]
        node.pop(last, None)

    apply.__name__ = f"del {path}"
    return apply


def _steps(path: str) -> list[str | int]:
    out: list[str | int] = []
    for part in path.split("."):
        if "[" in part:
            name, index = part.rstrip("]").split("[")
            out += [name, int(index)]
        else:
            out.append(part)
    return out


def _both(*mutations: Mutation) -> Mutation:
    def apply(obj: Obj) -> None:
        for m in mutations:
            m(obj)

    apply.__name__ = " & ".join(m.__name__ for m in mutations)
    return apply


WIDGET_BASE: Obj = {
    "apiVersion": "cel.bd.test/v1",
    "kind": "Widget",
    "metadata": {"name": "w"},
    "spec": {
        "mode": "Auto",
        "size": "10Gi",
        "name": "alpha",
        "endpoint": "https://example.com/x",
        "address": "10.1.2.3",
        "network": "10.2.0.0/16",
        "version": "1.2.3",
        "token": "aGVsbG8=",
        "code": "ABC",
        "limit": 5,
        "ratio": 0.5,
        "weights": [1, 2, 3],
        "tags": ["prod", "blue"],
        "ports": [{"port": 80, "name": "http"}],
        "options": {"opt-a": "x"},
        "extra": {"depth": {"inner": 1}},
        "replicas": 3,
        "minReplicas": 1,
        "owner": "team-a",
    },
}

WIDGET_MUTATIONS: list[Mutation] = [
    # types
    _set("spec.replicas", "3"),
    _set("spec.weights", "x"),
    _set("spec.ports[0].port", "80"),
    _set("spec.ratio", "half"),
    _set("spec.extra.depth", "x"),
    _set("spec.size", [1]),
    _set("spec.options", ["a"]),
    # bounds and formats
    _set("spec.replicas", 101),
    _set("spec.replicas", -1),
    _set("spec.ratio", 0),
    _set("spec.ratio", 1.5),
    _set("spec.limit", 2**31),
    _set("spec.weights", [2000]),
    _set("spec.minReplicas", -1),
    _set("spec.token", "not base64!"),
    _set("spec.token", "aGVsbG8"),
    _set("spec.owner", "o" * 64),
    _set("spec.weights", list(range(11))),
    _set("spec.options", {f"opt-{i}": "v" for i in range(6)}),
    # patterns (RE2: `$` does not match before a trailing newline)
    _set("spec.name", "Alpha"),
    _set("spec.name", "alpha\n"),
    _set("spec.name", "a b"),
    _set("spec.code", "ABCD"),
    _set("spec.code", "ABC\n"),
    # enums
    _set("spec.mode", "auto"),
    _set("spec.extra.level", "trace"),
    _set("spec.ports[0].protocol", "SCTP"),
    # required
    _delete("spec.size"),
    _delete("spec.mode"),
    _set("spec.ports", [{"name": "x"}]),
    # unknown fields at depth
    _set("spec.colour", "red"),
    _set("spec.extra.depth.deeper", 1),
    _set("spec.ports[0].color", "x"),
    _set("foo", "bar"),
    # list-map and set duplicates (a key is compared after defaulting)
    _set("spec.ports", [{"port": 80}, {"port": 80, "protocol": "TCP"}]),
    _set("spec.ports", [{"port": 80}, {"port": 80, "protocol": "UDP"}]),
    _set("spec.tags", ["prod", "prod"]),
    # CEL: quantity edge cases
    _set("spec.size", "0"),
    _set("spec.size", "-1Gi"),
    _set("spec.size", "2Ti"),
    _set("spec.size", "1Ti"),
    _set("spec.size", "ten"),
    _set("spec.size", 5),
    _set("spec.size", 0),
    _set("spec.size", "1e3"),
    _set("spec.size", "100m"),
    _set("spec.size", "0.5"),
    _set("spec.size", "1.5Gi"),
    # CEL: url, ip, cidr, regex, strings, lists, sets, optionals, messageExpression, fieldPath
    _set("spec.endpoint", "ftp://example.com"),
    _set("spec.endpoint", "http://localhost/"),
    _set("spec.endpoint", "not a url"),
    _set("spec.address", "127.0.0.1"),
    _set("spec.address", "::1"),
    _set("spec.address", "10.0.0"),
    _set("spec.address", "2001:db8::1"),
    _set("spec.network", "192.168.0.0/16"),
    _set("spec.network", "10.0.0.0/4"),
    _set("spec.network", "10.1.0.0/16"),
    _set("spec.network", "10.1.0.1"),
    _set("spec.version", "a"),
    _set("spec.version", "1.2.3.4"),
    _set("spec.version", "1-2-3-4"),
    _set("spec.weights", [3, 2, 1]),
    _set("spec.weights", [0, 1000]),
    _set("spec.weights", []),
    _set("spec.tags", ["blue"]),
    _set("spec.tags", ["dev"]),
    _set("spec.ports[0].name", "HTTP"),
    _set("spec.options", {"bad": "x", "opt-b": "y"}),
    _set("spec.extra.depth.inner", 20),
    _delete("spec.extra.depth"),
    _set("spec.name", "alpha-"),
    _both(_set("spec.mode", "Manual"), _delete("spec.replicas")),
    _set("spec.mode", "Manual"),
    _set("spec.minReplicas", 5),
    # nulls: dropped unless nullable, then defaulted
    _set("spec.note", None),
    _set("spec.replicas", None),
    _set("spec.size", None),
    _set("spec.extra.level", None),
    _set("spec.ports[0].protocol", None),
    _set("spec.extra", None),
    # metadata and status (status is the status subresource's: a create ignores it)
    _set("metadata.name", "Bad_Name"),
    _set("metadata.name", "w" * 45),
    _set("metadata.labels", {"a": "b"}),
    _set("metadata.colour", "red"),
    _set("status", {"phase": "Bogus"}),
    _set("status", {"phase": "Ready"}),
]

# updates: (mutation of the old object's spec, applied to make the new one)
WIDGET_UPDATES: list[Mutation] = [
    _set("spec.size", "20Gi"),
    _set("spec.size", "5Gi"),
    _set("spec.size", "10Gi"),
    _set("spec.size", 10737418240),
    _set("spec.mode", "Manual"),
    _set("spec.owner", "team-b"),
    _delete("spec.owner"),
    _set("spec.replicas", 4),
    _set("spec.name", "Alpha"),
    _set("spec.tags", ["blue"]),
    _set("spec.size", "2Ti"),
]


def corpus(base: Obj, mutations: list[Mutation], *, count: int, seed: int) -> list[tuple[str, Obj]]:
    """`count` objects: every single mutation once, then random pairs, plus some untouched bases."""
    rng = random.Random(seed)
    out: list[tuple[str, Obj]] = []
    plans: list[list[Mutation]] = [[m] for m in mutations]
    while len(plans) < count:
        plans.append(rng.sample(mutations, k=rng.choice([0, 1, 2, 2])))
    for i, plan in enumerate(plans[:count]):
        obj = copy.deepcopy(base)
        obj["metadata"] = {**obj["metadata"], "name": f"{obj['metadata']['name']}-{i}"}
        for m in plan:
            with contextlib.suppress(KeyError, IndexError, TypeError, AttributeError):
                m(obj)  # may find its place removed by an earlier mutation
        out.append((" & ".join(m.__name__ for m in plan) or "valid", obj))
    return out


def _leaf_mutations(path: str, value: Any, schema: Any) -> list[Mutation]:
    out: list[Mutation] = [_set(path, None)]
    if isinstance(value, bool):
        out.append(_set(path, "yes"))
    elif isinstance(value, int):
        out += [_set(path, "x"), _set(path, -1), _set(path, 2**40)]
    elif isinstance(value, str):
        out += [_set(path, 123), _set(path, ""), _set(path, "x" * 300), _set(path, "Bad Value!\n")]
    if isinstance(schema, dict) and schema.get("enum"):
        out.append(_set(path, "BdBogus"))
    return out


def _sub(schema: Any, key: str | int) -> Any:
    if not isinstance(schema, dict):
        return None
    if isinstance(key, int):
        return schema.get("items")
    props = schema.get("properties") or {}
    return props.get(key) or (
        schema.get("additionalProperties") if isinstance(schema.get("additionalProperties"), dict) else None
    )


def _object_mutations(value: Obj, sub: Any, path: str) -> list[Mutation]:
    out: list[Mutation] = []
    if path:
        out += [_set(f"{path}.bdUnknown", 1), _set(path, "not-an-object")]
        out += [_delete(f"{path}.{name}") for name in (sub or {}).get("required") or [] if name in value]
    return out


def _list_mutations(value: list[Any], path: str) -> list[Mutation]:
    out = [_set(path, "not-a-list")]
    if value:
        out.append(_set(path, [*value, copy.deepcopy(value[0])]))
    return out


def schema_mutations(base: Obj, schema: Any) -> list[Mutation]:
    """Mutations of every place of `base` the schema describes: wrong types, nulls, bounds, enum
    values, a bad pattern, an unknown field in every object, every required field removed, and a
    duplicate of every list entry."""
    out: list[Mutation] = []

    def walk(value: Any, sub: Any, path: str) -> None:
        if isinstance(value, dict):
            out.extend(_object_mutations(value, sub, path))
            for key, item in value.items():
                if path or key not in ("apiVersion", "kind", "metadata"):
                    walk(item, _sub(sub, key), f"{path}.{key}" if path else key)
        elif isinstance(value, list):
            out.extend(_list_mutations(value, path))
            for i, item in enumerate(value):
                walk(item, _sub(sub, i), f"{path}[{i}]")
        else:
            out.extend(_leaf_mutations(path, value, sub))

    walk(base, schema, "")
    return out
