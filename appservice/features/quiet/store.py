"""Quiet-hours state in Yakuba's database: per-user results, runs, opt-outs, disaster mode.

Disaster mode and the resolved exempt rooms live in the shared `kv` table, so the policy can
read them through the read-only `StateReader` (`ctx.state.get(...)`).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from appservice.core.db import Database, transaction

# This module's tables; run (idempotently) when the database opens.
TABLES = """
CREATE TABLE IF NOT EXISTS quiet_users (
    user_id TEXT PRIMARY KEY,
    sig TEXT NOT NULL,             -- signature of the rule list last verified/applied
    quiet INTEGER NOT NULL,        -- 1: the silencer was in place
    rules INTEGER NOT NULL,        -- how many of our rules the user has
    checked_at REAL NOT NULL,
    changed_at REAL,
    error TEXT);
CREATE TABLE IF NOT EXISTS quiet_optout (user_id TEXT PRIMARY KEY, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS quiet_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    trigger TEXT NOT NULL,
    started_at REAL NOT NULL,
    finished_at REAL,
    clock TEXT,                    -- the service clock when the run began (ISO)
    users INTEGER, checked INTEGER, skipped INTEGER, changed INTEGER, ops INTEGER,
    errors INTEGER, quiet INTEGER, duration REAL, error_sample TEXT);
