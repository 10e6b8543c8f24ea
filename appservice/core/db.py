"""One SQLite database (WAL) for Yakuba's own state, driven from a single worker thread.

sqlite3 connections belong to the thread that made them, and SQLite serialises writers anyway,
so one thread does all the work and the event loop awaits it. Writes that must survive a power
cut before we answer (the inbox, before Synapse gets its 200) run with `durable=True`, which
commits with `synchronous=FULL` (fsync). Everything else commits with NORMAL: in WAL mode that
survives a process crash, and the next durable commit flushes it to disk as well.
The core's tables (inbox, state) are always created; features pass theirs (their declaration's
`tables`) when the application opens the database. Statements are idempotent.

At rest (docs/data-kept.md): the directory is made 0700 and the database 0600 before SQLite
opens it — SQLite gives its -wal and -shm the database file's mode, whatever the umask — and
files left looser by an older version are tightened. `secure_delete` zeroes what a delete or an
update frees, so stripped content does not linger in free pages; `checkpoint()` (run by the
housekeeping pass) empties the WAL, which still holds the old pages until then. New databases
use incremental auto-vacuum, so pruned pages can be returned to the file system.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from appservice.lib.secret_files import private_dir

T = TypeVar("T")


def core_tables() -> tuple[str, ...]:
    from appservice.core import inbox, state  # they import this module

    return (inbox.TABLES, state.TABLES)


class Database:
    def __init__(self, path: Path, tables: Sequence[str] = ()) -> None:
        """tables: CREATE … IF NOT EXISTS scripts besides the core's, e.g. a feature's."""
        if isinstance(tables, str):
            raise TypeError("tables is a sequence of SQL scripts, not one script")
        self.path = path
        self.tables = tuple(dict.fromkeys((*core_tables(), *tables)))
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="yakuba-db")
        self._conn: sqlite3.Connection | None = None

    def _open(self) -> None:
        private_files(self.path)
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=True)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA auto_vacuum=INCREMENTAL")  # takes effect on a new (empty) database
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA secure_delete=ON")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=5000")
        conn.execute("PRAGMA foreign_keys=ON")
        for sql in self.tables:
            conn.executescript(sql)
        self._conn = conn

    async def open(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._pool, self._open)

    async def run(self, fn: Callable[[sqlite3.Connection], T], *, durable: bool = False) -> T:
        """Run fn(conn) on the database thread; durable=True fsyncs its commit."""
        call = self._call_durable if durable else self._call
        return await asyncio.get_running_loop().run_in_executor(self._pool, call, fn)

    def _call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        assert self._conn is not None, "database not opened"
        return fn(self._conn)

    def _call_durable(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        assert self._conn is not None, "database not opened"
        self._conn.execute("PRAGMA synchronous=FULL")
        try:
            return fn(self._conn)
        finally:
            self._conn.execute("PRAGMA synchronous=NORMAL")

    async def execute(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        return await self.run(lambda c: c.execute(sql, params).rowcount)

    async def fetchall(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        return await self.run(lambda c: c.execute(sql, params).fetchall())

    async def fetchone(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Row | None:
        return await self.run(lambda c: c.execute(sql, params).fetchone())

    async def checkpoint(self) -> bool:
        """Copy the WAL into the database and truncate it: pages that held stripped or deleted
        content leave the disk. False if a reader kept it from finishing (tried again later)."""
        def _do(c: sqlite3.Connection) -> bool:
            row = c.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            return row is None or not row[0]

        return await self.run(_do)

    def close(self) -> None:
        def _close() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        self._pool.submit(_close).result()
        self._pool.shutdown(wait=True)


def private_files(path: Path) -> None:
    """The database's directory 0700, the database and its -wal/-shm 0600, before SQLite opens
    it: SQLite creates the -wal and -shm with the database file's own mode."""
    private_dir(path.parent)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    for suffix in ("-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            os.chmod(f"{path}{suffix}", 0o600)


def transaction(conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
    """BEGIN IMMEDIATE … COMMIT around fn, rolled back on any error."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = fn(conn)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return result
