"""`bd --help`, `bd <group> --help`, `bd <group> <command> --help` and `bd --version` import no heavy client.

Each invocation runs in a fresh interpreter that calls bd's real entry point and then reports
`sys.modules`. The list of commands comes from the live command tree, so commands added later
are checked too: a module-level `import sqlalchemy` in any cli module fails this test.
"""

from __future__ import annotations

import json
import sys

import pytest

from tests.core.conftest import command_tree, group_names, run

HEAVY = ("kubernetes", "kopf", "cassandra", "sqlalchemy", "psycopg2", "pymysql", "airflow")

PROBE = """
import json, sys
args, heavy_names = json.loads(sys.argv[1]), set(json.loads(sys.argv[2]))
sys.argv = ["bd", *args]
from braindump_cli.cli.app import main
try:
    main()
except SystemExit as e:
    code = e.code
else:
    code = 0
heavy = sorted({m.split(".")[0] for m in sys.modules} & heavy_names)
groups = sorted(m.split(".")[2] for m in sys.modules if m.startswith("braindump_cli.cli.") and m.count(".") == 2)
report = {"code": code, "heavy": heavy, "groups": groups, "pydantic": "pydantic" in sys.modules}
sys.stderr.write("\\nBD-PROBE " + json.dumps(report) + "\\n")
"""


def _invocations() -> list[list[str]]:
    out = [["--help"], ["--version"], *([name, "--help"] for name in group_names())]
    out.extend([group, name, "--help"] for group, name, _ in command_tree())
    return out


@pytest.mark.parametrize("argv", _invocations(), ids=" ".join)
def test_no_heavy_imports(argv: list[str]) -> None:
    proc = run([sys.executable, "-c", PROBE, json.dumps(argv), json.dumps(HEAVY)])
    probe = proc.stderr.rpartition("BD-PROBE ")[2]
    assert probe, proc.stderr
    report = json.loads(probe)
    assert report["code"] in (0, None), proc.stderr
    assert proc.stdout.strip(), "help or version went missing from stdout"
    assert report["heavy"] == [], f"`bd {' '.join(argv)}` imported {report['heavy']}: import them inside functions"


def _probe(argv: list[str]) -> dict[str, object]:
    proc = run([sys.executable, "-c", PROBE, json.dumps(argv), json.dumps(HEAVY)])
    report: dict[str, object] = json.loads(proc.stderr.rpartition("BD-PROBE ")[2])
    return report


CORE_MODULES = {"_errors", "output", "app"}


@pytest.mark.parametrize("argv", [["--help"], ["--version"]], ids=" ".join)
def test_root_help_and_version_load_no_group_and_no_pydantic(argv: list[str]) -> None:
    """Listing the groups reads the table in cli/app.py; no group module, no validator machinery."""
    report = _probe(argv)
    assert set(report["groups"]) <= CORE_MODULES, report  # type: ignore[arg-type]
    assert report["pydantic"] is False


@pytest.mark.parametrize("group", group_names())
def test_group_help_loads_only_that_group(group: str) -> None:
    report = _probe([group, "--help"])
    loaded = set(report["groups"]) - CORE_MODULES  # type: ignore[arg-type]
    assert group in loaded
    # a group may import its own private helper modules (cli/_<group>_*.py), never another group
    assert loaded - {group} <= {m for m in loaded if m.startswith("_")}, loaded
    assert report["pydantic"] is False, "a root/group option with a None default makes Typer import pydantic"


def test_the_probe_detects_a_heavy_import() -> None:
    """The check above is not vacuous: the same probe sees sqlalchemy when something imports it."""
    probe = PROBE.replace(
        "from braindump_cli.cli.app import main", "import sqlalchemy\nfrom braindump_cli.cli.app import main"
    )
    proc = run([sys.executable, "-c", probe, json.dumps(["--version"]), json.dumps(HEAVY)])
    assert json.loads(proc.stderr.rpartition("BD-PROBE ")[2])["heavy"] == ["sqlalchemy"]
