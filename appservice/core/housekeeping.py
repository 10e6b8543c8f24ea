"""Bounded growth of Yakuba's database: what is deleted, after how long (docs/data-kept.md).

`run_once` is one pass, run by the housekeeping feature's background task:
1. strip the processed inbox rows whose content nothing holds any more (`Inbox.strip_released`);
2. delete, in one transaction, what is older than its limit:
   - processed inbox rows (`inbox_days`, default 7: long enough that Synapse's retries and a
     bot's late plaintext copy are still recognised by event id), the transactions' ids, the
     rejected-event rows (shapes only, never content), and undecryptable notes;
   - audit rows (`audit_days`, default 400: over a year, as records rules expect; 0 = forever);
   - once keys (`once_keys_days`, default 30). Most are tied to one event id and guard its
     replay, so they must outlive the inbox row: `once_keys_days ≥ inbox_days`. Keys with a
     prefix in `once_keys_keep_prefixes` mark something once per *period* or per *job*
     (`quiet:` — the quiet-hours reminder once per off-duty period; `offboard_` — a scheduled
     job's start/progress/report) and are kept `once_keys_keep_days` (default 400; 0 = forever);
   - ✅ offers (`offers_days`, default 90): a ✅ on an older offer does nothing;
3. return the freed pages (new databases: incremental auto-vacuum) and empty the WAL.
An event still waiting to be processed is never deleted, however old.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass

from appservice.core.db import Database, transaction
from appservice.core.inbox import Inbox

DAY_S = 86400.0


@dataclass(frozen=True)
class Limits:
    inbox_days: float = 7
    audit_days: float = 400          # 0: audit rows are kept forever
    once_keys_days: float = 30
    once_keys_keep_prefixes: tuple[str, ...] = ("quiet:", "offboard_")
    once_keys_keep_days: float = 400  # 0: those keys are kept forever
    offers_days: float = 90


def prune(c: sqlite3.Connection, limits: Limits, now: float) -> dict[str, int]:
    """Delete what is older than its limit (inside the caller's transaction)."""
    inbox_cut = now - limits.inbox_days * DAY_S
    out = {
        "inbox": c.execute("DELETE FROM inbox WHERE status = 'done' AND received_at < ?",
                           (inbox_cut,)).rowcount,
        "inbox_txns": c.execute("DELETE FROM inbox_txns WHERE received_at < ?", (inbox_cut,)).rowcount,
        "inbox_rejected": c.execute("DELETE FROM inbox_rejected WHERE received_at < ?",
                                    (inbox_cut,)).rowcount,
        "undecryptable": c.execute("DELETE FROM undecryptable WHERE first_seen < ?", (inbox_cut,)).rowcount,
        "audit": 0,
        "offers": c.execute("DELETE FROM offers WHERE created_at < ?",
                            (now - limits.offers_days * DAY_S,)).rowcount,
    }
    if limits.audit_days > 0:
        out["audit"] = c.execute("DELETE FROM audit WHERE ts < ?", (now - limits.audit_days * DAY_S,)).rowcount
    prefixes = limits.once_keys_keep_prefixes
    kept = " OR ".join("substr(key, 1, ?) = ?" for _ in prefixes) or "0"
    params: list[object] = [x for p in prefixes for x in (len(p), p)]
    n = c.execute(f"DELETE FROM once_keys WHERE done_at < ? AND NOT ({kept})",
                  (now - limits.once_keys_days * DAY_S, *params)).rowcount
    if prefixes and limits.once_keys_keep_days > 0:
        n += c.execute(f"DELETE FROM once_keys WHERE done_at < ? AND ({kept})",
                       (now - limits.once_keys_keep_days * DAY_S, *params)).rowcount
    out["once_keys"] = n
    return out


async def run_once(db: Database, inbox: Inbox, limits: Limits, *, now: float | None = None) -> dict[str, int]:
    """One housekeeping pass; returns how many rows each step stripped or deleted."""
    stripped = await inbox.strip_released()
    at = time.time() if now is None else now
    counts = await db.run(lambda c: transaction(c, lambda c: prune(c, limits, at)))
    counts["stripped"] = stripped
    # executescript steps the pragma to the end (execute() would free one page only).
    await db.run(lambda c: c.executescript("PRAGMA incremental_vacuum;"))
    counts["checkpointed"] = int(await db.checkpoint())
    return counts
