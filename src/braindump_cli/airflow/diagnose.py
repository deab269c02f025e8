"""`doctor`: why Airflow does not see the DAG you just fixed.

Looks at the four usual causes, each reported separately:

* bytecode that no longer matches its source: a `__pycache__` entry whose source changed or
  vanished, and sourceless `*.pyc` files next to the DAGs (Python imports those when the `.py` is gone);
* DAG files that fail to import in the interpreter Airflow runs with (often not bd's own): each file
  is imported in a subprocess of that interpreter, with a per-file timeout, like Airflow's DagBag;
* rows of the metadata DB's import-error table;
* DAG ids defined in the files but not active in the DB, and active in the DB but not in the files.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.util
import json
import os
import re
import selectors
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any

from braindump_cli.errors import UnreachableError, UsageError
from braindump_cli.progress import Progress, no_progress
from braindump_cli.settings import AirflowDbSettings, airflow_home

SCHEMA_VERSION = 1
PYC_HEADER = 16


@dataclass(frozen=True)
class Interpreter:
    executable: str
    version: str
    prefix: str
    airflow_version: str | None
    source: str = ""
    """How it was chosen: `--python`, `airflow on PATH (...)` or `bd's own`."""


@dataclass(frozen=True)
class StaleBytecode:
    path: str
    source: str
    reason: str
    """`source missing`, `source changed` (mtime/size or hash differ) or `sourceless pyc`."""
    shadows_source: bool
    """True when Python would import this bytecode instead of the source (an unchecked-hash or
    sourceless pyc): the case that hides a fix."""
    removed: bool = False


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


@dataclass(frozen=True)
class DbImportError:
    filename: str | None
    timestamp: dt.datetime | None
    error: str
    bundle_name: str | None = None


@dataclass(frozen=True)
class DagComparison:
    in_files_not_active_in_db: tuple[str, ...]
    active_in_db_not_in_files: tuple[str, ...]
    active_in_db: int


@dataclass(frozen=True)
class DoctorReport:
    dags_folder: str
    bd_interpreter: Interpreter
    airflow_interpreter: Interpreter | None
    interpreters_differ: bool | None
    stale_bytecode: tuple[StaleBytecode, ...]
    files: tuple[FileResult, ...]
    skipped_files: int
    """Python files without the words `airflow` and `dag`/`asset`: Airflow's safe mode skips them too."""
    database: str | None
    """The metadata DB URL (password masked); None with --no-db."""
    database_error: str | None
    import_error_table: str | None
    import_errors: tuple[DbImportError, ...]
    dags: DagComparison | None
    problems: tuple[str, ...]
    schema_version: int = field(default=SCHEMA_VERSION)

    @property
    def ok(self) -> bool:
        return not self.problems


# -- dags folder and interpreter ------------------------------------------------------------------


def resolve_dags_folder(dags_folder: Path | None = None, *, env: Mapping[str, str] | None = None) -> Path:
    """`--dags-folder`, AIRFLOW__CORE__DAGS_FOLDER, airflow.cfg `[core] dags_folder`, $AIRFLOW_HOME/dags."""
    import configparser

    env = os.environ if env is None else env
    home = airflow_home(env)
    if dags_folder is not None:
        chosen = dags_folder
    elif env.get("AIRFLOW__CORE__DAGS_FOLDER"):
        chosen = Path(env["AIRFLOW__CORE__DAGS_FOLDER"])
    else:
        chosen = home / "dags"
        cfg = home / "airflow.cfg"
        if cfg.is_file():
            parser = configparser.ConfigParser(interpolation=None, strict=False)
            try:
                parser.read(cfg, encoding="utf-8")
            except (configparser.Error, UnicodeDecodeError) as e:
                raise UsageError(f"cannot parse {cfg}: {type(e).__name__}") from e
            value = parser.get("core", "dags_folder", fallback="").strip()
            if value:
                chosen = Path(value.replace("{AIRFLOW_HOME}", str(home)))
    chosen = chosen.expanduser()
    if not chosen.is_dir():
        raise UsageError(f"DAGs folder {chosen} does not exist", hint="pass --dags-folder DIR")
    return chosen.resolve()


