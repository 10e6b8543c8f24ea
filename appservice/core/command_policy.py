"""admin_commands: turn `!yakuba …` messages into RunCommand decisions — or polite refusals.

Permission is decided here, before any handler runs: admin-scope commands only from Yakuba
admins and only in the admin room; dm-scope commands only in the sender's DM with the bot.
Refusals are audited. Users of other homeservers never run commands (audited, no reply:
their own Yakuba answers them). The args are split from the plain body only; the command's mentions
(`m.mentions.user_ids`) and pills (user links in `formatted_body`, with the text they show) go
along in the RunCommand, so that a handler can tell which user a display name stands for.
Unknown commands get a hint, but only where Yakuba is expected to talk (admin room, DMs):
elsewhere silence beats bot noise.
"""

from __future__ import annotations

from collections.abc import Sequence

from appservice.core.commands import (
    PREFIX,
    CommandError,
    CommandTable,
    command_text,
    mentions_of,
    parse_command,
)
from appservice.core.decisions import Audit, Decision, Message, Notice, RunCommand
from appservice.core.events import Event
from appservice.core.policy import PolicyContext


class AdminCommandsPolicy:
    name = "admin_commands"

    def __init__(self, commands: CommandTable) -> None:
        self.commands = commands

    async def evaluate(self, event: Event, ctx: PolicyContext) -> Sequence[Decision]:
        if event.type != "m.room.message" or ctx.is_bot(event.sender) or event.is_edit:
            return []
        body = event.content.get("body")
        if not isinstance(body, str) or event.msgtype not in ("m.text", "m.notice") or PREFIX not in body:
            return []  # the common case: ordinary chat, decided without touching the database
        in_admin_room = event.room_id == ctx.admin_room
        dm_owner = await ctx.state.is_dm_room(event.room_id)
        talkative = in_admin_room or dm_owner == event.sender
        once = f"cmd:{event.event_id}"

        def reply(msg: Message) -> Notice:
            return Notice(room_id=event.room_id, message=msg, reply_to=event.event_id, once_key=once)

        try:
            parsed = parse_command(body)
        except CommandError as exc:
            return [reply(Message("core.bad_arguments", {"error": str(exc), "usage": "help"}))] if talkative else []
        if parsed is None:
            return []
        name, args = parsed
        if not ctx.is_local(event.sender):
            # Another homeserver is another organisation: its users run no command here,
            # whatever power they hold in a shared room. Their own Yakuba answers them (it sees
            # the same message as local), so this one stays silent and only audits.
            return [Audit(action="command_refused", actor=event.sender, room_id=event.room_id,
                          event_id=event.event_id, result="refused",
                          details={"command": name[:40], "reason": "remote_sender"},
                          once_key=f"refused:{event.event_id}")]
        spec = self.commands.get(name)
        if spec is None:
            return [reply(Message("core.unknown_command", {"name": name[:40]}))] if talkative else []

        if not self.commands.enabled(name):
            owner = self.commands.owner(name)
            return [reply(Message("core.feature_off", {"feature": owner, "command": name}))] if talkative else []
        if spec.scope == "admin":
            if not in_admin_room:
                return [reply(Message("core.refused_scope"))] if talkative else []
            if event.sender not in ctx.admins:
                return [
                    reply(Message("core.refused")),
                    Audit(action="command_refused", actor=event.sender, room_id=event.room_id,
                          event_id=event.event_id, result="refused", details={"command": name},
                          once_key=f"refused:{event.event_id}"),
                ]
        elif spec.scope == "dm" and dm_owner != event.sender:
            return []
        mentions, pills = mentions_of(event.content)
        relates = event.content.get("m.relates_to")
        if isinstance(relates, dict) and "m.in_reply_to" in relates:
            mentions = ()  # a reply mentions the replied-to sender: not a choice of target
        mentions = tuple(m for m in mentions if not ctx.is_bot(m))
        return [RunCommand(name=name, args=args, sender=event.sender, room_id=event.room_id,
                           event_id=event.event_id, scope=spec.scope, once_key=once,
                           mentions=mentions, pills=pills, text=command_text(body))]
