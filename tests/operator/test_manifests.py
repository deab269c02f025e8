"""Pure logic: the deployment manifests and their least-privilege RBAC."""

from __future__ import annotations

import json

import yaml
from typer.testing import CliRunner

from braindump_cli.cli.app import app
from braindump_cli.k8s.operator.manifests import operator_rules, render_operator_manifests


def test_manifests_hold_every_piece() -> None:
    docs = render_operator_manifests(image="reg.example/bd:1", namespace="ops")
    kinds = [d["kind"] for d in docs]
    assert kinds == [
        "CustomResourceDefinition",
        "CustomResourceDefinition",
        "Namespace",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Deployment",
    ]
    assert docs[0]["metadata"]["name"] == "databases.stable.imaginedata.com"
    assert docs[1]["metadata"]["name"] == "clusterkopfpeerings.kopf.dev"
    deploy = docs[-1]
    assert deploy["metadata"]["namespace"] == "ops"
    assert deploy["spec"]["replicas"] == 2
    (c,) = deploy["spec"]["template"]["spec"]["containers"]
    assert c["image"] == "reg.example/bd:1"
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert "--liveness" in c["args"]
    assert deploy["spec"]["template"]["spec"]["serviceAccountName"] == "bd-operator"
    binding = docs[5]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "bd-operator", "namespace": "ops"}]


def test_rbac_has_no_wildcards_and_never_reads_secrets() -> None:
    rules = render_operator_manifests()[4]["rules"]
    for rule in rules:
        assert "*" not in rule["verbs"]
        assert "*" not in rule["resources"]
        assert "*" not in rule["apiGroups"]
    secret_rules = [r for r in rules if "secrets" in r["resources"]]
    assert secret_rules == [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["create", "delete"]}]
    assert all(r.why for r in operator_rules())


def test_group_option_renames_crd_and_rules() -> None:
    docs = render_operator_manifests(group="stable.imaginedata.co")
    assert docs[0]["metadata"]["name"] == "databases.stable.imaginedata.co"
    assert docs[4]["rules"][0]["apiGroups"] == ["stable.imaginedata.co"]
    assert "stable.imaginedata.co" in docs[-1]["spec"]["template"]["spec"]["containers"][0]["args"]


def test_cli_prints_yaml_stream_and_json() -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["operator", "manifests", "--image", "bd:dev", "--namespace", "ops"])
    assert result.exit_code == 0, result.stderr
    docs = [d for d in yaml.safe_load_all(result.stdout) if d]
    assert len(docs) == 7
    assert docs[-1]["spec"]["template"]["spec"]["containers"][0]["image"] == "bd:dev"
    as_json = runner.invoke(app, ["operator", "manifests", "-o", "json"])
    assert as_json.exit_code == 0
    assert [d["kind"] for d in json.loads(as_json.stdout)] == [d["kind"] for d in docs]


def test_run_rejects_conflicting_options() -> None:
    result = CliRunner().invoke(app, ["operator", "run", "--standalone", "--priority", "5"])
    assert result.exit_code == 2
    assert "exclude each other" in result.stderr
