"""Harnesses that start real servers on loopback (kube-apiserver + etcd, Cassandra, PostgreSQL).

The test suite and `bd sandbox` use the same code. Builds and downloads are cached outside the
repository (see `_cache.cache_root`).
"""
