"""Accepting an offer (✅ on a bot message): the effect side of policies/offers.py."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from appservice.decisions import Effect
from appservice.events import Event
from appservice.executor import txn_id_for
from appservice.policies.offers import OffersPolicy
from appservice.services import Services
from appservice.state import OfferRow

if TYPE_CHECKING:
    from appservice.service import YakubaService

# Feature-defined offer actions: handler(offer, reaction event, services), called once when
# the user the offer was made to accepts it (e.g. "offboard": ✅ on an offboarding plan).
OfferHandler = Callable[[OfferRow, Event, Services], Awaitable[None]]
OFFER_ACTIONS: dict[str, OfferHandler] = {}


def register_offer_action(action: str, handler: OfferHandler) -> None:
    OFFER_ACTIONS[action] = handler


async def accept_offer(effect: Effect, event: Event, svc: Services) -> None:
    offer_id = effect.payload["offer_event_id"]
    offer = await svc.state.offer(offer_id)
    if offer is None or not await svc.state.use_offer(offer_id):
        return
    if offer.action == "redact":
        # Acting as the user who posted it: everyone may redact their own messages.
        await svc.client.redact(offer.room_id, offer.target_event_id,
                                txn_id_for(offer_id, "accept"), offer.detail.get("reason"),
                                as_user=offer.user_id)
    elif offer.action in OFFER_ACTIONS:
        await OFFER_ACTIONS[offer.action](offer, event, svc)
    else:
        raise LookupError(f"unknown offer action {offer.action!r}")


def install(svc: YakubaService) -> None:
    svc.policies.append(OffersPolicy())
    svc.executor.on_effect("accept_offer", accept_offer)