def _shebang_python(script: Path) -> str | None:
    """The interpreter a console script runs with (`#!/venv/bin/python` or pip's `exec` trampoline)."""
    try:
        with script.open("rb") as f:
            head = f.read(1024).decode("utf-8", "replace").splitlines()
    except OSError:
        return None
    if not head or not head[0].startswith("#!"):
        return None
    words = head[0][2:].split()
    if words and words[0] == "/bin/sh" and len(head) > 1:
        trampoline = re.match(r"^'''exec' \"?([^\" ]+)", head[1])
        words = [trampoline.group(1)] if trampoline else []
    if words and words[0].endswith("/env"):
        words = [w for w in words[1:] if not w.startswith("-")]
    if not words:
        return None
    found = words[0] if os.path.isabs(words[0]) else shutil.which(words[0])
    return found if found and os.access(found, os.X_OK) else None


def find_airflow_python(python: Path | None = None) -> tuple[str, str]:
    """(interpreter path, how it was chosen): `--python`, else the `airflow` on PATH's, else bd's own."""
    if python is not None:
        resolved = shutil.which(str(python))
        if resolved is None:
            raise UsageError(f"--python {python} is not an executable", hint="pass the venv's bin/python")
        return resolved, "--python"
    script = shutil.which("airflow")
    if script is not None:
        found = _shebang_python(Path(script))
        if found is not None:
            return found, f"airflow on PATH ({script})"
    return sys.executable, "bd's own (no `airflow` on PATH)"


def own_interpreter() -> Interpreter:
    try:
        from importlib.metadata import PackageNotFoundError, version

        try:
            airflow: str | None = version("apache-airflow")
        except PackageNotFoundError:
            airflow = None
    except ImportError:  # pragma: no cover
        airflow = None
    v = sys.version_info
    return Interpreter(sys.executable, f"{v[0]}.{v[1]}.{v[2]}", sys.prefix, airflow, "bd")


# -- bytecode ---------------------------------------------------------------------------------------


def _check_pyc(pyc: Path, source: Path) -> str | None:
    """Why `pyc` (a `__pycache__` entry for `source`) is stale, or None if it matches."""
    try:
        with pyc.open("rb") as f:
            header = f.read(PYC_HEADER)
    except OSError:
        return None
    if len(header) < PYC_HEADER:
        return "truncated pyc"
    flags = int.from_bytes(header[4:8], "little")
    st = source.stat()
    if flags & 0b1:  # hash-based pyc (PEP 552): compare the source hash when our magic matches
        if header[:4] != importlib.util.MAGIC_NUMBER:
            return None
        if importlib.util.source_hash(source.read_bytes()) != header[8:16]:
            return "source changed"
        return None
    mtime = int.from_bytes(header[8:12], "little")
    size = int.from_bytes(header[12:16], "little")
    if mtime != int(st.st_mtime) & 0xFFFFFFFF or size != st.st_size & 0xFFFFFFFF:
        return "source changed"
    return None


def _unchecked_hash(pyc: Path) -> bool:
    try:
        with pyc.open("rb") as f:
            header = f.read(8)
    except OSError:
        return False
    return len(header) == 8 and int.from_bytes(header[4:8], "little") & 0b11 == 0b01


def _walk(folder: Path) -> list[tuple[Path, list[str], list[str]]]:
    out = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        out.append((Path(root), dirs, sorted(files)))
    return out


def find_stale_bytecode(folder: Path) -> list[StaleBytecode]:
    found: list[StaleBytecode] = []
    for root, _dirs, files in _walk(folder):
        if root.name == "__pycache__":
            for name in files:
                if not name.endswith(".pyc"):
                    continue
                pyc = root / name
                source = root.parent / (name.split(".", 1)[0] + ".py")
                if not source.exists():
                    found.append(StaleBytecode(str(pyc), str(source), "source missing", False))
                    continue
                reason = _check_pyc(pyc, source)
                if reason is not None:
                    shadows = _unchecked_hash(pyc)
                    found.append(StaleBytecode(str(pyc), str(source), reason, shadows))
            continue
        for name in files:
            if not name.endswith(".pyc"):
                continue
            pyc, source = root / name, root / name[:-1]
            if not source.exists():
                # A sourceless pyc beside the DAGs is imported in place of the vanished .py.
                found.append(StaleBytecode(str(pyc), str(source), "sourceless pyc", True))
            elif (reason := _check_pyc(pyc, source)) is not None:
                found.append(StaleBytecode(str(pyc), str(source), reason, False))
    return found


