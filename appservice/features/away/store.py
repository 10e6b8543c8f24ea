"""Absences (不在) in Yakuba's database, and the DM rooms of the people who are away.

`AwayStore.live()` is what the policy reads on every message: the absences that have not ended,
with the DM rooms of their users, kept in memory and reloaded after every write through this
store (and at least every `RELOAD_S`), so the common case — nobody away — costs no query.
States: scheduled → active → ended; or cancelled (`away off`) / replaced (an overlapping new one).
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from appservice.core.db import Database, transaction

TABLES = """
CREATE TABLE IF NOT EXISTS away_absences (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id TEXT NOT NULL,
    starts_at REAL NOT NULL,
    ends_at REAL NOT NULL,
    end_shown REAL NOT NULL,       -- the end as written (a whole day: midnight after it)
    end_has_time INTEGER NOT NULL,
    display_name TEXT,
    delegate TEXT,
    delegate_name TEXT,
    note TEXT NOT NULL DEFAULT '',
    set_by TEXT NOT NULL,
    created_at REAL NOT NULL,
    state TEXT NOT NULL,           -- scheduled | active | ended | cancelled | replaced
    changed_at REAL,
    presence_prev TEXT);
CREATE INDEX IF NOT EXISTS away_absences_user ON away_absences (user_id, state);
CREATE INDEX IF NOT EXISTS away_absences_state ON away_absences (state, ends_at);
-- room_id is user_id's direct chat with partner (from the user's m.direct, or an is_direct invite).
CREATE TABLE IF NOT EXISTS away_dm_rooms (
    room_id TEXT NOT NULL, user_id TEXT NOT NULL, partner TEXT NOT NULL, source TEXT NOT NULL,
    PRIMARY KEY (room_id, user_id, partner));
