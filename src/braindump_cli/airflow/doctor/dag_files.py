"""DAG files imported in the interpreter Airflow runs with: each in a subprocess of that interpreter,
with a per-file timeout, like Airflow's DagBag."""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from braindump_cli.airflow.doctor.interpreter import Interpreter
from braindump_cli.errors import UsageError
from braindump_cli.progress import Progress, no_progress


@dataclass(frozen=True)
class FileResult:
    path: str
    ok: bool
    dag_ids: tuple[str, ...] = ()
    error_type: str | None = None
    error: str | None = None
    missing_module: str | None = None
    line: int | None = None
    timed_out: bool = False


def walk_folder(folder: Path) -> list[tuple[Path, list[str], list[str]]]:
    out = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        out.append((Path(root), dirs, sorted(files)))
    return out


def might_contain_dag(path: Path) -> bool:
    """Airflow's default safe-mode heuristic: the words `airflow` and `dag` (or `asset`) appear."""
    try:
        content = path.read_bytes().lower()
    except OSError:
        return False
    return b"airflow" in content and (b"dag" in content or b"asset" in content)


def list_dag_files(folder: Path) -> tuple[list[Path], int]:
    """(files Airflow would parse, number of .py files its heuristic skips)."""
    files: list[Path] = []
    skipped = 0
    for root, _dirs, names in walk_folder(folder):
        if root.name == "__pycache__":
            continue
        for name in names:
            if name.endswith(".py"):
                path = root / name
                if might_contain_dag(path):
                    files.append(path)
                else:
                    skipped += 1
    return files, skipped


def _worker_source() -> str:
    return (Path(__file__).with_name("_parse_worker.py")).read_text(encoding="utf-8")


class _Worker:
    """One subprocess of the Airflow interpreter importing files in order; results on its stdout."""

    def __init__(self, python: str, folder: Path, files: Sequence[str], env: Mapping[str, str] | None) -> None:
        self.stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(
            [python, "-B", "-c", _worker_source()],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            cwd=folder,
            env=dict(env) if env is not None else None,
        )
        stdin, stdout = self.proc.stdin, self.proc.stdout
        if stdin is None or stdout is None:  # pragma: no cover - both are PIPE above
            raise RuntimeError("no pipes to the DAG parser")
        stdin.write(json.dumps({"dags_folder": str(folder), "files": list(files)}).encode())
        stdin.close()
        self.out: IO[bytes] = stdout
        self.buffer = b""
        self.eof = False
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.out, selectors.EVENT_READ)

    def read(self, deadline: float) -> dict[str, Any] | None:
        """The next message, or None at EOF or when `deadline` (monotonic) passes."""
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not self.selector.select(left):
                return None
            chunk = os.read(self.out.fileno(), 65536)
            if not chunk:
                self.eof = True
                return None
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        message: dict[str, Any] = json.loads(line)
        return message

    def stderr_tail(self) -> str:
        self.stderr.seek(0)
        lines = [line for line in self.stderr.read().decode("utf-8", "replace").splitlines() if line.strip()]
        return lines[-1].strip() if lines else ""

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.selector.close()
        self.out.close()
        self.stderr.close()


def parse_dag_files(
    python: str,
    folder: Path,
    files: Sequence[Path],
    *,
    timeout: float = 30.0,
    env: Mapping[str, str] | None = None,
    progress: Progress = no_progress,
) -> tuple[Interpreter | None, list[FileResult]]:
    """Import every file in a subprocess of `python`; a file that runs past `timeout` seconds is
    reported as timed out and the worker is replaced for the files after it."""
    pending = [str(f) for f in files]
    results: list[FileResult] = []
    interpreter: Interpreter | None = None
    startup = max(timeout, 30.0)  # the first message comes before any DAG import
    while True:
        worker = _Worker(python, folder, pending, env)
        try:
            hello = worker.read(time.monotonic() + startup)
            if hello is None or "interpreter" not in hello:
                raise UsageError(
                    f"the interpreter {python} did not start the DAG parser: {worker.stderr_tail() or 'no output'}",
                    hint="pass --python with the interpreter Airflow runs with",
                )
            interpreter = Interpreter(**hello["interpreter"])
            current: str | None = None
            while pending:
                message = worker.read(time.monotonic() + (timeout if current else startup))
                if message is None:
                    break
                if "start" in message:
                    current = message["start"]
                    progress(f"parsing {current}")
                    continue
                done = message.pop("done")
                message.pop("seconds", None)
                results.append(FileResult(path=done, dag_ids=tuple(message.pop("dag_ids", ())), **message))
                pending.remove(done)
                current = None
            if not pending:
                return interpreter, results
            if current is None:  # died between files: blame the next one
                current = pending[0]
            crashed = worker.eof
            if crashed:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    worker.proc.wait(timeout=5)
            detail = worker.stderr_tail() if crashed else ""
            results.append(
                FileResult(
                    path=current,
                    ok=False,
                    error_type="Timeout" if not crashed else "WorkerDied",
                    error=f"import took longer than {timeout:g}s"
                    if not crashed
                    else f"the interpreter exited with {worker.proc.returncode}: {detail}",
                    timed_out=not crashed,
                )
            )
            pending.remove(current)
            if not pending:
                return interpreter, results
        finally:
            worker.close()
