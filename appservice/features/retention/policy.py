"""archive: every archivable event of a flagged room becomes an Effect("archive"). Pure.

Encrypted rooms: the archive stores plaintext only. Ciphertext in a room where a bot is joined
waits in the inbox for the bot's decrypted copy ("awaiting_plaintext"). If it is processed
as ciphertext anyway (the grace period ran out, or no bot could decrypt it), nothing is
archived and an audit row `archive_ciphertext_skipped` says so; should the plaintext arrive
later, the inbox runs it through the pipeline again and it is archived then — so an event
ends up in the archive once, whichever way it came (the store also ignores re-sends).

The archive bot's own membership (a server-authenticated m.room.member event: a decrypted
payload claiming to be one never gets here as such, see appservice/core/forged.py):
- leave/ban in a flagged room → the mirror has stopped. At once an AdminNotice naming the room
  and who did it, an Audit `archive_bot_removed`, and Effect("archive_unmirrored") so that the
  flag records "not mirrored since <time>" (`archive list` shows it);
- join in a flagged room marked so → Effect("archive_mirrored") clears the mark, with an Audit
  `archive_bot_rejoined` and an AdminNotice that mirroring has resumed.
An admin's `archive unflag` ends the flag before the bot leaves, so that leave says nothing.

No once_key on the archive effect: a claim taken just before a crash would skip the record
for good. Re-running is safe because the store de-duplicates by event id and kind.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from appservice.core.decisions import AdminNotice, Audit, Decision, Effect, Message
from appservice.core.events import Event
from appservice.core.policy import PolicyContext
from appservice.features.retention.records import classify
from appservice.features.retention.tables import FlagReader
from appservice.lib.archive.record import JST

EFFECT_KIND = "archive"
UNMIRRORED_KIND = "archive_unmirrored"
MIRRORED_KIND = "archive_mirrored"


def removal(event: Event, archive_bot: str) -> str | None:
    """"leave" | "kick" | "ban" if this event takes the archive bot out of its room, else None."""
    if event.type != "m.room.member" or event.state_key != archive_bot or event.decrypted:
        return None
    membership = event.content.get("membership")
    if membership == "ban":
        return "ban"
    if membership == "leave":
        return "leave" if event.sender == archive_bot else "kick"
    return None


def when(event: Event, ctx: PolicyContext) -> float:
    """The server's time of the event (seconds), or the service clock if it has none."""
    return event.origin_server_ts / 1000 if event.origin_server_ts > 0 else ctx.now.timestamp()


class ArchivePolicy:
    name = "archive"

    def __init__(self, flags: FlagReader) -> None:
        self.flags = flags

    async def evaluate(self, event: Event, ctx: PolicyContext) -> Sequence[Decision]:
        if not await self.flags.is_flagged(event.room_id):
            return []
        if event.type == "m.room.encrypted" and not event.decrypted:
            return [Audit(action="archive_ciphertext_skipped", actor=event.sender, room_id=event.room_id,
                          event_id=event.event_id, result="skipped",
                          details={"reason": "no_plaintext"},
                          once_key=f"archive_ciphertext:{event.event_id}")]
        out: list[Decision] = []
        kind = classify(event)
        if kind is not None:
            out.append(Effect(kind=EFFECT_KIND, payload={"room_id": event.room_id, "kind": kind}))
        out.extend(await self._archive_bot_membership(event, ctx))
        return out

    async def _archive_bot_membership(self, event: Event, ctx: PolicyContext) -> list[Decision]:
        bot = ctx.config.archive_bot
        if event.type != "m.room.member" or event.state_key != bot or event.decrypted:
            return []
        room = event.room_id
        how = removal(event, bot)
        if how is not None:
            since = when(event, ctx)
            stamp = datetime.fromtimestamp(since, JST).strftime("%Y-%m-%d %H:%M")
            name = await ctx.state.room_name(room) or "-"
            return [
                AdminNotice(message=Message(f"retention.admin.bot_removed.{how}", {
                    "room": room, "name": name, "by": event.sender, "since": stamp, "bot": bot}),
                    once_key=f"archive_bot_removed:notice:{event.event_id}"),
                Audit(action="archive_bot_removed", actor=event.sender, target=bot, room_id=room,
                      event_id=event.event_id, result="unmirrored",
                      details={"how": how, "since": stamp},
                      once_key=f"archive_bot_removed:audit:{event.event_id}"),
                Effect(kind=UNMIRRORED_KIND, payload={"room_id": room, "since": since, "by": event.sender,
                                                      "how": how}),
            ]
        if event.content.get("membership") != "join" or await self.flags.unmirrored(room) is None:
            return []
        name = await ctx.state.room_name(room) or "-"
        return [
            AdminNotice(message=Message("retention.admin.bot_rejoined", {"room": room, "name": name}),
                        once_key=f"archive_bot_rejoined:notice:{event.event_id}"),
            Audit(action="archive_bot_rejoined", actor=event.sender, target=bot, room_id=room,
                  event_id=event.event_id, once_key=f"archive_bot_rejoined:audit:{event.event_id}"),
            Effect(kind=MIRRORED_KIND, payload={"room_id": room}),
        ]
