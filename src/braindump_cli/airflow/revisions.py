"""Alembic revisions of the Airflow metadata schema, mapped to the Airflow versions that added them.

The table in `_alembic_revisions.py` is generated from Airflow's own migration scripts
(`airflow/migrations/versions/*.py`: each declares `revision`, `down_revision` and `airflow_version`)
of apache-airflow 2.10.5 (1.5.0 to 2.10.3) and 3.3.2 (the squashed 2.6.2 base to 3.3.0). Regenerate it
with `python -m braindump_cli.airflow.revisions <site-packages>/airflow/migrations/versions ...`.
The scripts are read as text (ast), never imported: bd does not need Airflow installed.
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path


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


def _literal(tree: ast.Module, name: str) -> object:
    for node in tree.body:
        targets: list[ast.expr] = []
        value: ast.expr | None = None
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        if value is not None and any(isinstance(t, ast.Name) and t.id == name for t in targets):
            return ast.literal_eval(value)
    return None


def read_migration_scripts(folder: Path) -> list[Revision]:
    """Parse every migration script in `folder` (Airflow's `migrations/versions`)."""
    found = []
    for path in sorted(folder.glob("*.py")):
        if path.name == "__init__.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        revision = _literal(tree, "revision")
        version = _literal(tree, "airflow_version")
        down = _literal(tree, "down_revision")
        if not isinstance(revision, str) or not isinstance(version, str):
            continue
        downs = (down,) if isinstance(down, str) else tuple(down) if isinstance(down, (tuple, list)) else ()
        name = re.sub(r"^\d+_\d+_\d+_\d+_", "", path.stem)
        found.append(Revision(revision, version, tuple(str(d) for d in downs), name))
    return found


def merge_revisions(sources: Iterable[Sequence[Revision]]) -> list[Revision]:
    """Union of several Airflow releases' scripts, ordered by Airflow version then migration order.

    A revision present in several sources keeps its first entry (3.x squashed the 2.0-2.6 chain and
    re-pointed 2.7.0's parent; the revision ids and their versions are the same in both).
    """
    seen: dict[str, Revision] = {}
    order: dict[str, int] = {}
    for source in sources:
        for index, rev in enumerate(source):
            if rev.revision not in seen:
                seen[rev.revision] = rev
                order[rev.revision] = index
    return sorted(seen.values(), key=lambda r: (version_key(r.airflow_version), order[r.revision]))


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


def installed_version(migrations: Path) -> str:
    """The `__version__` of the airflow package that holds `migrations` (`airflow/migrations/versions`)."""
    init = migrations.parent.parent / "__init__.py"
    found = re.search(r'^__version__\s*=\s*["\']([^"\']+)', init.read_text(encoding="utf-8"), re.M)
    return found.group(1) if found else "unknown"


def render_table(revisions: Sequence[Revision], sources: Sequence[str]) -> str:
    lines = [
        '"""Generated by `python -m braindump_cli.airflow.revisions` from Airflow\'s migration scripts. Do not edit.',
        "",
        "Sources: " + "; ".join(sources) + ".",
        "Rows: (revision, airflow_version that added it, down_revisions, script name).",
        '"""',
        "",
        "REVISIONS: tuple[tuple[str, str, tuple[str, ...], str], ...] = (",
    ]
    lines += [f"    ({r.revision!r}, {r.airflow_version!r}, {r.down_revisions!r}, {r.name!r})," for r in revisions]
    lines.append(")")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    folders = [Path(a) for a in (argv if argv is not None else sys.argv[1:])]
    if not folders:
        print("usage: python -m braindump_cli.airflow.revisions MIGRATIONS_DIR...", file=sys.stderr)
        return 2
    sources = [read_migration_scripts(f) for f in folders]
    labels = []
    for folder, revs in zip(folders, sources, strict=True):
        versions = sorted({r.airflow_version for r in revs}, key=version_key)
        labels.append(f"apache-airflow {installed_version(folder)}: {versions[0]}..{versions[-1]}")
    sys.stdout.write(render_table(merge_revisions(sources), labels))
    return 0


if __name__ == "__main__":
    sys.exit(main())
