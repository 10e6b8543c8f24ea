"""Commands any room's moderators may use in their own room: `!yakuba leave`.

Documented exception to "effects through the executor": the bots' leaving is a Matrix-layer call
(bot / client), one bot after another, each through its E2EE device when it is running or
masquerading when not, then its membership noted. The farewell and the audit row go through the
executor.

In a room the retention feature archives (公文書の保存対象), the archive bot leaving stops the
mirror, so there `leave` needs a Yakuba admin (a moderator is refused politely, and audited)."""

from __future__ import annotations

from appservice.core.commands import Invocation, Reply
from appservice.core.decisions import Message
from appservice.core.executor import render
from appservice.core.services import Services
from appservice.features.base.component import Base
from appservice.matrix.room_roles import moderators, room_state


async def _archived(svc: Services, room_id: str) -> bool:
    """Is this room flagged for the records archive? Features never import each other, so this
    reads the retention feature's table `retention_flags` (appservice/features/retention/
    tables.py) directly, guarded by a check that the table exists: every feature's tables are
    created when the database opens, even for a feature that is off, but a test database or a
    custom assembly may lack it. A core hook ("is this room archived?") would be cleaner."""
    db = svc.state.db
    if await db.fetchone("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'retention_flags'") is None:
        return False
    row = await db.fetchone("SELECT 1 FROM retention_flags WHERE room_id = ? AND active = 1", (room_id,))
    return row is not None


async def leave(inv: Invocation) -> Reply:
    """The Yakuba bots leave this room (asked by one of its moderators)."""
    svc = inv.services
    base: Base = inv.feature
    if inv.room_id == await svc.state.admin_room():
        return Reply(messages=[Message("core.leave.not_admin_room")])
    if inv.sender not in moderators(await room_state(svc.client, inv.room_id)):
        return Reply(messages=[Message("core.leave.not_moderator")])
    if await _archived(svc, inv.room_id) and inv.sender not in await svc.admins():
        await base.executor.audit("command_refused", actor=inv.sender, room_id=inv.room_id,
                                  event_id=inv.event_id, result="refused",
                                  details={"command": "leave", "reason": "archived_room"})
        return Reply(messages=[Message("core.leave.archived")])
    bots = svc.bots
    joined = await svc.state.bots_joined(inv.room_id)
    text = render(Message("core.leave.bye"), svc.config.locale)
    await base.executor.post(inv.room_id, text, ("leave", inv.event_id))
    for user_id in joined:
        bot = bots.get(user_id)
        if bot is not None and bot.is_ready():
            await bot.leave(inv.room_id)
        else:
            await svc.client.leave(inv.room_id, as_user=user_id)
            await svc.state.note_bot_membership(inv.room_id, user_id, "leave")
    await base.executor.audit("bot_left", actor=inv.sender, room_id=inv.room_id, details={"bots": joined})
    return Reply()
