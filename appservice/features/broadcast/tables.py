"""Broadcasts, their deliveries (one row per local recipient or partner), liaison rooms.

A broadcast keeps its title and body: it is an official notice written by an admin, needed
for retries and reminders (docs/data-kept.md). Deliveries keep who read and when — counts for
the status report, names only on request."""

from __future__ import annotations

import secrets
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from appservice.core.db import Database, transaction

TABLES = """
CREATE TABLE IF NOT EXISTS broadcasts (
    id INTEGER PRIMARY KEY AUTOINCREMENT, code TEXT NOT NULL UNIQUE, created_by TEXT NOT NULL,
    created_at REAL NOT NULL, audience TEXT NOT NULL, title TEXT NOT NULL, body TEXT NOT NULL,
    urgent INTEGER NOT NULL, remind_minutes INTEGER NOT NULL, disaster TEXT,
    status TEXT NOT NULL, admin_room TEXT NOT NULL, confirmed_by TEXT, sent_at REAL);
CREATE TABLE IF NOT EXISTS broadcast_deliveries (
    broadcast_id INTEGER NOT NULL, target TEXT NOT NULL, kind TEXT NOT NULL,
    department TEXT NOT NULL, room_id TEXT, event_id TEXT, sent_at REAL, sent_wall REAL, error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0, read_at REAL, read_by TEXT, confirmed_at REAL,
    reminded_at REAL, PRIMARY KEY (broadcast_id, target));
CREATE INDEX IF NOT EXISTS broadcast_deliveries_room ON broadcast_deliveries(room_id, read_at);
CREATE INDEX IF NOT EXISTS broadcast_deliveries_event ON broadcast_deliveries(event_id);
CREATE TABLE IF NOT EXISTS broadcast_liaison (
    server TEXT PRIMARY KEY, room_id TEXT NOT NULL, set_by TEXT NOT NULL, set_at REAL NOT NULL);
"""

USER, PARTNER = "user", "partner"


@dataclass(frozen=True)
class Broadcast:
    id: int
    code: str
    created_by: str
    audience: str
    title: str
    body: str
    urgent: bool
    remind_minutes: int
    disaster: str | None
    status: str
    admin_room: str
    sent_at: float | None

    @classmethod
    def of(cls, r: sqlite3.Row) -> Broadcast:
        return cls(r["id"], r["code"], r["created_by"], r["audience"], r["title"], r["body"], bool(r["urgent"]),
                   r["remind_minutes"], r["disaster"], r["status"], r["admin_room"], r["sent_at"])


@dataclass(frozen=True)
class Delivery:
    target: str
    kind: str
    department: str
    room_id: str | None
    event_id: str | None
    sent_at: float | None
    error: str | None
    attempts: int
    read_at: float | None
    read_by: str | None
    confirmed_at: float | None

    @classmethod
    def of(cls, r: sqlite3.Row) -> Delivery:
        return cls(r["target"], r["kind"], r["department"], r["room_id"], r["event_id"], r["sent_at"],
                   r["error"], r["attempts"], r["read_at"], r["read_by"], r["confirmed_at"])


