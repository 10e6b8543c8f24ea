"""Deterministic synthetic images for the screenshot analyser's tests and benchmark.

Generated instead of committed: no binaries in the repo, no real screenshots with real data, and
every property under test (size, metadata, flatness, noise) is explicit in code. All randomness
comes from random.Random(seed); Pillow's effect_noise is avoided because it uses C rand().
"""

from __future__ import annotations

import io
import itertools
import random
import struct
import unicodedata
import zlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from PIL import ExifTags, Image, ImageChops, ImageDraw, ImageFilter, ImageFont
from PIL.PngImagePlugin import PngInfo

NOTO_CJK = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")

_PHRASES = (
    "お疲れさまです",
    "明日の会議は10時からです",
    "資料を共有します",
    "了解しました",
    "住民票の件、確認お願いします",
    "See you tomorrow",
    "Thanks!",
    "窓口の混雑状況",
    "承知しました。対応します。",
    "Meeting moved to 3pm",
)


@dataclass(frozen=True)
class Sample:
    label: str  # short description, used as the pytest id
    data: bytes
    filename: str | None
    info: dict | None
    is_screenshot: bool


# --------------------------------------------------------------------------- fonts


@cache
def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    if NOTO_CJK.exists():
        return ImageFont.truetype(str(NOTO_CJK), size)
    return ImageFont.load_default(size)


# --------------------------------------------------------------------------- pictures


def ui_image(w: int, h: int, rng: random.Random, *, dark: bool = False, photo: bool = False):
    """A chat app (portrait) or a desktop window (landscape): flat colours, text, bubbles."""
    if h >= w:
        return _phone_ui(w, h, rng, dark=dark, photo=photo)
    return _desktop_ui(w, h, rng, dark=dark, photo=photo)


def _palette(dark: bool, rng: random.Random) -> tuple[str, str, str, str]:
    accent = rng.choice(["#06c755", "#0a84ff", "#5856d6", "#ff9500", "#0dbd8b"])
    if dark:
        return "#1c1c1e", "#2c2c2e", "#f2f2f7", accent
    return "#ffffff", "#e9e9eb", "#1c1c1e", accent


