"""`bd crd check` and `bd crd show` on a corpus of good and bad manifests.

Every bad manifest gives one clear reason per problem and exit 4 (2 for unreadable input), never a
traceback; the corpus runs offline and again with the real apiserver's dry run.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from braindump_cli.k8s.crd.shipped import database_crd
from braindump_cli.sandbox.servers.kube import KubeCluster
from tests.k8s.conftest import Bd, as_json


def _db(**spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"name": "appdb", "port": 5432, "storage-size": "1Gi", "image": "postgres:16.4"}
    body.update(spec)
    return {"apiVersion": "stable.imaginedata.com/v1", "kind": "Database", "metadata": {"name": "corpus"}, "spec": body}


def _with(**top: Any) -> str:
    doc = _db()
    doc.update(top)
    return yaml.safe_dump(doc)


def _huge() -> bytes:
    # written by hand: PyYAML's pure-Python emitter takes seconds for a 10 MiB scalar
    head = yaml.safe_dump(_db()).replace("  image: postgres:16.4\n", "")
    return (head + "  image: " + "x" * (10 * 2**20) + "\n").encode()


# name -> (file content, expected exit code, expected [(document, path, words in reason)])
CORPUS: dict[str, tuple[Callable[[], bytes | str], int, list[tuple[int, str, str]]]] = {
    "wrong-group": (
        lambda: _with(apiVersion="stable.imaginedata.co/v1"),
        4,
        [(1, "apiVersion", "did you mean 'stable.imaginedata.com'?")],
    ),
    "wrong-version": (lambda: _with(apiVersion="stable.imaginedata.com/v2"), 4, [(1, "apiVersion", "'v2'")]),
    "wrong-kind": (lambda: _with(kind="database"), 4, [(1, "kind", "did you mean 'Database'?")]),
    "built-in-group": (lambda: _with(apiVersion="v1"), 4, [(1, "apiVersion", "stable.imaginedata.com/v1")]),
    "string-port": (
        lambda: yaml.safe_dump(_db(port="5432")),
        4,
        [(1, "spec.port", "type integer, got string"), (1, "", "some validation rules were not checked")],
    ),
    "negative-replicas": (
        lambda: yaml.safe_dump(_db(replicas=-2)),
        4,
        [(1, "spec.replicas", "greater than or equal to 0")],
    ),
    "unknown-fields": (
        lambda: yaml.safe_dump(_db(storage="1Gi", Port=1)),
        4,
        [(1, "spec.Port", "unknown field"), (1, "spec.storage", "unknown field")],
    ),
    "missing-kind": (lambda: yaml.safe_dump({"apiVersion": "stable.imaginedata.com/v1"}), 4, [(1, "kind", "required")]),
    "not-a-mapping": (lambda: "- a\n- b\n", 4, [(1, "", "must be a mapping")]),
    # unparseable input is a usage error (2), as errors.py and docs/exit-codes.md say
    "malformed-yaml": (
        lambda: yaml.safe_dump(_db()) + "---\nspec: [unclosed\n",
        2,
        [(2, "", "YAML syntax error at line")],
    ),
    "tabs-yaml": (lambda: "apiVersion: v1\n\tkind: x\n", 2, [(1, "", "YAML syntax error")]),
    "empty": (lambda: "", 4, [(1, "", "the input is empty")]),
    "only-separators": (lambda: "---\n# nothing\n---\n", 4, [(1, "", "the input is empty")]),
    "ten-megabytes": (
        _huge,
        4,
        [
            (1, "spec.image", "at most 512 characters"),
            (1, "", "some validation rules were not checked"),
            (1, "", "at most 1.5 MiB per object"),
        ],
    ),
    "non-utf8": (lambda: b"apiVersion: v1\nkind: \xff\xfe\n", 2, []),
    "second-document-bad": (
        lambda: yaml.safe_dump_all(
            [_db(), _db(port=0), {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}]
        ),
        4,
        [(2, "spec.port", "greater than or equal to 1")],
    ),
}


@pytest.fixture(params=["offline", pytest.param("server", marks=pytest.mark.kube)])
def mode(request: pytest.FixtureRequest) -> list[str]:
    if request.param == "offline":
        return ["--offline"]
    cluster: KubeCluster = request.getfixturevalue("kube_cluster")
    install = request.getfixturevalue("bd")("crd", "install", "--kubeconfig", str(cluster.admin_kubeconfig))
    assert install.exit_code == 0, install.stderr
    return ["--kubeconfig", str(cluster.admin_kubeconfig)]


@pytest.mark.parametrize("case", sorted(CORPUS))
def test_bad_manifest_corpus(case: str, mode: list[str], bd: Bd, tmp_path: Path) -> None:
    make, code, expected = CORPUS[case]
    content = make()
    path = tmp_path / f"{case}.yaml"
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    result = bd("crd", "check", "-f", str(path), *mode, "-o", "json")
    assert result.exit_code == code, (result.stdout[:2000], result.stderr)
    if code == 2:
        assert result.stdout == ""
        if not expected:
            assert result.stderr.startswith(f"bd: error: {path} is not UTF-8 text")
        for doc, _, words in expected:
            assert result.stderr.startswith(f"bd: error: {path} document {doc}: {words}"), result.stderr
            assert "\nhint: " in result.stderr
        return
    report = as_json(result)
    assert report["ok"] is False
    got = [(p["document"], p["path"], p["reason"]) for p in report["problems"]]
    assert len(got) == len(expected), got
    for (doc, path_, words), (gdoc, gpath, reason) in zip(sorted(expected), sorted(got), strict=True):
        assert (gdoc, gpath) == (doc, path_), got
        assert words in reason, reason
        assert "\n" not in reason
        assert len(reason) < 300
    assert result.stderr.splitlines()[-2].startswith("bd: error: ")
    if mode != ["--offline"]:
        assert report["server_dry_run"].startswith("done")


def test_valid_stream_from_stdin_with_builtin_objects(bd: Bd) -> None:
    text = yaml.safe_dump_all(
        [_db(), {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}, _db(replicas=0)]
    )
    result = bd("crd", "check", "-f", "-", "--offline", "-o", "json", input=text)
    assert result.exit_code == 0, result.stderr
    assert as_json(result) == {
        "ok": True,
        "documents": 3,
        "checked": 2,
        "server_dry_run": "offline",
        "known_crds": ["databases.stable.imaginedata.com"],
        "problems": [],
        "objects": [
            {"file": "<stdin>", "document": i, "group": "stable.imaginedata.com", "kind": "Database", "name": "corpus"}
            for i in (1, 3)
        ],
        "schema_version": 1,
    }
    table = bd("crd", "check", "-f", "-", "--offline", input=text)
    assert table.stdout == "ok: 3 document(s), 2 custom resource(s) checked; server-side dry run: offline\n"
    jsonl = bd("crd", "check", "-f", "-", "--offline", "-o", "jsonl", input=yaml.safe_dump(_db(port=0)))
    assert [json.loads(line)["path"] for line in jsonl.stdout.splitlines()] == ["spec.port"]


def test_unreadable_inputs_exit_2(bd: Bd, tmp_path: Path) -> None:
    missing = bd("crd", "check", "-f", str(tmp_path / "nope.yaml"), "--offline")
    assert missing.exit_code == 2
    assert "no such file" in missing.stderr
    directory = bd("crd", "check", "-f", str(tmp_path), "--offline")
    assert directory.exit_code == 2
    assert "is a directory" in directory.stderr
    no_file = bd("crd", "check", "--offline")
    assert no_file.exit_code == 2


def test_crd_in_the_same_stream_and_crd_file(bd: Bd, tmp_path: Path) -> None:
    crd = database_crd("other.example.com")
    cr = _db(port=0)
    cr["apiVersion"] = "other.example.com/v1"
    together = bd("crd", "check", "-f", "-", "--offline", "-o", "json", input=yaml.safe_dump_all([crd, cr]))
    assert together.exit_code == 4
    assert [(p["document"], p["path"]) for p in as_json(together)["problems"]] == [(2, "spec.port")]
    crd_file = tmp_path / "crd.yaml"
    crd_file.write_text(yaml.safe_dump(crd))
    by_file = bd(
        "crd", "check", "-f", "-", "--crd", str(crd_file), "--offline", "-o", "json", input=yaml.safe_dump(_db())
    )
    assert by_file.exit_code == 4
    (problem,) = as_json(by_file)["problems"]
    assert "did you mean 'other.example.com'?" in problem["reason"]
    not_a_crd = bd("crd", "check", "-f", "-", "--crd", str(crd_file.parent / "x.yaml"), "--offline", input="")
    assert not_a_crd.exit_code == 2


def test_show_and_group_rewrite(bd: Bd) -> None:
    plain = bd("crd", "show")
    assert plain.exit_code == 0
    assert yaml.safe_load(plain.stdout) == database_crd()
    assert plain.stdout.startswith("# The Database CRD")
    other = bd("crd", "show", "--group", "stable.imaginedata.co", "-o", "json")
    doc = json.loads(other.stdout)
    assert doc == database_crd("stable.imaginedata.co")
    assert doc["metadata"]["name"] == "databases.stable.imaginedata.co"
    assert doc["spec"]["group"] == "stable.imaginedata.co"
    bad = bd("crd", "show", "--group", "NoDots")
    assert bad.exit_code == 2
    assert "--group" in bad.stderr


def test_shipped_crd_declares_what_the_issue_asks() -> None:
    crd = database_crd()
    spec = crd["spec"]
    assert spec["names"] == {
        "plural": "databases",
        "singular": "database",
        "kind": "Database",
        "listKind": "DatabaseList",
        "shortNames": ["db"],
        "categories": ["all"],
    }
    (v1,) = spec["versions"]
    schema = v1["schema"]["openAPIV3Schema"]["properties"]
    spec_fields = {"name", "port", "storage-size", "image", "engine", "replicas", "backup"}
    assert set(schema["spec"]["properties"]) == spec_fields
    assert set(schema["status"]["properties"]) >= {"phase", "conditions", "observedGeneration", "readyReplicas"}
    assert v1["subresources"]["scale"]["specReplicasPath"] == ".spec.replicas"
    assert [c["name"] for c in v1["additionalPrinterColumns"]] == ["Image", "Replicas", "Ready", "Phase", "Age"]
