"""A throwaway MariaDB (Debian's build) in a temp dir on a free loopback port and its own socket.

`mariadb-install-db` creates the system tables with a passwordless `root@localhost`; the server then
runs with `--skip-grant-tables`, so any user (bd uses `bd`) connects from loopback without a password.
Durability is off (no doublewrite, no flush at commit): these servers exist for tests and benchmarks.
`stop()` terminates only the pid it started and removes the directory.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from braindump_cli.progress import Progress, no_progress
from braindump_cli.sandbox.servers._proc import free_port, init_data_dir, spawn, tail, terminate

USER = "bd"
SERVER_CANDIDATES = ("/usr/sbin/mariadbd", "/usr/sbin/mysqld")
INSTALL_CANDIDATES = ("/usr/bin/mariadb-install-db", "/usr/bin/mysql_install_db")


def _find(candidates: tuple[str, ...], env: str) -> Path:
    explicit = os.environ.get(env)
    if explicit:
        return Path(explicit)
    for candidate in candidates:
        if Path(candidate).exists():
            return Path(candidate)
    raise FileNotFoundError("MariaDB server binaries not found (Debian: apt-get install mariadb-server)")


@dataclass
class MariaDBServer:
    """A running server; `url(db)` gives a SQLAlchemy URL, `stop()` shuts it down and removes its files."""

    root: Path
    port: int
    proc: subprocess.Popen[bytes]
    _stopped: bool = field(default=False, repr=False)

    @property
    def socket_path(self) -> Path:
        return self.root / "mysqld.sock"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    def url(self, database: str = "mysql", *, driver: str = "mysql+pymysql") -> str:
        return f"{driver}://{USER}@127.0.0.1:{self.port}/{database}?charset=utf8mb4"

    def execute(self, sql: str) -> None:
        """Run one statement without a default database (CREATE/DROP DATABASE and the like)."""
        import pymysql

        conn = pymysql.connect(host="127.0.0.1", port=self.port, user=USER, charset="utf8mb4", autocommit=True)
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
        finally:
            conn.close()

    def create_database(self, name: str) -> str:
        self.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        return self.url(name)

    def clone_database(self, source: str, name: str) -> str:
        """Create `name` as a copy of `source` (tables, keys, foreign keys, rows) and return its URL.

        MariaDB has no CREATE DATABASE ... TEMPLATE and `CREATE TABLE ... LIKE` drops foreign keys, so
        each table is recreated from SHOW CREATE TABLE and filled by INSERT ... SELECT.
        """
        import pymysql

        self.create_database(name)
        conn = pymysql.connect(host="127.0.0.1", port=self.port, user=USER, database=name, charset="utf8mb4")
        try:
            with conn.cursor() as cur:
                cur.execute("SET foreign_key_checks = 0")
                cur.execute(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
                    "AND table_type = 'BASE TABLE'",
                    (source,),
                )
                tables = [str(r[0]) for r in cur.fetchall()]
                for table in tables:
                    cur.execute(f"SHOW CREATE TABLE `{source}`.`{table}`")
                    cur.execute(str(cur.fetchone()[1]))
                    cur.execute(f"INSERT INTO `{name}`.`{table}` SELECT * FROM `{source}`.`{table}`")
            conn.commit()
        finally:
            conn.close()
        return self.url(name)

    def drop_database(self, name: str) -> None:
        self.execute(f"DROP DATABASE IF EXISTS `{name}`")

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        terminate([self.proc], timeout=30)
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> MariaDBServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_mariadb(*, progress: Progress = no_progress, timeout: float = 60.0) -> MariaDBServer:
    """mariadb-install-db + mariadbd in a fresh temp dir; loopback only; grant tables skipped."""
    server_bin = _find(SERVER_CANDIDATES, "BD_MARIADBD")
    install_bin = _find(INSTALL_CANDIDATES, "BD_MARIADB_INSTALL_DB")
    root = Path(tempfile.mkdtemp(prefix="bd-mariadb-"))
    root.chmod(0o700)
    data = root / "data"
    user = "root" if os.geteuid() == 0 else None
    user_args = [f"--user={user}"] if user else []
    progress(f"mariadb-install-db in {data}")
    init_data_dir(
        [str(install_bin), "--no-defaults", f"--datadir={data}", "--auth-root-authentication-method=normal",
         "--skip-test-db", *user_args],
        root,
        "mariadb-install-db",
    )  # fmt: skip
    port = free_port()
    argv = [
        str(server_bin),
        "--no-defaults",
        f"--datadir={data}",
        f"--socket={root / 'mysqld.sock'}",
        f"--pid-file={root / 'mysqld.pid'}",
        f"--tmpdir={root}",
        "--bind-address=127.0.0.1",
        f"--port={port}",
        "--skip-grant-tables",
        "--skip-name-resolve",
        "--skip-log-bin",
        "--character-set-server=utf8mb4",
        "--collation-server=utf8mb4_unicode_ci",
        "--explicit-defaults-for-timestamp=ON",
        "--innodb-flush-log-at-trx-commit=0",
        "--innodb-doublewrite=0",
        "--innodb-buffer-pool-size=256M",
        "--max-connections=200",
        *user_args,
    ]
    progress(f"starting mariadbd on 127.0.0.1:{port}")
    log = root / "server.log"
    proc = spawn(argv, log)
    server = MariaDBServer(root=root, port=port, proc=proc)
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            text = tail(log)
            server.stop()
            raise RuntimeError(f"mariadbd exited with {proc.returncode}: {text}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            if time.monotonic() > deadline:
                text = tail(log)
                server.stop()
                raise TimeoutError(f"mariadbd did not listen on port {port}: {text}") from None
            time.sleep(0.1)
    return server
