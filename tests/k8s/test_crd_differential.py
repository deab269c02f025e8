"""Differential proof of `bd crd check` offline: its verdicts and field paths against the real
kube-apiserver's dry run (fieldValidation=Strict), for creates and for updates (`--old`).

The corpora are seeded (tests/k8s/crd_corpus.py); the figures are printed (run with -s) and go in
docs/crd.md.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from braindump_cli.k8s.client import ApiError, KubeApi
from braindump_cli.k8s.crd.check import check_document, server_problems
from braindump_cli.k8s.crd.resolve import CrdInfo, crd_info
from braindump_cli.k8s.crd.shipped import database_crd
from braindump_cli.sandbox.servers.kube import KubeCluster
from tests.k8s import crd_corpus, real_crds
from tests.k8s.conftest import Bd

pytestmark = [pytest.mark.kube, pytest.mark.slow]

WIDGET_CRD = Path(__file__).parent / "data" / "widget-crd.yaml"
SEED = 20261201


@dataclass
class Tally:
    """Offline against the server, object by object."""

    total: int = 0
    verdicts_agree: int = 0
    false_accepts: list[str] = field(default_factory=list)  # the server rejected, bd passed
    false_rejects: list[str] = field(default_factory=list)
    rejected_both: int = 0
    same_paths: int = 0
    path_diffs: list[str] = field(default_factory=list)

    def add(self, label: str, offline: set[str], server: set[str] | None) -> None:
        """`server` None: accepted; a set of paths: rejected."""
        self.total += 1
        bd_rejects = bool(offline)
        if bd_rejects == (server is not None):
            self.verdicts_agree += 1
        elif server is not None:
            self.false_accepts.append(f"{label}: server {sorted(server)}")
        else:
            self.false_rejects.append(f"{label}: bd {sorted(offline)}")
        if bd_rejects and server is not None:
            self.rejected_both += 1
            if offline == server:
                self.same_paths += 1
            else:
                self.path_diffs.append(f"{label}: bd {sorted(offline)} server {sorted(server)}")

    def report(self, what: str) -> str:
        paths = self.same_paths / self.rejected_both if self.rejected_both else 1.0
        lines = [
            f"{what}: {self.total} objects, verdicts agree {self.verdicts_agree}/{self.total} "
            f"({100 * self.verdicts_agree / self.total:.1f}%), false accepts {len(self.false_accepts)}, "
            f"false rejects {len(self.false_rejects)}, identical field paths {self.same_paths}/{self.rejected_both} "
            f"({100 * paths:.1f}%)",
            *(f"  false accept: {x}" for x in self.false_accepts),
            *(f"  false reject: {x}" for x in self.false_rejects),
            *(f"  paths differ: {x}" for x in self.path_diffs),
        ]
        return "\n".join(lines)

    def assert_goal(self) -> None:
        assert not self.false_accepts, self.report("false accepts")
        assert self.verdicts_agree == self.total, self.report("verdicts")
        assert self.same_paths >= 0.95 * self.rejected_both, self.report("field paths")


def _paths_of(err: ApiError) -> set[str]:
    """Every field the server named; `<nil>` (the object itself) is the empty path, as in bd."""
    if err.status in (0, 401, 403, 404):
        raise err
    causes = {str(c.get("field") or "").lstrip(".").replace("<nil>", "") for c in err.causes}
    return causes or {path for path, _ in server_problems(err)}


def _server(api: KubeApi, method: str, path: str, body: dict[str, Any]) -> set[str] | None:
    """The server's dry-run verdict (fieldValidation=Strict): None when it accepts, else the field paths."""
    try:
        api.request(method, path, query={"dryRun": "All", "fieldValidation": "Strict"}, body=body)
    except ApiError as e:
        return _paths_of(e)
    return None


def _offline_paths(body: dict[str, Any], info: CrdInfo, old: dict[str, Any] | None = None) -> set[str]:
    found, resolved = check_document(copy.deepcopy(body), [info], old=old)
    assert resolved is not None
    return {p.path for p in found}


def _install(bd: Bd, kube_cluster: KubeCluster, path: Path | None) -> None:
    args = ["crd", "install", "--kubeconfig", str(kube_cluster.admin_kubeconfig)]
    result = bd(*args, *(["-f", str(path)] if path else []))
    assert result.exit_code == 0, result.stderr


