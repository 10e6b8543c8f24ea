"""Read the few metadata facts that separate screenshots from camera photos.

iOS and macOS tag screenshots with EXIF UserComment "Screenshot" (PNG: inside the XMP packet;
JPEG exports: in the EXIF IFD). Cameras, including phone cameras, write exposure tags and often
GPS. Android screenshots usually carry no metadata at all, so absence is only weak evidence.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from PIL import Image

_IFD_EXIF = 0x8769
_IFD_GPS = 0x8825
_TAG_MAKE, _TAG_MODEL, _TAG_SOFTWARE = 0x010F, 0x0110, 0x0131
_TAG_USER_COMMENT = 0x9286
# Tags only a physical capture has: exposure, aperture, ISO, focal length, lens.
_EXPOSURE_TAGS = {
    0x829A: "ExposureTime",
    0x829D: "FNumber",
    0x8827: "ISOSpeedRatings",
    0x920A: "FocalLength",
    0xA434: "LensModel",
}

# Software names written by screenshot tools into EXIF Software or PNG tEXt "Software".
_SCREENSHOT_SOFTWARE = re.compile(
    r"screenshot|screen ?shot|screencapture|spectacle|ksnapshot|flameshot|greenshot|sharex"
    r"|shutter|lightshot|snipping ?tool|snip ?& ?sketch|xfce4-screenshooter|\bscrot\b|\bgrim\b"
    r"|\bmaim\b|cleanshot|monosnap|skitch|スクリーンショット|截图|截屏",
    re.IGNORECASE,
)
_XMP_SCREENSHOT = re.compile(rb"UserComment.{0,400}?Screenshot", re.IGNORECASE | re.DOTALL)
_XMP_SCAN_BYTES = 256 * 1024  # XMP packets of real screenshots are ~1 KiB


@dataclass(frozen=True)
class Metadata:
    screenshot_comment: str | None  # where the "Screenshot" comment was found
    screenshot_software: str | None  # the matched tool name
    exposure_tags: tuple[str, ...]
    make_model: bool
    gps: bool
    any_exif: bool


def read_metadata(exif: Image.Exif | None, info: Mapping[str, object]) -> Metadata:
    comment = None
    software = None
    exposure: list[str] = []
    make_model = gps = any_exif = False
    if exif is not None:
        try:
            any_exif = len(exif) > 0
            make_model = bool(exif.get(_TAG_MAKE) or exif.get(_TAG_MODEL))
            software = _match_software(exif.get(_TAG_SOFTWARE))
            sub = exif.get_ifd(_IFD_EXIF)
            gps = bool(exif.get_ifd(_IFD_GPS))
            exposure = [name for tag, name in _EXPOSURE_TAGS.items() if tag in sub]
            if _is_screenshot_comment(sub.get(_TAG_USER_COMMENT)):
                comment = "EXIF UserComment"
        except Exception:  # hostile or just broken EXIF: keep what we have, never fail
            pass
    if comment is None and _xmp_says_screenshot(info):
        comment = "XMP UserComment"
    software = software or _match_software(info.get("Software"))
    return Metadata(comment, software, tuple(exposure), make_model, gps, any_exif)


def _match_software(value: object) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    if not isinstance(value, str):
        return None
    m = _SCREENSHOT_SOFTWARE.search(value[:200])
    return m.group(0) if m else None


def _is_screenshot_comment(value: object) -> bool:
    if isinstance(value, str):
        return "screenshot" in value[:200].casefold()
    if not isinstance(value, bytes):
        return False
    raw = value[:400]
    # EXIF UserComment starts with an 8-byte charset id; UNICODE is UTF-16 in either order.
    body = raw[8:] if len(raw) >= 8 else raw
    candidates = [body.decode("latin-1")]
    if raw.startswith(b"UNICODE"):
        candidates += [body.decode("utf-16-be", "ignore"), body.decode("utf-16-le", "ignore")]
    return any("screenshot" in c.casefold() for c in candidates)


def _xmp_says_screenshot(info: Mapping[str, object]) -> bool:
    for key in ("xmp", "XML:com.adobe.xmp"):
        packet = info.get(key)
        if isinstance(packet, str):
            packet = packet.encode("utf-8", "ignore")
        if isinstance(packet, bytes) and _XMP_SCREENSHOT.search(packet[:_XMP_SCAN_BYTES]):
            return True
    return False
