"""A throwaway PostgreSQL server for tests and benchmarks: initdb into a temp dir, pg_ctl on loopback.

Debian ships the server binaries in /usr/lib/postgresql/<version>/bin (package `postgresql`);
the newest version found is used. initdb refuses to run as root, so as root every server
command runs as the `postgres` user. fsync is off: the data is thrown away anyway.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import asyncpg

INSTALL_HINT = "install PostgreSQL's server: apt-get install -y postgresql (tests/run.sh does this)"


def server_bin() -> Path:
    """The newest /usr/lib/postgresql/*/bin that has initdb and pg_ctl."""
    found = [d for d in Path("/usr/lib/postgresql").glob("*/bin")
             if (d / "initdb").is_file() and (d / "pg_ctl").is_file()]
    if not found:
        raise RuntimeError(f"No PostgreSQL server binaries in /usr/lib/postgresql/*/bin: {INSTALL_HINT}.")
    return max(found, key=lambda d: tuple(int(p) for p in d.parent.name.split(".") if p.isdigit()))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    """One cluster in its own temp dir, listening on 127.0.0.1:`port` (trust auth, user postgres)."""

    def __init__(self) -> None:
        self.bin = server_bin()
        self.as_root = os.geteuid() == 0
        self.dir = Path(tempfile.mkdtemp(prefix="tracker-pg-"))
        if self.as_root:
            shutil.chown(self.dir, "postgres")
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"
        self.port = free_port()
        self.running = False
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")

    @property
    def url(self) -> str:
        """The server's maintenance database; `url_for(name)` for another one."""
        return self.url_for("postgres")

    def url_for(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, program: str, *args: str) -> None:
        command = [str(self.bin / program), *args]
        if self.as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{program} {' '.join(args)} failed:\n{done.stdout}{done.stderr}{log}")

    def start(self) -> None:
        options = (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.dir} -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200 "
                   "-c wal_level=minimal -c max_wal_senders=0")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "30", "-o", options, "start")
        self.running = True

    def stop(self, mode: str = "fast") -> None:
        """`fast` ends every session (clients see the connection close); `immediate` is a crash."""
        if self.running:
            self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")
            self.running = False

    def restart(self) -> None:
        self.stop()
        self.start()

    def remove(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()

    # --- databases ---

    def execute(self, sql: str, database: str = "postgres") -> None:
        """Run SQL (several statements may be separated by semicolons) from synchronous code."""
        self._run_async(lambda connection: connection.execute(sql), database)

    def fetch(self, sql: str, database: str = "postgres") -> list[Any]:
        """The rows of one query, from synchronous code."""
        return list(self._run_async(lambda connection: connection.fetch(sql), database))

    def _run_async(self, action: Any, database: str) -> Any:
        # On its own loop in a thread, so that any caller fits, inside a running loop or not.
        async def run() -> Any:
            connection = await asyncpg.connect(self.url_for(database))
            try:
                return await action(connection)
            finally:
                await connection.close()

        with ThreadPoolExecutor(1) as thread:
            return thread.submit(asyncio.run, run()).result(60)

    def create_database(self, prefix: str = "test") -> str:
        """A new, empty database; returns its URL."""
        name = f"{prefix}_{uuid.uuid4().hex}"
        self.execute(f'CREATE DATABASE "{name}"')
        return self.url_for(name)

    def drop_database(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
