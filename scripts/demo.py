"""`make demo` / `python -m scripts.demo`: a scripted tour of real `bd` commands on `bd sandbox`.

The tour starts the sandbox (kube-apiserver + etcd, a 3-node Cassandra ring, PostgreSQL with an
Airflow schema), then: installs the Database CRD, checks the blog post's sample object (catching
its API group typo), runs the operator for one Database and lists the children it made, shows the
Cassandra ring and what each consistency level survives, deletes a DAG with an archive and restores
it (the sandbox seeds example DAGs). It ends with `bd sandbox down` unless `BD_DEMO_KEEP=1` (or `--keep`).

Each step echoes its command line (`$ bd ...`, `$ kubectl ...`, `cql> ...`) and then shows the
command's own output, exactly as a user would see it. A step whose command does not exist in this
build of bd is skipped with a note; a step that exists and does not end with the expected exit code
fails the demo (exit 1) after the remaining sections have run.

To extend the tour, append a `Section` to `TOUR`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from braindump_cli.process import terminate

AIRFLOW_VERSION = "3.3.2"
CASSANDRA_NODES = 3  # a warm `bd sandbox up` with 3 nodes takes about a minute on 2 cores
DEFAULT_CASSANDRA_IP = "127.0.0.1"
BACKGROUND_LIMIT = 90.0  # seconds a background step may take to reach its goal

Context = dict[str, str]
Env = Mapping[str, str]


@dataclass(frozen=True)
class Step:
    """One command line. `{name}` placeholders are filled from the section's context.

    `program` is `bd`, `kubectl` (the sandbox's own build) or `cql` (one CQL statement, run with the
    Python driver: bd has no cqlsh). A step with `until` runs in the background until `until`
    returns True (or BACKGROUND_LIMIT passes), then gets SIGTERM, like Ctrl-C on a foreground run.
    """

    args: tuple[str, ...]
    say: str = ""
    expect: int = 0
    program: str = "bd"
    until: Callable[[Context, Env], bool] | None = None
    hint: str = ""  # printed when the step fails


@dataclass(frozen=True)
class Section:
    title: str
    steps: tuple[Step, ...]
    # Builds what the steps need inside `workdir`; returns placeholders and environment variables.
    prepare: Callable[[Path], tuple[Context, Env]] | None = None
    env_shown: tuple[str, ...] = field(default=())
    required: bool = False  # the later sections need it: stop the tour when it fails


@dataclass
class Options:
    cassandra_nodes: int = CASSANDRA_NODES
    cassandra_ip: str = DEFAULT_CASSANDRA_IP


OPTIONS = Options()


def _bd() -> list[str]:
    script = Path(sys.executable).with_name("bd")
    return [str(script)] if script.exists() else [sys.executable, "-m", "braindump_cli"]


def _note(message: str) -> None:
    print(f"demo: {message}", file=sys.stderr, flush=True)


def _clean_env(extra: Env) -> dict[str, str]:
    """The user's environment without settings that would point bd at another server.

    BD_SANDBOX_DIR stays: it says where the sandbox lives, and the tour starts its own there.
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AIRFLOW", "BD_")) and k not in {"KUBECONFIG", "PYTHONPATH"}
    }
    if "BD_SANDBOX_DIR" in os.environ:
        env["BD_SANDBOX_DIR"] = os.environ["BD_SANDBOX_DIR"]
    env.setdefault("COLUMNS", "120")  # tables as wide as their content on most terminals, also in a pipe
    env.update(extra)
    return env


