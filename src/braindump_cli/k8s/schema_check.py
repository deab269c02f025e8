"""Offline validation of a custom resource against a CRD's `openAPIV3Schema` (structural schema).

Implements the parts of the apiserver's validation that a schema states: types (with
`x-kubernetes-int-or-string` and `nullable`), required (a property with a default is filled in by
the server first), enum, minimum/maximum (and exclusive), lengths, item and property counts,
pattern, formats (int32, int64, date-time, date), unknown fields (unless
`x-kubernetes-preserve-unknown-fields`), `x-kubernetes-list-type` map/set uniqueness,
`x-kubernetes-embedded-resource`, and allOf/anyOf/oneOf/not value validations. Patterns follow
Go's RE2 (google-re2). CEL rules (`x-kubernetes-validations`) are `crd.cel`'s part.

Paths use the apiserver's spelling (`spec.port`, `status.conditions[0].type`) so offline and
server-side problems can be compared.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

Schema = Mapping[str, Any]

# The Kubernetes resource.Quantity grammar without a sign (a size is never negative).
QUANTITY_PATTERN = (
    r"^(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
_SIGNED_QUANTITY_PATTERN = "^(\\+|-)?" + QUANTITY_PATTERN[1:]
_QUANTITY_PATTERNS = {QUANTITY_PATTERN, _SIGNED_QUANTITY_PATTERN}
_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class SchemaProblem:
    path: str
    reason: str
    type: str = "FieldValueInvalid"  # the API server's field.ErrorType reason (FieldValueRequired, ...)


def child(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _show(value: Any, limit: int = 60) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _is_type(value: Any, wanted: str) -> bool:
    if wanted == "integer":
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and math.isfinite(value) and value.is_integer()
        )
    if wanted == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return _type_name(value) == wanted


def validate(value: Any, schema: Schema, path: str = "", *, root: bool = True) -> list[SchemaProblem]:
    """All problems of `value` against `schema`; an empty list means valid."""
    return _Validator().node(value, schema, path, root=root, check_unknown=True)


class _Validator:
    def node(self, value: Any, schema: Schema, path: str, *, root: bool, check_unknown: bool) -> list[SchemaProblem]:
        out: list[SchemaProblem] = []
        if value is None:
            if schema.get("nullable") or not (schema.get("type") or schema.get("x-kubernetes-int-or-string")):
                return out
            wanted = "integer or string" if schema.get("x-kubernetes-int-or-string") else schema.get("type")
            return [SchemaProblem(path, f"must be of type {wanted}, got null", "FieldValueTypeInvalid")]
        if schema.get("x-kubernetes-int-or-string"):
            if not (_is_type(value, "integer") or isinstance(value, str)):
                return [
                    SchemaProblem(
                        path,
                        f"must be an integer or a string, got {_type_name(value)} {_show(value)}",
                        "FieldValueTypeInvalid",
                    )
                ]
        elif schema.get("type") and not _is_type(value, str(schema["type"])):
            return [
                SchemaProblem(
                    path,
                    f"must be of type {schema['type']}, got {_type_name(value)} {_show(value)}",
                    "FieldValueTypeInvalid",
                )
            ]
        out += self._enum(value, schema, path)
        if isinstance(value, str):
            out += self._string(value, schema, path)
        elif _is_type(value, "number"):
            out += self._number(value, schema, path)
        elif isinstance(value, list):
            out += self._array(value, schema, path, check_unknown)
        elif isinstance(value, dict):
            out += self._object(value, schema, path, root, check_unknown)
        out += self._combinators(value, schema, path)
        return out

    def _enum(self, value: Any, schema: Schema, path: str) -> list[SchemaProblem]:
        enum = schema.get("enum")
        if enum is not None and value not in enum:
            allowed = ", ".join(_show(e) for e in enum)
            return [SchemaProblem(path, f"must be one of {allowed}; got {_show(value)}", "FieldValueNotSupported")]
        return []

    def _string(self, value: str, schema: Schema, path: str) -> list[SchemaProblem]:
        out = []
        if "minLength" in schema and len(value) < int(schema["minLength"]):
            n = int(schema["minLength"])
            out.append(SchemaProblem(path, "must not be empty" if n == 1 else f"must be at least {n} characters long"))
        if "maxLength" in schema and len(value) > int(schema["maxLength"]):
            out.append(
                SchemaProblem(
                    path,
                    f"must be at most {schema['maxLength']} characters long, got {len(value)}",
                    "FieldValueTooLong",
                )
            )
        pattern = schema.get("pattern")
        if pattern is not None:
            matched = _pattern_matches(str(pattern), value)
            if not matched:
                if pattern in _QUANTITY_PATTERNS:
                    out.append(
                        SchemaProblem(path, f"must be a Kubernetes quantity such as 10Gi or 500M, got {_show(value)}")
                    )
                else:
                    out.append(SchemaProblem(path, f"must match the pattern {pattern}, got {_show(value)}"))
        fmt = schema.get("format")
        if fmt == "date-time" and not _valid_date_time(value):
            out.append(
                SchemaProblem(
                    path,
                    f"must be an RFC 3339 date-time such as 2024-01-31T12:00:00Z, got {_show(value)}",
                    "FieldValueTypeInvalid",
                )
            )
        elif fmt == "date" and not _DATE.match(value):
            out.append(
                SchemaProblem(path, f"must be a date such as 2024-01-31, got {_show(value)}", "FieldValueTypeInvalid")
            )
        elif fmt == "byte" and not _valid_base64(value):
            out.append(
                SchemaProblem(
                    path, f"must be base64-encoded bytes (format byte), got {_show(value)}", "FieldValueTypeInvalid"
                )
            )
        return out

    def _number(self, value: float, schema: Schema, path: str) -> list[SchemaProblem]:
        out = []
        if "minimum" in schema:
            lo = schema["minimum"]
            if schema.get("exclusiveMinimum") is True and value <= lo:
                out.append(SchemaProblem(path, f"must be greater than {_num(lo)}, got {_num(value)}"))
            elif value < lo:
                out.append(SchemaProblem(path, f"must be greater than or equal to {_num(lo)}, got {_num(value)}"))
        if "maximum" in schema:
            hi = schema["maximum"]
            if schema.get("exclusiveMaximum") is True and value >= hi:
                out.append(SchemaProblem(path, f"must be less than {_num(hi)}, got {_num(value)}"))
            elif value > hi:
                out.append(SchemaProblem(path, f"must be less than or equal to {_num(hi)}, got {_num(value)}"))
        multiple = schema.get("multipleOf")
        if multiple and (value / multiple) != int(value / multiple):
            out.append(SchemaProblem(path, f"must be a multiple of {_num(multiple)}, got {_num(value)}"))
        fmt = schema.get("format")
        bounds = _INT32 if fmt == "int32" else _INT64 if fmt == "int64" else None
        if bounds and _is_type(value, "integer") and not bounds[0] <= value <= bounds[1]:
            if fmt == "int32":  # the server names no field for this one (`<nil>`), only its message does
                out.append(SchemaProblem("", f"{path} does not fit in int32: {_num(value)}"))
            else:
                out.append(SchemaProblem(path, f"does not fit in {fmt}: {_num(value)}"))
        return out

    def _array(self, value: list[Any], schema: Schema, path: str, check_unknown: bool) -> list[SchemaProblem]:
        out = []
        if "minItems" in schema and len(value) < int(schema["minItems"]):
            out.append(SchemaProblem(path, f"must have at least {schema['minItems']} items, got {len(value)}"))
        if "maxItems" in schema and len(value) > int(schema["maxItems"]):
            too_many = f"must have at most {schema['maxItems']} items, got {len(value)}"
            out.append(SchemaProblem(path, too_many, "FieldValueTooMany"))
        items = schema.get("items")
        if isinstance(items, Mapping):
            for i, item in enumerate(value):
                out += self.node(item, items, f"{path}[{i}]", root=False, check_unknown=check_unknown)
        return out + _duplicates(value, schema, path)

    def _object(
        self, value: dict[str, Any], schema: Schema, path: str, root: bool, check_unknown: bool
    ) -> list[SchemaProblem]:
        out = _object_shape(value, schema, path)
        props: Mapping[str, Schema] = schema.get("properties") or {}
        additional = schema.get("additionalProperties")
        embedded = bool(schema.get("x-kubernetes-embedded-resource"))
        preserve = bool(schema.get("x-kubernetes-preserve-unknown-fields"))
        for key, item in value.items():
            key = str(key)
            here = child(path, key)
            sub = props.get(key) if key in props else additional if isinstance(additional, Mapping) else None
            if sub is not None:
                if root and key == "metadata":
                    continue  # ObjectMeta is validated by the server's own rules, see crd.check
                out += self.node(item, sub, here, root=False, check_unknown=check_unknown)
            elif (root or embedded) and key in ("apiVersion", "kind", "metadata"):
                continue  # the server checks these itself
            elif not (additional is True or preserve or not check_unknown):
                out.append(SchemaProblem(here, "unknown field (not declared in the schema)", "FieldValueNotFound"))
        return out

    def _combinators(self, value: Any, schema: Schema, path: str) -> list[SchemaProblem]:
        out: list[SchemaProblem] = []
        int_or_string = bool(schema.get("x-kubernetes-int-or-string"))

        def check(sub: Schema) -> list[SchemaProblem]:
            return self.node(value, sub, path, root=False, check_unknown=False)

        for sub in schema.get("allOf") or []:
            out += check(sub)
        any_of = schema.get("anyOf") or []
        if any_of and not (int_or_string and all(set(s) <= {"type"} for s in any_of)):
            results = [check(sub) for sub in any_of]
            if all(results):
                out.append(SchemaProblem(path, f"must match at least one allowed form ({results[0][0].reason})"))
        one_of = schema.get("oneOf") or []
        if one_of:
            matching = sum(1 for sub in one_of if not check(sub))
            if matching != 1:
                out.append(SchemaProblem(path, f"must match exactly one allowed form, matches {matching}"))
        not_schema = schema.get("not")
        if isinstance(not_schema, Mapping) and not check(not_schema):
            out.append(SchemaProblem(path, "matches a form the schema forbids"))
        return out


def _duplicates(value: list[Any], schema: Schema, path: str) -> list[SchemaProblem]:
    """Entries of a map list with the same keys, or of a set list with the same value."""
    list_type = schema.get("x-kubernetes-list-type")
    keys = list(schema.get("x-kubernetes-list-map-keys") or [])
    if list_type == "map":
        entries = [(i, item) for i, item in enumerate(value) if isinstance(item, dict)]
        identity = [(i, json.dumps([item.get(k) for k in keys], default=str)) for i, item in entries]
    elif list_type == "set" or schema.get("uniqueItems"):
        identity = [(i, json.dumps(item, sort_keys=True, default=str)) for i, item in enumerate(value)]
    else:
        return []
    out, seen = [], dict[str, int]()
    for i, key in identity:
        if key in seen:
            item = value[i]
            what = (
                "entry with " + ", ".join(f"{k}={_show(item.get(k))}" for k in keys)
                if list_type == "map"
                else f"value {_show(item)}"
            )
            out.append(
                SchemaProblem(f"{path}[{i}]", f"duplicate {what} (also at [{seen[key]}])", "FieldValueDuplicate")
            )
        seen.setdefault(key, i)
    return out


def _object_shape(value: dict[str, Any], schema: Schema, path: str) -> list[SchemaProblem]:
    """Required fields (embedded resources need apiVersion and kind) and property counts."""
    out = []
    props: Mapping[str, Schema] = schema.get("properties") or {}
    for name in schema.get("required") or []:
        if name not in value and "default" not in props.get(name, {}):
            out.append(SchemaProblem(child(path, name), "required field is missing", "FieldValueRequired"))
    if schema.get("x-kubernetes-embedded-resource"):
        for name in ("apiVersion", "kind"):
            if not value.get(name):
                missing = "required field is missing (embedded resource)"
                out.append(SchemaProblem(child(path, name), missing, "FieldValueRequired"))
    if "minProperties" in schema and len(value) < int(schema["minProperties"]):
        out.append(SchemaProblem(path, f"must have at least {schema['minProperties']} fields"))
    if "maxProperties" in schema and len(value) > int(schema["maxProperties"]):
        out.append(SchemaProblem(path, f"must have at most {schema['maxProperties']} fields", "FieldValueTooMany"))
    return out


def _num(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@functools.cache
def _re2(pattern: str) -> Any:
    import re2

    return re2.compile(pattern)


def _pattern_matches(pattern: str, value: str) -> bool:
    """Go's regexp semantics (RE2): `$` is the end of the text, never before a trailing newline."""
    import re2

    try:
        return _re2(pattern).search(value) is not None
    except re2.error:
        return True  # the API server refuses such a CRD; nothing to say about the object


def _valid_base64(value: str) -> bool:
    import base64
    import binascii

    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _valid_date_time(value: str) -> bool:
    if not _DATE_TIME.match(value):
        return False
    try:
        dt.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return False
    return True


def parse_quantity(text: str) -> float:
    """Value of a Kubernetes quantity string in base units (bytes for sizes); ValueError if invalid."""
    match = re.fullmatch(r"([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))([KMGTPE]i|[numkMGTPE]|[eE][+-]?[0-9.]+)?", text)
    if not match:
        raise ValueError(f"not a quantity: {text!r}")
    number, suffix = float(match.group(1)), match.group(2) or ""
    binary = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
    decimal = {"n": 1e-9, "u": 1e-6, "m": 1e-3, "": 1, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18}
    if suffix in binary:
        return number * binary[suffix]
    if suffix in decimal:
        return number * decimal[suffix]
    return number * 10 ** float(suffix[1:])
