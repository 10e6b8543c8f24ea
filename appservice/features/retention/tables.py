"""Yakuba-side retention state in yakuba.db: which rooms are flagged, display names as they
were when events passed, archive writes to retry, and disposals waiting for confirmation.

`FlagReader` is the read-only view the (pure) ArchivePolicy gets; `RetentionTables` adds the
writes for the effectful side. Both are the same object at runtime, so the reader's cache of
flagged rooms is dropped the moment a flag changes.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass

from appservice.core.db import Database, transaction

# This module's tables; run (idempotently) when the database opens.
TABLES = """
CREATE TABLE IF NOT EXISTS retention_flags (
    room_id TEXT PRIMARY KEY, active INTEGER NOT NULL, years INTEGER NOT NULL,
    category TEXT NOT NULL, department TEXT NOT NULL, flagged_by TEXT NOT NULL,
    flagged_at REAL NOT NULL, via TEXT NOT NULL, unflagged_by TEXT, unflagged_at REAL);
CREATE TABLE IF NOT EXISTS retention_members (
    room_id TEXT NOT NULL, user_id TEXT NOT NULL, display_name TEXT,
    PRIMARY KEY (room_id, user_id));
CREATE TABLE IF NOT EXISTS retention_retry (
    event_id TEXT PRIMARY KEY, room_id TEXT NOT NULL, kind TEXT NOT NULL,
    attempts INTEGER NOT NULL, next_at REAL NOT NULL, first_failed REAL NOT NULL, last_error TEXT);
CREATE TABLE IF NOT EXISTS retention_disposals (
    code TEXT PRIMARY KEY, room_id TEXT NOT NULL, reason TEXT NOT NULL,
    requested_by TEXT NOT NULL, requested_at REAL NOT NULL, status TEXT NOT NULL,
    decided_by TEXT, decided_at REAL, result TEXT);
CREATE TABLE IF NOT EXISTS retention_flag_notes (
    room_id TEXT PRIMARY KEY, admin_by TEXT, unmirrored_since REAL, unmirrored_by TEXT,
    unmirrored_how TEXT);
"""
# retention_flag_notes (a table of its own so that existing databases need no ALTER TABLE):
#   admin_by          — the Yakuba admin whose decision governs the flag (NULL: moderators only).
#                       Kept when a moderator lengthens the period: shortening it, or changing its
#                       category/department, still needs an admin.
#   unmirrored_*      — the archive bot's membership became leave/ban while the room was flagged:
#                       since when (server time), by whom, "leave" | "kick" | "ban". Cleared when
#                       the archive bot joins again.

RETRY_BASE_S = 15.0
RETRY_MAX_S = 3600.0


@dataclass(frozen=True)
class Flag:
    room_id: str
    active: bool
    years: int
    category: str
    department: str
    flagged_by: str
    flagged_at: float
    via: str  # "admin" (flag command in the admin room) | "room" (`here` by a moderator)
    unflagged_by: str | None = None
    unflagged_at: float | None = None


@dataclass(frozen=True)
class Unmirrored:
    """The archive bot left, or was removed from, a flagged room: nothing mirrored since."""
    since: float
    by: str
    how: str  # "leave" (the bot itself) | "kick" | "ban"


@dataclass(frozen=True)
class Retry:
    event_id: str
    room_id: str
    kind: str
    attempts: int


@dataclass(frozen=True)
class PendingDisposal:
    code: str
    room_id: str
    reason: str
    requested_by: str
    requested_at: float
    status: str  # pending | done | refused | cancelled


def _flag(row: sqlite3.Row) -> Flag:
    return Flag(row["room_id"], bool(row["active"]), row["years"], row["category"], row["department"],
                row["flagged_by"], row["flagged_at"], row["via"], row["unflagged_by"], row["unflagged_at"])


class FlagReader:
    """Read-only lookups (what a policy may use)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._active: frozenset[str] | None = None

    async def active_rooms(self) -> frozenset[str]:
        if self._active is None:
            rows = await self.db.fetchall("SELECT room_id FROM retention_flags WHERE active = 1")
            self._active = frozenset(r["room_id"] for r in rows)
        return self._active

    async def is_flagged(self, room_id: str) -> bool:
        return room_id in await self.active_rooms()

    async def flag(self, room_id: str) -> Flag | None:
        row = await self.db.fetchone("SELECT * FROM retention_flags WHERE room_id = ?", (room_id,))
        return _flag(row) if row else None

    async def flags(self, *, active_only: bool = True) -> list[Flag]:
        sql = "SELECT * FROM retention_flags" + (" WHERE active = 1" if active_only else "")
        return [_flag(r) for r in await self.db.fetchall(sql + " ORDER BY flagged_at, room_id")]

    async def admin_by(self, room_id: str) -> str | None:
        """The admin whose decision governs this room's flag, as recorded (None if none is)."""
        row = await self.db.fetchone("SELECT admin_by FROM retention_flag_notes WHERE room_id = ?", (room_id,))
        return row["admin_by"] if row else None

    async def unmirrored(self, room_id: str) -> Unmirrored | None:
        row = await self.db.fetchone(
            "SELECT unmirrored_since, unmirrored_by, unmirrored_how FROM retention_flag_notes "
            "WHERE room_id = ? AND unmirrored_since IS NOT NULL", (room_id,))
        return Unmirrored(row["unmirrored_since"], row["unmirrored_by"], row["unmirrored_how"]) if row else None


