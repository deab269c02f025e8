"""Build the Kubernetes binaries from the Go module proxy, cached outside the repository.

kube-apiserver, kubectl, kube-controller-manager and kube-scheduler: k8s.io/kubernetes cannot be
`go install`ed: it requires its ~30 staging modules at v0.0.0 and replaces them with local paths.
A wrapper module that replaces every one of them with the published v0.X.Y tag builds cleanly;
all four binaries come from that one module with the same version ldflags. etcd comes from a
wrapper around `etcdmain`, KWOK (the kubelet stand-in) from its own module, which needs no
replaces. KWOK's stage files (what it does to Nodes, Pods and volumes) are copied out of its
module next to the binary.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from braindump_cli.progress import Progress, no_progress
from braindump_cli.sandbox.servers._cache import cache_root

KUBE_VERSION = "v1.37.2"
ETCD_VERSION = "v3.6.16"
KWOK_VERSION = "v0.8.0"
# a build prints nothing for minutes (linking k8s.io/kubernetes): say how far it got this often
HEARTBEAT_SECONDS = 20.0
# the stage files of the kwok module that `servers.kube_plane` configures KWOK with
KWOK_STAGES = (
    "node/fast/node-initialize.yaml",
    "node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
    "pod/fast/pod-ready.yaml",
    "pod/fast/pod-complete.yaml",
    "pod/fast/pod-delete.yaml",
    "volume/fast/pvc-provision.yaml",
    "volume/fast/pv-bind.yaml",
    "volume/fast/pvc-delete.yaml",
    "volume/fast/pv-delete.yaml",
    "volume/fast/storage-class.yaml",
)


@dataclass(frozen=True)
class KubeBinaries:
    kube_apiserver: Path
    etcd: Path
    kubectl: Path


@dataclass(frozen=True)
class ControlPlaneBinaries:
    kube_controller_manager: Path
    kube_scheduler: Path
    kwok: Path
    kwok_stages: Path  # directory: KWOK_STAGES, relative paths kept


def binaries_dir(kube_version: str = KUBE_VERSION, etcd_version: str = ETCD_VERSION) -> Path:
    return cache_root() / "kube" / f"{kube_version}-etcd{etcd_version}"


def control_plane_dir(kube_version: str = KUBE_VERSION) -> Path:
    return cache_root() / "kube" / f"{kube_version}-control-plane"


def kwok_dir(kwok_version: str = KWOK_VERSION) -> Path:
    return cache_root() / "kwok" / kwok_version


def _go_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update({"CGO_ENABLED": "0", "GOWORK": "off", "GOFLAGS": "-buildvcs=false"})
    return env


def _go() -> str:
    go = shutil.which("go")
    if go is None:
        raise FileNotFoundError("go is not installed (Debian: apt-get install golang-go)")
    return go


def _run(cmd: list[str], cwd: Path, progress: Progress) -> str:
    progress("$ " + " ".join(cmd))
    proc = subprocess.run(
        [_go(), *cmd[1:]] if cmd[0] == "go" else cmd,
        cwd=cwd,
        env=_go_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-4000:]}")
    return proc.stdout


def _go_build(args: list[str], cwd: Path, what: str, progress: Progress) -> None:
    """`go build -v ...`, reporting every HEARTBEAT_SECONDS how many packages it compiled so far.

    `-v` names each package as it is compiled (cached ones are not named); the link step names
    nothing, so a heartbeat also says how long it has been quiet.
    """
    cmd = ["go", "build", "-v", *args]
    progress("$ " + " ".join(cmd))
    proc = subprocess.Popen(
        [_go(), *cmd[1:]], cwd=cwd, env=_go_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stderr or ()), daemon=True)
    reader.start()
    start = time.monotonic()
    while True:
        try:
            proc.wait(timeout=HEARTBEAT_SECONDS)
            break
        except subprocess.TimeoutExpired:
            last = lines[-1].strip() if lines else "resolving"
            progress(f"building {what}: {len(lines)} packages compiled, {time.monotonic() - start:.0f}s (last: {last})")
    reader.join(timeout=10)
    if proc.returncode != 0:
        raise RuntimeError(f"go build {what} failed:\n{''.join(lines)[-4000:]}")
    progress(f"built {what} in {time.monotonic() - start:.0f}s ({len(lines)} packages compiled)")


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


def _wrapper_module(work: Path, kube_version: str, progress: Progress) -> None:
    """go.mod of a module that requires k8s.io/kubernetes with every staging module replaced."""
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
    imports = "".join(f'\t_ "k8s.io/kubernetes/cmd/{name}"\n' for name in KUBE_COMMANDS)
    (work / "tools.go").write_text(f"//go:build tools\n\npackage tools\n\nimport (\n{imports})\n")
    _run(["go", "mod", "tidy"], work, progress)


KUBE_COMMANDS = ("kube-apiserver", "kubectl", "kube-controller-manager", "kube-scheduler")


def _build_kube(work: Path, out: Path, kube_version: str, names: tuple[str, ...], progress: Progress) -> None:
    _wrapper_module(work, kube_version, progress)
    for name in names:
        partial = out / f".{name}.{os.getpid()}.partial"  # concurrent builders do not collide
        _go_build(
            ["-trimpath", "-ldflags", _ldflags(kube_version), "-o", str(partial), f"k8s.io/kubernetes/cmd/{name}"],
            work,
            f"{name} {kube_version}",
            progress,
        )
        # renamed only when complete: an interrupted build never leaves a truncated binary behind
        os.replace(partial, out / name)


def _build_etcd(work: Path, out: Path, etcd_version: str, progress: Progress) -> None:
    (work / "go.mod").write_text("module bdetcd\n\ngo 1.24\n")
    (work / "main.go").write_text(
        'package main\n\nimport (\n\t"os"\n\n\t"go.etcd.io/etcd/server/v3/etcdmain"\n)\n\n'
        "func main() { etcdmain.Main(os.Args) }\n"
    )
    _run(["go", "get", f"go.etcd.io/etcd/server/v3@{etcd_version}"], work, progress)
    _run(["go", "mod", "tidy"], work, progress)
    partial = out / f".etcd.{os.getpid()}.partial"  # concurrent builders do not collide
    _go_build(["-trimpath", "-ldflags", "-s -w", "-o", str(partial), "."], work, "etcd", progress)
    os.replace(partial, out / "etcd")


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
            _build_kube(Path(tmp), out, kube_version, ("kube-apiserver", "kubectl"), progress)
    if not (out / "etcd").exists():
        progress(f"building etcd {etcd_version} (first run only)")
        with tempfile.TemporaryDirectory(prefix="bd-etcd-build-") as tmp:
            _build_etcd(Path(tmp), out, etcd_version, progress)
    return KubeBinaries(out / "kube-apiserver", out / "etcd", out / "kubectl")


def _build_kwok(work: Path, out: Path, kwok_version: str, progress: Progress) -> None:
    (work / "go.mod").write_text("module bdkwok\n\ngo 1.24\n")
    (work / "tools.go").write_text('//go:build tools\n\npackage tools\n\nimport _ "sigs.k8s.io/kwok/cmd/kwok"\n')
    _run(["go", "get", f"sigs.k8s.io/kwok@{kwok_version}"], work, progress)
    _run(["go", "mod", "tidy"], work, progress)
    ldflags = "-s -w"  # pkg/consts.Version already holds the release at its tag
    partial = out / f".kwok.{os.getpid()}.partial"  # concurrent builders do not collide
    _go_build(
        ["-trimpath", "-ldflags", ldflags, "-o", str(partial), "sigs.k8s.io/kwok/cmd/kwok"],
        work,
        f"kwok {kwok_version}",
        progress,
    )
    info = json.loads(_run(["go", "mod", "download", "-json", f"sigs.k8s.io/kwok@{kwok_version}"], work, progress))
    source = Path(info["Dir"]) / "kustomize" / "stage"
    stages = out / "stages"
    for rel in KWOK_STAGES:
        (stages / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / rel, stages / rel)
    os.replace(partial, out / "kwok")


def ensure_control_plane_binaries(
    *,
    kube_version: str = KUBE_VERSION,
    kwok_version: str = KWOK_VERSION,
    progress: Progress = no_progress,
) -> ControlPlaneBinaries:
    """kube-controller-manager, kube-scheduler and KWOK, built if missing (cold: 10-20 minutes).

    Shares the Go build cache with `ensure_kube_binaries`, so after kube-apiserver most of
    k8s.io/kubernetes is compiled already.
    """
    out = control_plane_dir(kube_version)
    out.mkdir(parents=True, exist_ok=True)
    missing = tuple(n for n in ("kube-controller-manager", "kube-scheduler") if not (out / n).exists())
    if missing:
        progress(f"building {' and '.join(missing)} {kube_version} (first run only, 10-20 minutes cold)")
        with tempfile.TemporaryDirectory(prefix="bd-kube-build-") as tmp:
            _build_kube(Path(tmp), out, kube_version, missing, progress)
    kwok = kwok_dir(kwok_version)
    if not (kwok / "kwok").exists():
        kwok.mkdir(parents=True, exist_ok=True)
        progress(f"building kwok {kwok_version} (first run only)")
        with tempfile.TemporaryDirectory(prefix="bd-kwok-build-") as tmp:
            _build_kwok(Path(tmp), kwok, kwok_version, progress)
    return ControlPlaneBinaries(out / "kube-controller-manager", out / "kube-scheduler", kwok / "kwok", kwok / "stages")


if __name__ == "__main__":
    import sys

    report = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    print(ensure_kube_binaries(progress=report))
    print(ensure_control_plane_binaries(progress=report))
