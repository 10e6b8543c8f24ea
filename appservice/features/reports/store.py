"""Reports (通報) Yakuba has picked up from Synapse, one row per Synapse report id.

Reports about the same message while it is open form one case (`case_id`: the first report's
id); an action on the case applies to all its reports. `kind`: first | again (another reporter)
| duplicate (the same reporter again). `status`: open → handled (an action was taken; more may
follow) or dismissed; `old` for reports from before Yakuba watched (`reports.backlog_days`).
The reason is kept masked (personal data) and cut; the reported text is never stored.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from appservice.core.db import Database, transaction

TABLES = """
CREATE TABLE IF NOT EXISTS reports (
    id INTEGER PRIMARY KEY,          -- Synapse's report id
    received_at REAL NOT NULL,
    room_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    reporter TEXT NOT NULL,
    sender TEXT,
    reason TEXT NOT NULL DEFAULT '',
    room_name TEXT,
    case_id INTEGER NOT NULL,
    kind TEXT NOT NULL,              -- first | again | duplicate
    status TEXT NOT NULL,            -- open | handled | dismissed | old
    delivered INTEGER NOT NULL DEFAULT 0,
    actions TEXT NOT NULL DEFAULT '',
    acted_by TEXT,
    acted_at REAL,
    post_event_id TEXT);
