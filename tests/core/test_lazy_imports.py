"""`bd --help`, `bd <group> --help`, `bd <group> <command> --help` and `bd --version` import no heavy client.

Each invocation runs in a fresh interpreter that calls bd's real entry point and then reports
`sys.modules`. The list of commands comes from the live command tree, so commands added later
are checked too: a module-level `import sqlalchemy` in any cli module fails this test.
"""

from __future__ import annotations

import json
import sys

import pytest
import typer.main

from braindump_cli.cli.app import app
from tests.core.conftest import run

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
sys.stderr.write("\\nBD-PROBE " + json.dumps({"code": code, "heavy": heavy}) + "\\n")
"""


def _invocations() -> list[list[str]]:
    root = typer.main.get_command(app)
    out = [["--help"], ["--version"]]
    for name, group in sorted(getattr(root, "commands", {}).items()):
        out.append([name, "--help"])
        out.extend([name, sub, "--help"] for sub in sorted(getattr(group, "commands", {})))
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


def test_the_probe_detects_a_heavy_import() -> None:
    """The check above is not vacuous: the same probe sees sqlalchemy when something imports it."""
    probe = PROBE.replace(
        "from braindump_cli.cli.app import main", "import sqlalchemy\nfrom braindump_cli.cli.app import main"
    )
    proc = run([sys.executable, "-c", probe, json.dumps(["--version"]), json.dumps(HEAVY)])
    assert json.loads(proc.stderr.rpartition("BD-PROBE ")[2])["heavy"] == ["sqlalchemy"]
