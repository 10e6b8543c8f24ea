"""The bots' built-in avatar: a small picture drawn here (no image file to ship or fetch).

A rounded square in a calm municipal blue with a white town-hall outline (roof, columns,
steps): recognisable at 32 px in a room list, and clearly not a person. Deterministic bytes,
so its hash says whether the uploaded one is still current.
"""

from __future__ import annotations

import io

from PIL import Image, ImageDraw

SIZE = 128


def builtin_avatar_png() -> bytes:
    img = Image.new("RGBA", (SIZE, SIZE), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    d.rounded_rectangle((0, 0, SIZE - 1, SIZE - 1), radius=28, fill=(31, 94, 168, 255))
    white = (255, 255, 255, 255)
    d.polygon([(64, 22), (104, 46), (24, 46)], fill=white)             # roof
    d.rectangle((30, 50, 98, 56), fill=white)                           # beam
    for x in (36, 54, 72, 90):                                           # columns
        d.rectangle((x - 4, 60, x + 2, 90), fill=white)
    d.rectangle((26, 94, 102, 100), fill=white)                          # steps
    d.rectangle((20, 104, 108, 110), fill=white)
    out = io.BytesIO()
    img.save(out, format="PNG", optimize=True)
    return out.getvalue()
