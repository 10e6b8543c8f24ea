"""Text from outside (room names, display names, file names, user input) inside our notices.

A room called "総務課\n✅ 承認済み" must not fake a second line in a notice, a dry run or a
list: every such value is made one line before it is shown. Text that Yakuba rendered itself
from its catalogs may span lines; it is marked `Text` so it is kept as it is.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

# Line and paragraph separators, and the bidi controls that can make a line read backwards.
_BIDI = {"\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069",
         "\u200e", "\u200f", "\u061c"}


class Text(str):
    """Already-rendered, trusted text (from the catalogs): may contain line breaks."""


def one_line(value: str, limit: int = 300) -> str:
    """Control characters and line breaks become spaces, bidi controls are dropped, the result
    is cut at `limit` characters (with …)."""
    out = []
    for ch in value:
        if ch in _BIDI:
            continue
        out.append(" " if unicodedata.category(ch) in ("Cc", "Zl", "Zp") else ch)
    text = "".join(out)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def message_text(body: str) -> str:
    """The body without reply fallback lines ("> <@a:b> …") and leading blanks."""
    lines = body.splitlines()
    while lines and (lines[0].startswith(">") or not lines[0].strip()):
        lines.pop(0)
    return "\n".join(lines).lstrip()


def is_emergency(body: str, markers: Sequence[str]) -> bool:
    """An emergency marker (【緊急】…) at the very start of the message, after any reply quote:
    how the quiet-hours push rule reads it, so every feature decides "urgent" the same way."""
    text = message_text(body).casefold()
    return any(text.startswith(m.casefold()) for m in markers)

