"""The Database spec as the operator reads it, the operator's configuration and image versions.

Pure: no Kubernetes client. The CRD's OpenAPI schema already rejects most bad specs; what a
schema cannot say (a cron schedule, an image reference with a comparable version, a database
name usable as an identifier) is checked here and reported as `InvalidSpecError`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from braindump_cli.k8s.operator.engines import ENGINES, profile, resolve_engine
from braindump_cli.k8s.operator.engines import split_image as split_image

GROUP = "stable.imaginedata.com"
VERSION = "v1"
PLURAL = "databases"
KIND = "Database"
FIELD_MANAGER = "bd-operator"
LABEL_DATABASE = "stable.imaginedata.com/database"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY = "bd-operator"
# Escape hatch: on a Database being deleted, releases it without a successful final snapshot.
SKIP_SNAPSHOT_ANNOTATION = "stable.imaginedata.com/skip-final-snapshot"


class InvalidSpecError(ValueError):
    """The spec cannot be turned into children; retrying will not help until the spec changes."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


@dataclass(frozen=True)
class BackupSpec:
    schedule: str
    retention: int


@dataclass(frozen=True)
class DatabaseSpec:
    name: str
    port: int
    storage_size: str
    image: str
    replicas: int
    backup: BackupSpec | None = None
    engine: str | None = None  # spec.engine; None: inferred from the image (engines.infer_engine)

    @property
    def engine_name(self) -> str:
        """The engine profile that runs this Database (`postgres` or `hook`)."""
        return resolve_engine(self.engine, self.image)


@dataclass(frozen=True)
class OperatorConfig:
    """What `bd operator run` was told; every builder and the reconciler read it."""

    group: str = GROUP
    version: str = VERSION
    plural: str = PLURAL
    kind: str = KIND
    min_version: str | None = None
    resync_seconds: float = 300.0
    snapshot_poll_seconds: float = 5.0
    field_manager: str = FIELD_MANAGER

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}"


_DB_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,62}$")
_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$")
# registry/path:tag or @digest; the tag part is what versions are read from
# An image reference as container runtimes parse it: [registry[:port]/]path[:tag][@sha256:digest], path
# components lowercase (the grammar of github.com/distribution/reference).
_REGISTRY = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?/)?"
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_IMAGE = re.compile(
    rf"^{_REGISTRY}{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*(?::\w[\w.-]{{0,127}})?(?:@sha256:[0-9a-f]{{64}})?$"
)
_CRON_FIELD = re.compile(
    r"^(\*|\?|[0-9A-Za-z]+(-[0-9A-Za-z]+)?)(/[0-9]+)?(,(\*|[0-9A-Za-z]+(-[0-9A-Za-z]+)?)(/[0-9]+)?)*$"
)
_CRON_MACROS = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
_RETENTION = re.compile(r"^([0-9]+)$")


