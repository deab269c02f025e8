"""Delete every metadata row of a DAG, in one transaction, children first, with an archive to restore from.

Which rows: the live schema is reflected, never assumed.

* seeds: every table with a `dag_id` or `target_dag_id` column (`log` unless `keep_logs`), `dag_code`
  by `fileloc` and the import-error table by file name when those are not keyed by DAG id (only files
  no other DAG uses);
* then every row that references a selected row through a foreign key, transitively (runs, task
  instances, dag versions...), whatever the key's ON DELETE says.

Order: tables are deleted children first along the live foreign keys, so RESTRICT keys (Airflow 3's
`task_instance.dag_version_id`) never fire and CASCADE never reaches a row that was not archived.
A table's selection is a union of branches (its own seed, one per foreign key); each branch runs as
its own statement so every one of them can use an index.

A DAG id is always a bound parameter; only reflected identifiers, quoted by the dialect, reach SQL text.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import os
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from braindump_cli.airflow._db import ForeignKey, Schema, connection, quote, reflect_schema
from braindump_cli.airflow.archive import ArchiveWriter, CopySink
from braindump_cli.errors import BdError, NotFoundError, RefusedError, UsageError
from braindump_cli.progress import Progress, no_progress

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection


SEED_COLUMNS = ("dag_id", "target_dag_id")
ACTIVE_TI_STATES = ("running", "queued")
LIKE_ESCAPE = "!"
STREAM_ROWS = 2000
# Progress lines only for the tables of a large delete: this many rows, or this long.
PROGRESS_ROWS = 10_000
PROGRESS_SECONDS = 1.0
log = logging.getLogger(__name__)
# Test seam only: seconds to sleep after each DELETE statement, so a test can SIGKILL bd mid-transaction.
PAUSE_ENV = "BD_TEST_DELETE_PAUSE"


@dataclass(frozen=True)
class DeleteResult:
    """What was (or, with dry_run, would be) deleted. Fields are the `-o json` document."""

    dag_ids: tuple[str, ...]
    dry_run: bool
    deleted: dict[str, int]
    total: int
    archive: str | None
    warnings: tuple[str, ...] = field(default=(), repr=False)


@dataclass(frozen=True)
class Branch:
    """One reason a row of a table is selected: a seed predicate, or a foreign key into a selected table."""

    kind: str  # "seed" | "files" | "filepairs" | "fk"
    column: str | None = None
    fk: ForeignKey | None = None
    parent: tuple[Branch, ...] = ()


@dataclass(frozen=True)
class Selection:
    """Everything needed to render the statements: branches per table, delete order, bound values."""

    schema: Schema
    branches: dict[str, tuple[Branch, ...]]
    order: tuple[str, ...]
    params: dict[str, Any]
    like_params: tuple[str, ...]
    dag_ids: tuple[str, ...]


def escape_like(value: str, escape: str = LIKE_ESCAPE) -> str:
    """`value` as a LIKE literal: `%`, `_` and the escape character lose their wildcard meaning."""
    return value.replace(escape, escape * 2).replace("%", escape + "%").replace("_", escape + "_")


# ---------------------------------------------------------------- selection


def _exact(conn: Connection, col: str, op: str, rhs: str) -> str:
    """`col op rhs` comparing exactly: on MySQL/MariaDB many Airflow id and file columns use the database's
    default collation (utf8mb4_unicode_ci: "It's" = "it's", "dág" = "dag"), so the match is repeated
    on the value converted to utf8mb4_bin; the plain comparison stays first so an index still narrows it."""
    if conn.dialect.name not in ("mysql", "mariadb"):
        return f"{col} {op} {rhs}"
    return f"({col} {op} {rhs} AND CONVERT({col} USING utf8mb4) COLLATE utf8mb4_bin {op} {rhs})"


def _seed_sql(conn: Connection, alias: str, column: str, sel_like: Sequence[str]) -> str:
    col = f"{alias}.{quote(conn, column)}"
    parts = [_exact(conn, col, "IN", ":ids")]
    # LIKE finds `<id>.<child>` (escaped, so `_` and `%` in the id are literal); the SUBSTR check makes
    # it case-sensitive on SQLite and MySQL, whose LIKE ignores case (on MySQL through _exact's binary
    # collation: a plain `=` there ignores case too).
    for p in sel_like:
        prefix = _exact(conn, f"SUBSTR({col}, 1, :{p}_n)", "=", f":{p}_prefix")
        parts.append(f"({col} LIKE :{p} ESCAPE '{LIKE_ESCAPE}' AND {prefix})")
    return "(" + " OR ".join(parts) + ")" if len(parts) > 1 else parts[0]


def _column(branch: Branch) -> str:
    if branch.column is None:
        raise ValueError(f"branch {branch.kind} without a column")
    return branch.column


def render_branch(conn: Connection, sel: Selection, table: str, alias: str, branch: Branch, depth: int = 0) -> str:
    if branch.kind == "seed":
        return _seed_sql(conn, alias, _column(branch), sel.like_params)
    if branch.kind == "files":
        return _exact(conn, f"{alias}.{quote(conn, _column(branch))}", "IN", ":filelocs")
    if branch.kind == "filepairs":
        pairs = sel.params.get("_pairs", 0)
        filename, bundle = (f"{alias}.{quote(conn, c)}" for c in ("filename", "bundle_name"))
        ors = [
            f"({_exact(conn, filename, '=', f':fp{i}')} AND {_exact(conn, bundle, '=', f':fb{i}')})"
            for i in range(pairs)
        ]
        return "(" + " OR ".join(ors) + ")" if ors else "1 = 0"
    fk = branch.fk
    if fk is None:
        raise ValueError(f"branch {branch.kind} without a foreign key")
    p = f"p{depth}"
    ptable = quote(conn, fk.referred_table)
    join = " AND ".join(
        f"{p}.{quote(conn, rc)} = {alias}.{quote(conn, c)}"
        for c, rc in zip(fk.columns, fk.referred_columns, strict=False)
    )
    inner = " OR ".join(render_branch(conn, sel, fk.referred_table, p, b, depth + 1) for b in branch.parent)
    return f"EXISTS (SELECT 1 FROM {ptable} {p} WHERE {join} AND ({inner}))"


def _seeds(schema: Schema, *, keep_logs: bool, has_files: bool, has_pairs: bool) -> dict[str, tuple[Branch, ...]]:
    seeds: dict[str, tuple[Branch, ...]] = {}
    for name, info in schema.tables.items():
        if keep_logs and name == "log":
            continue
        found = [Branch("seed", column=c) for c in SEED_COLUMNS if info.has(c)]
        if not found and name == "dag_code" and info.has("fileloc") and has_files:
            found = [Branch("files", column="fileloc")]
        if not found and name in ("import_error", "parse_import_error") and info.has("filename"):
            if info.has("bundle_name") and has_pairs:
                found = [Branch("filepairs")]
            elif has_files:
                found = [Branch("files", column="filename")]
        if found:
            seeds[name] = tuple(found)
    return seeds


def build_branches(schema: Schema, seeds: dict[str, tuple[Branch, ...]]) -> dict[str, tuple[Branch, ...]]:
    """Each table's branches: its seeds plus, per foreign key into a selected table, that table's branches.

    A parent's own `dag_id` seed is left out of a key that maps the child's `dag_id` onto it: the
    child's seed already selects those rows, and the shorter predicate keeps the plan on indexes.
    """

    def branches(table: str, path: frozenset[str]) -> tuple[Branch, ...]:
        out = list(seeds.get(table, ()))
        own_seed_cols = {b.column for b in out if b.kind == "seed"}
        for fk in schema.tables[table].foreign_keys:
            ref = fk.referred_table
            if ref == table or ref in path or ref not in schema.tables:
                continue
            parent = branches(ref, path | {table})
            mapped = {
                rc for c, rc in zip(fk.columns, fk.referred_columns, strict=False) if c in own_seed_cols and c == rc
            }
            parent = tuple(b for b in parent if not (b.kind == "seed" and b.column in mapped))
            if parent:
                out.append(Branch("fk", fk=fk, parent=parent))
        return tuple(out)

    result = {}
    for name in schema.tables:
        found = branches(name, frozenset())
        if found:
            result[name] = found
    return result


def delete_order(schema: Schema, tables: Sequence[str]) -> tuple[str, ...]:
    """Children before parents along the foreign keys among `tables` (ties by name; a cycle is broken by name)."""
    chosen = set(tables)
    parents: dict[str, set[str]] = {t: set() for t in chosen}
    children: dict[str, set[str]] = {t: set() for t in chosen}
    for t in chosen:
        for fk in schema.tables[t].foreign_keys:
            if fk.referred_table in chosen and fk.referred_table != t:
                parents[t].add(fk.referred_table)
                children[fk.referred_table].add(t)
    order: list[str] = []
    pending = {t: len(children[t]) for t in chosen}
    while pending:
        ready = sorted(t for t, n in pending.items() if n == 0) or [sorted(pending)[0]]
        for t in ready:
            del pending[t]
            order.append(t)
            for p in parents[t]:
                if p in pending:
                    pending[p] -= 1
    return tuple(order)


def _files(conn: Connection, schema: Schema, dag_ids: Sequence[str], like: dict[str, Any]) -> dict[str, Any]:
    """The DAG files of the selected DAGs that no other DAG uses (for dag_code / import_error keyed by file)."""
    from sqlalchemy import bindparam, text

    dag = schema.tables.get("dag")
    params: dict[str, Any] = {"filelocs": [], "_pairs": 0, "_dag_files": []}
    if dag is None or not dag.has("fileloc"):
        return params
    extra = [c for c in ("relative_fileloc", "bundle_name") if dag.has(c)]
    cols = ", ".join(quote(conn, c) for c in ("dag_id", "fileloc", *extra))
    seed = _seed_sql(conn, quote(conn, "dag"), "dag_id", tuple(k for k in like if "_" not in k))
    stmt = text(f"SELECT {cols} FROM {quote(conn, 'dag')} WHERE {seed}").bindparams(bindparam("ids", expanding=True))
    rows = conn.execute(stmt, {"ids": list(dag_ids), **like}).all()
    others = text(
        f"SELECT DISTINCT {quote(conn, 'fileloc')} FROM {quote(conn, 'dag')} WHERE NOT {seed} "
        f"AND {_exact(conn, quote(conn, 'fileloc'), 'IN', ':files')}"
    ).bindparams(bindparam("ids", expanding=True), bindparam("files", expanding=True))
    files = sorted({r[1] for r in rows if r[1]})
    shared = set()
    if files:
        shared = {r[0] for r in conn.execute(others, {"ids": list(dag_ids), "files": files, **like})}
    own = [f for f in files if f not in shared]
    params["filelocs"] = own
    params["_dag_files"] = [(r[1], r[2] if len(r) > 2 else None) for r in rows if r[1]]
    pairs = []
    if "bundle_name" in extra and "relative_fileloc" in extra:
        for r in rows:
            if r[1] in own:
                pairs += [(r[2], r[3]), (r[1], r[3])]
    for i, (f, b) in enumerate(sorted({p for p in pairs if p[0] is not None})):
        params[f"fp{i}"] = f
        params[f"fb{i}"] = b
        params["_pairs"] = i + 1
    return params


def select_rows(
    conn: Connection, dag_ids: Sequence[str], *, keep_logs: bool = False, include_subdags: bool = False
) -> Selection:
    if not dag_ids:
        raise UsageError("no DAG id given", hint="bd airflow delete-dag DAG_ID")
    schema = reflect_schema(conn)
    if "dag" not in schema.tables and "dag_run" not in schema.tables:
        raise UsageError("this database holds no Airflow schema (no dag or dag_run table)", hint="check --conn")
    like: dict[str, Any] = {}
    if include_subdags:
        for i, d in enumerate(dag_ids):
            like[f"sub{i}"] = escape_like(d) + ".%"
            like[f"sub{i}_n"] = len(d) + 1
            like[f"sub{i}_prefix"] = d + "."
    params = _files(conn, schema, dag_ids, like)
    seeds = _seeds(
        schema, keep_logs=keep_logs, has_files=bool(params["filelocs"]), has_pairs=bool(params.get("_pairs"))
    )
    branches = build_branches(schema, seeds)
    params.update(like)
    sel = Selection(
        schema=schema,
        branches=branches,
        order=delete_order(schema, list(branches)),
        params=params,
        like_params=tuple(k for k in like if "_" not in k),
        dag_ids=tuple(dag_ids),
    )
    return prune_branches(conn, sel)


def _seed_column(branches: Sequence[Branch]) -> str | None:
    return next((b.column for b in branches if b.kind == "seed"), None)


def prune_branches(conn: Connection, sel: Selection) -> Selection:
    """Drop the foreign-key branches that select nothing beyond the table's own dag_id seed.

    Airflow's keys nearly always stay inside one DAG (an xcom's task instance has the xcom's dag_id),
    but the schema cannot promise it, so each branch is kept unless the data proves it empty, in the
    same transaction as the delete:

    * a key mapping the child's dag_id onto the parent's can only reach rows of other DAGs through
      parent rows of other DAGs; if the parent selects none ("no foreign rows"), the branch goes;
    * any other key into a seeded child is checked with one `LIMIT 1` query for a row the seed
      misses; a child without a seed (task_reschedule in 3.x) keeps its branches.

    Without this every child of task_instance would re-join the DAG's million task instances.
    """
    effective: dict[str, tuple[Branch, ...]] = {}
    foreign: dict[str, bool] = {}
    for table in reversed(sel.order):  # parents first
        structural = sel.branches[table]
        own = tuple(b for b in structural if b.kind != "fk")
        seed_col = _seed_column(own)
        kept: list[Branch] = []
        for branch in structural:
            if branch.kind != "fk" or branch.fk is None:
                continue
            fk = branch.fk
            parent_eff = effective.get(fk.referred_table, branch.parent)
            parent_seed = _seed_column(parent_eff)
            mapped = (
                seed_col is not None
                and parent_seed is not None
                and (seed_col, parent_seed) in set(zip(fk.columns, fk.referred_columns, strict=False))
            )
            parent = tuple(b for b in parent_eff if not (mapped and b.kind == "seed"))
            if not parent:
                continue
            candidate = Branch("fk", fk=fk, parent=parent)
            if seed_col is None:
                kept.append(candidate)
            elif mapped and not foreign.get(fk.referred_table, True):
                continue
            elif _selects_beyond_seed(conn, sel, table, seed_col, candidate):
                kept.append(candidate)
        effective[table] = own + tuple(kept)
        foreign[table] = seed_col is None or bool(kept)
    branches = {t: b for t, b in effective.items() if b}
    return Selection(
        schema=sel.schema,
        branches=branches,
        order=tuple(t for t in sel.order if t in branches),
        params=sel.params,
        like_params=sel.like_params,
        dag_ids=sel.dag_ids,
    )


def _selects_beyond_seed(conn: Connection, sel: Selection, table: str, seed_col: str, branch: Branch) -> bool:
    qt = quote(conn, table)
    seed = _seed_sql(conn, qt, seed_col, sel.like_params)
    where = render_branch(conn, sel, table, qt, branch)
    # NULL dag_ids count as "not the seed": NOT (NULL IN ...) would hide them.
    sql = f"SELECT 1 FROM {qt} WHERE NOT ({qt}.{quote(conn, seed_col)} IS NOT NULL AND {seed}) AND {where} LIMIT 1"
    return conn.execute(_bind(sel, sql), _values(sel, sql)).first() is not None


def _bind(sel: Selection, sql: str) -> Any:
    from sqlalchemy import bindparam, text

    stmt = text(sql)
    expanding: list[Any] = [bindparam(n, expanding=True) for n in ("ids", "filelocs") if f":{n}" in sql]
    return stmt.bindparams(*expanding) if expanding else stmt


def _bind_values(sel: Selection) -> dict[str, Any]:
    """Every bind the selection's SQL can use (keys starting with `_` are bookkeeping, not binds)."""
    return {"ids": list(sel.dag_ids), **{k: v for k, v in sel.params.items() if not k.startswith("_")}}


