"""What the effectful side (executor, command handlers, jobs) may use. Policies never get this."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from appservice.core.clock import Clock
from appservice.core.config import Config
from appservice.core.inbox import Inbox
from appservice.core.metrics import Metrics
from appservice.core.state import StateStore
from appservice.matrix.client import MatrixClient

if TYPE_CHECKING:
    from appservice.matrix.sender import Sender


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
    # The E2EE bots by user id (bots/runtime.py E2EEBot), when the bots run.
    bots: dict[str, Any] = field(default_factory=dict)
    # Read receipts (m.read) the bots see in their sync, as (room_id, user_id, event_id, ts_ms):
    # ephemeral, not events, so they bypass the inbox; from the server, never from a payload.
    # Listeners must be idempotent (both bots report the same receipt).
    receipt_listeners: list[Any] = field(default_factory=list)

    async def admins(self) -> frozenset[str]:
        return frozenset(self.config.admins) | frozenset(await self.state.db_admins())
