"""Pure logic: spec parsing, cron and retention checks, image versions and the upgrade plan."""

from __future__ import annotations

import pytest

from braindump_cli.k8s.operator.model import (
    BackupSpec,
    InvalidSpecError,
    image_version,
    parse_spec,
    plan_image,
    split_image,
    validate_schedule,
)

GOOD = {"name": "app", "port": 5432, "storage-size": "1Gi", "image": "postgres:16.1", "replicas": 2}


def test_parse_spec_reads_every_field() -> None:
    spec = parse_spec({**GOOD, "backup": {"schedule": "0 3 * * *", "retention": 5}})
    assert (spec.name, spec.port, spec.storage_size, spec.image, spec.replicas) == (
        "app",
        5432,
        "1Gi",
        "postgres:16.1",
        2,
    )
    assert spec.backup == BackupSpec("0 3 * * *", 5)


def test_integer_storage_size_is_a_quantity() -> None:
    assert parse_spec({**GOOD, "storage-size": 1073741824}).storage_size == "1073741824"


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"name": "1bad"}, "spec.name"),
        ({"port": 0}, "spec.port"),
        ({"port": "5432"}, "spec.port"),
        ({"storage-size": "lots"}, "spec.storage-size"),
        ({"image": ""}, "spec.image"),
        ({"image": "Postgres Latest"}, "spec.image"),
        ({"replicas": -1}, "spec.replicas"),
        ({"backup": {"schedule": "every day", "retention": 3}}, "spec.backup.schedule"),
        ({"backup": {"schedule": "0 3 * * *", "retention": 0}}, "spec.backup.retention"),
        ({"backup": "daily"}, "spec.backup"),
    ],
)
def test_invalid_specs_name_the_field(change: dict[str, object], path: str) -> None:
    with pytest.raises(InvalidSpecError) as err:
        parse_spec({**GOOD, **change})
    assert err.value.path == path


def test_missing_spec_is_invalid() -> None:
    with pytest.raises(InvalidSpecError):
        parse_spec(None)


@pytest.mark.parametrize("schedule", ["0 3 * * *", "*/15 * * * 1-5", "@daily", "0 0 1,15 * MON"])
def test_valid_schedules(schedule: str) -> None:
    validate_schedule(schedule)


@pytest.mark.parametrize("schedule", ["0 3 * *", "61 a b c d e", "daily", "0 3 * * * *"])
def test_invalid_schedules(schedule: str) -> None:
    with pytest.raises(InvalidSpecError):
        validate_schedule(schedule)


def test_image_versions() -> None:
    assert split_image("registry:5000/team/pg:16.4-alpine") == ("registry:5000/team/pg", "16.4-alpine")
    assert split_image("registry:5000/pg") == ("registry:5000/pg", None)
    assert image_version("pg:16.4-alpine") == (16, 4, 0)
    assert image_version("pg:v1.2.3") == (1, 2, 3)
    assert image_version("pg:latest") is None
    assert image_version("pg") is None


def test_plan_first_creation_needs_no_upgrade() -> None:
    plan = plan_image("pg:16.1", None)
    assert (plan.target, plan.needs_upgrade, plan.refused) == ("pg:16.1", False, None)


def test_plan_newer_version_needs_an_upgrade_job() -> None:
    assert plan_image("pg:16.2", "pg:16.1").needs_upgrade


def test_plan_same_image_or_same_version_rolls_directly() -> None:
    assert not plan_image("pg:16.1", "pg:16.1").needs_upgrade
    assert not plan_image("pg:16.1-alpine", "pg:16.1").needs_upgrade


def test_plan_unknown_versions_roll_directly() -> None:
    assert not plan_image("pg:latest", "pg:16.1").needs_upgrade


def test_plan_refuses_downgrades() -> None:
    plan = plan_image("pg:15.0", "pg:16.1")
    assert plan.refused is not None
    assert "downgrade" in plan.refused
    assert not plan.needs_upgrade


def test_plan_raises_images_below_the_minimum() -> None:
    plan = plan_image("pg:12.3", "pg:12.3", min_version="14")
    assert plan.below_minimum
    assert plan.target == "pg:14"
    assert plan.needs_upgrade
    fresh = plan_image("pg:12.3", None, min_version="14")
    assert (fresh.target, fresh.needs_upgrade) == ("pg:14", False)
    assert not plan_image("pg:16.1", "pg:16.1", min_version="14").below_minimum
