"""`delete_dag` with `--batch-size N`: delete-dag's verb for the batch loop (batched.py).

Its selection is the one-transaction delete's (refusals included); its DAGs are paused first, in their
own commit, so the scheduler adds no runs meanwhile; the archive keeps `dag.is_paused` as it was
before bd paused it, so the archive equals the one-transaction delete's and a restore brings the DAG
back as it was.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from braindump_cli.airflow._db import NO_GUARDS, Guards, quote, set_guards
from braindump_cli.airflow.archive import encode_row, encode_value
from braindump_cli.airflow.delete.batched import resume_batched, run_batched
from braindump_cli.airflow.delete.checks import check_selection
from braindump_cli.airflow.delete.journal import BatchJournal
from braindump_cli.airflow.delete.result import DeleteResult
from braindump_cli.airflow.delete.selection import Selection, bind, seed_sql, select_rows, values_for
from braindump_cli.airflow.delete.statements import archive_header
from braindump_cli.errors import UsageError
from braindump_cli.progress import Progress, no_progress

if TYPE_CHECKING:
    from braindump_cli.airflow._db import Connection, Target


class DagDelete:
    """The batch verb of delete-dag: fresh (options given) or resumed (options from the archive header)."""

    command = "delete-dag"

    def __init__(
        self,
        dag_ids: Sequence[str],
        options: dict[str, Any],
        *,
        force: bool = False,
        dags_folder: Path | None = None,
        progress: Progress = no_progress,
    ) -> None:
        self.dag_ids = list(dag_ids)
        self.options = options  # batch_size, keep_logs, include_subdags; on resume also files and paused
        self.force = force
        self.dags_folder = dags_folder
        self.progress = progress
        self.warnings: list[str] = []

    @classmethod
    def from_header(cls, header: dict[str, Any]) -> DagDelete:
        if "prune" in header:
            raise UsageError("that archive is a prune's", hint="finish it with: bd airflow prune --resume ARCHIVE")
        return cls(header["dag_ids"], header["batched"])

    def select(self, conn: Connection) -> Selection:
        resumed = "files" in self.options
        sel = select_rows(
            conn,
            self.dag_ids,
            keep_logs=bool(self.options["keep_logs"]),
            include_subdags=bool(self.options["include_subdags"]),
            files=self.options["files"] if resumed else None,
        )
        if not resumed:
            self.warnings = check_selection(conn, sel, force=self.force, dags_folder=self.dags_folder)
            for w in self.warnings:
                self.progress(f"warning: --force: {w}")
            self.options["paused"] = _paused_before(conn, sel)
        return sel

    def header(self, sel: Selection) -> dict[str, Any]:
        files = {k: v for k, v in sel.params.items() if not k.startswith("sub")}
        return archive_header(sel, batched={**self.options, "files": files})

    def prepare(self, conn: Connection, sel: Selection, guards: Guards) -> None:
        _pause(conn, sel, guards)

    def rows(self, table: str, columns: Sequence[str], lines: list[str]) -> list[str]:
        paused = self.options.get("paused")
        return _unpaused(lines, columns, paused) if table == "dag" and paused else lines


def delete_dag_batched(
    target: Target,
    dag_ids: Sequence[str],
    *,
    archive: Path,
    batch_size: int,
    keep_logs: bool = False,
    include_subdags: bool = False,
    force: bool = False,
    dags_folder: Path | None = None,
    guards: Guards = NO_GUARDS,
    progress: Progress = no_progress,
) -> DeleteResult:
    """Archive and delete every row of the DAGs in batches of at most `batch_size` rows per transaction."""
    if batch_size < 1:
        raise UsageError("--batch-size must be at least 1")
    options = {"batch_size": batch_size, "keep_logs": keep_logs, "include_subdags": include_subdags}
    verb = DagDelete(dag_ids, options, force=force, dags_folder=dags_folder, progress=progress)
    journal = run_batched(target, verb, archive=archive, batch_size=batch_size, guards=guards, progress=progress)
    return _result(dag_ids, journal, verb.warnings, batch_size)


def resume_delete(
    target: Target,
    archive: Path,
    *,
    batch_size: int | None = None,
    guards: Guards = NO_GUARDS,
    progress: Progress = no_progress,
) -> DeleteResult:
    """Finish the batched delete that wrote `archive` and was interrupted; ends as if it had not been."""
    journal, size = resume_batched(
        target, archive, DagDelete.from_header, batch_size=batch_size, guards=guards, progress=progress
    )
    return _result(journal.header["dag_ids"], journal, [], size)


def _result(dag_ids: Sequence[str], journal: BatchJournal, warnings: Sequence[str], size: int) -> DeleteResult:
    counts = journal.counts()
    path = str(journal.path)
    return DeleteResult(tuple(dag_ids), False, counts, sum(counts.values()), path, tuple(warnings), size)


def _paused_before(conn: Connection, sel: Selection) -> list[list[Any]]:
    """[dag_id, is_paused] of the DAGs before bd pauses them: the archive keeps the value they had."""
    dag = sel.schema.tables.get("dag")
    if dag is None or not dag.has("is_paused"):
        return []
    qd = quote(conn, "dag")
    where = seed_sql(conn, qd, "dag_id", sel.like_params)
    stmt = f"SELECT {quote(conn, 'dag_id')}, {quote(conn, 'is_paused')} FROM {qd} WHERE {where}"
    return [[r[0], r[1]] for r in conn.execute(bind(stmt), values_for(sel, stmt))]


def _unpaused(lines: list[str], columns: Sequence[str], paused: list[list[Any]]) -> list[str]:
    """`dag` rows as they were before bd paused them (is_paused put back)."""
    before = {dag_id: value for dag_id, value in paused}
    id_at, paused_at = columns.index("dag_id"), columns.index("is_paused")
    out = []
    for line in lines:
        row = json.loads(line)
        if row[id_at] in before:
            row[paused_at] = encode_value(before[row[id_at]])
        out.append(encode_row(row))
    return out


def _pause(conn: Connection, sel: Selection, guards: Guards) -> None:
    """Pause the DAGs in their own commit, so the scheduler creates no runs while the batches go."""
    dag = sel.schema.tables.get("dag")
    if dag is None or not dag.has("is_paused"):
        return
    qd = quote(conn, "dag")
    where = seed_sql(conn, qd, "dag_id", sel.like_params)
    stmt = f"UPDATE {qd} SET {quote(conn, 'is_paused')} = :paused WHERE {where}"
    with conn.begin():
        set_guards(conn, guards)
        conn.execute(bind(stmt), {**values_for(sel, stmt), "paused": True})
