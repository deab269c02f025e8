"""The Database operator (kopf + the official kubernetes client) and its deployment manifests.

Importing this package is cheap: kopf and kubernetes are imported inside the functions that run
the operator.
"""

from __future__ import annotations

from braindump_cli.k8s.operator.model import OperatorConfig
from braindump_cli.k8s.operator.runner import RunOptions, run_operator

__all__ = ["OperatorConfig", "RunOptions", "run_operator"]
