"""Offboarding's tables: plans waiting for confirmation, jobs (one per leaver), CSV uploads.

A *plan* is what a dry run showed: its entries (one per user or CSV line) and a short code.
Confirming a plan turns its entries into *jobs*, each due at its leaving time. A job is claimed
with a lease before it runs, so the service's scheduler and a `yakuba offboard` CLI process can
work on the same database without running a job twice; a lease that runs out (the process
died) makes the job claimable again. Every step of a job is idempotent, so re-running one is
safe. A batch is the jobs of one plan with the same due time: it gets one start message,
progress messages and one final report.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from appservice.core.db import Database, transaction

# This module's tables; run (idempotently) when the database opens.
TABLES = """
CREATE TABLE IF NOT EXISTS offboarding_plans (
    code TEXT PRIMARY KEY, kind TEXT NOT NULL, requester TEXT NOT NULL, room_id TEXT,
    command_event_id TEXT, message_event_id TEXT, created_at REAL NOT NULL, expires_at REAL NOT NULL,
    status TEXT NOT NULL, confirmed_by TEXT, confirmed_at REAL, erase INTEGER NOT NULL DEFAULT 0,
    entries TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS offboarding_plans_message ON offboarding_plans (message_event_id);
CREATE TABLE IF NOT EXISTS offboarding_jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, code TEXT NOT NULL, user_id TEXT NOT NULL,
    successor TEXT, erase INTEGER NOT NULL DEFAULT 0, due_at REAL NOT NULL, status TEXT NOT NULL,
    requested_by TEXT, approved_by TEXT, room_id TEXT, lease_until REAL, runner TEXT,
    attempts INTEGER NOT NULL DEFAULT 0, started_at REAL, finished_at REAL, result TEXT,
    detail TEXT NOT NULL DEFAULT '{}', UNIQUE (code, user_id));
CREATE INDEX IF NOT EXISTS offboarding_jobs_due ON offboarding_jobs (status, due_at);
CREATE INDEX IF NOT EXISTS offboarding_jobs_user ON offboarding_jobs (user_id);
CREATE TABLE IF NOT EXISTS offboarding_uploads (
    event_id TEXT PRIMARY KEY, room_id TEXT NOT NULL, sender TEXT NOT NULL,
    received_at REAL NOT NULL, origin_ts INTEGER, content TEXT NOT NULL);
