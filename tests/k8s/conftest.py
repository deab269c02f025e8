"""Fixtures for tests/k8s: one real kube-apiserver + etcd per session."""

from tests.kube_fixtures import kube_cluster  # noqa: F401
