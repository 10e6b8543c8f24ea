"""What the effectful side (executor, command handlers, jobs) may use. Policies never get this."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from appservice.clock import Clock
from appservice.config import Config
from appservice.inbox import Inbox
from appservice.matrix.client import MatrixClient
from appservice.metrics import Metrics
from appservice.state import StateStore

if TYPE_CHECKING:
    from appservice.sender import Sender


@dataclass
class Services:
    config: Config
    clock: Clock
    client: MatrixClient
    state: StateStore
    inbox: Inbox
    metrics: Metrics
    sender: Sender
    started_at: float = field(default_factory=time.monotonic)
    # Feature objects (quiet hours, offboarding jobs, archive, bots) register themselves here.
    extras: dict[str, Any] = field(default_factory=dict)

    async def admins(self) -> frozenset[str]:
        return frozenset(self.config.admins) | frozenset(await self.state.db_admins())
