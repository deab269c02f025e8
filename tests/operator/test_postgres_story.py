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
import re
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from braindump_cli.k8s.operator._api import ApiError, KubeApi
from braindump_cli.k8s.operator.engines import BACKUP_MOUNT
from braindump_cli.servers._proc import free_port, terminate
from braindump_cli.servers.postgres import pg_bin_dir
from tests.operator.conftest import (
    GROUP_PATH,
    OperatorProcess,
    OperatorSetup,
    children,
    finish_job,
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
    archives: dict[str, str] = field(default_factory=dict)  # what the Jobs wrote, in container paths

    def kubectl(self, command: str) -> subprocess.CompletedProcess[str]:
        argv = shlex.split(command)
        assert argv[0] == "kubectl"
        kc = self.setup.cluster
        return subprocess.run(
            [str(kc.kubectl), *argv[1:]], cwd=self.workdir, env=kc.env(), capture_output=True, text=True, check=False
        )

    def configmap(self, db: str) -> dict[str, Any]:
        cm = wait_for(f"ConfigMap {db}-config", lambda: self.api.get("ConfigMap", NS, f"{db}-config"))
        # cluster DNS and the pod network -> loopback and a local port of this Database's own
        cm["data"]["DB_PRIMARY_HOST"] = cm["data"]["DB_HOST"] = "127.0.0.1"
        cm["data"]["DB_PORT"] = str(self.ports.setdefault(db, free_port()))
        return dict(cm)

    def secret(self, db: str) -> dict[str, Any]:
        path = f"/api/v1/namespaces/{NS}/secrets/{db}-credentials"
        return dict(wait_for(f"Secret {db}-credentials", lambda: self.api.request("GET", path)))

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

    def run_job(self, db: str, job_name: str) -> str:
        """Run the Job's container as stored in the apiserver; return what its log names as written."""
        job = wait_for(f"Job {job_name}", lambda: self.api.get("Job", NS, job_name))
        pod = job["spec"]["template"]["spec"]
        local = self.local(db, pod, self.claims_of(pod))
        password = local.env["DB_PASSWORD"]
        done = local.run()
        assert password not in done.stdout + done.stderr + " ".join(local.argv)
        assert done.returncode == 0, f"{job_name} failed:\n{done.stdout}\n{done.stderr}"
        self.complete(job_name)
        wrote = [ln.removeprefix("bd: wrote ") for ln in done.stdout.splitlines() if ln.startswith("bd: wrote ")]
        if not wrote:
            return ""
        # local path -> the path inside the pod, which is what a user reads in the Job's log
        local_root = str(self.claims_of(pod)["backups"])
        assert wrote[0].startswith(local_root)
        return BACKUP_MOUNT + wrote[0][len(local_root) :]

    def complete(self, job_name: str) -> None:
        try:
            finish_job(self.api, NS, job_name)
        except ApiError as e:
            if e.status != 404:  # already completed and deleted by the operator
                raise

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
    yield c
    for db in list(c.pods):
        c.stop(db)
    shutil.rmtree(root, ignore_errors=True)


ROWS = "SELECT count(*), coalesce(sum(id), 0) FROM orders_placed"


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
    seen: dict[str, str] = {}

    def created() -> None:
        seen["orders password"] = cluster.local_password("orders")
        cluster.start_server("orders")
        cluster.run_job("orders", "orders-init")
        wait_for("CronJob orders-backup", lambda: cluster.api.get("CronJob", NS, "orders-backup"))
        cluster.psql("orders", "CREATE TABLE orders_placed (id int PRIMARY KEY, item text)")
        cluster.psql("orders", "INSERT INTO orders_placed SELECT g, 'item ' || g FROM generate_series(1, 100) g")

    def backed_up() -> None:
        seen["backup"] = cluster.run_job("orders", "orders-backup-now")
        assert seen["backup"].startswith(f"{BACKUP_MOUNT}/backups/orders-")
        seen["backup rows"] = cluster.psql("orders", ROWS)
        cluster.psql("orders", "DELETE FROM orders_placed WHERE id > 10")  # the mistake a restore repairs

    def before_restore() -> None:
        # the user puts the archive the backup's log named into the Job (docs: `ARCHIVE`)
        text = files["orders-restore.yaml"]
        placeholder = re.search(r"value: (\S+\.dump)", text)
        assert placeholder
        (cluster.workdir / "orders-restore.yaml").write_text(text.replace(placeholder.group(1), seen["backup"]))

    def restored() -> None:
        cluster.run_job("orders", "orders-restore")
        assert cluster.psql("orders", ROWS) == seen["backup rows"]
        cluster.psql("orders", "INSERT INTO orders_placed VALUES (5000, 'the last order before deletion')")
        seen["snapshot rows"] = cluster.psql("orders", ROWS)

    def deleting() -> None:
        seen["snapshot"] = cluster.run_job("orders", "orders-snapshot")
        assert seen["snapshot"].startswith(f"{BACKUP_MOUNT}/snapshots/orders-")
        cluster.stop("orders")  # the operator deletes the StatefulSet: its pod goes

    def before_recreate() -> None:
        db = yaml.safe_load(files["orders.yaml"])
        db["metadata"]["name"] = "orders-restored"
        (cluster.workdir / "orders-restored.yaml").write_text(yaml.safe_dump(db))
        job = yaml.safe_load(files["orders-restore.yaml"])
        (c,) = job["spec"]["template"]["spec"]["containers"]
        c["envFrom"] = [
            {"configMapRef": {"name": "orders-restored-config"}},
            {"secretRef": {"name": "orders-restored-credentials"}},
        ]
        c["env"] = [{"name": "ARCHIVE", "value": seen["snapshot"]}]
        (cluster.workdir / "snapshot-restore.yaml").write_text(yaml.safe_dump(job))

    def recreated() -> None:
        cluster.start_server("orders-restored")
        cluster.run_job("orders-restored", "orders-restored-init")

    def snapshot_restored() -> None:
        cluster.run_job("orders-restored", "orders-restore")
        assert cluster.psql("orders-restored", ROWS) == seen["snapshot rows"]
        label = cluster.psql("orders-restored", "SELECT item FROM orders_placed WHERE id = 5000")
        assert label == "the last order before deletion"

    before: dict[str, Callable[[], None]] = {
        "kubectl apply -f orders-restore.yaml": before_restore,
        "kubectl apply -f orders-restored.yaml": before_recreate,
    }
    after: dict[str, Callable[[], None]] = {
        "kubectl apply -f orders.yaml": created,
        "kubectl -n shop create job orders-backup-now --from=cronjob/orders-backup": backed_up,
        "kubectl apply -f orders-restore.yaml": restored,
        "kubectl -n shop delete database orders --wait=false": deleting,
        "kubectl apply -f orders-restored.yaml": recreated,
        "kubectl apply -f snapshot-restore.yaml": snapshot_restored,
    }
    commands = story_commands(section)
    assert {c for c, _ in commands} >= set(before) | set(after)
    for command, expected in commands:
        if command in before:
            before[command]()
        done = cluster.kubectl(command)
        assert done.returncode == 0, f"{command}: {done.stderr}\n{operator.log()[-3000:]}"
        if expected:
            assert done.stdout.splitlines() == expected, command
        if command in after:
            after[command]()
    passwords = [seen["orders password"], cluster.local_password("orders-restored")]
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
    newer = f"postgres:{major}.{int(minor) + 1}"
    api.patch_merge(f"{GROUP_PATH}/namespaces/{NS}/databases/versions", {"spec": {"image": newer}})
    job = wait_for("the upgrade Job", lambda: api.get("Job", NS, f"versions-upgrade-{major}-{int(minor) + 1}-0"))
    (c,) = job["spec"]["template"]["spec"]["containers"]
    assert c["image"] == newer
    assert c["command"][:2] == ["sh", "-c"]
    assert "pg_dump" in c["command"][2]
    finish_job(api, NS, job["metadata"]["name"])
    wait_for(
        "rolled",
        lambda: api.get("StatefulSet", NS, "versions")["spec"]["template"]["spec"]["containers"][0]["image"] == newer,
    )

    next_major = f"postgres:{int(major) + 1}.2"
    api.patch_merge(f"{GROUP_PATH}/namespaces/{NS}/databases/versions", {"spec": {"image": next_major}})

    def refused() -> dict[str, Any] | None:
        db = api.request("GET", f"{GROUP_PATH}/namespaces/{NS}/databases/versions")
        status = db.get("status") or {}
        if status.get("phase") != "Degraded" or status.get("observedGeneration") != db["metadata"]["generation"]:
            return None
        return next(c for c in status["conditions"] if c["type"] == "Degraded")

    degraded = wait_for("major upgrade refused", refused)
    assert degraded["reason"] == "ChangeRefused"
    assert f"major upgrade {newer} -> {next_major} refused" in degraded["message"]
    assert "Restore a backup into a new Database" in degraded["message"]
    sts = api.get("StatefulSet", NS, "versions")
    assert sts["spec"]["template"]["spec"]["containers"][0]["image"] == newer  # still on the old major
    upgrade_jobs = [
        j["metadata"]["name"] for j in children(api, NS, "Job") if "versions-upgrade" in j["metadata"]["name"]
    ]
    assert upgrade_jobs == [job["metadata"]["name"]]  # no Job for the major version
