"""braindump-cli: operational recipes for Kubernetes, Cassandra and Airflow, safe to script."""

__version__ = "0.1.0"
