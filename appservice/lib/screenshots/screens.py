"""Known device screen sizes, so an image whose pixel size equals a screen can be recognised.

Apple devices are listed as logical points × backing scale because that is how Apple documents
them and how screenshots come out (a 390×844 pt iPhone at @3x saves 1170×2532 px). Android
phones, tablets and PCs are listed in physical pixels (scale 1): Android screenshots and Windows
screenshots are taken at physical resolution whatever the UI scaling.

Only exact matches count (either orientation). Near misses are handled by the weaker
aspect-ratio and phone-width signals in signals.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["phone", "tablet", "desktop"]


@dataclass(frozen=True)
class Screen:
    name: str
    kind: Kind
    width: int  # logical, portrait for phones/tablets, landscape for desktops
    height: int
    scale: float = 1.0

    @property
    def pixels(self) -> tuple[int, int]:
        return round(self.width * self.scale), round(self.height * self.scale)


SCREENS: tuple[Screen, ...] = (
    # --- iPhone (points @ scale) ---
    Screen("iPhone SE 1st gen / 5s", "phone", 320, 568, 2),
    Screen("iPhone 6/7/8/SE 2-3", "phone", 375, 667, 2),
    Screen("iPhone 6-8 Plus (screenshot size)", "phone", 414, 736, 3),
    Screen("iPhone X/XS/11 Pro", "phone", 375, 812, 3),
    Screen("iPhone XR/11", "phone", 414, 896, 2),
    Screen("iPhone XS Max/11 Pro Max", "phone", 414, 896, 3),
    Screen("iPhone 12/13 mini", "phone", 360, 780, 3),
    Screen("iPhone 12-14", "phone", 390, 844, 3),
    Screen("iPhone 12-13 Pro Max / 14 Plus", "phone", 428, 926, 3),
    Screen("iPhone 14 Pro-16", "phone", 393, 852, 3),
    Screen("iPhone 14 Pro Max-16 Plus", "phone", 430, 932, 3),
    Screen("iPhone 16 Pro", "phone", 402, 874, 3),
    Screen("iPhone 16 Pro Max", "phone", 440, 956, 3),
    Screen("iPhone 4/4s", "phone", 320, 480, 2),
    # --- iPad (points @ scale) ---
    Screen("iPad / iPad mini (non-Retina)", "tablet", 768, 1024, 1),
    Screen("iPad 9.7 / mini Retina", "tablet", 768, 1024, 2),
    Screen("iPad 10.2", "tablet", 810, 1080, 2),
    Screen("iPad Air 10.5 / Pro 10.5", "tablet", 834, 1112, 2),
    Screen("iPad 10.9 / Air 4-5", "tablet", 820, 1180, 2),
    Screen("iPad Pro 11", "tablet", 834, 1194, 2),
    Screen("iPad Pro 11 M4 / Air 13", "tablet", 834, 1210, 2),
    Screen("iPad mini 6", "tablet", 744, 1133, 2),
    Screen("iPad Pro 12.9", "tablet", 1024, 1366, 2),
    Screen("iPad Pro 13 M4", "tablet", 1032, 1376, 2),
    # --- Android phones (physical pixels) ---
    Screen("Android HD", "phone", 720, 1280),
    Screen("Android HD+ 19:9", "phone", 720, 1520),
    Screen("Android HD+ 20:9", "phone", 720, 1600),
    Screen("Android HD+ 20:9 (tall)", "phone", 720, 1612),
    Screen("Android FHD 16:9", "phone", 1080, 1920),
    Screen("Android FHD+ 18:9", "phone", 1080, 2160),
    Screen("Android FHD+ 18.5:9", "phone", 1080, 2220),
    Screen("Android FHD+ 19:9", "phone", 1080, 2280),
    Screen("Android FHD+ 19.5:9 (Galaxy S/A)", "phone", 1080, 2340),
    Screen("Android FHD+ 20:9", "phone", 1080, 2400),
    Screen("Android FHD+ 20:9 (Xperia 10, some Xiaomi)", "phone", 1080, 2520),
    Screen("Android FHD+ (AQUOS, Redmi)", "phone", 1080, 2460),
    Screen("Pixel 7/8", "phone", 1080, 2424),
    Screen("Pixel 9", "phone", 1080, 2424),
    Screen("Android FHD+ 20.1:9", "phone", 1080, 2412),
    Screen("Android FHD+ (OnePlus Nord)", "phone", 1080, 2408),
    Screen("Android QHD", "phone", 1440, 2560),
    Screen("Galaxy S8/S9", "phone", 1440, 2960),
    Screen("Galaxy S10", "phone", 1440, 3040),
    Screen("Galaxy Note 20 Ultra / S22+ Ultra", "phone", 1440, 3088),
    Screen("Galaxy S21-S24 Ultra / Pixel 7 Pro", "phone", 1440, 3120),
    Screen("Galaxy S20 / Pixel 6 Pro", "phone", 1440, 3200),
    Screen("Pixel 8 Pro", "phone", 1344, 2992),
    Screen("Pixel 9 Pro", "phone", 1280, 2856),
    Screen("Xperia 1 (4K)", "phone", 1644, 3840),
    Screen("Xperia 1 V/VI (FHD+)", "phone", 1080, 2520),
    Screen("Xiaomi/OnePlus 1.5K", "phone", 1220, 2712),
    Screen("OnePlus 12", "phone", 1440, 3168),
    Screen("Galaxy Z Fold (outer)", "phone", 904, 2316),
    Screen("Galaxy Z Fold (inner)", "tablet", 1812, 2176),
    # --- Android / Windows tablets ---
    Screen("Android tablet WXGA", "tablet", 800, 1280),
    Screen("Android tablet WUXGA", "tablet", 1200, 1920),
    Screen("Android tablet 2K", "tablet", 1200, 2000),
    Screen("Galaxy Tab S 11", "tablet", 1600, 2560),
    Screen("Galaxy Tab S 12.4", "tablet", 1752, 2800),
    Screen("Galaxy Tab S 14.6", "tablet", 1848, 2960),
    Screen("Surface Go", "tablet", 1280, 1920),
    # --- Desktop and laptop (landscape) ---
    Screen("XGA", "desktop", 1024, 768),
    Screen("HD 720p", "desktop", 1280, 720),
    Screen("WXGA", "desktop", 1280, 800),
    Screen("SXGA", "desktop", 1280, 1024),
    Screen("WXGA (1360)", "desktop", 1360, 768),
    Screen("WXGA (1366)", "desktop", 1366, 768),
    Screen("WXGA+", "desktop", 1440, 900),
    Screen("HD+", "desktop", 1600, 900),
    Screen("UXGA", "desktop", 1600, 1200),
    Screen("WSXGA+", "desktop", 1680, 1050),
    Screen("Full HD", "desktop", 1920, 1080),
    Screen("WUXGA", "desktop", 1920, 1200),
    Screen("UW-FHD", "desktop", 2560, 1080),
    Screen("Framework 13", "desktop", 2256, 1504),
    Screen("QHD", "desktop", 2560, 1440),
    Screen("WQXGA", "desktop", 2560, 1600),
    Screen("Surface Pro 4-7", "desktop", 2736, 1824),
    Screen("Surface Pro 8+/Laptop 13.5", "desktop", 2880, 1920),
    Screen("UW-QHD", "desktop", 3440, 1440),
    Screen("4K UHD", "desktop", 3840, 2160),
    Screen("Dual Full HD", "desktop", 3840, 1080),
    Screen("Dual WUXGA", "desktop", 3840, 1200),
    Screen("Super-ultrawide", "desktop", 5120, 1440),
    Screen("5K", "desktop", 5120, 2880),
    Screen("Dual QHD", "desktop", 5120, 1440),
    # macOS saves screenshots at the backing scale (@2x) of the logical desktop.
    Screen("MacBook Air 13 (2018-2020) / Pro 13", "desktop", 1440, 900, 2),
    Screen("MacBook Pro 13 (default scaled)", "desktop", 1280, 800, 2),
    Screen("MacBook Air 13 M2/M3", "desktop", 1280, 832, 2),
    Screen("MacBook Air 13 M2/M3 (default)", "desktop", 1470, 956, 2),
    Screen("MacBook Air 15", "desktop", 1440, 932, 2),
    Screen("MacBook Pro 14", "desktop", 1512, 982, 2),
    Screen("MacBook Pro 16", "desktop", 1728, 1117, 2),
    Screen("iMac 24", "desktop", 2240, 1260, 2),
    Screen("iMac 27 / Studio Display", "desktop", 2560, 1440, 2),
    Screen("MacBook Pro 15 Retina", "desktop", 1440, 900, 2),
    Screen("MacBook Pro 16 (scaled larger)", "desktop", 1536, 960, 2),
)


def _norm(w: int, h: int) -> tuple[int, int]:
    return (w, h) if w <= h else (h, w)


# (short side, long side) -> the screens with that pixel size. Built once at import.
_BY_SIZE: dict[tuple[int, int], tuple[Screen, ...]] = {}
for _s in SCREENS:
    _key = _norm(*_s.pixels)
    _BY_SIZE[_key] = (*_BY_SIZE.get(_key, ()), _s)

# Short sides of phone screens: a tall image exactly this wide is probably a scrolling or
# height-cropped phone screenshot.
PHONE_WIDTHS: frozenset[int] = frozenset(min(s.pixels) for s in SCREENS if s.kind == "phone")


def match(width: int, height: int) -> tuple[Screen, ...]:
    """Screens whose pixel size equals width×height in either orientation."""
    return _BY_SIZE.get(_norm(width, height), ())
