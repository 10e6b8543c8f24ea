"""Forged events inside encryption: what a decrypted megolm payload may be.

A megolm plaintext is JSON its sender chose. matrix-nio overwrites event_id, sender and
origin_server_ts with the server's, but keeps every other field: a member of an encrypted room
can send an m.room.encrypted event whose plaintext says `type: m.room.member` + `state_key`,
`type: m.room.redaction` + `redacts`, or `type: m.room.name`. Synapse never authorised any of
that — to the server it is a message.

So state, redactions and memberships come only from the server-authenticated stream (the
appservice transactions). From a decrypted payload we take only what encryption is for:
message-like content (`MESSAGE_TYPES`; edits and replies are `m.relates_to` inside content),
under the server's envelope (event id, sender, timestamp, room). A payload that claims
anything else — another type, a `state_key`, a top-level `redacts` — is an incident: it enters
the pipeline as `jp.yakuba.forged` with only the claimed type (never the content), is audited
by the inbox (`forged_event`) and reported to the admin room by `ForgedEventPolicy`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from appservice.core.decisions import AdminNotice, Decision, Message
from appservice.core.events import Event
from appservice.core.policy import PolicyContext

FORGED_TYPE = "jp.yakuba.forged"
MESSAGE_TYPES = frozenset({"m.room.message", "m.reaction", "m.sticker"})
# Taken from the server's m.room.encrypted event, never from the plaintext.
ENVELOPE_KEYS = ("event_id", "sender", "origin_server_ts", "room_id")
# Claims a plaintext must not make, whatever its type (redacts at the top level: the
# redaction's target; a `redacts` inside the content of a message means nothing).
_CLAIMS = ("state_key", "redacts")
_TYPE_SHAPE = re.compile(r"[A-Za-z0-9._\-]{1,100}")


def claimed_type(value: Any) -> str:
    """The type a plaintext claims, safe to log and show (the sender chose it)."""
    if isinstance(value, str) and _TYPE_SHAPE.fullmatch(value):
        return value
    return "(invalid)"


def from_decrypted(envelope: Mapping[str, Any], plaintext: Mapping[str, Any]) -> dict[str, Any]:
    """The event to put into the inbox for one decrypted megolm event. Pure.

    `envelope`: the server's m.room.encrypted event (event_id, sender, origin_server_ts,
    room_id). `plaintext`: the decrypted payload. A message-like payload keeps its `type` and
    `content` and nothing else; any other payload becomes a `jp.yakuba.forged` event whose
    content names the claimed type and which claims it made (no content of the payload).
    """
    event: dict[str, Any] = {key: envelope.get(key) for key in ENVELOPE_KEYS}
    etype = plaintext.get("type")
    claims = [key for key in _CLAIMS if key in plaintext]
    if etype in MESSAGE_TYPES and not claims:
        event["type"] = etype
        event["content"] = plaintext.get("content")
        return event
    content: dict[str, Any] = {"claimed_type": claimed_type(etype)}
    if claims:
        content["claims"] = claims
    event["type"] = FORGED_TYPE
    event["content"] = content
    return event


def is_incident(raw: Mapping[str, Any]) -> bool:
    """An event `from_decrypted` made out of a forged payload (and nothing more)."""
    content = raw.get("content")
    return (raw.get("type") == FORGED_TYPE and isinstance(content, dict)
            and set(raw) <= {*ENVELOPE_KEYS, "type", "content"}
            and isinstance(content.get("claimed_type"), str)
            and set(content) <= {"claimed_type", "claims"})


def audit_details(content: Mapping[str, Any]) -> dict[str, Any]:
    """What the audit keeps of an incident: the claimed type and claims (never any content)."""
    details: dict[str, Any] = {"claimed_type": claimed_type(content.get("claimed_type"))}
    claims = content.get("claims")
    if isinstance(claims, list):
        details["claims"] = [c for c in claims if c in _CLAIMS]
    return details


class ForgedEventPolicy:
    """A decrypted payload that claimed state, a redaction or another type → the admin room
    hears of it (one notice per sender and room a day; every incident is in the audit)."""

    name = "forged_events"

    async def evaluate(self, event: Event, ctx: PolicyContext) -> Sequence[Decision]:
        # Only the bot's decrypted copies: a plain event of this type from the server's stream
        # is just a custom event someone sent, not an incident.
        if event.type != FORGED_TYPE or not event.decrypted:
            return []
        details = audit_details(event.content)
        name = await ctx.state.room_name(event.room_id)
        room = f"{name} ({event.room_id})" if name else event.room_id
        return [AdminNotice(
            message=Message("core.forged_event", {"room": room, "sender": event.sender,
                                                  "claimed_type": details["claimed_type"]}),
            once_key=f"forged_notice:{event.room_id}:{event.sender}:{ctx.now.date().isoformat()}",
        )]
