"""Operator throughput on the whole control plane: 200 Databases created at once; time until
every one is in phase Ready (its Pod Running and Ready through the StatefulSet controller, the
scheduler and KWOK, its init Job Complete through the Job controller), against a client loop that
creates the same Databases and children (the postgres engine's backup volume too) directly and
waits for the same readiness (every StatefulSet's Pod Ready, every init Job Complete). Same control
plane, alternating runs, a fresh namespace each; both wait by listing once a second.

Run: `.venv/bin/python -m bench operator`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench._timing import Sample, report
from braindump_cli.k8s.client import KubeApi
from braindump_cli.k8s.crd.shipped import database_crd
from braindump_cli.k8s.operator.builders import (
    DbRef,
    build_backup_claim,
    build_configmap,
    build_init_job,
    build_secret,
    build_service,
    build_statefulset,
    generate_password,
)
from braindump_cli.k8s.operator.model import OperatorConfig, parse_spec
from braindump_cli.k8s.operator.status import job_state
from braindump_cli.sandbox.servers.kube import KubeCluster
from braindump_cli.sandbox.servers.kube_plane import start_control_plane
from braindump_cli.settings import resolve_kube

COUNT = 200
REPEAT = 2
POLL = 1.0
DEADLINE = 900.0  # seconds one run may take before the benchmark gives up (not a measurement)
THREADS = 16
EXTRA: list[str] = []  # extra `bd operator run` flags (profiling)
GROUP = "/apis/stable.imaginedata.com/v1"
SPEC = {"name": "app", "port": 5432, "storage-size": "1Gi", "image": "postgres:16.1", "replicas": 1}
KINDS = ("StatefulSet", "Service", "ConfigMap", "Secret", "Job")


def _db(ns: str, name: str) -> dict[str, Any]:
    return {
        "apiVersion": "stable.imaginedata.com/v1",
        "kind": "Database",
        "metadata": {"name": name, "namespace": ns},
        "spec": SPEC,
    }


def _namespace(api: KubeApi, name: str) -> str:
    api.request(
        "POST", "/api/v1/namespaces", body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    )
    return name


def _until(what: str, done: Callable[[], int]) -> None:
    """Poll `done()` (how many of COUNT are there) once a second until it reaches COUNT."""
    deadline = time.monotonic() + DEADLINE
    while (got := done()) < COUNT:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {got} of {COUNT} {what} after {DEADLINE:.0f}s")
        time.sleep(POLL)


def _items(api: KubeApi, path: str) -> list[dict[str, Any]]:
    return list(api.request("GET", path).get("items") or [])


def _databases_ready(api: KubeApi, ns: str) -> int:
    return sum(
        1
        for db in _items(api, f"{GROUP}/namespaces/{ns}/databases")
        if (db.get("status") or {}).get("phase") == "Ready"
        and db["status"].get("observedGeneration") == db["metadata"]["generation"]
    )


def _children_ready(api: KubeApi, ns: str) -> int:
    """Databases whose StatefulSet has its Pod Ready and whose init Job completed."""
    ready_sts = {
        s["metadata"]["name"]
        for s in _items(api, api.path("StatefulSet", ns))
        if int((s.get("status") or {}).get("readyReplicas") or 0) >= SPEC["replicas"]
    }
    done_init = {
        j["metadata"]["name"].removesuffix("-init")
        for j in _items(api, api.path("Job", ns))
        if job_state(j) == "complete"
    }
    return len(ready_sts & done_init)


def _operator_run(api: KubeApi, ns: str) -> float:
    start = time.perf_counter()
    with ThreadPoolExecutor(THREADS) as pool:
        list(
            pool.map(
                lambda i: api.request("POST", f"{GROUP}/namespaces/{ns}/databases", body=_db(ns, f"db{i}")),
                range(COUNT),
            )
        )
    _until("Databases Ready", lambda: _databases_ready(api, ns))
    return time.perf_counter() - start


def _direct_one(api: KubeApi, ns: str, i: int) -> None:
    """What the operator writes for one Database, done by the client directly."""
    config = OperatorConfig()
    created = api.request("POST", f"{GROUP}/namespaces/{ns}/databases", body=_db(ns, f"db{i}"))
    ref = DbRef(name=f"db{i}", namespace=ns, uid=created["metadata"]["uid"])
    spec = parse_spec(SPEC)
    api.apply(build_configmap(ref, spec, config), field_manager="bench")
    api.create(build_secret(ref, spec, config, password=generate_password()))
    if (claim := build_backup_claim(ref, spec, config)) is not None:  # the postgres engine's archive volume
        api.create(claim)
    api.apply(build_service(ref, spec, config), field_manager="bench")
    api.apply(build_statefulset(ref, spec, config, image=spec.image), field_manager="bench")
    api.create(build_init_job(ref, spec, config, image=spec.image))


def _direct_run(api: KubeApi, ns: str, threads: int) -> float:
    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda i: _direct_one(api, ns, i), range(COUNT)))
    _until("StatefulSets Ready with their init Job Complete", lambda: _children_ready(api, ns))
    return time.perf_counter() - start


def _start_operator(kc: KubeCluster, tmp: Path, namespaces: list[str]) -> subprocess.Popen[bytes]:
    log = (tmp / "operator.log").open("ab")
    watch = [arg for ns in namespaces for arg in ("--namespace", ns)]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "braindump_cli",
            "operator",
            "run",
            "--kubeconfig",
            str(kc.admin_kubeconfig),
            *watch,
            "--standalone",
            *EXTRA,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "KUBECONFIG": ""},
    )
    time.sleep(3)  # let kopf list and start its watches before the clock starts
    return proc


def main() -> str:
    with (
        tempfile.TemporaryDirectory(prefix="bd-bench-operator-") as tmp,
        start_control_plane(Path(tmp) / "kube", progress=lambda m: print(m, file=sys.stderr)) as plane,
    ):
        kc = plane.cluster
        api = KubeApi.from_settings(resolve_kube(kubeconfig=kc.admin_kubeconfig), pool_size=THREADS * 2)
        api.request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", body=database_crd())
        while not _namespace_ready(api):
            time.sleep(0.2)
        # The operator watches only its own namespaces, so it idles while the client loops run:
        # the candidates can alternate on the same control plane.
        op_namespaces = [_namespace(api, f"op-{r}") for r in range(REPEAT)]
        candidates: dict[str, Callable[[int], float]] = {
            "bd operator": lambda r: _operator_run(api, op_namespaces[r]),
            "client loop, 16 threads": lambda r: _direct_run(api, _namespace(api, f"direct-{r}"), THREADS),
        }
        runs: dict[str, list[float]] = {k: [] for k in candidates}
        op = _start_operator(kc, Path(tmp), op_namespaces)
        try:
            for r in range(REPEAT):
                for label, fn in candidates.items():
                    runs[label].append(fn(r))
                    print(f"{label} run {r}: {runs[label][-1]:.1f}s", file=sys.stderr, flush=True)
        finally:
            op.send_signal(signal.SIGTERM)
            op.wait(timeout=60)
        samples = [Sample(k, v) for k, v in runs.items()]
        return report(
            f"bd operator: {COUNT} Databases until phase Ready (Pods Ready, init Job Complete) on the control plane",
            samples,
            baseline="client loop, 16 threads",
            goal="bd operator <= 2x the 16-thread client loop waiting for the same readiness",
        )


def _namespace_ready(api: KubeApi) -> bool:
    try:
        api.request("GET", f"{GROUP}/databases")
        return True
    except Exception:
        return False


if __name__ == "__main__":
    main()
