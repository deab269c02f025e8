# Runs inside the interpreter Airflow uses (`bd airflow doctor --python`), which may be another
# Python version: standard library only, Python 3.8 syntax, never imports braindump_cli.
#
# Protocol: stdin holds a JSON object {"dags_folder": str, "files": [str, ...]}. Results go to the
# original stdout as JSON lines: first {"interpreter": {...}}, then per file {"start": path} and
# {"done": path, ...}. The DAG files' own prints are sent to stderr so they cannot corrupt it.
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sys
import time
import traceback
from types import ModuleType
from typing import Any

_out = os.fdopen(os.dup(1), "w", encoding="utf-8")
os.dup2(2, 1)
sys.stdout = sys.stderr


def _send(obj: dict[str, Any]) -> None:
    _out.write(json.dumps(obj) + "\n")
    _out.flush()


def _airflow_version() -> str | None:
    try:
        from importlib.metadata import version

        return version("apache-airflow")
    except Exception:
        return None


_CONTEXT_MODULES = ("airflow.sdk.definitions._internal.contextmanager", "airflow.models.dag")


def _dag_context() -> Any:
    """Airflow's DagContext (3.x, then 2.x), imported as DagBag has it, or None without Airflow."""
    if importlib.util.find_spec("airflow") is None:
        return None
    for name in _CONTEXT_MODULES:
        try:
            module = importlib.import_module(name)
        except Exception:  # noqa: S112 - 2.x has no airflow.sdk; a broken install shows in the DAG imports
            continue
        context = getattr(module, "DagContext", None)
        if hasattr(context, "autoregistered_dags"):
            return context
    return None


def _dag_ids(module: ModuleType, context: Any) -> list[str]:
    ids: list[str] = []
    for value in list(vars(module).values()):
        for cls in type(value).__mro__:
            if cls.__name__ == "DAG" and (cls.__module__ or "").startswith("airflow"):
                dag_id = getattr(value, "dag_id", None)
                if isinstance(dag_id, str):
                    ids.append(dag_id)
                break
    # DAGs made in a `with DAG(...)` block and never bound to a name are auto-registered (2.4+).
    registry = getattr(context, "autoregistered_dags", None)
    for item in list(registry or ()):
        dag, mod = item if isinstance(item, tuple) else (item, None)
        if mod is module and isinstance(getattr(dag, "dag_id", None), str):
            ids.append(dag.dag_id)
    if registry:
        registry.clear()
    return sorted(set(ids))


def _parse(path: str, context: Any) -> dict[str, Any]:
    started = time.monotonic()
    stem = os.path.splitext(os.path.basename(path))[0]
    name = "unusual_prefix_" + hashlib.sha256(path.encode()).hexdigest() + "_" + stem
    result: dict[str, Any] = {"done": path, "ok": True, "dag_ids": []}
    result.update(error_type=None, error=None, missing_module=None)
    try:
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        if context is not None:
            context.current_autoregister_module_name = name
        spec.loader.exec_module(module)
        result["dag_ids"] = _dag_ids(module, context)
    except BaseException as e:
        if isinstance(e, KeyboardInterrupt):
            raise
        result["ok"] = False
        result["error_type"] = type(e).__name__
        result["error"] = (str(e).strip().splitlines() or [""])[0][:500]
        if isinstance(e, ModuleNotFoundError):
            result["missing_module"] = e.name
        frames = traceback.extract_tb(e.__traceback__)
        where = [f for f in frames if os.path.abspath(f.filename) == path] or frames[-1:]
        if where:
            result["line"] = where[-1].lineno
    finally:
        if context is not None:
            context.current_autoregister_module_name = None
        sys.modules.pop(name, None)
    result["seconds"] = round(time.monotonic() - started, 3)
    return result


def main() -> None:
    job = json.loads(sys.stdin.read())
    if job["dags_folder"] not in sys.path:
        sys.path.insert(0, job["dags_folder"])
    _send(
        {
            "interpreter": {
                "executable": sys.executable,
                "version": ".".join(str(p) for p in sys.version_info[:3]),
                "prefix": sys.prefix,
                "airflow_version": _airflow_version(),
            }
        }
    )
    context = _dag_context() if job["files"] else None
    for path in job["files"]:
        _send({"start": path})
        _send(_parse(path, context))


main()
