"""Bytecode that no longer matches its source: `__pycache__` entries whose source changed or vanished,
and sourceless `*.pyc` files next to the DAGs (Python imports those when the `.py` is gone)."""

from __future__ import annotations

import contextlib
import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from braindump_cli.airflow.doctor.dag_files import walk_folder

PYC_HEADER = 16


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


def _cached(pyc: Path) -> StaleBytecode | None:
    """A `__pycache__/<name>.<tag>.pyc` entry, if stale."""
    source = pyc.parent.parent / (pyc.name.split(".", 1)[0] + ".py")
    if not source.exists():
        return StaleBytecode(str(pyc), str(source), "source missing", False)
    reason = _check_pyc(pyc, source)
    return None if reason is None else StaleBytecode(str(pyc), str(source), reason, _unchecked_hash(pyc))


def _beside(pyc: Path) -> StaleBytecode | None:
    """A `<name>.pyc` next to the sources, if stale."""
    source = pyc.with_suffix(".py")
    if not source.exists():
        # A sourceless pyc beside the DAGs is imported in place of the vanished .py.
        return StaleBytecode(str(pyc), str(source), "sourceless pyc", True)
    reason = _check_pyc(pyc, source)
    return None if reason is None else StaleBytecode(str(pyc), str(source), reason, False)


def find_stale_bytecode(folder: Path) -> list[StaleBytecode]:
    found: list[StaleBytecode] = []
    for root, _dirs, files in walk_folder(folder):
        check = _cached if root.name == "__pycache__" else _beside
        for name in files:
            if name.endswith(".pyc") and (entry := check(root / name)) is not None:
                found.append(entry)
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
