"""What Yakuba has seen of each remote server: when its last event arrived, and how many.

A pure policy notes every event whose sender is on another homeserver; the effect handler
keeps one row per server. The time is Yakuba's own clock when the event was processed — a
remote server's origin_server_ts is a claim. An event from a server that is not a partner is
also told to the admins, once per server: Synapse's allow-list and `federation.partners`
disagree, or Synapse federates with everyone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from appservice.core.config import server_of
from appservice.core.db import Database
from appservice.core.decisions import AdminNotice, Audit, Decision, Effect, Message
from appservice.core.events import Event
from appservice.core.policy import PolicyContext
from appservice.core.services import Services

log = structlog.get_logger(__name__)

SEEN = "federation.seen"

TABLES = """
CREATE TABLE IF NOT EXISTS federation_seen (
    server TEXT PRIMARY KEY, last_seen TEXT NOT NULL, last_room TEXT NOT NULL,
    events INTEGER NOT NULL DEFAULT 0);
"""


class RemoteSeenPolicy:
    name = "federation_seen"

    async def evaluate(self, event: Event, ctx: PolicyContext) -> Sequence[Decision]:
        sender = event.sender
        if ctx.is_local(sender) or not sender.startswith("@"):
            return []
        server = server_of(sender)
        decisions: list[Decision] = [Effect(kind=SEEN, payload={"server": server})]
        if ctx.config.federation.partner(server) is None:
            decisions += [
                AdminNotice(message=Message("federation.unlisted_server", {"server": server[:255]}),
                            once_key=f"federation.unlisted:{server}"),
                Audit(action="federation_unlisted_server", actor=sender, room_id=event.room_id,
                      event_id=event.event_id, result="noticed", details={"server": server[:255]},
                      once_key=f"federation.unlisted.audit:{server}"),
            ]
        return decisions


@dataclass(frozen=True)
class Seen:
    server: str
    last_seen: str
    last_room: str
    events: int


class SeenTable:
    """Notes are kept in memory and written every few seconds, not per event: "last heard from"
    is an observation, and a database round trip per remote event was a quarter of Yakuba's
    own time per event under load (bench/bench_federation.py). A crash loses at most
    FLUSH_S seconds of it; the events themselves are unaffected."""

    FLUSH_S = 5.0

    def __init__(self, db: Database) -> None:
        self.db = db
        self.pending: dict[str, tuple[str, str, int]] = {}   # server → (last_seen, room, count)

    async def note(self, server: str, room_id: str, at: str) -> None:
        _, _, count = self.pending.get(server, ("", "", 0))
        self.pending[server[:255]] = (at, room_id, count + 1)

    async def flush(self) -> None:
        batch, self.pending = self.pending, {}
        for server, (at, room_id, count) in batch.items():
            await self.db.execute(
                "INSERT INTO federation_seen (server, last_seen, last_room, events) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(server) DO UPDATE SET last_seen = excluded.last_seen, "
                "last_room = excluded.last_room, events = events + excluded.events",
                (server, at, room_id, count))

    async def flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self.FLUSH_S)
            try:
                await self.flush()
            except Exception as exc:  # a busy database: try again at the next tick
                log.warning("federation_seen_flush_failed", error=type(exc).__name__)

    async def all(self) -> dict[str, Seen]:
        await self.flush()
        rows = await self.db.fetchall("SELECT server, last_seen, last_room, events FROM federation_seen")
        return {r["server"]: Seen(r["server"], r["last_seen"], r["last_room"], r["events"]) for r in rows}


def seen_handler(table: SeenTable) -> Any:
    async def handle(effect: Effect, event: Event, services: Services) -> None:
        server = effect.payload.get("server")
        if isinstance(server, str):
            await table.note(server, event.room_id, services.clock.now().isoformat(timespec="seconds"))
    return handle
