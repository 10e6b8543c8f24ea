"""pii: personal data (My Number and other Japanese identifiers) in messages.

For a local sender: a private warning (which kind, where, why, how to delete) with a one-step
delete (✅ on the warning), or — where the action is `redact` — removal at once and a note.
Remote senders (other municipalities) cannot be warned or redacted by us: the room's local
moderators are told instead. The admin room gets a masked preview. The data itself is never
repeated: not in warnings, logs, metrics or the admin room.
Covers text, formatted text, media captions and edits (an edit that adds a number counts),
in plain rooms and — through the E2EE bot's plaintext — in encrypted rooms.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from appservice.core.action_table import ActionTable
from appservice.core.decisions import AdminNotice, Audit, Decision, DirectNotice, Effect, Message, Offer, Redact
from appservice.core.events import Event
from appservice.core.policy import PolicyContext
from appservice.core.schema import Bool, Int, Number, Schema
from appservice.lib.pii import INFORMATIONAL, KINDS, Finding, mask_preview, scan
from appservice.matrix.links import room_link

MESSAGE_TYPES = frozenset({"m.room.message"})
# Work e-mail addresses are in every signature; corporate numbers and postal codes are public.
DEFAULT_KINDS = {"email": "off", **{k: "off" for k in INFORMATIONAL}}


@dataclass(frozen=True)
class PiiSettings:
    enabled: bool
    actions: ActionTable
    min_confidence: float
    max_chars: int
    notify_admins: bool

    @classmethod
    def parse(cls, data: dict[str, Any] | None) -> PiiSettings:
        """The `pii:` section; unknown keys and wrong types are errors naming the key."""
        v = Schema("pii", {
            "enabled": Bool(True),
            **ActionTable.fields(KINDS, "warn"),
            # Findings below this confidence are not acted on (lib/pii scores each 0..1).
            "min_confidence": Number(0.5, lo=0, hi=1),
            # Longer texts are scanned up to here (and the truncation is audited).
            "max_chars": Int(100_000, lo=1000),
            "notify_admins": Bool(True),
        }).validate(data)
        return cls(v["enabled"], ActionTable.from_values(v, DEFAULT_KINDS), v["min_confidence"],
                   v["max_chars"], v["notify_admins"])


def kind_names(kinds: Sequence[str]) -> list[Message]:
    """「マイナンバー、電話番号」 once rendered in the reader's locale."""
    return [Message(f"pii.kind.{k}") for k in kinds]


class PiiPolicy:
    name = "pii"

    def __init__(self, settings: PiiSettings) -> None:
        self.settings = settings

    def findings(self, event: Event) -> tuple[list[tuple[str, Finding]], bool]:
        """(text, finding) pairs worth acting on, and whether the text was truncated."""
        out: list[tuple[str, Finding]] = []
        truncated = False
        for text in event.text_parts():
            truncated |= len(text) > self.settings.max_chars
            for f in scan(text, max_chars=self.settings.max_chars):
                if f.confidence >= self.settings.min_confidence:
                    out.append((text, f))
        return out, truncated

    async def evaluate(self, event: Event, ctx: PolicyContext) -> Sequence[Decision]:
        s = self.settings
        if not s.enabled or event.type not in MESSAGE_TYPES or ctx.is_bot(event.sender):
            return []
        if event.encrypted and not event.decrypted:
            return []  # ciphertext: nothing to read
        found, truncated = self.findings(event)
        acted = [(t, f) for t, f in found if s.actions.action_for(f.kind, event.room_id) != "off"]
        if not acted and not truncated:
            return []
        decisions: list[Decision] = []
        if truncated:
            decisions.append(Audit(action="pii_scan_truncated", actor=event.sender, room_id=event.room_id,
                                   event_id=event.event_id, details={"max_chars": s.max_chars},
                                   once_key=f"pii_trunc:{event.event_id}"))
        if not acted:
            return decisions
        kinds = list(dict.fromkeys(f.kind for _, f in acted))
        redact = any(s.actions.action_for(k, event.room_id) == "redact" for k in kinds)
        room_name = await ctx.state.room_name(event.room_id) or Message("core.unnamed_room")  # no long id on screen
        where = {"room": room_name, "link": room_link(event.room_id, event.event_id)}
        local = ctx.is_local(event.sender)
        key = event.event_id

        if local and redact:
            decisions += [
                Redact(room_id=event.room_id, event_id=event.event_id, as_user=event.sender,
                       reason=Message("pii.redact_reason"), once_key=f"pii_redact:{key}"),
                DirectNotice(user_id=event.sender, message=Message("pii.redacted", {"kinds": kind_names(kinds),
                                                                                      **where}),
                             once_key=f"pii_dm:{key}"),
            ]
        elif local:
            decisions.append(DirectNotice(
                user_id=event.sender, message=Message("pii.warning", {"kinds": kind_names(kinds), **where}),
                offer=Offer("redact", event.sender, event.room_id, event.event_id,
                            {"reason_key": "pii.redact_reason"}),
                once_key=f"pii_dm:{key}"))
        else:
            decisions.append(Effect(kind="pii_notify_moderators", payload={
                "room_id": event.room_id, "event_id": event.event_id, "sender": event.sender,
                "kinds": kinds, "room": room_name}, once_key=f"pii_mods:{key}"))

        if s.notify_admins:
            previews = [Message("pii.preview", {"kind": Message(f"pii.kind.{f.kind}"),
                                                "masked": mask_preview(f.kind, t, f)}) for t, f in acted[:5]]
            decisions.append(AdminNotice(message=Message("pii.admin_notice", {
                "findings": previews,
                "room": room_name, "user": event.sender,
                "action": Message("pii.action.redact" if (redact and local) else "pii.action.warn"),
                "link": where["link"]}), once_key=f"pii_admin:{key}"))
        decisions.append(Audit(action="pii_detected", actor=event.sender, room_id=event.room_id,
                               event_id=event.event_id,
                               details={"kinds": kinds, "redacted": redact and local, "local": local,
                                        "edit": event.is_edit},
                               once_key=f"pii_audit:{key}"))
        return decisions
