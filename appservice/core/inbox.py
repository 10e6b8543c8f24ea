"""The durable inbox: every event is on disk before Synapse gets its 200.

Rows are keyed by event id, so the same event delivered twice (a retried transaction, or the
ciphertext from Synapse and the plaintext from a bot) is one row and is processed once.
Encrypted events in rooms where a Yakuba bot is joined wait ("awaiting_plaintext") for the
bot's decrypted copy; after a grace period they are processed as ciphertext so that
metadata-only rules still run, and a late plaintext copy upgrades them.
State the routing needs (room encryption, names, the bots' memberships) is learned here, in
the same SQLite transaction as the events themselves.

Content leaves the inbox once the event is processed (docs/data-kept.md): `mark_done` replaces
the stored JSON with a skeleton — ids, type, sender, timestamp, state key, a membership — which
is all that dedupe, ordering and the routing need. Two kinds of row keep their content a while:
ciphertext processed before its plaintext came (a late room key may still decrypt it; the row
is upgraded in place), and events a feature's `content_holds` table still names (the archive's
retries re-read them); `strip_released` (the housekeeping pass) strips those once released.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from appservice.core.db import Database, transaction
from appservice.core.decisions import Audit
from appservice.core.events import MAX_EVENT_BYTES, Event, MalformedEvent, parse_event
from appservice.core.forged import audit_details, from_decrypted, is_incident
from appservice.core.state import write_audit

# This module's tables; run (idempotently) when the database opens.
TABLES = """
CREATE TABLE IF NOT EXISTS inbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    room_id TEXT NOT NULL,
    type TEXT NOT NULL,
    status TEXT NOT NULL,          -- pending | awaiting_plaintext | done
    decrypted INTEGER NOT NULL DEFAULT 0,
    source TEXT NOT NULL,          -- txn | bot
    json TEXT NOT NULL,
    received_at REAL NOT NULL,
    processed_at REAL,
    times_processed INTEGER NOT NULL DEFAULT 0,
    error TEXT);
