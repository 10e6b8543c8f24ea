"""A real E2EE client for tests: matrix-nio with python-olm, its own device and store."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from typing import Any

from nio import AsyncClient, AsyncClientConfig, LoginResponse, MatrixRoom, MegolmEvent, RoomMessage

from tests.stack import PASSWORD


class E2EEUser:
    def __init__(self, hs_url: str, name: str, server_name: str) -> None:
        self.store = tempfile.mkdtemp(prefix=f"nio-{name}-")
        self.user_id = f"@{name}:{server_name}"
        self.name = name
        self.client = AsyncClient(hs_url, self.user_id, store_path=self.store,
                                  config=AsyncClientConfig(encryption_enabled=True, store_sync_tokens=True))
        self.received: list[tuple[str, Any]] = []  # (room_id, event)
        self.undecryptable: list[tuple[str, Any]] = []
        self._task: asyncio.Task[Any] | None = None

    async def start(self) -> E2EEUser:
        resp = await self.client.login(PASSWORD, device_name=f"test-{self.name}")
        assert isinstance(resp, LoginResponse), resp
        self.client.add_event_callback(self._on_message, RoomMessage)
        self.client.add_event_callback(self._on_undecryptable, MegolmEvent)
        if self.client.should_upload_keys:
            await self.client.keys_upload()
        await self.client.sync(timeout=0, full_state=True)
        self._task = asyncio.create_task(self._loop())
        return self

    async def _loop(self) -> None:
        while True:
            try:
                await self.client.sync(timeout=1000)
                await self.client.send_to_device_messages()
                if self.client.should_upload_keys:
                    await self.client.keys_upload()
                if self.client.should_query_keys:
                    await self.client.keys_query()
                if self.client.should_claim_keys:
                    await self.client.keys_claim(self.client.get_users_for_key_claiming())
            except asyncio.CancelledError:
                raise
            except Exception:
                await asyncio.sleep(0.2)

    async def _on_undecryptable(self, room: MatrixRoom, event: MegolmEvent) -> None:
        self.undecryptable.append((room.room_id, event))

    async def _on_message(self, room: MatrixRoom, event: RoomMessage) -> None:
        self.received.append((room.room_id, event))

    async def create_encrypted_room(self, invite: list[str], name: str = "encrypted") -> str:
        resp = await self.client.room_create(name=name, invite=invite, initial_state=[{
            "type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}])
        room_id = resp.room_id
        await self.wait_room(room_id)
        return room_id

    async def wait_room(self, room_id: str, timeout: float = 15) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while room_id not in self.client.rooms:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{self.user_id} never saw {room_id}")
            await asyncio.sleep(0.1)

    async def join(self, room_id: str) -> None:
        await self.client.join(room_id)
        await self.wait_room(room_id)

    async def wait_member(self, room_id: str, user_id: str, timeout: float = 20) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            room = self.client.rooms.get(room_id)
            if room is not None and user_id in room.users and user_id not in room.invited_users:
                return
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{user_id} did not join {room_id}")
            await asyncio.sleep(0.1)

    async def send_text(self, room_id: str, body: str, **extra: Any) -> str:
        content = {"msgtype": "m.text", "body": body, **extra}
        resp = await self.client.room_send(room_id, "m.room.message", content, ignore_unverified_devices=True)
        return resp.event_id

    async def send(self, room_id: str, etype: str, content: dict[str, Any]) -> str:
        resp = await self.client.room_send(room_id, etype, content, ignore_unverified_devices=True)
        return resp.event_id

    async def send_forged(self, room_id: str, plaintext: dict[str, Any]) -> str:
        """What a malicious client can do: megolm-encrypt a plaintext of its own choosing (any
        type, a state_key, a redacts, …) and send it as an ordinary m.room.encrypted event.
        Send one normal message first so that the group session is shared with the room."""
        import uuid

        from nio import Api, RoomSendResponse

        olm = self.client.olm
        assert olm is not None
        if olm.should_share_group_session(room_id):
            await self.client.share_group_session(room_id, ignore_unverified_devices=True)
        content = olm.group_encrypt(room_id, dict(plaintext))
        method, path, data = Api.room_send(self.client.access_token, room_id, "m.room.encrypted",
                                           content, str(uuid.uuid4()))
        resp = await self.client._send(RoomSendResponse, method, path, data, (room_id,))
        assert isinstance(resp, RoomSendResponse), resp
        return resp.event_id

    def texts_from(self, sender: str, room_id: str | None = None) -> list[str]:
        return [getattr(ev, "body", "") for rid, ev in self.received
                if ev.sender == sender and (room_id is None or rid == room_id)]

    async def close(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        await self.client.close()
