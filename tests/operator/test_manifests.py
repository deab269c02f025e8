"""Pure logic: the deployment manifests and their least-privilege RBAC."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from braindump_cli.cli.app import app
from braindump_cli.k8s.operator.manifests import operator_rules, render_operator_manifests
from braindump_cli.k8s.operator.model import is_image_reference


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


@pytest.mark.parametrize("mode", [[], ["--standalone"]])
def test_run_against_a_refusing_api_server_exits_5_in_one_line(tmp_path: Path, mode: list[str]) -> None:
    """Both modes ask the API server before kopf starts (kopf alone says it with an aiohttp traceback)."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\n"
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1', insecure-skip-tls-verify: true}}]\n"
        "users: [{name: u, user: {token: not-a-real-token}}]\n"
        "contexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n"
    )
    result = CliRunner().invoke(app, ["operator", "run", *mode, "--kubeconfig", str(kubeconfig)])
    assert result.exit_code == 5, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("bd: error: ")


def test_yaml_has_no_anchors_and_says_what_json_says() -> None:
    """Shared objects (the labels) are written out in full: no `&id001` / `*id001` for people to decode."""
    runner = CliRunner()
    as_yaml = runner.invoke(app, ["operator", "manifests", "--image", "reg.example/bd:1"])
    as_json = runner.invoke(app, ["operator", "manifests", "--image", "reg.example/bd:1", "-o", "json"])
    assert as_yaml.exit_code == 0, as_yaml.stderr
    assert as_json.exit_code == 0, as_json.stderr
    assert "&id" not in as_yaml.stdout
    assert "*id" not in as_yaml.stdout
    assert [d for d in yaml.safe_load_all(as_yaml.stdout) if d] == json.loads(as_json.stdout)
    docs = render_operator_manifests(image="reg.example/bd:1")
    deploy = docs[-1]
    assert deploy["metadata"]["labels"] == deploy["spec"]["template"]["metadata"]["labels"]  # the shared case


@pytest.mark.parametrize(
    "image",
    [
        "postgres",
        "reg.example/bd:1",
        "registry.example.com:5000/team/bd-operator:0.1",
        "localhost:5000/bd_operator__x/a-b--c:v1.2.3-rc.1",
        "ghcr.io/braindump/bd-operator@sha256:" + "0" * 64,
        "bd:1@sha256:" + "a" * 64,
    ],
)
def test_valid_image_references_are_accepted(image: str) -> None:
    assert is_image_reference(image)
    (container,) = render_operator_manifests(image=image)[-1]["spec"]["template"]["spec"]["containers"]
    assert container["image"] == image


@pytest.mark.parametrize(
    "image",
    [
        "",
        "bd operator",  # a space
        "Registry.example.com/Team/bd:1",  # uppercase in the repository path
        "bd:",  # empty tag
        "bd::1",
        "bd:-1",  # a tag cannot start with '-'
        "https://reg.example/bd:1",  # a URL, not a reference
        "reg.example/bd/",
        "bd@sha256:abc",  # a digest is 64 hex digits
        "bd:" + "x" * 129,  # tags are at most 128 characters
    ],
)
def test_an_image_that_cannot_be_valid_is_refused(image: str) -> None:
    assert not is_image_reference(image)
    result = CliRunner().invoke(app, ["operator", "manifests", "--image", image])
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0] == f"bd: error: --image {image!r} is not an image reference"
    assert len(lines) == 2
    assert lines[1].startswith("hint: e.g. --image registry.example.com/bd-operator:0.1")