def _get(spec: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        if key in spec:
            return spec[key]
    return None


def _require_int(value: Any, path: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidSpecError(path, f"must be an integer, got {type(value).__name__}")
    if not lo <= value <= hi:
        raise InvalidSpecError(path, f"must be between {lo} and {hi}, got {value}")
    return value


def validate_schedule(schedule: str) -> None:
    """A CronJob schedule: five fields or a macro (the CronJob controller's own rule)."""
    text = schedule.strip()
    if text in _CRON_MACROS or text.startswith("@every "):
        return
    fields = text.split()
    if len(fields) != 5 or not all(_CRON_FIELD.match(f) for f in fields):
        raise InvalidSpecError("spec.backup.schedule", f"not a cron schedule (5 fields or @daily): {schedule!r}")


def parse_retention(value: Any) -> int:
    """Backups to keep: an integer count, or a string such as "7" (older CRDs typed it as string)."""
    if isinstance(value, int) and not isinstance(value, bool):
        count = value
    elif isinstance(value, str) and _RETENTION.match(value.strip()):
        count = int(value.strip())
    elif isinstance(value, str) and re.match(r"^[0-9]+d$", value.strip()):
        count = int(value.strip()[:-1])  # "7d" with one backup a day
    else:
        raise InvalidSpecError("spec.backup.retention", f"must be a count of backups to keep, got {value!r}")
    if not 1 <= count <= 1000:
        raise InvalidSpecError("spec.backup.retention", f"must be between 1 and 1000, got {count}")
    return count


def parse_spec(spec: Mapping[str, Any] | None) -> DatabaseSpec:
    """Read and check a Database's spec; raise `InvalidSpecError` naming the field."""
    if not isinstance(spec, Mapping):
        raise InvalidSpecError("spec", "missing")
    name = _get(spec, "name")
    if not isinstance(name, str) or not _DB_NAME.match(name):
        raise InvalidSpecError("spec.name", f"must be an identifier ([A-Za-z_][A-Za-z0-9_-]*, <= 63), got {name!r}")
    port = _require_int(_get(spec, "port"), "spec.port", 1, 65535)
    size = _get(spec, "storage-size", "storageSize", "storage_size")
    if isinstance(size, int) and not isinstance(size, bool):
        size = str(size)
    if not isinstance(size, str) or not _QUANTITY.match(size):
        raise InvalidSpecError("spec.storage-size", f"must be a quantity such as 10Gi, got {size!r}")
    image = _get(spec, "image")
    if not isinstance(image, str) or not is_image_reference(image):
        raise InvalidSpecError("spec.image", f"must be an image reference such as postgres:16.4, got {image!r}")
    replicas = _require_int(_get(spec, "replicas"), "spec.replicas", 0, 1000)
    engine = _get(spec, "engine")
    if engine is not None and engine not in ENGINES:
        raise InvalidSpecError("spec.engine", f"must be one of {', '.join(ENGINES)}, got {engine!r}")
    backup: BackupSpec | None = None
    raw_backup = _get(spec, "backup")
    if raw_backup is not None:
        if not isinstance(raw_backup, Mapping):
            raise InvalidSpecError("spec.backup", "must be an object with schedule and retention")
        schedule = raw_backup.get("schedule")
        if not isinstance(schedule, str):
            raise InvalidSpecError("spec.backup.schedule", "required")
        validate_schedule(schedule)
        retention = parse_retention(raw_backup.get("retention", 7))
        backup = BackupSpec(schedule=schedule.strip(), retention=retention)
    return DatabaseSpec(
        name=name, port=port, storage_size=size, image=image, replicas=replicas, backup=backup, engine=engine
    )


def is_image_reference(image: str) -> bool:
    """True if `image` can be pulled by a container runtime (`postgres:16.4`, `reg:5000/team/db@sha256:...`)."""
    return len(image) <= 255 + 128 + 72 and _IMAGE.fullmatch(image) is not None


# --- image versions -------------------------------------------------------------------------------

_VERSION = re.compile(r"^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?")


def parse_version(tag: str | None) -> tuple[int, int, int] | None:
    """`16.4-alpine` -> (16, 4, 0); `latest` or no tag -> None (not comparable)."""
    if not tag:
        return None
    m = _VERSION.match(tag)
    if not m:
        return None
    return (int(m.group(1)), int(m.group(2) or 0), int(m.group(3) or 0))


def image_version(image: str) -> tuple[int, int, int] | None:
    return parse_version(split_image(image)[1])


@dataclass(frozen=True)
class ImagePlan:
    """Which image the Database should run, and whether an upgrade Job must finish first."""

    target: str
    needs_upgrade: bool
    below_minimum: bool = False
    refused: str | None = None


def plan_image(
    spec_image: str, current_image: str | None, *, min_version: str | None = None, engine: str = "hook"
) -> ImagePlan:
    """Compare the wanted image with the running one (the StatefulSet's, None before it exists).

    A newer version needs an upgrade Job before the StatefulSet rolls. A spec older than the
    configured minimum is raised to `<repository>:<minimum>` (and upgraded like any newer version).
    A downgrade is refused, and so is a new major version where the `engine`'s profile says so.
    Tags without a comparable version roll directly.
    """
    target = spec_image
    below = False
    wanted = image_version(spec_image)
    minimum = parse_version(min_version)
    if min_version and minimum and wanted and wanted < minimum:
        target = f"{split_image(spec_image)[0]}:{min_version}"
        below = True
    if current_image is None or current_image == target:
        return ImagePlan(target, needs_upgrade=False, below_minimum=below)
    now, then = image_version(current_image), image_version(target)
    if now is None or then is None or now == then:
        return ImagePlan(target, needs_upgrade=False, below_minimum=below)
    if then < now:
        return ImagePlan(
            target,
            needs_upgrade=False,
            below_minimum=below,
            refused=f"downgrade from {current_image} to {target} is not supported",
        )
    refusal = profile(engine).major_upgrade_refusal(current_image, target)
    if refusal:
        return ImagePlan(target, needs_upgrade=False, below_minimum=below, refused=refusal)
    return ImagePlan(target, needs_upgrade=True, below_minimum=below)
