"""confirm(): `--yes` skips it, no terminal refuses, answers read from stdin, nothing written to stdout."""

from __future__ import annotations

import io
import sys

import pytest
import typer
from typer.testing import CliRunner

from braindump_cli.cli._options import confirm
from braindump_cli.errors import AbortedError, ExitCode, UsageError


class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_yes_skips_the_question(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))  # not a tty, and nothing to read
    confirm("Delete?", yes=True)
    assert capsys.readouterr() == ("", "")


def test_without_a_terminal_it_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("y\n"))
    with pytest.raises(UsageError, match="not a terminal") as info:
        confirm("Delete?", yes=False)
    assert info.value.hint == "pass --yes to run unattended"


@pytest.mark.parametrize(
    ("typed", "accepted"),
    [("y\n", True), ("YES\n", True), ("n\n", False), ("\n", False), ("", False), ("maybe\ny\n", True)],
)
def test_answers(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], typed: str, accepted: bool
) -> None:
    monkeypatch.setattr(sys, "stdin", FakeTty(typed))
    if accepted:
        confirm("Delete 3 rows?", yes=False)
    else:
        with pytest.raises(AbortedError, match="nothing was changed"):
            confirm("Delete 3 rows?", yes=False)
    out, err = capsys.readouterr()
    assert out == ""  # stdout stays data-only, even while prompting
    assert err.startswith("Delete 3 rows? [y/N]: ")


def test_through_the_cli(runner: CliRunner, test_app: typer.Typer) -> None:
    refused = runner.invoke(test_app, ["t", "delete"], input="y\n")  # CliRunner's stdin is no terminal
    assert refused.exit_code == ExitCode.USAGE
    assert refused.stdout == ""
    assert (
        refused.stderr
        == "bd: error: confirmation needed but stdin is not a terminal\nhint: pass --yes to run unattended\n"
    )
    done = runner.invoke(test_app, ["t", "delete", "--yes"])
    assert (done.exit_code, done.stdout) == (0, "deleted\n")
    short = runner.invoke(test_app, ["t", "delete", "-y"])
    assert short.exit_code == 0
