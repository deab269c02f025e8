"""Every command works from `pip install braindump-cli` (the wheel, no extras, no editable install).

The command tree is read from the installed app, so a new command is covered without editing this
file; a new group must add its error paths to GROUP_FAILURES below (a test says so).
"""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

import pytest

from tests.core.conftest import group_names
from tests.install.conftest import Installed

# The first test also pays for the session's wheel build and venv install (minutes on a cold CI machine).
pytestmark = [pytest.mark.install, pytest.mark.slow, pytest.mark.timeout(1800)]

# A kubeconfig for an API server nobody listens on (port 1 on loopback refuses at once).
REFUSING_KUBECONFIG = textwrap.dedent(
    """\
    apiVersion: v1
    kind: Config
    clusters:
    - name: refusing
      cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}
    users:
    - name: someone
      user: {token: not-a-real-token}
    contexts:
    - name: refusing
      context: {cluster: refusing, user: someone}
    current-context: refusing
    """
)

# group -> (argv that reaches a refusing endpoint, argv with input bd must refuse). `{kubeconfig}`
# is replaced by the refusing kubeconfig's path. The sandbox reaches no endpoint of its own (it
# starts them): its real path is test_sandbox_kube_up_status_down.
GROUP_FAILURES: dict[str, tuple[list[str] | None, list[str]]] = {
    "crd": (
        ["crd", "status", "--kubeconfig", "{kubeconfig}", "--timeout", "3"],
        ["crd", "install", "--group", "Not_A_Group", "--kubeconfig", "{kubeconfig}"],
    ),
    "operator": (
        ["operator", "run", "--kubeconfig", "{kubeconfig}"],
        ["operator", "manifests", "--image", "not a valid image"],
    ),
    "cassandra": (
        ["cassandra", "ring", "--hosts", "127.0.0.1", "--port", "1", "--timeout", "3"],
        ["cassandra", "ring", "--hosts", "127.0.0.1", "--port", "70000"],
    ),
    "airflow": (
        ["airflow", "check-db", "--conn", "postgresql://airflow@127.0.0.1:1/airflow", "--timeout", "3"],
        ["airflow", "delete-dag", "some_dag", "--conn", "not-a-url", "--dry-run"],
    ),
    "sandbox": (None, ["sandbox", "up", "--cassandra-ip", "not-an-ip"]),
}


# What the package must not ship: the demo (scripts/demo.py), the MariaDB harness (tests/airflow/mariadb.py) and
# the synthetic ring generator (tests/cassandra/synthetic.py).
HARNESS_PROBE = (
    "import importlib.util, json; "
    "print(json.dumps([m for m in ('braindump_cli.demo', 'braindump_cli.sandbox.servers.mariadb', "
    "'braindump_cli.cassandra.synthetic') "
    "if importlib.util.find_spec(m)]))"
)


def _argv(template: list[str], kubeconfig: Path) -> list[str]:
    return [arg.replace("{kubeconfig}", str(kubeconfig)) for arg in template]


def _assert_one_error_line(proc: subprocess.CompletedProcess[str]) -> None:
    """`bd: error: ...` once, optionally one `hint:` line, nothing else on stderr and nothing on stdout."""
    lines = proc.stderr.splitlines()
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "unexpected" not in proc.stderr, proc.stderr
    assert lines, "no error message on stderr"
    assert lines[0].startswith("bd: error: "), proc.stderr
    assert len(lines) == 1 or (len(lines) == 2 and lines[1].startswith("hint: ")), proc.stderr
    assert proc.stdout == "", proc.stdout


