"""Cheap pixel statistics: user interfaces are flat, photographs are noisy.

Works on a point-sampled thumbnail of at most SAMPLE_SIDE pixels per side. Nearest-neighbour
sampling is deliberate: it is the cheapest resize in Pillow and, unlike filtering, it keeps a
flat UI colour exactly flat instead of inventing blended colours at every edge.
"""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image, ImageChops

SAMPLE_SIDE = 256
# Neighbouring samples count as "the same colour" within this per-channel difference, so JPEG
# ringing on a flat background still reads as flat.
_TOLERANCE = 3
# 4 bits per channel: fine enough to separate UI palettes from photo gradients.
_QUANTISE = [v & 0xF0 for v in range(256)] * 3


@dataclass(frozen=True)
class PixelStats:
    flat: float  # share of neighbouring samples with the same colour, 0..1
    colours: int  # distinct colours in the sample at 4 bits per channel
    samples: int


def pixel_stats(im: Image.Image) -> PixelStats | None:
    try:
        return _stats(_sample(im))
    except Exception:  # exotic modes (I;16, CMYK with odd profiles...): skip the signal
        return None


def _sample(im: Image.Image) -> Image.Image:
    w, h = im.size
    if max(w, h) > SAMPLE_SIDE:
        f = SAMPLE_SIDE / max(w, h)
        im = im.resize((max(1, round(w * f)), max(1, round(h * f))), Image.Resampling.NEAREST)
    if im.mode != "RGB":
        if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
            # Transparent areas would turn black; put them on white like a chat client does.
            rgba = im.convert("RGBA")
            bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            im = Image.alpha_composite(bg, rgba)
        im = im.convert("RGB")
    return im


def _stats(im: Image.Image) -> PixelStats | None:
    w, h = im.size
    if w < 2 or h < 2:
        return None
    same = total = 0
    for a, b in (
        (im.crop((0, 0, w - 1, h)), im.crop((1, 0, w, h))),
        (im.crop((0, 0, w, h - 1)), im.crop((0, 1, w, h))),
    ):
        r, g, bl = ImageChops.difference(a, b).split()
        hist = ImageChops.lighter(ImageChops.lighter(r, g), bl).histogram()
        same += sum(hist[: _TOLERANCE + 1])
        total += sum(hist)
    colours = im.point(_QUANTISE).getcolors(maxcolors=4096)
    return PixelStats(
        flat=same / total,
        colours=len(colours) if colours is not None else 4097,
        samples=w * h,
    )
