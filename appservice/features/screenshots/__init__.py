"""Screenshot warnings (スクリーンショット): images that look like screenshots of the chat or
photos of forms with personal data — a private warning to the sender, a note for admins.
docs/screenshots.md. policy.py (pure) picks the images; check.py analyses them off the event
loop with the pure library appservice/lib/screenshots."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from appservice.core.config import Config
from appservice.core.feature import Feature, Parts, Runtime
from appservice.features.screenshots.check import make_handler
from appservice.features.screenshots.policy import ScreenshotPolicy, ScreenshotSettings


def _settings(raw: Mapping[str, Any], config: Config) -> ScreenshotSettings:
    return ScreenshotSettings.parse(dict(raw))


def setup(runtime: Runtime, settings: ScreenshotSettings) -> Parts:
    return Parts(policies=[ScreenshotPolicy(settings)], effects={"screenshot_check": make_handler(settings)})


FEATURE = Feature(
    name="screenshots",
    description="warn when an image looks like a screenshot of the chat or a photographed form",
    section="screenshots",
    settings=_settings,
    enabled=lambda s: s.enabled,
    setup=setup,
)
