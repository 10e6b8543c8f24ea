"""screenshots: images that look like screenshots of the chat, or that show personal data.

The policy itself only spots image messages (m.image, or m.file with an image mimetype) and
asks for a check; downloading, decrypting and analysing happen in the effect handler
(appservice/features/screenshots/check.py). What to do with a verdict is decided here, purely, by
`decide()`: warn the sender privately (with ✅ to delete), or redact at once; tell the admin
room the room and the signals — never the image, never OCR text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from appservice.core.action_table import ActionTable
from appservice.core.decisions import AdminNotice, Audit, Decision, DirectNotice, Effect, Message, Offer, Redact
from appservice.core.events import Event
from appservice.core.policy import PolicyContext
from appservice.core.schema import Bool, Number, Schema
from appservice.lib.pii import INFORMATIONAL
from appservice.lib.screenshots import ImageVerdict
from appservice.matrix.links import room_link


def kind_names(kinds: Sequence[str]) -> list[Message]:
    """Names of the personal-data kinds OCR found; the texts are the shared `pii.kind.*` keys."""
    return [Message(f"pii.kind.{k}") for k in kinds]

KINDS = ("screenshot", "pii_in_image")


@dataclass(frozen=True)
class ScreenshotSettings:
    enabled: bool
    actions: ActionTable
    ocr: bool
    threshold: float
    max_bytes: int

    @classmethod
    def parse(cls, data: dict[str, Any] | None) -> ScreenshotSettings:
        """The `screenshots:` section; unknown keys and wrong types are errors naming the key."""
        v = Schema("screenshots", {
            "enabled": Bool(True),
            **ActionTable.fields(KINDS, "warn"),
            "ocr": Bool(False),
            # Score from which an image counts as a screenshot (0 would flag every image).
            "threshold": Number(0.5, gt=0, hi=1),
            "max_megabytes": Number(20, gt=0, hi=200),
        }).validate(data)
        return cls(v["enabled"], ActionTable.from_values(v), v["ocr"], v["threshold"],
                   int(v["max_megabytes"] * 1024 * 1024))


def is_image_message(event: Event) -> bool:
    if event.type != "m.room.message":
        return False
    if event.msgtype == "m.image":
        return True
    info = event.content.get("info")
    mimetype = info.get("mimetype") if isinstance(info, dict) else None
    return event.msgtype == "m.file" and isinstance(mimetype, str) and mimetype.startswith("image/")


class ScreenshotPolicy:
    name = "screenshots"

    def __init__(self, settings: ScreenshotSettings) -> None:
        self.settings = settings

    async def evaluate(self, event: Event, ctx: PolicyContext) -> Sequence[Decision]:
        s = self.settings
        if not s.enabled or ctx.is_bot(event.sender) or not is_image_message(event):
            return []
        if event.encrypted and not event.decrypted:
            return []
        if all(s.actions.action_for(k, event.room_id) == "off" for k in KINDS):
            return []
        return [Effect(kind="screenshot_check", payload={"room_name": await ctx.state.room_name(event.room_id)},
                       once_key=f"shot:{event.event_id}")]


def decide(verdict: ImageVerdict, event: Event, settings: ScreenshotSettings, room_name: str | None,
           is_local: bool) -> list[Decision]:
    """What to do about one analysed image. Pure."""
    pii_kinds = [k for k, n in verdict.ocr_findings if n and k not in INFORMATIONAL]
    found: list[str] = []
    if verdict.is_screenshot and settings.actions.action_for("screenshot", event.room_id) != "off":
        found.append("screenshot")
    if pii_kinds and settings.actions.action_for("pii_in_image", event.room_id) != "off":
        found.append("pii_in_image")
    if not found:
        return []
    redact = is_local and any(settings.actions.action_for(k, event.room_id) == "redact" for k in found)
    where = {"room": room_name or Message("core.unnamed_room"), "link": room_link(event.room_id, event.event_id)}
    what = Message("shots.what.pii" if "pii_in_image" in found else "shots.what.screenshot",
                   {"kinds": kind_names(pii_kinds)})
    key = event.event_id
    out: list[Decision] = []
    if redact:
        out += [Redact(room_id=event.room_id, event_id=event.event_id, as_user=event.sender,
                       reason=Message("shots.redact_reason"), once_key=f"shot_redact:{key}"),
                DirectNotice(user_id=event.sender, message=Message("shots.redacted", {"what": what, **where}),
                             once_key=f"shot_dm:{key}")]
    elif is_local:
        out.append(DirectNotice(user_id=event.sender, message=Message("shots.warning", {"what": what, **where}),
                                offer=Offer("redact", event.sender, event.room_id, event.event_id,
                                            {"reason_key": "shots.redact_reason"}),
                                once_key=f"shot_dm:{key}"))
    signals = [s.name for s in verdict.signals if s.weight > 0][:6]
    out.append(AdminNotice(message=Message("shots.admin_notice", {
        "what": what, "room": where["room"], "user": event.sender, "score": f"{verdict.score:.2f}",
        "signals": ", ".join(signals) or "-", "link": where["link"],
        "action": Message("pii.action.redact" if redact else "pii.action.warn")}), once_key=f"shot_admin:{key}"))
    out.append(Audit(action="screenshot_detected", actor=event.sender, room_id=event.room_id,
                     event_id=event.event_id, once_key=f"shot_audit:{key}",
                     details={"score": round(verdict.score, 3), "signals": signals, "pii_kinds": pii_kinds,
                              "redacted": redact, "ocr_error": verdict.ocr_error}))
    return out
