"""The offline validator against hand-written schemas and the shipped CRD (pure logic, no server)."""

from __future__ import annotations

from typing import Any

import pytest

from braindump_cli.k8s.crd.shipped import database_crd
from braindump_cli.k8s.schema_check import QUANTITY_PATTERN, parse_quantity, validate


def _schema() -> dict[str, Any]:
    return database_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def _db(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"name": "mydb", "port": 5432, "storage-size": "1Gi", "image": "postgres:16"}
    base.update(spec)
    return {"apiVersion": "stable.imaginedata.com/v1", "kind": "Database", "metadata": {"name": "x"}, "spec": base}


def _paths(obj: Any, schema: dict[str, Any] | None = None) -> dict[str, str]:
    return {p.path: p.reason for p in validate(obj, schema or _schema())}


def test_valid_database_has_no_problems() -> None:
    assert _paths(_db(replicas=3, backup={"schedule": "0 3 * * *", "retention": 7})) == {}


@pytest.mark.parametrize(
    ("spec", "path", "words"),
    [
        ({"port": "5432"}, "spec.port", "must be of type integer, got string"),
        ({"port": 0}, "spec.port", "greater than or equal to 1"),
        ({"port": 65536}, "spec.port", "less than or equal to 65535"),
        ({"replicas": -1}, "spec.replicas", "greater than or equal to 0"),
        ({"replicas": True}, "spec.replicas", "got boolean"),
        ({"image": ""}, "spec.image", "must not be empty"),
        ({"storage-size": "10 GB"}, "spec.storage-size", "Kubernetes quantity"),
        ({"storage-size": [1]}, "spec.storage-size", "integer or a string"),
        ({"name": "my db"}, "spec.name", "must match the pattern"),
        ({"nmae": "x"}, "spec.nmae", "unknown field"),
        ({"backup": {"retention": 0}}, "spec.backup.schedule", "required field is missing"),
        (
            {"backup": {"schedule": "0 3 * * *", "retention": 0}},
            "spec.backup.retention",
            ">= 1".replace(">= ", "equal to "),
        ),
    ],
)
def test_each_violation_is_named_by_path(spec: dict[str, Any], path: str, words: str) -> None:
    found = _paths(_db(**spec))
    assert path in found, found
    assert words in found[path]


def test_storage_size_accepts_integers_and_quantities() -> None:
    for size in (1073741824, "10Gi", "500M", "1.5Ti", "1e3"):
        assert _paths(_db(**{"storage-size": size})) == {}, size


def test_missing_required_and_defaults() -> None:
    obj = _db()
    del obj["spec"]["image"]
    assert _paths(obj) == {"spec.image": "required field is missing"}
    obj = _db()
    del obj["spec"]
    assert _paths(obj) == {"spec": "required field is missing"}
    # replicas has a default: leaving it out is fine, as the server fills it in before validating
    assert "spec.replicas" not in _paths(_db())


def test_status_conditions_enum_map_list_and_date_time() -> None:
    obj = _db()
    obj["status"] = {
        "conditions": [
            {"type": "Ready", "status": "Maybe", "lastTransitionTime": "yesterday"},
            {"type": "Ready", "status": "True"},
        ]
    }
    found = _paths(obj)
    assert "must be one of" in found["status.conditions[0].status"]
    assert "date-time" in found["status.conditions[0].lastTransitionTime"]
    assert "duplicate entry" in found["status.conditions[1]"]
    obj["status"] = {"kopf": {"anything": {"goes": 1}}, "observedGeneration": 2**70}
    assert list(_paths(obj)) == ["status.observedGeneration"]


def test_top_level_unknown_field_and_null() -> None:
    obj = _db()
    obj["spek"] = {}
    obj["spec"]["port"] = None
    found = _paths(obj)
    assert found["spek"].startswith("unknown field")
    assert found["spec.port"] == "must be of type integer, got null"


def test_combinators_additional_properties_and_arrays() -> None:
    schema = {
        "type": "object",
        "properties": {
            "labels": {"type": "object", "additionalProperties": {"type": "string", "maxLength": 3}},
            "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 2, "x-kubernetes-list-type": "set"},
            "mode": {"type": "string", "anyOf": [{"enum": ["a"]}, {"pattern": "^x"}]},
            "n": {"type": "number", "minimum": 0, "exclusiveMinimum": True, "multipleOf": 0.5},
            "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            "res": {
                "type": "object",
                "x-kubernetes-embedded-resource": True,
                "x-kubernetes-preserve-unknown-fields": True,
            },
        },
    }
    good = {
        "labels": {"a": "abc"},
        "tags": ["x"],
        "mode": "xyz",
        "n": 1.5,
        "free": {"q": 1},
        "res": {"apiVersion": "v1", "kind": "Pod"},
    }
    assert _paths(good, schema) == {}
    bad = {"labels": {"a": "abcd"}, "tags": ["x", "x", "y"], "mode": "b", "n": 0, "res": {}}
    found = _paths(bad, schema)
    assert set(found) == {"labels.a", "tags", "tags[1]", "mode", "n", "res.apiVersion", "res.kind"}, found


def test_quantity_parsing() -> None:
    assert parse_quantity("1Gi") == 2**30
    assert parse_quantity("500M") == 500e6
    assert parse_quantity("1e3") == 1000
    assert parse_quantity("100m") == pytest.approx(0.1)
    with pytest.raises(ValueError, match="not a quantity"):
        parse_quantity("ten")
    assert "[KMGTPE]i" in QUANTITY_PATTERN
