"""`make demo` (the README's first command): the tour runs real bd commands and fails loudly."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from scripts import demo

from tests.core.conftest import run


def test_missing_commands_are_skipped_with_a_note(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(
        demo, "TOUR", [demo.Section("later", steps=(demo.Step(("no-such-group", "tour")), demo.Step(("--version",))))]
    )
    assert demo.main([]) == 0
    out, err = capsys.readouterr()
    assert "skipped `bd no-such-group tour`: not in this build of bd yet" in err
    assert "$ bd --version" in out


def test_a_step_with_the_wrong_exit_code_fails_the_demo(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = demo.Section("broken", steps=(demo.Step(("--no-such-flag",)), demo.Step(("--version",))))
    fine = demo.Section("fine", steps=(demo.Step(("--version",)),))
    monkeypatch.setattr(demo, "TOUR", [broken, fine])
    assert demo.main([]) == 1
    out, err = capsys.readouterr()
    assert "FAILED: `bd --no-such-flag` exited 2, expected 0" in err
    assert out.count("$ bd --version") == 1  # the broken section stopped; the next one still ran
    assert "the demo FAILED in: broken" in err


def test_a_failed_required_section_stops_the_tour(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    needed = demo.Section("servers", steps=(demo.Step(("--no-such-flag",), hint="try --other-flag"),), required=True)
    later = demo.Section("uses them", steps=(demo.Step(("--version",)),))
    monkeypatch.setattr(demo, "TOUR", [needed, later])
    assert demo.main([]) == 1
    out, err = capsys.readouterr()
    assert "try --other-flag" in err
    assert "the rest of the tour needs this section: stopping here" in err
    assert "$ bd --version" not in out


def test_a_failed_preparation_fails_the_demo(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def prepare(workdir: Path) -> tuple[dict[str, str], dict[str, str]]:
        raise RuntimeError("pip install failed")

    monkeypatch.setattr(
        demo, "TOUR", [demo.Section("needs setup", steps=(demo.Step(("--version",)),), prepare=prepare)]
    )
    assert demo.main([]) == 1
    assert "FAILED to prepare needs setup: pip install failed" in capsys.readouterr().err


@pytest.mark.kube
@pytest.mark.cassandra
@pytest.mark.postgres
@pytest.mark.airflow_schema
@pytest.mark.slow
def test_the_real_tour(tmp_path: Path) -> None:
    # its own sandbox, with Cassandra off 127.0.0.1..4 where bd's Cassandra tests may be running
    sandbox = tmp_path / "sandbox"
    proc = run(
        [sys.executable, "-m", "scripts.demo", "--cassandra-ip", "127.0.0.71"],
        env={"BD_SANDBOX_DIR": str(sandbox)},
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "FAILED" not in proc.stderr
    assert "skipped" not in proc.stderr, "every step of the tour must exist in this build"
    for line in (
        "$ bd sandbox up --kube --airflow --cassandra 3 --cassandra-ip 127.0.0.71",
        "did you mean",  # the blog's apiVersion typo, caught by bd crd check
        "$ bd operator run --standalone --namespace default",
        "statefulset.apps/my-database",  # a child the operator made, listed by kubectl
        "pod/my-database-0",  # made by the StatefulSet controller, run by KWOK
        "$ bd cassandra consistency shop",
        "UN  127.0.0.73",
        "$ bd airflow delete-dag example_etl --dry-run",  # a DAG `bd sandbox up` seeded
        "$ bd airflow restore-dag example_etl.jsonl.gz --yes",
        "$ bd sandbox down",
    ):
        assert line in proc.stdout, line
    assert proc.stdout.count("(exit code 4, as expected)") == 2  # crd check and the QUORUM gate
    assert "(exit code 3, as expected)" in proc.stdout
    assert '"dag_id": "example_etl"' in proc.stdout  # restored: stale-dags -o json lists it again
    assert not (sandbox / "state.json").exists(), "the tour ends with bd sandbox down"
    listed = proc.stdout[proc.stdout.index("$ kubectl get databases") :]
    assert re.search(r"pod/my-database-0\s+1/1\s+Running", listed), listed[:3000]
    assert re.search(r"job\.batch/my-database-init\s+Complete", listed), listed[:3000]
