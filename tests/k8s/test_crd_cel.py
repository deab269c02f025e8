"""CEL rules offline (pure logic, no server): the Kubernetes libraries, message shaping, transition
rules, ratcheting, rules bd cannot evaluate, and `bd crd check --old` / `-o status`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from braindump_cli.k8s.crd.cel import validate_rules
from tests.k8s.conftest import Bd, as_json


def _rule(rule: str, **extra: Any) -> dict[str, Any]:
    return {"type": "object", "x-kubernetes-validations": [{"rule": rule, **extra}]}


@pytest.mark.parametrize(
    ("rule", "self_", "ok"),
    [
        ("quantity(self.q).compareTo(quantity('0')) >= 0", {"q": "1Gi"}, True),
        ("quantity(self.q).compareTo(quantity('0')) >= 0", {"q": "-1Gi"}, False),
        ("quantity('1') == quantity('1000m')", {}, True),
        ("quantity('1Gi').isGreaterThan(quantity('1G'))", {}, True),
        ("quantity('1Ki').add(24).asInteger() == 1048", {}, True),
        ("quantity('1.5').isInteger()", {}, False),
        ("isQuantity('10 GB')", {}, False),
        ("quantity('2').sub(quantity('3')).sign() == -1", {}, True),
        ("self.l.isSorted() && self.l.sum() == 6 && self.l.min() == 1 && self.l.max() == 3", {"l": [1, 2, 3]}, True),
        ("self.l.isSorted()", {"l": [2, 1]}, False),
        ("sets.contains(self.l, [1]) && sets.intersects(self.l, [3, 9])", {"l": [1, 3]}, True),
        ("sets.equivalent([1, 2], [2, 1, 1])", {}, True),
        ("'a1b22'.find('[0-9]+') == '1' && 'a1b22'.findAll('[0-9]+') == ['1', '22']", {}, True),
        (
            "url('https://a.io:8443/p?x=1').getPort() == '8443' && url('https://a.io/p').getHostname() == 'a.io'",
            {},
            True,
        ),
        ("isURL('not a url')", {}, False),
        ("ip('10.0.0.1').family() == 4 && ip('::1').isLoopback() && !isIP('10.0.0')", {}, True),
        ("cidr('10.0.0.0/8').containsIP('10.1.2.3') && cidr('10.0.0.0/8').containsCIDR('10.2.0.0/16')", {}, True),
        ("cidr('10.1.2.3/8').masked() == cidr('10.0.0.0/8') && cidr('10.0.0.0/8').prefixLength() == 8", {}, True),
        ("self.s.lowerAscii() == 'abc' && self.s.split('B').size() == 2", {"s": "aBc"}, True),
        ("self.?missing.orValue(5) == 5", {}, True),
        ("'x' in self && self.x.matches('^[a-z]+$')", {"x": "abc"}, True),
    ],
)
def test_kubernetes_libraries(rule: str, self_: dict[str, Any], ok: bool) -> None:
    found = validate_rules(self_, _rule(rule))
    assert (not found) is ok, found
    assert all(p.type != "RuleNotEvaluated" for p in found), found


def test_message_expression_reason_and_field_path() -> None:
    schema = _rule(
        "self.a < self.b",
        messageExpression="'a (' + string(self.a) + ') must be below b'",
        reason="FieldValueForbidden",
        fieldPath=".a",
    )
    (problem,) = validate_rules({"s": {"a": 3, "b": 2}}, {"type": "object", "properties": {"s": schema}})
    assert problem.path == "s.a"
    assert problem.type == "FieldValueForbidden"
    assert problem.reason.endswith("a (3) must be below b")


def test_default_message_names_the_rule() -> None:
    (problem,) = validate_rules({"a": 1}, _rule("self.a > 1"))
    assert problem.reason.endswith("failed rule: self.a > 1")


def test_a_rule_bd_cannot_evaluate_is_reported_never_passed() -> None:
    (problem,) = validate_rules({"n": "x"}, _rule("format.dns1123Label().validate(self.n).hasValue()"))
    assert problem.type == "RuleNotEvaluated"
    assert "bd cannot evaluate this rule offline" in problem.reason


def test_an_evaluation_error_rejects() -> None:
    (problem,) = validate_rules({}, _rule("self.missing > 1"))
    assert "no such key" in problem.reason.lower() or "not found" in problem.reason.lower()


def test_transition_rules_run_on_updates_only() -> None:
    schema = _rule("self.v >= oldSelf.v", message="v may not go down")
    assert validate_rules({"v": 1}, schema) == []
    assert validate_rules({"v": 1}, schema, old={"v": 1}) == []
    (problem,) = validate_rules({"v": 1}, schema, old={"v": 2})
    assert problem.reason.endswith("v may not go down")


def test_optional_old_self_runs_on_create_too() -> None:
    schema = _rule("!oldSelf.hasValue() || self.v == oldSelf.value().v", optionalOldSelf=True, message="fixed")
    assert validate_rules({"v": 1}, schema) == []
    assert len(validate_rules({"v": 1}, schema, old={"v": 2})) == 1


def test_ratcheting_leaves_unchanged_values_alone() -> None:
    schema = {"type": "object", "properties": {"a": _rule("self.x > 1"), "b": _rule("self.x > 1")}}
    old = {"a": {"x": 0}, "b": {"x": 0}}
    found = validate_rules({"a": {"x": 0}, "b": {"x": -1}}, schema, old=old)
    assert [p.path for p in found] == ["b"]


def test_map_list_entries_find_their_old_self_by_key() -> None:
    items = {
        "type": "array",
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["k"],
        "items": _rule("self.v >= oldSelf.v"),
    }
    schema = {"type": "object", "properties": {"l": items}}
    old = {"l": [{"k": "a", "v": 5}, {"k": "b", "v": 1}]}
    found = validate_rules({"l": [{"k": "b", "v": 2}, {"k": "a", "v": 4}, {"k": "c", "v": 0}]}, schema, old=old)
    assert [p.path for p in found] == ["l[1]"]


def _db(path: Path, size: str) -> Path:
    body = {
        "apiVersion": "stable.imaginedata.com/v1",
        "kind": "Database",
        "metadata": {"name": "db1", "namespace": "ns"},
        "spec": {"name": "appdb", "port": 5432, "storage-size": size, "image": "postgres:16.4"},
    }
    path.write_text(yaml.safe_dump(body))
    return path


def test_cli_old_checks_an_update(bd: Bd, tmp_path: Path) -> None:
    old = _db(tmp_path / "old.yaml", "10Gi")
    shrunk = _db(tmp_path / "new.yaml", "5Gi")
    assert bd("crd", "check", "-f", str(shrunk), "--offline").exit_code == 0  # a create: no oldSelf
    result = bd("crd", "check", "-f", str(shrunk), "--old", str(old), "--offline", "-o", "json")
    assert result.exit_code == 4, result.stderr
    (problem,) = as_json(result)["problems"]
    assert problem["path"] == "spec.storage-size"
    assert problem["type"] == "FieldValueForbidden"
    assert "may not shrink" in problem["reason"]
    grown = _db(tmp_path / "grown.yaml", "20Gi")
    assert bd("crd", "check", "-f", str(grown), "--old", str(old), "--offline").exit_code == 0


def test_cli_status_output_has_the_server_shape(bd: Bd, tmp_path: Path) -> None:
    bad = _db(tmp_path / "bad.yaml", "-1Gi")
    result = bd("crd", "check", "-f", str(bad), "--offline", "-o", "status")
    assert result.exit_code == 4
    (entry,) = as_json(result)
    status = entry["status"]
    assert (status["kind"], status["status"], status["code"], status["reason"]) == ("Status", "Failure", 422, "Invalid")
    assert status["details"]["kind"] == "Database"
    assert {c["field"] for c in status["details"]["causes"]} == {"spec.storage-size"}
    assert all(set(c) == {"field", "reason", "message"} for c in status["details"]["causes"])
    good = _db(tmp_path / "good.yaml", "1Gi")
    (ok,) = as_json(bd("crd", "check", "-f", str(good), "--offline", "-o", "status"))
    assert ok["status"]["status"] == "Success"


def test_duplicate_keys_are_refused_as_the_strict_decoder_does(bd: Bd, tmp_path: Path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text(
        "apiVersion: stable.imaginedata.com/v1\nkind: Database\nmetadata: {name: db1}\n"
        "spec: {name: appdb, port: 5432, storage-size: 1Gi, image: 'postgres:16.4', port: 5433}\n"
    )
    result = bd("crd", "check", "-f", str(path), "--offline", "-o", "json")
    assert result.exit_code == 4, result.stderr
    assert [(p["path"], p["reason"]) for p in as_json(result)["problems"]] == [("spec.port", "duplicate field")]
