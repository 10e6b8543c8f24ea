"""Admin commands: `!yakuba <name> [args…]`.

Each command is registered with the scope it may run in:
- "admin": only in the admin room, only by Yakuba admins (checked by the admin_commands policy)
- "dm": in a user's direct-message room with the bot (e.g. `!yakuba quiet off`)
- "room": in any room; the handler checks the room's power levels itself
Handlers are the effectful side: they receive Services and return the reply to post.
"""

from __future__ import annotations

import shlex
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from appservice.decisions import Message
from appservice.services import Services

PREFIX = "!yakuba"
MAX_COMMAND_CHARS = 4000


class CommandError(Exception):
    """A user error: reported back as `core.bad_arguments` with the command's usage."""


@dataclass(frozen=True)
class Invocation:
    name: str
    args: tuple[str, ...]
    sender: str
    room_id: str
    event_id: str
    services: Services


@dataclass
class Reply:
    messages: list[Message] = field(default_factory=list)
    # Raw, already-rendered text (tables, lists built from data) in addition to messages.
    text: list[str] = field(default_factory=list)


Handler = Callable[[Invocation], Awaitable[Reply]]


@dataclass(frozen=True)
class CommandSpec:
    name: str
    usage: str
    summary_key: str
    scope: str
    handler: Handler


REGISTRY: dict[str, CommandSpec] = {}


def command(name: str, *, usage: str, summary_key: str, scope: str = "admin") -> Callable[[Handler], Handler]:
    def deco(fn: Handler) -> Handler:
        REGISTRY[name] = CommandSpec(name, usage, summary_key, scope, fn)
        return fn

    return deco


def parse_command(body: str) -> tuple[str, tuple[str, ...]] | None:
    """`!yakuba offboard @a:b --at 2027-03-31T17:15` → ("offboard", ("@a:b", "--at", …)).

    Returns None when the text is not addressed to Yakuba; raises CommandError when it is but
    cannot be split (unbalanced quotes, too long)."""
    text = body.strip()
    # Drop reply fallback lines ("> <@user> …") that some clients prepend.
    lines = [ln for ln in text.splitlines() if not ln.startswith("> ")]
    text = "\n".join(lines).strip()
    if not (text == PREFIX or text.startswith(PREFIX + " ") or text.startswith(PREFIX + "\n")):
        return None
    if len(text) > MAX_COMMAND_CHARS:
        raise CommandError(f"command longer than {MAX_COMMAND_CHARS} characters")
    try:
        parts = shlex.split(text[len(PREFIX):])
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    if not parts:
        return "help", ()
    return parts[0].lower(), tuple(parts[1:])
