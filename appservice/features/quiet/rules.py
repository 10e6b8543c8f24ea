"""Push rules Yakuba keeps per local user, and the plan that brings a user's rules there. Pure.

Layout (override kind, most important first; all ours start with `jp.yakuba.quiet`):

    jp.yakuba.quiet.emergency.<n>   always  m.room.message, body has the marker    → notify, sound, highlight
    jp.yakuba.quiet.alert           always  m.room.encrypted sent by @_yakuba       → notify, sound
    jp.yakuba.quiet.exempt.<h>.m|e  quiet   m.room.message / m.room.encrypted in an
                                            exempt room the user is joined to       → notify, sound
    jp.yakuba.quiet                 quiet   every event                             → nothing (silent)
    … the user's own override rules, then Synapse's defaults (.m.rule.*)

"always" rules exist while the user takes part in quiet hours; "quiet" rules exist only during
the user's off hours (created at the boundary, deleted at the next). Synapse evaluates
override rules in list order and stops at the first match, so an emergency or an alert in an
encrypted room gets through, and everything else is silent. Our block is kept above the
user's own override rules (Element's "mute room" rules are override rules too).

Synapse's patterns are globs with only `*` and `?`. A `content.body` pattern matches at a
word boundary — `緊急*` matches a body that starts with 緊急 or has it after a space or
punctuation (so also 【緊急】) — never in the middle of a Japanese word. A pattern for any
other key must match the whole value. There is no OR and no NOT: hence one rule per marker
and per event type.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

PREFIX = "jp.yakuba.quiet"
QUIET_ID = PREFIX
ALERT_ID = f"{PREFIX}.alert"
EMERGENCY_ID = f"{PREFIX}.emergency"
EXEMPT_ID = f"{PREFIX}.exempt"

SILENT: list[Any] = []
NOTIFY_SOUND: list[Any] = ["notify", {"set_tweak": "sound", "value": "default"}]
NOTIFY_URGENT: list[Any] = ["notify", {"set_tweak": "sound", "value": "default"},
                            {"set_tweak": "highlight", "value": True}]


def is_ours(rule_id: str) -> bool:
    return rule_id == QUIET_ID or rule_id.startswith(PREFIX + ".")


def _match(key: str, pattern: str) -> dict[str, str]:
    return {"kind": "event_match", "key": key, "pattern": pattern}


@dataclass(frozen=True)
class Rule:
    rule_id: str
    conditions: tuple[dict[str, Any], ...]
    actions: tuple[Any, ...]

    def body(self) -> dict[str, Any]:
        return {"conditions": [dict(c) for c in self.conditions], "actions": list(self.actions)}

    def same_as(self, current: dict[str, Any]) -> bool:
        """Does the rule Synapse returned have our conditions and actions?"""
        return (_canon(current.get("conditions")) == _canon(list(self.conditions))
                and _canon(current.get("actions")) == _canon(list(self.actions)))


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def marker_patterns(markers: Sequence[str]) -> list[str]:
    """One body glob per marker, without the ones another marker already covers: 「緊急*」
    matches wherever 「【緊急】*」 would (【 is not a word character), so 【緊急】 needs no rule."""
    def covers(other: str, marker: str) -> bool:
        at = marker.find(other)
        while at >= 0:
            if at == 0 or not (marker[at - 1].isalnum() or marker[at - 1] == "_"):
                return True
            at = marker.find(other, at + 1)
        return False

    out: list[str] = []
    for marker in markers:
        if any(o != marker and covers(o, marker) for o in markers):
            continue
        out.append(marker + "*")
    return out


def room_hash(room_id: str) -> str:
    return hashlib.sha256(room_id.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class RuleBook:
    """The rules for one configuration; `for_user` picks a user's list."""

    emergency: tuple[Rule, ...]
    alert: Rule
    silencer: Rule = field(default_factory=lambda: Rule(QUIET_ID, (), tuple(SILENT)))

    @classmethod
    def build(cls, markers: Sequence[str], alert_sender: str) -> RuleBook:
        emergency = tuple(
            Rule(f"{EMERGENCY_ID}.{i}", (_match("type", "m.room.message"), _match("content.body", pattern)),
                 tuple(NOTIFY_URGENT))
            for i, pattern in enumerate(marker_patterns(markers)))
        alert = Rule(ALERT_ID, (_match("type", "m.room.encrypted"), _match("sender", alert_sender)),
                     tuple(NOTIFY_SOUND))
        return cls(emergency, alert)

    @staticmethod
    def exempt(room_id: str) -> tuple[Rule, Rule]:
        h = room_hash(room_id)
        return (Rule(f"{EXEMPT_ID}.{h}.m", (_match("room_id", room_id), _match("type", "m.room.message")),
                     tuple(NOTIFY_SOUND)),
                Rule(f"{EXEMPT_ID}.{h}.e", (_match("room_id", room_id), _match("type", "m.room.encrypted")),
                     tuple(NOTIFY_SOUND)))

    def for_user(self, *, participates: bool, quiet: bool, exempt_rooms: Iterable[str] = ()) -> list[Rule]:
        """The user's rules in evaluation order; [] for a user who opted out (or a disabled feature)."""
        if not participates:
            return []
        rules = [*self.emergency, self.alert]
        if quiet:
            for room in sorted(set(exempt_rooms)):
                rules.extend(self.exempt(room))
            rules.append(self.silencer)
        return rules


def signature(rules: Sequence[Rule]) -> str:
    """Stable id of a desired rule list (what the reconciler records per user)."""
    blob = _canon([[r.rule_id, list(r.conditions), list(r.actions)] for r in rules])
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Op:
    """One client-API call: `put` (create or rewrite, placed `after` a rule or at the top),
    `delete`, or `enable`."""

    kind: str
    rule_id: str
    body: dict[str, Any] | None = None
    after: str | None = None

    def __str__(self) -> str:
        return f"{self.kind} {self.rule_id}" + (f" after {self.after}" if self.after else "")


def plan(current: Sequence[Any], desired: Sequence[Rule]) -> list[Op]:
    """Calls that turn `current` (the user's override rules as Synapse lists them, in evaluation
    order) into: `desired` first among the user-defined rules, in order, enabled, with our
    definitions; none of our other rules. Rules that are not ours are never named in a call.

    Placement: the first desired rule is PUT without position (Synapse puts a new or rewritten
    rule at the top of the user's rules), each next one `after` its predecessor."""
    user_rules = [r for r in current if isinstance(r, dict) and isinstance(r.get("rule_id"), str)
                  and not r["rule_id"].startswith(".")]
    by_id = {r["rule_id"]: r for r in user_rules}
    wanted = {d.rule_id for d in desired}
    ops = [Op("delete", r["rule_id"]) for r in user_rules if is_ours(r["rule_id"]) and r["rule_id"] not in wanted]
    order = [r["rule_id"] for r in user_rules if not (is_ours(r["rule_id"]) and r["rule_id"] not in wanted)]
    for i, rule in enumerate(desired):
        cur = by_id.get(rule.rule_id)
        if i < len(order) and order[i] == rule.rule_id and cur is not None and rule.same_as(cur):
            if cur.get("enabled") is False:
                ops.append(Op("enable", rule.rule_id))
            continue
        ops.append(Op("put", rule.rule_id, rule.body(), after=desired[i - 1].rule_id if i else None))
        if cur is not None and cur.get("enabled") is False:
            ops.append(Op("enable", rule.rule_id))  # a rewrite keeps the enabled flag as it was
        if rule.rule_id in order:
            order.remove(rule.rule_id)
        order.insert(i, rule.rule_id)
    return ops
