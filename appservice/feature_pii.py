"""Feature: personal-data warnings (policy in appservice/policies/pii.py, scanner in appservice/pii)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from appservice.decisions import DirectNotice, Effect, Message
from appservice.events import Event
from appservice.policies.pii import PiiPolicy, PiiSettings, kind_names, room_link
from appservice.room_roles import moderators, room_state
from appservice.services import Services

if TYPE_CHECKING:
    from appservice.service import YakubaService

log = structlog.get_logger(__name__)


async def notify_moderators(effect: Effect, event: Event, svc: Services) -> None:
    """A remote user posted personal data: tell the room's local moderators (we cannot DM-
    enforce another server's staff, nor redact without power in the room)."""
    p = effect.payload
    state = await room_state(svc.client, p["room_id"])
    local_mods = sorted(u for u in moderators(state) if svc.config.is_local(u)
                        and u not in svc.config.bot_user_ids)
    if not local_mods:
        log.info("pii_no_local_moderator", room_id=p["room_id"])
        return
    executor = svc.extras["executor"]
    decisions = [DirectNotice(user_id=mod, message=Message("pii.moderator_notice", {
        "user": p["sender"], "room": p["room"], "kinds": kind_names(p["kinds"]),
        "link": room_link(p["room_id"], p["event_id"])}), once_key=f"pii_mod:{p['event_id']}:{mod}")
        for mod in local_mods]
    await executor.perform(decisions, event, "pii")


def install(svc: YakubaService) -> None:
    settings = PiiSettings.parse(svc.config.feature("pii"))
    svc.policies.append(PiiPolicy(settings))
    svc.executor.on_effect("pii_notify_moderators", notify_moderators)
