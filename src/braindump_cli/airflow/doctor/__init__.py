"""`bd airflow doctor`: why Airflow does not see the DAG you just fixed (the report is in report.py)."""

from braindump_cli.airflow.doctor.report import DoctorReport, doctor, existing_dags_folder

__all__ = ["DoctorReport", "doctor", "existing_dags_folder"]
