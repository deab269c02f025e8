"""Where bd relies on more than a dependency's documented API, checked against what is installed.

pyproject.toml bounds each package named here; a release inside those bounds that moved one of
these names fails this test, loudly, instead of failing at a user's prompt with an ImportError.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "braindump_cli"

# The private Typer names bd imports (all in braindump_cli/cli/_errors.py, with the reason).
PRIVATE_TYPER = {
    ("typer._click.core", "Command"),
    ("typer._click.core", "Context"),
    ("typer._click.exceptions", "NoArgsIsHelpError"),
    ("typer._click.exceptions", "UsageError"),
    ("typer._click.formatting", "HelpFormatter"),
    ("typer._click.utils", "make_default_short_help"),
}


def _is_private(dotted: str) -> bool:
    return any(p.startswith("_") and not p.endswith("__") for p in dotted.split("."))


def _private_imports() -> set[tuple[str, str]]:
    """(module, name) of every `from <dependency>._x import name` under src/ (bd's own `_` modules excluded)."""
    found = set()
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                if not node.module.startswith("braindump_cli") and _is_private(node.module):
                    found |= {(node.module, alias.name) for alias in node.names}
            elif isinstance(node, ast.Import):
                found |= {
                    (a.name, "") for a in node.names if not a.name.startswith("braindump_cli") and _is_private(a.name)
                }
    return found


def test_the_private_imports_are_exactly_the_listed_ones() -> None:
    assert _private_imports() == PRIVATE_TYPER


@pytest.mark.parametrize(("module", "name"), sorted(PRIVATE_TYPER))
def test_typer_still_has_what_bd_imports(module: str, name: str) -> None:
    import typer

    try:
        found = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as e:
        pytest.fail(f"typer {typer.__version__} moved {module}.{name} ({e}): adjust cli/_errors.py and the bound")
    assert found is not None


def test_typer_context_is_the_bundled_click_context() -> None:
    """bd's group overrides take the bundled click's Context; Typer's public Context must be one."""
    import typer
    from typer._click.core import Context
    from typer._click.exceptions import NoArgsIsHelpError, UsageError

    assert issubclass(typer.Context, Context)
    assert issubclass(NoArgsIsHelpError, UsageError)
    assert issubclass(typer.BadParameter, UsageError)


def test_the_kubernetes_client_still_builds_requests_the_way_the_operator_uses() -> None:
    """k8s/client.py, the one Kubernetes adapter, sends through param_serialize and rest_client.pool_manager."""
    from kubernetes.client import ApiClient

    client = ApiClient()
    try:
        method, url, headers, _, _ = client.param_serialize("GET", "/api", header_params={"Accept": "a/b"})
        assert (method, url.endswith("/api"), headers["Accept"]) == ("GET", True, "a/b")
        assert hasattr(client.rest_client.pool_manager, "request")
    finally:
        client.close()


def test_the_cassandra_driver_still_keeps_the_initial_connect_futures() -> None:
    """cassandra/adapter.py waits on Session._initial_connect_futures (within its deadline) so that a
    node still connecting is not reported down. The driver ships its Python source beside the compiled
    module; a release that renamed the attribute fails here instead of silently skipping the wait."""
    import cassandra.cluster

    import cassandra

    source = Path(cassandra.cluster.__file__).with_name("cluster.py")
    assert source.is_file(), f"cassandra-driver {cassandra.__version__} ships no cluster.py to check"
    assert "self._initial_connect_futures = set()" in source.read_text(encoding="utf-8"), (
        f"cassandra-driver {cassandra.__version__} moved Session._initial_connect_futures: adjust cassandra/adapter.py"
    )
