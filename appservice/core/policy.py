"""The policy contract: (event, context) → decisions, nothing else.

A policy reads; it never sends, writes or calls Synapse. What it may read is on the context:
the configuration, the clock, who the admins are, and read-only lookups into Yakuba's state.
Anything it wants done goes back as a Decision (appservice/core/decisions.py) for the executor.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from appservice.core.decisions import Decision
from appservice.core.events import Event

if TYPE_CHECKING:
    from appservice.core.config import Config
    from appservice.core.state import StateReader


@dataclass(frozen=True)
class PolicyContext:
    config: Config
    now: datetime
    admins: frozenset[str]
    admin_room: str | None
    state: StateReader

    def is_local(self, user_id: str) -> bool:
        return self.config.is_local(user_id)

    def is_bot(self, user_id: str) -> bool:
        return user_id in self.config.bot_user_ids


class Policy(Protocol):
    name: str

    async def evaluate(self, event: Event, ctx: PolicyContext) -> Sequence[Decision]: ...
