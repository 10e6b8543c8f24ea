"""A feature is one declared value: `FEATURE = Feature(...)` in `appservice/features/<name>/__init__.py`.

The declaration says everything the service needs to know about a feature — its name and what
it is for, its config section and how that section is validated, its commands (with scopes and
subcommands), its tables, its CLI subcommands — and one `setup` function that, given the
validated settings and the runtime, returns the live parts: policies, effect handlers, ✅-offer
actions, background tasks, start/stop hooks and the feature's own object (handed to its
command handlers as `inv.feature`).

Nothing is registered by importing a module: the application assembles the features it is
given (appservice/app/assembly.py) into one `Registry`. A feature that is switched off in the
config still declares its commands; they answer that the feature is off.
Models: Draupnir's `describeProtection` (a named, described, configurable unit) and maubot's
`Plugin`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from appservice.core.commands import Invocation, Reply
    from appservice.core.config import Config
    from appservice.core.db import Database
    from appservice.core.decisions import Decision, Effect
    from appservice.core.events import Event
    from appservice.core.executor import Executor
    from appservice.core.policy import Policy
    from appservice.core.services import Services
    from appservice.core.state import OfferRow

Scope = Literal["admin", "dm", "room"]
Handler = Callable[["Invocation"], Awaitable["Reply"]]
# An effect handler performs one feature effect and may return follow-up decisions, which the
# executor performs next (e.g. the screenshot check returns the warning to send).
EffectHandler = Callable[["Effect", "Event", "Services"], Awaitable["Sequence[Decision] | None"]]
# A ✅ on a message that offered an action: handler(offer, reaction event, services).
OfferHandler = Callable[["OfferRow", "Event", "Services"], Awaitable["Sequence[Decision] | None"]]
# Background tasks and start/stop hooks: async functions of no arguments (a coroutine, so the
# service can make an asyncio task of it).
Task = Callable[[], Coroutine[Any, Any, None]]


@dataclass(frozen=True)
class Command:
    """`!yakuba <name> …`. Scopes: "admin" — the admin room, Yakuba admins only (checked before
    the handler runs); "dm" — the sender's DM with the bot; "room" — any room, the handler
    checks the room's power levels itself."""

    name: str
    usage: str
    summary_key: str
    handler: Handler
    scope: Scope = "admin"
    subcommands: tuple[str, ...] = ()


@dataclass(frozen=True)
class CliCommand:
    """`yakuba <name> …` from the shell: main(argv, config) → exit code. The subcommand parses
    its own arguments; the application loads yakuba.yaml for it, unless `needs_config=False`
    (then config is None, e.g. `scan`)."""

    name: str
    help: str
    main: Callable[[list[str], Config | None], int]
    needs_config: bool = True


@dataclass(frozen=True)
class Runtime:
    """What a feature's setup may use: the configuration, the database (for its own tables),
    the services and the executor — the one place its effects happen."""

    config: Config
    db: Database
    services: Services
    executor: Executor


@dataclass
class Parts:
    """What a running feature contributes. Policies run in the order features are assembled."""

    component: Any = None
    policies: list[Policy] = field(default_factory=list)
    effects: dict[str, EffectHandler] = field(default_factory=dict)
    offer_actions: dict[str, OfferHandler] = field(default_factory=dict)
    background: list[Task] = field(default_factory=list)
    on_started: list[Task] = field(default_factory=list)
    on_stopping: list[Task] = field(default_factory=list)


def _always(settings: Any) -> bool:
    return True


@dataclass(frozen=True)
class Feature:
    name: str
    description: str
    setup: Callable[[Runtime, Any], Parts]
    # The yakuba.yaml section this feature owns (None: it has none) and its validator:
    # settings(raw section, whole config) → settings object, raising ConfigError naming the key.
    section: str | None = None
    settings: Callable[[Mapping[str, Any], Config], Any] = lambda raw, config: raw
    enabled: Callable[[Any], bool] = _always
    commands: tuple[Command, ...] = ()
    tables: tuple[str, ...] = ()
    cli: tuple[CliCommand, ...] = ()
    # When someone stops being a Yakuba admin: cancel what they asked for that has not run yet
    # (plans awaiting confirmation, scheduled jobs…), in this feature's tables; returns how many.
    # Works on the database alone, so `yakuba admin remove` can run it with the service stopped.
    admin_removed: Callable[[Database, str], Awaitable[int]] | None = None
    # Tables whose rows name an event (column event_id) this feature will read again from the
    # inbox: the inbox keeps that event's content while such a row exists (docs/data-kept.md).
    content_holds: tuple[str, ...] = ()


def need_config(config: Config | None) -> Config:
    """For CLI subcommands declared with needs_config=True (the application always passes one)."""
    if config is None:
        raise RuntimeError("this subcommand needs yakuba.yaml")
    return config
