"""Decode untrusted image bytes with per-call limits; every failure becomes ImageRefused.

Order matters: byte size, then our own header parse (header.py) and pixel limits, then Pillow's
lazy open (header only), a second size check on what Pillow saw, and only then the pixel decode.
Nothing is decoded for an image that would exceed the limits.
"""

from __future__ import annotations

import io
import threading
import warnings
from dataclasses import dataclass

from PIL import Image

from .header import Header, sniff
from .model import (
    DECOMPRESSION_BOMB,
    NOT_AN_IMAGE,
    TOO_LARGE_BYTES,
    TOO_MANY_PIXELS,
    TRUNCATED,
    ImageLimits,
    ImageRefused,
)

# Above the pixel limit, this many pixels per byte of file is not a big photo but a small file
# built to expand: real photos are 0.1-10 px/byte, even flat screenshots stay below ~100.
BOMB_PIXELS_PER_BYTE = 100

# JPEG can decode at 1/2, 1/4 or 1/8 scale almost for free; heuristics only need this much.
_DRAFT_TARGET = 512

# warnings.catch_warnings() mutates process-global state and is not thread-safe in 3.11. Opening
# is header-only (milliseconds), so serialising it is cheap and keeps concurrent analyses from
# restoring each other's filters halfway.
_OPEN_LOCK = threading.Lock()


@dataclass(frozen=True)
class Decoded:
    format: str
    width: int  # as stored in the file, before any draft reduction
    height: int
    image: Image.Image  # loaded; full resolution when full=True, else possibly reduced
    info: dict[str, object]
    exif: Image.Exif | None


def decode(data: bytes, limits: ImageLimits, *, full: bool) -> Decoded:
    if len(data) > limits.max_bytes:
        raise ImageRefused(TOO_LARGE_BYTES, f"{len(data)} bytes > limit {limits.max_bytes}")
    if not data:
        raise ImageRefused(NOT_AN_IMAGE, "empty file")
    header = sniff(data)
    _check_pixels(header.width, header.height, len(data), limits)
    im = _open(data, header)
    width, height = im.size
    # Pillow's view can differ from the first header (e.g. a GIF frame larger than its screen).
    _check_pixels(width, height, len(data), limits)
    if not full and header.format == "JPEG":
        im.draft("RGB", (min(width, _DRAFT_TARGET), min(height, _DRAFT_TARGET)))
    _load(im)
    return Decoded(
        format=header.format,
        width=width,
        height=height,
        image=im,
        info={k: v for k, v in im.info.items() if isinstance(k, str)},  # Pillow also has tuple keys
        exif=_exif(im),
    )


def _check_pixels(width: int, height: int, nbytes: int, limits: ImageLimits) -> None:
    pixels = width * height
    if pixels <= limits.max_pixels:
        return
    if pixels > BOMB_PIXELS_PER_BYTE * nbytes:
        raise ImageRefused(
            DECOMPRESSION_BOMB,
            f"{width}x{height} declared in {nbytes} bytes (limit {limits.max_pixels} px)",
        )
    raise ImageRefused(TOO_MANY_PIXELS, f"{width}x{height} > limit {limits.max_pixels} px")


def _open(data: bytes, header: Header) -> Image.Image:
    try:
        with _OPEN_LOCK, warnings.catch_warnings():
            # Pillow only warns between 1x and 2x MAX_IMAGE_PIXELS; a warning is still a bomb.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return Image.open(io.BytesIO(data), formats=[header.format])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRefused(DECOMPRESSION_BOMB, "rejected by Pillow's bomb guard") from exc
    except ValueError as exc:
        # PNG zTXt/iCCP chunks that inflate past PngImagePlugin.MAX_TEXT_CHUNK/MEMORY.
        if "too large" in str(exc) or "MAX_TEXT" in str(exc):
            raise ImageRefused(DECOMPRESSION_BOMB, "compressed metadata chunk too large") from exc
        raise ImageRefused(NOT_AN_IMAGE, f"{header.format} header not parseable") from exc
    except Exception as exc:  # any decoder bug on hostile input must end as a refusal
        raise ImageRefused(
            NOT_AN_IMAGE, f"{header.format} header not parseable ({type(exc).__name__})"
        ) from exc


def _load(im: Image.Image) -> None:
    try:
        im.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRefused(DECOMPRESSION_BOMB, "rejected by Pillow's bomb guard") from exc
    except MemoryError as exc:
        raise ImageRefused(TOO_MANY_PIXELS, "not enough memory to decode") from exc
    except Exception as exc:
        # Pillow raises OSError("image file is truncated"), SyntaxError on bad chunks, etc.
        raise ImageRefused(
            TRUNCATED, f"pixel data incomplete or corrupt ({type(exc).__name__})"
        ) from exc


def _exif(im: Image.Image) -> Image.Exif | None:
    try:
        return im.getexif()
    except Exception:  # malformed EXIF is common even in honest files; just ignore it
        return None
