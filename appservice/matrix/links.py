"""Links to a message, for notices that point at it."""

from __future__ import annotations


def room_link(room_id: str, event_id: str) -> str:
    return f"https://matrix.to/#/{room_id}/{event_id}"