def _phone_ui(w: int, h: int, rng: random.Random, *, dark: bool, photo: bool) -> Image.Image:
    bg, bubble, fg, accent = _palette(dark, rng)
    im = Image.new("RGB", (w, h), bg)
    d = ImageDraw.Draw(im)
    unit = max(4, w // 30)
    f = font(unit)
    d.text((unit, unit // 2), "9:41", fill=fg, font=f)
    d.rectangle((w - 4 * unit, unit, w - unit, 2 * unit), fill=fg)  # battery
    d.rectangle((0, 3 * unit, w, 6 * unit), fill=accent)
    d.text((2 * unit, int(3.7 * unit)), "総務課 連絡", fill="white", font=f)
    y = 7 * unit
    placed_photo = not photo
    while y < h - 6 * unit:
        if not placed_photo and y > h // 3:
            ph = min(h // 4, h - 6 * unit - y)
            pw = int(w * 0.6)
            if ph > unit:
                im.paste(photo_image(pw, ph, rng), (unit, y))
            y += ph + unit
            placed_photo = True
            continue
        mine = rng.random() < 0.5
        text = rng.choice(_PHRASES)
        tw = min(int(d.textlength(text, font=f)) + 2 * unit, w - 3 * unit)
        lines = rng.randint(1, 2)
        bh = lines * int(1.5 * unit) + unit
        x0 = w - tw - unit if mine else unit
        d.rounded_rectangle((x0, y, x0 + tw, y + bh), radius=unit, fill=accent if mine else bubble)
        for i in range(lines):
            d.text(
                (x0 + unit, y + unit // 2 + i * int(1.5 * unit)),
                text,
                font=f,
                fill="white" if mine else fg,
            )
        y += bh + unit
    d.rectangle((0, h - 5 * unit, w, h), fill=bubble)
    d.rounded_rectangle((unit, h - 4 * unit, w - 4 * unit, h - 2 * unit), radius=unit, fill=bg)
    return im


def _desktop_ui(w: int, h: int, rng: random.Random, *, dark: bool, photo: bool) -> Image.Image:
    bg, panel, fg, accent = _palette(dark, rng)
    im = Image.new("RGB", (w, h), bg)
    d = ImageDraw.Draw(im)
    unit = max(6, h // 60)
    f = font(unit)
    d.rectangle((0, 0, w, 2 * unit), fill=panel)  # menu bar
    side = w // 5
    d.rectangle((0, 2 * unit, side, h), fill=accent)
    for i in range(rng.randint(6, 14)):
        d.text((unit, 3 * unit + i * 2 * unit), rng.choice(_PHRASES)[:8], fill="white", font=f)
    y = 3 * unit
    while y < h - 3 * unit:
        if photo and y > h // 3:
            ph = min(h // 3, h - 3 * unit - y)
            if ph > unit:
                im.paste(photo_image((w - side) // 2, ph, rng), (side + unit, y))
            y += ph + unit
            photo = False
            continue
        d.ellipse((side + unit, y, side + 3 * unit, y + 2 * unit), fill=panel)
        d.text((side + 4 * unit, y), rng.choice(_PHRASES), fill=fg, font=f)
        y += int(2.5 * unit)
    d.rectangle((side, h - 3 * unit, w, h), fill=panel)
    return im


def _noise(w: int, h: int, rng: random.Random, amplitude: int) -> Image.Image:
    noise = Image.frombytes("L", (w, h), rng.randbytes(w * h))
    lo = 128 - amplitude
    return noise.point([lo + (v * 2 * amplitude) // 255 for v in range(256)])


def photo_image(w: int, h: int, rng: random.Random, *, amplitude: int = 24) -> Image.Image:
    """Smooth random colour field (scene) plus per-pixel sensor-like noise."""
    coarse = Image.new("RGB", (6, 5))
    coarse.putdata([tuple(rng.randrange(256) for _ in range(3)) for _ in range(30)])
    base = coarse.resize((w, h), Image.Resampling.BICUBIC)
    d = ImageDraw.Draw(base)
    for _ in range(12):  # objects
        x, y = rng.randrange(w), rng.randrange(h)
        r = rng.randrange(max(2, min(w, h) // 12), max(3, min(w, h) // 4))
        d.ellipse((x - r, y - r, x + r, y + r), fill=tuple(rng.randrange(256) for _ in range(3)))
    base = base.filter(ImageFilter.GaussianBlur(max(1, min(w, h) // 100)))
    bands = [ImageChops.add(b, _noise(w, h, rng, amplitude), offset=-128) for b in base.split()]
    return Image.merge("RGB", bands)


def scan_image(w: int, h: int, rng: random.Random, *, text: bool = False) -> Image.Image:
    """A scanned form: off-white paper with faint noise, grey text lines and a table."""
    im = Image.new("L", (w, h), 242)
    d = ImageDraw.Draw(im)
    m = w // 10
    line_h = max(4, h // 80)
    f = font(line_h) if text else None
    y = m
    while y < h - m:
        if f is not None:
            d.text((m, y), rng.choice(_PHRASES), fill=60, font=f)
        else:
            x = m
            while x < w - m:  # words as grey bars
                ww = rng.randrange(line_h * 2, line_h * 8)
                d.rectangle((x, y, min(x + ww, w - m), y + line_h // 2), fill=70)
                x += ww + line_h
        y += 2 * line_h
        if rng.random() < 0.05:
            d.rectangle((m, y, w - m, y + 6 * line_h), outline=40, width=max(1, w // 800))
            y += 7 * line_h
    return ImageChops.add(im, _noise(w, h, rng, 4), offset=-128)


FORM_SECRETS = ("電話番号 090-1234-5678", "マイナンバー 1234 5678 9018")


def form_image(w: int = 1170, h: int = 2532, size: int = 48) -> Image.Image:
    """A resident's form as seen on a phone: name, phone number and a valid My Number."""
    im = Image.new("RGB", (w, h), "white")
    d = ImageDraw.Draw(im)
    d.rectangle((0, 0, w, 3 * size), fill="#06c755")
    lines = ("住民異動届", "氏名 山田 太郎", *FORM_SECRETS, "よろしくお願いします")
    for i, line in enumerate(lines):
        d.text((size, 4 * size + i * 2 * size), line, fill="black", font=font(size))
    return im


def diagram_image(w: int, h: int, rng: random.Random) -> Image.Image:
    im = Image.new("RGB", (w, h), "white")
    d = ImageDraw.Draw(im)
    f = font(max(8, h // 40))
    boxes = []
    for _ in range(rng.randint(4, 8)):
        bw, bh = rng.randrange(w // 8, w // 4), rng.randrange(h // 12, h // 6)
        x, y = rng.randrange(0, w - bw), rng.randrange(0, h - bh)
        colour = rng.choice(["#dae8fc", "#d5e8d4", "#ffe6cc", "#f8cecc"])
        d.rectangle((x, y, x + bw, y + bh), fill=colour, outline="#333333", width=2)
        d.text((x + 5, y + 5), rng.choice(_PHRASES)[:6], fill="black", font=f)
        boxes.append((x + bw // 2, y + bh // 2))
    for a, b in itertools.pairwise(boxes):
        d.line((a, b), fill="#333333", width=2)
    return im


def chart_image(w: int, h: int, rng: random.Random) -> Image.Image:
    im = Image.new("RGB", (w, h), "white")
    d = ImageDraw.Draw(im)
    d.line(
        (w // 10, h // 10, w // 10, h - h // 10, w - w // 20, h - h // 10), fill="black", width=2
    )
    n = rng.randint(5, 10)
    bw = (w * 8 // 10) // n
    for i in range(n):
        bh = rng.randrange(h // 10, h * 7 // 10)
        x = w // 10 + i * bw + 4
        d.rectangle((x, h - h // 10 - bh, x + bw - 8, h - h // 10), fill="#4472c4")
    return im


def logo_image(w: int, h: int, rng: random.Random) -> Image.Image:
    im = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    d = ImageDraw.Draw(im)
    colour = tuple(rng.randrange(256) for _ in range(3))
    s = min(w, h)
    d.ellipse((s // 10, s // 10, s - s // 10, s - s // 10), fill=(*colour, 255))
    if w > h * 1.5:
        d.text((s, h // 4), "YAKUBA", fill=(*colour, 255), font=font(max(8, h // 2)))
    return im


# --------------------------------------------------------------------------- metadata


def camera_exif(rng: random.Random, *, gps: bool = True) -> bytes:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = rng.choice(["Apple", "Canon", "SONY", "Google"])
    exif[ExifTags.Base.Model] = rng.choice(["iPhone 15", "EOS R6", "ILCE-7M4", "Pixel 8"])
    sub = exif.get_ifd(ExifTags.IFD.Exif)
    sub[ExifTags.Base.ExposureTime] = 1 / rng.choice([60, 125, 250])
    sub[ExifTags.Base.FNumber] = rng.choice([1.8, 2.8, 4.0])
    sub[ExifTags.Base.ISOSpeedRatings] = rng.choice([50, 100, 400])
    sub[ExifTags.Base.FocalLength] = 4.2
    if gps:
        g = exif.get_ifd(ExifTags.IFD.GPSInfo)
        g[ExifTags.GPS.GPSLatitudeRef] = "N"
        g[ExifTags.GPS.GPSLatitude] = (35.0, 41.0, 22.0)
    return exif.tobytes()


def ios_screenshot_exif() -> bytes:
    exif = Image.Exif()
    exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.UserComment] = b"ASCII\x00\x00\x00Screenshot"
    return exif.tobytes()


IOS_XMP = (
    '<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="XMP Core 6.0.0">'
    '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    '<rdf:Description rdf:about="" xmlns:exif="http://ns.adobe.com/exif/1.0/">'
    "<exif:PixelYDimension>2556</exif:PixelYDimension>"
    "<exif:PixelXDimension>1179</exif:PixelXDimension>"
    "<exif:UserComment>Screenshot</exif:UserComment>"
    "</rdf:Description></rdf:RDF></x:xmpmeta>"
)


# --------------------------------------------------------------------------- encoders


def png(im: Image.Image, *, exif: bytes | None = None, xmp: str | None = None) -> bytes:
    buf = io.BytesIO()
    kwargs: dict = {}
    if exif:
        kwargs["exif"] = exif
    if xmp:
        info = PngInfo()
        info.add_itxt("XML:com.adobe.xmp", xmp)
        kwargs["pnginfo"] = info
    im.save(buf, "PNG", compress_level=1, **kwargs)
    return buf.getvalue()


def jpeg(im: Image.Image, *, exif: bytes | None = None, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    im.convert("RGB").save(buf, "JPEG", quality=quality, **({"exif": exif} if exif else {}))
    return buf.getvalue()


def encode(im: Image.Image, fmt: str, **kwargs: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kwargs)
    return buf.getvalue()


# --------------------------------------------------------------------------- labelled set


def labelled_set(seed: int = 20240115) -> list[Sample]:
    """≥ 60 labelled images: screenshots in many guises, and the things mistaken for them."""
    rng = random.Random(seed)
    out: list[Sample] = []

    def add(label, data, filename, is_shot, info=None):
        out.append(Sample(label, data, filename, info, is_shot))

    ui = _ui_factory(rng)
    nfd = _nfd
    # --- screenshots named by the OS, many languages (dims from the device that names them so)
    add("android-en", png(ui(1080, 2400)), "Screenshot_20240115-093012.png", True)
    add("samsung-jpeg", jpeg(ui(1080, 2340)), "Screenshot_20240115-093012_LINE.jpg", True)
    add("mac-ja", png(ui(2880, 1800)), "スクリーンショット 2024-01-15 9.30.12.png", True)
    add("win-ja", png(ui(1920, 1080)), "スクリーンショット (3).png", True)
    add("mac-de", png(ui(2560, 1600)), "Bildschirmfoto 2024-01-15 um 09.30.12.png", True)
    add("mac-fr-nfd", png(ui(1440, 900)), nfd("Capture d’écran 2024-01-15 à 09.30.12.png"), True)
    add("win-es", png(ui(1366, 768)), "Captura de pantalla 2024-01-15 093012.png", True)
    add("mac-it", png(ui(3024, 1964)), "Schermata 2024-01-15 alle 09.30.12.png", True)
    add("mac-zh", png(ui(2560, 1664)), "截屏2024-01-15 09.30.12.png", True)
    add("win-zh", png(ui(1920, 1200)), "屏幕截图 2024-01-15 093012.png", True)
    add("android-ko-nfd", png(ui(1440, 3200)), nfd("스크린샷_20240115-093012.png"), True)
    add("win-cs", png(ui(1920, 1080, dark=True)), "Snímek obrazovky 2024-01-15 093012.png", True)
    add("win-pl", png(ui(1080, 2400)), "Zrzut ekranu 2024-01-15 093012.png", True)
    add("win-sv", png(ui(1080, 2400)), "Skärmbild 2024-01-15 093012.png", True)
    add("mac-old", png(ui(2880, 1800)), "Screen Shot 2020-05-01 at 10.00.00.png", True)
    add("ja-sukusho", jpeg(ui(1170, 2532)), "スクショ.jpg", True)
    add("ja-gamen", png(ui(1280, 720)), "画面キャプチャ.png", True)
    add("ios-img-png", png(ui(1170, 2532)), "IMG_0412.PNG", True)
    add("fullwidth-name", png(ui(1080, 2400)), "ＳＣＲＥＥＮＳＨＯＴ.png", True)
    # --- generic names: the pixels and metadata have to speak
    add("ios-xmp-png", png(ui(1179, 2556), xmp=IOS_XMP), "IMG_0413.PNG", True)
    add("iphone-pro-max", png(ui(1290, 2796)), "image.png", True)
    add("iphone-se-noname", png(ui(750, 1334)), None, True)
    add("galaxy-s20-dark", png(ui(1440, 3200, dark=True)), "image.png", True)
    add("ipad-pro", png(ui(2048, 2732)), "image.png", True)
    add("ipad-10-2", png(ui(1620, 2160)), "image.png", True)
    add("desktop-qhd", png(ui(2560, 1440)), "image.png", True)
    add("desktop-photo-inside", png(ui(1920, 1080, photo=True)), "image.png", True)
    add("phone-photo-inside", png(ui(1080, 2400, photo=True)), "image.png", True)
    add("ios-exif-jpeg", jpeg(ui(1170, 2532), exif=ios_screenshot_exif()), "image.jpg", True)
    add("ios-xmp-cropped", png(ui(1000, 1500), xmp=IOS_XMP), "photo.png", True)
    add("named-crop", png(ui(812, 455)), "Screenshot 2024-01-15 093012.png", True)
    add("scrolling", png(ui(1080, 5200)), "image.png", True)
    add("resized-dark-jpeg", jpeg(ui(738, 1600, dark=True), quality=80), "image.jpg", True)
    add("pixel-mime-wrong", png(ui(1080, 2424)), "image.jpg", True, {"mimetype": "image/jpeg"})
    # Known false negative (documented): a cropped screenshot with a generic name is just a
    # flat PNG, like a diagram.
    add("HARD-generic-crop", png(ui(900, 600)), "image.png", True)

    # --- camera photos
    for label, (w, h), name in (
        ("camera-iphone", (4032, 3024), "IMG_1234.JPG"),
        ("camera-portrait", (3024, 4032), "IMG_1235.JPG"),
        ("camera-dslr", (3000, 2000), "DSC_0001.JPG"),
        ("camera-small", (1600, 1200), "P1010001.JPG"),
        ("camera-16x9", (1920, 1080), "IMG_20240115_093012.jpg"),
        ("camera-android", (4000, 3000), "PXL_20240115_093012.jpg"),
    ):
        add(label, jpeg(photo_image(w, h, rng), exif=camera_exif(rng, gps=w > 2000)), name, False)
    add("photo-stripped", jpeg(photo_image(2048, 1536, rng)), "image.jpg", False)
    add("photo-stripped-noname", jpeg(photo_image(1280, 960, rng)), None, False)
    add("photo-xga", jpeg(photo_image(1024, 768, rng)), "image.jpg", False)
    add("photo-png", png(photo_image(1200, 900, rng)), "image.png", False)
    add("photo-ios-name", jpeg(photo_image(3024, 4032, rng)), "IMG_5678.JPG", False)
    add("photo-capture-name", jpeg(photo_image(1600, 1200, rng)), "capture.jpg", False)
    add("photo-make-only", jpeg(photo_image(1280, 720, rng), exif=_make_only()), "a.jpg", False)
    # --- scanned documents: not screenshots, but the natural OCR candidates
    add("scan-a4-300", png(scan_image(2480, 3508, rng)), "scan_0001.png", False)
    add("scan-a4-jpeg", jpeg(scan_image(2480, 3508, rng)), "document.jpg", False)
    add("scan-a4-150", png(scan_image(1240, 1754, rng, text=True)), "scan.png", False)
    add("scan-letter", png(scan_image(2550, 3300, rng)), "scan.png", False)
    add("scan-a4-200", jpeg(scan_image(1654, 2339, rng)), "IMG_0001.jpg", False)
    # --- diagrams, charts, logos, icons, stickers
    add("diagram", png(diagram_image(800, 600, rng)), "diagram.png", False)
    add("flowchart", png(diagram_image(1200, 900, rng)), "flowchart.png", False)
    add("diagram-square", png(diagram_image(1000, 1000, rng)), None, False)
    add("orgchart", png(diagram_image(1600, 1000, rng)), "組織図.png", False)
    add("chart", png(chart_image(1000, 600, rng)), "chart.png", False)
    add("logo", png(logo_image(512, 512, rng)), "logo.png", False)
    add("logo-wide", png(logo_image(300, 100, rng)), "logo_small.png", False)
    add("banner", png(logo_image(1000, 400, rng)), "banner.png", False)
    for side in (16, 32, 64, 128):
        add(f"icon-{side}", png(logo_image(side, side, rng)), f"icon{side}.png", False)
    add("sticker-webp", encode(logo_image(512, 512, rng), "WEBP"), "sticker.webp", False)
    add("gif", encode(photo_image(480, 270, rng).convert("P"), "GIF"), "funny.gif", False)
    # Known false positive (documented): a slide exported at a screen size is flat and PNG.
    add("HARD-slide-export", png(diagram_image(1280, 720, rng)), "slide1.png", False)
    return out


def _ui_factory(rng: random.Random):
    def ui(w: int, h: int, *, dark: bool = False, photo: bool = False) -> Image.Image:
        return ui_image(w, h, rng, dark=dark, photo=photo)

    return ui


def _nfd(name: str) -> str:
    return unicodedata.normalize("NFD", name)  # what macOS hands to upload dialogs


def _make_only() -> bytes:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "Apple"
    exif[ExifTags.Base.Model] = "iPhone 15"
    return exif.tobytes()


# --------------------------------------------------------------------------- hostile input


def png_bomb(side: int = 30_000) -> bytes:
    """A valid 1-bit PNG of side×side pixels (900 Mpx by default) in ~100 KiB."""
    row = b"\x00" * (1 + (side + 7) // 8)  # filter byte + packed bits
    comp = zlib.compressobj(9)
    body = b"".join(comp.compress(row) for _ in range(side)) + comp.flush()
    return _png_file(side, side, bit_depth=1, colour_type=0, idat=body)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares width×height and carries one tiny IDAT."""
    return _png_file(width, height, bit_depth=8, colour_type=2, idat=zlib.compress(b"\x00" * 64))


def png_ztxt_bomb(inflated: int = 64 * 2**20) -> bytes:
    """A 10×10 PNG whose zTXt metadata chunk inflates to `inflated` bytes."""
    text = b"Comment\x00\x00" + zlib.compress(b"\x00" * inflated, 9)
    return _png_file(10, 10, 8, 2, zlib.compress(b"\x00" * 31 * 10), extra=[(b"zTXt", text)])


def jpeg_header_only(width: int, height: int) -> bytes:
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + sof + b"\xff\xd9"


def gif_oversized_frame(frame: int = 60_000) -> bytes:
    """A 10×10 GIF whose first frame claims frame×frame pixels."""
    return (
        b"GIF89a"
        + struct.pack("<HHBBB", 10, 10, 0, 0, 0)
        + b"\x2c"
        + struct.pack("<HHHHB", 0, 0, frame, frame, 0)
        + b"\x02\x02\x44\x01\x00\x3b"
    )


def _png_file(
    width: int,
    height: int,
    bit_depth: int,
    colour_type: int,
    idat: bytes,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> bytes:
    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    parts = [b"\x89PNG\r\n\x1a\n", chunk(b"IHDR", ihdr)]
    parts += [chunk(k, p) for k, p in extra or []]
    parts += [chunk(b"IDAT", idat), chunk(b"IEND", b"")]
    return b"".join(parts)
