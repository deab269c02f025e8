"""`make demo` (the README's first command): the tour runs real bd commands and fails loudly."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from braindump_cli import demo
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


@pytest.mark.airflow_schema
@pytest.mark.slow
def test_the_real_tour() -> None:
    proc = run([sys.executable, "-m", "braindump_cli.demo"], timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "FAILED" not in proc.stderr
    assert "skipped" not in proc.stderr, "every step of the tour must exist in this build"
    # bd found the throwaway DB by Airflow's embedded default, with no configuration at all
    assert "default ($AIRFLOW_HOME/airflow.db)" in proc.stdout
    for line in ("$ bd airflow check-db", "$ bd airflow delete-dag demo_etl --dry-run", "(exit code 3, as expected)"):
        assert line in proc.stdout
    assert '"dry_run": true' in proc.stdout