@pytest.fixture(scope="module")
def kubeconfig(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("kube") / "refusing.kubeconfig"
    path.write_text(REFUSING_KUBECONFIG)
    return path


def test_bd_runs_from_the_wheel_without_dev_tools(installed: Installed) -> None:
    probe = (
        "import importlib.util, json, braindump_cli; "
        "print(json.dumps([braindump_cli.__file__, "
        "[m for m in ('pytest', 'ruff', 'mypy', 'importlinter') if importlib.util.find_spec(m)]]))"
    )
    proc = installed.run([str(installed.python), "-c", probe])
    assert proc.returncode == 0, proc.stderr
    module_file, dev_tools = json.loads(proc.stdout)
    assert Path(module_file).is_relative_to(installed.venv), f"imported from {module_file}, not the installed wheel"
    assert dev_tools == [], f"the plain install pulled in dev tools: {dev_tools}"
    harnesses = installed.run([str(installed.python), "-c", HARNESS_PROBE])
    assert harnesses.returncode == 0, harnesses.stderr
    assert json.loads(harnesses.stdout) == [], "test harnesses or the demo ship in the wheel"
    shown = installed.run([str(installed.python), "-m", "pip", "show", "braindump-cli"])
    assert shown.returncode == 0, shown.stderr
    assert "Editable project location" not in shown.stdout


def test_the_installed_tree_is_the_source_tree(installed: Installed) -> None:
    tree = installed.command_tree()
    assert list(tree) == group_names()
    assert all(tree.values()), tree


def test_help_of_every_command(installed: Installed) -> None:
    tree = installed.command_tree()
    argvs = [[], *([g] for g in tree), *([g, c] for g, commands in tree.items() for c in commands)]
    failures = []
    for argv in argvs:
        proc = installed.bd_run(*argv, "--help")
        if proc.returncode != 0 or "Usage: bd" not in proc.stdout or proc.stderr:
            failures.append(f"bd {' '.join(argv)} --help: exit {proc.returncode}\n{proc.stderr[-2000:]}")
    assert not failures, "\n".join(failures)
    assert len(argvs) > len(tree) + 1


def test_every_group_has_its_error_paths_listed(installed: Installed) -> None:
    assert set(installed.command_tree()) == set(GROUP_FAILURES)


UNREACHABLE = [(g, argv) for g, (argv, _) in GROUP_FAILURES.items() if argv is not None]
BAD_INPUT = [(g, argv) for g, (_, argv) in GROUP_FAILURES.items()]


@pytest.mark.parametrize(("group", "argv"), UNREACHABLE, ids=[g for g, _ in UNREACHABLE])
def test_an_unreachable_endpoint_exits_5(installed: Installed, kubeconfig: Path, group: str, argv: list[str]) -> None:
    proc = installed.bd_run(*_argv(argv, kubeconfig))
    assert proc.returncode == 5, f"{group}: exit {proc.returncode}\n{proc.stderr}"
    _assert_one_error_line(proc)


@pytest.mark.parametrize(("group", "argv"), BAD_INPUT, ids=[g for g, _ in BAD_INPUT])
def test_bad_input_exits_2(installed: Installed, kubeconfig: Path, tmp_path: Path, group: str, argv: list[str]) -> None:
    proc = installed.bd_run(*_argv(argv, kubeconfig), env={"BD_SANDBOX_DIR": str(tmp_path / "sandbox")})
    assert proc.returncode == 2, f"{group}: exit {proc.returncode}\n{proc.stderr}"
    _assert_one_error_line(proc)


@pytest.mark.kube
def test_sandbox_kube_up_status_down(installed: Installed, tmp_path: Path) -> None:
    """The kube binaries come from the provisioned cache (`python -m braindump_cli.sandbox.servers.provision`)."""
    env = {"BD_SANDBOX_DIR": str(tmp_path / "sandbox")}
    up = installed.bd_run("sandbox", "up", "--kube", "-o", "json", env=env, timeout=900)
    try:
        assert up.returncode == 0, up.stderr
        assert "Traceback" not in up.stderr, up.stderr
        status = installed.bd_run("sandbox", "status", "-o", "json", env=env)
        assert status.returncode == 0, status.stderr
        states = {c["name"]: c["state"] for c in json.loads(status.stdout)["components"]}
        assert states["kube"] == "running", states
        kube = next(c for c in json.loads(status.stdout)["components"] if c["name"] == "kube")
        assert kube["endpoints"]["server"].startswith("https://127.0.0.1:"), kube
        exported = installed.bd_run("sandbox", "env", "-o", "json", env=env)
        assert exported.returncode == 0, exported.stderr
        # bd pointed at the sandbox by its own `env` output reaches it: the CRD is simply not installed.
        crd = installed.bd_run("crd", "status", "-o", "json", env={**env, **json.loads(exported.stdout)["variables"]})
        assert crd.returncode in (0, 3), crd.stderr
        assert "cannot reach" not in crd.stderr, crd.stderr
    finally:
        down = installed.bd_run("sandbox", "down", env=env, timeout=300)
    assert down.returncode == 0, down.stderr
    after = installed.bd_run("sandbox", "status", "-o", "json", env=env)
    assert after.returncode == 0, after.stderr
    assert {c["name"]: c["state"] for c in json.loads(after.stdout)["components"]}["kube"] == "not started"