class RetentionTables(FlagReader):
    # -- flags ---------------------------------------------------------------------------------
    async def set_flag(self, room_id: str, *, years: int, category: str, department: str,
                       flagged_by: str, flagged_at: float, via: str) -> None:
        await self.db.execute(
            "INSERT INTO retention_flags (room_id, active, years, category, department, flagged_by, "
            "flagged_at, via) VALUES (?, 1, ?, ?, ?, ?, ?, ?) ON CONFLICT(room_id) DO UPDATE SET "
            "active = 1, years = excluded.years, category = excluded.category, "
            "department = excluded.department, flagged_by = excluded.flagged_by, "
            "flagged_at = excluded.flagged_at, via = excluded.via, unflagged_by = NULL, "
            "unflagged_at = NULL",
            (room_id, years, category, department, flagged_by, flagged_at, via))
        self._active = None

    async def set_admin_by(self, room_id: str, admin: str | None) -> None:
        await self.db.execute(
            "INSERT INTO retention_flag_notes (room_id, admin_by) VALUES (?, ?) "
            "ON CONFLICT(room_id) DO UPDATE SET admin_by = excluded.admin_by", (room_id, admin))

    async def mark_unmirrored(self, room_id: str, *, since: float, by: str, how: str) -> bool:
        """Note that nothing is mirrored since `since`; an earlier, still open mark is kept."""
        n = await self.db.execute(
            "INSERT INTO retention_flag_notes (room_id, unmirrored_since, unmirrored_by, unmirrored_how) "
            "VALUES (?, ?, ?, ?) ON CONFLICT(room_id) DO UPDATE SET "
            "unmirrored_since = excluded.unmirrored_since, unmirrored_by = excluded.unmirrored_by, "
            "unmirrored_how = excluded.unmirrored_how WHERE unmirrored_since IS NULL",
            (room_id, since, by, how))
        return n > 0

    async def clear_unmirrored(self, room_id: str) -> bool:
        n = await self.db.execute(
            "UPDATE retention_flag_notes SET unmirrored_since = NULL, unmirrored_by = NULL, "
            "unmirrored_how = NULL WHERE room_id = ? AND unmirrored_since IS NOT NULL", (room_id,))
        return n > 0

    async def unflag(self, room_id: str, *, by: str, at: float) -> bool:
        n = await self.db.execute(
            "UPDATE retention_flags SET active = 0, unflagged_by = ?, unflagged_at = ? "
            "WHERE room_id = ? AND active = 1", (by, at, room_id))
        self._active = None
        return n > 0

    # -- display names as seen in m.room.member events -----------------------------------------
    async def display_name(self, room_id: str, user_id: str) -> tuple[bool, str | None]:
        """(known, name): known=False means we never saw this member (look it up)."""
        row = await self.db.fetchone(
            "SELECT display_name FROM retention_members WHERE room_id = ? AND user_id = ?",
            (room_id, user_id))
        return (row is not None, row["display_name"] if row else None)

    async def set_display_name(self, room_id: str, user_id: str, name: str | None) -> None:
        await self.db.execute(
            "INSERT INTO retention_members (room_id, user_id, display_name) VALUES (?, ?, ?) "
            "ON CONFLICT(room_id, user_id) DO UPDATE SET display_name = excluded.display_name",
            (room_id, user_id, name))

    async def snapshot_members(self, room_id: str, names: dict[str, str | None],
                               *, overwrite: bool = False) -> None:
        verb = "REPLACE" if overwrite else "IGNORE"

        def _do(c: sqlite3.Connection) -> None:
            c.executemany(f"INSERT OR {verb} INTO retention_members (room_id, user_id, display_name) "
                          "VALUES (?, ?, ?)", [(room_id, u, n) for u, n in names.items()])

        await self.db.run(lambda c: transaction(c, _do))

    # -- archive writes that failed, retried in the background ---------------------------------
    async def add_retry(self, event_id: str, room_id: str, kind: str, error: str) -> int:
        now = time.time()

        def _do(c: sqlite3.Connection) -> int:
            row = c.execute("SELECT attempts FROM retention_retry WHERE event_id = ?", (event_id,)).fetchone()
            attempts = (row["attempts"] if row else 0) + 1
            delay = min(RETRY_BASE_S * 2 ** (attempts - 1), RETRY_MAX_S)
            c.execute(
                "INSERT INTO retention_retry (event_id, room_id, kind, attempts, next_at, first_failed, "
                "last_error) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(event_id) DO UPDATE SET "
                "attempts = excluded.attempts, next_at = excluded.next_at, last_error = excluded.last_error",
                (event_id, room_id, kind, attempts, now + delay, now, error[:200]))
            return attempts

        # Durable: this row is the only trace of a record still owed to the archive.
        return await self.db.run(lambda c: transaction(c, _do), durable=True)

    async def due_retries(self, limit: int = 50, *, now: float | None = None) -> list[Retry]:
        rows = await self.db.fetchall(
            "SELECT event_id, room_id, kind, attempts FROM retention_retry WHERE next_at <= ? "
            "ORDER BY next_at LIMIT ?", (time.time() if now is None else now, limit))
        return [Retry(r["event_id"], r["room_id"], r["kind"], r["attempts"]) for r in rows]

    async def drop_retry(self, event_id: str) -> None:
        await self.db.execute("DELETE FROM retention_retry WHERE event_id = ?", (event_id,))

    async def retry_count(self) -> int:
        row = await self.db.fetchone("SELECT COUNT(*) AS n FROM retention_retry")
        return int(row["n"]) if row else 0

    # -- disposals waiting for an admin's confirmation ------------------------------------------
    async def add_disposal(self, code: str, room_id: str, reason: str, requested_by: str) -> None:
        await self.db.execute(
            "INSERT INTO retention_disposals (code, room_id, reason, requested_by, requested_at, status) "
            "VALUES (?, ?, ?, ?, ?, 'pending')", (code, room_id, reason, requested_by, time.time()))

    async def cancel_disposals_by(self, user_id: str) -> int:
        """A removed admin's disposals still waiting for confirmation are cancelled."""
        return await self.db.execute(
            "UPDATE retention_disposals SET status = 'cancelled', decided_by = 'admin_removed', decided_at = ? "
            "WHERE requested_by = ? AND status = 'pending'", (time.time(), user_id))

    async def disposal(self, code: str) -> PendingDisposal | None:
        row = await self.db.fetchone("SELECT * FROM retention_disposals WHERE code = ?", (code,))
        if row is None:
            return None
        return PendingDisposal(row["code"], row["room_id"], row["reason"], row["requested_by"],
                               row["requested_at"], row["status"])

    async def decide_disposal(self, code: str, status: str, by: str, result: str | None = None,
                              *, from_status: str = "pending") -> bool:
        """Move a disposal out of `from_status`; False if another decision got there first."""
        n = await self.db.execute(
            "UPDATE retention_disposals SET status = ?, decided_by = ?, decided_at = ?, result = ? "
            "WHERE code = ? AND status = ?", (status, by, time.time(), result, code, from_status))
        return n > 0