class BroadcastTables:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def plan(self, *, at: float, created_by: str, audience: str, title: str, body: str, urgent: bool,
                   remind_minutes: int, disaster: str | None, admin_room: str,
                   users: dict[str, str], partners: dict[str, str]) -> Broadcast:
        code = secrets.token_hex(3).upper()

        def write(c: sqlite3.Connection) -> int:
            cur = c.execute(
                "INSERT INTO broadcasts (code, created_by, created_at, audience, title, body, urgent, "
                "remind_minutes, disaster, status, admin_room) VALUES (?,?,?,?,?,?,?,?,?, 'planned', ?)",
                (code, created_by, at, audience, title, body, int(urgent), remind_minutes, disaster,
                 admin_room))
            bid = int(cur.lastrowid or 0)
            c.executemany("INSERT INTO broadcast_deliveries (broadcast_id, target, kind, department) "
                          "VALUES (?,?,?,?)",
                          [(bid, u, USER, d) for u, d in users.items()] +
                          [(bid, s, PARTNER, s) for s in partners])
            return bid

        await self.db.run(lambda c: transaction(c, write))
        found = await self.by_code(code)
        assert found is not None
        return found

    async def by_code(self, code: str) -> Broadcast | None:
        row = await self.db.fetchone("SELECT * FROM broadcasts WHERE code = ?", (code.upper()[:12],))
        return Broadcast.of(row) if row else None

    async def recent(self, limit: int = 10) -> list[Broadcast]:
        rows = await self.db.fetchall("SELECT * FROM broadcasts ORDER BY id DESC LIMIT ?", (limit,))
        return [Broadcast.of(r) for r in rows]

    async def set_status(self, bid: int, status: str, *, expect: str | None = None, **fields: Any) -> bool:
        sets = ", ".join(["status = ?", *(f"{k} = ?" for k in fields)])
        params: list[Any] = [status, *fields.values(), bid]
        where = "id = ?"
        if expect is not None:
            where += " AND status = ?"
            params.append(expect)
        return await self.db.execute(f"UPDATE broadcasts SET {sets} WHERE {where}", tuple(params)) > 0

    async def deliveries(self, bid: int) -> list[Delivery]:
        rows = await self.db.fetchall("SELECT * FROM broadcast_deliveries WHERE broadcast_id = ? ORDER BY target",
                                      (bid,))
        return [Delivery.of(r) for r in rows]

    async def pending(self, bid: int, max_attempts: int) -> list[Delivery]:
        rows = await self.db.fetchall(
            # Partner liaison rooms first (one send reaches a whole town; "prefecture → towns
            # within a minute"), then staff DMs, whose first use creates a room each.
            "SELECT * FROM broadcast_deliveries WHERE broadcast_id = ? AND event_id IS NULL AND attempts < ? "
            "ORDER BY kind = 'user', target", (bid, max_attempts))
        return [Delivery.of(r) for r in rows]

    async def delivered(self, bid: int, target: str, room_id: str, event_id: str, at: float) -> None:
        """`at`: the service clock (reminders, reports); the wall clock is kept beside it for
        comparing with read receipts, which carry the server's time."""
        await self.db.execute(
            "UPDATE broadcast_deliveries SET room_id = ?, event_id = ?, sent_at = ?, sent_wall = ?, error = NULL, "
            "attempts = attempts + 1 WHERE broadcast_id = ? AND target = ?",
            (room_id, event_id, at, time.time(), bid, target))

    async def failed(self, bid: int, target: str, error: str) -> None:
        await self.db.execute(
            "UPDATE broadcast_deliveries SET error = ?, attempts = attempts + 1 WHERE broadcast_id = ? AND target = ?",
            (error[:200], bid, target))

    async def read(self, room_id: str, reader: str, event_id: str, ts_s: float, now: float, *,
                   partner_server: str | None) -> int:
        """A receipt in `room_id` (ts_s: the server's time of the receipt; now: the service
        clock, recorded as the read time): the deliveries there the reader has now read — the
        receipt's event, or any delivery sent before the receipt (receipts mean "read up to")."""
        if partner_server is None:
            return await self.db.execute(
                "UPDATE broadcast_deliveries SET read_at = ?, read_by = ? WHERE room_id = ? AND kind = 'user' "
                "AND target = ? AND read_at IS NULL AND (event_id = ? OR sent_wall <= ?)",
                (now, reader, room_id, reader, event_id, ts_s))
        return await self.db.execute(
            "UPDATE broadcast_deliveries SET read_at = ?, read_by = ? WHERE room_id = ? AND kind = 'partner' "
            "AND target = ? AND read_at IS NULL AND (event_id = ? OR sent_wall <= ?)",
            (now, reader, room_id, partner_server, event_id, ts_s))

    async def delivery_by_event(self, event_id: str) -> tuple[int, Delivery] | None:
        row = await self.db.fetchone("SELECT * FROM broadcast_deliveries WHERE event_id = ?", (event_id,))
        return (int(row["broadcast_id"]), Delivery.of(row)) if row else None

    async def confirmed(self, bid: int, target: str, by: str, ts_s: float) -> None:
        await self.db.execute(
            "UPDATE broadcast_deliveries SET confirmed_at = COALESCE(confirmed_at, ?), "
            "read_at = COALESCE(read_at, ?), read_by = COALESCE(read_by, ?) WHERE broadcast_id = ? AND target = ?",
            (ts_s, ts_s, by, bid, target))

    async def due_reminders(self, now_s: float) -> list[tuple[Broadcast, Delivery]]:
        rows = await self.db.fetchall(
            "SELECT b.*, d.target AS d_target, d.kind AS d_kind, d.department AS d_department, d.room_id AS d_room, "
            "d.event_id AS d_event, d.sent_at AS d_sent, d.error AS d_error, d.attempts AS d_attempts, "
            "d.read_at AS d_read, d.read_by AS d_read_by, d.confirmed_at AS d_confirmed "
            "FROM broadcasts b JOIN broadcast_deliveries d ON d.broadcast_id = b.id "
            "WHERE b.status = 'sent' AND b.remind_minutes > 0 AND d.kind = 'user' AND d.event_id IS NOT NULL "
            "AND d.read_at IS NULL AND d.reminded_at IS NULL AND d.sent_at + b.remind_minutes * 60 <= ?",
            (now_s,))
        return [(Broadcast.of(r), Delivery(r["d_target"], r["d_kind"], r["d_department"], r["d_room"], r["d_event"],
                                           r["d_sent"], r["d_error"], r["d_attempts"], r["d_read"], r["d_read_by"],
                                           r["d_confirmed"])) for r in rows]

    async def reminded(self, bid: int, target: str, at: float) -> None:
        await self.db.execute("UPDATE broadcast_deliveries SET reminded_at = ? WHERE broadcast_id = ? AND target = ?",
                              (at, bid, target))

    async def liaison(self) -> dict[str, str]:
        rows = await self.db.fetchall("SELECT server, room_id FROM broadcast_liaison")
        return {r["server"]: r["room_id"] for r in rows}

    async def set_liaison(self, server: str, room_id: str, by: str) -> None:
        await self.db.execute(
            "INSERT INTO broadcast_liaison (server, room_id, set_by, set_at) VALUES (?,?,?,?) "
            "ON CONFLICT(server) DO UPDATE SET room_id = excluded.room_id, set_by = excluded.set_by, "
            "set_at = excluded.set_at", (server, room_id, by, time.time()))
