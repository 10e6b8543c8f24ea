"""Which events count as a message someone of staff sent — pure, read from the event log.

The core writes one audit row per event that reaches the pipeline (core/event_log.py: type,
encrypted/decrypted, local, and the kind of event — a state event, its msgtype, its relation),
in the same transaction that marks the event done, once per event (a plaintext that comes after
its ciphertext was processed is a second row). Counting from those rows rides on the pipeline
without adding a step to it: exactly once, no message content, no decision per message
(bench/bench_usage.py measured an Effect per message at +20-30 % of the pipeline's time).

A message: a new post (text, file, image, sticker; encrypted too) by a local member of staff,
not a bot, anywhere but the admin room. Not edits, reactions, notices (m.notice), state events.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from appservice.features.usage.tables import CIPHERTEXT, DONE_MARK, PLAINTEXT

MESSAGE_TYPES = ("m.room.message", "m.room.encrypted", "m.sticker")
NOT_NEW = ("m.replace", "m.annotation")   # edits and reactions (their relation is in the clear)


def is_message(details: Mapping[str, Any], *, sender: str, room_id: str, admin_room: str | None,
               bots: Collection[str]) -> bool:
    kind = details.get("type")
    if kind not in MESSAGE_TYPES or details.get("state") or details.get("command") or details.get("rel") in NOT_NEW:
        return False
    if details.get("local") is not True or sender in bots or room_id == admin_room:
        return False
    return not (kind == "m.room.message" and details.get("msgtype") in (None, "m.notice"))


def dedupe_of(details: Mapping[str, Any]) -> str:
    """How the row is kept from counting an event twice (tables.add_posts)."""
    if details.get("decrypted"):
        return PLAINTEXT
    return CIPHERTEXT if details.get("encrypted") else DONE_MARK
