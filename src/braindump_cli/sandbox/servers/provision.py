"""Build or download everything the test suite's real servers need, with progress on stderr.

`make test` runs this before pytest so a slow first build shows its progress and a missing
toolchain fails with one clear line instead of inside a fixture. Every step is cached and
idempotent: a second run takes seconds.
"""

from __future__ import annotations

import importlib
import sys
import time
from collections.abc import Callable

# (label, module, function): each function takes `progress=` and returns once its artefacts exist.
STEPS: list[tuple[str, str, str]] = [
    ("kube-apiserver + etcd + kubectl", "braindump_cli.sandbox.servers.kube_build", "ensure_kube_binaries"),
    (
        "kube-controller-manager + kube-scheduler + kwok",
        "braindump_cli.sandbox.servers.kube_build",
        "ensure_control_plane_binaries",
    ),
    ("cassandra 5.0 jars", "braindump_cli.sandbox.servers.cassandra", "ensure_cassandra_jars"),
    ("apache-airflow 3.3.2 venv + schema", "braindump_cli.sandbox.servers.airflow_env", "provision_airflow_3"),
    ("apache-airflow 2.10.5 venv + schema", "braindump_cli.sandbox.servers.airflow_env", "provision_airflow_2"),
    ("apache-airflow MySQL/MariaDB drivers", "braindump_cli.sandbox.servers.airflow_env", "provision_airflow_mysql"),
]


def _progress(label: str) -> Callable[[str], None]:
    def report(message: str) -> None:
        print(f"provision [{label}]: {message}", file=sys.stderr, flush=True)

    return report


def main(argv: list[str] | None = None) -> int:
    wanted = set(argv if argv is not None else sys.argv[1:])
    failed = 0
    for label, module, func in STEPS:
        if wanted and not any(w in label for w in wanted):
            continue
        start = time.monotonic()
        try:
            getattr(importlib.import_module(module), func)(progress=_progress(label))
        except Exception as exc:  # report every failing step, then fail the run
            print(f"provision [{label}]: FAILED: {exc}", file=sys.stderr, flush=True)
            failed += 1
            continue
        print(f"provision [{label}]: ready ({time.monotonic() - start:.0f}s)", file=sys.stderr, flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
