"""Settings of the `reports` section and the masking of reported text. Pure.

A reported message (or a reason) is shown one line long, cut at `reports.text_chars`, with every
personal identifier the scanner finds (appservice/lib/pii) replaced by its masked preview
(`マイナンバー **** **** 9018` style: the last digits only).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from appservice.core.text import one_line
from appservice.lib.pii import REPORT_THRESHOLD, mask_preview, scan

MEDIA = ("m.image", "m.file", "m.video", "m.audio", "m.sticker")
JST = ZoneInfo("Asia/Tokyo")
MODERATOR_MODES = ("off", "also", "instead")


@dataclass(frozen=True)
class ReportsSettings:
    enabled: bool = True
    poll_seconds: float = 30.0
    stale_days: int = 7
    moderators: str = "off"
    acknowledge: bool = True
    show_text: bool = True
    text_chars: int = 500
    backlog_days: int = 14
    lookahead: int = 3
    keep_days: int = 400
    tz: Any = JST


def masked(text: str, limit: int) -> tuple[str, bool]:
    """(the text on one line with personal data masked, whether anything was masked)."""
    if not text:
        return "", False
    text = text[: limit * 4]
    findings = [f for f in scan(text) if f.confidence >= REPORT_THRESHOLD]
    out = text
    for f in sorted(findings, key=lambda f: f.start, reverse=True):
        out = out[: f.start] + mask_preview(f.kind, text, f) + out[f.end:]
    return one_line(out, limit), bool(findings)
