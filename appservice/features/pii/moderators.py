"""Personal data posted by a remote user: tell the room's local moderators instead."""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from appservice.core.decisions import Decision, DirectNotice, Effect, Message
from appservice.core.events import Event
from appservice.core.services import Services
from appservice.features.pii.policy import kind_names
from appservice.matrix.links import room_link
from appservice.matrix.room_roles import moderators, room_state

log = structlog.get_logger(__name__)


async def notify_moderators(effect: Effect, event: Event, svc: Services) -> Sequence[Decision]:
    """A remote user posted personal data: tell the room's local moderators (we cannot DM-
    enforce another server's staff, nor redact without power in the room)."""
    p = effect.payload
    state = await room_state(svc.client, p["room_id"])
    local_mods = sorted(u for u in moderators(state) if svc.config.is_local(u)
                        and u not in svc.config.bot_user_ids)
    if not local_mods:
        log.info("pii_no_local_moderator", room_id=p["room_id"])
        return []
    return [DirectNotice(user_id=mod, message=Message("pii.moderator_notice", {
        "user": p["sender"], "room": p["room"], "kinds": kind_names(p["kinds"]),
        "link": room_link(p["room_id"], p["event_id"])}), once_key=f"pii_mod:{p['event_id']}:{mod}")
        for mod in local_mods]

