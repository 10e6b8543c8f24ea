"""Links to a message, for notices that point at it.

The link is resolved when the notice is rendered (core/formatting.py): it points at the
organisation's own web client (`links.permalink`) and shows 「該当メッセージ」, never a raw
matrix.to URL.
"""

from __future__ import annotations

from appservice.core.formatting import EventLink


def room_link(room_id: str, event_id: str) -> EventLink:
    return EventLink(room_id, event_id)