def command_exists(args: tuple[str, ...]) -> bool:
    """True when `bd <group> <command>` (or a root option) exists in this build, per `bd <group> --help`."""
    if not args or args[0].startswith("-"):
        return True
    group, command = args[0], (args[1] if len(args) > 1 and not args[1].startswith("-") else None)
    proc = subprocess.run([*_bd(), group, "--help"], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        return False
    if command is None:
        return True
    listing = proc.stdout.partition("Commands:")[2]
    return any(line.split()[:1] == [command] for line in listing.splitlines())


CQL_RUNNER = """\
import sys
from cassandra.cluster import Cluster
cluster = Cluster(sys.argv[1].split(","), connect_timeout=20)
try:
    cluster.connect().execute(sys.argv[2], timeout=60)
finally:
    cluster.shutdown()
"""


def _argv(step: Step, args: list[str], ctx: Context, env: Env) -> tuple[list[str], str]:
    """(argv to run, the line to echo) for `step`."""
    if step.program == "bd":
        return [*_bd(), *args], "$ " + shlex.join(["bd", *args])
    if step.program == "kubectl":
        return [ctx["kubectl"], *args], "$ " + shlex.join(["kubectl", *args])
    if step.program == "cql":
        statement = " ".join(args)
        return [sys.executable, "-c", CQL_RUNNER, env["BD_CASSANDRA_HOSTS"], statement], f"cql> {statement}"
    raise ValueError(f"unknown program {step.program!r}")


def _run_background(step: Step, argv: list[str], ctx: Context, env: dict[str, str], cwd: Path) -> int:
    proc = subprocess.Popen(argv, env=env, cwd=cwd)
    deadline = time.monotonic() + BACKGROUND_LIMIT
    until = step.until or (lambda _ctx, _env: True)
    try:
        while proc.poll() is None and time.monotonic() < deadline and not until(ctx, env):
            time.sleep(0.5)
        time.sleep(1.0)  # let it log what it just did
    finally:
        if proc.poll() is None:
            print(f"$ kill -TERM {proc.pid}   # stop it, as Ctrl-C would", flush=True)
        terminate([proc], timeout=30)
    return proc.returncode


def run_step(step: Step, ctx: Context, env: Env, cwd: Path) -> bool:
    args = [a.format(**ctx) for a in step.args]
    if step.say:
        print(f"\n# {step.say}", flush=True)
    argv, shown = _argv(step, args, ctx, env)
    print(shown + ("   # in the background" if step.until else ""), flush=True)
    full_env = _clean_env(env)
    if step.until is not None:
        returncode = _run_background(step, argv, ctx, full_env, cwd)
    else:
        returncode = subprocess.run(argv, env=full_env, cwd=cwd, check=False).returncode
    if returncode != step.expect:
        _note(f"FAILED: `{shown.lstrip('$ ')}` exited {returncode}, expected {step.expect}")
        if step.hint:
            _note(step.hint)
        return False
    if step.expect:
        print(f"(exit code {returncode}, as expected)", flush=True)
    return True


def sandbox_env() -> dict[str, str]:
    """The variables `bd sandbox env` exports (what `eval "$(bd sandbox env)"` would set)."""
    proc = subprocess.run(
        [*_bd(), "sandbox", "env", "-o", "json"], env=_clean_env({}), capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"bd sandbox env failed: {proc.stderr.strip()}")
    variables: dict[str, str] = json.loads(proc.stdout)["variables"]
    return variables


# ---------------------------------------------------------------- sandbox

SANDBOX = Section(
    title="bd sandbox: real local servers (a Kubernetes control plane, Cassandra, PostgreSQL), no Docker",
    steps=(
        Step(
            ("sandbox", "up", "--kube", "--airflow", "--cassandra", "{nodes}", "--cassandra-ip", "{cassandra_ip}"),
            "Start everything (first run: builds and downloads, cached; later runs: about a minute).",
            hint="Cassandra addresses busy? Put the tour's nodes elsewhere: "
            "python -m scripts.demo --cassandra-ip 127.0.0.11 (or BD_DEMO_CASSANDRA_IP=127.0.0.11 make demo)",
        ),
        Step(("sandbox", "env"), 'What `eval "$(bd sandbox env)"` sets; every later step runs with it.'),
    ),
    required=True,
    prepare=lambda _: (
        {"nodes": str(OPTIONS.cassandra_nodes), "cassandra_ip": OPTIONS.cassandra_ip},
        {},
    ),
)


# ---------------------------------------------------------------- CRD and operator

# The sample object of the braindump Operator post, as published: note the API group.
BLOG_DATABASE = """\
apiVersion: stable.imaginedata.co/v1
kind: Database
metadata:
  name: my-database
spec:
  name: mydb
  port: 5432
  storage-size: 10Gi
  image: postgres:16.4
  replicas: 1
"""

FIXED_DATABASE = BLOG_DATABASE.replace("stable.imaginedata.co/v1", "stable.imaginedata.com/v1")


def prepare_kube(workdir: Path) -> tuple[Context, Env]:
    from braindump_cli.sandbox.servers.kube_build import binaries_dir

    (workdir / "blog-database.yaml").write_text(BLOG_DATABASE)
    (workdir / "database.yaml").write_text(FIXED_DATABASE)
    env = sandbox_env()
    return {"kubectl": str(binaries_dir() / "kubectl")}, {"KUBECONFIG": env["KUBECONFIG"]}


def database_ready(ctx: Context, env: Env) -> bool:
    """The Database's phase is Ready: its Pods run (KWOK) and its init Job completed."""
    proc = subprocess.run(
        [ctx["kubectl"], "get", "database", "my-database", "-n", "default", "-o", "jsonpath={.status.phase}"],
        env=_clean_env(env),
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.returncode == 0 and proc.stdout.strip() == "Ready"


KUBE = Section(
    title="The Database CRD and its operator (on the sandbox's control plane)",
    prepare=prepare_kube,
    env_shown=("KUBECONFIG",),
    steps=(
        Step(("crd", "install"), "Install the Database CRD (server-side apply, waits until Established)."),
        Step(("crd", "check", "-f", "blog-database.yaml"), "The blog post's sample object, as published:", expect=4),
        Step(
            ("crd", "check", "-f", "database.yaml"),
            "With the group fixed: valid offline and in a server-side dry run.",
        ),
        Step(("apply", "-f", "database.yaml"), "Create it.", program="kubectl"),
        Step(
            ("operator", "run", "--standalone", "--namespace", "default"),
            "Run the operator until the Database is Ready (its Pod Running, its init Job Complete).",
            until=database_ready,
        ),
        Step(
            ("get", "databases,statefulsets,pods,jobs,pvc,services,configmaps,secrets"),
            "What it made, and what the controllers and KWOK (the sandbox's kubelet) did with it.",
            program="kubectl",
        ),
        Step(("crd", "status"), "The CRD now counts one custom resource."),
    ),
)


# ---------------------------------------------------------------- Cassandra


def prepare_cassandra(_: Path) -> tuple[Context, Env]:
    env = sandbox_env()
    hosts = env["BD_CASSANDRA_HOSTS"].split(",")
    return {"last_node": hosts[-1]}, {"BD_CASSANDRA_HOSTS": env["BD_CASSANDRA_HOSTS"]}


CASSANDRA = Section(
    title="A live Cassandra ring (the sandbox's nodes, read over CQL: no JMX, no nodetool)",
    prepare=prepare_cassandra,
    env_shown=("BD_CASSANDRA_HOSTS",),
    steps=(
        Step(
            (
                "CREATE KEYSPACE IF NOT EXISTS shop WITH replication = "
                "{{'class': 'NetworkTopologyStrategy', 'datacenter1': 2}}",
            ),
            "A keyspace with two replicas of every row, and a table.",
            program="cql",
        ),
        Step(
            ("CREATE TABLE IF NOT EXISTS shop.orders (id int, day text, total decimal, PRIMARY KEY ((id, day)))",),
            program="cql",
        ),
        Step(("cassandra", "ring", "shop"), "Who owns what (like `nodetool status shop`)."),
        Step(("cassandra", "consistency", "shop"), "What each consistency level survives on this ring."),
        Step(
            ("cassandra", "consistency", "shop", "--down", "{last_node}", "--require", "QUORUM", "--level", "QUORUM"),
            "If one node went down, would QUORUM still work? A CI gate: exit 4 when it would not.",
            expect=4,
        ),
        Step(("cassandra", "endpoints", "shop", "orders", "42", "2024-05-01"), "Where one partition lives."),
    ),
)


# ---------------------------------------------------------------- Airflow


def prepare_airflow(_: Path) -> tuple[Context, Env]:
    """`bd sandbox up` seeded its fresh Airflow database with example DAGs whose files are gone."""
    from braindump_cli.sandbox.airflow_seed import EXAMPLE_DAGS

    return {"dag": EXAMPLE_DAGS[0], "archive": f"{EXAMPLE_DAGS[0]}.jsonl.gz"}, {
        "BD_AIRFLOW_CONN": sandbox_env()["BD_AIRFLOW_CONN"]
    }


AIRFLOW = Section(
    title=f"The Airflow metadata DB (the sandbox's PostgreSQL, schema by Airflow {AIRFLOW_VERSION})",
    prepare=prepare_airflow,
    env_shown=("BD_AIRFLOW_CONN",),
    steps=(
        Step(("airflow", "check-db"), "Which database, found how, at which schema revision?"),
        Step(("airflow", "stale-dags"), "DAGs the database calls active whose file is gone."),
        Step(("airflow", "delete-dag", "{dag}", "--dry-run"), "The plan: rows per table, any schema. Nothing changes."),
        Step(
            ("airflow", "delete-dag", "{dag}", "--yes", "--archive", "{archive}"),
            "Delete in one transaction, archiving every row first.",
        ),
        Step(("airflow", "delete-dag", "{dag}", "--dry-run"), "Gone: a missing DAG is exit code 3.", expect=3),
        Step(("airflow", "restore-dag", "{archive}", "--yes"), "Undo: put the archived rows back."),
        Step(("airflow", "stale-dags", "-o", "json"), "Back again (as JSON, for scripts)."),
    ),
)

BASICS = Section(title="bd itself", steps=(Step(("--version",)),))

TOUR: list[Section] = [BASICS, SANDBOX, KUBE, CASSANDRA, AIRFLOW]


def run_section(section: Section, workdir: Path) -> bool:
    print(f"\n## {section.title}", flush=True)
    runnable = [s for s in section.steps if s.program != "bd" or command_exists(s.args)]
    for step in section.steps:
        if step not in runnable:
            _note(f"skipped `bd {' '.join(step.args[:2])}`: not in this build of bd yet")
    if not runnable:
        return True
    ctx: Context = {}
    env: Env = {}
    if section.prepare is not None:
        try:
            ctx, env = section.prepare(workdir)
        except Exception as exc:  # a failed preparation fails the demo with its reason
            _note(f"FAILED to prepare {section.title}: {exc}")
            return False
    for name in section.env_shown:
        print(f"$ export {name}={shlex.quote(env[name])}", flush=True)
    return all(run_step(step, ctx, env, workdir) for step in runnable)  # stops at the first failure


def uses_sandbox() -> bool:
    return any(step.args[:1] == ("sandbox",) for section in TOUR for step in section.steps)


def stop_sandbox() -> bool:
    print("\n## Clean up", flush=True)
    return run_step(
        Step(("sandbox", "down"), "Stop only the processes the sandbox started; remove its data."), {}, {}, Path.cwd()
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.demo", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--keep", action="store_true", help="keep the sandbox and the temporary directory (also BD_DEMO_KEEP=1)"
    )
    parser.add_argument("--cassandra", type=int, default=CASSANDRA_NODES, metavar="N", help="Cassandra nodes")
    parser.add_argument(
        "--cassandra-ip",
        default=os.environ.get("BD_DEMO_CASSANDRA_IP", DEFAULT_CASSANDRA_IP),
        help="address of Cassandra node 1 (also BD_DEMO_CASSANDRA_IP; default 127.0.0.1)",
    )
    opts = parser.parse_args(argv)
    keep = opts.keep or os.environ.get("BD_DEMO_KEEP") == "1"
    OPTIONS.cassandra_nodes, OPTIONS.cassandra_ip = opts.cassandra, opts.cassandra_ip
    workdir = Path(tempfile.mkdtemp(prefix="bd-demo-"))
    failed: list[str] = []
    started = time.monotonic()
    try:
        for index, section in enumerate(TOUR):
            section_dir = workdir / f"{index:02d}"
            section_dir.mkdir()
            if not run_section(section, section_dir):
                failed.append(section.title)
                if section.required:
                    _note("the rest of the tour needs this section: stopping here")
                    break
    except KeyboardInterrupt:
        _note("interrupted")
        failed.append("interrupted")
    finally:
        if keep:
            _note(f"kept {workdir} and the sandbox (`bd sandbox down` stops it)")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
            if uses_sandbox() and not stop_sandbox():
                failed.append("bd sandbox down")
    if "interrupted" in failed:
        return 130
    if failed:
        _note("the demo FAILED in: " + "; ".join(failed))
        return 1
    with contextlib.suppress(Exception):
        _note(f"the tour took {time.monotonic() - started:.0f} s")
    print("\nDone. Next: `bd --help`, docs/commands/index.md, and `make test` for the whole suite.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
