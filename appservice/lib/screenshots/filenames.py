"""File-name patterns that operating systems and screenshot tools use by default.

Names are NFKC-normalised and case-folded before matching: macOS stores names in NFD (which
splits 스크린샷 into jamo and é into e + accent), and people type full-width Latin on Japanese
keyboards. Apostrophes are unified because macOS writes "Capture d’écran" with U+2019.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass


@dataclass(frozen=True)
class NamePattern:
    label: str  # what the admin sees in the signal detail
    regex: re.Pattern[str]
    weight: float


def _words(*phrases: str) -> re.Pattern[str]:
    # Phrases are matched after the same normalisation as the file name; spaces in a phrase
    # also match "_" / "-" / nothing because tools and sync clients rewrite separators.
    parts = []
    for phrase in phrases:
        norm = _normalise(phrase)
        parts.append(r"[\s_\-.]*".join(re.escape(tok) for tok in norm.split()))
    return re.compile("|".join(parts))


def _normalise(name: str) -> str:
    name = unicodedata.normalize("NFKC", name).casefold()
    return name.replace("’", "'").replace("‘", "'").replace("`", "'")


# Default names written by the OS itself: a file carrying one is a screenshot unless renamed.
_OS_DEFAULTS = (
    "screenshot",  # Android, iOS share sheet, Windows 11, GNOME, KDE, Chrome OS
    "screen shot",  # macOS up to 10.14, iOS Simulator
    "スクリーンショット",  # macOS/Windows/GNOME in Japanese
    "スクショ",  # colloquial Japanese, common rename
    "画面キャプチャ",
    "画面ショット",
    "bildschirmfoto",  # de (macOS)
    "bildschirmaufnahme",
    "capture d'écran",  # fr
    "capture d'ecran",
    "captura de pantalla",  # es
    "captura de ecrã",  # pt-PT
    "captura de tela",  # pt-BR
    "schermata",  # it (macOS)
    "istantanea schermo",
    "schermafbeelding",  # nl
    "截屏",  # zh-CN (macOS)
    "截图",
    "屏幕截图",  # zh-CN (Windows)
    "截圖",  # zh-TW
    "螢幕截圖",
    "螢幕擷取畫面",
    "스크린샷",  # ko
    "화면 캡처",
    "snímek obrazovky",  # cs
    "snímka obrazovky",  # sk
    "zrzut ekranu",  # pl
    "skärmbild",  # sv
    "skärmavbild",  # sv (macOS)
    "skjermbilde",  # nb
    "skærmbillede",  # da
    "näyttökuva",  # fi
    "kuvakaappaus",
    "képernyőkép",  # hu
    "ekran resmi",  # tr (macOS)
    "ekran görüntüsü",  # tr
    "снимок экрана",  # ru
    "знімок екрана",  # uk
    "στιγμιότυπο οθόνης",  # el
    "צילום מסך",  # he
    "لقطة شاشة",  # ar
    "ภาพหน้าจอ",  # th
    "ảnh chụp màn hình",  # vi
    "tangkapan layar",  # id
    "cleanshot",  # popular macOS screenshot tool
    "scrnshot",
)

PATTERNS: tuple[NamePattern, ...] = (
    NamePattern("OS screenshot name", _words(*_OS_DEFAULTS), 0.7),
    # iOS names everything IMG_1234; photos are .HEIC/.JPG, screenshots are .PNG.
    NamePattern("iOS IMG_####.PNG", re.compile(r"(?:^|[^a-z])img_\d{4}\.png$"), 0.45),
    # Old Windows Snipping Tool ("Capture.PNG") and generic "capture"; weaker because
    # "capture" is also used for video frame grabs and scanned captures.
    NamePattern("generic capture name", _words("capture", "キャプチャ"), 0.35),
)


def match_filename(filename: str | None) -> tuple[NamePattern, str] | None:
    """Return the strongest matching pattern and the matched text, or None."""
    if not isinstance(filename, str) or not filename:
        return None
    # Only the base name matters, and a bounded amount of it (names come from other users).
    base = re.split(r"[\\/]", filename)[-1][:512]
    norm = _normalise(base)
    for pattern in PATTERNS:  # ordered strongest first
        m = pattern.regex.search(norm)
        if m:
            return pattern, m.group(0)
    return None
