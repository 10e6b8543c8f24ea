"""Pure: what a broadcast-related event means.

- ✅ on a delivered broadcast by its recipient (a local user in their DM; any user of the
  partner's server in a liaison room) → confirmed (確認しました), which also counts as read.
- A broadcast from a partner's Yakuba that declares or ends a disaster → this municipality's
  disaster mode, only if that partner is listed with `trust_disaster: true`. The sender is the
  server-authenticated `@_yakuba:<partner>`; the flag in the content is that sender's claim, which
  is exactly what trusting the partner means. Anyone else's claim is audited and ignored.
"""

from __future__ import annotations

from collections.abc import Sequence

from appservice.core.config import server_of
from appservice.core.decisions import Audit, Decision, Effect, RunCommand
from appservice.core.events import Event
from appservice.core.offers_policy import accepted_target
from appservice.core.policy import PolicyContext
from appservice.features.broadcast.tables import PARTNER, USER, BroadcastTables

CONFIRM = "broadcast.confirm"
FIELD = "jp.yakuba.broadcast"


class BroadcastPolicy:
    name = "broadcast"

    def __init__(self, tables: BroadcastTables) -> None:
        self.tables = tables

    async def evaluate(self, event: Event, ctx: PolicyContext) -> Sequence[Decision]:
        if event.type == "m.reaction":
            return await self._confirm(event, ctx)
        if event.type == "m.room.message" and isinstance(event.content.get(FIELD), dict):
            return self._disaster(event, ctx)
        return []

    async def _confirm(self, event: Event, ctx: PolicyContext) -> Sequence[Decision]:
        target = accepted_target(event)
        if target is None:
            return []
        found = await self.tables.delivery_by_event(target)
        if found is None:
            return []
        bid, d = found
        ok = (d.kind == USER and event.sender == d.target) or \
             (d.kind == PARTNER and server_of(event.sender) == d.target)
        if not ok or d.room_id != event.room_id:
            return []
        return [Effect(kind=CONFIRM, payload={"broadcast": bid, "target": d.target},
                       once_key=f"broadcast.confirm:{bid}:{d.target}")]

    def _disaster(self, event: Event, ctx: PolicyContext) -> Sequence[Decision]:
        field = event.content[FIELD]
        what = field.get("disaster")
        if what not in ("on", "off") or ctx.is_local(event.sender) or ctx.admin_room is None:
            return []
        server = server_of(event.sender)
        partner = ctx.config.federation.partner(server)
        trusted = (partner is not None and partner.trust_disaster
                   and event.sender == f"@{ctx.config.appservice.bot_localpart}:{server}")
        if not trusted:
            return [Audit(action="broadcast_disaster_ignored", actor=event.sender, room_id=event.room_id,
                          event_id=event.event_id, result="refused",
                          details={"server": server[:255], "disaster": what,
                                   "reason": "not_trusted" if partner else "not_partner"},
                          once_key=f"broadcast.disaster.ignored:{event.event_id}")]
        assert partner is not None
        reason = str(field.get("reason") or "")[:150].replace("\n", " ")
        args = ("on", f"{partner.name}: {reason or '-'}") if what == "on" else ("off",)
        return [RunCommand(name="emergency", args=args, sender=event.sender, room_id=ctx.admin_room,
                           event_id=event.event_id, scope="admin",
                           once_key=f"broadcast.disaster:{event.event_id}")]