@pytest.fixture(scope="module")
def widget(bd: Bd, kube_cluster: KubeCluster) -> CrdInfo:
    _install(bd, kube_cluster, WIDGET_CRD)
    return crd_info(yaml.safe_load(WIDGET_CRD.read_text()), str(WIDGET_CRD))


@pytest.fixture(scope="module")
def database(bd: Bd, kube_cluster: KubeCluster) -> CrdInfo:
    _install(bd, kube_cluster, None)
    return crd_info(database_crd(), "shipped")


def _creates(api: KubeApi, info: CrdInfo, objects: list[tuple[str, dict[str, Any]]], ns: str, version: str) -> Tally:
    tally = Tally()
    for label, obj in objects:
        obj["metadata"]["namespace"] = ns
        path = f"/apis/{info.group}/{version}/namespaces/{ns}/{info.plural}"
        tally.add(label, _offline_paths(obj, info), _server(api, "POST", path, obj))
    return tally


def test_widget_creates_agree_with_the_server(widget: CrdInfo, admin_api: KubeApi, test_namespace: str) -> None:
    objects = crd_corpus.corpus(crd_corpus.WIDGET_BASE, crd_corpus.WIDGET_MUTATIONS, count=300, seed=SEED)
    tally = _creates(admin_api, widget, objects, test_namespace, "v1")
    print(tally.report("Widget CRD (creates)"))
    tally.assert_goal()


DB_BASE: dict[str, Any] = {
    "apiVersion": "stable.imaginedata.com/v1",
    "kind": "Database",
    "metadata": {"name": "d"},
    "spec": {"name": "appdb", "port": 5432, "storage-size": "1Gi", "image": "postgres:16.4", "replicas": 1},
}
_s = crd_corpus._set
_d = crd_corpus._delete
DB_MUTATIONS = [
    _s("spec.port", "5432"),
    _s("spec.port", 0),
    _s("spec.port", 70000),
    _s("spec.replicas", -1),
    _s("spec.replicas", None),
    _s("spec.image", ""),
    _s("spec.storage-size", "10 GB"),
    _s("spec.storage-size", -3),
    _s("spec.storage-size", "-1Gi"),
    _s("spec.storage-size", 0),
    _s("spec.storage-size", "0"),
    _s("spec.storage-size", "1e3"),
    _s("spec.storage-size", "500m"),
    _s("spec.storage-size", None),
    _s("spec.nmae", "typo"),
    _s("spec.backup", {"retention": 3}),
    _s("spec.backup", {"schedule": "0 3 * * *", "retention": 0}),
    _s("spec.backup", {"schedule": "0 3 * * *", "extra": 1}),
    _s("spec.name", "has space"),
    _s("spec.name", "appdb\n"),
    _d("spec.image"),
    _d("spec.port"),
    _s("metadata.name", "Bad_Name"),
    _s("metadata.annotations", {"a": "b"}),
    _s("status", {"phase": "Hacked"}),
]


def test_database_creates_agree_with_the_server(database: CrdInfo, admin_api: KubeApi, test_namespace: str) -> None:
    objects = crd_corpus.corpus(DB_BASE, DB_MUTATIONS, count=120, seed=SEED)
    tally = _creates(admin_api, database, objects, test_namespace, "v1")
    print(tally.report("Database CRD (creates)"))
    tally.assert_goal()


def test_widget_updates_agree_with_the_server(widget: CrdInfo, admin_api: KubeApi, test_namespace: str) -> None:
    tally = Tally()
    base = f"/apis/cel.bd.test/v1/namespaces/{test_namespace}/widgets"
    for i, (label, new_spec) in enumerate(
        crd_corpus.corpus(crd_corpus.WIDGET_BASE, crd_corpus.WIDGET_UPDATES, count=40, seed=SEED)
    ):
        old = copy.deepcopy(crd_corpus.WIDGET_BASE)
        old["metadata"] = {"name": f"upd-{i}", "namespace": test_namespace}
        stored = admin_api.request("POST", base, body=old)
        new = copy.deepcopy(new_spec)
        new["metadata"] = {**stored["metadata"]}
        tally.add(
            f"update {label}",
            _offline_paths(new, widget, old=stored),
            _server(admin_api, "PUT", f"{base}/upd-{i}", new),
        )
        admin_api.request("DELETE", f"{base}/upd-{i}")
    print(tally.report("Widget CRD (updates with --old)"))
    tally.assert_goal()


