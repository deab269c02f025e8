"""CEL rules of a CRD (`x-kubernetes-validations`) evaluated offline, as the API server does.

The engine is cel-expr-python (CEL's C++ runtime; see docs/crd.md for the measured choice) with
the CEL extensions Kubernetes enables (strings, optionals) and bd's implementation of the
Kubernetes CEL libraries CRD rules use (`_k8slib.py`: quantity, lists, sets, regex, url, ip/cidr).

* a rule is evaluated at every node of the object whose schema carries it, with `self` bound to
  the node's value (after defaulting; at the root only apiVersion, kind, metadata.name and
  metadata.generateName of metadata are visible, as on the server);
* a rule that reads `oldSelf` is a transition rule: it runs on updates only (`old` given) where the
  old object has a value at the same place, or always with `optionalOldSelf: true` (then `oldSelf`
  is an optional);
* `message`, `messageExpression`, `reason` and `fieldPath` shape the problem as the server does;
* a rule bd cannot compile (a library it does not implement) is reported as a problem of its own
  (reason `RuleNotEvaluated`), never passed silently.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from braindump_cli.k8s.schema_check import SchemaProblem, child

Schema = Mapping[str, Any]
MISSING: Any = object()  # no old value at this place (create, or a new list entry)
_OLD_SELF = re.compile(r"\boldSelf\b")
_REASONS = {"FieldValueInvalid", "FieldValueForbidden", "FieldValueRequired", "FieldValueDuplicate"}


@dataclass(frozen=True)
class Compiled:
    program: Any | None  # a cel_expr_python Expression, None when it did not compile
    error: str = ""


@cache
def _env() -> Any:
    from cel_expr_python import cel
    from cel_expr_python.ext import ext_optional, ext_strings

    from braindump_cli.k8s.crd._k8slib import declarations

    return cel.NewEnv(
        variables={"self": cel.Type.DYN, "oldSelf": cel.Type.DYN, "__old": cel.Type.DYN, "__hasOld": cel.Type.BOOL},
        extensions=[ext_strings.ExtStrings(), ext_optional.ExtOptional()],
        functions=declarations(),
    )


def _optional_old(expression: str) -> str:
    # `oldSelf` as an optional: bind it through a one-element map (CEL has no let)
    return f"[__hasOld ? optional.of(__old) : optional.none()].map(oldSelf, {expression})[0]"


@cache
def compile_rule(expression: str, optional_old: bool = False) -> Compiled:
    source = _optional_old(expression) if optional_old else expression
    env = _env()
    try:
        return Compiled(env.compile(source))
    except RuntimeError as e:
        text = str(e).splitlines()[0]
        return Compiled(None, text.split("ERROR: <input>:", 1)[-1].strip())


def _evaluate(compiled: Compiled, data: Mapping[str, Any]) -> tuple[Any, str | None]:
    """(value, None) or (None, error text)."""
    if compiled.program is None:
        return None, compiled.error
    try:
        result = compiled.program.eval(data=dict(data))
    except RuntimeError as e:
        return None, str(e).splitlines()[0]
    if str(result.type().name()).upper() == "ERROR":
        return None, str(result.value())
    try:
        return result.plain_value(), None
    except (RuntimeError, TypeError, ValueError) as e:
        return None, str(e)


@dataclass(frozen=True)
class _Rule:
    rule: Mapping[str, Any]

    @property
    def text(self) -> str:
        return str(self.rule.get("rule", ""))

    @property
    def transition(self) -> bool:
        return bool(_OLD_SELF.search(self.text))

    @property
    def optional_old(self) -> bool:
        return bool(self.rule.get("optionalOldSelf"))

    def path(self, base: str) -> str:
        field_path = str(self.rule.get("fieldPath") or "")
        if not field_path:
            return base
        return base + field_path if field_path.startswith("[") else child(base, field_path.lstrip("."))

    def reason(self) -> str:
        reason = str(self.rule.get("reason") or "FieldValueInvalid")
        return reason if reason in _REASONS else "FieldValueInvalid"

    def message(self, data: Mapping[str, Any]) -> str:
        expression = self.rule.get("messageExpression")
        if expression:
            compiled = compile_rule(str(expression), self.optional_old)
            if compiled.program is not None:
                value, error = _evaluate(compiled, data)
                if error is None and isinstance(value, str) and value.strip():
                    return value
        return str(self.rule.get("message") or f"failed rule: {self.text}")


def _check_rule(rule: _Rule, value: Any, old: Any, path: str) -> list[SchemaProblem]:
    if rule.transition and old is MISSING and not rule.optional_old:
        return []
    if not rule.transition and old is not MISSING and old == value:
        return []  # ratcheting: a rule without oldSelf does not judge a value the update left alone
    compiled = compile_rule(rule.text, rule.optional_old and rule.transition)
    where = rule.path(path)
    if compiled.program is None:
        return [
            SchemaProblem(
                where, f"bd cannot evaluate this rule offline ({compiled.error}): {rule.text}", "RuleNotEvaluated"
            )
        ]
    data: dict[str, Any] = {"self": value}
    if rule.transition:
        if rule.optional_old:
            data.update(__old=None if old is MISSING else old, __hasOld=old is not MISSING)
        else:
            data["oldSelf"] = old
    result, error = _evaluate(compiled, data)
    if error is not None:
        return [SchemaProblem(where, _invalid(value, f"{rule.text}: {error}"), rule.reason())]
    if result is True:
        return []
    if not isinstance(result, bool):
        return [SchemaProblem(where, f"rule did not evaluate to a bool: {rule.text}", "FieldValueInvalid")]
    return [SchemaProblem(where, _invalid(value, rule.message(data)), rule.reason())]


def has_rules(schema: Any) -> bool:
    """Whether any node of `schema` carries `x-kubernetes-validations`."""
    if isinstance(schema, Mapping):
        return bool(schema.get("x-kubernetes-validations")) or any(has_rules(v) for v in schema.values())
    if isinstance(schema, list):
        return any(has_rules(v) for v in schema)
    return False


def _invalid(value: Any, message: str) -> str:
    """The server's wording: the value when it is a scalar, then the rule's message."""
    if isinstance(value, (dict, list)):
        return f"Invalid value: {message}"
    return f"Invalid value: {json.dumps(value)}: {message}"


def _root_view(value: Mapping[str, Any]) -> dict[str, Any]:
    view = dict(value)
    meta = value.get("metadata")
    if isinstance(meta, Mapping):
        view["metadata"] = {k: meta[k] for k in ("name", "generateName") if k in meta}
    return view


def validate_rules(value: Any, schema: Schema, *, old: Any = MISSING) -> list[SchemaProblem]:
    """Problems of every CEL rule of `schema` for the (defaulted) object `value`; `old` for an update."""
    root_old = _root_view(old) if isinstance(old, Mapping) else old
    return _Walker().node(_root_view(value) if isinstance(value, Mapping) else value, schema, "", root_old)


class _Walker:
    def node(self, value: Any, schema: Schema, path: str, old: Any) -> list[SchemaProblem]:
        if value is None:
            return []
        out: list[SchemaProblem] = []
        if isinstance(value, dict):
            out += self._object(value, schema, path, old)
        elif isinstance(value, list):
            out += self._array(value, schema, path, old)
        for rule in schema.get("x-kubernetes-validations") or []:
            out += _check_rule(_Rule(rule), value, old, path)
        return out

    def _object(self, value: dict[str, Any], schema: Schema, path: str, old: Any) -> list[SchemaProblem]:
        props: Mapping[str, Schema] = schema.get("properties") or {}
        additional = schema.get("additionalProperties")
        out: list[SchemaProblem] = []
        for key, item in value.items():
            sub = props.get(key) if key in props else additional if isinstance(additional, Mapping) else None
            if sub is None:
                continue
            old_item = old.get(key, MISSING) if isinstance(old, dict) else MISSING
            out += self.node(item, sub, child(path, key), old_item)
        return out

    def _array(self, value: list[Any], schema: Schema, path: str, old: Any) -> list[SchemaProblem]:
        items = schema.get("items")
        if not isinstance(items, Mapping):
            return []
        match = _old_item_matcher(schema, old)
        out: list[SchemaProblem] = []
        for i, item in enumerate(value):
            out += self.node(item, items, f"{path}[{i}]", match(item))
        return out


def _old_item_matcher(schema: Schema, old: Any) -> Callable[[Any], Any]:
    """How a list entry finds its old self: by its keys in a map list, never in other lists."""
    keys = list(schema.get("x-kubernetes-list-map-keys") or [])
    if schema.get("x-kubernetes-list-type") != "map" or not keys or not isinstance(old, list):
        return lambda _item: MISSING
    by_key = {tuple(repr(e.get(k)) for k in keys): e for e in old if isinstance(e, dict)}
    return lambda item: (
        by_key.get(tuple(repr(item.get(k)) for k in keys), MISSING) if isinstance(item, dict) else MISSING
    )
