"""offers: a ✅ reaction on a message that offered an action performs it, once.

The PII warning says "react ✅ to delete"; the bot recorded that offer when it sent the
warning. Only the user the offer was made to may accept it.
"""

from __future__ import annotations

from collections.abc import Sequence

from appservice.core.decisions import Decision, Effect
from appservice.core.events import Event
from appservice.core.policy import PolicyContext

# Only ✅ confirms — every message that offers an action says "react with ✅". A 👍 is how
# people say "seen" in Japanese offices; it must never delete a message or offboard someone.
# Clients send ✅ with or without the emoji variation selector.
ACCEPT_KEYS = frozenset({"✅", "✅\ufe0f"})


def accepted_target(event: Event) -> str | None:
    """The event id a ✅-style reaction points at, or None if this is not one."""
    if event.type != "m.reaction":
        return None
    rel = event.relates_to
    target, key = rel.get("event_id"), rel.get("key")
    if rel.get("rel_type") != "m.annotation" or not isinstance(target, str) or key not in ACCEPT_KEYS:
        return None
    return target


class OffersPolicy:
    name = "offers"

    async def evaluate(self, event: Event, ctx: PolicyContext) -> Sequence[Decision]:
        target = accepted_target(event)
        if target is None or not ctx.is_local(event.sender):
            return []  # users of other homeservers never confirm an offer, whoever it names
        offer = await ctx.state.offer(target)
        if offer is None or offer.used or offer.user_id != event.sender:
            return []
        # The `offer_accepted:<action>` audit row is written by the accept handler
        # (core/offers.py) once the action happened, not here.
        return [Effect(kind="accept_offer", payload={"offer_event_id": offer.event_id},
                       once_key=f"offer:{offer.event_id}")]
