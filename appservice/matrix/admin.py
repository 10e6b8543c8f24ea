"""A small client for Synapse's admin API, over `MatrixClient.request`.

Every call is made with the as_token acting as the visible bot (`@_yakuba`), which is a server
admin (see docs/architecture.md, "Identities"). Each method names the endpoint it calls; the
behaviour noted is what Synapse 1.163 does (checked in tests/integration/test_offboarding.py).

Errors are `MatrixError` as raised by the client, except where a method documents a `None`
("not found") result. Nothing here logs; callers audit what they did.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from appservice.matrix.client import MatrixClient, MatrixError, q


class SynapseAdmin:
    def __init__(self, client: MatrixClient) -> None:
        self.client = client

    # -- users -------------------------------------------------------------------------------

    async def user_info(self, user_id: str) -> dict[str, Any] | None:
        """`GET /_synapse/admin/v2/users/<user_id>`: the account (admin, deactivated, locked,
        suspended, erased, appservice_id, …), or None if there is no such local user."""
        try:
            return await self.client.request("GET", f"/_synapse/admin/v2/users/{q(user_id)}")
        except MatrixError as exc:
            if exc.status == 404:
                return None
            raise

    async def list_users(self, *, admins: bool | None = None, deactivated: bool = False,
                         limit: int = 100) -> list[dict[str, Any]]:
        """`GET /_synapse/admin/v2/users?admins=…&deactivated=…`, all pages (locked users
        included: `locked=true` means "include locked").

        This endpoint reads the masquerading parameter `user_id` as a *filter* too, so as
        `@_yakuba` it would list only `@_yakuba`; the `name` filter takes precedence, and `%`
        (an SQL LIKE pattern) matches everyone."""
        users: list[dict[str, Any]] = []
        start: str | None = "0"
        while start is not None:
            params = {"from": start, "limit": str(limit), "deactivated": str(deactivated).lower(),
                      "locked": "true", "name": "%"}
            if admins is not None:
                params["admins"] = str(admins).lower()
            body = await self.client.request("GET", "/_synapse/admin/v2/users", params=params)
            users.extend(u for u in body.get("users", []) if isinstance(u, dict))
            nxt = body.get("next_token")
            start = str(nxt) if nxt is not None else None
        return users

    async def deactivate(self, user_id: str, *, erase: bool = False) -> None:
        """`POST /_synapse/admin/v1/deactivate/<user_id>` `{"erase": …}`: devices and tokens are
        deleted, login is refused, the user is parted from every room (in the background);
        messages stay. `erase` also removes display name and avatar and marks the user erased
        (their messages are then hidden from people who join rooms later)."""
        await self.client.request("POST", f"/_synapse/admin/v1/deactivate/{q(user_id)}",
                                  json={"erase": erase})

    async def set_locked(self, user_id: str, locked: bool) -> None:
        """`PUT /_synapse/admin/v2/users/<user_id>` `{"locked": …}`. While locked, every request
        with the user's tokens gets 401 `M_USER_LOCKED` (soft logout) and login is refused.

        Careful: this endpoint *creates* the user if it does not exist, so check `user_info`
        first (this method does)."""
        if await self.user_info(user_id) is None:
            raise MatrixError(404, "M_NOT_FOUND", "no such user", "PUT", "/_synapse/admin/v2/users")
        await self.client.request("PUT", f"/_synapse/admin/v2/users/{q(user_id)}",
                                  json={"locked": locked})

    async def set_suspended(self, user_id: str, suspended: bool) -> None:
        """`PUT /_synapse/admin/v1/suspend/<user_id>` `{"suspend": …}`: a suspended user can
        read and leave rooms, but sending gets 403 `M_USER_SUSPENDED`."""
        await self.client.request("PUT", f"/_synapse/admin/v1/suspend/{q(user_id)}",
                                  json={"suspend": suspended})

    # -- devices -----------------------------------------------------------------------------

    async def devices(self, user_id: str) -> list[dict[str, Any]]:
        """`GET /_synapse/admin/v2/users/<user_id>/devices`."""
        body = await self.client.request("GET", f"/_synapse/admin/v2/users/{q(user_id)}/devices")
        return [d for d in body.get("devices", []) if isinstance(d, dict)]

    async def delete_devices(self, user_id: str, device_ids: Iterable[str]) -> None:
        """`POST /_synapse/admin/v2/users/<user_id>/delete_devices` `{"devices": [...]}`: the
        devices' access tokens stop working (401) and their pushers are removed."""
        await self.client.request("POST", f"/_synapse/admin/v2/users/{q(user_id)}/delete_devices",
                                  json={"devices": list(device_ids)})

    async def logout_all(self, user_id: str) -> int:
        """Every device of the user: `devices` then `delete_devices`. Returns how many."""
        ids = [str(d["device_id"]) for d in await self.devices(user_id) if d.get("device_id")]
        if ids:
            await self.delete_devices(user_id, ids)
        return len(ids)

    async def remove_pushers(self, user_id: str) -> int:
        """Stop push notifications to the user's phones (a locked account still gets pushes).
        Client API as the user (masquerading): `GET /_matrix/client/v3/pushers`, then
        `POST /_matrix/client/v3/pushers/set` with `"kind": null` for each. Returns how many."""
        body = await self.client.request("GET", "/_matrix/client/v3/pushers", as_user=user_id)
        count = 0
        for p in body.get("pushers", []):
            if isinstance(p, dict) and p.get("app_id") and p.get("pushkey"):
                await self.client.request("POST", "/_matrix/client/v3/pushers/set", as_user=user_id,
                                          json={"app_id": p["app_id"], "pushkey": p["pushkey"],
                                                "kind": None})
                count += 1
        return count

    # -- rooms -------------------------------------------------------------------------------

    async def joined_rooms(self, user_id: str) -> list[str]:
        """`GET /_synapse/admin/v1/users/<user_id>/joined_rooms`."""
        body = await self.client.request("GET", f"/_synapse/admin/v1/users/{q(user_id)}/joined_rooms")
        return [str(r) for r in body.get("joined_rooms", [])]

    async def room_state(self, room_id: str) -> list[dict[str, Any]]:
        """`GET /_synapse/admin/v1/rooms/<room_id>/state`: the current state events (the admin
        reads rooms it is not a member of)."""
        body = await self.client.request("GET", f"/_synapse/admin/v1/rooms/{q(room_id)}/state")
        return [e for e in body.get("state", []) if isinstance(e, dict)]

    async def make_room_admin(self, room_id: str, user_id: str) -> None:
        """`POST /_synapse/admin/v1/rooms/<room_id>/make_room_admin` `{"user_id": …}`: Synapse
        picks a joined local user with the most power (creators count in v12 rooms), sends a
        power-levels event as them giving `user_id` their level (100 when a creator acts), and
        invites `user_id` to a non-public room they are not in."""
        await self.client.request("POST", f"/_synapse/admin/v1/rooms/{q(room_id)}/make_room_admin",
                                  json={"user_id": user_id})

    async def join_user(self, room_id: str, user_id: str) -> None:
        """`POST /_synapse/admin/v1/join/<room_id>` `{"user_id": …}`: force-join a local user.
        For a non-public room Synapse first invites as the admin, which works only if the admin
        (`@_yakuba`) is in the room with invite power."""
        await self.client.request("POST", f"/_synapse/admin/v1/join/{q(room_id)}",
                                  json={"user_id": user_id})

    async def list_rooms(self, *, page: int = 500) -> list[dict[str, Any]]:
        """`GET /_synapse/admin/v1/rooms`, all pages: room_id, name, joined_members,
        joined_local_members, encryption, …"""
        rooms: list[dict[str, Any]] = []
        start = 0
        while True:
            body = await self.client.request("GET", "/_synapse/admin/v1/rooms",
                                             params={"from": str(start), "limit": str(page)})
            batch = [r for r in body.get("rooms", []) if isinstance(r, dict)]
            rooms.extend(batch)
            nxt = body.get("next_batch")
            if not batch or not isinstance(nxt, int) or nxt <= start:
                return rooms
            start = nxt

    async def room_members(self, room_id: str) -> list[str]:
        """`GET /_synapse/admin/v1/rooms/<room_id>/members`: the joined members' user ids."""
        body = await self.client.request("GET", f"/_synapse/admin/v1/rooms/{q(room_id)}/members")
        return [m for m in body.get("members", []) if isinstance(m, str)]

    async def destination(self, server: str) -> dict[str, Any] | None:
        """`GET /_synapse/admin/v1/federation/destinations/<server>`: Synapse's own record of
        sending to that server (`failure_ts` set while it is failing, `retry_last_ts`,
        `last_successful_stream_ordering`), or None if Synapse never sent to it."""
        try:
            return await self.client.request("GET", f"/_synapse/admin/v1/federation/destinations/{q(server)}",
                                             retries=0)
        except MatrixError as exc:
            if exc.status == 404:
                return None
            raise
