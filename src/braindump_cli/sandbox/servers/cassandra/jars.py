"""The Cassandra jars from Maven Central and the java command line that runs their classes.

The jars come from `cassandra-all` and its runtime dependencies (`mvn dependency:copy-dependencies`),
cached under `cache_root()/cassandra/<version>/lib`. The binary tarball is not served by Maven
Central, so nothing of its `conf/` or `bin/` is available: JVM flags are written here.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from braindump_cli.progress import Progress, no_progress
from braindump_cli.sandbox.servers._cache import cache_root

CASSANDRA_VERSION = "5.0.8"


# The JPMS flags of conf/jvm17-server.options in the Cassandra 5.0 distribution.
JVM17_FLAGS = [
    "--add-exports=java.base/jdk.internal.misc=ALL-UNNAMED",
    "--add-exports=java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED",
    "--add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED",
    "--add-exports=java.rmi/sun.rmi.server=ALL-UNNAMED",
    "--add-exports=java.sql/java.sql=ALL-UNNAMED",
    "--add-exports=java.base/java.lang.ref=ALL-UNNAMED",
    "--add-exports=jdk.unsupported/sun.misc=ALL-UNNAMED",
    "--add-exports=jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED",
    "--add-exports=jdk.attach/sun.tools.attach=ALL-UNNAMED",
    "--add-opens=java.base/java.lang.module=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.loader=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.ref=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.reflect=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.math=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.module=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.util.jar=ALL-UNNAMED",
    "--add-opens=jdk.management/com.sun.management.internal=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/java.lang.reflect=ALL-UNNAMED",
    "--add-opens=jdk.compiler/com.sun.tools.javac=ALL-UNNAMED",
    "--add-opens=java.base/java.lang=ALL-UNNAMED",
    "--add-opens=java.base/java.util=ALL-UNNAMED",
    "-Dio.netty.tryReflectionSetAccessible=true",
    "-Dio.netty.allocator.useCacheForAllThreads=true",
    "-Dio.netty.allocator.maxOrder=11",
]


POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>bd</groupId><artifactId>bd-cassandra</artifactId><version>1</version>
  <dependencies>
    <dependency><groupId>org.apache.cassandra</groupId><artifactId>cassandra-all</artifactId><version>{version}</version></dependency>
  </dependencies>
</project>
"""


def cassandra_dir(version: str = CASSANDRA_VERSION) -> Path:
    return cache_root() / "cassandra" / version


def ensure_cassandra_jars(*, progress: Progress = no_progress, version: str = CASSANDRA_VERSION) -> Path:
    """The directory holding cassandra-all and its runtime jars; fetched with Maven once, then cached."""
    root = cassandra_dir(version)
    lib = root / "lib"
    stamp = root / ".complete"
    if stamp.is_file() and (lib / f"cassandra-all-{version}.jar").is_file():
        progress(f"cached: {lib}")
        return lib
    mvn = shutil.which("mvn")
    if mvn is None:
        raise FileNotFoundError("mvn is not installed (Debian: apt-get install maven)")
    root.mkdir(parents=True, exist_ok=True)
    (root / "pom.xml").write_text(POM.format(version=version))
    staging = root / "lib.partial"
    shutil.rmtree(staging, ignore_errors=True)
    progress(f"fetching cassandra-all {version} and its runtime dependencies from Maven Central")
    proc = subprocess.run(
        [
            mvn,
            "-q",
            "-B",
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={staging}",
        ],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"mvn dependency:copy-dependencies failed:\n{(proc.stdout + proc.stderr)[-4000:]}")
    if not (staging / f"cassandra-all-{version}.jar").is_file():
        raise RuntimeError(f"mvn finished but {staging} has no cassandra-all-{version}.jar")
    shutil.rmtree(lib, ignore_errors=True)
    staging.rename(lib)
    stamp.write_text(f"{len(list(lib.glob('*.jar')))} jars\n")
    progress(f"{len(list(lib.glob('*.jar')))} jars in {lib}")
    return lib


def java_command(lib: Path, main: str, *, jvm: Sequence[str] = ()) -> list[str]:
    java = shutil.which("java")
    if java is None:
        raise FileNotFoundError("java is not installed (Debian: apt-get install openjdk-17-jre-headless)")
    return [java, *JVM17_FLAGS, *jvm, "-cp", f"{lib}/*", main]
