"""Which Python interpreter Airflow runs with (often not bd's own), and bd's own for comparison."""

from __future__ import annotations

import os
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from braindump_cli.errors import UsageError


@dataclass(frozen=True)
class Interpreter:
    executable: str
    version: str
    prefix: str
    airflow_version: str | None
    source: str = ""
    """How it was chosen: `--python`, `airflow on PATH (...)` or `bd's own`."""


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