CREATE INDEX IF NOT EXISTS reports_event ON reports (event_id, status);
CREATE INDEX IF NOT EXISTS reports_case ON reports (case_id);
"""

WATCH_KEY = "reports.watch_since"
LAST_KEY = "reports.last_id"  # survives the pruning of old rows


@dataclass(frozen=True)
class Report:
    id: int
    received_at: float
    room_id: str
    event_id: str
    reporter: str
    sender: str | None
    reason: str
    room_name: str | None
    case_id: int
    kind: str
    status: str
    delivered: bool
    actions: tuple[str, ...]
    acted_by: str | None
    acted_at: float | None

    @classmethod
    def of(cls, r: sqlite3.Row) -> Report:
        return cls(r["id"], r["received_at"], r["room_id"], r["event_id"], r["reporter"], r["sender"], r["reason"],
                   r["room_name"], r["case_id"], r["kind"], r["status"], bool(r["delivered"]),
                   tuple(a for a in (r["actions"] or "").split(",") if a), r["acted_by"], r["acted_at"])


class ReportStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def last_id(self) -> int:
        row = await self.db.fetchone(
            "SELECT MAX(COALESCE((SELECT MAX(id) FROM reports), 0), "
            "COALESCE((SELECT CAST(value AS INTEGER) FROM kv WHERE key = ?), 0)) AS n", (LAST_KEY,))
        return int(row["n"] or 0) if row else 0

    async def prune(self, before: float) -> int:
        """Closed reports received before `before` leave the database (the last id stays known)."""
        def _do(c: sqlite3.Connection) -> int:
            top = c.execute("SELECT MAX(id) FROM reports").fetchone()[0]
            if top is not None:
                c.execute("INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = "
                          "CAST(MAX(CAST(kv.value AS INTEGER), CAST(excluded.value AS INTEGER)) AS TEXT)",
                          (LAST_KEY, str(top)))
            return c.execute("DELETE FROM reports WHERE status IN ('handled', 'dismissed', 'old') AND received_at < ? "
                             "AND case_id NOT IN (SELECT case_id FROM reports WHERE status = 'open')",
                             (before,)).rowcount

        return await self.db.run(lambda c: transaction(c, _do))

    async def add(self, *, id: int, received_at: float, room_id: str, event_id: str, reporter: str,
                  sender: str | None, reason: str, room_name: str | None, old: bool) -> Report | None:
        """Record a report (None if known already), joining the open case about the same event."""
        def _do(c: sqlite3.Connection) -> Report | None:
            if c.execute("SELECT 1 FROM reports WHERE id = ?", (id,)).fetchone():
                return None
            case, kind, status = id, "first", "old" if old else "open"
            if not old:
                same = c.execute("SELECT case_id, reporter FROM reports WHERE event_id = ? AND status = 'open' "
                                 "ORDER BY id", (event_id,)).fetchall()
                if same:
                    case = same[0]["case_id"]
                    kind = "duplicate" if any(r["reporter"] == reporter for r in same) else "again"
            c.execute("INSERT INTO reports (id, received_at, room_id, event_id, reporter, sender, reason, room_name, "
                      "case_id, kind, status, delivered) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                      (id, received_at, room_id, event_id, reporter, sender, reason, room_name, case, kind, status,
                       int(old)))
            return Report.of(c.execute("SELECT * FROM reports WHERE id = ?", (id,)).fetchone())

        return await self.db.run(lambda c: transaction(c, _do))

    async def get(self, report_id: int) -> Report | None:
        row = await self.db.fetchone("SELECT * FROM reports WHERE id = ?", (report_id,))
        return Report.of(row) if row else None

    async def case(self, report_id: int) -> Report | None:
        """The first report of the case `report_id` belongs to."""
        row = await self.db.fetchone(
            "SELECT c.* FROM reports r JOIN reports c ON c.id = r.case_id WHERE r.id = ?", (report_id,))
        return Report.of(row) if row else None

    async def members(self, case_id: int) -> list[Report]:
        rows = await self.db.fetchall("SELECT * FROM reports WHERE case_id = ? ORDER BY id", (case_id,))
        return [Report.of(r) for r in rows]

    async def undelivered(self) -> list[Report]:
        rows = await self.db.fetchall("SELECT * FROM reports WHERE delivered = 0 ORDER BY id")
        return [Report.of(r) for r in rows]

    async def delivered(self, report_id: int, post_event_id: str | None) -> None:
        await self.db.execute("UPDATE reports SET delivered = 1, post_event_id = ? WHERE id = ?",
                              (post_event_id, report_id))

    async def act(self, case_id: int, action: str, by: str, now: float) -> None:
        """Note an action on every report of the case: dismissed closes it, others handle it."""
        status = "dismissed" if action == "dismiss" else "handled"

        def _do(c: sqlite3.Connection) -> None:
            for r in c.execute("SELECT id, actions FROM reports WHERE case_id = ?", (case_id,)).fetchall():
                actions = [a for a in (r["actions"] or "").split(",") if a]
                if action not in actions:
                    actions.append(action)
                c.execute("UPDATE reports SET status = ?, actions = ?, acted_by = ?, acted_at = ? WHERE id = ?",
                          (status, ",".join(actions), by, now, r["id"]))

        await self.db.run(lambda c: transaction(c, _do))

    async def cases(self, *, open_only: bool, limit: int = 30) -> list[tuple[Report, int]]:
        """(first report, how many reports) of each case, newest first."""
        where = "WHERE c.status = 'open'" if open_only else "WHERE c.status != 'old'"
        rows = await self.db.fetchall(
            f"SELECT c.*, (SELECT COUNT(*) FROM reports r WHERE r.case_id = c.id) AS n FROM reports c "
            f"{where} AND c.id = c.case_id ORDER BY c.id DESC LIMIT ?", (limit,))
        return [(Report.of(r), int(r["n"])) for r in rows]

    async def watch_since(self, now: float) -> float:
        """When Yakuba began watching reports (set on the first poll)."""
        def _do(c: sqlite3.Connection) -> float:
            row = c.execute("SELECT value FROM kv WHERE key = ?", (WATCH_KEY,)).fetchone()
            if row is not None:
                return float(row["value"])
            c.execute("INSERT INTO kv (key, value) VALUES (?, ?)", (WATCH_KEY, repr(now)))
            return now

        return await self.db.run(lambda c: transaction(c, _do))


def clean_str(value: Any, limit: int = 255) -> str | None:
    return value[:limit] if isinstance(value, str) and value else None
