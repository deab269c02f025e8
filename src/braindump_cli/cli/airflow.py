"""`bd airflow` commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="airflow commands.", no_args_is_help=True, rich_markup_mode=None)


# doctor, stale-dags, procs, check-db live in their own module (issue 3, parts 2-4).
from braindump_cli.cli import _airflow_diagnose  # noqa: E402

_airflow_diagnose.register(app)

# delete-dag, restore-dag (issue 3, part 1).
from braindump_cli.cli import _airflow_delete  # noqa: E402

_airflow_delete.register(app)

# prune (issue 11).
from braindump_cli.cli import _airflow_prune  # noqa: E402

_airflow_prune.register(app)
