"""Feature: screenshot warnings. The effect handler downloads (and decrypts) the image, runs
the analyser off the event loop, and performs what policies/screenshots.decide() returns."""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from appservice.decisions import Audit, Effect
from appservice.events import Event
from appservice.media import MediaError, download
from appservice.policies.screenshots import ScreenshotPolicy, ScreenshotSettings, decide
from appservice.screenshots import ImageLimits, ImageRefused, analyze_async
from appservice.services import Services

if TYPE_CHECKING:
    from appservice.service import YakubaService

log = structlog.get_logger(__name__)


def make_handler(settings: ScreenshotSettings):
    limits = ImageLimits(max_bytes=settings.max_bytes)

    async def check(effect: Effect, event: Event, svc: Services) -> None:
        executor = svc.extras["executor"]
        try:
            attachment = await download(svc.client, event, max_bytes=settings.max_bytes)
            verdict = await analyze_async(attachment.data, filename=attachment.filename, info=attachment.info,
                                          limits=limits, ocr=settings.ocr, threshold=settings.threshold)
        except (MediaError, ImageRefused) as exc:
            reason = getattr(exc, "reason", None) or getattr(exc, "reason_code", "refused")
            log.warning("image_not_analysed", event_id=event.event_id, room_id=event.room_id, reason=reason)
            await executor.perform([Audit(action="image_not_analysed", actor=event.sender, room_id=event.room_id,
                                          event_id=event.event_id, result=str(reason),
                                          once_key=f"shot_refused:{event.event_id}")], event, "screenshots")
            return
        decisions = decide(verdict, event, settings, effect.payload.get("room_name"),
                           svc.config.is_local(event.sender))
        log.info("image_analysed", event_id=event.event_id, score=round(verdict.score, 3),
                 screenshot=verdict.is_screenshot, decisions=len(decisions))
        await executor.perform(decisions, event, "screenshots")

    return check


def install(svc: YakubaService) -> None:
    settings = ScreenshotSettings.parse(svc.config.feature("screenshots"))
    svc.policies.append(ScreenshotPolicy(settings))
    svc.executor.on_effect("screenshot_check", make_handler(settings))