CREATE INDEX IF NOT EXISTS inbox_status ON inbox (status, seq);
CREATE TABLE IF NOT EXISTS inbox_txns (
    txn_id TEXT PRIMARY KEY, received_at REAL NOT NULL, events INTEGER NOT NULL, new INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS inbox_rejected (
    id INTEGER PRIMARY KEY AUTOINCREMENT, txn_id TEXT, reason TEXT NOT NULL,
    received_at REAL NOT NULL, excerpt TEXT);
CREATE TABLE IF NOT EXISTS undecryptable (
    event_id TEXT PRIMARY KEY, room_id TEXT NOT NULL, session_id TEXT, sender TEXT,
    first_seen REAL NOT NULL, resolved_at REAL);
"""


# Top-level keys a processed event keeps, and the marker of a stripped row.
SKELETON_KEYS = ("event_id", "room_id", "type", "sender", "origin_server_ts", "state_key", "redacts")
STRIPPED = "jp.yakuba.stripped"


def skeleton(raw: dict[str, Any]) -> dict[str, Any]:
    """What is left of a processed event: no content, except an m.room.member's membership.
    `content` stays as an empty object, so anything that re-reads the row still parses it."""
    out = {k: raw[k] for k in SKELETON_KEYS if k in raw}
    content = raw.get("content")
    membership = content.get("membership") if isinstance(content, dict) else None
    out["content"] = ({"membership": membership}
                      if raw.get("type") == "m.room.member" and isinstance(membership, str) else {})
    out[STRIPPED] = True
    return out


@dataclass(frozen=True)
class TxnResult:
    new: int
    duplicate: int
    rejected: int


@dataclass(frozen=True)
class InboxItem:
    seq: int
    event: Event
    times_processed: int
    priority: bool = False  # the priority lane (see Inbox.next_batch)


# The priority lane: pending events that are taken before the rest. In the admin room (kv
# 'admin_room'), ✅ reactions (confirmations), and messages whose stored JSON holds "!yakuba"
# (commands, anywhere). Everything else keeps arrival order.
COMMAND_MARK = "!yakuba"
_PRIORITY_SQL = ("(room_id = (SELECT value FROM kv WHERE key = 'admin_room') "
                 "OR type = 'm.reaction' OR instr(json, ?) > 0)")


def _learn_state(c: sqlite3.Connection, ev: Event, bot_ids: tuple[str, ...]) -> None:
    """Keep the routing facts current: encryption, room names, the bots' memberships."""
    if ev.state_key is None:
        return
    if ev.type == "m.room.encryption":
        c.execute("INSERT INTO rooms (room_id, encrypted) VALUES (?, 1) "
                  "ON CONFLICT(room_id) DO UPDATE SET encrypted = 1", (ev.room_id,))
    elif ev.type == "m.room.name" and isinstance(ev.content.get("name"), str):
        c.execute("INSERT INTO rooms (room_id, name) VALUES (?, ?) "
                  "ON CONFLICT(room_id) DO UPDATE SET name = excluded.name",
                  (ev.room_id, ev.content["name"]))
    elif ev.type == "m.room.member" and ev.state_key in bot_ids:
        membership = ev.content.get("membership")
        if isinstance(membership, str):
            c.execute("INSERT INTO bot_memberships (room_id, user_id, membership) VALUES (?, ?, ?) "
                      "ON CONFLICT(room_id, user_id) DO UPDATE SET membership = excluded.membership",
                      (ev.room_id, ev.state_key, membership))


class Inbox:
    _holds_present: tuple[str, ...] | None = None

    def __init__(self, db: Database, bot_ids: tuple[str, ...], content_holds: Sequence[str] = ()) -> None:
        """content_holds: tables (the features' `Feature.content_holds`) whose rows name an event
        (column event_id) that will be read again from the inbox — while such a row exists, the
        event keeps its content. A table the database does not have is skipped."""
        self.db = db
        self.bot_ids = bot_ids
        self.content_holds = tuple(content_holds)
        self.changed = asyncio.Event()
        # Set when a row that belongs in the priority lane may have become pending (an insert,
        # a plaintext upgrade, a release); the pipeline's drain re-queries when it sees it.
        self.priority_waiting = True

    async def put_transaction(self, txn_id: str, raw_events: list[Any]) -> TxnResult:
        """Store a transaction's events durably (one fsync'd SQLite transaction)."""
        now = time.time()

        prio = False

        def _store(c: sqlite3.Connection) -> TxnResult:
            nonlocal prio
            new = dup = rejected = 0
            for raw in raw_events:
                try:
                    blob = to_json(raw)
                    if len(blob) > MAX_EVENT_BYTES:
                        raise MalformedEvent(f"event larger than {MAX_EVENT_BYTES} bytes")
                    ev = parse_event(raw)
                    _require_utf8(ev)
                except (MalformedEvent, TypeError, ValueError, RecursionError) as exc:
                    rejected += 1
                    c.execute("INSERT INTO inbox_rejected (txn_id, reason, received_at, excerpt) "
                              "VALUES (?, ?, ?, ?)", (txn_id, _safe(str(exc))[:200], now, _excerpt(raw)))
                    continue
                _learn_state(c, ev, self.bot_ids)
                status = "pending"
                if ev.type == "m.room.encrypted" and c.execute(
                        "SELECT 1 FROM bot_memberships WHERE room_id = ? AND membership = 'join'",
                        (ev.room_id,)).fetchone():
                    status = "awaiting_plaintext"
                cur = c.execute(
                    "INSERT OR IGNORE INTO inbox (event_id, room_id, type, status, decrypted, source, "
                    "json, received_at) VALUES (?, ?, ?, ?, 0, 'txn', ?, ?)",
                    (ev.event_id, ev.room_id, ev.type, status, blob, now))
                if cur.rowcount:
                    new += 1
                    if status == "pending" and _is_priority(c, ev, blob):
                        prio = True
                else:
                    dup += 1
            c.execute("INSERT OR IGNORE INTO inbox_txns (txn_id, received_at, events, new) "
                      "VALUES (?, ?, ?, ?)", (txn_id, now, len(raw_events), new))
            return TxnResult(new, dup, rejected)

        result = await self.db.run(lambda c: transaction(c, _store), durable=True)
        if result.new:
            if prio:
                self.priority_waiting = True
            self.changed.set()
        return result

    async def put_decrypted(self, raw: dict[str, Any]) -> bool:
        """The plaintext copy of an encrypted event, from a bot. True if it will be processed.
        A plaintext is message content only (core/forged.py): state, redactions and other types
        claimed inside encryption are stored as a `jp.yakuba.forged` incident and audited, and
        no routing state is ever learned from a plaintext (state is never encrypted)."""
        raw = _only_message(raw)
        ev = parse_event(raw, decrypted=True)
        blob = to_json(raw)
        now = time.time()
        prio = False

        def _store(c: sqlite3.Connection) -> bool:
            nonlocal prio
            queued = _store_row(c)
            prio = queued and _is_priority(c, ev, blob)
            if queued and is_incident(raw):
                write_audit(c, Audit(action="forged_event", actor=ev.sender, room_id=ev.room_id,
                                     event_id=ev.event_id, result="refused",
                                     details=audit_details(ev.content)))
            return queued

        def _store_row(c: sqlite3.Connection) -> bool:
            c.execute("UPDATE undecryptable SET resolved_at = ? WHERE event_id = ? AND resolved_at IS NULL",
                      (now, ev.event_id))
            row = c.execute("SELECT status, decrypted FROM inbox WHERE event_id = ?",
                            (ev.event_id,)).fetchone()
            if row is None:
                c.execute("INSERT INTO inbox (event_id, room_id, type, status, decrypted, source, json, "
                          "received_at) VALUES (?, ?, ?, 'pending', 1, 'bot', ?, ?)",
                          (ev.event_id, ev.room_id, ev.type, blob, now))
                return True
            if row["decrypted"]:
                return False  # we hold the plaintext already
            # Ciphertext waiting (or processed as ciphertext after the grace period): upgrade.
            c.execute("UPDATE inbox SET json = ?, decrypted = 1, type = ?, status = 'pending', "
                      "source = 'bot' WHERE event_id = ?", (blob, ev.type, ev.event_id))
            return True

        queued = await self.db.run(lambda c: transaction(c, _store), durable=True)
        if queued:
            if prio:  # e.g. a command in the (encrypted) admin room
                self.priority_waiting = True
            self.changed.set()
        return queued

    async def note_undecryptable(self, event_id: str, room_id: str, session_id: str | None,
                                 sender: str | None) -> None:
        await self.db.execute(
            "INSERT OR IGNORE INTO undecryptable (event_id, room_id, session_id, sender, first_seen) "
            "VALUES (?, ?, ?, ?, ?)", (event_id, room_id, session_id, sender, time.time()))

    async def release_waiting(self, older_than_s: float) -> int:
        """Encrypted events nobody decrypted in time are processed as ciphertext (metadata rules)."""
        n = await self.db.execute(
            "UPDATE inbox SET status = 'pending' WHERE status = 'awaiting_plaintext' AND received_at < ?",
            (time.time() - older_than_s,))
        if n:
            self.priority_waiting = True
            self.changed.set()
        return n

    async def next_batch(self, limit: int = 100, *, priority: bool = True) -> list[InboxItem]:
        """Pending events: those of the priority lane first (admin room, ✅ reactions, "!yakuba"
        messages), then the rest; arrival order within each. priority=False: arrival order only.
        Clears `priority_waiting` (the caller holds every priority row pending now, up to limit)."""
        self.priority_waiting = False
        if priority:
            rows = await self.db.fetchall(
                f"SELECT seq, json, decrypted, times_processed, {_PRIORITY_SQL} AS prio FROM inbox "
                "WHERE status = 'pending' ORDER BY prio DESC, seq LIMIT ?", (COMMAND_MARK, limit))
        else:
            rows = await self.db.fetchall(
                "SELECT seq, json, decrypted, times_processed, 0 AS prio FROM inbox "
                "WHERE status = 'pending' ORDER BY seq LIMIT ?", (limit,))
        items = []
        for r in rows:
            items.append(InboxItem(r["seq"], parse_event(json.loads(r["json"]),
                                                         decrypted=bool(r["decrypted"])),
                                   r["times_processed"], bool(r["prio"])))
        return items

    async def mark_done(self, seq: int, error: str | None = None, audits: Sequence[Audit] = ()) -> None:
        """Done, together with the event's audit rows, in one commit: after a crash either both
        are there or neither (and the event is processed again)."""
        def _do(c: sqlite3.Connection) -> None:
            for row in audits:
                write_audit(c, row)
            c.execute("UPDATE inbox SET status = 'done', processed_at = ?, error = ?, "
                      "times_processed = times_processed + 1 WHERE seq = ?", (time.time(), error, seq))
            row = c.execute("SELECT seq, event_id, type, decrypted, json FROM inbox WHERE seq = ?",
                            (seq,)).fetchone()
            if row is not None:
                self._strip(c, row)

        await self.db.run(lambda c: transaction(c, _do))

    async def strip_released(self) -> int:
        """Strip the processed rows whose content nothing holds any more (a retry finished, or
        rows from before stripping existed). Returns how many rows were stripped."""
        def _do(c: sqlite3.Connection) -> int:
            rows = c.execute("SELECT seq, event_id, type, decrypted, json FROM inbox "
                             "WHERE status = 'done' AND instr(json, ?) = 0", (f'"{STRIPPED}"',)).fetchall()
            return sum(self._strip(c, r) for r in rows)

        return await self.db.run(lambda c: transaction(c, _do))

    def _strip(self, c: sqlite3.Connection, row: sqlite3.Row) -> bool:
        """Replace a done row's JSON with its skeleton, unless its content is still needed."""
        if row["type"] == "m.room.encrypted" and not row["decrypted"]:
            return False  # ciphertext: a late key may still decrypt it (bots/runtime.py)
        if self._holds_present is None:
            have = {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            self._holds_present = tuple(t for t in self.content_holds if t in have)
        for table in self._holds_present:
            if c.execute(f"SELECT 1 FROM {table} WHERE event_id = ?", (row["event_id"],)).fetchone():
                return False
        try:
            raw = json.loads(row["json"])
        except ValueError:
            raw = {}
        if not isinstance(raw, dict) or raw.get(STRIPPED):
            return False
        c.execute("UPDATE inbox SET json = ? WHERE seq = ?", (to_json(skeleton(raw)), row["seq"]))
        return True

    async def counts(self) -> dict[str, int]:
        rows = await self.db.fetchall("SELECT status, COUNT(*) AS n FROM inbox GROUP BY status")
        out = {r["status"]: r["n"] for r in rows}
        row = await self.db.fetchone(
            "SELECT COUNT(*) AS n FROM undecryptable WHERE resolved_at IS NULL")
        out["undecryptable"] = row["n"] if row else 0
        row = await self.db.fetchone("SELECT COUNT(*) AS n FROM inbox_rejected")
        out["rejected"] = row["n"] if row else 0
        return out


def _is_priority(c: sqlite3.Connection, ev: Event, blob: str) -> bool:
    """Whether a new pending row belongs in the priority lane (the same test as _PRIORITY_SQL)."""
    if ev.type == "m.reaction" or COMMAND_MARK in blob:
        return True
    row = c.execute("SELECT value FROM kv WHERE key = 'admin_room'").fetchone()
    return row is not None and row[0] == ev.room_id


def _only_message(raw: dict[str, Any]) -> dict[str, Any]:
    """A bot's decrypted event as the inbox accepts it: the bot already built it with
    `forged.from_decrypted`; applied again here (idempotent) so no caller can slip state,
    a redaction or another type in through a plaintext."""
    if not isinstance(raw, dict) or is_incident(raw):
        return raw
    return from_decrypted(raw, raw)


def to_json(raw: Any) -> str:
    """Compact JSON that SQLite can store: Japanese stays readable, but a lone surrogate
    (legal in JSON, not in UTF-8) falls back to \\u escapes, which decode to the same value."""
    blob = json.dumps(raw, ensure_ascii=False)
    try:
        blob.encode("utf-8")
    except UnicodeEncodeError:
        blob = json.dumps(raw)
    return blob


def _require_utf8(ev: Event) -> None:
    """Ids and the type are stored as columns: a lone surrogate (legal in JSON, not in UTF-8)
    there would fail the whole transaction, and Synapse would retry it forever."""
    for name in ("event_id", "room_id", "type", "sender", "state_key"):
        value = getattr(ev, name)
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise MalformedEvent(f"{name} is not valid UTF-8") from None


def _safe(text: str) -> str:
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _excerpt(raw: Any) -> str:
    """Enough to debug the shape of a bad event, never its content."""
    if isinstance(raw, dict):
        return json.dumps({_safe(str(k))[:40]: type(v).__name__ for k, v in list(raw.items())[:20]})
    return type(raw).__name__
