"""Offboarding: lost phones (lock, unlock, logout, suspend) and leavers (dry run, confirmation,
hand-over of room admin rights, deactivation — now, scheduled, or in bulk from a CSV), audited.
See docs/offboarding.md. Installs: the offboarding policy, two effect handlers, the "offboard"
offer action, the scheduler (a background task) and the admin commands."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from appservice.decisions import Effect, Message
from appservice.events import Event
from appservice.executor import render, txn_id_for
from appservice.offboarding.config import load
from appservice.offboarding.policy import OFFER_ACTION, OffboardingPolicy
from appservice.offboarding.runtime import Offboarding
from appservice.services import Services
from appservice.state import OfferRow

if TYPE_CHECKING:
    from appservice.service import YakubaService


def install(svc: YakubaService) -> None:
    cfg = load(svc.config.feature("offboarding"))
    if not cfg.enabled:
        return
    services = svc.services
    locale = svc.config.locale

    async def notify(room_id: str | None, messages: list[Message], key: str) -> None:
        room = room_id or await services.state.admin_room()
        if room:
            text = "\n".join(render(m, locale) for m in messages)
            await services.sender.send(room, {"msgtype": "m.notice", "body": text}, txn_id_for("offboarding", key))

    ob = Offboarding(svc.config, cfg, services.client, services.state, services.clock, notify, runner="service")
    services.extras["offboarding"] = ob

    async def on_upload(effect: Effect, event: Event, s: Services) -> None:
        p = effect.payload
        await ob.jobs.add_upload(p["event_id"], p["room_id"], p["sender"], p.get("ts"), p["content"])

    async def confirm_and_reply(code: str, confirmer: str, room_id: str, plan_event_id: str | None,
                                reaction_id: str) -> None:
        messages = await ob.confirm(code, confirmer, via="reaction")
        content = {"msgtype": "m.notice", "body": "\n".join(render(m, locale) for m in messages)}
        if plan_event_id:
            content["m.relates_to"] = {"m.in_reply_to": {"event_id": plan_event_id}}
        await services.sender.send(room_id, content, txn_id_for(reaction_id, "offboarding.confirm"))

    async def on_confirm(effect: Effect, event: Event, s: Services) -> None:
        p = effect.payload
        await confirm_and_reply(p["code"], p["confirmer"], p["room_id"], p.get("plan_event_id"), event.event_id)

    async def on_offer(offer: OfferRow, event: Event, s: Services) -> None:
        await confirm_and_reply(str(offer.detail.get("code", "")), event.sender, offer.room_id, offer.event_id,
                                event.event_id)

    from appservice.offboarding import commands  # noqa: F401  (registers the admin commands)
    from appservice.offers import register_offer_action

    svc.policies.append(OffboardingPolicy())
    svc.executor.on_effect("offboarding.upload", on_upload)
    svc.executor.on_effect("offboarding.confirm", on_confirm)
    register_offer_action(OFFER_ACTION, on_offer)
    async def scheduler() -> None:
        # Reports go to the encrypted admin room: give the E2EE bot a moment to come up first,
        # so that jobs that fell due while the service was down are not reported in plaintext.
        bot = services.extras.get("bots", {}).get(svc.config.sender)
        for _ in range(300):
            if bot is None or bot.is_ready():
                break
            await asyncio.sleep(0.1)
        await ob.run_forever()

    svc.background.append(scheduler)
