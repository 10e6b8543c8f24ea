"""Previews that let a person recognise which value was meant without repeating it."""

from __future__ import annotations

from .finding import Finding
from .normalize import fold_plain

KEEP_DIGITS = 4


# Shown as they are: separators, and the words of a date (the era name, not the year).
_KEEP = frozenset("-. ()+/:年月日明治大正昭和平成令和")


def _mask_digits(value: str, keep: int) -> str:
    total = sum(c in "0123456789" for c in value)
    # Never show the whole value: short values keep at most half of their digits.
    keep = min(keep, total // 2)
    seen = 0
    out = []
    for c in value:
        if c in "0123456789":
            seen += 1
            out.append(c if seen > total - keep else "*")
        elif c in _KEEP:
            out.append(c)
        else:
            out.append("*")  # letters of passport / residence-card numbers, anything odd
    return "".join(out)


def _mask_email(value: str) -> str:
    local, _, domain = value.partition("@")
    return f"{local[:1]}***@{domain}" if local else "***"


def mask_preview(kind: str, original_text: str, finding: Finding) -> str:
    """A masked form of the finding's value, e.g. "****-****-9018" or "t***@example.jp".

    Numbers keep only their last four digits (fewer for short values); birth dates keep no
    digits; letters of passport and residence-card numbers are masked too.
    """
    value = fold_plain(original_text[finding.start : finding.end]).strip()
    if not value:
        return "***"
    if kind == "email":
        return _mask_email(value)
    return _mask_digits(value, 0 if kind == "birth_date" else KEEP_DIGITS)
