"""docs/commands/ cannot drift: every command has a curated example, and CI re-runs the capture.

The fast tests check the capture script's own logic (coverage of the command tree, normalising,
the diff); the slow one runs `docs/capture.py --check` against a sandbox of its own (its own
BD_SANDBOX_DIR, Cassandra on 127.0.0.61.., because bd's Cassandra tests may hold 127.0.0.1..4).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.core.conftest import run

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "docs" / "capture.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bd_docs_capture", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while building the class
    spec.loader.exec_module(module)
    return module


capture = _load()


def test_every_command_has_an_example_and_every_example_a_command() -> None:
    tree = capture.command_tree()
    assert len(tree) > 15
    assert capture.coverage_problems(tree) == []


def test_a_command_without_an_example_is_named() -> None:
    tree = [*capture.command_tree(), ("crd", "frobnicate", "Frobnicate a CRD.")]
    assert capture.coverage_problems(tree) == ["`bd crd frobnicate` has no example in docs/capture.py EXAMPLES"]


def test_every_command_has_a_committed_page_linked_from_the_index() -> None:
    index = (capture.PAGES / "index.md").read_text()
    for group, name, _ in capture.command_tree():
        page = capture.PAGES / capture.page_name(f"{group} {name}")
        assert page.is_file(), f"{page} is missing: run .venv/bin/python docs/capture.py"
        text = page.read_text()
        assert f"# bd {group} {name}" in text
        assert "$ bd " in text
        assert "Exit code: " in text
        assert f"]({page.name})" in index


def test_normalise_replaces_volatile_values_only() -> None:
    a = "2026-11-25 08:50:52,418 INFO started pid 4242 on 127.0.0.1:40573 after 17s in /tmp/bd-pg-x1y2\n"
    b = "2027-01-02T03:04:05Z INFO started pid 99 on 127.0.0.1:5 after 3s in /tmp/bd-pg-zz\n"
    assert capture.normalise(a) == capture.normalise(b)
    assert capture.normalise(a) != capture.normalise(a.replace("started", "stopped"))
    host = "3f2b5a9c-1d2e-4f50-8a6b-0c1d2e3f4a5b"
    assert capture.normalise(f"id {host}  ok") == "id <uuid> ok\n"


def test_optional_lines_are_left_out_only_where_declared() -> None:
    raced = "applying x\nwaiting for x to be Established\ncreated\n"
    calm = "applying x\ncreated\n"
    optional = (r"^waiting for \S+ to be Established$",)
    assert capture.normalise(raced, optional=optional) == capture.normalise(calm, optional=optional)
    assert capture.normalise(raced) != capture.normalise(calm)
    crd_install = capture.page_volatile("crd-install.md")[1]
    assert crd_install
    assert capture.page_volatile("crd-show.md") == ((), ())


def test_compare_reports_drift_as_a_unified_diff(tmp_path: Path) -> None:
    committed, fresh = tmp_path / "committed", tmp_path / "fresh"
    committed.mkdir()
    fresh.mkdir()
    (committed / "crd-show.md").write_text("$ bd crd show\nkind: CustomResourceDefinition\npid 12\n")
    (fresh / "crd-show.md").write_text("$ bd crd show\nkind: CustomResourceDefinition\npid 13\n")
    assert capture.compare(committed, fresh) == ""
    (fresh / "crd-show.md").write_text("$ bd crd show\nkind: Database\npid 13\n")
    (fresh / "crd-new.md").write_text("# bd crd new\n")
    diff = capture.compare(committed, fresh)
    assert "-kind: CustomResourceDefinition\n+kind: Database\n" in diff
    assert "+++ docs/commands/crd-new.md (this run)" in diff


def test_outputs_marked_machine_dependent_are_not_compared(tmp_path: Path) -> None:
    page = "```console\n$ bd airflow procs\n{}\n```\n\nExit code: 0 (output not compared by --check)\n"
    committed, fresh = tmp_path / "c", tmp_path / "f"
    committed.mkdir()
    fresh.mkdir()
    (committed / "airflow-procs.md").write_text(page.format("no Airflow processes"))
    (fresh / "airflow-procs.md").write_text(page.format("PID PPID ROLE\n77 1 scheduler"))
    assert capture.compare(committed, fresh) == ""
    (fresh / "airflow-procs.md").write_text(page.format("x").replace("Exit code: 0", "Exit code: 1"))
    assert capture.compare(committed, fresh) != ""


@pytest.mark.kube
@pytest.mark.cassandra
@pytest.mark.postgres
@pytest.mark.airflow_schema
@pytest.mark.slow
def test_committed_pages_match_a_fresh_capture() -> None:
    proc = run([sys.executable, str(SCRIPT), "--check", "--cassandra-ip", "127.0.0.61"], timeout=900)
    assert proc.returncode == 0, f"{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"
    assert "docs/commands/ matches" in proc.stderr
