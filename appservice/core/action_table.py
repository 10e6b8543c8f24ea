"""Per-kind, per-room actions shared by the detection rules (PII, screenshots).

    pii:
      action: warn                 # default for every kind: warn | redact | off
      kinds: {my_number: redact, email: off}
      rooms:
        "!abc:city-a.example.lg.jp": {action: off}           # whole room
        "!def:city-a.example.lg.jp": {kinds: {phone: off}}    # one kind in one room

A rule's section declares `ActionTable.fields(...)` among its own keys (appservice/core/schema.py)
and builds the table from the validated values with `ActionTable.from_values`. Errors name the
key: `pii.kinds.my_numbr: unknown kind …`, `pii.rooms.!abc:x.kinds.phone: expected one of …`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from appservice.core.configerror import ConfigError
from appservice.core.schema import Choice, Custom, Field, Mapping, Schema

ACTIONS = ("warn", "redact", "off")


def _kind_key(known: tuple[str, ...]) -> Field:
    def check(kind: Any, path: str) -> str:
        if known and kind not in known:
            raise ConfigError(path, f"unknown kind (known: {', '.join(known)})")
        return str(kind)

    return Custom(check)


def _kinds(known: tuple[str, ...]) -> Mapping:
    """`{kind: action}`; kinds not in `known` are errors (any kind when `known` is empty)."""
    return Mapping(Choice(options=ACTIONS), default=dict, key=_kind_key(known))


@dataclass(frozen=True)
class RoomRule:
    action: str | None = None
    kinds: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ActionTable:
    action: str
    kinds: dict[str, str]
    rooms: dict[str, RoomRule]

    def action_for(self, kind: str, room_id: str) -> str:
        room = self.rooms.get(room_id)
        if room is not None:
            if kind in room.kinds:
                return room.kinds[kind]
            if room.action is not None:
                return room.action
        return self.kinds.get(kind, self.action)

    @staticmethod
    def fields(known: tuple[str, ...], default_action: str = "warn") -> dict[str, Field]:
        """The section keys `action`, `kinds` and `rooms`, to declare among the rule's own."""
        room = Schema("room", {"action": Choice(None, ACTIONS), "kinds": _kinds(known)})
        return {"action": Choice(default_action, ACTIONS), "kinds": _kinds(known),
                "rooms": Mapping(room, default=dict)}

    @classmethod
    def from_values(cls, values: dict[str, Any], default_kinds: dict[str, str] | None = None) -> ActionTable:
        """The table from a section validated with `fields()`; `default_kinds` apply where the
        section names no action for a kind."""
        rooms = {room_id: RoomRule(action=rule["action"], kinds=rule["kinds"])
                 for room_id, rule in values["rooms"].items()}
        return cls(values["action"], {**(default_kinds or {}), **values["kinds"]}, rooms)
