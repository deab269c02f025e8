"""Run a container of a rendered pod spec as a local process, the way the kubelet would start it.

No container engine here, so each difference from a pod is an explicit, checked mapping:

* the image's programs -> Debian's PostgreSQL binaries of the same major version (`bin_dir` first
  on PATH, as the official image puts /usr/lib/postgresql/<major>/bin on its PATH);
* each volumeMount -> a temp dir: env values under a mountPath are rewritten to the temp dir (the
  scripts take every path from env; a literal mount path in command or args fails here);
* `securityContext.runAsUser` -> the local `postgres` account when the tests run as root, and
  `fsGroup` -> the temp dirs handed to that account;
* env exactly as the kubelet builds it: `envFrom` ConfigMap and Secret first, then `env` (value,
  configMapKeyRef, secretKeyRef), each resolved from the rendered objects, checked by name. The
  kubelet expands `$(VAR)` and `$$` in command and args: a script containing either is refused,
  so the command runs unchanged.

The caller stands in for cluster DNS and the pod network by editing the ConfigMap it passes
(`DB_PRIMARY_HOST` -> 127.0.0.1, `DB_PORT` -> a free local port).
"""

from __future__ import annotations

import base64
import os
import pwd
import shutil
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from braindump_cli.process import terminate
from braindump_cli.sandbox.servers._proc import tail

LOCAL_ACCOUNT = "postgres"


@dataclass(frozen=True)
class LocalContainer:
    argv: list[str]
    env: dict[str, str]
    user: str | None  # the local account it runs as (None: the current user)

    def run(self, *, timeout: float = 300.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            **_as_user(self.user),
        )

    def start(self, log: Path) -> subprocess.Popen[bytes]:
        with log.open("ab") as out:
            return subprocess.Popen(
                self.argv,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                **_as_user(self.user),
            )

    def probe(self, argv: list[str]) -> subprocess.CompletedProcess[str]:
        """An exec probe runs in the same container: same env, same user."""
        return LocalContainer(argv, self.env, self.user).run(timeout=60)


def _as_user(user: str | None) -> dict[str, Any]:
    if user is None:
        return {}
    return {"user": user, "group": user, "extra_groups": []}


def local_user(pod: Mapping[str, Any]) -> str | None:
    """The image's non-root uid -> the local `postgres` account (only needed when we are root)."""
    ctx = pod.get("securityContext") or {}
    assert ctx.get("runAsNonRoot") is True, "the pod must refuse to run as root"
    assert int(ctx["runAsUser"]) > 0
    return LOCAL_ACCOUNT if os.geteuid() == 0 else None


def volume_dir(root: Path, name: str) -> Path:
    """A temp dir standing for a volume, owned by the account the pods run as (fsGroup's effect)."""
    path = root / name
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        pw = pwd.getpwnam(LOCAL_ACCOUNT)
        for p in (root, path):
            os.chown(p, pw.pw_uid, pw.pw_gid)
    return path


def _secret_data(secret: Mapping[str, Any]) -> dict[str, str]:
    out = {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}
    out.update(secret.get("stringData") or {})
    return out


def _value_from(ref: Mapping[str, Any], configmap: Mapping[str, Any], secret: Mapping[str, Any]) -> str:
    if "configMapKeyRef" in ref:
        key = ref["configMapKeyRef"]
        assert key["name"] == configmap["metadata"]["name"]
        return str(configmap["data"][key["key"]])
    key = ref["secretKeyRef"]
    assert key["name"] == secret["metadata"]["name"]
    return _secret_data(secret)[key["key"]]


def container_env(
    container: Mapping[str, Any], configmap: Mapping[str, Any], secret: Mapping[str, Any]
) -> dict[str, str]:
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        if "configMapRef" in source:
            assert source["configMapRef"]["name"] == configmap["metadata"]["name"]
            env.update({k: str(v) for k, v in configmap["data"].items()})
        else:
            assert source["secretRef"]["name"] == secret["metadata"]["name"]
            env.update(_secret_data(secret))
    for item in container.get("env") or []:
        env[item["name"]] = item["value"] if "value" in item else _value_from(item["valueFrom"], configmap, secret)
    return env


def _map_path(value: str, mounts: Mapping[str, Path]) -> str:
    for mount_path, local in mounts.items():
        if value == mount_path or value.startswith(mount_path + "/"):
            return str(local) + value[len(mount_path) :]
    return value


def local_container(
    pod: Mapping[str, Any],
    *,
    configmap: Mapping[str, Any],
    secret: Mapping[str, Any],
    volumes: Mapping[str, Path],
    bin_dir: Path,
    home: Path,
) -> LocalContainer:
    """The only container of `pod` (a pod spec), with `volumes` mapping volume names to temp dirs."""
    (container,) = pod["containers"]
    argv = [*container.get("command", []), *container.get("args", [])]
    mounts = {m["mountPath"]: volumes[m["name"]] for m in container.get("volumeMounts") or []}
    declared = {v["name"] for v in pod.get("volumes") or []}
    assert declared <= set(volumes), f"volumes {declared - set(volumes)} have no local stand-in"
    for arg in argv:
        assert "$(" not in arg
        assert "$$" not in arg
        for mount_path in mounts:
            assert mount_path not in arg, f"{mount_path} is a literal in command/args: take it from env"
    env = {k: _map_path(v, mounts) for k, v in container_env(container, configmap, secret).items()}
    base = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8"}
    shell = shutil.which(argv[0], path=base["PATH"])
    assert shell, f"{argv[0]} is not on the image's PATH stand-in"
    return LocalContainer(argv, {**base, **env}, local_user(pod))


def probe_argv(probe: Mapping[str, Any]) -> list[str]:
    argv = list(probe["exec"]["command"])
    for arg in argv:
        assert "$(" not in arg
    return argv


PROBES = ("startupProbe", "readinessProbe", "livenessProbe")


def start_server(local: LocalContainer, container: Mapping[str, Any], log: Path) -> subprocess.Popen[bytes]:
    """Start a server container; like the kubelet, run its startup probe until it passes (a
    deadline for failure only), then its readiness and liveness probes once, which must pass."""
    proc = local.start(log)
    deadline = time.monotonic() + 120
    while local.probe(probe_argv(container["startupProbe"])).returncode != 0:
        if proc.poll() is not None or time.monotonic() > deadline:
            terminate([proc])
            pytest.fail(f"the server of {container['name']} did not come up:\n{tail(log)}")
        time.sleep(0.5)
    for name in PROBES[1:]:
        result = local.probe(probe_argv(container[name]))
        assert result.returncode == 0, f"{name} failed: {result.stdout}{result.stderr}"
    return proc
