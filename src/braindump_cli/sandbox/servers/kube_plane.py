"""A whole Kubernetes control plane on loopback without Docker: etcd, kube-apiserver,
kube-controller-manager, kube-scheduler and KWOK playing the kubelet for N simulated Nodes.

API (shared by tests/operator, bench/operator and `bd sandbox up --kube`):

    from braindump_cli.sandbox.servers.kube_plane import start_control_plane

    with start_control_plane(workdir, nodes=1, progress=print) as plane:
        plane.cluster                       # the KubeCluster (etcd + kube-apiserver), see servers.kube
        plane.kcm_pid, plane.scheduler_pid, plane.kwok_pid
        plane.restart_controller_manager()  # stop + start kube-controller-manager; waits for /healthz
        plane.stop()                        # the three, then the apiserver and etcd; idempotent

What runs, and what it does for the objects bd makes:
- kube-controller-manager with its default controllers: StatefulSet, Job, CronJob, garbage
  collector (ownerReference cascades and orphaning deletes), namespace, service-account (and
  token) controllers, the PV binder.
- kube-scheduler binds Pods to the Nodes.
- KWOK (sigs.k8s.io/kwok) with its stock "fast" stages: Nodes become Ready and renew their
  Leases; a Pod goes Pending -> Running/Ready at once; a Running Pod owned by a Job Succeeds;
  a deleted Pod goes away; a PersistentVolumeClaim of StorageClass `kwok-volume` (the default
  class here, with allowVolumeExpansion) gets a PersistentVolume and both are Bound.
- One failure stage of bd's own: a Running Pod of a Job whose `app.kubernetes.io/instance`
  label starts with `fail-` fails (exit code 1) instead of succeeding, so a Database named
  `fail-...` has Jobs that really fail through the Job controller.

The apiserver-only harness (`servers.kube.start_kube`) stays the fast choice for tests that
need only storage, validation and watches.
"""

from __future__ import annotations

import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import yaml

from braindump_cli.progress import Progress, no_progress
from braindump_cli.sandbox.servers._proc import free_ports, spawn, tail, terminate
from braindump_cli.sandbox.servers.kube import KubeCluster, KubeHarnessError, start_kube
from braindump_cli.sandbox.servers.kube_build import KWOK_STAGES, ControlPlaneBinaries, ensure_control_plane_binaries

DEFAULT_NODES = 1
FAIL_PREFIX = "fail-"
STORAGE_CLASS_STAGE = "volume/fast/storage-class.yaml"
# Node Leases last this long; the node lifecycle controller marks a Node NotReady after the grace
# period without a renewal (kwokctl's values: a loaded machine must not flap Nodes)
NODE_LEASE_SECONDS = 40
NODE_MONITOR_GRACE = "2m"

_FAIL_STAGE = {
    "apiVersion": "kwok.x-k8s.io/v1alpha1",
    "kind": "Stage",
    "metadata": {"name": "bd-job-pod-fail"},
    "spec": {
        "resourceRef": {"apiGroup": "v1", "kind": "Pod"},
        "selector": {
            "matchExpressions": [
                {"key": ".metadata.deletionTimestamp", "operator": "DoesNotExist"},
                {"key": ".status.phase", "operator": "In", "values": ["Running"]},
                {"key": ".metadata.ownerReferences.[].kind", "operator": "In", "values": ["Job"]},
                {
                    "cel": {
                        "expression": "has(self.metadata.labels) && "
                        "'app.kubernetes.io/instance' in self.metadata.labels && "
                        f"self.metadata.labels['app.kubernetes.io/instance'].startsWith('{FAIL_PREFIX}')"
                    }
                },
            ]
        },
        # pod-complete has no weight: a weighted stage that matches wins over it
        "weight": 10000,
        "next": {
            "statusTemplate": (
                "{{ $now := Now }}\n"
                "containerStatuses:\n"
                "{{ range $index, $item := .spec.containers }}\n"
                "- image: {{ $item.image | Quote }}\n"
                "  name: {{ $item.name | Quote }}\n"
                "  ready: false\n"
                "  restartCount: 0\n"
                "  started: false\n"
                "  state:\n"
                "    terminated:\n"
                "      exitCode: 1\n"
                "      finishedAt: {{ $now | Quote }}\n"
                "      reason: Error\n"
                "      message: failed by the bd sandbox's KWOK stage (instance label fail-*)\n"
                "      startedAt: {{ $now | Quote }}\n"
                "{{ end }}\n"
                "phase: Failed\n"
            )
        },
    },
}


