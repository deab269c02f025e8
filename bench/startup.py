"""Startup: `bd --help`, `bd --version`, `bd airflow --help` against a bare `import typer` process
(the floor for any Typer CLI) and `kubectl version --client` (a compiled CLI people run daily).

All candidates run round-robin in the same run, so machine noise hits them alike.
Run: `.venv/bin/python -m bench startup`.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from bench._timing import interleaved, report

REPEAT = 30
GOAL_RATIO = 1.5


def _runner(argv: list[str]) -> Callable[[], None]:
    def run() -> None:
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    return run


def main() -> str:
    python = sys.executable
    bd = str(Path(python).with_name("bd"))
    candidates = {
        'python -c "import typer"': _runner([python, "-c", "import typer"]),
        "bd --help": _runner([bd, "--help"]),
        "bd --version": _runner([bd, "--version"]),
        "bd airflow --help": _runner([bd, "airflow", "--help"]),
    }
    kubectl = shutil.which("kubectl")
    if kubectl:
        candidates["kubectl version --client"] = _runner([kubectl, "version", "--client"])
    samples = interleaved(candidates, repeat=REPEAT, warmup=2)
    base = samples[0].median
    bd_help = next(s for s in samples if s.label == "bd --help").median
    ratio = bd_help / base
    verdict = "met" if ratio <= GOAL_RATIO else "NOT met"
    text = report(
        "Startup",
        samples,
        baseline='python -c "import typer"',
        goal=f"`bd --help` <= {GOAL_RATIO}x the bare `import typer` process: {ratio:.2f}x, {verdict}.",
    )
    return text + f"\nCommand: `.venv/bin/python -m bench startup` ({REPEAT} interleaved runs each, medians).\n"


if __name__ == "__main__":
    main()
