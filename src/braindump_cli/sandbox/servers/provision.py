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
from concurrent.futures import ThreadPoolExecutor

# (label, module, function): each function takes `progress=` and returns once its artefacts exist.
# Two lanes run side by side: the Go builds keep both cores busy for most of a cold run, while the
# downloads (Maven, PyPI) mostly wait on the network; each lane runs its steps in order.
GO_BUILDS: list[tuple[str, str, str]] = [
    ("kube-apiserver + etcd + kubectl", "braindump_cli.sandbox.servers.kube_build", "ensure_kube_binaries"),
    (
        "kube-controller-manager + kube-scheduler + kwok",
        "braindump_cli.sandbox.servers.kube_build",
        "ensure_control_plane_binaries",
    ),
]
DOWNLOADS: list[tuple[str, str, str]] = [
    ("cassandra 5.0 jars", "braindump_cli.sandbox.servers.cassandra", "ensure_cassandra_jars"),
    ("apache-airflow 3.3.2 venv + schema", "braindump_cli.sandbox.servers.airflow_env", "provision_airflow_3"),
    ("apache-airflow 2.10.5 venv + schema", "braindump_cli.sandbox.servers.airflow_env", "provision_airflow_2"),
    ("apache-airflow MySQL/MariaDB drivers", "braindump_cli.sandbox.servers.airflow_env", "provision_airflow_mysql"),
]
STEPS = GO_BUILDS + DOWNLOADS


def _progress(label: str) -> Callable[[str], None]:
    def report(message: str) -> None:
        print(f"provision [{label}]: {message}", file=sys.stderr, flush=True)

    return report


Step = tuple[str, Callable[..., object]]


def _lane(steps: list[Step]) -> int:
    """Run the steps in order; report each failure and go on. Returns how many failed."""
    failed = 0
    for label, func in steps:
        start = time.monotonic()
        try:
            func(progress=_progress(label))
        except Exception as exc:  # report every failing step, then fail the run
            print(f"provision [{label}]: FAILED: {exc}", file=sys.stderr, flush=True)
            failed += 1
            continue
        print(f"provision [{label}]: ready ({time.monotonic() - start:.0f}s)", file=sys.stderr, flush=True)
    return failed


def _wanted(label: str, wanted: set[str]) -> bool:
    return not wanted or any(w in label for w in wanted)


def main(argv: list[str] | None = None) -> int:
    wanted = set(argv if argv is not None else sys.argv[1:])
    # imported here, one after another: two threads importing the same modules at once can each
    # see the other's half-initialised module
    lanes = [
        [
            (label, getattr(importlib.import_module(module), func))
            for label, module, func in steps
            if _wanted(label, wanted)
        ]
        for steps in (GO_BUILDS, DOWNLOADS)
    ]
    start = time.monotonic()
    with ThreadPoolExecutor(len(lanes), thread_name_prefix="provision") as pool:
        failed = sum(pool.map(_lane, lanes))
    print(f"provision: done in {time.monotonic() - start:.0f}s", file=sys.stderr, flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
