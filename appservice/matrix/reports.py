"""Reported events (通報) through Synapse's admin API, as the visible bot (a server admin).

Why one report at a time: `GET /_synapse/admin/v1/event_reports` (the list) reads its query
parameter `user_id` as a filter on the reporter (`LIKE %user_id%`), and the appservice must send
`user_id=@_yakuba:…` to act as the bot — so the list would only ever show reports *by* the bot.
The detail endpoint reads no such filter, and report ids are consecutive (Synapse's id
generator); a report deleted by an admin leaves a hole, which the caller steps over with a
small look-ahead.
"""

from __future__ import annotations

from typing import Any

from appservice.matrix.client import MatrixClient, MatrixError, q


class EventReports:
    def __init__(self, client: MatrixClient) -> None:
        self.client = client

    async def report(self, report_id: int) -> dict[str, Any] | None:
        """`GET /_synapse/admin/v1/event_reports/<id>`: id, received_ts, room_id, event_id, user_id
        (the reporter), reason, score, sender, name, canonical_alias, event_json — or None if
        there is no such report (or its room is gone from Synapse's room statistics)."""
        try:
            return await self.client.request("GET", f"/_synapse/admin/v1/event_reports/{report_id}", retries=1)
        except MatrixError as exc:
            if exc.status in (400, 404):
                return None
            raise

    async def event(self, room_id: str, event_id: str) -> dict[str, Any] | None:
        """The event as Synapse serves it now (`GET /_synapse/admin/v1/rooms/<room>/context/<event>`,
        which an admin may read without being in the room): a deleted (redacted) event comes
        with empty content and `unsigned.redacted_because`. None if Synapse does not have it."""
        try:
            body = await self.client.request(
                "GET", f"/_synapse/admin/v1/rooms/{q(room_id)}/context/{q(event_id)}", params={"limit": "1"})
        except MatrixError as exc:
            if exc.status in (403, 404):
                return None
            raise
        event = body.get("event")
        return event if isinstance(event, dict) else None


def is_redacted(event: dict[str, Any]) -> bool:
    unsigned = event.get("unsigned")
    return (isinstance(unsigned, dict) and "redacted_because" in unsigned) or "redacted_because" in event
