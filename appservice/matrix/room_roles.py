"""Who moderates a room: power levels, including room version 12 creators.

In room version 12 the creators (the `m.room.create` sender and `additional_creators`) hold
"creator power" above 100 and are *not* listed in `m.room.power_levels.users`; earlier
versions list the creator at 100. Both count as moderators here.
"""

from __future__ import annotations

from typing import Any

from appservice.matrix.client import MatrixClient, q


async def room_state(client: MatrixClient, room_id: str) -> list[dict[str, Any]]:
    """Full current state through the admin API (works for rooms the bot is not in)."""
    body = await client.request("GET", f"/_synapse/admin/v1/rooms/{q(room_id)}/state")
    state = body.get("state", [])
    return state if isinstance(state, list) else []


def creators(state: list[dict[str, Any]]) -> set[str]:
    for ev in state:
        if ev.get("type") == "m.room.create" and ev.get("state_key") == "":
            content = ev.get("content") or {}
            version = str(content.get("room_version", "1"))
            if (version.isdigit() and int(version) >= 12) or version.startswith("org.matrix.hydra"):
                extra = content.get("additional_creators") or []
                return {ev.get("sender", "")} | {u for u in extra if isinstance(u, str)}
    return set()


def power_levels(state: list[dict[str, Any]]) -> dict[str, Any]:
    for ev in state:
        if ev.get("type") == "m.room.power_levels" and ev.get("state_key") == "":
            return ev.get("content") or {}
    return {}


def joined_members(state: list[dict[str, Any]]) -> set[str]:
    return {ev["state_key"] for ev in state if ev.get("type") == "m.room.member"
            and (ev.get("content") or {}).get("membership") == "join" and isinstance(ev.get("state_key"), str)}


def moderators(state: list[dict[str, Any]], min_level: int = 50) -> set[str]:
    """Joined members with at least `min_level` power, creators included."""
    pl = power_levels(state)
    users = pl.get("users") or {}
    joined = joined_members(state)
    mods = {u for u, level in users.items() if isinstance(level, int) and level >= min_level}
    return (mods | creators(state)) & joined
