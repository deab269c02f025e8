"""`bd crd` against the real kube-apiserver + etcd the suite starts."""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from braindump_cli.k8s.client import MERGE_PATCH, ApiError, KubeApi
from braindump_cli.k8s.crd.check import check_document, dry_run_document
from braindump_cli.k8s.crd.resolve import crd_info
from braindump_cli.k8s.crd.shipped import database_crd
from braindump_cli.sandbox.servers.kube import KubeCluster
from tests.k8s.conftest import Bd, as_json

pytestmark = pytest.mark.kube

DB_PATH = "/apis/stable.imaginedata.com/v1/namespaces/{ns}/databases"


def _db(name: str, ns: str, /, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"name": "appdb", "port": 5432, "storage-size": "1Gi", "image": "postgres:16.4"}
    body.update(spec)
    return {
        "apiVersion": "stable.imaginedata.com/v1",
        "kind": "Database",
        "metadata": {"name": name, "namespace": ns},
        "spec": body,
    }


def _kubectl(kc: KubeCluster, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(kc.kubectl), "--kubeconfig", str(kc.admin_kubeconfig), *args],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture(scope="module")
def shipped(bd: Bd, kube_cluster: KubeCluster) -> dict[str, Any]:
    result = bd("crd", "install", "--kubeconfig", str(kube_cluster.admin_kubeconfig), "-o", "json")
    assert result.exit_code == 0, result.stderr
    return dict(as_json(result))


def test_install_shipped_then_create_a_resource_immediately(
    shipped: dict[str, Any], admin_api: KubeApi, test_namespace: str, kube_cluster: KubeCluster
) -> None:
    (crd,) = shipped["crds"]
    assert crd["name"] == "databases.stable.imaginedata.com"
    assert crd["action"] in {"created", "unchanged", "configured"}
    assert crd["established"]
    assert crd["names_accepted"]
    created = admin_api.request("POST", DB_PATH.format(ns=test_namespace), body=_db("right-after", test_namespace))
    assert created["spec"]["replicas"] == 1  # the schema default was applied
    got = _kubectl(kube_cluster, "get", "db", "-n", test_namespace)
    assert got.returncode == 0, got.stderr
    header = got.stdout.splitlines()[0].split()
    assert header == ["NAME", "IMAGE", "REPLICAS", "READY", "PHASE", "AGE"]
    assert "right-after" in got.stdout
    assert "postgres:16.4" in got.stdout


def test_fresh_repeated_and_changed_install(bd: Bd, kube_cluster: KubeCluster, tmp_path: Path) -> None:
    kc = str(kube_cluster.admin_kubeconfig)
    group = "fresh.bd.test"
    first = bd("crd", "install", "--group", group, "--kubeconfig", kc, "-o", "json")
    assert first.exit_code == 0, first.stderr
    assert as_json(first)["crds"][0]["action"] == "created"
    again = bd("crd", "install", "--group", group, "--kubeconfig", kc)
    assert again.exit_code == 0, again.stderr
    assert again.stdout == f"customresourcedefinition/databases.{group} unchanged (Established)\n"
    changed = database_crd(group)
    changed["spec"]["versions"][0]["additionalPrinterColumns"].append(
        {"name": "Port", "type": "integer", "jsonPath": ".spec.port"}
    )
    path = tmp_path / "changed.yaml"
    path.write_text(yaml.safe_dump(changed))
    dry = bd("crd", "install", "-f", str(path), "--dry-run", "--kubeconfig", kc, "-o", "json")
    assert dry.exit_code == 0, dry.stderr
    assert as_json(dry)["crds"][0]["action"] == "configured"
    assert as_json(dry)["dry_run"] is True
    third = bd("crd", "install", "-f", str(path), "--kubeconfig", kc, "-o", "json")
    assert as_json(third)["crds"][0]["action"] == "configured"
    columns = _kubectl(
        kube_cluster,
        "get",
        "crd",
        f"databases.{group}",
        "-o",
        "jsonpath={.spec.versions[0].additionalPrinterColumns[*].name}",
    )
    assert columns.stdout.split() == ["Image", "Replicas", "Ready", "Phase", "Age", "Port"]
    managers = _kubectl(
        kube_cluster,
        "get",
        "crd",
        f"databases.{group}",
        "--show-managed-fields",
        "-o",
        "jsonpath={.metadata.managedFields[*].manager}",
    )
    assert "bd" in managers.stdout.split()
    gone = bd("crd", "uninstall", f"databases.{group}", "--yes", "--kubeconfig", kc)
    assert gone.exit_code == 0, gone.stderr


