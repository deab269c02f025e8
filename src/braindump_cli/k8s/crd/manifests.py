"""Reading manifests: files or stdin, multi-document YAML, into documents the way kubectl sees them.

Input that cannot be read or parsed (missing file, not UTF-8, too large, a YAML syntax error) is a
`UsageError` (exit 2): bd checks nothing in an input it cannot parse, as `kubectl apply` does.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import yaml

from braindump_cli.errors import UsageError

MAX_INPUT_BYTES = 64 * 2**20  # refuse to parse more than this per input


@dataclass(frozen=True)
class Document:
    file: str
    index: int  # 1-based position in its file
    body: Any = field(repr=False)
    size: int
    duplicates: tuple[str, ...] = ()  # paths of keys given twice in one mapping (the later one wins)


@dataclass(frozen=True)
class Problem:
    file: str
    document: int
    path: str
    reason: str
    source: str = "offline"  # offline | server
    type: str = "FieldValueInvalid"  # the API server's cause reason (FieldValueRequired, ...)


def read_source(source: str, stdin: BinaryIO | None) -> tuple[str, bytes]:
    """The name and bytes of a file (or `-`: stdin), at most MAX_INPUT_BYTES."""
    if source == "-":
        stream = stdin if stdin is not None else sys.stdin.buffer
        data = stream.read(MAX_INPUT_BYTES + 1)
        name = "<stdin>"
    else:
        path = Path(source)
        name = source
        try:
            if path.is_dir():
                raise UsageError(f"{source} is a directory, not a manifest file", hint="pass the YAML files in it")
            with path.open("rb") as f:
                data = f.read(MAX_INPUT_BYTES + 1)
        except FileNotFoundError as e:
            raise UsageError(
                f"cannot read {source}: no such file", hint="check the path, or pass - to read stdin"
            ) from e
        except OSError as e:
            raise UsageError(f"cannot read {source}: {e.strerror or e}") from e
    if len(data) > MAX_INPUT_BYTES:
        raise UsageError(f"{name} is larger than {MAX_INPUT_BYTES // 2**20} MiB; bd does not parse inputs that large")
    return name, data


def decode_text(name: str, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise UsageError(
            f"{name} is not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start})",
            hint="Kubernetes manifests must be UTF-8; convert with `iconv -t UTF-8`",
        ) from e


def _jsonable(value: Any) -> Any:
    """What the apiserver sees after kubectl's YAML-to-JSON step: timestamps become strings."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dt.datetime):
        text = value.isoformat()
        return text.replace("+00:00", "Z") if value.tzinfo else text + "Z"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value


def _syntax_error(name: str, index: int, e: yaml.YAMLError | ValueError | TypeError) -> UsageError:
    if isinstance(e, yaml.MarkedYAMLError):
        mark = e.problem_mark or e.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        reason = f"YAML syntax error{where}: {e.problem or e.context or 'cannot parse'}"
    else:
        reason = f"cannot parse YAML: {str(e).splitlines()[0]}"
    return UsageError(
        f"{name} document {index}: {reason}",
        hint="fix the YAML there (indent with spaces, close brackets and quotes); bd checks nothing it cannot parse",
    )


def duplicate_keys(node: Any, path: str = "") -> list[str]:
    """Paths of mapping keys that appear twice: the strict decoder refuses them ("duplicate field")."""
    out: list[str] = []
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            here = f"{path}.{key}" if path else key
            if key in seen:
                out.append(here)
            seen.add(key)
            out += duplicate_keys(value_node, here)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            out += duplicate_keys(item, f"{path}[{i}]")
    return out


def parse_documents(name: str, text: str) -> list[Document]:
    """Split multi-document YAML; a syntax error is a UsageError naming the document and line."""
    loader_cls = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    loader = loader_cls(io.StringIO(text))
    docs: list[Document] = []
    index = 0
    try:
        while True:
            index += 1
            try:
                if not loader.check_node():
                    break
                node = loader.get_node()
                body = loader.construct_document(node)
            except (yaml.YAMLError, ValueError, TypeError) as e:
                raise _syntax_error(name, index, e) from e
            if body is None:
                index -= 1  # empty documents (a trailing ---) are not counted, as kubectl skips them
                continue
            size = node.end_mark.index - node.start_mark.index if node is not None else 0
            docs.append(Document(name, index, _jsonable(body), size, tuple(duplicate_keys(node))))
    finally:
        loader.dispose()
    return docs


def read_manifests(sources: Sequence[str], *, stdin: BinaryIO | None = None) -> tuple[list[Document], list[Problem]]:
    """Every document of every source, and a problem for each source that holds none."""
    if not sources:
        raise UsageError("no manifests given", hint="pass -f FILE (or -f - for stdin)")
    docs: list[Document] = []
    problems: list[Problem] = []
    for source in sources:
        name, data = read_source(source, stdin)
        found = parse_documents(name, decode_text(name, data))
        if not found:
            problems.append(Problem(name, 1, "", "no Kubernetes objects: the input is empty"))
        docs += found
    return docs, problems
