"""Optional OCR: run the `tesseract` CLI on the image and count PII kinds in the text.

The CLI in a subprocess rather than a Python binding: no new dependency, a hard timeout that
really kills the work (subprocess.run kills the child), and a crash in Tesseract/Leptonica on a
hostile image cannot take the appservice down. The recognised text stays in this process only
long enough to be scanned; it is never logged, stored or returned — only (kind, count) pairs.
"""

from __future__ import annotations

import functools
import importlib
import io
import math
import os
import re
import shutil
import subprocess
import time
from collections import Counter
from dataclasses import dataclass

import structlog
from PIL import Image

from .model import ImageLimits

log = structlog.get_logger(__name__)

# Error codes in ImageVerdict.ocr_error.
NOT_INSTALLED = "tesseract_not_installed"
LANGUAGE_MISSING = "tesseract_language_missing"
OCR_TIMEOUT = "timeout"
OCR_FAILED = "tesseract_failed"
PII_UNAVAILABLE = "pii_scanner_unavailable"
PII_FAILED = "pii_scan_failed"
IMAGE_UNUSABLE = "image_unusable"

# Tesseract reads best at a text x-height of ~20-30 px; a phone screenshot at @3x is there
# already, a 1x desktop crop is not. Upscale small images, but only while the result stays
# cheap enough to finish well within the time limit.
_UPSCALE_MAX_RESULT_PIXELS = 4_000_000

_CJK = r"\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef"
# Tesseract's jpn model puts spaces between CJK characters ("マ イ ナ ン バ ー"), which would
# hide keywords from the PII scanner.
_CJK_GAP = re.compile(rf"(?<=[{_CJK}])[ \t]+(?=[{_CJK}])")


@dataclass(frozen=True)
class OcrResult:
    findings: tuple[tuple[str, int], ...] = ()
    error: str | None = None


def run_ocr(im: Image.Image, limits: ImageLimits) -> OcrResult:
    deadline = time.monotonic() + limits.ocr_timeout_s
    if shutil.which("tesseract") is None:
        return OcrResult(error=NOT_INSTALLED)
    try:
        scan = importlib.import_module("appservice.lib.pii").scan
    except Exception as exc:
        log.warning("screenshots.ocr.pii_unavailable", error=type(exc).__name__)
        return OcrResult(error=PII_UNAVAILABLE)
    text, error = extract_text(im, limits, deadline=deadline)
    if text is None:
        return OcrResult(error=error)
    try:
        counts = Counter(str(f.kind) for f in scan(text))
    except Exception as exc:
        log.warning("screenshots.ocr.pii_scan_failed", error=type(exc).__name__)
        return OcrResult(error=PII_FAILED)
    return OcrResult(findings=tuple(sorted(counts.items())))


def extract_text(
    im: Image.Image, limits: ImageLimits, *, deadline: float | None = None
) -> tuple[str | None, str | None]:
    """(text, None) or (None, error code). Exposed for tests and the benchmark."""
    exe = shutil.which("tesseract")
    if exe is None:
        return None, NOT_INSTALLED
    langs = _languages(exe)
    if not langs:
        return None, LANGUAGE_MISSING
    try:
        pgm = _to_pgm(_prepare(im, limits.ocr_max_pixels))
    except Exception as exc:
        log.warning("screenshots.ocr.prepare_failed", error=type(exc).__name__)
        return None, IMAGE_UNUSABLE
    if deadline is None:
        deadline = time.monotonic() + limits.ocr_timeout_s
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        return None, OCR_TIMEOUT
    # One OpenMP thread: several analyses may run at once, and Tesseract's own threading
    # oversubscribes the CPU and is usually slower than a single thread.
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    try:
        proc = subprocess.run(
            [exe, "stdin", "stdout", "-l", langs, "--psm", "3"],
            input=pgm,
            capture_output=True,
            timeout=remaining,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired:
        log.warning("screenshots.ocr.timeout", timeout_s=limits.ocr_timeout_s)
        return None, OCR_TIMEOUT
    except OSError as exc:
        log.warning("screenshots.ocr.exec_failed", error=type(exc).__name__)
        return None, OCR_FAILED
    if proc.returncode != 0:
        log.warning("screenshots.ocr.failed", returncode=proc.returncode)
        return None, OCR_FAILED
    text = proc.stdout.decode("utf-8", "replace")
    return _CJK_GAP.sub("", text), None


@functools.lru_cache(maxsize=4)
def _languages(exe: str) -> str:
    """The `-l` argument: jpn+eng when available, whatever subset exists otherwise."""
    try:
        proc = subprocess.run([exe, "--list-langs"], capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    installed = set(proc.stdout.decode("utf-8", "replace").split())
    langs = [lang for lang in ("jpn", "eng") if lang in installed]
    if "jpn" not in langs:
        log.warning("screenshots.ocr.no_japanese", hint="apt-get install tesseract-ocr-jpn")
    return "+".join(langs)


def _prepare(im: Image.Image, max_pixels: int) -> Image.Image:
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        im = Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba)
    gray = im.convert("L")
    w, h = gray.size
    pixels = w * h
    if pixels > max_pixels:
        f = math.sqrt(max_pixels / pixels)
        gray = gray.resize((max(1, int(w * f)), max(1, int(h * f))), Image.Resampling.LANCZOS)
    elif pixels * 4 <= min(max_pixels, _UPSCALE_MAX_RESULT_PIXELS):
        gray = gray.resize((w * 2, h * 2), Image.Resampling.LANCZOS)
    return gray


def _to_pgm(gray: Image.Image) -> bytes:
    # Binary PGM: no compression work on our side, read natively by Leptonica.
    buf = io.BytesIO()
    gray.save(buf, format="PPM")
    return buf.getvalue()
