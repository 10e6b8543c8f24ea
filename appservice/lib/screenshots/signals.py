"""Turn observations into weighted Signals. Every weight, and why, lives here.

Weights are in [-1, 1]. analyzer.combine() merges positives with a noisy-OR and lets negatives
scale the result down, so a single strong signal (0.7+) decides alone, while weak ones (0.15-0.35)
only decide together. The split between "alone" and "together" is the design:

* decisive alone: OS default file names, the iOS/macOS "Screenshot" comment, screenshot software;
* need company: exact screen sizes (1920×1080 is also a video frame), PNG without camera data,
  flat UI pixels (also diagrams and logos), phone-shaped aspect ratios;
* against: camera exposure data, photographic noise, icon sizes, paper-shaped pages.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from . import screens
from .filenames import match_filename
from .header import MIMETYPES
from .metadata import Metadata
from .model import Signal
from .pixels import PixelStats

W_SCREENSHOT_COMMENT = 0.9  # written only by the iOS/macOS screenshot code path
W_SCREENSHOT_SOFTWARE = 0.8  # a screenshot tool signed the file
W_SCREEN_PHONE = 0.5  # 1170×2532 etc. are distinctive; almost nothing else has these sizes
W_SCREEN_DESKTOP = 0.35  # 1920×1080 etc. are also video frames, slides and wallpapers
W_PHONE_SHAPE = 0.3  # tall 18:9-21:9 or a phone's exact width: scrolling/cropped screenshots
W_PNG_NO_CAMERA = 0.15  # screenshots are PNG by default on iOS, macOS, Windows, most Android
W_FLAT_UI = 0.3  # large flat areas; diagrams and logos share this, hence weak
W_CAMERA_EXPOSURE = -0.85  # exposure/aperture/ISO/focal length: light went through a lens
W_CAMERA_MAKE_OR_GPS = -0.35  # make/model or GPS alone: camera-like, but some apps copy them
W_PHOTOGRAPHIC = -0.35  # sensor noise and smooth gradients everywhere
W_ICON = -0.4  # smaller than any screen region worth sharing; icons, emoji, avatars
W_PAPER = -0.5  # A-series / Letter page proportions: a scan or an exported document

FLAT_UI_MIN = 0.6  # share of equal neighbouring samples (pixels.py) to call an image flat
PHOTO_FLAT_MAX = 0.3
PHOTO_COLOURS_MIN = 400  # of 4096 possible at 4 bits/channel
ICON_MAX_SIDE = 200
_PAPER_RATIOS = {"A-series": 2**0.5, "Letter": 11 / 8.5}
_PAPER_TOLERANCE = 0.006  # relative; iPad Pro 11 (1.432) must not read as A4 (1.414)
_PAPER_MIN_SHORT_SIDE = 1000  # below ~120 dpi a page is a thumbnail, not a scan


def filename_signal(filename: str | None) -> list[Signal]:
    hit = match_filename(filename)
    if hit is None:
        return []
    pattern, text = hit
    return [Signal("filename", pattern.weight, f"{pattern.label}: matches '{text}'")]


def metadata_signals(meta: Metadata, fmt: str) -> list[Signal]:
    out = []
    if meta.screenshot_comment:
        out.append(
            Signal(
                "exif_screenshot",
                W_SCREENSHOT_COMMENT,
                f"{meta.screenshot_comment} is 'Screenshot' (iOS/macOS)",
            )
        )
    if meta.screenshot_software:
        out.append(
            Signal(
                "software",
                W_SCREENSHOT_SOFTWARE,
                f"written by screenshot software '{meta.screenshot_software}'",
            )
        )
    if meta.exposure_tags:
        out.append(
            Signal(
                "camera_exif",
                W_CAMERA_EXPOSURE,
                "camera capture tags: " + ", ".join(meta.exposure_tags),
            )
        )
    elif meta.make_model or meta.gps:
        what = " and ".join(n for n, v in (("make/model", meta.make_model), ("GPS", meta.gps)) if v)
        out.append(Signal("camera_exif", W_CAMERA_MAKE_OR_GPS, f"camera-like EXIF: {what}"))
    elif fmt == "PNG" and not meta.screenshot_comment:
        out.append(Signal("png_no_camera", W_PNG_NO_CAMERA, "PNG without camera metadata"))
    return out


def size_signals(width: int, height: int) -> list[Signal]:
    matches = screens.match(width, height)
    if matches:
        kinds = {s.kind for s in matches}
        # 1920×1080 is both a portrait Android phone and a landscape monitor; a landscape image
        # of that size is far more often a desktop, a video frame or a slide than a phone.
        desktop_like = "desktop" in kinds and width > height
        weight = W_SCREEN_DESKTOP if desktop_like or kinds == {"desktop"} else W_SCREEN_PHONE
        names = "; ".join(s.name for s in matches[:3])
        return [Signal("screen_size", weight, f"{width}x{height} is a screen size ({names})")]
    out = []
    short, long_ = min(width, height), max(width, height)
    if height > width and width in screens.PHONE_WIDTHS and height >= 1.5 * width:
        out.append(
            Signal(
                "phone_shape",
                W_PHONE_SHAPE,
                f"width {width} is a phone screen width (scrolling or cropped)",
            )
        )
    elif height > width and short >= 600 and 1.95 <= long_ / short <= 2.35:
        out.append(
            Signal(
                "phone_shape",
                W_PHONE_SHAPE,
                f"portrait {long_ / short:.2f}:1 is a modern phone aspect ratio",
            )
        )
    if long_ <= ICON_MAX_SIDE:
        out.append(Signal("icon_size", W_ICON, f"{width}x{height} is icon-sized"))
    if short >= _PAPER_MIN_SHORT_SIDE:
        for paper, ratio in _PAPER_RATIOS.items():
            if abs(long_ / short - ratio) <= ratio * _PAPER_TOLERANCE:
                out.append(
                    Signal(
                        "paper_page",
                        W_PAPER,
                        f"{paper} page proportions (scan or document; OCR candidate)",
                    )
                )
    return out


def pixel_signals(stats: PixelStats | None) -> list[Signal]:
    if stats is None:
        return []
    desc = f"{stats.flat:.0%} flat neighbours, {stats.colours} colours"
    if stats.flat >= FLAT_UI_MIN:
        return [Signal("flat_ui", W_FLAT_UI, f"large flat regions like a UI ({desc})")]
    if stats.flat <= PHOTO_FLAT_MAX and stats.colours >= PHOTO_COLOURS_MIN:
        return [Signal("photographic", W_PHOTOGRAPHIC, f"photographic texture ({desc})")]
    return []


def info_signals(info: object, fmt: str, width: int, height: int) -> list[Signal]:
    """Compare the sender's Matrix `info` block with the bytes. Informational only (weight 0):
    clients disagree about mimetypes (image/jpg) and send pre-resize sizes, and the bytes are the
    truth anyway. A mismatch is kept so an admin can see that the claim and the file differ."""
    if not isinstance(info, Mapping):
        return []
    out = []
    mime = info.get("mimetype")
    if isinstance(mime, str) and mime.strip():
        # Sanitised: the detail reaches the admin room and logs.
        declared = re.sub(r"[^a-z0-9/+.*-]", "", mime.split(";", 1)[0].strip().lower())[:100]
        generic = declared in ("", "application/octet-stream", "image/*")
        if not generic and declared not in MIMETYPES.get(fmt, frozenset()):
            out.append(Signal("mimetype_mismatch", 0.0, f"info says {declared}, bytes are {fmt}"))
    w, h = _int(info.get("w")), _int(info.get("h"))
    if w is not None and h is not None and (w, h) != (width, height):
        out.append(
            Signal("info_size_mismatch", 0.0, f"info says {w}x{h}, bytes are {width}x{height}")
        )
    return out


def _int(value: object) -> int | None:
    # JSON from other clients: bools, floats, strings and giant numbers all occur.
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if value != value or not 0 < value < 2**31:  # NaN, negatives, absurd values
        return None
    return int(value)