def test_status_subresource_keeps_status_and_scale_works(
    shipped: dict[str, Any], admin_api: KubeApi, test_namespace: str
) -> None:
    base = DB_PATH.format(ns=test_namespace)
    admin_api.request("POST", base, body=_db("with-status", test_namespace, replicas=2))
    status = {
        "phase": "Ready",
        "readyReplicas": 2,
        "observedGeneration": 1,
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "AllReplicasReady",
                "lastTransitionTime": "2026-01-01T00:00:00Z",
            }
        ],
        "undeclared": "is pruned",
    }
    admin_api.request("PATCH", f"{base}/with-status/status", body={"status": status}, content_type=MERGE_PATCH)
    # a status sent to the main resource is ignored: only the subresource writes it
    admin_api.request("PATCH", f"{base}/with-status", body={"status": {"phase": "Hacked"}}, content_type=MERGE_PATCH)
    got = admin_api.request("GET", f"{base}/with-status")
    assert got["status"]["phase"] == "Ready"
    assert got["status"]["readyReplicas"] == 2
    assert got["status"]["conditions"][0]["reason"] == "AllReplicasReady"
    assert "undeclared" not in got["status"]
    scale = admin_api.request("GET", f"{base}/with-status/scale")
    assert scale["spec"]["replicas"] == 2
    assert scale["status"]["replicas"] == 2


def test_storage_size_may_grow_but_not_shrink(
    shipped: dict[str, Any], admin_api: KubeApi, test_namespace: str, bd: Bd, kube_cluster: KubeCluster, tmp_path: Path
) -> None:
    base = DB_PATH.format(ns=test_namespace)
    admin_api.request("POST", base, body=_db("grows", test_namespace, **{"storage-size": "10Gi"}))
    admin_api.request("PATCH", f"{base}/grows", body={"spec": {"storage-size": "20Gi"}}, content_type=MERGE_PATCH)
    with pytest.raises(ApiError) as err:
        admin_api.request("PATCH", f"{base}/grows", body={"spec": {"storage-size": "5Gi"}}, content_type=MERGE_PATCH)
    assert err.value.status == 422
    assert "may not shrink" in err.value.message
    manifest = tmp_path / "shrink.yaml"
    manifest.write_text(yaml.safe_dump(_db("grows", test_namespace, **{"storage-size": "5Gi"})))
    offline = bd("crd", "check", "-f", str(manifest), "--offline", "-o", "json")
    assert offline.exit_code == 0, offline.stdout  # a single manifest cannot know the stored size
    online = bd("crd", "check", "-f", str(manifest), "--kubeconfig", str(kube_cluster.admin_kubeconfig), "-o", "json")
    assert online.exit_code == 4
    (problem,) = as_json(online)["problems"]
    assert problem["path"] == "spec.storage-size"
    assert problem["source"] == "server"
    assert "may not shrink" in problem["reason"]


INVALID = [
    pytest.param({"port": "5432"}, id="string-port"),
    pytest.param({"port": 70000}, id="port-too-big"),
    pytest.param({"replicas": -1}, id="negative-replicas"),
    pytest.param({"image": ""}, id="empty-image"),
    pytest.param({"storage-size": "10 GB"}, id="bad-quantity"),
    pytest.param({"storage-size": -3}, id="negative-quantity"),
    pytest.param({"nmae": "typo"}, id="unknown-field"),
    pytest.param({"backup": {"retention": 3}}, id="backup-without-schedule"),
    pytest.param({"name": "has space"}, id="bad-db-name"),
    pytest.param({"replicas": "three", "port": 0, "image": ""}, id="three-at-once"),
]


@pytest.mark.parametrize("spec", INVALID)
def test_offline_and_server_name_the_same_paths(
    spec: dict[str, Any], shipped: dict[str, Any], admin_api: KubeApi, test_namespace: str
) -> None:
    body = _db("invalid", test_namespace, **spec)
    info = crd_info(database_crd(), "shipped")
    offline, resolved = check_document(copy.deepcopy(body), [info])
    assert resolved is not None
    server = dry_run_document(admin_api, body, *resolved)
    offline_paths = {p.path for p in offline}
    assert offline_paths, "the offline check missed it"
    # a path may carry several problems (a pattern and a CEL rule); the server's answer is per path
    assert offline_paths == {path for path, _ in server}, (offline, server)


