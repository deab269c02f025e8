"""CRD install and check: `bd crd install` + `bd crd check` against `kubectl apply --server-side` +
`kubectl wait --for=condition=Established`, and `bd crd check` against kubectl's server-side dry run,
on the same freshly started kube-apiserver, round-robin in the same run.

Each run re-applies the same CRD (the steady state a CI pipeline sees); one fresh install of each
tool is timed too (a new group each time). Run: `.venv/bin/python -m bench crd`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import yaml

from bench._timing import Sample, interleaved, report
from braindump_cli.k8s.crd.shipped import database_crd
from braindump_cli.servers.kube import start_kube

REPEAT = 10
SAMPLE = {
    "apiVersion": "stable.imaginedata.com/v1",
    "kind": "Database",
    "metadata": {"name": "bench", "namespace": "default"},
    "spec": {"name": "appdb", "port": 5432, "storage-size": "10Gi", "image": "postgres:16.4", "replicas": 2},
}


def _runner(argvs: Sequence[Sequence[str]], env: dict[str, str]) -> Callable[[], None]:
    def run() -> None:
        for argv in argvs:
            subprocess.run(list(argv), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)

    return run


def main() -> str:
    bd = str(Path(sys.executable).with_name("bd"))
    with tempfile.TemporaryDirectory(prefix="bd-bench-crd-") as tmp, start_kube(Path(tmp) / "kube") as kc:
        env = {**os.environ, "KUBECONFIG": str(kc.admin_kubeconfig), "HOME": tmp}
        kubectl = str(kc.kubectl)
        crd_file = Path(tmp) / "crd.yaml"
        crd_file.write_text(yaml.safe_dump(database_crd()))
        sample = Path(tmp) / "db.yaml"
        sample.write_text(yaml.safe_dump(SAMPLE))
        name = "databases.stable.imaginedata.com"
        kubectl_install = [
            [kubectl, "apply", "--server-side", "-f", str(crd_file)],
            [kubectl, "wait", "--for=condition=Established", f"crd/{name}", "--timeout=60s"],
        ]
        bd_install = [[bd, "crd", "install", "-f", str(crd_file)]]
        bd_check = [bd, "crd", "check", "-f", str(sample)]
        install = interleaved(
            {
                "kubectl apply --server-side + kubectl wait": _runner(kubectl_install, env),
                "bd crd install": _runner(bd_install, env),
                "bd crd install + bd crd check": _runner([*bd_install, bd_check], env),
            },
            repeat=REPEAT,
        )
        check = interleaved(
            {
                "kubectl apply --dry-run=server --validate=strict": _runner(
                    [[kubectl, "apply", "--dry-run=server", "--validate=strict", "-f", str(sample)]], env
                ),
                "bd crd check (offline + server dry run)": _runner([bd_check], env),
                "bd crd check --offline": _runner([[*bd_check, "--offline"]], env),
            },
            repeat=REPEAT,
        )
        fresh: dict[str, list[float]] = {"kubectl apply --server-side + kubectl wait": [], "bd crd install": []}
        for i in range(3):
            for label in fresh:
                group = f"fresh{i}-{'k' if label.startswith('kubectl') else 'b'}.bench.test"
                path = Path(tmp) / f"{group}.yaml"
                path.write_text(yaml.safe_dump(database_crd(group)))
                argvs = (
                    [
                        [kubectl, "apply", "--server-side", "-f", str(path)],
                        [kubectl, "wait", "--for=condition=Established", f"crd/databases.{group}", "--timeout=60s"],
                    ]
                    if label.startswith("kubectl")
                    else [[bd, "crd", "install", "-f", str(path)]]
                )
                start = time.perf_counter()
                _runner(argvs, env)()
                fresh[label].append(time.perf_counter() - start)
    base = "kubectl apply --server-side + kubectl wait"
    text = report("CRD install (re-apply, steady state)", install, baseline=base)
    text += "\n" + report(
        "CRD install (fresh CRD, Established)", [Sample(k, v) for k, v in fresh.items()], baseline=base
    )
    text += "\n" + report("Custom resource check", check, baseline="kubectl apply --dry-run=server --validate=strict")
    return text


if __name__ == "__main__":
    main()
