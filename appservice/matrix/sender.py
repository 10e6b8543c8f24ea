"""Sending as a Yakuba bot: plaintext through the appservice API, or encrypted through the bot.

Nothing goes into an encrypted room unencrypted, ever: there a message goes through the E2EE
bot's own device. A bot that is not ready yet (starting, re-syncing) is waited for briefly;
then the send fails with `EncryptionUnavailable` (transient), so the decision is retried later
(the pipeline replays the event) instead of leaking a plaintext message. Without a bot for the
sending user at all (bots disabled) it fails for good. A room whose encryption cannot be
learned is not assumed to be plain either: that fails too.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Protocol

import structlog

from appservice.core.state import StateStore
from appservice.matrix.client import MatrixClient, MatrixError, q

log = structlog.get_logger(__name__)


class EncryptingBot(Protocol):
    user_id: str

    async def send_encrypted(self, room_id: str, event_type: str, content: dict[str, Any],
                             txn_id: str) -> str: ...

    def is_ready(self) -> bool: ...


class EncryptionUnavailable(Exception):
    """An encrypted room and no ready E2EE bot to send as: refused rather than sent in plaintext.
    `transient`: the bot exists but is not ready (worth retrying later)."""

    def __init__(self, room_id: str, user: str, *, transient: bool) -> None:
        super().__init__(f"no E2EE bot {'ready ' if transient else ''}to send as {user} in {room_id}")
        self.transient = transient


class Sender:
    def __init__(self, client: MatrixClient, state: StateStore, *, bot_wait_s: float = 10.0) -> None:
        self.client = client
        self.state = state
        self.bots: dict[str, EncryptingBot] = {}
        self.bot_wait_s = bot_wait_s

    def attach_bot(self, bot: EncryptingBot) -> None:
        self.bots[bot.user_id] = bot

    async def is_encrypted(self, room_id: str) -> bool:
        known = await self.state.is_encrypted(room_id)
        if known is not None:
            return known
        encrypted = False
        try:
            # The sender is a server admin: the admin API reads state of rooms it is not in.
            body = await self.client.request("GET", f"/_synapse/admin/v1/rooms/{q(room_id)}/state")
            encrypted = any(ev.get("type") == "m.room.encryption" for ev in body.get("state", []))
        except MatrixError as exc:  # not known to be plain: never guess "plain"
            log.warning("room_state_unknown", room_id=room_id, status=exc.status, error=exc.errcode)
            raise
        await self.state.note_room(room_id, encrypted=encrypted)
        return encrypted

    async def send(self, room_id: str, content: dict[str, Any], txn_id: str, *,
                   as_user: str | None = None, event_type: str = "m.room.message") -> str:
        user = as_user or self.client.sender
        if await self.is_encrypted(room_id):
            bot = self.bots.get(user)
            if bot is None:
                log.error("refused_plaintext_in_encrypted_room", room_id=room_id, user=user, reason="no_bot")
                raise EncryptionUnavailable(room_id, user, transient=False)
            if not await self._ready(bot):
                log.warning("refused_plaintext_in_encrypted_room", room_id=room_id, user=user,
                            reason="bot_not_ready")
                raise EncryptionUnavailable(room_id, user, transient=True)
            return await bot.send_encrypted(room_id, event_type, content, txn_id)
        return await self.client.send(room_id, event_type, content, txn_id, as_user=user)

    async def _ready(self, bot: EncryptingBot) -> bool:
        """Whether the bot is ready, waiting up to `bot_wait_s` for it."""
        deadline = time.monotonic() + self.bot_wait_s
        while not bot.is_ready():
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.1)
        return True
