"""The airflow recipe library: plain typed Python that returns data; no CLI imports."""
