"""A throwaway PostgreSQL cluster on loopback, for Synapse in tests and benchmarks.

initdb refuses to run as root, so as root the cluster is created and run as the `postgres` system
user (the Debian package creates it) in its own temp dir owned by that user. `--no-sync` and
`fsync=off`: nothing here needs to survive a power cut, and initdb takes half a second this way.
The cluster uses the C locale, which Synapse requires (it refuses databases whose COLLATE/CTYPE
is not 'C'). Authentication is `trust` on 127.0.0.1 only; the port is below 32768 so it never
collides with the kernel's ephemeral range (where outgoing connections get their ports).

    pg = PostgresCluster.start()
    db = pg.create_database("synapse")      # Synapse's `database:` section for it
    …
    pg.stop()
"""

from __future__ import annotations

import glob
import os
import random
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

USER = "synapse"  # the cluster's superuser (initdb -U); Synapse connects as it


def pg_bin(name: str) -> str:
    """A PostgreSQL server binary: on PATH, else Debian's /usr/lib/postgresql/<v>/bin."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not candidates:
        raise RuntimeError(f"PostgreSQL's {name} not found (apt-get install postgresql)")
    return candidates[-1]


def low_port() -> int:
    """A free loopback port in 15000–22999: below the ephemeral range (32768+), and low enough
    that a server which also opens port+10000 (SeaweedFS's gRPC) stays below it too."""
    for _ in range(200):
        port = random.randint(15000, 22999)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free loopback port below 23000")


def _as_postgres(cmd: list[str]) -> list[str]:
    """initdb and postgres refuse root: run them as the postgres user when we are root."""
    if os.geteuid() != 0:
        return cmd
    return ["runuser", "-u", "postgres", "--", *cmd]


@dataclass
class PostgresCluster:
    root: Path
    port: int
    host: str = "127.0.0.1"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @classmethod
    def start(cls, root: Path | None = None, port: int | None = None) -> PostgresCluster:
        root = root or Path(tempfile.mkdtemp(prefix="yakuba-pg-"))
        root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(root, "postgres", "postgres")
        pg = cls(root, port or low_port())
        pg._run([pg_bin("initdb"), "-D", str(pg.data), "-U", USER, "--auth=trust", "--locale=C",
                 "--encoding=UTF8", "--no-sync"])
        pg._pg_ctl_start()
        return pg

    def _run(self, cmd: list[str]) -> None:
        res = subprocess.run(_as_postgres(cmd), capture_output=True, text=True, cwd=self.root)
        if res.returncode != 0:
            raise RuntimeError(f"{Path(cmd[0]).name} failed ({res.returncode}):\n{res.stdout}{res.stderr}")

    def _pg_ctl_start(self) -> None:
        options = (f"-c listen_addresses={self.host} -p {self.port} -k {self.root} -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        self._run([pg_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.root / "postgres.log"),
                   "-w", "-t", "60", "-o", options, "start"])

    def psql(self, sql: str, dbname: str = "postgres") -> str:
        """Run SQL through psql (no client library needed); returns the unaligned output."""
        res = subprocess.run(
            [pg_bin("psql"), "-h", self.host, "-p", str(self.port), "-U", USER, "-d", dbname,
             "-v", "ON_ERROR_STOP=1", "-At", "-c", sql], capture_output=True, text=True, timeout=60)
        if res.returncode != 0:
            raise RuntimeError(f"psql: {res.stderr.strip()}")
        return res.stdout

    def create_database(self, name: str) -> dict[str, Any]:
        """A database the way Synapse wants it; returns Synapse's `database:` section for it."""
        self.psql(f"CREATE DATABASE \"{name}\" ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C' "
                  "TEMPLATE template0")
        return self.synapse_database(name)

    def synapse_database(self, name: str) -> dict[str, Any]:
        return {"name": "psycopg2", "args": {
            "user": USER, "host": self.host, "port": self.port, "database": name,
            "cp_min": 1, "cp_max": 10}}

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            try:
                self._run([pg_bin("pg_ctl"), "-D", str(self.data), "-w", "-m", "immediate", "stop"])
            except RuntimeError:
                pass
        if os.environ.get("YAKUBA_KEEP_TEST_DIR"):
            print(f"PostgreSQL cluster kept in {self.root}")
            return
        shutil.rmtree(self.root, ignore_errors=True)

