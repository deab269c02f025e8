"""docs/operator.md's PostgreSQL story, run command by command.

Every `$ kubectl ...` line of the section "The whole story" runs as written (the section's YAML
files written out as the docs show them) against the suite's kube-apiserver, with the operator
running as the ServiceAccount of `bd operator manifests`; where the docs show output, the output
must match. No kubelet runs there, so after each command this test starts what a kubelet would
start: the StatefulSet's server and each Job's container, read back from the apiserver exactly
as the operator (or kubectl) wrote them, run as local processes with PostgreSQL 15
(tests/operator/local_pod.py). The rows restored are compared with the rows backed up.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import shlex
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from braindump_cli.k8s.client import KubeApi
from braindump_cli.k8s.operator.engines import BACKUP_MOUNT
from braindump_cli.process import terminate
from braindump_cli.sandbox.servers._proc import free_port
from braindump_cli.sandbox.servers.postgres import pg_bin_dir
from tests.operator.conftest import (
    GROUP_PATH,
    OperatorProcess,
    OperatorSetup,
    children,
    start_operator,
    wait_for,
)
from tests.operator.docs_story import story_commands, story_files, story_section
from tests.operator.local_pod import LocalContainer, local_container, start_server, volume_dir

pytestmark = [pytest.mark.kube, pytest.mark.postgres, pytest.mark.slow]

NS = "shop"


@dataclass
class Pod:
    container: LocalContainer
    proc: subprocess.Popen[bytes]
    port: int


@dataclass
class Cluster:
    """The apiserver side (kubectl, api) and the stand-ins for what a kubelet would run."""

    setup: OperatorSetup
    api: KubeApi
    workdir: Path
    root: Path
    bin_dir: Path
    ports: dict[str, int] = field(default_factory=dict)  # Database -> its server's local port
    pods: dict[str, Pod] = field(default_factory=dict)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)  # every Job seen by the watch, by uid
    jobs_run: set[str] = field(default_factory=set)  # uids
    cached: dict[str, dict[str, Any]] = field(default_factory=dict)  # ConfigMaps and Secrets as read
    watch: subprocess.Popen[str] | None = None

    def watch_jobs(self) -> None:
        """Record every Job of the namespace as it appears: a final snapshot Job completes (KWOK)
        and is deleted with the Database's children, possibly before this test looks at it."""
        kc = self.setup.cluster
        self.watch = subprocess.Popen(
            [str(kc.kubectl), "get", "jobs", "-n", NS, "--watch", "-o", "json"],
            env=kc.env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        threading.Thread(target=self._read_jobs, args=(self.watch,), daemon=True).start()

    def _read_jobs(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        decoder, buf = json.JSONDecoder(), ""
        for line in proc.stdout:
            buf += line
            with contextlib.suppress(ValueError):
                obj, end = decoder.raw_decode(buf.lstrip())
                buf = buf.lstrip()[end:]
                if obj.get("kind") == "Job":
                    self.jobs.setdefault(obj["metadata"]["uid"], obj)

    def kubectl(self, command: str) -> subprocess.CompletedProcess[str]:
        argv = shlex.split(command)
        assert argv[0] == "kubectl"
        kc = self.setup.cluster
        return subprocess.run(
            [str(kc.kubectl), *argv[1:]], cwd=self.workdir, env=kc.env(), capture_output=True, text=True, check=False
        )

    def configmap(self, db: str) -> dict[str, Any]:
        name = f"{db}-config"
        cm = self.cached.get(name) or wait_for(f"ConfigMap {name}", lambda: self.api.get("ConfigMap", NS, name))
        self.cached[name] = cm
        # cluster DNS and the pod network -> loopback and a local port of this Database's own
        cm["data"]["DB_PRIMARY_HOST"] = cm["data"]["DB_HOST"] = "127.0.0.1"
        cm["data"]["DB_PORT"] = str(self.ports.setdefault(db, free_port()))
        return dict(cm)

    def secret(self, db: str) -> dict[str, Any]:
        name = f"{db}-credentials"
        path = f"/api/v1/namespaces/{NS}/secrets/{name}"
        self.cached[name] = self.cached.get(name) or wait_for(f"Secret {name}", lambda: self.api.request("GET", path))
        return dict(self.cached[name])

    def claim_dir(self, claim: str) -> Path:
        return volume_dir(self.root, claim)

    def local(self, db: str, pod: dict[str, Any], volumes: dict[str, Path]) -> LocalContainer:
        return local_container(
            pod,
            configmap=self.configmap(db),
            secret=self.secret(db),
            volumes=volumes,
            bin_dir=self.bin_dir,
            home=volume_dir(self.root, "home"),
        )

    def claims_of(self, pod: dict[str, Any]) -> dict[str, Path]:
        return {
            v["name"]: self.claim_dir(v["persistentVolumeClaim"]["claimName"])
            for v in pod.get("volumes") or []
            if "persistentVolumeClaim" in v
        }

    def start_server(self, db: str) -> None:
        sts = wait_for(f"StatefulSet {db}", lambda: self.api.get("StatefulSet", NS, db))
        pod = sts["spec"]["template"]["spec"]
        local = self.local(db, pod, {"data": self.claim_dir(f"data-{db}-0")})
        (c,) = pod["containers"]
        proc = start_server(local, c, self.root / f"{db}-0.log")
        self.pods[db] = Pod(local, proc, self.ports[db])

    def _next_job(self, name: str) -> dict[str, Any] | None:
        """The Job called `name` not run yet (a name comes back when a Job is created again)."""
        fresh = [j for uid, j in list(self.jobs.items()) if j["metadata"]["name"] == name and uid not in self.jobs_run]
        return fresh[0] if fresh else None

    def run_job(self, db: str, job_name: str) -> str:
        """Run the Job's container as stored in the apiserver; return what its log names as written."""
        job = wait_for(f"Job {job_name}", lambda: self._next_job(job_name))
        self.jobs_run.add(job["metadata"]["uid"])
        pod = job["spec"]["template"]["spec"]
        local = self.local(db, pod, self.claims_of(pod))
        password = local.env["DB_PASSWORD"]
        done = local.run()
        assert password not in done.stdout + done.stderr + " ".join(local.argv)
        assert done.returncode == 0, f"{job_name} failed:\n{done.stdout}\n{done.stderr}"
        wrote = [ln.removeprefix("bd: wrote ") for ln in done.stdout.splitlines() if ln.startswith("bd: wrote ")]
        if not wrote:
            return ""
        # local path -> the path inside the pod, which is what a user reads in the Job's log
        local_root = str(self.claims_of(pod)["backups"])
        assert wrote[0].startswith(local_root)
        return BACKUP_MOUNT + wrote[0][len(local_root) :]

    def psql(self, db: str, sql: str) -> str:
        data = {k: base64.b64decode(v).decode() for k, v in self.secret(db)["data"].items()}
        proc = subprocess.run(
            [str(self.bin_dir / "psql"), "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
             "-p", str(self.ports[db]), "-U", data["DB_USER"], "-d", "orders"],
            input=sql, capture_output=True, text=True, check=False, timeout=60,
            env={"PATH": "/usr/bin:/bin", "PGPASSWORD": data["DB_PASSWORD"]},
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.strip()

    def local_password(self, db: str) -> str:
        return base64.b64decode(self.secret(db)["data"]["DB_PASSWORD"]).decode()

    def stop(self, db: str) -> None:
        pod = self.pods.pop(db, None)
        if pod is not None:
            terminate([pod.proc])


@pytest.fixture(scope="module")
def operator(operator_setup: OperatorSetup, module_log_dir: Path) -> Iterator[OperatorProcess]:
    op = start_operator(
        operator_setup.sa_kubeconfig,
        module_log_dir,
        "op-pg-story",
        "--namespace",
        NS,
        "--standalone",
        "--poll-seconds",
        "0.5",
        "--resync-seconds",
        "3",
    )
    yield op
    op.stop()


@pytest.fixture(scope="module")
def cluster(operator_setup: OperatorSetup, operator: OperatorProcess) -> Iterator[Cluster]:
    root = Path(tempfile.mkdtemp(prefix="bd-pg-story-"))
    workdir = root / "work"
    workdir.mkdir()
    c = Cluster(operator_setup, operator_setup.api, workdir, root, pg_bin_dir())
    c.watch_jobs()
    yield c
    terminate([c.watch])
    for db in list(c.pods):
        c.stop(db)
    shutil.rmtree(root, ignore_errors=True)


ROWS = "SELECT count(*), coalesce(sum(id), 0) FROM orders_placed"


@dataclass
class Story:
    """What a user and a kubelet do between the docs' commands (`before`/`after` a command)."""

    cluster: Cluster
    files: dict[str, str]
    seen: dict[str, str] = field(default_factory=dict)

    def hooks(self) -> tuple[dict[str, Callable[[], None]], dict[str, Callable[[], None]]]:
        before = {
            "kubectl apply -f orders-restore.yaml": self.before_restore,
            "kubectl apply -f orders-restored.yaml": self.before_recreate,
        }
        after = {
            "kubectl apply -f orders.yaml": self.created,
            "kubectl -n shop create job orders-backup-now --from=cronjob/orders-backup": self.backed_up,
            "kubectl apply -f orders-restore.yaml": self.restored,
            "kubectl -n shop delete database orders --wait=false": self.deleting,
            "kubectl apply -f orders-restored.yaml": self.recreated,
            "kubectl apply -f snapshot-restore.yaml": self.snapshot_restored,
        }
        return before, after

    def created(self) -> None:
        cluster = self.cluster
        self.seen["orders password"] = cluster.local_password("orders")
        cluster.start_server("orders")
        cluster.run_job("orders", "orders-init")
        wait_for("CronJob orders-backup", lambda: cluster.api.get("CronJob", NS, "orders-backup"))
        cluster.psql("orders", "CREATE TABLE orders_placed (id int PRIMARY KEY, item text)")
        cluster.psql("orders", "INSERT INTO orders_placed SELECT g, 'item ' || g FROM generate_series(1, 100) g")

    def backed_up(self) -> None:
        self.seen["backup"] = self.cluster.run_job("orders", "orders-backup-now")
        assert self.seen["backup"].startswith(f"{BACKUP_MOUNT}/backups/orders-")
        self.seen["backup rows"] = self.cluster.psql("orders", ROWS)
        self.cluster.psql("orders", "DELETE FROM orders_placed WHERE id > 10")  # the mistake a restore repairs

    def before_restore(self) -> None:
        # the user puts the archive the backup's log named into the Job (docs: `ARCHIVE`)
        text = self.files["orders-restore.yaml"]
        placeholder = re.search(r"value: (\S+\.dump)", text)
        assert placeholder
        (self.cluster.workdir / "orders-restore.yaml").write_text(
            text.replace(placeholder.group(1), self.seen["backup"])
        )

    def restored(self) -> None:
        self.cluster.run_job("orders", "orders-restore")
        assert self.cluster.psql("orders", ROWS) == self.seen["backup rows"]
        self.cluster.psql("orders", "INSERT INTO orders_placed VALUES (5000, 'the last order before deletion')")
        self.seen["snapshot rows"] = self.cluster.psql("orders", ROWS)

    def deleting(self) -> None:
        self.seen["snapshot"] = self.cluster.run_job("orders", "orders-snapshot")
        assert self.seen["snapshot"].startswith(f"{BACKUP_MOUNT}/snapshots/orders-")
        self.cluster.stop("orders")  # the operator deletes the StatefulSet: its pod goes

    def before_recreate(self) -> None:
        # as the docs say: orders.yaml under a new name, orders-restore.yaml for it and the snapshot
        db = yaml.safe_load(self.files["orders.yaml"])
        db["metadata"]["name"] = "orders-restored"
        (self.cluster.workdir / "orders-restored.yaml").write_text(yaml.safe_dump(db))
        job = yaml.safe_load(self.files["orders-restore.yaml"])
        (c,) = job["spec"]["template"]["spec"]["containers"]
        c["envFrom"] = [
            {"configMapRef": {"name": "orders-restored-config"}},
            {"secretRef": {"name": "orders-restored-credentials"}},
        ]
        c["env"] = [{"name": "ARCHIVE", "value": self.seen["snapshot"]}]
        (self.cluster.workdir / "snapshot-restore.yaml").write_text(yaml.safe_dump(job))

    def recreated(self) -> None:
        self.cluster.start_server("orders-restored")
        self.cluster.run_job("orders-restored", "orders-restored-init")

    def snapshot_restored(self) -> None:
        self.cluster.run_job("orders-restored", "orders-restore")
        assert self.cluster.psql("orders-restored", ROWS) == self.seen["snapshot rows"]
        label = self.cluster.psql("orders-restored", "SELECT item FROM orders_placed WHERE id = 5000")
        assert label == "the last order before deletion"


def test_the_postgresql_story_in_the_docs(cluster: Cluster, operator: OperatorProcess) -> None:
    section = story_section()
    files = story_files(section)
    assert set(files) == {"orders.yaml", "orders-restore.yaml"}
    image = yaml.safe_load(files["orders.yaml"])["spec"]["image"]
    local_major = subprocess.run(
        [str(cluster.bin_dir / "postgres"), "--version"], capture_output=True, text=True, check=True
    ).stdout
    assert f") {image.split(':')[1].split('.')[0]}." in local_major, f"docs use {image}, local is {local_major}"
    for name in files:
        (cluster.workdir / name).write_text(files[name])
    story = Story(cluster, files)
    before, after = story.hooks()
    commands = story_commands(section)
    assert {c for c, _ in commands} >= set(before) | set(after)
    for command, expected in commands:
        before.get(command, lambda: None)()
        done = cluster.kubectl(command)
        assert done.returncode == 0, f"{command}: {done.stderr}\n{operator.log()[-3000:]}"
        assert not expected or done.stdout.splitlines() == expected, command
        after.get(command, lambda: None)()
    passwords = [story.seen["orders password"], cluster.local_password("orders-restored")]
    log = operator.log()
    assert not [p for p in passwords if p in log], "a generated password reached the operator's log"


def test_minor_version_upgrades_with_a_dump_and_a_major_version_is_refused(
    cluster: Cluster, operator: OperatorProcess
) -> None:
    api = cluster.api
    body = yaml.safe_load(story_files(story_section())["orders.yaml"])
    body["metadata"]["name"] = "versions"
    api.request("POST", f"{GROUP_PATH}/namespaces/{NS}/databases", body=body)
    image = body["spec"]["image"]
    major, minor = image.split(":")[1].split(".")[:2]
    wait_for("StatefulSet versions", lambda: api.get("StatefulSet", NS, "versions"))

    def sts_image() -> str:
        sts = api.get("StatefulSet", NS, "versions")
        assert sts is not None
        return str(sts["spec"]["template"]["spec"]["containers"][0]["image"])

    newer = f"postgres:{major}.{int(minor) + 1}"
    api.patch_merge(f"{GROUP_PATH}/namespaces/{NS}/databases/versions", {"spec": {"image": newer}})
    job = wait_for("the upgrade Job", lambda: api.get("Job", NS, f"versions-upgrade-{major}-{int(minor) + 1}-0"))
    (c,) = job["spec"]["template"]["spec"]["containers"]
    assert c["image"] == newer
    assert c["command"][:2] == ["sh", "-c"]
    assert "pg_dump" in c["command"][2]
    # the Job controller and KWOK complete the Job; the operator then rolls
    wait_for("rolled", lambda: sts_image() == newer)

    next_major = f"postgres:{int(major) + 1}.2"
    api.patch_merge(f"{GROUP_PATH}/namespaces/{NS}/databases/versions", {"spec": {"image": next_major}})

    def refused() -> dict[str, Any] | None:
        db = api.request("GET", f"{GROUP_PATH}/namespaces/{NS}/databases/versions")
        status = db.get("status") or {}
        if status.get("phase") != "Degraded" or status.get("observedGeneration") != db["metadata"]["generation"]:
            return None
        return dict(next(c for c in status["conditions"] if c["type"] == "Degraded"))

    degraded = wait_for("major upgrade refused", refused)
    assert degraded["reason"] == "ChangeRefused"
    assert f"major upgrade {newer} -> {next_major} refused" in degraded["message"]
    assert "Restore a backup into a new Database" in degraded["message"]
    assert sts_image() == newer  # still on the old major
    upgrade_jobs = [
        j["metadata"]["name"] for j in children(api, NS, "Job") if "versions-upgrade" in j["metadata"]["name"]
    ]
    assert upgrade_jobs == [job["metadata"]["name"]]  # no Job for the major version
