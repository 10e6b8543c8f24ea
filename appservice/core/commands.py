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
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from appservice.core.decisions import Decision, Message

if TYPE_CHECKING:
    from appservice.core.feature import Command
    from appservice.core.services import Services

PREFIX = "!yakuba"
MAX_COMMAND_CHARS = 8000  # a broadcast (title + text) may be up to broadcast.max_chars


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
    # The users the command event mentions (`m.mentions.user_ids`) and its pills (user id,
    # shown text), as carried by RunCommand: the args are split from the plain body only, and a
    # pill's shown text is a display name that may look like somebody else's user id.
    mentions: tuple[str, ...] = ()
    pills: tuple[tuple[str, str], ...] = ()
    # The lines after the command line (`command_text`): a broadcast's title and body.
    text: str = ""



async def command_place(inv: Invocation) -> str:
    """Where a command was typed: "admin" (the admin room), "dm" (the sender's own DM with
    the bot) or "other" (anywhere else, where Yakuba stays quiet)."""
    if inv.room_id == await inv.services.state.admin_room():
        return "admin"
    if await inv.services.state.is_dm_room(inv.room_id) == inv.sender:
        return "dm"
    return "other"


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
    # The first line is the command; later lines are free text for the commands that take some
    # (a broadcast's title and body: `command_text`), so quotes there are not shell syntax.
    first = text.splitlines()[0]
    try:
        parts = shlex.split(first[len(PREFIX):])
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    if not parts:
        return "help", ()
    return parts[0].lower(), tuple(parts[1:])


def command_text(body: str) -> str:
    """The lines after a command's first line (reply fallbacks dropped), as typed."""
    lines = [ln for ln in body.strip().splitlines() if not ln.startswith("> ")]
    return "\n".join(lines[1:]).strip() if lines else ""


# -- mentions ---------------------------------------------------------------------------------

MAX_PILLS = 50
MAX_PILL_TEXT = 200


def pill_target(href: str) -> str | None:
    """The user id a link points at: `https://matrix.to/#/@user:server` (percent-encoded or
    not, with `?via=…`) or `matrix:u/user:server`; None for anything else."""
    href = href.strip()
    if href.startswith("https://matrix.to/#/"):
        target = unquote(href[len("https://matrix.to/#/"):].split("?", 1)[0])
    elif href.startswith("matrix:u/"):
        target = "@" + unquote(href[len("matrix:u/"):].split("?", 1)[0])
    else:
        return None
    target = target.strip()
    if not target.startswith("@") or ":" not in target or any(c.isspace() for c in target):
        return None
    return target[:255]


class _Pills(HTMLParser):
    """The user links of a message, outside any `<mx-reply>` (the quoted message of a reply)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.pills: list[tuple[str, str]] = []
        self._reply = 0
        self._link: str | None = None
        self._depth = 0
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "mx-reply":
            self._reply += 1
        elif tag == "a":
            self._depth += 1
            if self._depth == 1 and not self._reply:
                self._link = pill_target(dict(attrs).get("href") or "")
                self._text = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "mx-reply":
            self._reply = max(0, self._reply - 1)
        elif tag == "a" and self._depth:
            self._depth -= 1
            if self._depth == 0 and self._link is not None:
                if len(self.pills) < MAX_PILLS:
                    self.pills.append((self._link, "".join(self._text).strip()[:MAX_PILL_TEXT]))
                self._link = None

    def handle_data(self, data: str) -> None:
        if self._link is not None:
            self._text.append(data)


def mentions_of(content: Mapping[str, object]) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """(`m.mentions.user_ids`, pills from the HTML `formatted_body`) of a message's content."""
    mentions: list[str] = []
    declared = content.get("m.mentions")
    if isinstance(declared, Mapping):
        ids = declared.get("user_ids")
        if isinstance(ids, list):
            mentions = [i for i in ids if isinstance(i, str) and i.startswith("@")][:MAX_PILLS]
    pills: list[tuple[str, str]] = []
    html = content.get("formatted_body")
    if content.get("format") == "org.matrix.custom.html" and isinstance(html, str):
        parser = _Pills()
        try:
            parser.feed(html[:MAX_COMMAND_CHARS * 4])
            parser.close()
        except Exception:  # malformed HTML: whatever was read so far
            pass
        pills = parser.pills
    return tuple(dict.fromkeys(mentions)), tuple(pills)
