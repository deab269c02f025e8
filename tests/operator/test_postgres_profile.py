"""The postgres engine profile, proven for real: every container the operator renders for a
PostgreSQL Database runs as a local process (tests/operator/local_pod.py says how a pod maps to
a process) with Debian's PostgreSQL 15 binaries, and the effect is checked with psql.

The server is the StatefulSet's own container (its command, env and volume); the Jobs run
against it; restores go into fresh servers of the suite's harness (braindump_cli.sandbox.servers.postgres).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from braindump_cli.k8s.operator.builders import (
    DbRef,
    build_backup_cronjob,
    build_configmap,
    build_init_job,
    build_secret,
    build_snapshot_job,
    build_statefulset,
    build_upgrade_job,
    generate_password,
)
from braindump_cli.k8s.operator.engines import BACKUP_MOUNT
from braindump_cli.k8s.operator.model import DatabaseSpec, OperatorConfig, parse_spec
from braindump_cli.process import terminate
from braindump_cli.sandbox.servers._proc import free_port
from braindump_cli.sandbox.servers.postgres import PostgresServer, pg_bin_dir, start_postgres
from tests.operator.docs_story import story_files, story_section
from tests.operator.local_pod import PROBES, LocalContainer, local_container, probe_argv, start_server, volume_dir

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

RETENTION = 2
DB = DbRef(name="orders", namespace="shop", uid="uid-orders")
CONFIG = OperatorConfig()


def _major_of_local_server(bin_dir: Path) -> str:
    out = subprocess.run([str(bin_dir / "postgres"), "--version"], capture_output=True, text=True, check=True).stdout
    match = re.search(r"\) (\d+)\.", out)
    assert match, out
    return match.group(1)


@dataclass
class Rig:
    """What the operator renders for one Database, and the local stand-ins for volumes and network."""

    spec: DatabaseSpec
    image: str
    configmap: dict[str, Any]
    secret: dict[str, Any]
    password: str
    root: Path
    bin_dir: Path

    def volumes(self) -> dict[str, Path]:
        return {"data": volume_dir(self.root, "data"), "backups": volume_dir(self.root, "backups")}

    def container(self, pod: dict[str, Any]) -> LocalContainer:
        return local_container(
            pod,
            configmap=self.configmap,
            secret=self.secret,
            volumes=self.volumes(),
            bin_dir=self.bin_dir,
            home=volume_dir(self.root, "home"),
        )

    def psql(self, sql: str, *, database: str = "postgres", password: str | None = None) -> str:
        """A client as the user of the Secret, over TCP with its password (scram-sha-256)."""
        env = {
            "PATH": "/usr/bin:/bin",
            "PGPASSWORD": self.password if password is None else password,
            "PGCONNECT_TIMEOUT": "10",
        }
        proc = subprocess.run(
            [str(self.bin_dir / "psql"), "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1",
             "-h", "127.0.0.1", "-p", self.configmap["data"]["DB_PORT"], "-U", "orders", "-d", database],
            input=sql, capture_output=True, text=True, env=env, check=False, timeout=60,
        )  # fmt: skip
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr.strip())
        return proc.stdout.strip()


def _job_pod(job: dict[str, Any]) -> dict[str, Any]:
    spec = job["spec"]["jobTemplate"]["spec"] if job["kind"] == "CronJob" else job["spec"]
    return dict(spec["template"]["spec"])


def run_job(rig: Rig, job: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    """Run the Job's container to completion; its output must never show the password."""
    local = rig.container(_job_pod(job))
    assert rig.password not in " ".join(local.argv)
    done = local.run()
    assert rig.password not in done.stdout + done.stderr
    assert done.returncode == 0, f"{job['metadata']['name']} failed:\n{done.stdout}\n{done.stderr}"
    return done


def written(done: subprocess.CompletedProcess[str]) -> Path:
    (line,) = [ln for ln in done.stdout.splitlines() if ln.startswith("bd: wrote ")]
    return Path(line.removeprefix("bd: wrote "))


