"""The SQL that archives and deletes a selection: SELECT + DELETE per branch, or PostgreSQL's one-pass
`COPY (DELETE ... RETURNING <row as JSON>) TO STDOUT`."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from braindump_cli.airflow._db import quote
from braindump_cli.airflow.delete.selection import Selection, bind_values, render_branch

if TYPE_CHECKING:
    from braindump_cli.airflow._db import Connection


def statements(conn: Connection, sel: Selection, table: str) -> Iterator[tuple[str, str]]:
    """(select sql, delete sql) per branch of `table`."""
    qt = quote(conn, table)
    cols = archive_columns(conn, sel, table)
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
        values = f"json_array_elements_text({_SETTING_JSON} -> '{m.group(1)}')"
        return f"= ANY (ARRAY(SELECT {values}))"

    def as_scalar(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in names:
            raise ValueError(f"bind :{name} has no value")
        value = f"({_SETTING_JSON} ->> '{name}')"
        return f"CAST({value} AS INTEGER)" if name.endswith("_n") else value

    return _SCALAR_BIND.sub(as_scalar, _LIST_BIND.sub(as_list, sql))


def pg_copy(conn: Connection, sel: Selection) -> bool:
    """Whether the archive can come from `COPY (DELETE ... RETURNING ...)`: one pass over the rows, not two."""
    if sel.schema.dialect != "postgresql":
        return False
    encoding = getattr(conn.connection.dbapi_connection, "encoding", "")
    return conn.dialect.driver == "psycopg2" and str(encoding).upper() in ("UTF8", "UTF-8")


def copy_statements(conn: Connection, sel: Selection, table: str) -> Iterator[str]:
    """`COPY (DELETE ... RETURNING <columns>) TO STDOUT` per branch of `table` (PostgreSQL): the rows in
    COPY's own text format, the cheapest thing the server can send (no JSON encoding)."""
    qt = quote(conn, table)
    names = set(bind_values(sel))
    columns = ", ".join(quote(conn, c) for c in sel.schema.tables[table].columns)
    for branch in sel.branches[table]:
        where = _from_setting(render_branch(conn, sel, table, qt, branch), names)
        yield f"COPY (DELETE FROM {qt} WHERE {where} RETURNING {columns}) TO STDOUT"


def archive_columns(conn: Connection, sel: Selection, table: str) -> str:
    cols = ", ".join(_select_expr(conn, sel.schema.dialect, c, t) for c, t in _typed(sel, table))
    return f"CAST(json_build_array({cols}) AS TEXT)" if server_json(sel, table) else cols


def server_json(sel: Selection, table: str) -> bool:
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


def archive_header(sel: Selection, **extra: Any) -> dict[str, Any]:
    """The archive's header for `sel`: what restore needs (tables, columns, types, keys, order)."""
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
        **extra,
    }
