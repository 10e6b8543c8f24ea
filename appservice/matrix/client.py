"""The client-server API, called with the as_token (optionally masquerading as a local user).

The as_token is a root credential: it is sent only in the Authorization header to the
configured homeserver and is never part of a URL, an exception message or a log line.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

import aiohttp
import structlog

log = structlog.get_logger(__name__)


class MatrixError(Exception):
    def __init__(self, status: int, errcode: str | None, error: str | None, method: str, path: str):
        super().__init__(f"{method} {path} -> {status} {errcode or ''} {error or ''}".strip())
        self.status = status
        self.errcode = errcode
        self.error = error

    @property
    def transient(self) -> bool:
        """A failure that may pass (Synapse overloaded or restarting, rate limited, the network):
        worth retrying later. The executor reads this to leave the event for a replay."""
        return self.status == 0 or self.status == 429 or self.status >= 500


# MatrixError.errcode of a download refused for its size (ours, not Synapse's).
TOO_LARGE = "YK_TOO_LARGE"


def q(value: str) -> str:
    """Quote one path segment (room ids, user ids and event ids contain !, @, $ and :)."""
    return quote(value, safe="")


class MatrixClient:
    def __init__(self, base_url: str, as_token: str, sender: str, *, as_sender: str | None = None,
                 session: aiohttp.ClientSession | None = None, timeout_s: float = 30.0,
                 retry_base_s: float = 0.5, retry_cap_s: float = 10.0) -> None:
        """`sender` is who calls act as by default (the bot); `as_sender` is the registration's
        own sender user, for which no `user_id` parameter is needed. Transient failures are
        retried after `retry_base_s`, doubling, each wait at most `retry_cap_s`."""
        self.base_url = base_url.rstrip("/")
        self._token = as_token
        self.sender = sender
        self.as_sender = as_sender
        self._session = session
        self._own_session = session is None
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.retry_base_s = retry_base_s
        self.retry_cap_s = retry_cap_s

    async def _sess(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
            self._own_session = True
        return self._session

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()

    def _identity(self, as_user: str | None, params: dict[str, str] | None = None
                  ) -> tuple[dict[str, str], dict[str, str]]:
        """The Authorization header and query parameters for a call acting as `as_user` (default:
        the bot); the registration's own sender needs no `user_id` parameter."""
        params = dict(params or {})
        user = as_user or self.sender
        if user != self.as_sender:
            params["user_id"] = user
        return {"Authorization": f"Bearer {self._token}"}, params

    async def request(self, method: str, path: str, *, json: Any = None,
                      params: dict[str, str] | None = None, as_user: str | None = None,
                      retries: int = 3) -> dict[str, Any]:
        """One call, tried up to `retries + 1` times while the failure is transient (HTTP 5xx,
        429 — after its `retry_after_ms` —, connection errors and timeouts), with a doubling,
        capped delay. Resending is safe: sends and redactions carry deterministic transaction
        ids, which Synapse de-duplicates. Still failing: MatrixError (`transient` says so)."""
        headers, params = self._identity(as_user, params)
        sess = await self._sess()
        delay = self.retry_base_s
        for attempt in range(retries + 1):
            try:
                async with sess.request(method, self.base_url + path, json=json, params=params,
                                        headers=headers) as resp:
                    try:
                        body = await resp.json(content_type=None)
                    except ValueError:
                        body = None
                    if resp.status < 400:
                        return body if isinstance(body, dict) else {}
                    b = body if isinstance(body, dict) else {}
                    error = MatrixError(resp.status, b.get("errcode"), b.get("error"), method, path)
                    if not error.transient or attempt >= retries:
                        raise error
                    wait = delay
                    if resp.status == 429 and isinstance(b.get("retry_after_ms"), int | float):
                        wait = max(0.0, float(b["retry_after_ms"]) / 1000)
            except (TimeoutError, aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
                if attempt >= retries:
                    raise MatrixError(0, "M_CONNECTION", type(exc).__name__, method, path) from None
                wait = delay
                error = MatrixError(0, "M_CONNECTION", type(exc).__name__, method, path)
            log.warning("matrix_retry", method=method, status=error.status, errcode=error.errcode,
                        attempt=attempt + 1)
            await asyncio.sleep(min(wait, self.retry_cap_s))
            delay = min(delay * 2, self.retry_cap_s)
        raise AssertionError("unreachable")

    # -- convenience ------------------------------------------------------------------------

    async def versions(self) -> dict[str, Any]:
        return await self.request("GET", "/_matrix/client/versions", retries=0)

    async def server_version(self) -> str:
        body = await self.request("GET", "/_synapse/admin/v1/server_version", retries=0)
        return str(body.get("server_version", "?"))

    async def send(self, room_id: str, event_type: str, content: dict[str, Any], txn_id: str,
                   as_user: str | None = None) -> str:
        # A deterministic txn id makes a resend after a crash a no-op on Synapse's side.
        body = await self.request(
            "PUT", f"/_matrix/client/v3/rooms/{q(room_id)}/send/{q(event_type)}/{q(txn_id)}",
            json=content, as_user=as_user)
        return str(body.get("event_id", ""))

    async def redact(self, room_id: str, event_id: str, txn_id: str, reason: str | None = None,
                     as_user: str | None = None) -> str:
        body = await self.request(
            "PUT", f"/_matrix/client/v3/rooms/{q(room_id)}/redact/{q(event_id)}/{q(txn_id)}",
            json={"reason": reason} if reason else {}, as_user=as_user)
        return str(body.get("event_id", ""))

    async def create_room(self, content: dict[str, Any], as_user: str | None = None) -> str:
        body = await self.request("POST", "/_matrix/client/v3/createRoom", json=content, as_user=as_user)
        return str(body["room_id"])

    async def invite(self, room_id: str, user_id: str, as_user: str | None = None) -> None:
        try:
            await self.request("POST", f"/_matrix/client/v3/rooms/{q(room_id)}/invite",
                               json={"user_id": user_id}, as_user=as_user)
        except MatrixError as exc:
            if exc.status == 403 and exc.error and "already in the room" in exc.error:
                return
            raise

    async def join(self, room_id: str, as_user: str | None = None) -> None:
        await self.request("POST", f"/_matrix/client/v3/join/{q(room_id)}", json={}, as_user=as_user)

    async def kick(self, room_id: str, user_id: str, reason: str | None = None, as_user: str | None = None) -> None:
        body: dict[str, Any] = {"user_id": user_id}
        if reason:
            body["reason"] = reason
        await self.request("POST", f"/_matrix/client/v3/rooms/{q(room_id)}/kick", json=body, as_user=as_user)

    async def leave(self, room_id: str, as_user: str | None = None) -> None:
        await self.request("POST", f"/_matrix/client/v3/rooms/{q(room_id)}/leave", json={},
                           as_user=as_user)

    async def state(self, room_id: str, event_type: str, state_key: str = "",
                    as_user: str | None = None) -> dict[str, Any] | None:
        try:
            return await self.request(
                "GET", f"/_matrix/client/v3/rooms/{q(room_id)}/state/{q(event_type)}/{q(state_key)}",
                as_user=as_user)
        except MatrixError as exc:
            if exc.status == 404:
                return None
            raise

    async def put_state(self, room_id: str, event_type: str, content: dict[str, Any],
                        state_key: str = "", as_user: str | None = None) -> str:
        body = await self.request(
            "PUT", f"/_matrix/client/v3/rooms/{q(room_id)}/state/{q(event_type)}/{q(state_key)}",
            json=content, as_user=as_user)
        return str(body.get("event_id", ""))

    async def register_appservice_user(self, localpart: str) -> None:
        """Appservice users do not exist until registered; M_USER_IN_USE means done already."""
        try:
            await self.request("POST", "/_matrix/client/v3/register",
                               json={"type": "m.login.application_service", "username": localpart,
                                     "inhibit_login": True})
        except MatrixError as exc:
            if exc.errcode != "M_USER_IN_USE":
                raise

    async def ping(self, appservice_id: str) -> dict[str, Any]:
        return await self.request("POST", f"/_matrix/client/v1/appservice/{q(appservice_id)}/ping",
                                  json={}, retries=0)

    # -- media (the one upload and the one download) ---------------------------------------------

    async def upload(self, data: bytes, content_type: str, filename: str) -> str:
        """`POST /_matrix/media/v3/upload` as the bot; returns the mxc:// URI. Not retried."""
        headers, params = self._identity(None, {"filename": filename})
        headers["Content-Type"] = content_type
        path = "/_matrix/media/v3/upload"
        sess = await self._sess()
        try:
            async with sess.post(self.base_url + path, data=data, params=params, headers=headers) as resp:
                body: Any = await resp.json(content_type=None)
                if resp.status >= 400 or not isinstance(body, dict) or "content_uri" not in body:
                    b = body if isinstance(body, dict) else {}
                    raise MatrixError(resp.status, b.get("errcode"), b.get("error"), "POST", path)
                return str(body["content_uri"])
        except aiohttp.ClientError as exc:
            raise MatrixError(0, "M_CONNECTION", type(exc).__name__, "POST", path) from None

    async def download(self, server: str, media_id: str, max_bytes: int) -> bytes:
        """The bytes of mxc://server/media_id as the bot, refused before reading past `max_bytes`.

        Raises MatrixError: the HTTP status for a non-200 answer; errcode TOO_LARGE for a file
        over the limit; errcode M_CONNECTION (status 0, `error` = the aiohttp exception's name)
        for a network failure. Not retried."""
        headers, params = self._identity(None)
        path = f"/_matrix/client/v1/media/download/{q(server)}/{q(media_id)}"
        sess = await self._sess()
        try:
            async with sess.get(self.base_url + path, headers=headers, params=params) as resp:
                if resp.status != 200:
                    raise MatrixError(resp.status, None, None, "GET", path)
                length = resp.content_length
                if length is not None and length > max_bytes:
                    raise MatrixError(resp.status, TOO_LARGE, None, "GET", path)
                chunks: list[bytes] = []
                total = 0
                async for chunk in resp.content.iter_chunked(65536):
                    total += len(chunk)
                    if total > max_bytes:
                        raise MatrixError(resp.status, TOO_LARGE, None, "GET", path)
                    chunks.append(chunk)
                return b"".join(chunks)
        except aiohttp.ClientError as exc:
            raise MatrixError(0, "M_CONNECTION", type(exc).__name__, "GET", path) from None
