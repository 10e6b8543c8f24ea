"""Sending as a Yakuba bot: plaintext through the appservice API, or encrypted through the bot.

In an encrypted room a plaintext notice would be shown with a warning (or hidden) by clients,
so it goes through the E2EE bot's own device when one is attached. Without one (bots
disabled) it falls back to plaintext and says so in the log: our notices never carry message
content or personal data, so nothing leaks — it only looks worse.
"""

from __future__ import annotations

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


class Sender:
    def __init__(self, client: MatrixClient, state: StateStore) -> None:
        self.client = client
        self.state = state
        self.bots: dict[str, EncryptingBot] = {}

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
        except MatrixError as exc:
            log.warning("room_state_unknown", room_id=room_id, error=exc.errcode)
            return False
        await self.state.note_room(room_id, encrypted=encrypted)
        return encrypted

    async def send(self, room_id: str, content: dict[str, Any], txn_id: str, *,
                   as_user: str | None = None, event_type: str = "m.room.message") -> str:
        user = as_user or self.client.sender
        if await self.is_encrypted(room_id):
            bot = self.bots.get(user)
            if bot is not None and bot.is_ready():
                return await bot.send_encrypted(room_id, event_type, content, txn_id)
            log.warning("sending_plaintext_in_encrypted_room", room_id=room_id, user=user)
        return await self.client.send(room_id, event_type, content, txn_id, as_user=user)
