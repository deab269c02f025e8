"""Benchmark: delete a DAG with 1,000,000 task instances from a real Airflow 3.3.2 schema on PostgreSQL 15.

Candidates, each on a fresh copy of the same populated database (CREATE DATABASE ... TEMPLATE, not
timed), interleaved round-robin:

* `bd` with its archive (the default), with `--no-archive`, and in batches (`--batch-size 10000`);
* raw SQL: `DELETE ... WHERE dag_id = 'x'` over every table keyed by dag_id, children first, in one
  psql transaction, ON DELETE CASCADE doing the rest (the limit: no planning, no archive, no checks);
* `airflow dags delete -y` from the apache-airflow 3.3.2 virtualenv (the anchor).

The DAG: BD_BENCH_ROWS task instances (default 1,000,000) over rows/100 runs, one xcom per task
instance, as many log rows; every other table it can own has one row (tests/airflow/populate.py),
and a second DAG with the same shape at 1/10 the size proves bd's memory does not grow with rows.
While each candidate runs, a writer updates the task instance of another DAG in a loop (one short
transaction each, as the scheduler would); the longest of those writes is reported per candidate:
how long a delete can hold up the scheduler's work on other DAGs.

Run: `.venv/bin/python -m bench airflow_delete` (BD_BENCH_ROWS=100000 for a quick run,
BD_BENCH_REPEAT=N for more rounds).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench._timing import Sample, report

VERSION = "3.3.2"
VICTIM = "bench_victim"
SMALL = "bench_small"


def _log(msg: str) -> None:
    print(f"bench airflow_delete: {msg}", file=sys.stderr, flush=True)


def _amplify(url: str, dag_id: str, rows: int) -> None:
    """Grow the DAG's single run / task instance / xcom / log row to `rows` task instances in SQL."""
    from sqlalchemy import text

    from braindump_cli.airflow._db import connect, quote, reflect_schema

    runs = max(1, rows // 100)
    tasks = rows // runs
    with connect(url, write=True) as conn:
        schema = reflect_schema(conn)
        q = lambda c: quote(conn, c)  # noqa: E731

        def insert_select(table: str, overrides: dict[str, str], source: str, where: str) -> None:
            cols = schema.tables[table].columns
            exprs = [overrides.get(c, f"s.{q(c)}") for c in cols]
            conn.execute(
                text(f"INSERT INTO {q(table)} ({', '.join(map(q, cols))}) SELECT {', '.join(exprs)} {source} {where}"),
                {"d": dag_id},
            )

        base = int(conn.execute(text("SELECT COALESCE(MAX(id), 0) FROM dag_run")).scalar_one())

        def analyze(table: str) -> None:
            # The planner's statistics still say these tables hold a handful of rows: without a fresh
            # ANALYZE (it sees this transaction's own rows) the next INSERT ... SELECT joins them by
            # nested loops, O(runs x task instances) - the 18-minute template build at 300,000 rows.
            conn.execute(text(f"ANALYZE {q(table)}"))

        insert_select(
            "dag_run",
            {
                "id": f"{base} + g",
                "run_id": "s.run_id || '_' || g",
                "logical_date": "s.logical_date + g * interval '1 minute'",
            },
            f"FROM dag_run s CROSS JOIN generate_series(1, {runs - 1}) g",
            "WHERE s.dag_id = :d",
        )
        analyze("dag_run")
        insert_select(
            "task_instance",
            {"id": "gen_random_uuid()", "run_id": "r.run_id", "task_id": "'bt_' || g"},
            f"FROM task_instance s CROSS JOIN dag_run r CROSS JOIN generate_series(1, {tasks}) g",
            "WHERE s.dag_id = :d AND r.dag_id = :d AND s.task_id NOT LIKE 'bt!_%' ESCAPE '!'",
        )
        analyze("task_instance")
        insert_select(
            "xcom",
            {"dag_run_id": "r.id", "run_id": "t.run_id", "task_id": "t.task_id", "map_index": "t.map_index"},
            "FROM xcom s JOIN task_instance t ON t.dag_id = s.dag_id "
            "JOIN dag_run r ON r.dag_id = t.dag_id AND r.run_id = t.run_id",
            "WHERE s.dag_id = :d AND t.task_id LIKE 'bt!_%' ESCAPE '!'",
        )
        base = int(conn.execute(text("SELECT COALESCE(MAX(id), 0) FROM log")).scalar_one())
        insert_select(
            "log",
            {"id": f"{base} + g"},
            f"FROM (SELECT * FROM log WHERE dag_id = :d LIMIT 1) s CROSS JOIN generate_series(1, {rows}) g",
            "",
        )
        conn.execute(text(f"SELECT setval(pg_get_serial_sequence('log', 'id'), {base + rows})"))
        conn.execute(text("SELECT setval(pg_get_serial_sequence('dag_run', 'id'), (SELECT MAX(id) FROM dag_run))"))


def _build_template(server: object, rows: int) -> str:
    from tests.airflow.populate import Shape, populate_dags

    from braindump_cli.sandbox.servers.airflow_env import migrate_airflow_db

    name = "bench_tmpl"
    url = server.create_database(name)  # type: ignore[attr-defined]
    migrate_airflow_db(VERSION, url, progress=_log)
    shape = Shape(runs=1, tasks=1, per_table={"log": 1, "xcom": 1})
    populate_dags(url, ["other_dag", VICTIM, SMALL], shape)
    _log(f"amplifying {VICTIM} to {rows} task instances and {SMALL} to {rows // 10}")
    _amplify(url, VICTIM, rows)
    _amplify(url, SMALL, max(100, rows // 10))
    server.psql("VACUUM ANALYZE", database=name)  # type: ignore[attr-defined]
    return name


def _raw_sql(url: str, dag_id: str) -> str:
    """BEGIN; DELETE ... WHERE dag_id = 'x' per dag_id table, children first; COMMIT."""
    from braindump_cli.airflow._db import connect, reflect_schema
    from braindump_cli.airflow.delete.selection import delete_order

    with connect(url) as conn:
        schema = reflect_schema(conn)
    keyed = [t for t, info in schema.tables.items() if "dag_id" in info.columns or "target_dag_id" in info.columns]
    lines = ["BEGIN;"]
    for table in delete_order(schema, keyed):
        col = "dag_id" if "dag_id" in schema.tables[table].columns else "target_dag_id"
        lines.append(f"DELETE FROM {table} WHERE {col} = :'dag';")
    lines.append("COMMIT;")
    return "\n".join(lines) + "\n"


def _timed(argv: list[str], env: dict[str, str] | None = None, stdin: str | None = None) -> tuple[float, float]:
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, input=stdin, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:4])} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return seconds, (after if after > before else float("nan")) / 1024


