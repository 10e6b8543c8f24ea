"""event_log: one audit row per event that reaches the pipeline — metadata only, never content."""

from __future__ import annotations

from collections.abc import Sequence

from appservice.core.decisions import Audit, Decision
from appservice.core.events import Event
from appservice.core.policy import PolicyContext


class EventLogPolicy:
    name = "event_log"

    async def evaluate(self, event: Event, ctx: PolicyContext) -> Sequence[Decision]:
        return [Audit(
            action="event",
            actor=event.sender,
            room_id=event.room_id,
            event_id=event.event_id,
            details={"type": event.type, "encrypted": event.encrypted,
                     "decrypted": event.decrypted, "local": ctx.is_local(event.sender)},
            # Keyed by plaintext-ness so the upgrade from ciphertext to plaintext is logged too.
            once_key=f"event_log:{event.event_id}:{int(event.decrypted)}",
        )]
