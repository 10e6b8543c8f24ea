"""A direct chat with a user on another server, for a notice that may not reach them.

The executor's own DM (`Executor.dm_room`) creates the room with the invite in it: for a user
whose server refuses or cannot be reached, Synapse still creates the room and then fails, and a
replay would make another. Here the room is made first and the invite sent after it, not
retried (a server that is down must not hold up the caller); a refused invite leaves no DM
recorded (the bot leaves the room again). The caller posts through the executor (`post`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable

from appservice.core.state import StateStore
from appservice.matrix.client import MatrixClient, MatrixError, q


async def dm_remote(client: MatrixClient, state: StateStore, user_id: str, room_name: str,
                    post: Callable[[str], Awaitable[object]]) -> str | None:
    """Open (or reuse) the bot's DM with `user_id` and `post(room)` there; None if it was
    sent, else what went wrong ("403 M_FORBIDDEN", an exception's name). Never raises."""
    try:
        room = await state.dm_room(user_id)
        if room is None:
            room = await client.create_room({"preset": "trusted_private_chat", "is_direct": True, "name": room_name})
            try:
                await client.request("POST", f"/_matrix/client/v3/rooms/{q(room)}/invite",
                                     json={"user_id": user_id}, retries=0)
            except MatrixError:
                with contextlib.suppress(MatrixError):
                    await client.leave(room)
                raise
            await state.set_dm_room(user_id, room)
            await state.note_room(room, encrypted=False)
        await post(room)
    except MatrixError as exc:
        return f"{exc.status} {exc.errcode or ''}".strip()
    except Exception as exc:  # e.g. the E2EE bot not ready
        return type(exc).__name__
    return None