def kwok_config(stages_dir: Path) -> str:
    """KWOK's --config: the stock stages (less the StorageClass, which is an API object) and bd's."""
    docs: list[object] = []
    for rel in KWOK_STAGES:
        if rel != STORAGE_CLASS_STAGE:
            docs.extend(d for d in yaml.safe_load_all((stages_dir / rel).read_text()) if d)
    docs.append(_FAIL_STAGE)
    return yaml.safe_dump_all(docs, sort_keys=False)


def node_body(name: str) -> dict[str, object]:
    """A Node for KWOK to manage (it fills in conditions, addresses and capacity)."""
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {"node.alpha.kubernetes.io/ttl": "0", "kwok.x-k8s.io/node": "fake"},
            "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "type": "kwok"},
        },
    }


def healthz(port: int) -> bool:
    # the component's self-signed serving cert: loopback, health only, no credentials sent
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(f"https://127.0.0.1:{port}/healthz", timeout=3, context=ctx) as r:
            return bool(r.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def ready_nodes(cluster: KubeCluster) -> set[str]:
    """Names of the Nodes whose Ready condition is True (empty if the apiserver does not answer)."""
    try:
        items = cluster.request("GET", "/api/v1/nodes")["items"]
    except (OSError, urllib.error.URLError, KubeHarnessError):
        return set()
    ready = set()
    for node in items:
        conditions = (node.get("status") or {}).get("conditions") or []
        if any(c["type"] == "Ready" and c["status"] == "True" for c in conditions):
            ready.add(node["metadata"]["name"])
    return ready


@dataclass
class ControlPlane:
    """kube-controller-manager, kube-scheduler and KWOK around a running KubeCluster."""

    cluster: KubeCluster
    bins: ControlPlaneBinaries
    nodes: int = DEFAULT_NODES
    kcm_port: int = 0
    scheduler_port: int = 0
    kwok_port: int = 0
    progress: Progress = no_progress
    _kcm: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _scheduler: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _kwok: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def workdir(self) -> Path:
        return self.cluster.workdir

    @property
    def node_names(self) -> list[str]:
        return [f"kwok-node-{i}" for i in range(self.nodes)]

    @property
    def kcm_pid(self) -> int | None:
        return _pid(self._kcm)

    @property
    def scheduler_pid(self) -> int | None:
        return _pid(self._scheduler)

    @property
    def kwok_pid(self) -> int | None:
        return _pid(self._kwok)

    def log(self, name: str) -> Path:
        return self.workdir / f"{name}.log"

    # argv --------------------------------------------------------------------------------------
    def _kcm_argv(self) -> list[str]:
        pki = self.cluster.pki
        return [
            str(self.bins.kube_controller_manager),
            f"--kubeconfig={self.cluster.admin_kubeconfig}",
            "--bind-address=127.0.0.1",
            f"--secure-port={self.kcm_port}",
            f"--cert-dir={self.workdir / 'kcm-certs'}",
            "--authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics",
            f"--root-ca-file={pki / 'ca.crt'}",
            f"--service-account-private-key-file={pki / 'sa.key'}",
            "--leader-elect=false",
            "--node-monitor-period=10s",
            f"--node-monitor-grace-period={NODE_MONITOR_GRACE}",
            "--kube-api-qps=500",
            "--kube-api-burst=1000",
            "--concurrent-statefulset-syncs=10",
            "--concurrent-job-syncs=10",
            "--v=1",
        ]

    def _scheduler_argv(self) -> list[str]:
        return [
            str(self.bins.kube_scheduler),
            f"--kubeconfig={self.cluster.admin_kubeconfig}",
            "--bind-address=127.0.0.1",
            f"--secure-port={self.scheduler_port}",
            f"--cert-dir={self.workdir / 'scheduler-certs'}",
            "--authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics",
            "--leader-elect=false",
            "--kube-api-qps=500",
            "--kube-api-burst=1000",
            "--v=1",
        ]

    def _kwok_argv(self) -> list[str]:
        pki = self.cluster.pki
        return [
            str(self.bins.kwok),
            "--manage-all-nodes=true",
            f"--kubeconfig={self.cluster.admin_kubeconfig}",
            f"--config={self.workdir / 'kwok.yaml'}",
            f"--tls-cert-file={pki / 'apiserver.crt'}",
            f"--tls-private-key-file={pki / 'apiserver.key'}",
            "--node-ip=127.0.0.1",
            "--node-name=localhost",
            f"--node-port={self.kwok_port}",
            f"--server-address=127.0.0.1:{self.kwok_port}",
            f"--node-lease-duration-seconds={NODE_LEASE_SECONDS}",
        ]

    # lifecycle ---------------------------------------------------------------------------------
    def start(self, *, timeout: float = 180.0) -> ControlPlane:
        (self.workdir / "kwok.yaml").write_text(kwok_config(self.bins.kwok_stages))
        try:
            self._apply_objects()
            self._start_kcm(timeout)
            self.progress(f"starting kube-scheduler (https://127.0.0.1:{self.scheduler_port})")
            self._scheduler = spawn(self._scheduler_argv(), self.log("kube-scheduler"))
            self.progress(f"starting kwok for {self.nodes} node(s)")
            self._kwok = spawn(self._kwok_argv(), self.log("kwok"))
            self._wait("kube-scheduler", lambda: healthz(self.scheduler_port), "kube-scheduler", timeout)
            self._wait("the Nodes Ready", self.nodes_ready, "kwok", timeout)
            self._wait("the default ServiceAccount", self._default_sa_exists, "kube-controller-manager", timeout)
        except BaseException:
            self.stop()
            raise
        self.progress("control plane is ready")
        return self

    def _start_kcm(self, timeout: float) -> None:
        self.progress(f"starting kube-controller-manager (https://127.0.0.1:{self.kcm_port})")
        self._kcm = spawn(self._kcm_argv(), self.log("kube-controller-manager"))
        self._wait("kube-controller-manager", lambda: healthz(self.kcm_port), "kube-controller-manager", timeout)

    def _apply_objects(self) -> None:
        """The default StorageClass (KWOK's `kwok-volume`) and the Nodes, created once."""
        storage_class = yaml.safe_load((self.bins.kwok_stages / STORAGE_CLASS_STAGE).read_text())
        # claims can be grown (nothing resizes a simulated volume; the request is what changes)
        storage_class["allowVolumeExpansion"] = True
        for body in [storage_class, *(node_body(n) for n in self.node_names)]:
            path = "/apis/storage.k8s.io/v1/storageclasses" if body["kind"] == "StorageClass" else "/api/v1/nodes"
            self.cluster.request("POST", path, body, ok=(201, 409))

    def _process(self, name: str) -> subprocess.Popen[bytes] | None:
        return {"kube-controller-manager": self._kcm, "kube-scheduler": self._scheduler, "kwok": self._kwok}[name]

    def _wait(self, what: str, check: Callable[[], bool], name: str, timeout: float) -> None:
        """Poll `check` until it holds; fail with the log tail if process `name` exits meanwhile."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            proc = self._process(name)
            if proc is None or proc.poll() is not None:
                raise KubeHarnessError(f"{name} exited early:\n{tail(self.log(name))}")
            if check():
                return
            time.sleep(0.3)
        raise KubeHarnessError(f"timed out after {timeout:.0f}s waiting for {what}:\n{tail(self.log(name))}")

    def nodes_ready(self) -> bool:
        return ready_nodes(self.cluster) >= set(self.node_names)

    def _default_sa_exists(self) -> bool:
        try:
            self.cluster.request("GET", "/api/v1/namespaces/default/serviceaccounts/default")
        except (OSError, urllib.error.URLError, KubeHarnessError):
            return False
        return True

    def restart_controller_manager(self, *, timeout: float = 120.0) -> None:
        """Stop kube-controller-manager and start it again (same flags): its controllers resync."""
        terminate([self._kcm])
        self._kcm = None
        self._start_kcm(timeout)

    def stop(self) -> None:
        terminate([self._kwok, self._scheduler, self._kcm])
        self._kwok = self._scheduler = self._kcm = None
        self.cluster.stop()

    def __enter__(self) -> ControlPlane:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _pid(proc: subprocess.Popen[bytes] | None) -> int | None:
    return proc.pid if proc is not None and proc.poll() is None else None


def start_control_plane(
    workdir: Path, *, nodes: int = DEFAULT_NODES, progress: Progress = no_progress, timeout: float = 180.0
) -> ControlPlane:
    """Build (cached) and start the whole control plane under `workdir`; return it running."""
    if nodes < 1:
        raise ValueError(f"nodes must be at least 1, not {nodes}")
    bins = ensure_control_plane_binaries(progress=progress)
    cluster = start_kube(workdir, progress=progress, timeout=timeout)
    kcm, scheduler, kwok = free_ports(3)
    plane = ControlPlane(
        cluster, bins, nodes=nodes, kcm_port=kcm, scheduler_port=scheduler, kwok_port=kwok, progress=progress
    )
    return plane.start(timeout=timeout)
