"""Yakuba's own state (admins, rooms the bots are in, DM rooms, offers, audit) in SQLite.

`StateReader` is what policies get: lookups only. `StateStore` adds the writes, for the
executor, the command handlers and the transaction handler that learns room state as events
stream past.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
import uuid
from dataclasses import dataclass
from typing import Any

from appservice.core.db import Database, transaction
from appservice.core.decisions import Audit

# This module's tables; run (idempotently) when the database opens.
TABLES = """
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS admins (
    user_id TEXT PRIMARY KEY, added_by TEXT, added_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS rooms (
    room_id TEXT PRIMARY KEY, encrypted INTEGER NOT NULL DEFAULT 0, name TEXT);
CREATE TABLE IF NOT EXISTS bot_memberships (
    room_id TEXT NOT NULL, user_id TEXT NOT NULL, membership TEXT NOT NULL,
    PRIMARY KEY (room_id, user_id));
CREATE TABLE IF NOT EXISTS dm_rooms (user_id TEXT PRIMARY KEY, room_id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS user_dm_rooms (room_id TEXT PRIMARY KEY, user_id TEXT NOT NULL, since REAL NOT NULL);
CREATE TABLE IF NOT EXISTS once_keys (key TEXT PRIMARY KEY, done_at REAL NOT NULL);
-- An effect in progress: claimed by a process (owner "pid:token") and not yet done or released.
-- A claim whose owner is gone (a crash) or that is older than CLAIM_STALE_S may be claimed again.
CREATE TABLE IF NOT EXISTS once_claims (key TEXT PRIMARY KEY, claimed_at REAL NOT NULL, owner TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS offers (
    event_id TEXT PRIMARY KEY, action TEXT NOT NULL, user_id TEXT NOT NULL,
    room_id TEXT NOT NULL, target_event_id TEXT NOT NULL, detail TEXT NOT NULL,
    created_at REAL NOT NULL, used_at REAL);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT, ts REAL NOT NULL, action TEXT NOT NULL,
    actor TEXT, target TEXT, room_id TEXT, event_id TEXT, result TEXT NOT NULL,
    details TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS audit_target ON audit (target);
CREATE INDEX IF NOT EXISTS audit_action ON audit (action);
"""


# Results of StateStore.claim.
CLAIMED, DONE, BUSY = "claimed", "done", "busy"
# A claim older than this counts as abandoned even if its owner seems alive.
CLAIM_STALE_S = 300.0
# This process, as the owner of its claims: the pid (to see whether an owner is gone) and a token
# (a restarted service may get the same pid, e.g. pid 1 in a container).
OWNER = f"{os.getpid()}:{uuid.uuid4().hex[:12]}"


def _owner_gone(owner: str) -> bool:
    """Whether the process that made a claim is gone (it crashed between claim and effect)."""
    if owner == OWNER:
        return False
    pid_text, _, _ = owner.partition(":")
    try:
        pid = int(pid_text)
    except ValueError:
        return True
    if pid == os.getpid():
        return True  # our pid with another token: the process before us
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def write_audit(c: sqlite3.Connection, row: Audit) -> bool:
    """Insert one audit row inside the caller's transaction; with once_key, at most once ever."""
    now = time.time()
    if row.once_key and not c.execute("INSERT OR IGNORE INTO once_keys (key, done_at) VALUES (?, ?)",
                                      (row.once_key, now)).rowcount:
        return False
    c.execute("INSERT INTO audit (ts, action, actor, target, room_id, event_id, result, details) "
              "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
              (now, row.action, row.actor, row.target, row.room_id, row.event_id, row.result,
               json.dumps(row.details or {}, ensure_ascii=False, default=str)))
    return True


@dataclass(frozen=True)
class OfferRow:
    event_id: str
    action: str
    user_id: str
    room_id: str
    target_event_id: str
    detail: dict[str, Any]
    used: bool


class StateReader:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, key: str) -> str | None:
        row = await self.db.fetchone("SELECT value FROM kv WHERE key = ?", (key,))
        return row["value"] if row else None

    async def admin_room(self) -> str | None:
        return await self.get("admin_room")

    async def db_admins(self) -> list[str]:
        return [r["user_id"] for r in await self.db.fetchall("SELECT user_id FROM admins ORDER BY 1")]

    async def is_encrypted(self, room_id: str) -> bool | None:
        row = await self.db.fetchone("SELECT encrypted FROM rooms WHERE room_id = ?", (room_id,))
        return None if row is None else bool(row["encrypted"])

    async def room_name(self, room_id: str) -> str | None:
        row = await self.db.fetchone("SELECT name FROM rooms WHERE room_id = ?", (room_id,))
        return row["name"] if row else None

    async def bots_joined(self, room_id: str) -> list[str]:
        rows = await self.db.fetchall(
            "SELECT user_id FROM bot_memberships WHERE room_id = ? AND membership = 'join'",
            (room_id,))
        return [r["user_id"] for r in rows]

    async def dm_room(self, user_id: str) -> str | None:
        row = await self.db.fetchone("SELECT room_id FROM dm_rooms WHERE user_id = ?", (user_id,))
        return row["room_id"] if row else None

    async def is_dm_room(self, room_id: str) -> str | None:
        """The user whose DM room this is, if it is one: the DM the bot opened with them, or a
        direct chat they opened with the bot themselves (as Element does)."""
        row = await self.db.fetchone(
            "SELECT user_id FROM dm_rooms WHERE room_id = ? "
            "UNION ALL SELECT user_id FROM user_dm_rooms WHERE room_id = ? LIMIT 1", (room_id, room_id))
        return row["user_id"] if row else None

    async def offer(self, event_id: str) -> OfferRow | None:
        row = await self.db.fetchone("SELECT * FROM offers WHERE event_id = ?", (event_id,))
        if row is None:
            return None
        return OfferRow(row["event_id"], row["action"], row["user_id"], row["room_id"],
                        row["target_event_id"], json.loads(row["detail"]), row["used_at"] is not None)

    async def once_done(self, key: str) -> bool:
        return await self.db.fetchone("SELECT 1 FROM once_keys WHERE key = ?", (key,)) is not None

    async def audit_rows(self, target: str | None = None, limit: int = 20) -> list[sqlite3.Row]:
        if target:
            return await self.db.fetchall(
                "SELECT * FROM audit WHERE target = ? OR actor = ? ORDER BY id DESC LIMIT ?",
                (target, target, limit))
        return await self.db.fetchall("SELECT * FROM audit ORDER BY id DESC LIMIT ?", (limit,))


class StateStore(StateReader):
    async def set(self, key: str, value: str) -> None:
        await self.db.execute(
            "INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value))

    async def add_admin(self, user_id: str, added_by: str | None) -> bool:
        n = await self.db.execute(
            "INSERT OR IGNORE INTO admins (user_id, added_by, added_at) VALUES (?, ?, ?)",
            (user_id, added_by, time.time()))
        return n > 0

    async def remove_admin(self, user_id: str) -> bool:
        return await self.db.execute("DELETE FROM admins WHERE user_id = ?", (user_id,)) > 0

    async def note_room(self, room_id: str, *, encrypted: bool | None = None,
                        name: str | None = None) -> None:
        def _do(c: sqlite3.Connection) -> None:
            c.execute("INSERT OR IGNORE INTO rooms (room_id) VALUES (?)", (room_id,))
            if encrypted is not None:
                c.execute("UPDATE rooms SET encrypted = ? WHERE room_id = ?", (int(encrypted), room_id))
            if name is not None:
                c.execute("UPDATE rooms SET name = ? WHERE room_id = ?", (name, room_id))

        await self.db.run(_do)

    async def note_bot_membership(self, room_id: str, user_id: str, membership: str) -> None:
        await self.db.execute(
            "INSERT INTO bot_memberships (room_id, user_id, membership) VALUES (?, ?, ?) "
            "ON CONFLICT(room_id, user_id) DO UPDATE SET membership = excluded.membership",
            (room_id, user_id, membership))

    async def set_dm_room(self, user_id: str, room_id: str) -> None:
        await self.db.execute(
            "INSERT INTO dm_rooms (user_id, room_id) VALUES (?, ?) "
            "ON CONFLICT(user_id) DO UPDATE SET room_id = excluded.room_id", (user_id, room_id))

    async def add_user_dm(self, room_id: str, user_id: str) -> None:
        await self.db.execute(
            "INSERT INTO user_dm_rooms (room_id, user_id, since) VALUES (?, ?, ?) "
            "ON CONFLICT(room_id) DO UPDATE SET user_id = excluded.user_id", (room_id, user_id, time.time()))

    async def drop_user_dm(self, room_id: str) -> bool:
        return await self.db.execute("DELETE FROM user_dm_rooms WHERE room_id = ?", (room_id,)) > 0

    async def claim_once(self, key: str) -> bool:
        """True the first time a key is claimed, False ever after: at most once, done at once
        (for marks that are not effects; the executor uses `claim`/`finish` instead)."""
        n = await self.db.execute(
            "INSERT OR IGNORE INTO once_keys (key, done_at) VALUES (?, ?)", (key, time.time()))
        return n > 0

    async def release_once(self, key: str) -> None:
        """Undo a claim whose effect failed, so a retry may perform it."""
        def _do(c: sqlite3.Connection) -> None:
            c.execute("DELETE FROM once_keys WHERE key = ?", (key,))
            c.execute("DELETE FROM once_claims WHERE key = ?", (key,))

        await self.db.run(lambda c: transaction(c, _do))

    # -- at-least-once effects: claim, perform, then finish (or release) ------------------------

    async def claim(self, key: str, *, stale_after_s: float = CLAIM_STALE_S) -> str:
        """Claim `key` before performing its effect: CLAIMED (go ahead, then `finish` or
        `release`), DONE (it happened already) or BUSY (a live claim of another run: not done,
        try later). A claim left by a process that is gone, or older than `stale_after_s`, is
        taken over — so an effect interrupted by a crash happens on the replay."""
        now = time.time()

        def _do(c: sqlite3.Connection) -> str:
            if c.execute("SELECT 1 FROM once_keys WHERE key = ?", (key,)).fetchone():
                return DONE
            row = c.execute("SELECT claimed_at, owner FROM once_claims WHERE key = ?", (key,)).fetchone()
            if row is not None and now - row["claimed_at"] < stale_after_s and not _owner_gone(row["owner"]):
                return BUSY
            c.execute("INSERT OR REPLACE INTO once_claims (key, claimed_at, owner) VALUES (?, ?, ?)",
                      (key, now, OWNER))
            return CLAIMED

        return await self.db.run(lambda c: transaction(c, _do))

    async def finish(self, key: str) -> None:
        """The claimed effect happened: the key is done for ever."""
        def _do(c: sqlite3.Connection) -> None:
            c.execute("INSERT OR IGNORE INTO once_keys (key, done_at) VALUES (?, ?)", (key, time.time()))
            c.execute("DELETE FROM once_claims WHERE key = ?", (key,))

        await self.db.run(lambda c: transaction(c, _do))

    async def release(self, key: str) -> None:
        """The claimed effect failed: drop the claim, so a later run performs it."""
        await self.db.execute("DELETE FROM once_claims WHERE key = ? AND owner = ?", (key, OWNER))

    async def claims(self) -> list[str]:
        """Keys claimed and neither done nor released (effects in progress, or cut off by a crash)."""
        return [r["key"] for r in await self.db.fetchall("SELECT key FROM once_claims ORDER BY key")]

    async def add_offer(self, sent_event_id: str, action: str, user_id: str, room_id: str,
                        target_event_id: str, detail: dict[str, Any]) -> None:
        await self.db.execute(
            "INSERT OR REPLACE INTO offers (event_id, action, user_id, room_id, target_event_id, "
            "detail, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (sent_event_id, action, user_id, room_id, target_event_id, json.dumps(detail), time.time()))

    async def use_offer(self, event_id: str) -> bool:
        """Mark an offer used; False if it was used already (a second ✅ does nothing)."""
        return await self.db.execute(
            "UPDATE offers SET used_at = ? WHERE event_id = ? AND used_at IS NULL",
            (time.time(), event_id)) > 0

    async def audit(self, action: str, *, actor: str | None = None, target: str | None = None,
                    room_id: str | None = None, event_id: str | None = None, result: str = "ok",
                    details: dict[str, Any] | None = None, once_key: str | None = None) -> bool:
        """Write an audit row; with once_key, at most once ever (claim and row in one commit)."""
        row = Audit(action=action, actor=actor, target=target, room_id=room_id, event_id=event_id,
                    result=result, details=details or {}, once_key=once_key)
        return await self.db.run(lambda c: transaction(c, lambda c: write_audit(c, row)))
