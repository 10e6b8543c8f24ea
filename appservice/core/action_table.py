"""Per-kind, per-room actions shared by the detection rules (PII, screenshots).

    pii:
      action: warn                 # default for every kind: warn | redact | off
      kinds: {my_number: redact, email: off}
      rooms:
        "!abc:city-a.example.lg.jp": {action: off}           # whole room
        "!def:city-a.example.lg.jp": {kinds: {phone: off}}    # one kind in one room
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from appservice.core.configerror import ConfigError

ACTIONS = ("warn", "redact", "off")


def _action(value: Any, path: str) -> str:
    if value not in ACTIONS:
        raise ConfigError(path, f"expected one of {', '.join(ACTIONS)}, got {value!r}")
    return str(value)


def _kinds(value: Any, path: str, known: tuple[str, ...]) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(path, "expected a mapping of kind: action")
    out = {}
    for kind, action in value.items():
        if known and kind not in known:
            raise ConfigError(f"{path}.{kind}", f"unknown kind (known: {', '.join(known)})")
        out[str(kind)] = _action(action, f"{path}.{kind}")
    return out


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

    @classmethod
    def parse(cls, data: dict[str, Any], section: str, known: tuple[str, ...],
              default_action: str = "warn", default_kinds: dict[str, str] | None = None) -> ActionTable:
        kinds = dict(default_kinds or {})
        kinds.update(_kinds(data.get("kinds"), f"{section}.kinds", known))
        rooms_raw = data.get("rooms") or {}
        if not isinstance(rooms_raw, dict):
            raise ConfigError(f"{section}.rooms", "expected a mapping of room id: settings")
        rooms = {}
        for room_id, rule in rooms_raw.items():
            path = f"{section}.rooms[{room_id!r}]"
            if not isinstance(rule, dict):
                raise ConfigError(path, "expected a mapping with action and/or kinds")
            rooms[str(room_id)] = RoomRule(
                action=_action(rule["action"], f"{path}.action") if "action" in rule else None,
                kinds=_kinds(rule.get("kinds"), f"{path}.kinds", known))
        return cls(_action(data.get("action", default_action), f"{section}.action"), kinds, rooms)
