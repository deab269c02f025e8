"""The archive of a batched delete, written so that it doubles as the run's durable journal.

While the run goes, the archive is `ARCHIVE.partial`: a gzip file of several members (gzip readers
read them as one stream), the header first, then one member per batch (a section line and the
batch's rows). Next to it, `ARCHIVE.journal` lists, one JSON line each, where every batch member
starts and ends. A batch is written and fsynced before its DELETE commits, so every committed row
is in the archive; after a crash only the last batch can be in the archive without its DELETE
committed, and `--resume` asks the database whether its rows are still there (then it drops the
batch and redoes it). The finished archive (trailer added, renamed, journal removed) is an ordinary
archive that restore-dag reads like any other.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from braindump_cli.airflow.archive import FORMAT_VERSION, KIND, decode_row, encode_doc
from braindump_cli.errors import NotFoundError, UsageError


@dataclass(frozen=True)
class Batch:
    table: str
    rows: int
    start: int
    end: int


def _fsync_dir(path: Path) -> None:
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class BatchJournal:
    """Append batches durably; `finish()` makes the archive final."""

    def __init__(self, path: Path, header: dict[str, Any], header_end: int, batches: list[Batch]) -> None:
        self.path = path
        self.partial = path.with_name(path.name + ".partial")
        self.journal = path.with_name(path.name + ".journal")
        self.header = header
        self.header_end = header_end
        self.batches = batches
        self._raw: IO[bytes] = open(self.partial, "r+b")  # noqa: SIM115 - closed in finish/close
        self._raw.truncate(self.end)
        self._raw.seek(self.end)

    @property
    def end(self) -> int:
        return self.batches[-1].end if self.batches else self.header_end

    @classmethod
    def create(cls, path: Path, header: dict[str, Any], *, command: str = "delete-dag") -> BatchJournal:
        partial = path.with_name(path.name + ".partial")
        journal = path.with_name(path.name + ".journal")
        if path.exists():
            raise UsageError(f"archive {path} already exists", hint="pass another --archive FILE")
        if partial.exists() and not journal.exists():
            # A run killed between writing the header and the journal: it never deleted a row.
            partial.unlink()
        if partial.exists() or journal.exists():
            raise UsageError(
                f"an interrupted batched delete left {partial}", hint=f"bd airflow {command} --resume {path}"
            )
        doc = {"bd_archive": FORMAT_VERSION, "kind": KIND, **header}
        with open(partial, "xb") as raw:
            raw.write(gzip.compress((encode_doc(doc) + "\n").encode("utf-8"), compresslevel=1))
            raw.flush()
            os.fsync(raw.fileno())
            header_end = raw.tell()
        with open(journal, "x", encoding="utf-8") as fh:
            fh.write(json.dumps({"header_end": header_end}) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        _fsync_dir(path)
        return cls(path, doc, header_end, [])

    @classmethod
    def resume(cls, path: Path) -> BatchJournal:
        """The journal an interrupted run left; a torn last journal line (a crash mid-write) is ignored."""
        partial = path.with_name(path.name + ".partial")
        journal = path.with_name(path.name + ".journal")
        if not journal.is_file() or not partial.is_file():
            if path.is_file():
                raise UsageError(f"{path} is complete: that run already finished", hint="nothing to resume")
            raise NotFoundError(
                f"no interrupted batched run at {path} ({journal.name} is missing)",
                hint="pass the --archive FILE of the interrupted run",
            )
        entries = []
        for line in journal.read_text(encoding="utf-8").splitlines():
            try:
                entries.append(json.loads(line))
            except ValueError:
                break
        if not entries or "header_end" not in entries[0]:
            raise UsageError(f"{journal} is not a bd delete journal")
        batches = [Batch(e["table"], e["rows"], e["start"], e["end"]) for e in entries[1:]]
        with gzip.open(partial, "rt", encoding="utf-8") as fh:
            header = json.loads(fh.readline())
        journal_ = cls(path, header, int(entries[0]["header_end"]), batches)
        journal_.rewrite()
        return journal_

    def last_batch_rows(self) -> tuple[str, tuple[str, ...], list[list[Any]]] | None:
        """(table, columns, rows) of the last batch written, to ask the database whether it committed."""
        if not self.batches:
            return None
        last = self.batches[-1]
        self._raw.seek(last.start)
        lines = gzip.decompress(self._raw.read(last.end - last.start)).decode("utf-8").splitlines()
        self._raw.seek(self.end)
        section = json.loads(lines[0])
        return section["table"], tuple(section["columns"]), [decode_row(line) for line in lines[1:]]

    def drop_last(self) -> None:
        """Forget the last batch (its DELETE did not commit): rewrite the journal, then truncate the archive
        (killed in between, the next resume truncates the archive to what the journal lists)."""
        self.batches.pop()
        self.rewrite()
        self._raw.truncate(self.end)
        self._raw.seek(self.end)
        self._raw.flush()
        os.fsync(self._raw.fileno())

    def rewrite(self) -> None:
        """Write the journal anew, atomically: after a crash its last line may be torn, and appending to a
        torn line would hide every later batch."""
        lines = [json.dumps({"header_end": self.header_end})] + [
            json.dumps({"table": b.table, "rows": b.rows, "start": b.start, "end": b.end}) for b in self.batches
        ]
        tmp = self.journal.with_name(self.journal.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.journal)
        _fsync_dir(self.journal)

    def write_batch(self, table: str, columns: Sequence[str], lines: Iterable[str]) -> int:
        """Append one batch (rows as archive JSON lines) durably, before its DELETE commits; its row count."""
        rows = list(lines)
        body = "\n".join([encode_doc({"table": table, "columns": list(columns)}), *rows]) + "\n"
        start = self.end
        self._raw.write(gzip.compress(body.encode("utf-8"), compresslevel=1))
        self._raw.flush()
        os.fsync(self._raw.fileno())
        batch = Batch(table, len(rows), start, self._raw.tell())
        with open(self.journal, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"table": table, "rows": batch.rows, "start": batch.start, "end": batch.end}) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        self.batches.append(batch)
        return batch.rows

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for b in self.batches:
            out[b.table] = out.get(b.table, 0) + b.rows
        return {t: n for t, n in out.items() if n}

    def finish(self) -> Path:
        """Add the trailer, make the archive final and remove the journal."""
        self._raw.write(gzip.compress((encode_doc({"end": True, "counts": self.counts()}) + "\n").encode("utf-8")))
        self._raw.flush()
        os.fsync(self._raw.fileno())
        self._raw.close()
        os.replace(self.partial, self.path)
        _fsync_dir(self.path)
        self.journal.unlink()
        _fsync_dir(self.path)
        return self.path

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._raw.close()