def test_bad_object_name_same_path(shipped: dict[str, Any], admin_api: KubeApi, test_namespace: str) -> None:
    body = _db("Bad_Name", test_namespace)
    info = crd_info(database_crd(), "shipped")
    offline, resolved = check_document(body, [info])
    assert resolved is not None
    assert [p.path for p in offline] == ["metadata.name"]
    assert [path for path, _ in dry_run_document(admin_api, body, *resolved)] == ["metadata.name"]


def test_check_uses_the_cluster_crds_for_did_you_mean(
    shipped: dict[str, Any], bd: Bd, kube_cluster: KubeCluster, tmp_path: Path, test_namespace: str
) -> None:
    good = _db("fine", test_namespace)
    typo = copy.deepcopy(good)
    typo["apiVersion"] = "stable.imaginedata.co/v1"  # the blog's sample
    kind = copy.deepcopy(good)
    kind["kind"] = "Databse"
    version = copy.deepcopy(good)
    version["apiVersion"] = "stable.imaginedata.com/v1beta1"
    path = tmp_path / "many.yaml"
    path.write_text(yaml.safe_dump_all([good, typo, kind, version]))
    result = bd("crd", "check", "-f", str(path), "--kubeconfig", str(kube_cluster.admin_kubeconfig), "-o", "json")
    assert result.exit_code == 4
    report = as_json(result)
    assert report["server_dry_run"] == "done"
    got = {(p["document"], p["path"]): p["reason"] for p in report["problems"]}
    assert set(got) == {(2, "apiVersion"), (3, "kind"), (4, "apiVersion")}
    assert "did you mean 'stable.imaginedata.com'?" in got[(2, "apiVersion")]
    assert "did you mean 'Database'?" in got[(3, "kind")]
    assert "did you mean 'stable.imaginedata.com/v1'?" in got[(4, "apiVersion")]


def test_short_name_clash_is_reported(bd: Bd, kube_cluster: KubeCluster, tmp_path: Path) -> None:
    def crd(plural: str, short: list[str]) -> dict[str, Any]:
        c = database_crd("clash.bd.test")
        c["metadata"]["name"] = f"{plural}.clash.bd.test"
        c["spec"]["names"] = {
            "plural": plural,
            "singular": plural[:-1],
            "kind": plural[:-1].title(),
            "shortNames": short,
        }
        return c

    kc = str(kube_cluster.admin_kubeconfig)
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_text(yaml.safe_dump(crd("widgets", ["wd"])))
    second.write_text(yaml.safe_dump(crd("gadgets", ["wd"])))
    assert bd("crd", "install", "-f", str(first), "--kubeconfig", kc).exit_code == 0
    clash = bd("crd", "install", "-f", str(second), "--kubeconfig", kc, "--timeout", "20")
    assert clash.exit_code == 1, clash.stderr
    assert "names were not accepted" in clash.stderr
    assert '"wd"' in clash.stderr
    status = bd("crd", "status", "gadgets.clash.bd.test", "--kubeconfig", kc, "-o", "json")
    assert status.exit_code == 4
    assert any(p.startswith("NamesAccepted is not True") for p in as_json(status)["problems"])
    for name in ("gadgets.clash.bd.test", "widgets.clash.bd.test"):
        assert bd("crd", "uninstall", name, "--yes", "--kubeconfig", kc).exit_code == 0


def test_status_reports_versions_and_counts(
    shipped: dict[str, Any], bd: Bd, kube_cluster: KubeCluster, admin_api: KubeApi
) -> None:
    listed = admin_api.request("GET", "/apis/stable.imaginedata.com/v1/databases")
    result = bd("crd", "status", "--kubeconfig", str(kube_cluster.admin_kubeconfig), "-o", "json")
    assert result.exit_code == 0, result.stderr
    report = as_json(result)
    assert report["healthy"] is True
    assert report["resources"] == len(listed["items"]) > 0
    assert report["storage_version"] == "v1"
    assert report["stored_versions"] == ["v1"]
    assert report["needs_migration"] == []
    assert report["status_subresource"] is True
    assert {c["type"] for c in report["conditions"]} >= {"Established", "NamesAccepted"}
    table = bd("crd", "status", "--kubeconfig", str(kube_cluster.admin_kubeconfig))
    assert "condition Established" in table.stdout
    missing = bd("crd", "status", "nothings.nowhere.test", "--kubeconfig", str(kube_cluster.admin_kubeconfig))
    assert missing.exit_code == 3
    assert "is not installed" in missing.stderr