def _real(bd: Bd, kube_cluster: KubeCluster, tmp_path_factory: pytest.TempPathFactory, crd: dict[str, Any]) -> CrdInfo:
    path = tmp_path_factory.mktemp("crds") / f"{crd['metadata']['name']}.yaml"
    path.write_text(yaml.safe_dump(crd))
    _install(bd, kube_cluster, path)
    return crd_info(crd, str(path))


REAL = {
    "jobset": (real_crds.jobset_crd, real_crds.JOBSET_BASE),
    "certificate": (lambda: real_crds.cert_manager_crd("certificates"), real_crds.CERTIFICATE_BASE),
    "issuer": (lambda: real_crds.cert_manager_crd("issuers"), real_crds.ISSUER_BASE),
}


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_world_crds_agree_with_the_server(
    name: str,
    bd: Bd,
    kube_cluster: KubeCluster,
    tmp_path_factory: pytest.TempPathFactory,
    admin_api: KubeApi,
    test_namespace: str,
) -> None:
    load, base = REAL[name]
    crd = load()
    info = _real(bd, kube_cluster, tmp_path_factory, crd)
    version = next(v for v in info.versions if v.name == base["apiVersion"].split("/")[1])
    mutations = crd_corpus.schema_mutations(base, version.schema)
    objects = crd_corpus.corpus(base, mutations, count=max(150, len(mutations) + 20), seed=SEED)
    tally = _creates(admin_api, info, objects, test_namespace, version.name)
    print(tally.report(f"{info.kind} ({info.name}, creates)"))
    tally.assert_goal()


def _ratchet_crd(*, tight: bool) -> dict[str, Any]:
    crd: dict[str, Any] = yaml.safe_load((WIDGET_CRD.parent / "ratchet-crd.yaml").read_text())
    if tight:
        props = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
        props["name"].update(pattern="^[a-z]+$", maxLength=8)
        props["size"].update(maximum=10, **{"x-kubernetes-validations": [{"rule": "self % 2 == 0"}]})
        props["items"]["maxItems"] = 2
    return crd


RATCHET_UPDATES: dict[str, dict[str, Any]] = {
    "unchanged invalid fields, another field changes": {"note": "changed"},
    "invalid name changed to another invalid name": {"name": "Still Bad"},
    "invalid name fixed": {"name": "good"},
    "odd size changed to another odd size": {"size": 9},
    "size fixed": {"size": 4},
    "too many items grow": {"items": ["a", "b", "c", "d"]},
    "too many items unchanged, name fixed": {"name": "fine"},
}


def test_ratcheting_agrees_with_the_server(
    bd: Bd, kube_cluster: KubeCluster, tmp_path: Path, admin_api: KubeApi, test_namespace: str
) -> None:
    """Objects stored under a loose schema, then the schema tightened: an update that leaves an
    invalid value alone is allowed, one that changes it to another invalid value is not."""
    loose, tight = tmp_path / "loose.yaml", tmp_path / "tight.yaml"
    loose.write_text(yaml.safe_dump(_ratchet_crd(tight=False)))
    tight.write_text(yaml.safe_dump(_ratchet_crd(tight=True)))
    _install(bd, kube_cluster, loose)
    base = f"/apis/cel.bd.test/v1/namespaces/{test_namespace}/ratchets"
    stored = {}
    for i in range(len(RATCHET_UPDATES)):
        body = {
            "apiVersion": "cel.bd.test/v1",
            "kind": "Ratchet",
            "metadata": {"name": f"r{i}", "namespace": test_namespace},
            "spec": {"name": "Bad Name!", "size": 11, "note": "n", "items": ["a", "b", "c"]},
        }
        stored[i] = admin_api.request("POST", base, body=body)
    _install(bd, kube_cluster, tight)
    info = crd_info(_ratchet_crd(tight=True), str(tight))
    tally = Tally()
    for i, (label, change) in enumerate(RATCHET_UPDATES.items()):
        new = copy.deepcopy(stored[i])
        new["spec"].update(change)
        tally.add(label, _offline_paths(new, info, old=stored[i]), _server(admin_api, "PUT", f"{base}/r{i}", new))
    print(tally.report("Ratcheting (updates of objects stored invalid)"))
    tally.assert_goal()
    assert 0 < tally.rejected_both < tally.total, "the corpus must hold ratcheted (accepted) and refused updates"
