"""Offboarding at run time: the Offboarding object (plans, jobs, scheduler), its effects (CSV
uploads, ✅ confirmations) and the "offboard" offer action. The Offboarding object is given the
executor: reports of jobs that run in the background, plans and exports are posted through it,
and audit rows are written by it."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from appservice.core.decisions import Decision, Effect, Message, Notice
from appservice.core.events import Event
from appservice.core.executor import render
from appservice.core.feature import Parts, Runtime
from appservice.core.services import Services
from appservice.core.state import OfferRow
from appservice.core.text import Text
from appservice.features.offboarding.config import OffboardingConfig
from appservice.features.offboarding.policy import OFFER_ACTION, OffboardingPolicy
from appservice.features.offboarding.runtime import Offboarding


def setup(runtime: Runtime, cfg: OffboardingConfig) -> Parts:
    services, executor = runtime.services, runtime.executor
    locale = runtime.config.locale

    # Job reports go to the plan's room (else the admin room) through the executor.
    ob = Offboarding(runtime.config, cfg, services.client, services.state, services.clock, executor,
                     runner="service")

    async def on_upload(effect: Effect, event: Event, s: Services) -> None:
        p = effect.payload
        await ob.jobs.add_upload(p["event_id"], p["room_id"], p["sender"], p.get("ts"), p["content"])

    async def confirm_and_reply(code: str, confirmer: str, room_id: str, plan_event_id: str | None,
                                reaction_id: str) -> Sequence[Decision]:
        messages = await ob.confirm(code, confirmer, via="reaction")
        text = "\n".join(render(m, locale) for m in messages)
        return [Notice(room_id=room_id, message=Message("core.raw_text", {"text": Text(text)}),
                       reply_to=plan_event_id,
                       once_key=f"offboarding.confirm:{reaction_id}")]

    async def on_confirm(effect: Effect, event: Event, s: Services) -> Sequence[Decision]:
        p = effect.payload
        return await confirm_and_reply(p["code"], p["confirmer"], p["room_id"], p.get("plan_event_id"),
                                       event.event_id)

    async def on_offer(offer: OfferRow, event: Event, s: Services) -> Sequence[Decision]:
        return await confirm_and_reply(str(offer.detail.get("code", "")), event.sender, offer.room_id,
                                       offer.event_id, event.event_id)

    async def scheduler() -> None:
        # Reports go to the encrypted admin room: give the E2EE bot a moment to come up first,
        # so that jobs that fell due while the service was down are not reported in plaintext.
        bot = services.bots.get(runtime.config.sender)
        for _ in range(300):
            if bot is None or bot.is_ready():
                break
            await asyncio.sleep(0.1)
        await ob.run_forever()

    return Parts(component=ob, policies=[OffboardingPolicy()],
                 effects={"offboarding.upload": on_upload, "offboarding.confirm": on_confirm},
                 offer_actions={OFFER_ACTION: on_offer}, background=[scheduler], on_stopping=[ob.close])
