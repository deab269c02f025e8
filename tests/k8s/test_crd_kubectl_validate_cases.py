"""kubectl-validate's own test cases for custom resources (its `testcases/`, each manifest with the
API server's expected Status in a leading comment), taken from its Go module at test time: bd's
`-o status` must give the same verdict and the same causes (field and reason)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from braindump_cli.k8s.crd.resolve import is_crd
from tests.k8s import real_crds
from tests.k8s.conftest import Bd, as_json

MODULE = ("sigs.k8s.io/kubectl-validate", "v0.0.4")


@pytest.fixture(scope="module")
def testcases() -> Path:
    return real_crds.module_dir(*MODULE) / "testcases"


def _crd_groups(testcases: Path) -> tuple[list[Path], set[str]]:
    files, groups = [], set()
    for path in sorted((testcases / "crds").glob("*.yaml")):
        crds = [d for d in yaml.safe_load_all(path.read_text()) if is_crd(d)]
        if crds:
            files.append(path)
            groups |= {c["spec"]["group"] for c in crds}
    return files, groups


def _expected(path: Path) -> dict[str, Any]:
    lines = []
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        lines.append(line[1:])
    text = "\n".join(lines)
    return dict(json.loads(text[: text.rindex("}") + 1]))


def _custom_resource_cases(testcases: Path) -> list[Path]:
    _, groups = _crd_groups(testcases)
    out = []
    for path in sorted((testcases / "manifests").glob("*.yaml")):
        docs = [d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict)]
        if len(docs) == 1 and str(docs[0].get("apiVersion", "")).split("/")[0] in groups:
            out.append(path)
    return out


def _causes(status: dict[str, Any]) -> set[tuple[str, str]]:
    return {(c["field"], c["reason"]) for c in (status.get("details") or {}).get("causes") or []}


def test_every_custom_resource_case_matches_the_servers_status(bd: Bd, testcases: Path) -> None:
    crd_files, _ = _crd_groups(testcases)
    cases = _custom_resource_cases(testcases)
    assert len(cases) >= 4, cases
    matched = []
    for case in cases:
        want = _expected(case)
        args = ["crd", "check", "--offline", "-f", str(case), "-o", "status"]
        for crd in crd_files:
            args += ["--crd", str(crd)]
        result = bd(*args)
        assert result.exit_code in (0, 4), result.stderr
        (got,) = as_json(result)
        status = got["status"]
        same = status["status"] == want["status"] and _causes(status) == _causes(want)
        matched.append((case.name, same, _causes(want), _causes(status)))
    print("\n".join(f"{name}: {'same' if same else f'want {w}, bd {g}'}" for name, same, w, g in matched))
    assert all(same for _, same, _, _ in matched), matched