"""

ACTIVE = ("scheduled", "running")
FINAL = ("done", "skipped", "failed", "cancelled")
LEASE_SECONDS = 600.0
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(6))


@dataclass(frozen=True)
class PlanRow:
    code: str
    kind: str
    requester: str
    room_id: str | None
    command_event_id: str | None
    message_event_id: str | None
    created_at: float
    expires_at: float
    status: str
    confirmed_by: str | None
    erase: bool
    entries: list[dict[str, Any]]


@dataclass(frozen=True)
class JobRow:
    id: int
    code: str
    user_id: str
    successor: str | None
    erase: bool
    due_at: float
    status: str
    requested_by: str | None
    approved_by: str | None
    room_id: str | None
    attempts: int
    result: str | None
    detail: dict[str, Any]


def _plan(r: sqlite3.Row) -> PlanRow:
    return PlanRow(r["code"], r["kind"], r["requester"], r["room_id"], r["command_event_id"],
                   r["message_event_id"], r["created_at"], r["expires_at"], r["status"],
                   r["confirmed_by"], bool(r["erase"]), json.loads(r["entries"]))


def _job(r: sqlite3.Row) -> JobRow:
    return JobRow(r["id"], r["code"], r["user_id"], r["successor"], bool(r["erase"]), r["due_at"],
                  r["status"], r["requested_by"], r["approved_by"], r["room_id"], r["attempts"],
                  r["result"], json.loads(r["detail"] or "{}"))


class JobStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- plans -------------------------------------------------------------------------------

    async def add_plan(self, *, kind: str, requester: str, room_id: str | None,
                       command_event_id: str | None, ttl_s: float, erase: bool,
                       entries: list[dict[str, Any]]) -> str:
        now = time.time()
        blob = json.dumps(entries, ensure_ascii=False)

        def _do(c: sqlite3.Connection) -> str:
            while True:
                code = new_code()
                if not c.execute("SELECT 1 FROM offboarding_plans WHERE code = ?", (code,)).fetchone():
                    break
            c.execute("INSERT INTO offboarding_plans (code, kind, requester, room_id, command_event_id, "
                      "created_at, expires_at, status, erase, entries) VALUES (?, ?, ?, ?, ?, ?, ?, "
                      "'pending', ?, ?)",
                      (code, kind, requester, room_id, command_event_id, now, now + ttl_s, int(erase), blob))
            return code

        return await self.db.run(lambda c: transaction(c, _do))

    async def set_plan_message(self, code: str, event_id: str) -> None:
        await self.db.execute("UPDATE offboarding_plans SET message_event_id = ? WHERE code = ?",
                              (event_id, code))

    async def plan(self, code: str) -> PlanRow | None:
        r = await self.db.fetchone("SELECT * FROM offboarding_plans WHERE code = ?", (code.upper(),))
        return _plan(r) if r else None

    async def confirm_plan(self, code: str, confirmer: str, jobs: list[dict[str, Any]]) -> bool:
        """pending → confirmed and its jobs inserted, in one transaction. False if it was not
        pending any more (a concurrent confirmation won)."""
        now = time.time()

        def _do(c: sqlite3.Connection) -> bool:
            if not c.execute("UPDATE offboarding_plans SET status = 'confirmed', confirmed_by = ?, "
                             "confirmed_at = ? WHERE code = ? AND status = 'pending'",
                             (confirmer, now, code)).rowcount:
                return False
            for j in jobs:
                c.execute(
                    "INSERT OR IGNORE INTO offboarding_jobs (code, user_id, successor, erase, due_at, "
                    "status, requested_by, approved_by, room_id, result, detail, finished_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (code, j["user_id"], j.get("successor"), int(bool(j.get("erase"))), j["due_at"],
                     j["status"], j.get("requested_by"), confirmer, j.get("room_id"), j.get("result"),
                     json.dumps(j.get("detail") or {}, ensure_ascii=False),
                     now if j["status"] in FINAL else None))
            return True

        return await self.db.run(lambda c: transaction(c, _do))

    async def cancel(self, code: str) -> tuple[bool, int]:
        """Cancel a pending plan and/or the scheduled (not yet started) jobs of a plan."""
        now = time.time()

        def _do(c: sqlite3.Connection) -> tuple[bool, int]:
            plan = c.execute("UPDATE offboarding_plans SET status = 'cancelled' WHERE code = ? AND "
                             "status = 'pending'", (code,)).rowcount > 0
            jobs = c.execute("UPDATE offboarding_jobs SET status = 'cancelled', finished_at = ?, "
                             "result = 'offboarding.result.cancelled' WHERE code = ? AND status = 'scheduled'",
                             (now, code)).rowcount
            return plan, jobs

        return await self.db.run(lambda c: transaction(c, _do))

    async def cancel_requested_by(self, user_id: str) -> int:
        """A removed admin's pending plans and scheduled (not yet started) jobs are cancelled."""
        now = time.time()

        def _do(c: sqlite3.Connection) -> int:
            plans = c.execute("UPDATE offboarding_plans SET status = 'cancelled' WHERE requester = ? AND "
                              "status = 'pending'", (user_id,)).rowcount
            jobs = c.execute("UPDATE offboarding_jobs SET status = 'cancelled', finished_at = ?, "
                             "result = 'offboarding.result.cancelled' WHERE requested_by = ? AND "
                             "status = 'scheduled'", (now, user_id)).rowcount
            return int(plans) + int(jobs)

        return await self.db.run(lambda c: transaction(c, _do))

    async def pending_plans(self, now: float) -> list[PlanRow]:
        rows = await self.db.fetchall("SELECT * FROM offboarding_plans WHERE status = 'pending' AND "
                                      "expires_at > ? ORDER BY created_at", (now,))
        return [_plan(r) for r in rows]

    # -- jobs --------------------------------------------------------------------------------

    async def active_job_for(self, user_id: str) -> JobRow | None:
        r = await self.db.fetchone("SELECT * FROM offboarding_jobs WHERE user_id = ? AND status IN "
                                   "('scheduled', 'running') ORDER BY due_at LIMIT 1", (user_id,))
        return _job(r) if r else None

    async def leaving_users(self) -> set[str]:
        """Everyone with an offboarding job that is scheduled, running or done: they do not
        count as "another admin" of a room."""
        rows = await self.db.fetchall("SELECT DISTINCT user_id FROM offboarding_jobs WHERE status IN "
                                      "('scheduled', 'running', 'done')")
        return {r["user_id"] for r in rows}

    async def scheduled(self, limit: int = 50) -> list[JobRow]:
        rows = await self.db.fetchall("SELECT * FROM offboarding_jobs WHERE status IN ('scheduled', "
                                      "'running') ORDER BY due_at, id LIMIT ?", (limit,))
        return [_job(r) for r in rows]

    async def claim(self, now_ts: float, runner: str, *, code: str | None = None) -> JobRow | None:
        """Take one due job (scheduled, or running with an expired lease) for `runner`."""
        wall = time.time()

        def _do(c: sqlite3.Connection) -> JobRow | None:
            r = c.execute(
                "SELECT * FROM offboarding_jobs WHERE due_at <= ? AND (? IS NULL OR code = ?) AND "
                "(status = 'scheduled' OR (status = 'running' AND lease_until < ?)) "
                "ORDER BY due_at, id LIMIT 1", (now_ts, code, code, wall)).fetchone()
            if r is None:
                return None
            c.execute("UPDATE offboarding_jobs SET status = 'running', runner = ?, lease_until = ?, "
                      "attempts = attempts + 1, started_at = COALESCE(started_at, ?) WHERE id = ?",
                      (runner, wall + LEASE_SECONDS, wall, r["id"]))
            row = c.execute("SELECT * FROM offboarding_jobs WHERE id = ?", (r["id"],)).fetchone()
            return _job(row)

        return await self.db.run(lambda c: transaction(c, _do))

    async def finish(self, job_id: int, status: str, result: str, detail: dict[str, Any]) -> None:
        await self.db.execute(
            "UPDATE offboarding_jobs SET status = ?, result = ?, detail = ?, finished_at = ?, "
            "lease_until = NULL WHERE id = ?",
            (status, result, json.dumps(detail, ensure_ascii=False, default=str), time.time(), job_id))

    async def release_runner(self, runner: str) -> int:
        """Jobs a previous process of this runner left running (it crashed): run them again."""
        return await self.db.execute("UPDATE offboarding_jobs SET status = 'scheduled', lease_until = NULL "
                                     "WHERE status = 'running' AND runner = ?", (runner,))

    async def batch(self, code: str, due_at: float) -> list[JobRow]:
        rows = await self.db.fetchall("SELECT * FROM offboarding_jobs WHERE code = ? AND due_at = ? "
                                      "ORDER BY id", (code, due_at))
        return [_job(r) for r in rows]

    async def batch_counts(self, code: str, due_at: float) -> tuple[int, int]:
        """(finished, total) jobs of a batch."""
        r = await self.db.fetchone(
            "SELECT SUM(status IN ('done', 'skipped', 'failed', 'cancelled')) AS f, COUNT(*) AS n "
            "FROM offboarding_jobs WHERE code = ? AND due_at = ?", (code, due_at))
        return (int(r["f"] or 0), int(r["n"] or 0)) if r else (0, 0)

    async def batch_all(self, code: str) -> list[JobRow]:
        rows = await self.db.fetchall("SELECT * FROM offboarding_jobs WHERE code = ? ORDER BY due_at, id", (code,))
        return [_job(r) for r in rows]

    # -- uploads -----------------------------------------------------------------------------

    async def add_upload(self, event_id: str, room_id: str, sender: str, origin_ts: int | None,
                         content: dict[str, Any]) -> None:
        await self.db.execute(
            "INSERT OR IGNORE INTO offboarding_uploads (event_id, room_id, sender, received_at, origin_ts, "
            "content) VALUES (?, ?, ?, ?, ?, ?)",
            (event_id, room_id, sender, time.time(), origin_ts, json.dumps(content, ensure_ascii=False)))

    async def latest_upload(self, sender: str, room_id: str, since: float) -> tuple[str, int | None,
                                                                                     dict[str, Any]] | None:
        r = await self.db.fetchone(
            "SELECT event_id, origin_ts, content FROM offboarding_uploads WHERE sender = ? AND room_id = ? "
            "AND received_at >= ? ORDER BY received_at DESC LIMIT 1", (sender, room_id, since))
        return (r["event_id"], r["origin_ts"], json.loads(r["content"])) if r else None
