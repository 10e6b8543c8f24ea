"""The screenshot check: the effect handler downloads (and decrypts) the image, runs the
analyser off the event loop, and returns what policy.decide() says, for the executor."""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from appservice.core.decisions import Audit, Decision, Effect
from appservice.core.events import Event
from appservice.core.feature import EffectHandler
from appservice.core.services import Services
from appservice.features.screenshots.policy import ScreenshotSettings, decide
from appservice.lib.screenshots import ImageLimits, ImageRefused, analyze_async
from appservice.matrix.media import MediaError, download

log = structlog.get_logger(__name__)


def make_handler(settings: ScreenshotSettings) -> EffectHandler:
    limits = ImageLimits(max_bytes=settings.max_bytes)

    async def check(effect: Effect, event: Event, svc: Services) -> Sequence[Decision]:
        try:
            attachment = await download(svc.client, event, max_bytes=settings.max_bytes)
            verdict = await analyze_async(attachment.data, filename=attachment.filename, info=attachment.info,
                                          limits=limits, ocr=settings.ocr, threshold=settings.threshold)
        except (MediaError, ImageRefused) as exc:
            reason = getattr(exc, "reason", None) or getattr(exc, "reason_code", "refused")
            log.warning("image_not_analysed", event_id=event.event_id, room_id=event.room_id, reason=reason)
            return [Audit(action="image_not_analysed", actor=event.sender, room_id=event.room_id,
                          event_id=event.event_id, result=str(reason), once_key=f"shot_refused:{event.event_id}")]
        decisions = decide(verdict, event, settings, effect.payload.get("room_name"),
                           svc.config.is_local(event.sender))
        log.info("image_analysed", event_id=event.event_id, score=round(verdict.score, 3),
                 screenshot=verdict.is_screenshot, decisions=len(decisions))
        return decisions

    return check

