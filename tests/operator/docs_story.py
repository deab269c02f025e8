"""The PostgreSQL story of docs/operator.md ("The whole story"): its YAML files and commands."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "operator.md"


def story_section() -> str:
    text = DOC.read_text()
    start = text.index("### The whole story")
    return text[start : text.index("\n## ", start)]


def story_files(section: str) -> dict[str, str]:
    """YAML blocks whose first line is `# <file name>`."""
    files = {}
    for block in re.findall(r"```yaml\n(.*?)```", section, flags=re.S):
        first, _, rest = block.partition("\n")
        files[first.removeprefix("# ").strip()] = rest
    return files


def story_commands(section: str) -> list[tuple[str, list[str]]]:
    """(`kubectl ...`, the output lines the docs show) in order."""
    out: list[tuple[str, list[str]]] = []
    for block in re.findall(r"```console\n(.*?)```", section, flags=re.S):
        for line in block.splitlines():
            if line.startswith("$ "):
                out.append((line[2:], []))
            elif line.strip():
                out[-1][1].append(line)
    return out
