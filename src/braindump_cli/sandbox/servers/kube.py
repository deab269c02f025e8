"""A real kube-apiserver + etcd on loopback, envtest style (no kubelet, no controllers).

API (shared by tests/k8s, tests/operator and `bd sandbox`):

    from braindump_cli.sandbox.servers.kube import start_kube

    with start_kube(workdir, progress=print) as kc:   # or kc = start_kube(...); ...; kc.stop()
        kc.server              # "https://127.0.0.1:<port>"
        kc.admin_kubeconfig    # Path: CN=bd-admin, O=system:masters (cluster-admin via RBAC bootstrap)
        kc.user_kubeconfig     # Path: CN=bd-tester, no RBAC bindings: everything is forbidden
        kc.ca_file             # Path: CA that signed the serving cert and both client certs
        kc.kubectl             # Path: kubectl built from the same release
        kc.etcd_pid, kc.apiserver_pid
        kc.restart_apiserver() # stop + start the apiserver only (same port, certs, etcd); waits for /readyz
        kc.kubeconfig_for_token(token, path)  # kubeconfig for a bearer token (ServiceAccount TokenRequest)
        kc.stop()              # kills only the two pids it started; idempotent

Both processes run in their own process group (start_new_session) with logs in
`workdir/etcd.log` and `workdir/kube-apiserver.log`. The service-account signing key and issuer are
set, so `create_namespaced_service_account_token` (TokenRequest) works once the ServiceAccount
object exists (no controller-manager creates it for you).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

from braindump_cli.progress import Progress, no_progress
from braindump_cli.sandbox.servers._pki import TestCa, cert_pem, key_pem
from braindump_cli.sandbox.servers._proc import free_ports, spawn, tail, terminate
from braindump_cli.sandbox.servers.kube_build import ensure_kube_binaries

SA_ISSUER = "https://kubernetes.default.svc.cluster.local"


class KubeHarnessError(RuntimeError):
    """etcd or kube-apiserver did not come up; the message carries the tail of its log."""


# --- PKI -------------------------------------------------------------------------------------------


def _make_pki(d: Path) -> None:
    """CA, apiserver serving cert, admin + user client certs, service-account key pair."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    d.mkdir(parents=True, exist_ok=True)
    ca = TestCa.create("bd-test-ca")

    def write(stem: str, key: Any, cert: Any) -> None:
        (d / f"{stem}.crt").write_bytes(cert_pem(cert))
        (d / f"{stem}.key").write_bytes(key_pem(key))
        (d / f"{stem}.key").chmod(0o600)

    write("ca", ca.key, ca.cert)
    sans = ("localhost", "kubernetes", "kubernetes.default.svc", "127.0.0.1", "10.0.0.1")
    write("apiserver", *ca.issue("kube-apiserver", usage="server", sans=sans))
    write("admin", *ca.issue("bd-admin", usage="client", organization="system:masters"))
    write("user", *ca.issue("bd-tester", usage="client"))

    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (d / "sa.key").write_bytes(key_pem(sa_key))
    (d / "sa.key").chmod(0o600)
    (d / "sa.pub").write_bytes(
        sa_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def _kubeconfig(server: str, ca: Path, user_name: str, user: dict[str, str]) -> str:
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "bd-test", "cluster": {"server": server, "certificate-authority": str(ca)}}],
        "users": [{"name": user_name, "user": user}],
        "contexts": [{"name": user_name, "context": {"cluster": "bd-test", "user": user_name, "namespace": "default"}}],
        "current-context": user_name,
    }
    return yaml.safe_dump(doc, sort_keys=False)


