"""archive: every archivable event of a flagged room becomes an Effect("archive"). Pure.

Encrypted rooms: the archive stores plaintext only. Ciphertext in a room where a bot is joined
waits in the inbox for the bot's decrypted copy ("awaiting_plaintext"). If it is processed
as ciphertext anyway (the grace period ran out, or no bot could decrypt it), nothing is
archived and an audit row `archive_ciphertext_skipped` says so; should the plaintext arrive
later, the inbox runs it through the pipeline again and it is archived then — so an event
ends up in the archive once, whichever way it came (the store also ignores re-sends).

No once_key on the archive effect: a claim taken just before a crash would skip the record
for good. Re-running is safe because the store de-duplicates by event id and kind.
"""

from __future__ import annotations

from collections.abc import Sequence

from appservice.core.decisions import Audit, Decision, Effect
from appservice.core.events import Event
from appservice.core.policy import PolicyContext
from appservice.features.retention.records import classify
from appservice.features.retention.tables import FlagReader

EFFECT_KIND = "archive"


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
        kind = classify(event)
        if kind is None:
            return []
        return [Effect(kind=EFFECT_KIND, payload={"room_id": event.room_id, "kind": kind})]
