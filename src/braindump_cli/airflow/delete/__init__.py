"""`bd airflow delete-dag`: selection.py picks the rows from the live schema, statements.py renders the
SQL (and PostgreSQL's COPY), checks.py refuses what is unsafe, apply.py archives and deletes."""

from braindump_cli.airflow.delete.apply import default_archive_path, delete_dag, plan_dag_delete
from braindump_cli.airflow.delete.result import DeleteResult

__all__ = ["DeleteResult", "default_archive_path", "delete_dag", "plan_dag_delete"]
