"""Every command has help text with an `Example: bd ...` line and a docs entry (group page or docs/commands/).

The commands come from the live command tree of the root app, so a command added without help or
docs fails here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.core.conftest import command_tree, group_names

DOCS = Path(__file__).resolve().parents[2] / "docs"


COMMANDS = command_tree()


def test_the_tree_is_not_empty() -> None:
    """Guards the parametrised tests below against passing vacuously over an empty tree."""
    assert set(group_names()) == {"crd", "operator", "cassandra", "airflow", "sandbox"}
    assert COMMANDS


@pytest.mark.parametrize(("group", "name", "help_text"), COMMANDS, ids=[f"{g} {n}" for g, n, _ in COMMANDS])
def test_help_has_a_summary_and_an_example(group: str, name: str, help_text: str) -> None:
    lines = [line.strip() for line in help_text.strip().splitlines()]
    assert lines, f"`bd {group} {name}` has no help text"
    assert lines[0], f"`bd {group} {name}`: the first line must be a one-line summary"
    assert not lines[0].startswith("Example"), f"`bd {group} {name}`: the first line must be a summary"
    examples = [line for line in lines if line.startswith("Example:")]
    assert examples, f"`bd {group} {name}` help has no `Example:` line"
    assert any(f"bd {group} {name}" in line for line in examples), (
        f"`bd {group} {name}` example does not run `bd {group} {name}`: {examples}"
    )


@pytest.mark.parametrize(("group", "name", "help_text"), COMMANDS, ids=[f"{g} {n}" for g, n, _ in COMMANDS])
def test_docs_page_has_an_entry(group: str, name: str, help_text: str) -> None:
    """An entry on the group's page, or the generated page docs/commands/<group>-<command>.md."""
    page = DOCS / f"{group}.md"
    generated = DOCS / "commands" / f"{group}-{name}.md"
    on_group_page = page.is_file() and f"bd {group} {name}" in page.read_text(encoding="utf-8")
    on_own_page = generated.is_file() and f"# bd {group} {name}\n" in generated.read_text(encoding="utf-8")
    assert on_group_page or on_own_page, (
        f"`bd {group} {name}` has no entry in docs/{group}.md and no page docs/commands/{group}-{name}.md "
        "(.venv/bin/python docs/capture.py writes it)"
    )


@pytest.mark.parametrize(
    "page", ["index.md", "exit-codes.md", "output.md", "configuration.md", "benchmarks.md", "coming-from.md"]
)
def test_core_docs_pages_exist(page: str) -> None:
    assert (DOCS / page).is_file()


def test_every_group_is_in_the_docs_index() -> None:
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    for group in ("crd", "operator", "cassandra", "airflow", "sandbox"):
        assert f"bd {group}" in index