def test_uninstall_refuses_while_resources_exist(
    bd: Bd, kube_cluster: KubeCluster, admin_api: KubeApi, test_namespace: str
) -> None:
    kc = str(kube_cluster.admin_kubeconfig)
    group = "uninstall.bd.test"
    assert bd("crd", "install", "--group", group, "--kubeconfig", kc).exit_code == 0
    for name in ("one", "two"):
        body = _db(name, test_namespace)
        body["apiVersion"] = f"{group}/v1"
        admin_api.request("POST", f"/apis/{group}/v1/namespaces/{test_namespace}/databases", body=body)
    refused = bd("crd", "uninstall", f"databases.{group}", "--yes", "--kubeconfig", kc)
    assert refused.exit_code == 1
    assert f"2 Database resources still exist: {test_namespace}/one, {test_namespace}/two" in refused.stderr
    assert "--force" in refused.stderr
    unattended = bd("crd", "uninstall", f"databases.{group}", "--force", "--kubeconfig", kc)
    assert unattended.exit_code == 2  # no terminal and no --yes: nothing is deleted
    dry = bd("crd", "uninstall", f"databases.{group}", "--force", "--dry-run", "--kubeconfig", kc, "-o", "json")
    assert as_json(dry) == {
        "name": f"databases.{group}",
        "action": "would delete",
        "resources_deleted": 2,
        "dry_run": True,
        "schema_version": 1,
    }
    assert bd("crd", "status", f"databases.{group}", "--kubeconfig", kc).exit_code == 0
    forced = bd("crd", "uninstall", f"databases.{group}", "--force", "--yes", "--kubeconfig", kc)
    assert forced.exit_code == 0, forced.stderr
    assert forced.stdout == f"customresourcedefinition/databases.{group} deleted (2 custom resource(s))\n"
    assert bd("crd", "status", f"databases.{group}", "--kubeconfig", kc).exit_code == 3


def test_rbac_denial_is_one_clear_line(shipped: dict[str, Any], bd: Bd, kube_cluster: KubeCluster) -> None:
    user = str(kube_cluster.user_kubeconfig)
    for args in (["install"], ["status"], ["uninstall", "--yes"]):
        result = bd("crd", *args, "--kubeconfig", user)
        assert result.exit_code == 1, (args, result.stderr)
        first = result.stderr.splitlines()[0]
        assert first.startswith("bd: error: forbidden: "), first
        assert 'User "bd-tester" cannot' in first
        assert result.stderr.splitlines()[1].startswith("hint: ")
    # check degrades to offline and says why, instead of failing
    manifest = yaml.safe_dump(_db("x", "default"))
    checked = bd("crd", "check", "-f", "-", "--kubeconfig", user, "-o", "json", input=manifest)
    assert checked.exit_code == 0, checked.stderr
    assert as_json(checked)["server_dry_run"].startswith("skipped: forbidden")


# No wall-clock assertions: the per-test timeout is the guard against a command that ignores --timeout.
@pytest.mark.timeout(120)
def test_apiserver_down_exits_5_within_timeout(shipped: dict[str, Any], bd: Bd, kube_cluster: KubeCluster) -> None:
    kc = str(kube_cluster.admin_kubeconfig)
    kube_cluster.stop_apiserver()
    try:
        for args in (["install"], ["status"], ["uninstall", "--yes"]):
            result = bd("crd", *args, "--kubeconfig", kc, "--timeout", "3")
            assert result.exit_code == 5, (args, result.stderr)
            assert "cannot reach the API server" in result.stderr
        checked = bd(
            "crd",
            "check",
            "-f",
            "-",
            "--kubeconfig",
            kc,
            "--timeout",
            "3",
            "-o",
            "json",
            input=yaml.safe_dump(_db("x", "default")),
        )
        assert checked.exit_code == 0
        assert as_json(checked)["server_dry_run"].startswith("skipped: cannot reach")
    finally:
        kube_cluster.restart_apiserver()


@pytest.mark.timeout(60)
def test_silent_apiserver_times_out_as_unreachable(bd: Bd, kube_cluster: KubeCluster, tmp_path: Path) -> None:
    """A port that accepts connections but never answers (a hung apiserver or a black-holed LB)."""
    import socket

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        config = yaml.safe_load(kube_cluster.admin_kubeconfig.read_text())
        config["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{port}"
        path = tmp_path / "silent.kubeconfig"
        path.write_text(yaml.safe_dump(config))
        result = bd("crd", "status", "--kubeconfig", str(path), "--timeout", "1.5")
    assert result.exit_code == 5, result.stderr
    assert "timed out" in result.stderr
