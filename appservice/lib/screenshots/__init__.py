"""Screenshot and photographed-form detection for image attachments.

The municipal guideline forbids screenshots of the chat (information leaving the system), and a
photo or screenshot of a form can carry My Numbers. `analyze` scores an image from its file
name, size, metadata and pixels, and can OCR it for PII. See docs/screenshots.md.
"""

from .analyzer import analyze, analyze_async, combine
from .model import (
    DEFAULT_THRESHOLD,
    REASON_CODES,
    ImageLimits,
    ImageRefused,
    ImageVerdict,
    Signal,
)

__all__ = [
    "DEFAULT_THRESHOLD",
    "REASON_CODES",
    "ImageLimits",
    "ImageRefused",
    "ImageVerdict",
    "Signal",
    "analyze",
    "analyze_async",
    "combine",
]
