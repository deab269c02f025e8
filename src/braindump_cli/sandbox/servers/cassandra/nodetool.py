"""nodetool from the same jars, over a node's local JMX port: one command per JVM, or many in one.

The batch runner is a small Java program shipped next to this module (`BdNodetoolBatch.java`,
run in Java's single-file source mode): NodeTool's own `execute` (what `main` runs, minus
System.exit), one command per stdin line (arguments separated by tabs), each output followed by a
marker line.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

from braindump_cli.sandbox.servers.cassandra.jars import java_command

BATCH_SOURCE = "BdNodetoolBatch.java"
END_MARKER = "@@BD-END rc="

# A short-lived JMX client: start fast rather than run fast.
NODETOOL_FAST_FLAGS = [
    "-XX:TieredStopAtLevel=1",
    "-XX:+UseSerialGC",
    "-Xshare:auto",
    "--add-exports=java.base/sun.nio.ch=ALL-UNNAMED",  # FileUtils' DirectBuffer cleaner (jvm17-clients.options)
]

# nodetool logs to stdout by default: silence it so its output can be parsed.
LOGBACK_TOOLS = """<configuration scan="false"><root level="OFF"/></configuration>
"""


def _run_tool(cmd: Sequence[str], *, timeout: float, input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run a Cassandra tool JVM (nodetool) to completion, text in and out, in a UTF-8 locale."""
    return subprocess.run(
        cmd,
        input=input,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=timeout,
        check=False,
        env={**os.environ, "LC_ALL": "C.UTF-8"},
    )


def tools_logback(workdir: Path) -> Path:
    path = workdir / "logback-tools.xml"
    if not path.exists():
        path.write_text(LOGBACK_TOOLS)
    return path


def nodetool_argv(lib: Path, workdir: Path, jmx_port: int, *args: str, as_shipped: bool = False) -> list[str]:
    """The nodetool command line: tuned to start fast, or with bin/nodetool's own JVM flags."""
    jvm = ["-ea", "-Xmx128m", "-XX:ParallelGCThreads=1"] if as_shipped else ["-Xmx256M", *NODETOOL_FAST_FLAGS]
    if as_shipped:
        jvm.append("--add-exports=java.base/sun.nio.ch=ALL-UNNAMED")
    jvm.append(f"-Dlogback.configurationFile={tools_logback(workdir)}")
    cmd = java_command(lib, "org.apache.cassandra.tools.NodeTool", jvm=jvm)
    return [*cmd, "-h", "127.0.0.1", "-p", str(jmx_port), *args]


def run_nodetool(lib: Path, workdir: Path, jmx_port: int, *args: str, timeout: float = 120) -> str:
    """Run nodetool against the node whose local JMX port is `jmx_port`; its stdout, or RuntimeError."""
    proc = _run_tool(nodetool_argv(lib, workdir, jmx_port, *args), timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"nodetool {' '.join(args)} on :{jmx_port} failed: {(proc.stdout + proc.stderr)[-2000:]}")
    return proc.stdout


def run_nodetool_batch(
    lib: Path, workdir: Path, jmx_port: int, commands: Sequence[Sequence[str]], *, timeout: float = 300
) -> list[str]:
    """Run many nodetool commands in one JVM (same NodeTool code, no JVM start each): one output each."""
    lines = []
    for args in commands:
        full = ["-h", "127.0.0.1", "-p", str(jmx_port), *args]
        if any("\t" in a or "\n" in a for a in full):
            raise ValueError("nodetool batch arguments cannot hold tabs or newlines")
        lines.append("\t".join(full))
    jvm = ["-Xmx256M", *NODETOOL_FAST_FLAGS, f"-Dlogback.configurationFile={tools_logback(workdir)}"]
    with resources.as_file(resources.files("braindump_cli.sandbox.servers.cassandra").joinpath(BATCH_SOURCE)) as src:
        proc = _run_tool(java_command(lib, str(src), jvm=jvm), input="\n".join(lines) + "\n", timeout=timeout)
    outputs = _split_batch_output(proc.stdout, commands, jmx_port)
    if proc.returncode != 0 or len(outputs) != len(commands):
        raise RuntimeError(
            f"nodetool batch on :{jmx_port} failed ({proc.returncode}): {(proc.stdout + proc.stderr)[-2000:]}"
        )
    return outputs


def _split_batch_output(stdout: str, commands: Sequence[Sequence[str]], jmx_port: int) -> list[str]:
    outputs: list[str] = []
    current: list[str] = []
    for line in stdout.splitlines(keepends=True):
        at = line.find(END_MARKER)
        if at < 0:
            current.append(line)
            continue
        current.append(line[:at])  # the marker may follow output that did not end its last line
        if int(line[at + len(END_MARKER) :].strip()) != 0:
            raise RuntimeError(f"nodetool {commands[len(outputs)]} on :{jmx_port} failed: {''.join(current)}")
        outputs.append("".join(current))
        current = []
    return outputs