@dataclass
class KubeCluster:
    """A running etcd + kube-apiserver pair. See the module docstring."""

    workdir: Path
    kube_apiserver_bin: Path
    etcd_bin: Path
    kubectl: Path
    etcd_port: int
    etcd_peer_port: int
    apiserver_port: int
    progress: Progress = no_progress
    _etcd: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _apiserver: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    # paths -----------------------------------------------------------------------------------------
    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.apiserver_port}"

    @property
    def pki(self) -> Path:
        return self.workdir / "pki"

    @property
    def ca_file(self) -> Path:
        return self.pki / "ca.crt"

    @property
    def admin_kubeconfig(self) -> Path:
        return self.workdir / "admin.kubeconfig"

    @property
    def user_kubeconfig(self) -> Path:
        return self.workdir / "user.kubeconfig"

    @property
    def etcd_url(self) -> str:
        return f"http://127.0.0.1:{self.etcd_port}"

    @property
    def etcd_pid(self) -> int | None:
        return self._etcd.pid if self._etcd is not None and self._etcd.poll() is None else None

    @property
    def apiserver_pid(self) -> int | None:
        return self._apiserver.pid if self._apiserver is not None and self._apiserver.poll() is None else None

    @property
    def apiserver_log(self) -> Path:
        return self.workdir / "kube-apiserver.log"

    @property
    def etcd_log(self) -> Path:
        return self.workdir / "etcd.log"

    # lifecycle -------------------------------------------------------------------------------------
    def _etcd_argv(self) -> list[str]:
        peer = f"http://127.0.0.1:{self.etcd_peer_port}"
        return [
            str(self.etcd_bin),
            "--name=bd",
            f"--data-dir={self.workdir / 'etcd-data'}",
            f"--listen-client-urls={self.etcd_url}",
            f"--advertise-client-urls={self.etcd_url}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=bd={peer}",
            "--unsafe-no-fsync=true",
            "--log-level=warn",
        ]

    def _apiserver_argv(self) -> list[str]:
        p = self.pki
        return [
            str(self.kube_apiserver_bin),
            f"--etcd-servers={self.etcd_url}",
            f"--cert-dir={self.workdir / 'apiserver-certs'}",
            f"--tls-cert-file={p / 'apiserver.crt'}",
            f"--tls-private-key-file={p / 'apiserver.key'}",
            f"--client-ca-file={p / 'ca.crt'}",
            f"--secure-port={self.apiserver_port}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            # a loopback advertise address is refused by the endpoint reconciler; nothing needs it here
            "--endpoint-reconciler-type=none",
            "--service-cluster-ip-range=10.0.0.0/24",
            "--authorization-mode=RBAC",
            "--allow-privileged=true",
            "--disable-admission-plugins=ServiceAccount",
            f"--service-account-issuer={SA_ISSUER}",
            f"--service-account-key-file={p / 'sa.pub'}",
            f"--service-account-signing-key-file={p / 'sa.key'}",
            "--v=1",
        ]

    def start(self, *, timeout: float = 120.0) -> KubeCluster:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if not self.ca_file.exists():
            self.progress("generating CA, serving and client certificates")
            _make_pki(self.pki)
        self.admin_kubeconfig.write_text(
            _kubeconfig(
                self.server,
                self.ca_file,
                "bd-admin",
                {"client-certificate": str(self.pki / "admin.crt"), "client-key": str(self.pki / "admin.key")},
            )
        )
        self.user_kubeconfig.write_text(
            _kubeconfig(
                self.server,
                self.ca_file,
                "bd-tester",
                {"client-certificate": str(self.pki / "user.crt"), "client-key": str(self.pki / "user.key")},
            )
        )
        try:
            self.progress(f"starting etcd on {self.etcd_url}")
            self._etcd = spawn(self._etcd_argv(), self.etcd_log)
            self._wait_etcd(timeout)
            self._start_apiserver(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _start_apiserver(self, timeout: float) -> None:
        self.progress(f"starting kube-apiserver on {self.server}")
        self._apiserver = spawn(self._apiserver_argv(), self.apiserver_log)
        self.wait_ready(timeout=timeout)
        self.progress("kube-apiserver is ready")

    def _wait_etcd(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._etcd is None or self._etcd.poll() is not None:
                raise KubeHarnessError(f"etcd exited early:\n{tail(self.etcd_log)}")
            try:
                with urllib.request.urlopen(f"{self.etcd_url}/health", timeout=2) as r:  # noqa: S310
                    if b'"true"' in r.read():
                        return
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.2)
        raise KubeHarnessError(f"etcd not healthy after {timeout:.0f}s:\n{tail(self.etcd_log)}")

    def _ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.ca_file))
        ctx.load_cert_chain(str(self.pki / "admin.crt"), str(self.pki / "admin.key"))
        return ctx

    def is_ready(self) -> bool:
        try:
            with urllib.request.urlopen(  # noqa: S310
                f"{self.server}/readyz", timeout=3, context=self._ssl_context()
            ) as r:
                return bool(r.status == 200)
        except (OSError, urllib.error.URLError):
            return False

    def request(self, method: str, path: str, body: Any = None, *, ok: tuple[int, ...] = (200, 201)) -> Any:
        """One API call as the admin (harness set-up only: bd itself talks through its adapter)."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(  # noqa: S310 - our own loopback apiserver
            f"{self.server}{path}", data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(req, timeout=10, context=self._ssl_context()) as r:  # noqa: S310
                return json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            if e.code in ok:
                return json.loads(e.read() or b"{}")
            raise KubeHarnessError(f"{method} {path}: HTTP {e.code}: {e.read()[:500]!r}") from e

    def wait_ready(self, *, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._apiserver is None or self._apiserver.poll() is not None:
                raise KubeHarnessError(f"kube-apiserver exited early:\n{tail(self.apiserver_log)}")
            if self.is_ready():
                return
            time.sleep(0.3)
        raise KubeHarnessError(f"kube-apiserver not ready after {timeout:.0f}s:\n{tail(self.apiserver_log)}")

    def stop_apiserver(self) -> None:
        terminate([self._apiserver])
        self._apiserver = None

    def restart_apiserver(self, *, timeout: float = 120.0) -> None:
        """Stop the apiserver process and start it again with the same port, certs and etcd."""
        self.stop_apiserver()
        self._start_apiserver(timeout)

    def stop(self) -> None:
        terminate([self._apiserver])
        self._apiserver = None
        terminate([self._etcd])
        self._etcd = None

    def kubeconfig_for_token(self, token: str, path: Path, *, name: str = "bd-token") -> Path:
        """Write a kubeconfig that authenticates with a bearer token (e.g. from TokenRequest)."""
        path.write_text(_kubeconfig(self.server, self.ca_file, name, {"token": token}))
        path.chmod(0o600)
        return path

    def env(self) -> dict[str, str]:
        """Environment for subprocesses (kubectl, bd) that should talk to this cluster as admin."""
        env = dict(os.environ)
        env["KUBECONFIG"] = str(self.admin_kubeconfig)
        return env

    def __enter__(self) -> KubeCluster:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def start_kube(workdir: Path, *, progress: Progress = no_progress, timeout: float = 120.0) -> KubeCluster:
    """Build (cached) and start etcd + kube-apiserver under `workdir`; return the running cluster."""
    bins = ensure_kube_binaries(progress=progress)
    ports = free_ports(3)
    cluster = KubeCluster(
        workdir=workdir,
        kube_apiserver_bin=bins.kube_apiserver,
        etcd_bin=bins.etcd,
        kubectl=bins.kubectl,
        etcd_port=ports[0],
        etcd_peer_port=ports[1],
        apiserver_port=ports[2],
        progress=progress,
    )
    return cluster.start(timeout=timeout)


if __name__ == "__main__":
    import sys
    import tempfile

    with (
        tempfile.TemporaryDirectory(prefix="bd-kube-") as tmp,
        start_kube(Path(tmp), progress=lambda m: print(m, file=sys.stderr)) as kc,
    ):
        print(f"KUBECONFIG={kc.admin_kubeconfig} ({kc.server}); Ctrl-C to stop", file=sys.stderr)
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()
