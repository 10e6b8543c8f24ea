"""Read format and pixel size from the first bytes, before Pillow is involved.

Doing this ourselves lets every call enforce its own ImageLimits before any decoder runs, and
classify oversized input consistently, instead of depending on Pillow's process-wide
Image.MAX_IMAGE_PIXELS (which another part of the process may change, and which raises before
we can see the size). Only the formats we are willing to decode are parsed; everything else is
either recognised as an unsupported image container or refused as not an image.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .model import NOT_AN_IMAGE, TRUNCATED, UNSUPPORTED_FORMAT, ImageRefused

# Pillow format names we decode. TIFF is deliberately absent (large decoder surface, and
# phones/PCs never produce screenshots as TIFF); HEIC/AVIF need plugins we do not install.
DECODABLE = ("PNG", "JPEG", "GIF", "WEBP", "BMP")

MIMETYPES: dict[str, frozenset[str]] = {
    "PNG": frozenset({"image/png", "image/apng"}),
    "JPEG": frozenset({"image/jpeg", "image/jpg", "image/pjpeg"}),
    "GIF": frozenset({"image/gif"}),
    "WEBP": frozenset({"image/webp"}),
    "BMP": frozenset({"image/bmp", "image/x-bmp", "image/x-ms-bmp"}),
}

# JPEG start-of-frame markers (baseline, progressive, lossless, arithmetic...); C4/C8/CC are not.
_SOF = frozenset({*range(0xC0, 0xC4), *range(0xC5, 0xC8), *range(0xC9, 0xCC), *range(0xCD, 0xD0)})
# Real JPEG headers (APPn with EXIF/ICC/XMP, DQT, DHT) are a few dozen segments within a few
# MiB; the caps keep a hostile file of millions of 4-byte segments from spinning this loop.
_JPEG_SCAN_LIMIT = 4 * 2**20
_JPEG_MAX_SEGMENTS = 1000


@dataclass(frozen=True)
class Header:
    format: str
    width: int
    height: int


def sniff(data: bytes) -> Header:
    """Return the format and declared size, or raise ImageRefused."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return _png(data)
    if data.startswith(b"\xff\xd8\xff"):
        return _jpeg(data)
    if data[:6] in (b"GIF87a", b"GIF89a"):
        _need(data, 10)
        w, h = struct.unpack_from("<HH", data, 6)
        return _checked("GIF", w, h)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _webp(data)
    if data[:2] == b"BM" and len(data) >= 26:
        return _bmp(data)
    _refuse_unsupported(data)
    raise ImageRefused(NOT_AN_IMAGE, "unrecognised file signature")


def _need(data: bytes, n: int) -> None:
    if len(data) < n:
        raise ImageRefused(TRUNCATED, "file ends inside the image header")


def _checked(fmt: str, w: int, h: int) -> Header:
    if w <= 0 or h <= 0:
        raise ImageRefused(NOT_AN_IMAGE, f"{fmt} header declares an empty image")
    return Header(fmt, w, h)


def _png(data: bytes) -> Header:
    _need(data, 24)
    if data[12:16] != b"IHDR":
        raise ImageRefused(NOT_AN_IMAGE, "PNG without IHDR")
    w, h = struct.unpack_from(">II", data, 16)
    return _checked("PNG", w, h)


def _jpeg(data: bytes) -> Header:
    pos, end = 2, min(len(data), _JPEG_SCAN_LIMIT)
    for _ in range(_JPEG_MAX_SEGMENTS):
        if pos + 4 > end:
            break
        if data[pos] != 0xFF:
            raise ImageRefused(NOT_AN_IMAGE, "JPEG marker expected")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # standalone markers
            pos += 2
            continue
        if marker in (0xD9, 0xDA):
            raise ImageRefused(NOT_AN_IMAGE, "JPEG without a frame header")
        (length,) = struct.unpack_from(">H", data, pos + 2)
        if length < 2:
            raise ImageRefused(NOT_AN_IMAGE, "JPEG segment with invalid length")
        if marker in _SOF:
            _need(data, pos + 9)
            h, w = struct.unpack_from(">HH", data, pos + 5)
            return _checked("JPEG", w, h)
        pos += 2 + length
    else:
        raise ImageRefused(NOT_AN_IMAGE, "JPEG header has too many segments")
    if end < len(data):
        raise ImageRefused(NOT_AN_IMAGE, "JPEG header larger than any real camera writes")
    raise ImageRefused(TRUNCATED, "file ends before the JPEG frame header")


def _webp(data: bytes) -> Header:
    _need(data, 30)
    chunk = data[12:16]
    if chunk == b"VP8X":
        w = int.from_bytes(data[24:27], "little") + 1
        h = int.from_bytes(data[27:30], "little") + 1
    elif chunk == b"VP8 ":
        w, h = (v & 0x3FFF for v in struct.unpack_from("<HH", data, 26))
    elif chunk == b"VP8L":
        if data[20] != 0x2F:
            raise ImageRefused(NOT_AN_IMAGE, "WebP lossless without signature")
        bits = int.from_bytes(data[21:25], "little")
        w, h = (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    else:
        raise ImageRefused(NOT_AN_IMAGE, "unknown WebP chunk")
    return _checked("WEBP", w, h)


def _bmp(data: bytes) -> Header:
    (dib,) = struct.unpack_from("<I", data, 14)
    if dib == 12:
        w, h = struct.unpack_from("<HH", data, 18)
    elif dib >= 40:
        w, h = struct.unpack_from("<ii", data, 18)
        h = abs(h)  # negative height means top-down rows
    else:
        raise ImageRefused(NOT_AN_IMAGE, "BMP with unknown header")
    return _checked("BMP", w, h)


def _refuse_unsupported(data: bytes) -> None:
    head = data[:32]
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        raise ImageRefused(UNSUPPORTED_FORMAT, "TIFF is not decoded")
    if head[4:8] == b"ftyp" and head[8:12] in (
        b"heic",
        b"heix",
        b"hevc",
        b"heim",
        b"heis",
        b"mif1",
        b"msf1",
        b"avif",
        b"avis",
    ):
        raise ImageRefused(UNSUPPORTED_FORMAT, "HEIF/AVIF is not decoded")
    if head[:2] == b"\xff\x0a" or head[:12] == b"\x00\x00\x00\x0cJXL \r\n\x87\n":
        raise ImageRefused(UNSUPPORTED_FORMAT, "JPEG XL is not decoded")
    if head[:12] == b"\x00\x00\x00\x0cjP  \r\n\x87\n":
        raise ImageRefused(UNSUPPORTED_FORMAT, "JPEG 2000 is not decoded")
    if head[:4] == b"8BPS":
        raise ImageRefused(UNSUPPORTED_FORMAT, "Photoshop documents are not decoded")
