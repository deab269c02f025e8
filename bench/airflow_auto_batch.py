"""Benchmark: where `bd airflow delete-dag` switches to batches on its own (docs/airflow.md, "Automatic batches").

What a one-transaction delete costs other sessions is how long it holds the rows it deleted: every
row stays locked until the commit. A writer that wants one of them (the scheduler or a user updating
one of the DAG's task instances) waits that long. With batches, it waits at most one batch.

For each size (BD_BENCH_SIZES task instances, default 10000,30000,100000; as many xcom and log rows,
rows/100 runs, bench/airflow_delete.py's template on PostgreSQL 15 and the Airflow 3.3.2 schema), side
by side on fresh copies of one database, interleaved round-robin (BD_BENCH_REPEAT rounds, default 2):

* `bd airflow delete-dag --one-transaction` and `bd airflow delete-dag --batch-size 10000`;
* while each runs, a writer locks the victim DAG's `bt_1` task instances (`SELECT ... FOR UPDATE`, as an
  UPDATE would) in a loop, one short transaction each, and keeps the longest time one of those took:
  the time it was held up.

Reported: rows deleted, the longest hold per candidate and the ratio one transaction / batches. The
ratio, not the seconds, carries over to another machine.

Run: `.venv/bin/python -m bench airflow_auto_batch` (BD_BENCH_SIZES=10000,30000 for a quick run).
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.airflow_delete import VICTIM, _bd_peak, _build_template, _log, _Writer

BATCH = 10_000
# The writer locks the rows (as an UPDATE would) without changing them: a committed change of a row the
# one-transaction delete has not reached yet aborts that delete on PostgreSQL (REPEATABLE READ: "could
# not serialize access due to concurrent update"), which would end the measurement, not time it.
LOCKER = f"SELECT 1 FROM task_instance WHERE dag_id = '{VICTIM}' AND task_id = 'bt_1' FOR UPDATE"


def _measure(server: object, template: str, work: Path, repeat: int) -> dict[str, list[float]]:
    """Longest hold of the writer on a victim row, per candidate, per round."""
    bd = [sys.executable, "-m", "braindump_cli", "airflow", "delete-dag", VICTIM, "--yes"]
    candidates = {"one transaction": ["--one-transaction"], f"--batch-size {BATCH}": ["--batch-size", str(BATCH)]}
    holds: dict[str, list[float]] = {k: [] for k in candidates}
    for i in range(repeat):
        for label, extra in candidates.items():
            db = f"auto{i}_{len(holds[label])}_{abs(hash(label)) % 1000}"
            server.create_database(db, template=template)  # type: ignore[attr-defined]
            url = server.url(db)  # type: ignore[attr-defined]
            archive = work / f"{db}.jsonl.gz"
            with _Writer(url, statement=LOCKER) as writer:
                time.sleep(0.5)  # the writer is in its loop before bd starts
                _bd_peak([*bd, "--conn", url, "--archive", str(archive), *extra])
            holds[label].append(writer.longest)
            archive.unlink(missing_ok=True)
            server.drop_database(db)  # type: ignore[attr-defined]
            _log(f"round {i + 1}/{repeat}: {label}: writer held up {writer.longest:.2f}s")
    return holds


def main() -> str:
    from braindump_cli.sandbox.servers.postgres import start_postgres

    sizes = [int(s) for s in os.environ.get("BD_BENCH_SIZES", "10000,30000,100000").split(",")]
    repeat = int(os.environ.get("BD_BENCH_REPEAT", "2"))
    work = Path(tempfile.mkdtemp(prefix="bd-bench-auto-"))
    server = start_postgres(progress=_log)
    lines = [
        "| task instances | rows deleted | writer held up, one transaction (s) | "
        f"writer held up, --batch-size {BATCH} (s) | ratio |",
        "|---|---|---|---|---|",
    ]
    try:
        for rows in sizes:
            template = _build_template(server, rows)
            total = 3 * rows + rows // 100  # task instances, xcom, log, runs (and a handful more)
            holds = _measure(server, template, work, repeat)
            one, batched = (statistics.median(v) for v in holds.values())
            lines.append(f"| {rows:,} | ~{total:,} | {one:.2f} | {batched:.2f} | {one / max(batched, 1e-3):.1f}x |")
            server.drop_database(template)  # type: ignore[attr-defined]
        sizes_env = ",".join(str(s) for s in sizes)
        command = f"BD_BENCH_SIZES={sizes_env} BD_BENCH_REPEAT={repeat} .venv/bin/python -m bench airflow_auto_batch"
        lines += ["", f"Command: `{command}`"]
        text = "\n".join(lines) + "\n"
        print(text, flush=True)
        return text
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
