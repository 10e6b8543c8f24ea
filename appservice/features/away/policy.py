"""away policy: someone writes to a person who is away → one private notice to the writer. Pure.

"Writes to": a message in a direct chat the away person has with the writer (their `m.direct`
rooms and `is_direct` invites seen by Yakuba, kept in `away_dm_rooms`), or a message that
mentions them — `m.mentions.user_ids`, a pill in the formatted body, or their user id typed out
(`@yamada:city-a…`, or `@yamada` for a local user). In an encrypted room Yakuba reads mentions
only where a bot is a member (its plaintext comes through the same pipeline); without a bot
only direct chats count, by their room.

The notice goes to the writer alone (never into the room), never repeats the message, and is
sent once per writer per absence (once_key `away:<absence>:<writer>`). Quiet hours: off hours
(the work calendar of `quiet_hours`, schedule `away.schedule`) no notice is sent unless the
message starts with an emergency marker (`quiet_hours.emergency_markers`, 【緊急】) or disaster
mode is on — the writer's later message in working hours gets it. Writers on other servers get
the notice through the `away.notify_remote` effect, which tries and audits what happened.
A direct-chat invite (`is_direct`) becomes the `away.learn_dm` effect.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from appservice.core.commands import mentions_of
from appservice.core.decisions import Audit, Decision, DirectNotice, Effect, Message
from appservice.core.events import Event
from appservice.core.policy import PolicyContext
from appservice.core.text import is_emergency, message_text
from appservice.features.away.store import Absence, AwayStore
from appservice.lib.workcal import CalendarConfig, WorkCalendar

NOTIFY_REMOTE = "away.notify_remote"
LEARN_DM = "away.learn_dm"
COMMAND_PREFIX = "!yakuba"
DEFAULT_MARKERS = ("【緊急】", "緊急")
# The quiet-hours feature keeps disaster mode in the shared kv table under this key (its
# documented contract with policies: appservice/features/quiet/store.py).
DISASTER_KEY = "quiet.disaster"
_SKIPPED_RELATIONS = ("m.annotation", "m.replace")
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_REPLY_HTML = re.compile(r"<mx-reply>.*?</mx-reply>", re.S | re.I)


@dataclass(frozen=True)
class AwaySettings:
    enabled: bool = True
    respect_quiet_hours: bool = True
    schedule: str | None = None
    presence: bool = False
    check_interval_seconds: float = 30.0
    keep_days: int = 30
    max_days: int = 366
    quiet_enabled: bool = False
    markers: tuple[str, ...] = DEFAULT_MARKERS
    calendar: CalendarConfig = field(default_factory=CalendarConfig)




def _own_text(content: dict[str, Any]) -> str:
    """Body and formatted body without the quoted message of a reply."""
    parts = []
    body = content.get("body")
    if isinstance(body, str):
        parts.append(message_text(body))
    html = content.get("formatted_body")
    if isinstance(html, str):
        parts.append(_REPLY_HTML.sub("", html))
    return "\n".join(parts)


def mentioned(content: dict[str, Any], candidates: Iterable[str], server_name: str) -> list[str]:
    """Which of `candidates` the message mentions: m.mentions, pills, or the id typed out."""
    ids, pills = mentions_of(content)
    named = set(ids) | {u for u, _ in pills}
    text = _own_text(content)
    out = []
    for user in candidates:
        if user in named or (text and user in text):
            out.append(user)
            continue
        local, _, server = user[1:].partition(":")
        if server == server_name and text and re.search(
                r"(?<![\w.@])@" + re.escape(local) + r"(?![\w.=/+:-])", text):
            out.append(user)
    return out


def name_of(user_id: str, display_name: str | None) -> str:
    return display_name or user_id[1:].split(":", 1)[0]


def when_message(dt: datetime, *, with_time: bool) -> Message:
    """「12月27日（日）」 / 「12月28日（月）08:30」, in the reader's locale."""
    params = {"year": dt.year, "month": dt.month, "day": dt.day,
              "month_name": Message(f"away.month.{dt.month}"),
              "weekday": Message(f"away.weekday.{_WEEKDAYS[dt.weekday()]}"), "time": dt.strftime("%H:%M")}
    return Message("away.when.time" if with_time else "away.when.date", params)


def until_message(a: Absence, tz: Any) -> Message:
    """The last day (whole-day absences) or the end time, as the person wrote it."""
    if a.end_has_time:
        return when_message(datetime.fromtimestamp(a.end_shown, tz), with_time=True)
    return when_message(datetime.fromtimestamp(a.end_shown, tz) - timedelta(days=1), with_time=False)


def back_message(a: Absence, tz: Any) -> Message:
    """When they are back: the working time a whole-day absence runs to, or its end time."""
    return Message("away.notice.back", {"when": when_message(datetime.fromtimestamp(a.ends_at, tz), with_time=True)})


