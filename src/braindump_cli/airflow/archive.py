"""The delete-dag archive: gzip-compressed JSON lines, streamed so memory stays flat.

Layout, one JSON document per line:

* header: `{"bd_archive": 1, "kind": "airflow-dag", "dag_ids": [...], "created": ISO, "dialect": ...,
  "alembic_revision": ..., "tables": {name: {"columns": [...], "types": [...], "primary_key": [...]}}}`
* per table, a section line `{"table": name, "columns": [...]}` then one JSON array per row; since
  format 2 a section may say `"rows": "pg-copy"`: its rows are PostgreSQL's COPY text lines
  (tab-separated, `\\N` for NULL, backslash escapes), exactly as the server sent them, which spares
  the server the JSON encoding (the archive's main cost);
* a section may repeat a table (a batched delete writes one per batch);
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
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from braindump_cli.errors import BdError, UsageError

FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
"""Format 1: JSON rows only (bd before batched deletes); restore reads both."""
KIND = "airflow-dag"
PG_COPY = "pg-copy"


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
    """A file-like target for psycopg2's `copy_expert`: COPY text rows in, 1 MiB chunks of whole rows out.

    `raw`: the rows go to the archive as COPY sent them (format 2's `pg-copy` sections). Otherwise each
    row is one JSON array, which escapes every control character itself, so the only COPY escape it
    can carry is a doubled backslash, undone here; anything else is refused rather than guessed.
    """

    _CHUNK = 1 << 20

    def __init__(self, put: Callable[[bytes], None], *, raw: bool = False) -> None:
        self._put = put
        self._raw = raw
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
        if not self._raw and b"\\" in block:
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

    def write_copy_rows(
        self, table: str, columns: Sequence[str], copy: Callable[[CopySink], None], *, text_rows: bool = False
    ) -> int:
        """Rows a PostgreSQL `COPY (...) TO STDOUT` (text format) sends to the sink `copy` is handed.

        `text_rows`: the rows are the table's columns, kept as COPY text (a `pg-copy` section). Else
        each row must be one JSON array, and COPY's escaping is undone on whole lines. Either way the
        bytes go to the compressor without Python touching each row.
        """
        section: dict[str, Any] = {"table": table, "columns": list(columns)}
        if text_rows:
            section["rows"] = PG_COPY
        self._write_line(_dumps(section))
        self._flush_buf()
        sink = CopySink(self._put, raw=text_rows)
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
    rows: str = "json"
    """`json` (JSON arrays) or `pg-copy` (PostgreSQL COPY text lines)."""


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
    if first.get("bd_archive") not in READABLE_VERSIONS or first.get("kind") != KIND:
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


_COPY_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
_COPY_ESCAPE = re.compile(r"\\(?:([0-7]{1,3})|x([0-9A-Fa-f]{1,2})|(.))", re.S)


def _copy_unescape(m: re.Match[str]) -> str:
    octal, hexa, char = m.groups()
    if octal is not None:
        return chr(int(octal, 8))
    if hexa is not None:
        return chr(int(hexa, 16))
    return _COPY_ESCAPES.get(char, char)


def decode_copy_text(line: str) -> list[Any]:
    """One row of PostgreSQL's COPY text format: tab-separated fields, `\\N` for NULL, backslash escapes.
    Every value comes back as the server's text for it, which PostgreSQL parses back on INSERT."""
    fields = line.rstrip("\n").split("\t")
    return [None if f == "\\N" else _COPY_ESCAPE.sub(_copy_unescape, f) if "\\" in f else f for f in fields]


def row_decoder(section: Section) -> Callable[[str], list[Any]]:
    return decode_copy_text if section.rows == PG_COPY else decode_row


def iter_sections(path: Path) -> Iterator[tuple[Section, Iterator[list[Any]]]]:
    """(section, rows) in file order; each rows iterator must be consumed before the next section."""
    for section, lines in iter_raw_sections(path):
        decode = row_decoder(section)
        yield section, (decode(line) for line in lines)


def iter_raw_sections(path: Path) -> Iterator[tuple[Section, Iterator[str]]]:
    """Like iter_sections, with each row as its text line (a JSON array, or a COPY text line)."""
    lines = _open_lines(path)
    next(lines)  # header
    pending: str | None = None
    copy_rows = False

    def rows() -> Iterator[str]:
        nonlocal pending
        for line in lines:
            # A JSON row is an array; a COPY row holds a tab between its columns, which bd's own JSON
            # lines (sections, trailer) never do: JSON escapes it.
            if ("\t" in line) if copy_rows else line.startswith("["):
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
        section = Section(table=doc["table"], columns=tuple(doc["columns"]), rows=str(doc.get("rows", "json")))
        copy_rows = section.rows == PG_COPY
        pending = None
        yield section, rows()
        line = pending
