"""The event as policies see it: a frozen view of a Matrix event, from either road.

Events come from Synapse's transaction stream (plain events, and ciphertext of encrypted
ones) or from an E2EE bot (the decrypted plaintext). Both become the same `Event`, keyed by
event id, so a rule cannot tell — and need not care — which road it took, except through
`encrypted` (it was encrypted on the wire) and `decrypted` (we hold its plaintext).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MAX_EVENT_BYTES = 1_048_576  # a bit over Synapse's 65,536-byte PDU limit; anything larger is junk


class MalformedEvent(ValueError):
    """The JSON is not a Matrix event we can key and route."""


@dataclass(frozen=True, slots=True)
class Event:
    event_id: str
    room_id: str
    sender: str
    type: str
    origin_server_ts: int
    content: dict[str, Any] = field(repr=False)
    state_key: str | None = None
    redacts: str | None = None
    encrypted: bool = False
    decrypted: bool = False

    @property
    def is_state(self) -> bool:
        return self.state_key is not None

    @property
    def msgtype(self) -> str | None:
        value = self.content.get("msgtype")
        return value if isinstance(value, str) else None

    @property
    def relates_to(self) -> dict[str, Any]:
        value = self.content.get("m.relates_to")
        return value if isinstance(value, dict) else {}

    @property
    def is_edit(self) -> bool:
        return self.relates_to.get("rel_type") == "m.replace"

    def text_parts(self) -> list[str]:
        """Every human-written text of a message: body, formatted body, and for edits the new
        content (an edit that adds a number counts). Captions of media are their `body`."""
        parts: list[str] = []
        sources = [self.content]
        new = self.content.get("m.new_content")
        if isinstance(new, dict):
            sources = [new]  # the edit's fallback body repeats the new text with a '* ' prefix
        for src in sources:
            for key in ("body", "formatted_body"):
                value = src.get(key)
                if isinstance(value, str) and value:
                    parts.append(value)
        return parts


def _req_str(raw: dict[str, Any], key: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value:
        raise MalformedEvent(f"missing or non-string {key!r}")
    return value


def parse_event(raw: Any, *, decrypted: bool = False) -> Event:
    """Validate the fields routing depends on; content stays as sent (policies read it defensively)."""
    if not isinstance(raw, dict):
        raise MalformedEvent("event is not an object")
    content = raw.get("content")
    if not isinstance(content, dict):
        raise MalformedEvent("missing or non-object 'content'")
    ts = raw.get("origin_server_ts", 0)
    if isinstance(ts, bool) or not isinstance(ts, int):
        raise MalformedEvent("non-integer 'origin_server_ts'")
    state_key = raw.get("state_key")
    if state_key is not None and not isinstance(state_key, str):
        raise MalformedEvent("non-string 'state_key'")
    redacts = raw.get("redacts") or content.get("redacts")
    etype = _req_str(raw, "type")
    return Event(
        event_id=_req_str(raw, "event_id"),
        room_id=_req_str(raw, "room_id"),
        sender=_req_str(raw, "sender"),
        type=etype,
        origin_server_ts=ts,
        content=content,
        state_key=state_key,
        redacts=redacts if isinstance(redacts, str) else None,
        encrypted=decrypted or etype == "m.room.encrypted",
        decrypted=decrypted,
    )
