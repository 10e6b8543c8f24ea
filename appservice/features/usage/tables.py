"""The usage feature's tables: counts per department and day, and who-was-active bitmaps kept
under pseudonyms. Never message content, never who wrote to whom (docs/usage-reports.md).

- `usage_daily`: per day (work-calendar time zone) and department: messages, of which off
  hours, and the warnings harvested from the audit log (personal data, screenshots) and the
  quiet-hours reminders sent.
- `usage_seen`: per month, department and pseudonym (a keyed hash of a user id or a room id —
  two separate rows, so nothing links a person to a room): a bitmap of the days of the month it
  was active. Distinct active staff and rooms of any week or month come from it.
- `usage_counted`: dedupe rows — harvested warnings and reminders, and encrypted events counted
  as ciphertext (whose plaintext may come later, see `add_posts`); pruned after 35 days (the
  inbox keeps an event id 7 days).
- `usage_meta`: the pseudonym key, the watermarks in the audit log, the last weekly report.
Everything is written by the harvest (runtime.Usage.harvest), each batch in one transaction with
its watermark: exactly once, also with two harvesters (the service and `yakuba usage`).
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import NamedTuple

from appservice.core.db import Database, transaction

TABLES = """
CREATE TABLE IF NOT EXISTS usage_daily (
    day TEXT NOT NULL, department TEXT NOT NULL,
    messages INTEGER NOT NULL DEFAULT 0, off_hours INTEGER NOT NULL DEFAULT 0,
    pii INTEGER NOT NULL DEFAULT 0, screenshots INTEGER NOT NULL DEFAULT 0,
    reminders INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day, department)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS usage_seen (
    month TEXT NOT NULL, kind TEXT NOT NULL, ref TEXT NOT NULL, department TEXT NOT NULL,
    days INTEGER NOT NULL,
    PRIMARY KEY (month, kind, ref, department)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS usage_counted (key TEXT PRIMARY KEY, day TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS usage_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

# The counters of usage_daily that add up (messages and off_hours come from the pipeline).
COUNTERS = ("messages", "off_hours", "pii", "screenshots", "reminders")
USER, ROOM = "user", "room"
COUNTED_KEEP_DAYS = 35

# How a message is kept from being counted twice (Posted.dedupe).
DONE_MARK = "done"     # a plain event: the event log has one row for it, the watermark suffices
CIPHERTEXT = "cipher"  # an encrypted event taken as ciphertext: leaves a dedupe row
PLAINTEXT = "plain"    # the plaintext of an encrypted event: skipped if its ciphertext was counted


class Posted(NamedTuple):
    """A message to count: its event, day, department, whether off hours, the pseudonyms of
    its sender and its room, and how it is deduplicated (DONE_MARK, CIPHERTEXT, PLAINTEXT)."""

    event_id: str
    day: date
    department: str
    off_hours: bool
    user_ref: str
    room_ref: str
    dedupe: str = DONE_MARK


@dataclass(frozen=True)
class Hit:
    """A harvested item (a warning, a reminder): its dedupe key, day, department, counter."""

    key: str
    day: date
    department: str
    counter: str


def _add_daily(c: sqlite3.Connection, day: str, department: str, counts: dict[str, int]) -> None:
    names = [n for n in COUNTERS if counts.get(n)]
    if not names:
        return
    c.execute(f"INSERT INTO usage_daily (day, department, {', '.join(names)}) "
              f"VALUES (?, ?, {', '.join('?' for _ in names)}) ON CONFLICT (day, department) DO UPDATE SET "
              + ", ".join(f"{n} = {n} + excluded.{n}" for n in names),
              (day, department, *(counts[n] for n in names)))


def add_posts(c: sqlite3.Connection, posts: Sequence[Posted]) -> int:
    """Inside the caller's transaction: add messages to the daily counts and the activity
    bitmaps. The one event the event log has two rows for is an encrypted one taken as ciphertext
    (no plaintext within the grace period) and again when its plaintext came: the ciphertext
    leaves a dedupe row, which the plaintext removes instead of counting again. Returns how many
    were added."""
    messages: Counter[tuple[str, str]] = Counter()
    off: Counter[tuple[str, str]] = Counter()
    seen: dict[tuple[str, str, str, str], int] = {}
    for p in posts:
        day = p.day.isoformat()
        key = f"ev:{p.event_id}"
        if p.dedupe == CIPHERTEXT:
            if not c.execute("INSERT OR IGNORE INTO usage_counted (key, day) VALUES (?, ?)", (key, day)).rowcount:
                continue
        elif p.dedupe == PLAINTEXT:
            if c.execute("DELETE FROM usage_counted WHERE key = ?", (key,)).rowcount:
                continue
        elif p.dedupe != DONE_MARK:
            raise ValueError(f"unknown dedupe {p.dedupe!r}")
        messages[(day, p.department)] += 1
        off[(day, p.department)] += int(p.off_hours)
        bit = 1 << (p.day.day - 1)
        for kind, ref in ((USER, p.user_ref), (ROOM, p.room_ref)):
            k = (day[:7], kind, ref, p.department)
            seen[k] = seen.get(k, 0) | bit
    for (day, dept), n in messages.items():
        _add_daily(c, day, dept, {"messages": n, "off_hours": off[(day, dept)]})
    c.executemany("INSERT INTO usage_seen (month, kind, ref, department, days) VALUES (?, ?, ?, ?, ?) "
                  "ON CONFLICT (month, kind, ref, department) DO UPDATE SET days = days | excluded.days "
                  "WHERE (days & excluded.days) != excluded.days", [(*k, bits) for k, bits in seen.items()])
    return sum(messages.values())


def count_hit(c: sqlite3.Connection, hit: Hit) -> bool:
    """Inside the caller's transaction: count a harvested item unless its key was counted."""
    if hit.counter not in COUNTERS:
        raise ValueError(f"unknown counter {hit.counter!r}")
    day = hit.day.isoformat()
    if not c.execute("INSERT OR IGNORE INTO usage_counted (key, day) VALUES (?, ?)", (hit.key, day)).rowcount:
        return False
    _add_daily(c, day, hit.department, {hit.counter: 1})
    return True


def get_meta(c: sqlite3.Connection, key: str) -> str | None:
    row = c.execute("SELECT value FROM usage_meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def set_meta(c: sqlite3.Connection, key: str, value: str) -> None:
    c.execute("INSERT INTO usage_meta (key, value) VALUES (?, ?) "
              "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, value))


class UsageTables:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._key: bytes | None = None

    # -- pseudonyms ---------------------------------------------------------------------------

    async def pseudonym_key(self) -> bytes:
        """A random key made on first use and kept in usage_meta: pseudonyms are stable, and
        cannot be computed from a user id without the database."""
        if self._key is None:
            def _do(c: sqlite3.Connection) -> str:
                c.execute("INSERT OR IGNORE INTO usage_meta (key, value) VALUES ('pseudonym_key', ?)",
                          (secrets.token_hex(32),))
                return str(c.execute("SELECT value FROM usage_meta WHERE key = 'pseudonym_key'").fetchone()[0])

            self._key = bytes.fromhex(await self.db.run(lambda c: transaction(c, _do)))
        return self._key

    @staticmethod
    def pseudonym(key: bytes, kind: str, ident: str) -> str:
        return hashlib.blake2b(f"{kind}\x1f{ident}".encode(), key=key, digest_size=12).hexdigest()

    # -- counting -----------------------------------------------------------------------------

    async def get_meta(self, key: str) -> str | None:
        return await self.db.run(lambda c: get_meta(c, key))

    async def set_meta(self, key: str, value: str) -> None:
        await self.db.run(lambda c: set_meta(c, key, value))

    # -- reading ------------------------------------------------------------------------------

    async def daily(self, start: date, end: date) -> list[tuple[str, str, dict[str, int]]]:
        """(day, department, counters) for start..end inclusive."""
        rows = await self.db.fetchall(
            f"SELECT day, department, {', '.join(COUNTERS)} FROM usage_daily WHERE day BETWEEN ? AND ?",
            (start.isoformat(), end.isoformat()))
        return [(r["day"], r["department"], {n: int(r[n]) for n in COUNTERS}) for r in rows]

    async def seen(self, start: date, end: date) -> list[tuple[str, str, str]]:
        """(kind, pseudonym, department) of everything active on a day of start..end."""
        months: dict[str, int] = {}
        d = start
        while d <= end:
            months[d.isoformat()[:7]] = months.get(d.isoformat()[:7], 0) | (1 << (d.day - 1))
            d = date.fromordinal(d.toordinal() + 1)
        if not months:
            return []
        where = " OR ".join("(month = ? AND (days & ?) != 0)" for _ in months)
        params = tuple(x for m, mask in months.items() for x in (m, mask))
        rows = await self.db.fetchall(f"SELECT kind, ref, department FROM usage_seen WHERE {where}", params)
        return [(r["kind"], r["ref"], r["department"]) for r in rows]

    # -- keeping it bounded -------------------------------------------------------------------

    async def prune(self, today: date, keep_days: int) -> dict[str, int]:
        cut = date.fromordinal(today.toordinal() - keep_days).isoformat()
        counted_cut = date.fromordinal(today.toordinal() - COUNTED_KEEP_DAYS).isoformat()

        def _do(c: sqlite3.Connection) -> dict[str, int]:
            return {
                "daily": c.execute("DELETE FROM usage_daily WHERE day < ?", (cut,)).rowcount,
                # A month is kept while any of its days is.
                "seen": c.execute("DELETE FROM usage_seen WHERE month < ?", (cut[:7],)).rowcount,
                "counted": c.execute("DELETE FROM usage_counted WHERE day < ?", (counted_cut,)).rowcount,
            }

        return await self.db.run(lambda c: transaction(c, _do))
