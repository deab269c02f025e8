"""A throwaway PostgreSQL 15 (Debian's build) in a temp dir on a free loopback port.

PostgreSQL refuses to run as root, so when bd runs as root the data directory is handed to the
`postgres` OS user and the server is started through `runuser`. Durability is off (`fsync=off`):
these servers exist for tests and benchmarks only.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from braindump_cli.progress import Progress, no_progress
from braindump_cli.sandbox.servers._proc import free_port, init_data_dir

PG_BIN_CANDIDATES = (Path("/usr/lib/postgresql/15/bin"), Path("/usr/lib/postgresql/16/bin"))
SUPERUSER = "bd"


def pg_bin_dir() -> Path:
    explicit = os.environ.get("BD_PG_BIN")
    if explicit:
        return Path(explicit)
    for candidate in PG_BIN_CANDIDATES:
        if (candidate / "initdb").exists():
            return candidate
    raise FileNotFoundError("PostgreSQL server binaries not found (Debian: apt-get install postgresql-15)")


def _as_user_prefix() -> list[str]:
    """Commands run as `postgres` when we are root (initdb and postgres refuse uid 0)."""
    if os.geteuid() != 0:
        return []
    pwd.getpwnam("postgres")  # KeyError with a clear name if the user is missing
    return ["runuser", "-u", "postgres", "--"]


@dataclass
class PostgresServer:
    """A running server; `url(db)` gives a SQLAlchemy URL, `stop()` shuts it down and removes its files."""

    root: Path
    port: int
    bin_dir: Path
    _stopped: bool = field(default=False, repr=False)

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def url(self, database: str = "postgres", *, driver: str = "postgresql+psycopg2") -> str:
        return f"{driver}://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def dsn(self, database: str = "postgres") -> str:
        """A libpq URL (for psql)."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def psql(self, sql: str, *, database: str = "postgres") -> str:
        proc = subprocess.run(
            [str(self.bin_dir / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-At", "-d", self.dsn(database)],
            input=sql,
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"psql failed: {proc.stderr.strip()}")
        return proc.stdout

    def create_database(self, name: str, *, template: str | None = None) -> str:
        """Create `name` (optionally as a copy of `template`) and return its URL."""
        clause = f' TEMPLATE "{template}"' if template else ""
        self.psql(f'CREATE DATABASE "{name}"{clause}')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        self.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def database_exists(self, name: str) -> bool:
        return self.psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}'").strip() == "1"

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        subprocess.run(
            [*_as_user_prefix(), str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", "immediate", "stop"],
            capture_output=True,
            check=False,
        )
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_postgres(*, progress: Progress = no_progress, fsync: bool = False, timeout: float = 60.0) -> PostgresServer:
    """initdb + pg_ctl start in a fresh temp dir; trust auth on loopback only; superuser `bd`."""
    bin_dir = pg_bin_dir()
    root = Path(tempfile.mkdtemp(prefix="bd-pg-"))
    prefix = _as_user_prefix()
    if prefix:
        pw = pwd.getpwnam("postgres")
        os.chown(root, pw.pw_uid, pw.pw_gid)
    root.chmod(0o700)
    data = root / "data"
    progress(f"initdb in {data}")
    init_data_dir(
        [*prefix, str(bin_dir / "initdb"), "-D", str(data), "-U", SUPERUSER, "-A", "trust", "-E", "UTF8",
         "--locale=C.UTF-8", "--no-sync"],
        root,
        "initdb",
    )  # fmt: skip
    port = free_port()
    opts = [
        f"-p {port}",
        "-c listen_addresses=127.0.0.1",
        f"-c unix_socket_directories={root}",
        f"-c fsync={'on' if fsync else 'off'}",
        "-c synchronous_commit=off" if not fsync else "-c synchronous_commit=on",
        "-c full_page_writes=off" if not fsync else "-c full_page_writes=on",
        "-c max_connections=100",
        "-c shared_buffers=256MB",
    ]
    progress(f"starting postgres on 127.0.0.1:{port}")
    start = subprocess.run(
        [*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(root / "server.log"), "-o", " ".join(opts),
         "-w", "-t", str(int(timeout)), "start"],
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    server = PostgresServer(root=root, port=port, bin_dir=bin_dir)
    if start.returncode != 0:
        log = ""
        with contextlib.suppress(OSError):
            log = (root / "server.log").read_text()[-2000:]
        server.stop()
        raise RuntimeError(f"pg_ctl start failed: {start.stderr.strip()} {log}")
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            if time.monotonic() > deadline:
                server.stop()
                raise TimeoutError(f"postgres did not listen on port {port}") from None
            time.sleep(0.1)
    return server
