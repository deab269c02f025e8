"""`bd sandbox` against the real servers it starts: idempotent up, restart of what died, env, down.

One sandbox per module (the whole Kubernetes control plane with one KWOK Node, PostgreSQL with
the Airflow 3.3.2 schema and a one-node Cassandra on 127.0.0.41,
away from the Cassandra tests' 127.0.0.1..). The first `up`
runs as a separate `bd` process, as users run it, so the servers must outlive it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from braindump_cli.cli.app import app
from braindump_cli.errors import ExitCode
from tests.helpers import server_unavailable

pytestmark = [
    pytest.mark.kube,
    pytest.mark.cassandra,
    pytest.mark.postgres,
    pytest.mark.airflow_schema,
    pytest.mark.slow,
]

BD = Path(sys.executable).with_name("bd")
CASSANDRA_IP = "127.0.0.41"
UP_ARGS = ["up", "--kube", "--airflow", "--cassandra", "1", "--cassandra-ip", CASSANDRA_IP]


def _env(directory: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BD_", "KUBECONFIG", "AIRFLOW"))}
    env["BD_SANDBOX_DIR"] = str(directory)
    if "BD_CACHE_DIR" in os.environ:
        env["BD_CACHE_DIR"] = os.environ["BD_CACHE_DIR"]
    return env


def _bd(directory: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BD), "sandbox", *args], env=_env(directory), capture_output=True, text=True, timeout=timeout, check=False
    )


def _cli(directory: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> Any:
    monkeypatch.setenv("BD_SANDBOX_DIR", str(directory))
    for var in ("BD_OUTPUT", "BD_DEBUG"):
        monkeypatch.delenv(var, raising=False)
    return CliRunner().invoke(app, ["sandbox", *args])


def _state(directory: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((directory / "state.json").read_text())
    return data


def _recorded(directory: Path) -> tuple[list[int], list[tuple[str, int]], list[str]]:
    """(pids, ports, data paths) the state file records."""
    comps = _state(directory)["components"].values()
    pids = [p["pid"] for c in comps for p in c["processes"]]
    ports = [(h, int(p)) for c in comps for h, p in c["ports"]]
    data = [d for c in comps for d in c["data"]]
    return pids, ports, data


def _own_processes(paths: list[str]) -> set[int]:
    """Live processes (not zombies) whose command line names one of the sandbox's directories."""
    out = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and any(p in cmdline for p in paths):
            out.add(int(entry.name))
    return out


def _listening(host: str, port: int) -> bool:
    """Independent of the code under test: look for the socket in /proc/net/tcp and tcp6 by hex."""
    a, b, c, d = (int(x) for x in host.split("."))
    v4 = f"{d:02X}{c:02X}{b:02X}{a:02X}:{port:04X}"  # little-endian word, as the kernel prints it
    v6_mapped = f"0000000000000000FFFF0000{v4}"
    v4_any, v6_any = f"00000000:{port:04X}", f"{'0' * 32}:{port:04X}"
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[1] in (v4, v6_mapped, v4_any, v6_any):
                return True
    return False


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    directory = tmp_path_factory.mktemp("sandbox") / "state"
    proc = _bd(directory, *UP_ARGS)
    if proc.returncode != 0:
        _bd(directory, "down")
        server_unavailable("bd sandbox", proc.stderr[-3000:])
    try:
        yield directory
    finally:
        if (directory / "state.json").exists():
            pids, _, _ = _recorded(directory)
            _bd(directory, "down")
            for pid in pids:  # a safety net if `down` itself is broken: never leave servers behind
                if _alive(pid):
                    os.kill(pid, signal.SIGKILL)


