"""Alembic revisions of the Airflow metadata schema, mapped to the Airflow versions that added them.

The table in `_alembic_revisions.py` is generated from Airflow's own migration scripts
(`airflow/migrations/versions/*.py`: each declares `revision`, `down_revision` and `airflow_version`)
of apache-airflow 2.10.5 (1.5.0 to 2.10.3) and 3.3.2 (the squashed 2.6.2 base to 3.3.0) by
`scripts/airflow_alembic_map.py` (not shipped); bd only reads the table.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Revision:
    revision: str
    airflow_version: str
    down_revisions: tuple[str, ...]
    name: str


@dataclass(frozen=True)
class RevisionMatch:
    """Where an alembic revision sits: the Airflow version that added it and the release range it implies."""

    revision: str
    airflow_version: str
    """The Airflow release whose `airflow db migrate` added this revision."""
    next_airflow_version: str | None
    """The next release that changed the schema (None: newest known)."""
    is_release_head: bool
    """True when this is the last migration of its release (False: an interrupted or partial upgrade)."""

    @property
    def airflow_versions(self) -> str:
        if self.next_airflow_version is None:
            return f">={self.airflow_version}"
        return f">={self.airflow_version},<{self.next_airflow_version}"


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", version))


def match_revision(revision: str, table: Sequence[Revision] | None = None) -> RevisionMatch | None:
    """Map an `alembic_version.version_num` to the Airflow release range it implies; None if unknown."""
    if table is None:
        from braindump_cli.airflow._alembic_revisions import REVISIONS

        table = [Revision(r, v, d, n) for r, v, d, n in REVISIONS]
    by_id = {r.revision: r for r in table}
    found = by_id.get(revision)
    if found is None:
        return None
    versions = sorted({r.airflow_version for r in table}, key=version_key)
    later = [v for v in versions if version_key(v) > version_key(found.airflow_version)]
    parents = {d for r in table if r.airflow_version == found.airflow_version for d in r.down_revisions}
    return RevisionMatch(
        revision=revision,
        airflow_version=found.airflow_version,
        next_airflow_version=later[0] if later else None,
        is_release_head=revision not in parents,
    )


def release_heads(table: Sequence[Revision] | None = None) -> dict[str, str]:
    """Airflow release that changed the schema -> its head revision (the one not revised by another)."""
    if table is None:
        from braindump_cli.airflow._alembic_revisions import REVISIONS

        table = [Revision(r, v, d, n) for r, v, d, n in REVISIONS]
    heads: dict[str, str] = {}
    for version in sorted({r.airflow_version for r in table}, key=version_key):
        mine = [r for r in table if r.airflow_version == version]
        parents = {d for r in mine for d in r.down_revisions}
        tips = [r.revision for r in mine if r.revision not in parents]
        heads[version] = tips[-1]
    return heads
