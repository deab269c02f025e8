"""Root conftest: shared plumbing is in tests/helpers.py; server fixtures in tests/<domain>/conftest.py."""
