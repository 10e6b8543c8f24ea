"""analyze(): decode safely, collect signals, combine them into a score, optionally OCR."""

from __future__ import annotations

import asyncio
import functools
import math
import threading
from concurrent.futures import ThreadPoolExecutor

import structlog

from .decode import decode
from .metadata import read_metadata
from .model import (
    DEFAULT_THRESHOLD,
    NOT_AN_IMAGE,
    TIMEOUT,
    ImageLimits,
    ImageRefused,
    ImageVerdict,
    Signal,
)
from .ocr import run_ocr
from .pixels import pixel_stats
from .signals import (
    filename_signal,
    info_signals,
    metadata_signals,
    pixel_signals,
    size_signals,
)

log = structlog.get_logger(__name__)

# Bound on decode + heuristics for analyze_async's watchdog. Decoding 40 Mpx takes well under a
# second; this only fires if something is badly wrong, so be generous.
_DECODE_BUDGET_S = 20.0
# Each analysis may hold a fully decoded image (up to max_pixels × 4 bytes), so the number
# running at once is what bounds memory. Two keep a burst of uploads from starving the loop.
_MAX_CONCURRENT = 2

_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def combine(signals: tuple[Signal, ...] | list[Signal]) -> float:
    """Noisy-OR of the positive weights, scaled down by the noisy-OR of the negative ones.

    score = (1 - Π(1 - p)) × Π(1 - |n|). With no positive evidence the score is 0; one 0.7
    signal alone gives 0.7; two 0.3 signals give 0.51; a -0.85 camera tag takes 0.9 to 0.135.
    """
    keep_pos = keep_neg = 1.0
    for s in signals:
        w = max(-1.0, min(1.0, s.weight))
        if w > 0:
            keep_pos *= 1.0 - w
        elif w < 0:
            keep_neg *= 1.0 + w
    score = (1.0 - keep_pos) * keep_neg
    return 0.0 if math.isnan(score) else round(min(1.0, max(0.0, score)), 4)


def analyze(
    data: bytes,
    *,
    filename: str | None,
    info: dict | None,
    limits: ImageLimits = ImageLimits(),  # noqa: B008 - frozen dataclass, safe as a default
    ocr: bool = False,
    threshold: float = DEFAULT_THRESHOLD,
) -> ImageVerdict:
    """Score how likely `data` is a screenshot. Raises ImageRefused for invalid/hostile input.

    Blocking (decoding and OCR are CPU work); use analyze_async from the event loop.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ImageRefused(NOT_AN_IMAGE, f"expected bytes, got {type(data).__name__}")
    data = bytes(data)
    try:
        decoded = decode(data, limits, full=ocr)
    except ImageRefused as exc:
        log.info("screenshots.refused", reason=exc.reason_code, nbytes=len(data))
        raise
    width, height, fmt = decoded.width, decoded.height, decoded.format
    try:
        meta = read_metadata(decoded.exif, decoded.info)
        signals = (
            *filename_signal(filename if isinstance(filename, str) else None),
            *metadata_signals(meta, fmt),
            *size_signals(width, height),
            *pixel_signals(pixel_stats(decoded.image)),
            *info_signals(info, fmt, width, height),
        )
        findings: tuple[tuple[str, int], ...] = ()
        ocr_error = None
        if ocr:
            result = run_ocr(decoded.image, limits)
            findings, ocr_error = result.findings, result.error
    finally:
        decoded.image.close()  # free the decoded pixels now, not at the next GC
    score = combine(signals)
    verdict = ImageVerdict(
        score=score,
        is_screenshot=score >= threshold,
        signals=signals,
        width=width,
        height=height,
        format=fmt,
        ocr_findings=findings,
        ocr_error=ocr_error,
    )
    # Names and counts only: never the file name (it can itself contain personal data), pixels
    # or OCR text.
    log.debug(
        "screenshots.analyzed",
        score=score,
        is_screenshot=verdict.is_screenshot,
        signals=[s.name for s in signals],
        width=width,
        height=height,
        format=fmt,
        ocr_kinds=[k for k, _ in findings],
        ocr_error=ocr_error,
    )
    return verdict


async def analyze_async(
    data: bytes,
    *,
    filename: str | None,
    info: dict | None,
    limits: ImageLimits = ImageLimits(),  # noqa: B008
    ocr: bool = False,
    threshold: float = DEFAULT_THRESHOLD,
) -> ImageVerdict:
    """analyze() in a bounded worker pool, off the event loop.

    The OCR subprocess has its own hard timeout (limits.ocr_timeout_s); the watchdog here only
    guards against a pathological decode and answers with ImageRefused("timeout"). The worker
    thread cannot be killed, but it ends by itself because every step is bounded.
    """
    loop = asyncio.get_running_loop()
    call = functools.partial(
        analyze, data, filename=filename, info=info, limits=limits, ocr=ocr, threshold=threshold
    )
    budget = _DECODE_BUDGET_S + (limits.ocr_timeout_s if ocr else 0.0)
    try:
        return await asyncio.wait_for(loop.run_in_executor(_pool(), call), budget)
    except TimeoutError as exc:
        log.warning("screenshots.watchdog_timeout", budget_s=budget)
        raise ImageRefused(TIMEOUT, f"analysis took longer than {budget:.0f} s") from exc


def _pool() -> ThreadPoolExecutor:
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(
                max_workers=_MAX_CONCURRENT, thread_name_prefix="yakuba-screenshots"
            )
        return _executor
