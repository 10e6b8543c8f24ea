"""What policies may ask for. Policies return these; only the executor acts on them.

Every decision may carry a `once_key`: the executor performs it at most once per key, ever
(kept in the database), which makes effects idempotent across crashes and re-deliveries and is
how "one reminder per off-hours period" is expressed without the policy keeping state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Message:
    """User-facing text by catalog key; rendered in the reader's locale by the executor."""

    key: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Offer:
    """Remember that a ✅ reaction by `user_id` on the sent message means `action` on `target`."""

    action: str  # e.g. "redact"
    user_id: str
    room_id: str
    event_id: str
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Decision:
    once_key: str | None = None


@dataclass(frozen=True, kw_only=True)
class Notice(Decision):
    """m.notice from the Yakuba bot in a room (encrypted rooms: sent by the E2EE bot)."""

    room_id: str
    message: Message
    reply_to: str | None = None
    offer: Offer | None = None


@dataclass(frozen=True, kw_only=True)
class DirectNotice(Decision):
    """A private notice to one local user, in the bot's DM room with them."""

    user_id: str
    message: Message
    offer: Offer | None = None


@dataclass(frozen=True, kw_only=True)
class AdminNotice(Decision):
    """A notice in the admin room. Never carries message bodies or personal data."""

    message: Message


@dataclass(frozen=True, kw_only=True)
class Redact(Decision):
    room_id: str
    event_id: str
    reason: Message | None = None
    # Local users may always redact their own events, so Yakuba redacts *as the sender*
    # (masquerading with the as_token) and needs no power in the room.
    as_user: str | None = None


@dataclass(frozen=True, kw_only=True)
class Audit(Decision):
    """A row in the audit table (and a log line)."""

    action: str
    actor: str | None = None
    target: str | None = None
    room_id: str | None = None
    event_id: str | None = None
    result: str = "ok"
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class RunCommand(Decision):
    """An admin command that passed the permission check; handled by appservice.core.commands."""

    name: str
    args: tuple[str, ...]
    sender: str
    room_id: str
    event_id: str
    scope: str
    # Who the command event says it mentions: `m.mentions.user_ids` (Yakuba's bots left out;
    # empty in a reply, where clients add the replied-to sender) …
    mentions: tuple[str, ...] = ()
    # … and its pills: (user id, the text shown for the link) from `formatted_body`, in order.
    pills: tuple[tuple[str, str], ...] = ()
    # The lines after the command line, as typed (core/commands.py `command_text`).
    text: str = ""


@dataclass(frozen=True, kw_only=True)
class Effect(Decision):
    """A feature-specific effect, handled by the handler registered for `kind` (archive a
    record, set a push rule, …). Keeps the executor closed to edits when features are added."""

    kind: str
    payload: dict[str, Any] = field(default_factory=dict)
