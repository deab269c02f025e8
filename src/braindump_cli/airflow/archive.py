"""The delete-dag archive: gzip-compressed JSON lines, streamed so memory stays flat.

Layout, one JSON document per line:

* header: `{"bd_archive": 1, "kind": "airflow-dag", "dag_ids": [...], "created": ISO, "dialect": ...,
  "alembic_revision": ..., "tables": {name: {"columns": [...], "types": [...], "primary_key": [...]}}}`
* per table, a section line `{"table": name, "columns": [...]}` then one JSON array per row;
* trailer: `{"end": true, "counts": {table: rows}}`; an archive without it is incomplete.

Values that JSON cannot carry are tagged: `{"$b": base64}` for bytes, `{"$s": text}` for values
the database gave as objects (datetimes, decimals, UUIDs; their ISO/text form goes back verbatim).
The file is written under a `.partial` name and renamed after fsync, so a file with the final
name is always complete.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import gzip
import json
import os
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from braindump_cli.errors import BdError, UsageError

FORMAT_VERSION = 1
KIND = "airflow-dag"


def encode_value(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float)):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$b": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return {"$s": value.isoformat()}
    if isinstance(value, dt.timedelta):
        return {"$td": [value.days, value.seconds, value.microseconds]}
    if isinstance(value, (dict, list)):
        return {"$s": json.dumps(value)}
    return {"$s": str(value)}


def decode_value(value: Any) -> Any:
    if isinstance(value, dict):
        if "$b" in value:
            return base64.b64decode(value["$b"])
        if "$s" in value:
            return value["$s"]
        if "$td" in value:
            days, seconds, micros = value["$td"]
            return dt.timedelta(days=days, seconds=seconds, microseconds=micros)
        raise UsageError(f"archive holds an unknown value tag: {sorted(value)}")
    return value


def _default(value: Any) -> Any:
    return encode_value(value)


_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=_default)


def _dumps(obj: Any) -> str:
    return _encoder.encode(obj)


def encode_row(row: Sequence[Any]) -> str:
    """One archived row: a JSON array, values that JSON cannot carry tagged (see encode_value)."""
    return _encoder.encode(list(row))


def encode_doc(doc: dict[str, Any]) -> str:
    """A header, section or trailer line."""
    return _encoder.encode(doc)


class CopySink:
    """A file-like target for psycopg2's `copy_expert`: COPY text rows in, unescaped 1 MiB chunks out.

    The rows are JSON arrays, which escape every control character themselves, so the only COPY
    escape they can carry is a doubled backslash; anything else is refused rather than guessed.
    """

    _CHUNK = 1 << 20

    def __init__(self, put: Callable[[bytes], None]) -> None:
        self._put = put
        self._pending = bytearray()
        self.rows = 0

    def write(self, data: bytes) -> int:  # psycopg2 hands bytes to any target that is not a TextIOBase
        self._pending += data
        if len(self._pending) >= self._CHUNK:
            self._flush(final=False)
        return len(data)

    def _flush(self, *, final: bool) -> None:
        end = len(self._pending) if final else self._pending.rfind(b"\n") + 1
        if end <= 0:
            return
        if final and not self._pending.endswith(b"\n"):
            raise BdError("COPY output ended inside a row")
        block = bytes(self._pending[:end])
        del self._pending[:end]
        if b"\\" in block:
            block = block.replace(b"\\\\", b"\x00")
            if b"\\" in block:
                raise BdError("COPY output holds an escape a JSON row cannot produce")
            block = block.replace(b"\x00", b"\\")
        self.rows += block.count(b"\n")
        self._put(block)

    def close(self) -> None:
        if self._pending:
            self._flush(final=True)


class ArchiveWriter:
    """Writes one archive; `commit()` flushes, fsyncs and renames it into place.

    Compression runs on a background thread (zlib releases the GIL) fed through a bounded queue, so
    it overlaps the database's work on the DELETEs while memory stays at a few 1 MiB chunks.
    """

    _CHUNK = 1 << 20
    _QUEUED_CHUNKS = 4

    def __init__(self, path: Path, header: dict[str, Any]) -> None:
        self.path = path
        self.partial = path.with_name(path.name + ".partial")
        if path.exists():
            raise UsageError(f"archive {path} already exists", hint="pass another --archive FILE")
        self._raw: IO[bytes] = open(self.partial, "xb")  # noqa: SIM115 - closed in commit/abort
        self._gz = gzip.GzipFile(fileobj=self._raw, mode="wb", compresslevel=1)
        self._buf: list[str] = []
        self._buffered = 0
        self.counts: dict[str, int] = {}
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=self._QUEUED_CHUNKS)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._compress, name="bd-archive-gzip", daemon=True)
        self._thread.start()
        self._write_line(_dumps({"bd_archive": FORMAT_VERSION, "kind": KIND, **header}))

    def _compress(self) -> None:
        while True:
            chunk = self._queue.get()
            if chunk is None:
                return
            if self._error is None:
                try:
                    self._gz.write(chunk)
                except BaseException as e:  # reported to the writer on its next put / commit
                    self._error = e

    def _write_line(self, line: str) -> None:
        self._buf.append(line)
        self._buffered += len(line)
        if self._buffered > self._CHUNK:
            self._flush_buf()

    def _flush_buf(self) -> None:
        if self._buf:
            self._put(("\n".join(self._buf) + "\n").encode("utf-8"))
            self._buf.clear()
            self._buffered = 0

    def write_rows(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
        dumps = _encoder.encode
        return self.write_json_rows(table, columns, (dumps(list(row)) for row in rows))

    def write_json_rows(self, table: str, columns: Sequence[str], lines: Iterable[str]) -> int:
        """Rows the database already encoded as JSON arrays (one line each)."""
        self._write_line(_dumps({"table": table, "columns": list(columns)}))
        n = 0
        for line in lines:
            self._write_line(line)
            n += 1
        return self._counted(table, n)

    def _counted(self, table: str, rows: int) -> int:
        self.counts[table] = self.counts.get(table, 0) + rows
        return rows

    def write_copy_rows(self, table: str, columns: Sequence[str], copy: Callable[[CopySink], None]) -> int:
        """Rows a PostgreSQL `COPY (...) TO STDOUT` (text format) sends to the sink `copy` is handed.

        Each row must be one JSON array; COPY's escaping is undone on whole lines and the bytes go
        to the compressor without Python touching each row.
        """
        self._write_line(_dumps({"table": table, "columns": list(columns)}))
        self._flush_buf()
        sink = CopySink(self._put)
        copy(sink)
        sink.close()
        return self._counted(table, sink.rows)

    def _put(self, chunk: bytes) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(chunk)

    def _drain(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()

    def commit(self) -> Path:
        self._write_line(_dumps({"end": True, "counts": self.counts}))
        self._flush_buf()
        self._drain()
        if self._error is not None:
            raise self._error
        self._gz.close()
        self._raw.flush()
        os.fsync(self._raw.fileno())
        self._raw.close()
        os.replace(self.partial, self.path)
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        return self.path

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self._drain()
        with contextlib.suppress(OSError):
            self._gz.close()
        with contextlib.suppress(OSError):
            self._raw.close()
        with contextlib.suppress(OSError):
            self.partial.unlink()


@dataclass(frozen=True)
class ArchiveHeader:
    dag_ids: tuple[str, ...]
    created: str
    dialect: str
    revision: str | None
    tables: dict[str, dict[str, Any]]
    counts: dict[str, int]


@dataclass(frozen=True)
class Section:
    table: str
    columns: tuple[str, ...]


def _open_lines(path: Path) -> Iterator[str]:
    try:
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            yield from fh
    except FileNotFoundError as e:
        from braindump_cli.errors import NotFoundError

        raise NotFoundError(
            f"no archive at {path}", hint="pass the file `bd airflow delete-dag --archive FILE` wrote"
        ) from e
    except (OSError, EOFError) as e:
        raise UsageError(f"{path} is not a complete gzip archive: {e}") from e


def read_header(path: Path) -> ArchiveHeader:
    """The header and the trailer's counts; reads the whole file once to prove it is complete."""
    lines = _open_lines(path)
    try:
        first = json.loads(next(lines))
    except (StopIteration, ValueError) as e:
        raise UsageError(f"{path} is not a bd archive") from e
    if first.get("bd_archive") != FORMAT_VERSION or first.get("kind") != KIND:
        raise UsageError(f"{path} is not a bd airflow archive (format {first.get('bd_archive')})")
    last = None
    for line in lines:
        last = line
    trailer = json.loads(last) if last else {}
    if not isinstance(trailer, dict) or not trailer.get("end"):
        raise UsageError(f"{path} is incomplete (no trailer): it was not written to the end")
    return ArchiveHeader(
        dag_ids=tuple(first["dag_ids"]),
        created=first["created"],
        dialect=first["dialect"],
        revision=first.get("alembic_revision"),
        tables=first["tables"],
        counts={str(k): int(v) for k, v in trailer["counts"].items()},
    )


def decode_row(line: str) -> list[Any]:
    return [decode_value(v) for v in json.loads(line)]


def iter_sections(path: Path) -> Iterator[tuple[Section, Iterator[list[Any]]]]:
    """(section, rows) in file order; each rows iterator must be consumed before the next section."""
    for section, lines in iter_raw_sections(path):
        yield section, (decode_row(line) for line in lines)


def iter_raw_sections(path: Path) -> Iterator[tuple[Section, Iterator[str]]]:
    """Like iter_sections, with each row as its JSON text line."""
    lines = _open_lines(path)
    next(lines)  # header
    pending: str | None = None

    def rows() -> Iterator[str]:
        nonlocal pending
        for line in lines:
            if line.startswith("["):
                yield line
            else:
                pending = line
                return
        pending = None

    line: str | None = next(lines, None)
    while line is not None:
        doc = json.loads(line)
        if doc.get("end"):
            return
        section = Section(table=doc["table"], columns=tuple(doc["columns"]))
        pending = None
        yield section, rows()
        line = pending
