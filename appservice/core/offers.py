"""Accepting an offer (✅ on a bot message): the effect side of core/offers_policy.py.

The built-in action "redact" deletes the offered message as the user who posted it; features
add their own actions (e.g. offboarding's "offboard") through their declaration. The handler
returns decisions; the executor performs them.

An offer stays usable until its action happened: the handler returns `Steps` — the action (the
redaction; a feature's action runs inside its handler), then marking the offer used, then the
`offer_accepted:<action>` audit row, then the feature's replies — and the first failure stops
them. A redaction that fails (Synapse answered 502 even after the client's retries) thus
leaves the offer unused and unaudited, and the ✅ is tried again when the event is replayed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from appservice.core.decisions import Audit, Decision, Effect, Message, Redact
from appservice.core.events import Event
from appservice.core.executor import Steps
from appservice.core.feature import EffectHandler, OfferHandler
from appservice.core.services import Services

ACCEPT_OFFER = "accept_offer"
USED = "used"  # payload["step"] of the follow-up that marks the offer used


def accept_offer_handler(actions: Mapping[str, OfferHandler]) -> EffectHandler:
    """The effect handler for Effect("accept_offer"), reading the offer actions of the assembled
    features (a live mapping: actions added after this call are seen)."""

    async def accept_offer(effect: Effect, event: Event, svc: Services) -> Sequence[Decision] | None:
        offer_id = effect.payload["offer_event_id"]
        if effect.payload.get("step") == USED:  # the action happened: the offer is spent
            await svc.state.use_offer(offer_id)
            return None
        offer = await svc.state.offer(offer_id)
        if offer is None or offer.used:
            return None
        action: list[Decision] = []
        replies: list[Decision] = []
        if offer.action == "redact":
            # Acting as the user who posted it: everyone may redact their own messages.
            # The reason shown where the message was: a catalog key (in the reader's language),
            # or a plain text from offers made before there were keys.
            key, reason = offer.detail.get("reason_key"), offer.detail.get("reason")
            shown = Message(key) if isinstance(key, str) else (
                Message("core.raw_text", {"text": reason}) if reason else None)
            action.append(Redact(room_id=offer.room_id, event_id=offer.target_event_id, as_user=offer.user_id,
                                 reason=shown))
        else:
            handler = actions.get(offer.action)
            if handler is None:
                raise LookupError(f"unknown offer action {offer.action!r}")
            replies = list(await handler(offer, event, svc) or ())  # its action ran in there
        return Steps([
            *action,
            Effect(kind=ACCEPT_OFFER, payload={"offer_event_id": offer_id, "step": USED}),
            Audit(action=f"offer_accepted:{offer.action}", actor=event.sender, room_id=offer.room_id,
                  event_id=offer.target_event_id, once_key=f"offer_audit:{offer_id}"),
            *replies,
        ])

    return accept_offer