def delegate_message(a: Absence) -> Message:
    if not a.delegate:
        return Message("away.notice.no_delegate")
    return Message("away.notice.delegate", {"name": name_of(a.delegate, a.delegate_name), "user": a.delegate})


def notice_message(a: Absence, tz: Any) -> Message:
    """「山田さんは12月27日（日）まで不在です。…代理の佐藤さん…」 — never the note (it may say why)."""
    params = {"name": name_of(a.user_id, a.display_name), "until": until_message(a, tz),
              "back": back_message(a, tz), "delegate": delegate_message(a)}
    return Message("away.notice.timed" if a.end_has_time else "away.notice", params)


class AwayPolicy:
    name = "away"

    def __init__(self, settings: AwaySettings, calendar: WorkCalendar, store: AwayStore) -> None:
        self.settings = settings
        self.calendar = calendar
        self.store = store
        self.tz = settings.calendar.tzinfo

    async def evaluate(self, event: Event, ctx: PolicyContext) -> Sequence[Decision]:
        if not self.settings.enabled:
            return []
        if event.type == "m.room.member":
            return self._direct_invite(event, ctx)
        if event.type not in ("m.room.message", "m.room.encrypted") or event.is_state:
            return []
        sender = event.sender
        if ctx.is_bot(sender) or event.relates_to.get("rel_type") in _SKIPPED_RELATIONS:
            return []
        if event.type == "m.room.message" and event.msgtype in (None, "m.notice"):
            return []  # notices are what bots (and auto-replies) send: never answer them
        live = await self.store.live()
        if not live.absences:
            return []  # the common case: nobody is away, decided without a query
        away = live.away_at(ctx.now.timestamp())
        if not away or event.room_id == ctx.admin_room:
            return []
        body = event.content.get("body") if event.type == "m.room.message" else None
        if isinstance(body, str) and message_text(body).startswith(COMMAND_PREFIX):
            return []
        targets: dict[str, str] = {}
        for user, partner in live.dm_rooms.get(event.room_id, ()):
            if partner == sender and user in away:
                targets[user] = "dm"
        if event.type == "m.room.message":
            for user in mentioned(event.content, away, ctx.config.homeserver.server_name):
                targets.setdefault(user, "mention")
        targets.pop(sender, None)
        if not targets:
            return []
        if await ctx.state.is_dm_room(event.room_id):
            return []  # the writer's DM with the bot
        if not await self._may_notify(event, body, ctx):
            return []
        out: list[Decision] = []
        local = ctx.is_local(sender)
        for user, via in sorted(targets.items()):
            a = away[user]
            once = f"away:{a.id}:{sender}"
            if local:
                out.append(DirectNotice(user_id=sender, message=notice_message(a, self.tz), once_key=once))
                out.append(Audit(action="away_notice", actor=sender, target=user, room_id=event.room_id,
                                 event_id=event.event_id, details={"absence": a.id, "via": via},
                                 once_key=f"away_audit:{a.id}:{sender}"))
            else:
                out.append(Effect(kind=NOTIFY_REMOTE, once_key=once, payload={
                    "absence_id": a.id, "user_id": sender, "target": user, "via": via,
                    "room_id": event.room_id}))
        return out

    async def _may_notify(self, event: Event, body: Any, ctx: PolicyContext) -> bool:
        """Quiet hours: working time, an emergency marker, or disaster mode."""
        s = self.settings
        if not (s.respect_quiet_hours and s.quiet_enabled):
            return True
        if self.calendar.is_working(ctx.now, s.schedule):
            return True
        if isinstance(body, str) and is_emergency(body, s.markers):
            return True
        return _disaster_on(await ctx.state.get(DISASTER_KEY))

    def _direct_invite(self, event: Event, ctx: PolicyContext) -> list[Decision]:
        if event.decrypted or event.state_key is None:
            return []  # membership is state: it comes from the server, never from a plaintext
        content = event.content
        if content.get("membership") != "invite" or content.get("is_direct") is not True:
            return []
        inviter, invitee = event.sender, event.state_key
        if inviter == invitee or ctx.is_bot(inviter) or ctx.is_bot(invitee):
            return []
        if not (ctx.is_local(inviter) or ctx.is_local(invitee)):
            return []
        return [Effect(kind=LEARN_DM, once_key=f"away_dm:{event.event_id}",
                       payload={"room_id": event.room_id, "inviter": inviter, "invitee": invitee})]


def _disaster_on(raw: str | None) -> bool:
    if not raw:
        return False
    try:
        data = json.loads(raw)
    except ValueError:
        return False
    return isinstance(data, dict) and bool(data.get("on"))