def test_first_up_started_everything_and_it_outlived_bd(sandbox: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = _cli(sandbox, monkeypatch, "status", "-o", "json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    states = {c["name"]: (c["state"], c["running"], c["ready"]) for c in report["components"]}
    assert states == {n: ("running", True, True) for n in ("kube", "cassandra", "airflow")}
    kube = next(c for c in report["components"] if c["name"] == "kube")
    assert [p["name"] for p in kube["processes"]] == [
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kwok",
    ]
    assert "kube-controller-manager /healthz ok" in kube["detail"]
    assert "kube-scheduler /healthz ok" in kube["detail"]
    assert "kwok: 1/1 Node(s) Ready" in kube["detail"]
    pids, ports, _ = _recorded(sandbox)
    assert len(pids) == 7  # the 5 of kube, one Cassandra node, the postmaster
    assert all(_alive(pid) for pid in pids)
    assert all(_listening(h, p) for h, p in ports), [hp for hp in ports if not _listening(*hp)]
    assert (CASSANDRA_IP, 9042) in ports


def test_up_again_is_idempotent(sandbox: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pids_before, _, data = _recorded(sandbox)
    paths = [str(sandbox), *data]
    own_before = _own_processes(paths)
    assert set(pids_before) <= own_before

    result = _cli(sandbox, monkeypatch, *UP_ARGS, "-o", "json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert {c["name"]: c["action"] for c in report["components"]} == {
        n: "already running" for n in ("kube", "cassandra", "airflow")
    }
    assert result.stderr.count("already running") == 3
    assert _recorded(sandbox)[0] == pids_before
    assert _own_processes(paths) == own_before  # no new process of its own

    # and a plain `up` (everything, as recorded) is a no-op too
    result = _cli(sandbox, monkeypatch, "up", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert {c["action"] for c in json.loads(result.stdout)["components"]} == {"already running"}
    assert _recorded(sandbox)[0] == pids_before


def test_up_cannot_silently_reshape_the_cassandra_cluster(sandbox: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = _cli(sandbox, monkeypatch, "up", "--cassandra", "2")
    assert result.exit_code == ExitCode.USAGE
    assert "bd sandbox down" in result.stderr


def test_env_evals_in_bash_and_points_bd_at_the_servers(sandbox: Path) -> None:
    def in_bash(command: str) -> Any:
        script = f'set -e; eval "$("{BD}" sandbox env)"; {command}'
        proc = subprocess.run(
            ["bash", "-c", script], env=_env(sandbox), capture_output=True, text=True, timeout=300, check=False
        )
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    exported = in_bash(
        'printf \'{"k": "%s", "c": "%s", "a": "%s"}\' "$KUBECONFIG" "$BD_CASSANDRA_HOSTS" "$BD_AIRFLOW_CONN"'
    )
    assert exported["k"] == str(sandbox / "kube" / "admin.kubeconfig")
    assert exported["c"] == CASSANDRA_IP
    assert exported["a"].startswith("postgresql+psycopg2://bd@127.0.0.1:")
    assert ":" not in exported["a"].split("//", 1)[1].split("@", 1)[0]  # no password in the URL

    crd = in_bash(f'"{BD}" crd install -o json')
    assert [c["established"] for c in crd["crds"]] == [True]
    ring = in_bash(f'"{BD}" cassandra ring -o json')
    assert [n["address"] for n in ring] == [CASSANDRA_IP]
    db = in_bash(f'"{BD}" airflow check-db -o json')
    assert db["dialect"].startswith("postgresql")
    assert db["tables"] >= 50
    assert db["revision"]


def test_up_restarts_what_died_on_its_kept_data(sandbox: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kube = _cli(sandbox, monkeypatch, "status", "-o", "json")
    revision_before = _airflow_detail(json.loads(kube.stdout))
    state = _state(sandbox)["components"]
    apiserver = next(p["pid"] for p in state["kube"]["processes"] if p["name"] == "kube-apiserver")
    postmaster = state["airflow"]["processes"][0]["pid"]
    cassandra_pids = [p["pid"] for p in state["cassandra"]["processes"]]
    for pid in (apiserver, postmaster):
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while (_alive(apiserver) or _alive(postmaster)) and time.monotonic() < deadline:
        time.sleep(0.2)

    result = _cli(sandbox, monkeypatch, "status", "-o", "json")
    assert result.exit_code == ExitCode.CHECK_FAILED
    states = {c["name"]: c["state"] for c in json.loads(result.stdout)["components"]}
    assert states == {"kube": "dead", "cassandra": "running", "airflow": "dead"}

    result = _cli(sandbox, monkeypatch, *UP_ARGS, "-o", "json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert {c["name"]: c["action"] for c in report["components"]} == {
        "kube": "restarted",
        "cassandra": "already running",
        "airflow": "restarted",
    }
    assert [p["pid"] for p in _state(sandbox)["components"]["cassandra"]["processes"]] == cassandra_pids
    assert _airflow_detail(report) == revision_before  # same database, same schema
    # the survivor (etcd) was stopped by its recorded pid and started again on the same data:
    # the CRD installed by the env test is still there
    monkeypatch.setenv("KUBECONFIG", str(sandbox / "kube" / "admin.kubeconfig"))
    crd = CliRunner().invoke(app, ["crd", "status", "-o", "json"])
    assert crd.exit_code == 0, crd.stderr


def _airflow_detail(report: dict[str, Any]) -> str:
    detail: str = next(c["detail"] for c in report["components"] if c["name"] == "airflow")
    assert "alembic revision" in detail
    return detail


def test_down_keep_then_up_resumes(sandbox: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pids, _, data = _recorded(sandbox)
    result = _cli(sandbox, monkeypatch, "down", "--keep", "-o", "json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert sorted(p["pid"] for p in report["processes"]) == sorted(pids)
    assert all(Path(d).is_dir() for d in data)
    assert [pid for pid in pids if not _wait_gone(pid)] == []
    status = _cli(sandbox, monkeypatch, "status", "-o", "json")
    assert status.exit_code == 0  # stopped on purpose is not a failure
    assert {c["state"] for c in json.loads(status.stdout)["components"]} == {"stopped"}

    result = _cli(sandbox, monkeypatch, "up", "-o", "json")  # recorded shape: 1 node on CASSANDRA_IP
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert {c["name"]: (c["action"], c["state"]) for c in report["components"]} == {
        n: ("started", "running") for n in ("kube", "cassandra", "airflow")
    }
    assert _recorded(sandbox)[2] == data


def _wait_gone(pid: int, timeout: float = 15) -> bool:
    """True once `pid` has no live process (its parent may take a moment to reap it)."""
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not _alive(pid)


def test_down_leaves_no_process_and_no_listening_port(sandbox: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pids, ports, data = _recorded(sandbox)
    paths = [str(sandbox), *data]
    assert _own_processes(paths)
    assert all(_listening(h, p) for h, p in ports)

    result = _cli(sandbox, monkeypatch, "down", "-o", "json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert sorted(p["pid"] for p in report["processes"]) == sorted(pids)
    assert all(p["was_running"] for p in report["processes"])
    assert [pid for pid in pids if not _wait_gone(pid)] == [], "a recorded pid survived bd sandbox down"
    assert _own_processes(paths) == set()
    assert [hp for hp in ports if _listening(*hp)] == []
    assert not any(Path(d).exists() for d in data)
    assert not sandbox.exists()
