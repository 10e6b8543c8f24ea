"""event_log: one audit row per event that reaches the pipeline — metadata only, never content."""

from __future__ import annotations

from collections.abc import Sequence

from appservice.core.commands import PREFIX
from appservice.core.decisions import Audit, Decision
from appservice.core.events import Event
from appservice.core.policy import PolicyContext


def kind_of(event: Event) -> dict[str, object]:
    """What kind of event it is, never what it says: a state event, the msgtype, a `!yakuba`
    command, and the relation type (an edit, a reaction, a thread reply), each a short string.
    Usage reports count messages from these rows (appservice/features/usage/counting.py)."""
    out: dict[str, object] = {}
    if event.is_state:
        out["state"] = True
    if event.msgtype:
        out["msgtype"] = event.msgtype[:64]
    body = event.content.get("body")
    if isinstance(body, str) and body.lstrip().startswith(PREFIX):
        out["command"] = True
    rel = event.relates_to.get("rel_type")
    if isinstance(rel, str) and rel:
        out["rel"] = rel[:64]
    return out


class EventLogPolicy:
    name = "event_log"

    async def evaluate(self, event: Event, ctx: PolicyContext) -> Sequence[Decision]:
        return [Audit(
            action="event",
            actor=event.sender,
            room_id=event.room_id,
            event_id=event.event_id,
            details={"type": event.type, "encrypted": event.encrypted,
                     "decrypted": event.decrypted, "local": ctx.is_local(event.sender), **kind_of(event)},
            # Keyed by plaintext-ness so the upgrade from ciphertext to plaintext is logged too.
            once_key=f"event_log:{event.event_id}:{int(event.decrypted)}",
        )]
