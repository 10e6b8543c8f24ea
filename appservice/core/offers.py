"""Accepting an offer (✅ on a bot message): the effect side of core/offers_policy.py.

The built-in action "redact" deletes the offered message as the user who posted it; features
add their own actions (e.g. offboarding's "offboard") through their declaration. The handler
returns decisions; the executor performs them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from appservice.core.decisions import Decision, Effect, Message, Redact
from appservice.core.events import Event
from appservice.core.feature import EffectHandler, OfferHandler
from appservice.core.services import Services

ACCEPT_OFFER = "accept_offer"


def accept_offer_handler(actions: Mapping[str, OfferHandler]) -> EffectHandler:
    """The effect handler for Effect("accept_offer"), reading the offer actions of the assembled
    features (a live mapping: actions added after this call are seen)."""

    async def accept_offer(effect: Effect, event: Event, svc: Services) -> Sequence[Decision] | None:
        offer_id = effect.payload["offer_event_id"]
        offer = await svc.state.offer(offer_id)
        if offer is None or not await svc.state.use_offer(offer_id):
            return None
        if offer.action == "redact":
            # Acting as the user who posted it: everyone may redact their own messages.
            reason = offer.detail.get("reason")
            return [Redact(room_id=offer.room_id, event_id=offer.target_event_id, as_user=offer.user_id,
                           reason=Message("core.raw_text", {"text": reason}) if reason else None)]
        handler = actions.get(offer.action)
        if handler is None:
            raise LookupError(f"unknown offer action {offer.action!r}")
        return await handler(offer, event, svc)

    return accept_offer
