"""`bd sandbox` refuses clearly before starting anything: missing packages, bad options, busy ports."""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from braindump_cli.cli.app import app
from braindump_cli.errors import ExitCode


@pytest.fixture
def sandbox_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("BD_SANDBOX_DIR", str(tmp_path / "sandbox"))
    for var in ("BD_OUTPUT", "BD_DEBUG"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path / "sandbox"


def _bin_dir(tmp_path: Path, *tools: str) -> str:
    """A PATH holding only `tools` (symlinks to the real ones)."""
    d = tmp_path / "bin"
    d.mkdir(exist_ok=True)
    for tool in tools:
        real = shutil.which(tool)
        assert real is not None, f"{tool} is needed for this test"
        (d / tool).symlink_to(real)
    return str(d)


def _invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["sandbox", *args])
    return result.exit_code, result.stdout, result.stderr


def _nothing_started(directory: Path) -> None:
    assert not directory.exists()  # no state, no lock, no empty directory left behind


@pytest.mark.parametrize(
    ("args", "tools", "package"),
    [
        (["--kube"], (), "golang-go"),
        (["--cassandra", "1", "--cassandra-ip", "127.0.0.51"], (), "openjdk-17-jdk-headless"),
        (["--cassandra", "1", "--cassandra-ip", "127.0.0.51"], ("java",), "maven"),
    ],
)
def test_a_missing_toolchain_names_the_debian_package(
    sandbox_env: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    tools: tuple[str, ...],
    package: str,
) -> None:
    monkeypatch.setenv("PATH", _bin_dir(tmp_path, *tools))
    monkeypatch.setenv("BD_CACHE_DIR", str(tmp_path / "empty-cache"))  # nothing built or downloaded yet
    code, out, err = _invoke("up", *args)
    assert code == ExitCode.USAGE, err
    assert out == ""
    assert f"apt-get install {package}" in err
    _nothing_started(sandbox_env)


def test_missing_postgresql_names_the_debian_package(sandbox_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BD_PG_BIN", "/nonexistent/postgresql/bin")
    code, _, err = _invoke("up", "--airflow")
    assert code == ExitCode.USAGE
    assert "apt-get install postgresql" in err
    _nothing_started(sandbox_env)


def test_the_first_failing_check_stops_everything(sandbox_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """kube's tools are fine here, PostgreSQL's are not: kube must not be started either."""
    monkeypatch.setenv("BD_PG_BIN", "/nonexistent/postgresql/bin")
    code, _, err = _invoke("up", "--kube", "--airflow")
    assert code == ExitCode.USAGE, err
    _nothing_started(sandbox_env)


@pytest.mark.parametrize("ip", ["10.0.0.1", "127.0.1.5", "not-an-ip", "127.0.0.250"])
def test_cassandra_nodes_must_live_on_loopback(sandbox_env: Path, ip: str) -> None:
    code, _, err = _invoke("up", "--cassandra", "3", "--cassandra-ip", ip)
    assert code == ExitCode.USAGE
    assert "--cassandra-ip" in err
    _nothing_started(sandbox_env)


def test_node_count_is_bounded(sandbox_env: Path) -> None:
    code, _, err = _invoke("up", "--cassandra", "0")
    assert code == ExitCode.USAGE
    assert "--cassandra" in err
    _nothing_started(sandbox_env)


def test_a_busy_cql_port_is_reported_before_anything_starts(sandbox_env: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.52", 9042))
        s.listen()
        code, _, err = _invoke("up", "--cassandra", "1", "--cassandra-ip", "127.0.0.52")
    assert code == ExitCode.USAGE, err
    assert "127.0.0.52:9042 is already in use" in err
    assert "--cassandra-ip" in err  # the hint says how to move the nodes
    _nothing_started(sandbox_env)


def test_without_a_sandbox_status_is_clean_env_is_not_found_down_is_a_no_op(sandbox_env: Path) -> None:
    code, out, _ = _invoke("status", "-o", "json")
    assert code == 0
    report = json.loads(out)
    assert report["schema_version"] == 1
    assert [(c["name"], c["state"]) for c in report["components"]] == [
        ("kube", "not started"),
        ("cassandra", "not started"),
        ("airflow", "not started"),
    ]
    code, out, err = _invoke("env")
    assert (code, out) == (ExitCode.NOT_FOUND, "")
    assert "bd sandbox up" in err
    code, out, _ = _invoke("down", "-o", "json")
    assert code == 0
    assert json.loads(out)["processes"] == []
    assert not sandbox_env.exists()


def test_a_foreign_state_file_is_refused_not_acted_on(sandbox_env: Path) -> None:
    sandbox_env.mkdir(parents=True)
    (sandbox_env / "state.json").write_text("[1, 2, 3]")
    code, _, err = _invoke("down")
    assert code == ExitCode.ERROR
    assert "not a bd sandbox state file" in err
    assert (sandbox_env / "state.json").read_text() == "[1, 2, 3]"