def remove_bytecode(entries: Sequence[StaleBytecode]) -> list[StaleBytecode]:
    out = []
    for entry in entries:
        path = Path(entry.path)
        try:
            path.unlink()
            removed = True
        except FileNotFoundError:
            removed = True
        except OSError:
            removed = False
        if removed and path.parent.name == "__pycache__":
            with contextlib.suppress(OSError):
                path.parent.rmdir()  # only when it is empty now
        out.append(StaleBytecode(entry.path, entry.source, entry.reason, entry.shadows_source, removed))
    return out


# -- DAG files --------------------------------------------------------------------------------------


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
    for root, _dirs, names in _walk(folder):
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


# -- the report -------------------------------------------------------------------------------------


def _db_part(
    settings: AirflowDbSettings, timeout: float
) -> tuple[str | None, list[DbImportError], list[tuple[str, str | None]]]:
    from braindump_cli.airflow.checkdb import connect
    from braindump_cli.airflow.stale import active_dags, import_errors

    with connect(settings, timeout=timeout) as conn:
        table, rows = import_errors(conn)
        active = active_dags(conn)
    errors = [DbImportError(r.filename, r.timestamp, r.error, r.bundle_name) for r in rows]
    return table, errors, [(d.dag_id, d.fileloc) for d in active]


def doctor(
    *,
    dags_folder: Path | None = None,
    python: Path | None = None,
    settings: AirflowDbSettings | None = None,
    fix: bool = False,
    timeout: float = 30.0,
    db_timeout: float = 10.0,
    env: Mapping[str, str] | None = None,
    progress: Progress = no_progress,
) -> DoctorReport:
    """Check bytecode, DAG imports, the import-error table and DAG ids; `fix` removes stale bytecode.

    `settings` None skips the database checks. `env` is the environment of the parsing subprocess
    (default: bd's own).
    """
    folder = resolve_dags_folder(dags_folder)
    problems: list[str] = []

    stale = find_stale_bytecode(folder)
    if fix and stale:
        stale = remove_bytecode(stale)
    for entry in stale:
        if not entry.removed:
            problems.append(f"stale bytecode {entry.path} ({entry.reason})")

    exe, how = find_airflow_python(python)
    files, skipped = list_dag_files(folder)
    progress(f"parsing {len(files)} DAG files with {exe}")
    found, results = parse_dag_files(exe, folder, files, timeout=timeout, env=env, progress=progress)
    airflow_interp = replace(found, source=how) if found else None
    mine = own_interpreter()
    differ = None
    if airflow_interp is not None:
        differ = (airflow_interp.prefix, airflow_interp.version) != (mine.prefix, mine.version)
    for r in results:
        rel = os.path.relpath(r.path, folder)
        if r.missing_module:
            problems.append(f"{rel}: missing module {r.missing_module!r} in {exe}")
        elif not r.ok:
            problems.append(f"{rel}: {r.error_type}: {r.error}")

    db_url = settings.display_url if settings is not None else None
    db_error = None
    table: str | None = None
    db_errors: list[DbImportError] = []
    comparison = None
    if settings is not None:
        try:
            table, db_errors, active = _db_part(settings, db_timeout)
        except (UnreachableError, UsageError) as e:
            db_error = e.message
            problems.append(f"metadata DB: {e.message}")
        else:
            for err in db_errors:
                problems.append(f"import error recorded in the DB for {err.filename}: {err.error}")
            in_files = {d for r in results for d in r.dag_ids}
            failed = {os.path.realpath(r.path) for r in results if not r.ok}
            active_ids = {dag_id for dag_id, _ in active}
            # A DAG whose file failed to import is already reported; do not report it twice.
            missing = sorted(
                dag_id
                for dag_id, fileloc in active
                if dag_id not in in_files and not (fileloc and os.path.realpath(fileloc) in failed)
            )
            comparison = DagComparison(tuple(sorted(in_files - active_ids)), tuple(missing), len(active_ids))
            for dag_id in comparison.in_files_not_active_in_db:
                problems.append(f"DAG {dag_id!r} is defined in the files but not active in the DB")
            for dag_id in comparison.active_in_db_not_in_files:
                problems.append(f"DAG {dag_id!r} is active in the DB but no DAG file defines it")

    return DoctorReport(
        dags_folder=str(folder),
        bd_interpreter=mine,
        airflow_interpreter=airflow_interp,
        interpreters_differ=differ,
        stale_bytecode=tuple(stale),
        files=tuple(sorted(results, key=lambda r: r.path)),
        skipped_files=skipped,
        database=db_url,
        database_error=db_error,
        import_error_table=table,
        import_errors=tuple(db_errors),
        dags=comparison,
        problems=tuple(problems),
    )