def _bd_peak(argv: list[str]) -> tuple[float, float]:
    """Time and peak RSS of one bd run, read from the child's own rusage (wait4)."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"bd failed ({proc.returncode}): {err.decode(errors='replace')[-2000:]}")
    return seconds, usage.ru_maxrss / 1024


class _Writer:
    """A scheduler stand-in: updates the task instance of another DAG in a loop, one short transaction
    each, and keeps the longest time one of those writes took (lock waits included)."""

    def __init__(
        self,
        url: str,
        *,
        statement: str = "UPDATE task_instance SET try_number = try_number + 1 WHERE dag_id = 'other_dag'",
    ) -> None:
        import threading

        self.url = url
        self.statement = statement
        self.longest = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-writer", daemon=True)

    def __enter__(self) -> _Writer:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        from sqlalchemy import text

        from braindump_cli.airflow._db import connect

        stmt = text(self.statement)
        with connect(self.url) as conn:
            while not self._stop.is_set():
                start = time.perf_counter()
                conn.execute(stmt)
                conn.commit()
                self.longest = max(self.longest, time.perf_counter() - start)
                time.sleep(0.05)


# Complexity over 10 on purpose: the bench's driver: one flat sequence of candidates and rounds, read top to bottom
# like the table it prints.
def main() -> str:  # noqa: C901
    from braindump_cli.sandbox.servers.airflow_env import airflow_env, ensure_airflow_venv
    from braindump_cli.sandbox.servers.postgres import start_postgres

    rows = int(os.environ.get("BD_BENCH_ROWS", "1000000"))
    repeat = int(os.environ.get("BD_BENCH_REPEAT", "3"))
    venv = ensure_airflow_venv(VERSION, progress=_log)
    work = Path(tempfile.mkdtemp(prefix="bd-bench-airflow-"))
    server = start_postgres(progress=_log)
    try:
        t0 = time.perf_counter()
        template = _build_template(server, rows)
        _log(f"template ready in {time.perf_counter() - t0:.0f}s")
        raw_sql = _raw_sql(server.url(template), VICTIM)
        bd = [sys.executable, "-m", "braindump_cli", "airflow", "delete-dag", VICTIM, "--yes"]
        counter = iter(range(10_000))
        peaks: dict[str, float] = {}

        def fresh() -> str:
            name = f"run{next(counter)}"
            server.create_database(name, template=template)
            return name

        def bd_archive(db: str) -> float:
            archive = work / f"{db}.jsonl.gz"
            seconds, peak = _bd_peak([*bd, "--conn", server.url(db), "--archive", str(archive), "--one-transaction"])
            peaks["bd (archive)"] = max(peaks.get("bd (archive)", 0.0), peak)
            archive.unlink()
            return seconds

        def bd_plain(db: str) -> float:
            seconds, peak = _bd_peak([*bd, "--conn", server.url(db), "--no-archive", "--one-transaction"])
            peaks["bd --no-archive"] = max(peaks.get("bd --no-archive", 0.0), peak)
            return seconds

        def bd_batched(db: str) -> float:
            archive = work / f"{db}.jsonl.gz"
            argv = [*bd, "--conn", server.url(db), "--archive", str(archive), "--batch-size", "10000"]
            seconds, peak = _bd_peak(argv)
            peaks["bd --batch-size 10000"] = max(peaks.get("bd --batch-size 10000", 0.0), peak)
            archive.unlink()
            return seconds

        def raw(db: str) -> float:
            psql = [str(server.bin_dir / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-v", f"dag={VICTIM}"]
            return _timed([*psql, "-d", server.dsn(db)], stdin=raw_sql)[0]

        home = work / "airflow-home"
        (home / "dags").mkdir(parents=True)

        def airflow(db: str) -> float:
            env = airflow_env(VERSION, server.url(db), home)
            return _timed([str(venv / "bin" / "airflow"), "dags", "delete", VICTIM, "-y"], env=env)[0]

        candidates = {
            "raw SQL (psql, 1 txn)": raw,
            "bd --no-archive": bd_plain,
            "bd (archive)": bd_archive,
            "bd --batch-size 10000": bd_batched,
            "airflow dags delete -y": airflow,
        }
        runs: dict[str, list[float]] = {k: [] for k in candidates}
        waits: dict[str, float] = {}
        for i in range(repeat):
            for label, fn in candidates.items():
                db = fresh()
                with _Writer(server.url(db)) as writer:
                    seconds = fn(db)
                waits[label] = max(waits.get(label, 0.0), writer.longest)
                left = server.psql(f"SELECT COUNT(*) FROM task_instance WHERE dag_id = '{VICTIM}'", database=db)
                if left.strip() != "0":
                    raise RuntimeError(f"{label} left {left.strip()} task instances")
                runs[label].append(seconds)
                _log(f"round {i + 1}/{repeat}: {label}: {seconds:.2f}s")
                server.drop_database(db)
        # memory flatness: the same bd run on the DAG 10x smaller
        db = fresh()
        small_archive = work / "small.jsonl.gz"
        _, small_peak = _bd_peak(
            [sys.executable, "-m", "braindump_cli", "airflow", "delete-dag", SMALL, "--yes", "--one-transaction",
             "--conn", server.url(db), "--archive", str(small_archive)]
        )  # fmt: skip
        server.drop_database(db)
        samples = [Sample(k, v) for k, v in runs.items()]
        text = report(
            f"airflow delete-dag: {rows:,} task instances (+{rows:,} xcom, {rows:,} log, {max(1, rows // 100):,} runs) "
            f"on PostgreSQL 15, Airflow {VERSION} schema",
            samples,
            baseline="raw SQL (psql, 1 txn)",
            goal="bd --no-archive <= 1.2x raw, bd (archive) <= 2x raw, both faster than the airflow CLI, memory flat",
        )
        anchor = next(s for s in samples if s.label == "airflow dags delete -y").median
        extra = [
            "",
            "| candidate | ratio vs airflow dags delete | bd peak RSS (MiB) | longest write on another DAG (s) |",
            "|---|---|---|---|",
        ]
        for s in samples:
            peak = f"{peaks[s.label]:.0f}" if s.label in peaks else "-"
            extra.append(f"| {s.label} | {s.median / anchor:.2f}x | {peak} | {waits[s.label]:.2f} |")
        extra += [
            "",
            f"bd (archive) peak RSS: {peaks.get('bd (archive)', float('nan')):.0f} MiB at {rows:,} task instances, "
            f"{small_peak:.0f} MiB at {max(100, rows // 10):,} (memory does not grow with rows).",
            f"Command: `BD_BENCH_ROWS={rows} .venv/bin/python -m bench airflow_delete`",
        ]
        tail = "\n".join(extra) + "\n"
        print(tail, flush=True)
        return text + tail
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
