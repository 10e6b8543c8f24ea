"""Direct chats staff open with the bot themselves.

Element (and most clients) start a DM by creating a room with `is_direct` and inviting the
other party. When a local staff member does that with @_yakuba, the room is *their* DM with
Yakuba: `!yakuba` commands of DM scope work there, and unknown commands get a hint, exactly
as in the DM the bot opens itself.

Trust: only the server-authenticated invite counts (an `m.room.member` event from the
appservice stream or a bot's sync — never a decrypted payload), the inviter must be a local
user, and the room must hold nobody but them and Yakuba's bots when it is adopted. When
anyone else joins or is invited, or the owner leaves, the room stops being a DM.
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from appservice.core.decisions import Audit, Decision, Effect
from appservice.core.events import Event
from appservice.core.policy import PolicyContext
from appservice.core.services import Services
from appservice.matrix.room_roles import room_state

log = structlog.get_logger(__name__)

ADOPT = "direct_chat.adopt"
DROP = "direct_chat.drop"
_PRESENT = ("join", "invite")


class DirectChatPolicy:
    name = "direct_chats"

    async def evaluate(self, event: Event, ctx: PolicyContext) -> Sequence[Decision]:
        if event.type != "m.room.member" or event.state_key is None or event.decrypted:
            return []  # membership is state: it comes from the server, never from a plaintext
        membership = event.content.get("membership")
        if (event.state_key == ctx.config.sender and membership == "invite"
                and event.content.get("is_direct") is True
                and ctx.is_local(event.sender) and not ctx.is_bot(event.sender)):
            return [Effect(kind=ADOPT, payload={"room_id": event.room_id, "user_id": event.sender},
                           once_key=f"dm_adopt:{event.event_id}")]
        owner = await ctx.state.is_dm_room(event.room_id)
        if owner is None or ctx.is_bot(event.state_key):
            return []
        someone_else = event.state_key != owner and membership in _PRESENT
        owner_left = event.state_key == owner and membership not in _PRESENT
        if someone_else or owner_left:
            return [Effect(kind=DROP, payload={"room_id": event.room_id, "owner": owner},
                           once_key=f"dm_drop:{event.event_id}")]
        return []


async def adopt(effect: Effect, event: Event, svc: Services) -> Sequence[Decision]:
    room_id, user_id = effect.payload["room_id"], effect.payload["user_id"]
    bots = set(svc.config.bot_user_ids)
    state = await room_state(svc.client, room_id)
    present = {ev.get("state_key") for ev in state if ev.get("type") == "m.room.member"
               and (ev.get("content") or {}).get("membership") in _PRESENT}
    if not present <= {user_id, *bots}:
        log.info("direct_chat_not_adopted", room_id=room_id, members=len(present))
        return [Audit(action="direct_chat_refused", actor=user_id, room_id=room_id, result="not_two_party",
                      details={"members": len(present)})]
    await svc.state.add_user_dm(room_id, user_id)
    return [Audit(action="direct_chat_opened", actor=user_id, room_id=room_id)]


async def drop(effect: Effect, event: Event, svc: Services) -> Sequence[Decision]:
    room_id = effect.payload["room_id"]
    if await svc.state.drop_user_dm(room_id):
        return [Audit(action="direct_chat_ended", actor=event.sender, target=effect.payload["owner"],
                      room_id=room_id)]
    return []