def _values(sel: Selection, sql: str) -> dict[str, Any]:
    return {k: v for k, v in _bind_values(sel).items() if k == "ids" or re.search(rf":{re.escape(k)}\b", sql)}


def statements(conn: Connection, sel: Selection, table: str) -> Iterator[tuple[str, str]]:
    """(select sql, delete sql) per branch of `table`."""
    qt = quote(conn, table)
    cols = _archive_columns(conn, sel, table)
    for branch in sel.branches[table]:
        where = render_branch(conn, sel, table, qt, branch)
        yield f"SELECT {cols} FROM {qt} WHERE {where}", f"DELETE FROM {qt} WHERE {where}"


# COPY takes no bind parameters, so the PostgreSQL fast path puts them in a transaction-local setting
# (set with a bound parameter) and the statements read them from there: a DAG id never becomes SQL text.
PARAMS_SETTING = "bd.params"
_SETTING_JSON = f"CAST(current_setting('{PARAMS_SETTING}') AS json)"
_LIST_BIND = re.compile(r"\bIN :(ids|filelocs)\b")
_SCALAR_BIND = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)\b")


def _from_setting(sql: str, names: set[str]) -> str:
    """`sql` with each `:name` bind replaced by a read of the bd.params setting."""

    def as_list(m: re.Match[str]) -> str:
        return f"= ANY (ARRAY(SELECT json_array_elements_text({_SETTING_JSON} -> '{m.group(1)}')))"

    def as_scalar(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in names:
            raise ValueError(f"bind :{name} has no value")
        value = f"({_SETTING_JSON} ->> '{name}')"
        return f"CAST({value} AS INTEGER)" if name.endswith("_n") else value

    return _SCALAR_BIND.sub(as_scalar, _LIST_BIND.sub(as_list, sql))


def _pg_copy(conn: Connection, sel: Selection) -> bool:
    """Whether the archive can come from `COPY (DELETE ... RETURNING ...)`: one pass over the rows, not two."""
    if sel.schema.dialect != "postgresql":
        return False
    encoding = getattr(conn.connection.dbapi_connection, "encoding", "")
    return conn.dialect.driver == "psycopg2" and str(encoding).upper() in ("UTF8", "UTF-8")


def copy_statements(conn: Connection, sel: Selection, table: str) -> Iterator[str]:
    """`COPY (DELETE ... RETURNING <row as JSON>) TO STDOUT` per branch of `table` (PostgreSQL)."""
    qt = quote(conn, table)
    names = set(_bind_values(sel))
    for branch in sel.branches[table]:
        where = _from_setting(render_branch(conn, sel, table, qt, branch), names)
        yield f"COPY (DELETE FROM {qt} WHERE {where} RETURNING {_archive_columns(conn, sel, table)}) TO STDOUT"


def _archive_columns(conn: Connection, sel: Selection, table: str) -> str:
    cols = ", ".join(_select_expr(conn, sel.schema.dialect, c, t) for c, t in _typed(sel, table))
    return f"CAST(json_build_array({cols}) AS TEXT)" if _server_json(sel, table) else cols


def _server_json(sel: Selection, table: str) -> bool:
    """PostgreSQL encodes each archived row as a JSON array itself (C speed; functions take <= 100 args)."""
    return sel.schema.dialect == "postgresql" and len(sel.schema.tables[table].columns) <= 100


# PostgreSQL values archived as the server's own text, so they go back exactly: JSON documents keep
# their text, numerics their digits; timestamps, UUIDs, bytea (hex) become JSON strings either way.
_PG_AS_TEXT = ("JSON", "NUMERIC", "DECIMAL", "MONEY")


def _typed(sel: Selection, table: str) -> list[tuple[str, str]]:
    info = sel.schema.tables[table]
    return list(zip(info.columns, info.types, strict=True))


def _select_expr(conn: Connection, dialect: str, column: str, type_: str) -> str:
    q = quote(conn, column)
    if dialect == "postgresql" and type_.upper().startswith(_PG_AS_TEXT):
        return f"CAST({q} AS TEXT)"
    return q


def count_rows(conn: Connection, sel: Selection) -> dict[str, int]:
    counts: dict[str, int] = {}
    for table in sel.order:
        qt = quote(conn, table)
        where = " OR ".join(render_branch(conn, sel, table, qt, b) for b in sel.branches[table])
        sql = f"SELECT COUNT(*) FROM {qt} WHERE {where}"
        n = int(conn.execute(_bind(sel, sql), _values(sel, sql)).scalar_one())
        if n:
            counts[table] = n
    return counts


# ---------------------------------------------------------------- safety checks


def _missing_ids(conn: Connection, sel: Selection) -> list[str]:
    from sqlalchemy import text

    missing = []
    tables = ["dag", *sorted(t for t in sel.branches if t != "dag")]
    for dag_id in sel.dag_ids:
        for table in tables:
            info = sel.schema.tables.get(table)
            if info is None:
                continue
            col = next((c for c in SEED_COLUMNS if info.has(c)), None)
            if col is None:
                continue
            sql = f"SELECT 1 FROM {quote(conn, table)} WHERE {_exact(conn, quote(conn, col), '=', ':d')} LIMIT 1"
            if conn.execute(text(sql), {"d": dag_id}).first() is not None:
                break
        else:
            missing.append(dag_id)
    return missing


def _active_tis(conn: Connection, sel: Selection) -> int:
    from sqlalchemy import bindparam, text

    ti = sel.schema.tables.get("task_instance")
    if ti is None or not ti.has("state") or not ti.has("dag_id"):
        return 0
    seed = _seed_sql(conn, quote(conn, "task_instance"), "dag_id", sel.like_params)
    sql = f"SELECT COUNT(*) FROM {quote(conn, 'task_instance')} WHERE {seed} AND {quote(conn, 'state')} IN :states"
    stmt = text(sql).bindparams(bindparam("ids", expanding=True), bindparam("states", expanding=True))
    values = {
        "ids": list(sel.dag_ids),
        "states": list(ACTIVE_TI_STATES),
        **{k: v for k, v in sel.params.items() if k.startswith("sub")},
    }
    return int(conn.execute(stmt, values).scalar_one())


def _present_files(sel: Selection, dags_folder: Path | None) -> list[str]:
    present = []
    for fileloc, relative in sel.params.get("_dag_files", []):
        candidates = [Path(fileloc)]
        if dags_folder is not None:
            if relative:
                candidates.append(dags_folder / relative)
            if not Path(fileloc).is_absolute():
                candidates.append(dags_folder / fileloc)
        if any(c.is_file() for c in candidates):
            present.append(str(next(c for c in candidates if c.is_file())))
    return sorted(set(present))


def _check(conn: Connection, sel: Selection, *, force: bool, dags_folder: Path | None) -> list[str]:
    """Raise NotFoundError / RefusedError, or return the warnings `force` turned the refusals into."""
    missing = _missing_ids(conn, sel)
    if missing:
        shown = ", ".join(repr(m) for m in missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise NotFoundError(f"no DAG {shown} in the metadata database")
    problems = []
    active = _active_tis(conn, sel)
    if active:
        problems.append(f"{active} task instance(s) are running or queued")
    present = _present_files(sel, dags_folder)
    if present:
        problems.append(f"the DAG file still exists ({', '.join(present[:3])}): the scheduler would bring it back")
    if problems and not force:
        raise RefusedError(
            "refusing to delete: " + "; ".join(problems),
            hint="stop the runs / remove the file first, or pass --force to delete anyway",
        )
    return problems


# ---------------------------------------------------------------- plan and apply


def default_archive_path(
    dag_ids: Sequence[str], *, now: dt.datetime | None = None, directory: Path | None = None
) -> Path:
    stamp = (now or dt.datetime.now(dt.timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", dag_ids[0])[:80].strip(".") or "dag"
    more = f"-and-{len(dag_ids) - 1}-more" if len(dag_ids) > 1 else ""
    return (directory or Path.cwd()) / f"bd-archive-{safe}{more}-{stamp}.jsonl.gz"


def plan_dag_delete(
    url: str,
    dag_ids: Sequence[str],
    *,
    keep_logs: bool = False,
    include_subdags: bool = False,
    dags_folder: Path | None = None,
) -> DeleteResult:
    """Rows per table that `delete_dag` would remove; changes nothing (the `--dry-run`).

    A missing DAG raises NotFoundError; what `delete_dag` would refuse comes back in `warnings`.
    """
    with connection(url) as conn:
        sel = select_rows(conn, dag_ids, keep_logs=keep_logs, include_subdags=include_subdags)
        warnings = _check(conn, sel, force=True, dags_folder=dags_folder)
        counts = count_rows(conn, sel)
    return DeleteResult(tuple(dag_ids), True, counts, sum(counts.values()), None, tuple(warnings))


def delete_dag(
    url: str,
    dag_ids: Sequence[str],
    *,
    archive: Path | None,
    keep_logs: bool = False,
    include_subdags: bool = False,
    force: bool = False,
    dags_folder: Path | None = None,
    progress: Progress = no_progress,
) -> DeleteResult:
    """Archive (unless `archive` is None) and delete every row of the DAGs, in one transaction."""
    pause = float(os.environ.get(PAUSE_ENV) or 0)
    deleted: dict[str, int] = {}
    writer: ArchiveWriter | None = None
    with connection(url, write=True) as conn:
        sel = select_rows(conn, dag_ids, keep_logs=keep_logs, include_subdags=include_subdags)
        warnings = _check(conn, sel, force=force, dags_folder=dags_folder)
        for w in warnings:
            progress(f"warning: --force: {w}")
        copy = archive is not None and _pg_copy(conn, sel)
        if copy:
            conn.execute(
                _bind(sel, "SELECT set_config(:name, :value, true)"),
                {"name": PARAMS_SETTING, "value": json.dumps(_bind_values(sel))},
            )
        if archive is not None:
            writer = ArchiveWriter(archive, _header(sel))
        try:
            for table in sel.order:
                started = time.monotonic()
                if writer is not None and copy and _server_json(sel, table):
                    n = archived = _copy_delete(conn, sel, table, writer, pause)
                else:
                    n, archived = _select_delete(conn, sel, table, writer, pause)
                if writer is not None and archived != n:
                    raise BdError(
                        f"{table}: archived {archived} rows but the delete removed {n}; rolled back",
                        hint="something changed the rows meanwhile; run it again",
                    )
                if n:
                    deleted[table] = n
                    log.debug("%s: %d rows", table, n)
                    if n >= PROGRESS_ROWS or time.monotonic() - started >= PROGRESS_SECONDS:
                        progress(f"{table}: {n} rows deleted")
            path = writer.commit() if writer is not None else None
        except BaseException:
            if writer is not None:
                writer.abort()
            raise
    return DeleteResult(
        tuple(dag_ids), False, deleted, sum(deleted.values()), str(path) if path else None, tuple(warnings)
    )


def _select_delete(
    conn: Connection, sel: Selection, table: str, writer: ArchiveWriter | None, pause: float
) -> tuple[int, int]:
    """Archive each branch's rows with a streamed SELECT, then DELETE them: (rows deleted, rows archived)."""
    n = archived = 0
    columns = sel.schema.tables[table].columns
    for select_sql, delete_sql in statements(conn, sel, table):
        if writer is not None:
            rows = _stream(conn, _bind(sel, select_sql), _values(sel, select_sql))
            if _server_json(sel, table):
                archived += writer.write_json_rows(table, columns, (r[0] for r in rows))
            else:
                archived += writer.write_rows(table, columns, rows)
        result = conn.execute(_bind(sel, delete_sql), _values(sel, delete_sql))
        n += max(result.rowcount, 0)
        if pause:
            time.sleep(pause)
    return n, archived


def _copy_delete(conn: Connection, sel: Selection, table: str, writer: ArchiveWriter, pause: float) -> int:
    """PostgreSQL: each branch deleted by one `COPY (DELETE ... RETURNING ...)` whose rows are the archive."""
    n = 0
    columns = sel.schema.tables[table].columns
    for sql in copy_statements(conn, sel, table):
        n += writer.write_copy_rows(table, columns, functools.partial(_copy_out, conn, sql))
        if pause:
            time.sleep(pause)
    return n


def _copy_out(conn: Connection, sql: str, sink: CopySink) -> None:
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.copy_expert(sql, sink)
    finally:
        cursor.close()


def _stream(conn: Connection, stmt: Any, values: dict[str, Any]) -> Iterator[Sequence[Any]]:
    # Per-statement options: Connection.execution_options() would change the connection for the DELETEs too.
    result = conn.execute(stmt, values, execution_options={"stream_results": True, "yield_per": STREAM_ROWS})
    try:
        # fetchmany, not partitions(): SQLAlchemy 2.1's partitions() kept every row alive (measured).
        while True:
            batch = result.fetchmany(STREAM_ROWS)
            if not batch:
                break
            yield from batch
    finally:
        result.close()


def _header(sel: Selection) -> dict[str, Any]:
    return {
        "dag_ids": list(sel.dag_ids),
        "created": dt.datetime.now(dt.timezone.utc).isoformat(),
        "dialect": sel.schema.dialect,
        "alembic_revision": sel.schema.revision,
        "order": list(sel.order),
        "tables": {
            t: {
                "columns": list(sel.schema.tables[t].columns),
                "types": list(sel.schema.tables[t].types),
                "primary_key": list(sel.schema.tables[t].primary_key),
            }
            for t in sel.order
        },
    }
