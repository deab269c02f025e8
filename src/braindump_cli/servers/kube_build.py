"""Build kube-apiserver, etcd and kubectl from the Go module proxy, cached outside the repository.

k8s.io/kubernetes cannot be `go install`ed: it requires its ~30 staging modules at v0.0.0 and
replaces them with local paths. A wrapper module that replaces every one of them with the
published v0.X.Y tag builds cleanly.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from braindump_cli.progress import Progress, no_progress
from braindump_cli.servers._cache import cache_root

KUBE_VERSION = "v1.37.2"
ETCD_VERSION = "v3.6.16"


@dataclass(frozen=True)
class KubeBinaries:
    kube_apiserver: Path
    etcd: Path
    kubectl: Path


def binaries_dir(kube_version: str = KUBE_VERSION, etcd_version: str = ETCD_VERSION) -> Path:
    return cache_root() / "kube" / f"{kube_version}-etcd{etcd_version}"


def _go_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update({"CGO_ENABLED": "0", "GOWORK": "off", "GOFLAGS": "-buildvcs=false"})
    return env


def _run(cmd: list[str], cwd: Path, progress: Progress) -> str:
    go = shutil.which("go")
    if go is None:
        raise FileNotFoundError("go is not installed (Debian: apt-get install golang-go)")
    progress("$ " + " ".join(cmd))
    proc = subprocess.run(
        [go, *cmd[1:]] if cmd[0] == "go" else cmd,
        cwd=cwd,
        env=_go_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-4000:]}")
    return proc.stdout


def _staging_modules(kube_mod_text: str) -> list[str]:
    return sorted(set(re.findall(r"^\s*(k8s\.io/[\w.-]+) => \./staging/", kube_mod_text, re.M)))


def _ldflags(kube_version: str) -> str:
    major, minor = kube_version.lstrip("v").split(".")[:2]
    pkg = "k8s.io/component-base/version"
    return " ".join(
        [
            "-s -w",
            f"-X {pkg}.gitVersion={kube_version}",
            f"-X {pkg}.gitMajor={major}",
            f"-X {pkg}.gitMinor={minor}",
            f"-X {pkg}.gitTreeState=clean",
        ]
    )


def _build_kube(work: Path, out: Path, kube_version: str, progress: Progress) -> None:
    staging_version = "v0." + kube_version.lstrip("v").split(".", 1)[1]
    info = json.loads(_run(["go", "mod", "download", "-json", f"k8s.io/kubernetes@{kube_version}"], work, progress))
    mod_text = Path(info["GoMod"]).read_text()
    go_line = re.search(r"^go (\S+)", mod_text, re.M)
    staging = _staging_modules(mod_text)
    replaces = "\n".join(f"\t{m} => {m} {staging_version}" for m in staging)
    (work / "go.mod").write_text(
        f"module bdkube\n\ngo {go_line.group(1) if go_line else '1.24'}\n\n"
        f"require k8s.io/kubernetes {kube_version}\n\nreplace (\n{replaces}\n)\n"
    )
    (work / "tools.go").write_text(
        "//go:build tools\n\npackage tools\n\n"
        'import (\n\t_ "k8s.io/kubernetes/cmd/kube-apiserver"\n\t_ "k8s.io/kubernetes/cmd/kubectl"\n)\n'
    )
    _run(["go", "mod", "tidy"], work, progress)
    for name in ("kube-apiserver", "kubectl"):
        _run(
            [
                "go",
                "build",
                "-trimpath",
                "-ldflags",
                _ldflags(kube_version),
                "-o",
                str(out / f".{name}.partial"),
                f"k8s.io/kubernetes/cmd/{name}",
            ],
            work,
            progress,
        )
        # renamed only when complete: an interrupted build never leaves a truncated binary behind
        os.replace(out / f".{name}.partial", out / name)


def _build_etcd(work: Path, out: Path, etcd_version: str, progress: Progress) -> None:
    (work / "go.mod").write_text("module bdetcd\n\ngo 1.24\n")
    (work / "main.go").write_text(
        'package main\n\nimport (\n\t"os"\n\n\t"go.etcd.io/etcd/server/v3/etcdmain"\n)\n\n'
        "func main() { etcdmain.Main(os.Args) }\n"
    )
    _run(["go", "get", f"go.etcd.io/etcd/server/v3@{etcd_version}"], work, progress)
    _run(["go", "mod", "tidy"], work, progress)
    _run(["go", "build", "-trimpath", "-ldflags", "-s -w", "-o", str(out / ".etcd.partial"), "."], work, progress)
    os.replace(out / ".etcd.partial", out / "etcd")


def ensure_kube_binaries(
    *,
    kube_version: str = KUBE_VERSION,
    etcd_version: str = ETCD_VERSION,
    progress: Progress = no_progress,
) -> KubeBinaries:
    """Return the cached binaries, building whichever is missing (a cold build takes minutes)."""
    out = binaries_dir(kube_version, etcd_version)
    out.mkdir(parents=True, exist_ok=True)
    if not (out / "kube-apiserver").exists() or not (out / "kubectl").exists():
        progress(f"building kube-apiserver and kubectl {kube_version} (first run only, several minutes)")
        with tempfile.TemporaryDirectory(prefix="bd-kube-build-") as tmp:
            _build_kube(Path(tmp), out, kube_version, progress)
    if not (out / "etcd").exists():
        progress(f"building etcd {etcd_version} (first run only)")
        with tempfile.TemporaryDirectory(prefix="bd-etcd-build-") as tmp:
            _build_etcd(Path(tmp), out, etcd_version, progress)
    return KubeBinaries(out / "kube-apiserver", out / "etcd", out / "kubectl")


if __name__ == "__main__":
    import sys

    bins = ensure_kube_binaries(progress=lambda m: print(m, file=sys.stderr, flush=True))
    print(bins)
