"""Commands: `!yakuba <name> [args…]` — parsing, the invocation a handler gets, and the table
of commands the assembled features declared (appservice.core.feature.Command).

Scopes (checked by appservice/core/command_policy.py before a handler runs):
- "admin": only in the admin room, only by Yakuba admins
- "dm": in a user's direct-message room with the bot (e.g. `!yakuba quiet off`)
- "room": in any room; the handler checks the room's power levels itself
Handlers are the effectful side: they get the invocation (services, their feature's object)
and return the reply to post; the executor posts it.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from appservice.core.decisions import Decision, Message

if TYPE_CHECKING:
    from appservice.core.feature import Command
    from appservice.core.services import Services

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
    # The running object of the feature that declared the command (its `Parts.component`).
    feature: Any = None
    # Every command of the assembled service (for `help`).
    table: CommandTable | None = None


@dataclass
class Reply:
    messages: list[Message] = field(default_factory=list)
    # Raw, already-rendered text (tables, lists built from data) in addition to messages.
    text: list[str] = field(default_factory=list)
    # Further decisions for the executor to perform after the reply (e.g. a DM to the sender
    # where the bot cannot answer in the room).
    decisions: list[Decision] = field(default_factory=list)


class CommandTable:
    """The commands of the assembled features, by name, each with the feature that declared it
    and whether that feature is on. Built once by the application; read by the command policy
    (scopes), the executor (handlers) and `help`."""

    def __init__(self) -> None:
        self._specs: dict[str, Command] = {}
        self._owner: dict[str, str] = {}
        self._enabled: dict[str, bool] = {}

    def add(self, command: Command, feature: str, enabled: bool) -> None:
        if command.name in self._specs:
            raise ValueError(f"command {command.name!r} declared by {self._owner[command.name]!r} "
                             f"and {feature!r}")
        self._specs[command.name] = command
        self._owner[command.name] = feature
        self._enabled[command.name] = enabled

    def extend(self, commands: Iterable[Command], feature: str, enabled: bool) -> None:
        for c in commands:
            self.add(c, feature, enabled)

    def get(self, name: str) -> Command | None:
        return self._specs.get(name)

    def owner(self, name: str) -> str:
        return self._owner[name]

    def enabled(self, name: str) -> bool:
        return self._enabled.get(name, False)

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._specs))

    def specs(self) -> list[Command]:
        return [self._specs[n] for n in sorted(self._specs)]


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