"""

DISASTER_KEY = "quiet.disaster"
EXEMPT_KEY = "quiet.exempt_rooms"


@dataclass(frozen=True)
class UserResult:
    user_id: str
    sig: str
    quiet: bool
    rules: int
    changed: bool
    error: str | None = None


@dataclass(frozen=True)
class Disaster:
    on: bool
    reason: str = ""
    by: str = ""
    at: str = ""


def parse_disaster(raw: str | None) -> Disaster:
    if not raw:
        return Disaster(False)
    try:
        data = json.loads(raw)
    except ValueError:
        return Disaster(False)
    if not isinstance(data, dict):
        return Disaster(False)
    return Disaster(bool(data.get("on")), str(data.get("reason", "")), str(data.get("by", "")),
                    str(data.get("at", "")))


def parse_exempt(raw: str | None) -> frozenset[str]:
    if not raw:
        return frozenset()
    try:
        data = json.loads(raw)
    except ValueError:
        return frozenset()
    return frozenset(str(r) for r in data) if isinstance(data, list) else frozenset()


class QuietStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- disaster mode / exempt rooms (kv) ----------------------------------------------------

    async def set_disaster(self, d: Disaster) -> None:
        value = json.dumps({"on": d.on, "reason": d.reason, "by": d.by, "at": d.at}, ensure_ascii=False)
        await self.db.execute("INSERT INTO kv (key, value) VALUES (?, ?) "
                              "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (DISASTER_KEY, value))

    async def disaster(self) -> Disaster:
        row = await self.db.fetchone("SELECT value FROM kv WHERE key = ?", (DISASTER_KEY,))
        return parse_disaster(row["value"] if row else None)

    async def set_exempt_rooms(self, rooms: Iterable[str]) -> None:
        value = json.dumps(sorted(set(rooms)))
        await self.db.execute("INSERT INTO kv (key, value) VALUES (?, ?) "
                              "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (EXEMPT_KEY, value))

    # -- opt-outs -------------------------------------------------------------------------------

    async def set_opt_out(self, user_id: str, out: bool) -> bool:
        """True if this changed anything."""
        if out:
            return await self.db.execute("INSERT OR IGNORE INTO quiet_optout (user_id, at) VALUES (?, ?)",
                                         (user_id, time.time())) > 0
        return await self.db.execute("DELETE FROM quiet_optout WHERE user_id = ?", (user_id,)) > 0

    async def opted_out(self) -> frozenset[str]:
        return frozenset(r["user_id"] for r in await self.db.fetchall("SELECT user_id FROM quiet_optout"))

    # -- per-user results -----------------------------------------------------------------------

    async def user_states(self) -> dict[str, tuple[str, float]]:
        rows = await self.db.fetchall("SELECT user_id, sig, checked_at FROM quiet_users WHERE error IS NULL")
        return {r["user_id"]: (r["sig"], r["checked_at"]) for r in rows}

    async def save_results(self, results: Sequence[UserResult]) -> None:
        """One transaction (one fsync) for a batch of users."""
        if not results:
            return
        now = time.time()

        def _do(c: sqlite3.Connection) -> None:
            for r in results:
                if r.error:
                    c.execute("INSERT INTO quiet_users (user_id, sig, quiet, rules, checked_at, error) "
                              "VALUES (?, '', 0, 0, ?, ?) ON CONFLICT(user_id) DO UPDATE SET "
                              "error = excluded.error, checked_at = excluded.checked_at",
                              (r.user_id, now, r.error[:200]))
                else:
                    c.execute("INSERT INTO quiet_users (user_id, sig, quiet, rules, checked_at, changed_at, error) "
                              "VALUES (?, ?, ?, ?, ?, ?, NULL) ON CONFLICT(user_id) DO UPDATE SET "
                              "sig = excluded.sig, quiet = excluded.quiet, rules = excluded.rules, "
                              "checked_at = excluded.checked_at, error = NULL, "
                              "changed_at = COALESCE(excluded.changed_at, quiet_users.changed_at)",
                              (r.user_id, r.sig, int(r.quiet), r.rules, now, now if r.changed else None))

        await self.db.run(lambda c: transaction(c, _do))

    async def forget_users(self, keep: Iterable[str]) -> int:
        """Drop rows of users no longer listed (deactivated, locked, deleted)."""
        keep_set = set(keep)
        rows = await self.db.fetchall("SELECT user_id FROM quiet_users")
        gone = [(r["user_id"],) for r in rows if r["user_id"] not in keep_set]
        if gone:
            await self.db.run(lambda c: transaction(
                c, lambda c2: c2.executemany("DELETE FROM quiet_users WHERE user_id = ?", gone)))
        return len(gone)

    async def any_rules(self) -> bool:
        return await self.db.fetchone("SELECT 1 FROM quiet_users WHERE rules > 0 LIMIT 1") is not None

    async def counts(self) -> dict[str, int]:
        row = await self.db.fetchone(
            "SELECT COUNT(*) AS users, COALESCE(SUM(quiet), 0) AS quiet, "
            "COALESCE(SUM(error IS NOT NULL), 0) AS errors FROM quiet_users")
        optouts = await self.db.fetchone("SELECT COUNT(*) AS n FROM quiet_optout")
        assert row is not None and optouts is not None  # aggregates always return a row
        return {"users": row["users"], "quiet": row["quiet"], "errors": row["errors"],
                "optouts": optouts["n"]}

    # -- runs -----------------------------------------------------------------------------------

    async def start_run(self, trigger: str, clock_iso: str) -> int:
        def _do(c: sqlite3.Connection) -> int:
            cur = c.execute("INSERT INTO quiet_runs (trigger, started_at, clock) VALUES (?, ?, ?)",
                            (trigger, time.time(), clock_iso))
            return int(cur.lastrowid or 0)

        return await self.db.run(_do)

    async def finish_run(self, run_id: int, **fields: Any) -> None:
        cols = ("users", "checked", "skipped", "changed", "ops", "errors", "quiet", "duration", "error_sample")
        values = [fields.get(c) for c in cols]
        await self.db.execute(
            f"UPDATE quiet_runs SET finished_at = ?, {', '.join(f'{c} = ?' for c in cols)} WHERE id = ?",
            (time.time(), *values, run_id))

    async def last_run(self) -> sqlite3.Row | None:
        return await self.db.fetchone("SELECT * FROM quiet_runs WHERE finished_at IS NOT NULL "
                                      "ORDER BY id DESC LIMIT 1")