CREATE INDEX IF NOT EXISTS away_dm_rooms_user ON away_dm_rooms (user_id);
"""

OPEN_STATES = ("scheduled", "active")
RELOAD_S = 60.0


@dataclass(frozen=True)
class Absence:
    id: int
    user_id: str
    starts_at: float
    ends_at: float
    end_shown: float
    end_has_time: bool
    display_name: str | None
    delegate: str | None
    delegate_name: str | None
    note: str
    set_by: str
    state: str

    @classmethod
    def of(cls, row: sqlite3.Row) -> Absence:
        return cls(row["id"], row["user_id"], row["starts_at"], row["ends_at"], row["end_shown"],
                   bool(row["end_has_time"]), row["display_name"], row["delegate"], row["delegate_name"],
                   row["note"] or "", row["set_by"], row["state"])

    def covers(self, ts: float) -> bool:
        return self.starts_at <= ts < self.ends_at

    def overlaps(self, start: float, end: float) -> bool:
        return self.starts_at < end and start < self.ends_at


@dataclass(frozen=True)
class Live:
    """What the policy needs: open absences by user, and DM rooms → [(user, partner)]."""

    absences: dict[str, list[Absence]]
    dm_rooms: dict[str, list[tuple[str, str]]]

    def current(self, user_id: str, ts: float) -> Absence | None:
        return next((a for a in self.absences.get(user_id, ()) if a.covers(ts)), None)

    def away_at(self, ts: float) -> dict[str, Absence]:
        out: dict[str, Absence] = {}
        for user, items in self.absences.items():
            found = next((a for a in items if a.covers(ts)), None)
            if found is not None:
                out[user] = found
        return out


class AwayStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._live: Live | None = None
        self._loaded = 0.0

    def invalidate(self) -> None:
        self._live = None

    async def live(self) -> Live:
        if self._live is None or time.monotonic() - self._loaded > RELOAD_S:
            rows = await self.db.fetchall(
                "SELECT * FROM away_absences WHERE state IN ('scheduled', 'active') ORDER BY starts_at")
            absences: dict[str, list[Absence]] = {}
            for r in rows:
                absences.setdefault(r["user_id"], []).append(Absence.of(r))
            dm: dict[str, list[tuple[str, str]]] = {}
            if absences:
                marks = ",".join("?" * len(absences))
                for r in await self.db.fetchall(
                        f"SELECT room_id, user_id, partner FROM away_dm_rooms WHERE user_id IN ({marks})",
                        tuple(absences)):
                    dm.setdefault(r["room_id"], []).append((r["user_id"], r["partner"]))
            self._live = Live(absences, dm)
            self._loaded = time.monotonic()
        return self._live

    async def open_of(self, user_id: str) -> list[Absence]:
        rows = await self.db.fetchall(
            "SELECT * FROM away_absences WHERE user_id = ? AND state IN ('scheduled', 'active') "
            "ORDER BY starts_at", (user_id,))
        return [Absence.of(r) for r in rows]

    async def all_open(self) -> list[Absence]:
        rows = await self.db.fetchall(
            "SELECT * FROM away_absences WHERE state IN ('scheduled', 'active') ORDER BY starts_at, user_id")
        return [Absence.of(r) for r in rows]

    async def get(self, absence_id: int) -> Absence | None:
        row = await self.db.fetchone("SELECT * FROM away_absences WHERE id = ?", (absence_id,))
        return Absence.of(row) if row else None

    async def add(self, *, user_id: str, starts_at: float, ends_at: float, end_shown: float,
                  end_has_time: bool, display_name: str | None, delegate: str | None,
                  delegate_name: str | None, note: str, set_by: str, now: float,
                  replace: list[int]) -> int:
        """Insert an absence (active if it has begun) and mark `replace` replaced, in one commit."""
        state = "active" if starts_at <= now else "scheduled"

        def _do(c: sqlite3.Connection) -> int:
            for old in replace:
                c.execute("UPDATE away_absences SET state = 'replaced', changed_at = ? "
                          "WHERE id = ? AND state IN ('scheduled', 'active')", (now, old))
            cur = c.execute(
                "INSERT INTO away_absences (user_id, starts_at, ends_at, end_shown, end_has_time, display_name, "
                "delegate, delegate_name, note, set_by, created_at, state, changed_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (user_id, starts_at, ends_at, end_shown, int(end_has_time), display_name, delegate,
                 delegate_name, note, set_by, now, state, now))
            return int(cur.lastrowid or 0)

        try:
            return await self.db.run(lambda c: transaction(c, _do))
        finally:
            self.invalidate()

    async def set_state(self, absence_id: int, state: str, now: float, *,
                        only_from: tuple[str, ...] = OPEN_STATES) -> bool:
        marks = ",".join("?" * len(only_from))
        try:
            return await self.db.execute(
                f"UPDATE away_absences SET state = ?, changed_at = ? WHERE id = ? AND state IN ({marks})",
                (state, now, absence_id, *only_from)) > 0
        finally:
            self.invalidate()

    async def set_presence_prev(self, absence_id: int, value: str | None) -> None:
        await self.db.execute("UPDATE away_absences SET presence_prev = ? WHERE id = ?", (value, absence_id))

    async def presence_prev(self, absence_id: int) -> str | None:
        row = await self.db.fetchone("SELECT presence_prev FROM away_absences WHERE id = ?", (absence_id,))
        return row["presence_prev"] if row else None

    async def due_to_start(self, now: float) -> list[Absence]:
        rows = await self.db.fetchall(
            "SELECT * FROM away_absences WHERE state = 'scheduled' AND starts_at <= ? ORDER BY id", (now,))
        return [Absence.of(r) for r in rows]

    async def due_to_end(self, now: float) -> list[Absence]:
        rows = await self.db.fetchall(
            "SELECT * FROM away_absences WHERE state IN ('scheduled', 'active') AND ends_at <= ? ORDER BY id",
            (now,))
        return [Absence.of(r) for r in rows]

    async def add_dm_rooms(self, rows: list[tuple[str, str, str]], source: str) -> int:
        """(room_id, user_id, partner) rows; returns how many were new."""
        def _do(c: sqlite3.Connection) -> int:
            n = 0
            for room, user, partner in rows:
                n += c.execute("INSERT OR IGNORE INTO away_dm_rooms (room_id, user_id, partner, source) "
                               "VALUES (?, ?, ?, ?)", (room, user, partner, source)).rowcount
            return n

        n = await self.db.run(lambda c: transaction(c, _do))
        if n:
            self.invalidate()
        return n

    async def notices_sent(self, absence_id: int) -> int:
        """How many people were told (the once keys of the absence's notices)."""
        row = await self.db.fetchone("SELECT COUNT(*) AS n FROM once_keys WHERE key >= ? AND key < ?",
                                     (f"away:{absence_id}:", f"away:{absence_id};"))
        return int(row["n"]) if row else 0

    async def prune(self, before: float) -> int:
        """Finished absences (and their notes) older than `before` leave the database."""
        try:
            return await self.db.execute(
                "DELETE FROM away_absences WHERE state NOT IN ('scheduled', 'active') AND changed_at < ?",
                (before,))
        finally:
            self.invalidate()


def iso(ts: float, tz: Any) -> str:
    return datetime.fromtimestamp(ts, tz).isoformat(timespec="minutes")
