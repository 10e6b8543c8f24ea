"""quiet_hours policy: remind senders off hours, alert recipients of emergencies in encrypted
rooms, and tell the reconciler when someone joins or leaves an exempt room. Pure.

Whose off hours decide a reminder: by default the *sender's* schedule (their department's, or
the default one) — people mostly write to their own department, and a night-shift department
writing to itself is not reminded during its shift. `reminders.schedule` can name one schedule
for everyone instead (e.g. `default`, the office's hours). Reading every recipient's schedule
would need the room's member list, which a policy may not fetch.

The encrypted-room alert is sent when *any* schedule in use is off hours (someone may be quiet):
the server cannot read an encrypted marker, so the bot that decrypted it speaks up, from the
sender the `jp.yakuba.quiet.alert` push rule lets through.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from appservice.core.decisions import Decision, DirectNotice, Effect, Message, Notice
from appservice.core.events import Event
from appservice.core.policy import PolicyContext
from appservice.core.text import is_emergency, message_text
from appservice.features.quiet.config import REMINDER_SENDER, QuietConfig
from appservice.features.quiet.store import DISASTER_KEY, EXEMPT_KEY, parse_disaster, parse_exempt
from appservice.lib.workcal import Status, WorkCalendar, reason_key

COMMAND_PREFIX = "!yakuba"
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SKIPPED_RELATIONS = ("m.annotation", "m.replace")




def when_message(dt: datetime) -> Message:
    """「11月26日（木）08:30」 / "Thu 26 Nov 08:30", rendered in the reader's locale."""
    return Message("quiet.when", {"year": dt.year, "month": dt.month, "day": dt.day,
                                  "month_name": Message(f"quiet.month.{dt.month}"),
                                  "weekday": Message(f"quiet.weekday.{_WEEKDAYS[dt.weekday()]}"),
                                  "time": dt.strftime("%H:%M")})


def reason_message(status: Status) -> Message:
    return Message(reason_key(status), dict(status.reason_params))


def reminder_message(status: Status, markers: Sequence[str]) -> Message:
    params = {"reason": reason_message(status), "marker": markers[0]}
    if status.next_change is None:
        return Message("quiet.reminder.no_next", params)
    return Message("quiet.reminder", {**params, "next": when_message(status.next_change)})


class QuietPolicy:
    name = "quiet_hours"

    def __init__(self, cfg: QuietConfig, calendar: WorkCalendar) -> None:
        self.cfg = cfg
        self.calendar = calendar
        self._literal_exempt = frozenset(r for r in cfg.exempt_rooms if r.startswith("!"))

    async def _exempt_rooms(self, ctx: PolicyContext) -> frozenset[str]:
        # Aliases are resolved by the reconciler and kept in the kv table.
        return self._literal_exempt | parse_exempt(await ctx.state.get(EXEMPT_KEY))

    def any_off(self, now: datetime) -> bool:
        return any(not self.calendar.is_working(now, s) for s in self.cfg.schedules_in_use())

    def reminder_schedule(self, sender: str) -> str | None:
        if self.cfg.reminder_schedule == REMINDER_SENDER:
            return self.cfg.schedule_of(sender)
        return self.cfg.reminder_schedule

    async def evaluate(self, event: Event, ctx: PolicyContext) -> Sequence[Decision]:
        if not self.cfg.enabled:
            return []
        if event.type == "m.room.member":
            return await self._membership(event, ctx)
        if event.type not in ("m.room.message", "m.room.encrypted") or event.is_state:
            return []
        sender = event.sender
        if ctx.is_bot(sender):
            return []
        # A sender on a partner's server: their own Yakuba reminds them of their own hours;
        # here only the emergency alert matters (local recipients must hear a remote 【緊急】).
        local = ctx.is_local(sender)
        if event.relates_to.get("rel_type") in _SKIPPED_RELATIONS:
            return []  # edits and (encrypted) reactions are not new posts
        if event.type == "m.room.message" and event.msgtype in (None, "m.notice"):
            return []
        if event.room_id == ctx.admin_room or event.room_id in await self._exempt_rooms(ctx):
            return []
        if await ctx.state.is_dm_room(event.room_id):
            return []  # the user's DM with the bot (commands, opt-out)
        if parse_disaster(await ctx.state.get(DISASTER_KEY)).on:
            return []  # everything notifies anyway; no reminders while staff are on call

        body = event.content.get("body") if event.type == "m.room.message" else None
        if isinstance(body, str):
            if message_text(body).startswith(COMMAND_PREFIX):
                return []
            if is_emergency(body, self.cfg.emergency_markers):
                if event.decrypted and self.any_off(ctx.now):
                    return [Notice(room_id=event.room_id, reply_to=event.event_id,
                                   message=Message("quiet.alert", {"sender": sender}),
                                   once_key=f"quiet:alert:{event.event_id}")]
                return []  # plain rooms: the emergency push rule lets it through
        # Ciphertext we could not read (no bot in the room) cannot be checked for a marker:
        # the sender is reminded like for any other message.

        if not local or not self.cfg.reminders_enabled:
            return []
        schedule = self.reminder_schedule(sender)
        status = self.calendar.status(ctx.now, schedule)
        if status.working:
            return []
        start = self.calendar.period_start(ctx.now, schedule)
        once = f"quiet:{sender}:{start.isoformat() if start else 'none'}"
        return [DirectNotice(user_id=sender, message=reminder_message(status, self.cfg.emergency_markers),
                             once_key=once)]

    async def _membership(self, event: Event, ctx: PolicyContext) -> Sequence[Decision]:
        user = event.state_key
        if not user or not ctx.is_local(user) or ctx.is_bot(user):
            return []
        if event.room_id not in await self._exempt_rooms(ctx):
            return []
        membership = event.content.get("membership")
        if not isinstance(membership, str):
            return []
        return [Effect(kind="quiet_membership",
                       payload={"user_id": user, "room_id": event.room_id, "membership": membership})]
