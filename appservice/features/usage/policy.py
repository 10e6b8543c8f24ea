"""usage policy (pure): which events are a message someone sent, to be counted.

A message is counted once per event id (the handler's dedupe row and the counts are one
transaction), when a local member of staff — not a bot — posts a new message (text, file,
image, sticker; encrypted or not) anywhere but the admin room. Edits, reactions, notices and
`!yakuba` commands are not messages. Counted at the service clock's time (`ctx.now`), the
same clock the quiet-hours rule judges off hours by.
"""

from __future__ import annotations

from collections.abc import Sequence

from appservice.core.decisions import Decision, Effect
from appservice.core.events import Event
from appservice.core.policy import PolicyContext

EFFECT_KIND = "usage.count"
MESSAGE_TYPES = ("m.room.message", "m.room.encrypted", "m.sticker")
_NOT_NEW = ("m.replace", "m.annotation")
_COMMAND = "!yakuba"


def is_message(event: Event, ctx: PolicyContext) -> bool:
    if event.type not in MESSAGE_TYPES or event.is_state:
        return False
    if not ctx.is_local(event.sender) or ctx.is_bot(event.sender) or event.room_id == ctx.admin_room:
        return False
    if event.relates_to.get("rel_type") in _NOT_NEW:
        return False  # edits and reactions (their relation is in the clear, also when encrypted)
    if event.type == "m.room.message":
        if event.msgtype in (None, "m.notice"):
            return False
        body = event.content.get("body")
        if isinstance(body, str) and body.lstrip().startswith(_COMMAND):
            return False
    return True


class UsagePolicy:
    name = "usage"

    async def evaluate(self, event: Event, ctx: PolicyContext) -> Sequence[Decision]:
        if not is_message(event, ctx):
            return []
        # No executor once_key: the handler writes its own dedupe row in the counting
        # transaction, which makes the count exactly once (a claim/finish pair around it would
        # be at least once and cost two more transactions per message).
        return [Effect(kind=EFFECT_KIND, payload={"at": ctx.now.timestamp()})]