@pytest.fixture(scope="module")
def rig() -> Iterator[Rig]:
    bin_dir = pg_bin_dir()
    major = _major_of_local_server(bin_dir)
    image = f"postgres:{major}.10"  # the stock image of the major version Debian ships here
    spec = parse_spec(
        {
            "name": "orders",
            "port": free_port(),
            "storage-size": "1Gi",
            "image": image,
            "replicas": 1,
            "backup": {"schedule": "0 3 * * *", "retention": RETENTION},
        }
    )
    assert spec.engine_name == "postgres"
    configmap = build_configmap(DB, spec, CONFIG)
    # cluster DNS -> loopback: the pod's address is this machine
    configmap["data"]["DB_PRIMARY_HOST"] = configmap["data"]["DB_HOST"] = "127.0.0.1"
    password = generate_password()
    secret = build_secret(DB, spec, CONFIG, password=password)
    root = Path(tempfile.mkdtemp(prefix="bd-pg-profile-"))
    yield Rig(spec, image, configmap, secret, password, root, bin_dir)
    shutil.rmtree(root, ignore_errors=True)


@dataclass
class PodServer:
    container: LocalContainer
    proc: subprocess.Popen[bytes]
    log: Path
    probes: dict[str, list[str]]


def start_pod_server(rig: Rig) -> PodServer:
    sts = build_statefulset(DB, rig.spec, CONFIG, image=rig.image)
    pod = sts["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert c["ports"][0]["containerPort"] == int(rig.configmap["data"]["DB_PORT"])
    local = rig.container(pod)
    assert rig.password not in " ".join(local.argv)
    log = rig.root / "server.log"
    proc = start_server(local, c, log)
    return PodServer(local, proc, log, {name: probe_argv(c[name]) for name in PROBES})


@pytest.fixture(scope="module")
def server(rig: Rig) -> Iterator[PodServer]:
    srv = start_pod_server(rig)
    yield srv
    terminate([srv.proc])


def test_statefulset_server_starts_serves_and_its_probes_pass(rig: Rig, server: PodServer) -> None:
    for name, argv in server.probes.items():
        result = server.container.probe(argv)
        assert result.returncode == 0, f"{name} failed: {result.stderr}"
    assert rig.psql("SELECT current_user") == "orders"  # the Secret's user, with the Secret's password
    with pytest.raises(RuntimeError, match="password authentication failed"):
        rig.psql("SELECT 1", password="not-the-password")
    assert rig.psql("SHOW port") == rig.configmap["data"]["DB_PORT"]
    pgdata = rig.psql("SHOW data_directory")
    assert Path(pgdata).parent == rig.volumes()["data"]  # PGDATA is on the volume
    assert rig.password not in server.log.read_text(errors="replace")


def test_init_job_creates_the_database_and_a_second_run_changes_nothing(rig: Rig, server: PodServer) -> None:
    job = build_init_job(DB, rig.spec, CONFIG, image=rig.image)
    run_job(rig, job)
    oid = rig.psql("SELECT oid FROM pg_database WHERE datname = 'orders'")
    assert oid
    rig.psql(
        "CREATE TABLE items (id int PRIMARY KEY, label text);"
        "INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 50) g",
        database="orders",
    )
    databases = rig.psql("SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database")
    run_job(rig, job)
    assert rig.psql("SELECT oid FROM pg_database WHERE datname = 'orders'") == oid
    assert rig.psql("SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database") == databases
    assert rig.psql("SELECT count(*) FROM items", database="orders") == "50"


def restore(archive: Path, *, bin_dir: Path) -> PostgresServer:
    """Restore an archive into a fresh server of the suite's harness, as docs/operator.md shows."""
    fresh = start_postgres()
    fresh.create_database("orders")
    done = subprocess.run(
        [str(bin_dir / "pg_restore"), "--no-owner", "--no-acl", "--exit-on-error", "-d", fresh.dsn("orders"),
         str(archive)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        fresh.stop()
        pytest.fail(f"pg_restore {archive.name} failed: {done.stderr}")
    return fresh


def test_backup_restores_into_a_fresh_server_and_retention_keeps_n(rig: Rig, server: PodServer) -> None:
    cron = build_backup_cronjob(DB, rig.spec, CONFIG, image=rig.image)
    assert cron is not None
    archives = []
    for extra in range(RETENTION + 2):
        rig.psql(f"INSERT INTO items VALUES ({1000 + extra}, 'after backup {extra}')", database="orders")
        archives.append(written(run_job(rig, cron)))
        kept = sorted(p.name for p in (rig.volumes()["backups"] / "backups").iterdir())
        assert len(kept) == min(extra + 1, RETENTION), kept
    newest = archives[-1]
    assert sorted(p.name for p in newest.parent.iterdir()) == sorted(p.name for p in archives[-RETENTION:])
    rows = rig.psql("SELECT count(*), sum(id) FROM items", database="orders")
    fresh = restore(newest, bin_dir=rig.bin_dir)
    try:
        assert fresh.psql("SELECT count(*), sum(id) FROM items", database="orders").strip() == rows.replace(",", "|")
    finally:
        fresh.stop()


def test_the_docs_restore_job_puts_a_backup_back(rig: Rig, server: PodServer) -> None:
    """docs/operator.md's orders-restore.yaml, its container run like the operator's own Jobs."""
    cron = build_backup_cronjob(DB, rig.spec, CONFIG, image=rig.image)
    assert cron is not None
    archive = written(run_job(rig, cron))
    rows = rig.psql("SELECT count(*), sum(id) FROM items", database="orders")
    rig.psql("DELETE FROM items WHERE id > 10", database="orders")
    job = yaml.safe_load(story_files(story_section())["orders-restore.yaml"])
    (container,) = job["spec"]["template"]["spec"]["containers"]
    (env,) = container["env"]
    env["value"] = BACKUP_MOUNT + str(archive)[len(str(rig.volumes()["backups"])) :]
    run_job(rig, job)
    assert rig.psql("SELECT count(*), sum(id) FROM items", database="orders") == rows


def test_snapshot_job_writes_a_restorable_archive(rig: Rig, server: PodServer) -> None:
    rig.psql("INSERT INTO items VALUES (5000, 'just before deletion')", database="orders")
    job = build_snapshot_job(DB, rig.spec, CONFIG, image=rig.image)
    archive = written(run_job(rig, job))
    assert archive.parent == rig.volumes()["backups"] / "snapshots"
    fresh = restore(archive, bin_dir=rig.bin_dir)
    try:
        assert (
            fresh.psql("SELECT label FROM items WHERE id = 5000", database="orders").strip() == "just before deletion"
        )
        assert fresh.psql("SELECT count(*) FROM items", database="orders").strip() == rig.psql(
            "SELECT count(*) FROM items", database="orders"
        )
    finally:
        fresh.stop()


def test_minor_upgrade_job_dumps_before_the_roll(rig: Rig, server: PodServer) -> None:
    job = build_upgrade_job(DB, rig.spec, CONFIG, from_image=rig.image, to_image=rig.image + "1")
    done = run_job(rig, job)
    assert f"from {rig.image} to {rig.image}1" in done.stdout
    archive = written(done)
    assert archive.parent == rig.volumes()["backups"] / "upgrades"
    listing = subprocess.run([str(rig.bin_dir / "pg_restore"), "--list", str(archive)], capture_output=True, text=True)
    assert listing.returncode == 0
    assert "TABLE DATA public items" in listing.stdout


def test_server_restarts_on_its_volume_without_initdb(rig: Rig, server: PodServer) -> None:
    initdb_done = "Success. You can now start the database server"
    assert server.log.read_text(errors="replace").count(initdb_done) == 1
    rows = rig.psql("SELECT count(*) FROM items", database="orders")
    terminate([server.proc])
    again = start_pod_server(rig)
    server.proc = again.proc  # the module fixture stops whichever one runs
    assert rig.psql("SELECT count(*) FROM items", database="orders") == rows
    assert server.log.read_text(errors="replace").count(initdb_done) == 1
