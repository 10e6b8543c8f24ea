"""Value types shared by the screenshot analyser: signals, verdicts, limits, refusals."""

from __future__ import annotations

from dataclasses import dataclass

# Reason codes carried by ImageRefused. The policy maps them to admin-facing text, so they are
# part of the API: add new ones, never rename.
TOO_LARGE_BYTES = "too_large_bytes"
TOO_MANY_PIXELS = "too_many_pixels"
DECOMPRESSION_BOMB = "decompression_bomb"
TRUNCATED = "truncated"
NOT_AN_IMAGE = "not_an_image"
UNSUPPORTED_FORMAT = "unsupported_format"
TIMEOUT = "timeout"

REASON_CODES = frozenset(
    {
        TOO_LARGE_BYTES,
        TOO_MANY_PIXELS,
        DECOMPRESSION_BOMB,
        TRUNCATED,
        NOT_AN_IMAGE,
        UNSUPPORTED_FORMAT,
        TIMEOUT,
    }
)

# Scores at or above this count as a screenshot. 0.5 means "more likely than not" under the
# noisy-OR combination in analyzer.combine(); docs/screenshots.md explains the arithmetic.
DEFAULT_THRESHOLD = 0.5


@dataclass(frozen=True)
class Signal:
    """One piece of evidence. weight is in [-1, 1]: positive = screenshot-like, negative = not.

    A weight of 0 is informational (e.g. a mimetype mismatch) and does not move the score.
    detail never contains image content or OCR text; it may quote the matched file-name pattern.
    """

    name: str
    weight: float
    detail: str


@dataclass(frozen=True)
class ImageLimits:
    max_bytes: int = 20 * 2**20
    max_pixels: int = 40_000_000
    ocr_timeout_s: float = 10.0
    # Larger images are downscaled to this many pixels before OCR (not refused).
    ocr_max_pixels: int = 12_000_000


@dataclass(frozen=True)
class ImageVerdict:
    score: float
    is_screenshot: bool
    signals: tuple[Signal, ...]
    width: int | None
    height: int | None
    format: str | None
    # (pii kind, count) pairs sorted by kind. Never the recognised text itself.
    ocr_findings: tuple[tuple[str, int], ...] = ()
    ocr_error: str | None = None


class ImageRefused(Exception):
    """The bytes were not analysed because they are hostile, invalid or over a limit."""

    def __init__(self, reason_code: str, detail: str) -> None:
        super().__init__(f"{reason_code}: {detail}")
        self.reason_code = reason_code
        self.detail = detail
