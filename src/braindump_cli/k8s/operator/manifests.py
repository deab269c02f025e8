"""`bd operator manifests`: everything needed to deploy the operator, as a list of documents.

RBAC lists exactly the verbs the operator uses (no wildcards); `tests/operator` runs the operator
under this ClusterRole to prove it is enough. Why each rule exists is written next to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from braindump_cli.errors import UsageError
from braindump_cli.k8s.operator.model import GROUP, MANAGED_BY, PLURAL, is_image_reference

Obj = dict[str, Any]

DEFAULT_IMAGE = "ghcr.io/braindump/bd-operator:latest"
DEFAULT_NAMESPACE = "bd-operator"
LIVENESS_PORT = 8080


@dataclass(frozen=True)
class Rule:
    group: str
    resources: tuple[str, ...]
    verbs: tuple[str, ...]
    why: str

    def as_dict(self) -> Obj:
        return {"apiGroups": [self.group], "resources": list(self.resources), "verbs": list(self.verbs)}


def operator_rules(group: str = GROUP, plural: str = PLURAL) -> list[Rule]:
    return [
        Rule(
            group,
            (plural,),
            ("get", "list", "watch", "patch"),
            "watch Databases; kopf patches its finalizer and annotations",
        ),
        Rule(group, (f"{plural}/status",), ("patch",), "write phase, conditions, observedGeneration, readyReplicas"),
        Rule(group, (f"{plural}/finalizers",), ("update",), "ownerReferences with blockOwnerDeletion on children"),
        Rule("apps", ("statefulsets",), ("get", "list", "watch", "create", "patch", "delete"), "the database pods"),
        Rule(
            "",
            ("services", "configmaps"),
            ("get", "list", "watch", "create", "patch", "delete"),
            "headless Service, connection details",
        ),
        Rule("", ("secrets",), ("create", "delete"), "generated credentials: created once, never read"),
        Rule(
            "",
            ("persistentvolumeclaims",),
            ("create", "list", "patch"),
            "the backup volume of an engine profile; grow volumes when storage-size grows",
        ),
        Rule("batch", ("jobs",), ("get", "list", "watch", "create", "delete"), "init, upgrade and final snapshot Jobs"),
        Rule("batch", ("cronjobs",), ("get", "list", "watch", "create", "patch", "delete"), "scheduled backups"),
        Rule("", ("events",), ("create",), "an Event for each action"),
        Rule("kopf.dev", ("clusterkopfpeerings",), ("list", "watch", "patch", "create"), "peering: one replica acts"),
    ]


def _peering_crd() -> Obj:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "clusterkopfpeerings.kopf.dev"},
        "spec": {
            "scope": "Cluster",
            "group": "kopf.dev",
            "names": {
                "kind": "ClusterKopfPeering",
                "plural": "clusterkopfpeerings",
                "singular": "clusterkopfpeering",
            },
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {"status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
                        }
                    },
                }
            ],
        },
    }


def render_operator_manifests(
    *,
    image: str = DEFAULT_IMAGE,
    namespace: str = DEFAULT_NAMESPACE,
    group: str | None = None,
    min_version: str | None = None,
    replicas: int = 2,
) -> list[Obj]:
    """CRDs, Namespace, ServiceAccount, ClusterRole + binding and the Deployment.

    The ClusterKopfPeering object itself is created by `bd operator run` at start-up (a custom
    resource cannot be applied in the same pass as its CRD).
    """
    if not is_image_reference(image):
        raise UsageError(
            f"--image {image!r} is not an image reference",
            hint="e.g. --image registry.example.com/bd-operator:0.1 (lowercase repository, optional :tag or @sha256:)",
        )
    from braindump_cli.k8s.crd.shipped import database_crd

    crd = database_crd(group)
    db_group = str(crd["spec"]["group"])
    labels = {"app.kubernetes.io/name": MANAGED_BY, "app.kubernetes.io/managed-by": "bd"}
    args = ["operator", "run", "--all-namespaces", "--liveness", f"http://0.0.0.0:{LIVENESS_PORT}/healthz"]
    if group:
        args += ["--group", db_group]
    if min_version:
        args += ["--min-version", min_version]
    meta = {"namespace": namespace, "labels": labels}
    return [
        crd,
        _peering_crd(),
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace, "labels": labels}},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": MANAGED_BY, **meta}},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": MANAGED_BY, "labels": labels},
            "rules": [r.as_dict() for r in operator_rules(db_group)],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": MANAGED_BY, "labels": labels},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": MANAGED_BY},
            "subjects": [{"kind": "ServiceAccount", "name": MANAGED_BY, "namespace": namespace}],
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": MANAGED_BY, **meta},
            "spec": {
                # Two replicas for availability; kopf peering (random priorities) lets one act.
                "replicas": replicas,
                "selector": {"matchLabels": {"app.kubernetes.io/name": MANAGED_BY}},
                "strategy": {"type": "Recreate"},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "serviceAccountName": MANAGED_BY,
                        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
                        "containers": [
                            {
                                "name": "operator",
                                "image": image,
                                "args": args,
                                "env": [{"name": "POD_ID", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                                "ports": [{"name": "health", "containerPort": LIVENESS_PORT}],
                                "livenessProbe": {
                                    "httpGet": {"path": "/healthz", "port": "health"},
                                    "initialDelaySeconds": 10,
                                    "periodSeconds": 15,
                                    "timeoutSeconds": 5,
                                    "failureThreshold": 4,
                                },
                                "resources": {
                                    "requests": {"cpu": "50m", "memory": "128Mi"},
                                    "limits": {"memory": "512Mi"},
                                },
                                "securityContext": {
                                    "allowPrivilegeEscalation": False,
                                    "readOnlyRootFilesystem": True,
                                    "capabilities": {"drop": ["ALL"]},
                                },
                            }
                        ],
                    },
                },
            },
        },
    ]


def manifests_yaml(docs: Sequence[Obj]) -> str:
    """The documents as one YAML stream, each written out in full (no `&id001` anchors or aliases:
    kubectl accepts them, but people read, diff and edit these manifests)."""
    import yaml

    class _PlainDumper(yaml.SafeDumper):
        def ignore_aliases(self, data: Any) -> bool:
            return True

    return "".join("---\n" + yaml.dump(d, Dumper=_PlainDumper, sort_keys=False) for d in docs)
