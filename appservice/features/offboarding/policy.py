"""offboarding policy: remember CSV uploads in the admin room, and turn another admin's ✅ on
an offboarding plan into a confirmation (the requester's own ✅ goes through the generic offer
path, appservice/core/offers.py). Pure: it only returns Effects for the executor."""

from __future__ import annotations

from collections.abc import Sequence

from appservice.core.decisions import Decision, Effect
from appservice.core.events import Event
from appservice.core.offers_policy import accepted_target
from appservice.core.policy import PolicyContext

OFFER_ACTION = "offboard"
CSV_TYPES = {"text/csv", "text/plain", "text/tab-separated-values", "application/csv",
             "application/vnd.ms-excel", "text/comma-separated-values"}


def is_csv_upload(event: Event) -> bool:
    if event.type != "m.room.message" or event.msgtype != "m.file":
        return False
    name = event.content.get("filename") or event.content.get("body")
    info = event.content.get("info")
    mime = info.get("mimetype") if isinstance(info, dict) else None
    if isinstance(name, str) and name.lower().endswith((".csv", ".tsv", ".txt")):
        return True
    return isinstance(mime, str) and mime.split(";")[0].strip().lower() in CSV_TYPES


class OffboardingPolicy:
    name = "offboarding"

    async def evaluate(self, event: Event, ctx: PolicyContext) -> Sequence[Decision]:
        if ctx.admin_room is None or event.room_id != ctx.admin_room or ctx.is_bot(event.sender):
            return []
        if event.sender not in ctx.admins:
            return []
        if is_csv_upload(event):
            return [Effect(kind="offboarding.upload", once_key=f"offboarding_upload:{event.event_id}", payload={
                "event_id": event.event_id, "room_id": event.room_id, "sender": event.sender,
                "ts": event.origin_server_ts, "content": event.content})]
        target = accepted_target(event)
        if target is None:
            return []
        offer = await ctx.state.offer(target)
        if offer is None or offer.action != OFFER_ACTION or offer.user_id == event.sender:
            return []
        return [Effect(kind="offboarding.confirm", once_key=f"offboarding_confirm:{event.event_id}", payload={
            "code": str(offer.detail.get("code", "")), "confirmer": event.sender, "room_id": offer.room_id,
            "plan_event_id": offer.event_id})]
