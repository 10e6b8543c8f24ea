"""Personal-data warnings (個人情報): My Number and other Japanese identifiers in messages, edits
and captions — a private warning with ✅-to-delete, or redaction at once; masked admin notices;
the room's local moderators when the sender is on another server. docs/pii.md.

policy.py (pure) decides; moderators.py is the effect for remote senders; the scanner itself is
the pure library appservice/lib/pii."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from appservice.core.config import Config
from appservice.core.feature import CliCommand, Feature, Parts, Runtime
from appservice.features.pii.moderators import notify_moderators
from appservice.features.pii.policy import PiiPolicy, PiiSettings


def _settings(raw: Mapping[str, Any], config: Config) -> PiiSettings:
    return PiiSettings.parse(dict(raw))


def setup(runtime: Runtime, settings: PiiSettings) -> Parts:
    return Parts(policies=[PiiPolicy(settings)], effects={"pii_notify_moderators": notify_moderators})


def _scan(argv: list[str], config: Config | None) -> int:
    from appservice.lib.pii.cli import scan_main

    return scan_main(argv, sys.stdin, sys.stdout)


FEATURE = Feature(
    name="pii",
    description="warn about personal data (My Number, cards, phone numbers…) in messages",
    section="pii",
    settings=_settings,
    enabled=lambda s: s.enabled,
    setup=setup,
    cli=(CliCommand("scan", "scan text for Japanese personal data", _scan, needs_config=False),),
)
