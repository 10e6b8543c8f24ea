"""A small Matrix client for tests (plain rooms), over aiohttp. E2EE tests use matrix-nio."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import aiohttp

from tests.stack import PASSWORD


def q(v: str) -> str:
    return quote(v, safe="")


class MatrixError(Exception):
    def __init__(self, status: int, body: dict[str, Any]):
        super().__init__(f"{status} {body}")
        self.status = status
        self.errcode = body.get("errcode")
        self.body = body


class User:
    def __init__(self, hs_url: str, user_id: str, token: str, device_id: str | None = None) -> None:
        self.hs_url = hs_url
        self.user_id = user_id
        self.token = token
        self.device_id = device_id

    @classmethod
    async def login(cls, hs_url: str, name: str, password: str = PASSWORD) -> User:
        async with aiohttp.ClientSession() as s, s.post(f"{hs_url}/_matrix/client/v3/login", json={
                "type": "m.login.password", "identifier": {"type": "m.id.user", "user": name},
                "password": password}) as r:
            body = await r.json()
            if r.status != 200:
                raise MatrixError(r.status, body)
            return cls(hs_url, body["user_id"], body["access_token"], body.get("device_id"))

    async def call(self, method: str, path: str, json: Any = None, params: dict | None = None) -> dict[str, Any]:
        async with aiohttp.ClientSession() as s, s.request(
                method, self.hs_url + path, json=json, params=params,
                headers={"Authorization": f"Bearer {self.token}"}) as r:
            body = await r.json(content_type=None)
            if r.status >= 400:
                raise MatrixError(r.status, body or {})
            return body or {}

    async def create_room(self, *, invite: list[str] | None = None, encrypted: bool = False,
                          name: str | None = None, **extra: Any) -> str:
        content: dict[str, Any] = {"preset": "private_chat", "invite": invite or []}
        if name:
            content["name"] = name
        if encrypted:
            content["initial_state"] = [{"type": "m.room.encryption", "state_key": "",
                                         "content": {"algorithm": "m.megolm.v1.aes-sha2"}}]
        content.update(extra)
        return (await self.call("POST", "/_matrix/client/v3/createRoom", content))["room_id"]

    async def join(self, room_id: str) -> None:
        await self.call("POST", f"/_matrix/client/v3/join/{q(room_id)}", {})

    async def send_text(self, room_id: str, body: str, **extra: Any) -> str:
        content = {"msgtype": "m.text", "body": body, **extra}
        return await self.send(room_id, "m.room.message", content)

    async def send(self, room_id: str, etype: str, content: dict[str, Any]) -> str:
        res = await self.call("PUT", f"/_matrix/client/v3/rooms/{q(room_id)}/send/{q(etype)}/{uuid.uuid4().hex}",
                              content)
        return res["event_id"]

    async def react(self, room_id: str, event_id: str, key: str = "✅") -> str:
        return await self.send(room_id, "m.reaction", {"m.relates_to": {
            "rel_type": "m.annotation", "event_id": event_id, "key": key}})

    async def messages(self, room_id: str, limit: int = 50) -> list[dict[str, Any]]:
        res = await self.call("GET", f"/_matrix/client/v3/rooms/{q(room_id)}/messages",
                              params={"dir": "b", "limit": str(limit)})
        return res.get("chunk", [])

    async def event(self, room_id: str, event_id: str) -> dict[str, Any]:
        return await self.call("GET", f"/_matrix/client/v3/rooms/{q(room_id)}/event/{q(event_id)}")

    async def joined_rooms(self) -> list[str]:
        return (await self.call("GET", "/_matrix/client/v3/joined_rooms"))["joined_rooms"]

    async def invited_rooms(self) -> list[str]:
        res = await self.call("GET", "/_matrix/client/v3/sync", params={"timeout": "0"})
        return list(res.get("rooms", {}).get("invite", {}).keys())


async def wait_for(check: Callable[[], Awaitable[Any]] | Callable[[], Any], timeout: float = 15.0,
                   interval: float = 0.1, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if asyncio.iscoroutine(last):
            last = await last
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")
