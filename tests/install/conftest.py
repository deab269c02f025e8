"""bd installed as users install it: the wheel built from this tree, in a fresh venv, no extras.

The venv is built once per session (pip's own cache makes a second run cheap; a cold CI machine
fetches from PyPI). Nothing here may skip: a wheel that does not build or install fails the run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# Run inside the installed venv: the command tree as the installed app builds it (groups are lazy, so
# listing a group's commands imports its module, which proves the wheel ships it).
TREE_SCRIPT = """
import json, typer, typer.core, typer.main
from braindump_cli.cli.app import app
root = typer.main.get_command(app)
ctx = typer.Context(root, info_name="bd")
tree = {}
for name in root.list_commands(ctx):
    group = root.get_command(ctx, name)
    assert isinstance(group, typer.core.TyperGroup), name
    tree[name] = group.list_commands(typer.Context(group, info_name=name, parent=ctx))
print(json.dumps(tree))
"""


@dataclass(frozen=True)
class Installed:
    venv: Path
    workdir: Path  # cwd of every run: outside the source tree, so `import braindump_cli` finds the wheel

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def bd(self) -> Path:
        return self.venv / "bin" / "bd"

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        drop = ("BD_", "PYTHON", "VIRTUAL_ENV", "KUBECONFIG", "AIRFLOW")
        env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
        if "BD_CACHE_DIR" in os.environ:  # where the provisioned kube binaries are
            env["BD_CACHE_DIR"] = os.environ["BD_CACHE_DIR"]
        env["PATH"] = f"{self.venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
        env.update(extra or {})
        return env

    def run(
        self, argv: Sequence[str], *, env: dict[str, str] | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            list(argv),
            capture_output=True,
            text=True,
            env=self.env(env),
            cwd=self.workdir,
            timeout=timeout,
            check=False,
        )

    def bd_run(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return self.run([str(self.bd), *args], env=env, timeout=timeout)

    def command_tree(self) -> dict[str, list[str]]:
        proc = self.run([str(self.python), "-c", TREE_SCRIPT])
        assert proc.returncode == 0, proc.stderr
        tree: dict[str, list[str]] = json.loads(proc.stdout)
        return tree


def _step(what: str, argv: list[str], *, cwd: Path) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=cwd, timeout=1800, check=False)
    if proc.returncode != 0:
        pytest.fail(f"{what} failed (exit {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    root = tmp_path_factory.mktemp("installed")
    wheels = root / "wheels"
    # `pip wheel` builds through the PEP 517 backend in an isolated env, as `pip install braindump-cli` would.
    _step(
        "building the wheel",
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(wheels), str(REPO)],
        cwd=root,
    )
    built = sorted(wheels.glob("braindump_cli-*.whl"))
    assert len(built) == 1, built
    venv = root / "venv"
    _step("creating the venv", [sys.executable, "-m", "venv", str(venv)], cwd=root)
    _step("installing the wheel", [str(venv / "bin" / "python"), "-m", "pip", "install", str(built[0])], cwd=root)
    workdir = root / "work"
    workdir.mkdir()
    return Installed(venv=venv, workdir=workdir)
