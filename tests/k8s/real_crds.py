"""Real-world CRDs taken at test time from their published Go modules (`go mod download`, cached
under ~/.cache/braindump/gomod like the kube binaries; never copied into the repository)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import yaml

GOMODCACHE = Path.home() / ".cache" / "braindump" / "gomod"
JOBSET = ("sigs.k8s.io/jobset", "v0.8.1", "config/components/crd/bases/jobset.x-k8s.io_jobsets.yaml")
CERT_MANAGER = ("github.com/cert-manager/cert-manager", "v1.16.2", "deploy/crds")


def module_dir(module: str, version: str) -> Path:
    env = {**os.environ, "GOMODCACHE": str(GOMODCACHE), "GOFLAGS": "-mod=mod"}
    done = subprocess.run(
        ["go", "mod", "download", "-json", f"{module}@{version}"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=900,
    )
    info = json.loads(done.stdout or "{}")
    if done.returncode != 0 or "Dir" not in info:
        raise RuntimeError(f"go mod download {module}@{version} failed: {info.get('Error') or done.stderr[-500:]}")
    return Path(info["Dir"])


def _clean(crd: dict[str, Any]) -> dict[str, Any]:
    # cert-manager ships its CRDs as Helm templates: labels and annotations carry template text
    crd["metadata"] = {"name": crd["metadata"]["name"]}
    return crd


def jobset_crd() -> dict[str, Any]:
    module, version, path = JOBSET
    return _clean(yaml.safe_load((module_dir(module, version) / path).read_text()))


def cert_manager_crd(name: str) -> dict[str, Any]:
    module, version, folder = CERT_MANAGER
    return _clean(yaml.safe_load((module_dir(module, version) / folder / f"crd-{name}.yaml").read_text()))


CERTIFICATE_BASE: dict[str, Any] = {
    "apiVersion": "cert-manager.io/v1",
    "kind": "Certificate",
    "metadata": {"name": "cert"},
    "spec": {
        "secretName": "tls",
        "issuerRef": {"name": "ca", "kind": "Issuer", "group": "cert-manager.io"},
        "dnsNames": ["a.example.com", "b.example.com"],
        "duration": "2160h",
        "renewBefore": "360h",
        "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always", "encoding": "PKCS1"},
        "usages": ["server auth", "digital signature"],
        "subject": {"organizations": ["bd"]},
        "revisionHistoryLimit": 3,
    },
}

ISSUER_BASE: dict[str, Any] = {
    "apiVersion": "cert-manager.io/v1",
    "kind": "Issuer",
    "metadata": {"name": "issuer"},
    "spec": {
        "acme": {
            "server": "https://acme.example.com/directory",
            "email": "ops@example.com",
            "privateKeySecretRef": {"name": "acme-key"},
            "solvers": [{"http01": {"ingress": {"ingressClassName": "nginx"}}, "selector": {"dnsNames": ["a.io"]}}],
        }
    },
}

JOBSET_BASE: dict[str, Any] = {
    "apiVersion": "jobset.x-k8s.io/v1alpha2",
    "kind": "JobSet",
    "metadata": {"name": "js"},
    "spec": {
        "replicatedJobs": [
            {
                "name": "workers",
                "replicas": 2,
                "template": {
                    "spec": {
                        "parallelism": 1,
                        "completions": 1,
                        "template": {
                            "spec": {
                                "restartPolicy": "Never",
                                "containers": [{"name": "c", "image": "busybox", "args": ["true"]}],
                            }
                        },
                    }
                },
            },
            {
                "name": "driver",
                "replicas": 1,
                "template": {
                    "spec": {
                        "template": {
                            "spec": {"restartPolicy": "Never", "containers": [{"name": "d", "image": "busybox"}]}
                        }
                    }
                },
            },
        ],
        "successPolicy": {"operator": "All", "targetReplicatedJobs": ["driver"]},
        "failurePolicy": {"maxRestarts": 3},
        "network": {"enableDNSHostnames": True},
    },
}
