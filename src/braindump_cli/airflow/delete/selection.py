"""Which rows a delete of DAGs selects, from the live schema: seeds, foreign-key branches, delete order.


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

A DAG id is always a bound parameter; only reflected identifiers, quoted by the dialect, and a prune's
integer run ids (each through int()) reach SQL text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from braindump_cli.airflow._db import ForeignKey, Schema, quote, reflect_schema, sql
from braindump_cli.errors import UsageError

if TYPE_CHECKING:
    from braindump_cli.airflow._db import Connection

SEED_COLUMNS = ("dag_id", "target_dag_id")
LIKE_ESCAPE = "!"


@dataclass(frozen=True)
class Branch:
    """One reason a row of a table is selected: a seed predicate, or a foreign key into a selected table."""

    kind: str  # "seed" | "files" | "filepairs" | "fk"; a prune's "runs" | "runkey"
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


def exact(conn: Connection, col: str, op: str, rhs: str) -> str:
    """`col op rhs` comparing exactly: on MySQL/MariaDB many Airflow id and file columns use the database's
    default collation (utf8mb4_unicode_ci: "It's" = "it's", "dág" = "dag"), so the match is repeated
    on the value converted to utf8mb4_bin; the plain comparison stays first so an index still narrows it."""
    if conn.dialect.name not in ("mysql", "mariadb"):
        return f"{col} {op} {rhs}"
    return f"({col} {op} {rhs} AND CONVERT({col} USING utf8mb4) COLLATE utf8mb4_bin {op} {rhs})"


def seed_sql(conn: Connection, alias: str, column: str, sel_like: Sequence[str]) -> str:
    col = f"{alias}.{quote(conn, column)}"
    parts = [exact(conn, col, "IN", ":ids")]
    # LIKE finds `<id>.<child>` (escaped, so `_` and `%` in the id are literal); the SUBSTR check makes
    # it case-sensitive on SQLite and MySQL, whose LIKE ignores case (on MySQL through exact's binary
    # collation: a plain `=` there ignores case too).
    for p in sel_like:
        prefix = exact(conn, f"SUBSTR({col}, 1, :{p}_n)", "=", f":{p}_prefix")
        parts.append(f"({col} LIKE :{p} ESCAPE '{LIKE_ESCAPE}' AND {prefix})")
    return "(" + " OR ".join(parts) + ")" if len(parts) > 1 else parts[0]


def _column(branch: Branch) -> str:
    if branch.column is None:
        raise ValueError(f"branch {branch.kind} without a column")
    return branch.column


def render_branch(conn: Connection, sel: Selection, table: str, alias: str, branch: Branch, depth: int = 0) -> str:
    if branch.kind == "seed":
        return seed_sql(conn, alias, _column(branch), sel.like_params)
    if branch.kind == "files":
        return exact(conn, f"{alias}.{quote(conn, _column(branch))}", "IN", ":filelocs")
    if branch.kind in ("runs", "runkey"):
        return _run_sql(conn, alias, branch, depth, sel.params["_run_ids"])
    if branch.kind == "filepairs":
        pairs = sel.params.get("_pairs", 0)
        filename, bundle = (f"{alias}.{quote(conn, c)}" for c in ("filename", "bundle_name"))
        ors = [
            f"({exact(conn, filename, '=', f':fp{i}')} AND {exact(conn, bundle, '=', f':fb{i}')})" for i in range(pairs)
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


def run_id_list(run_ids: Sequence[Any]) -> str:
    """`(1, 2, 3)`: dag_run ids (an integer in every Airflow version) as SQL literals, each through int(),
    so nothing but digits reaches the SQL. Bound one by one they would hit SQLite's cap on variables
    per statement (999 before 3.32, 32,766 since) in a prune of many runs."""
    return "(" + ", ".join(str(int(i)) for i in run_ids) + ")" if run_ids else "(NULL)"


def _run_sql(conn: Connection, alias: str, branch: Branch, depth: int, run_ids: Sequence[Any]) -> str:
    """A prune's runs: by dag_run id, or for a table that names its run by (dag_id, `column`) where
    `column` is run_id (or 1.10's execution_date)."""
    ids = run_id_list(run_ids)
    if branch.kind == "runs":
        return f"{alias}.{quote(conn, 'id')} IN {ids}"
    r = f"r{depth}"
    keys = " AND ".join(f"{r}.{quote(conn, c)} = {alias}.{quote(conn, c)}" for c in ("dag_id", _column(branch)))
    return f"EXISTS (SELECT 1 FROM {quote(conn, 'dag_run')} {r} WHERE {keys} AND {r}.{quote(conn, 'id')} IN {ids})"


def seeds_of(schema: Schema, *, keep_logs: bool, has_files: bool, has_pairs: bool) -> dict[str, tuple[Branch, ...]]:
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


def delete_order(
    schema: Schema, tables: Sequence[str], *, found_through: Mapping[str, str] | None = None
) -> tuple[str, ...]:
    """Children before parents along the foreign keys among `tables` (ties by name; a cycle is broken by name).

    `found_through`: table -> the table its rows are selected through without a foreign key (prune finds
    `log` rows through `dag_run`); it is deleted before that table, as a child would be.
    """
    chosen = set(tables)
    parents: dict[str, set[str]] = {t: set() for t in chosen}
    children: dict[str, set[str]] = {t: set() for t in chosen}
    edges = [(t, fk.referred_table) for t in chosen for fk in schema.tables[t].foreign_keys]
    edges += list((found_through or {}).items())
    for t, parent in edges:
        if t in chosen and parent in chosen and parent != t:
            parents[t].add(parent)
            children[parent].add(t)
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
    dag = schema.tables.get("dag")
    params: dict[str, Any] = {"filelocs": [], "_pairs": 0, "_dag_files": []}
    if dag is None or not dag.has("fileloc"):
        return params
    extra = [c for c in ("relative_fileloc", "bundle_name") if dag.has(c)]
    cols = ", ".join(quote(conn, c) for c in ("dag_id", "fileloc", *extra))
    seed = seed_sql(conn, quote(conn, "dag"), "dag_id", tuple(k for k in like if "_" not in k))
    stmt = sql(f"SELECT {cols} FROM {quote(conn, 'dag')} WHERE {seed}", lists=["ids"])
    rows = conn.execute(stmt, {"ids": list(dag_ids), **like}).all()
    others = sql(
        f"SELECT DISTINCT {quote(conn, 'fileloc')} FROM {quote(conn, 'dag')} WHERE NOT {seed} "
        f"AND {exact(conn, quote(conn, 'fileloc'), 'IN', ':files')}",
        lists=["ids", "files"],
    )
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
    conn: Connection,
    dag_ids: Sequence[str],
    *,
    keep_logs: bool = False,
    include_subdags: bool = False,
    files: dict[str, Any] | None = None,
) -> Selection:
    """The rows to delete. `files`: the DAG files found when the run started (`Selection.params`), for a
    resumed batched delete, whose `dag` rows may be gone already."""
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
    params = dict(files) if files is not None else _files(conn, schema, dag_ids, like)
    seeds = seeds_of(
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
    seed = seed_sql(conn, qt, seed_col, sel.like_params)
    where = render_branch(conn, sel, table, qt, branch)
    # NULL dag_ids count as "not the seed": NOT (NULL IN ...) would hide them.
    stmt = f"SELECT 1 FROM {qt} WHERE NOT ({qt}.{quote(conn, seed_col)} IS NOT NULL AND {seed}) AND {where} LIMIT 1"
    return conn.execute(bind(stmt), values_for(sel, stmt)).first() is not None


def bind(statement: str) -> Any:
    """`statement` ready to execute with the selection's values (`ids` and `filelocs` are lists)."""
    return sql(statement, lists=[n for n in ("ids", "filelocs") if f":{n}" in statement])


def bind_values(sel: Selection) -> dict[str, Any]:
    """Every bind the selection's SQL can use (keys starting with `_` are bookkeeping, not binds)."""
    return {"ids": list(sel.dag_ids), **{k: v for k, v in sel.params.items() if not k.startswith("_")}}


def values_for(sel: Selection, statement: str) -> dict[str, Any]:
    """The binds `statement` uses."""
    return {k: v for k, v in bind_values(sel).items() if k == "ids" or re.search(rf":{re.escape(k)}\b", statement)}


def count_rows(conn: Connection, sel: Selection) -> dict[str, int]:
    counts: dict[str, int] = {}
    for table in sel.order:
        qt = quote(conn, table)
        where = " OR ".join(render_branch(conn, sel, table, qt, b) for b in sel.branches[table])
        stmt = f"SELECT COUNT(*) FROM {qt} WHERE {where}"
        n = int(conn.execute(bind(stmt), values_for(sel, stmt)).scalar_one())
        if n:
            counts[table] = n
    return counts
