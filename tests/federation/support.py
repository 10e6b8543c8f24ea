"""Small helpers for the federated tests (two cities, each with its own Yakuba)."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

from tests.federation_stack import City
from tests.integration.e2ee import E2EEUser
from tests.integration.mx import MatrixError, User, q, wait_for

_n = itertools.count()


def fresh(city: City, prefix: str) -> str:
    """A new user on `city` (each test its own: reminders and DMs are once per user)."""
    name = f"{prefix}{next(_n)}_{uuid.uuid4().hex[:5]}"
    city.hs.register(name)
    return name


def bot(city: City) -> str:
    return f"@_yakuba:{city.server_name}"


def archive_bot(city: City) -> str:
    return f"@_yakuba_archive:{city.server_name}"


def dm_room(city: City, user_id: str) -> str | None:
    assert city.yakuba is not None
    rows = city.yakuba.query("SELECT room_id FROM dm_rooms WHERE user_id = ?", (user_id,))
    return rows[0][0] if rows else None


async def dm_texts(city: City, user: User) -> list[str]:
    """What the city's bot said to `user` in their DM (empty until the DM exists)."""
    room = dm_room(city, user.user_id)
    if room is None:
        return []
    try:
        chunk = await user.messages(room, 100)
    except MatrixError:
        return []
    return [e["content"].get("body", "") for e in chunk
            if e.get("sender") == bot(city) and e.get("type") == "m.room.message"]


async def shared_room(a_user: User, b_user: User, **kwargs: Any) -> str:
    """A room created on a_user's server with b_user (another server) joined."""
    room = await a_user.create_room(invite=[b_user.user_id], **kwargs)

    async def invited() -> bool:
        return room in await b_user.invited_rooms()

    await wait_for(invited, timeout=30, what=f"{b_user.user_id}'s invite over federation")
    await b_user.join(room)

    async def joined() -> bool:
        body = await a_user.call("GET", f"/_matrix/client/v3/rooms/{q(room)}/joined_members")
        return b_user.user_id in body.get("joined", {})

    await wait_for(joined, timeout=30, what="the remote join seen on the room's server")
    return room


async def power(user: User, room: str) -> dict[str, int]:
    return (await user.call("GET", f"/_matrix/client/v3/rooms/{q(room)}/state/m.room.power_levels"))["users"]


async def admin_e2ee(city: City) -> tuple[E2EEUser, str]:
    """@admin of `city` in its encrypted admin room, with a device the bot has seen."""
    assert city.yakuba is not None
    room = city.yakuba.query("SELECT value FROM kv WHERE key = 'admin_room'")[0][0]
    admin = await E2EEUser(city.hs.url, "admin", city.server_name).start()
    if room not in admin.client.rooms:
        await admin.join(room)
    await admin.wait_member(room, bot(city))
    await admin_command(city, admin, room, "!yakuba status", "Synapse")
    return admin, room


async def admin_command(city: City, admin: E2EEUser, room: str, text: str, expect: str,
                        timeout: float = 40) -> str:
    before = len(admin.texts_from(bot(city), room))
    await admin.send_text(room, text)

    def found() -> str | None:
        return next((t for t in admin.texts_from(bot(city), room)[before:] if expect in t), None)

    return await wait_for(found, timeout=timeout, what=f"reply to {text!r} containing {expect!r}")


def audits(city: City, action: str) -> list[tuple[Any, ...]]:
    assert city.yakuba is not None
    return city.yakuba.query("SELECT actor, room_id, result, details FROM audit WHERE action = ?", (action,))
