"""Normalisation for the detectors, with a map back to the user's own offsets.

What it does, in order:
1. NFKC applied character by character (full-width digits and letters → ASCII, half-width
   kana → full-width, ㈱ → (株), ideographic space → space), re-composing a following
   combining mark such as the half-width dakuten (ﾊﾞ → バ).
2. Kanji digits written one by one (〇九〇, 一二三四) → ASCII digits, but only in runs of two or
   more (a single 一 or 三 is far more often part of a word: 一緒, 三月) that do not touch
   ASCII letters or digits. Positional numerals (十, 百) are not converted.
3. Every dash-like character standing between two digits → '-'. Only between digits: ー
   (U+30FC) is also the long-vowel mark inside keywords such as マイナンバー.

Steps 2 and 3 keep the length; step 1 can change it, and then two lists record, for each
normalised character, the original index range that produced it. Most texts take a fast
path with no lists at all: ASCII text is left alone, and text whose characters all fold
one-to-one goes through one str.translate.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# Dash-likes that NFKC leaves alone (or maps to another dash-like), all used between digits
# in Japanese writing. ー and ｰ are the prolonged sound marks that IMEs often produce.
DASHES = (
    "-\u2010\u2011\u2012\u2013\u2014\u2015\u2043\u2212\u2500\u2501\u02d7"
    "\u2e3a\u2e3b\u30fc\uff70\uff0d\ufe58\ufe63"
)
# Other separators people put between digit groups (1234/5678/9018, 1234・5678・9018): treated
# like dashes, also only between digits. Full-width ／ ． and half-width ･ fold to these.
SEPARATORS = "/.\u30fb\u00b7\u2022\u2027\u2219\u2044\u2215"
# Line breaks: kept in the text; the detectors read one between digits as a wrapped number.
BREAKS = "\n\r\x0b\x0c\x85\u2028\u2029"
KANJI_DIGITS = "〇一二三四五六七八九"
_KANJI_TABLE = str.maketrans(KANJI_DIGITS, "0123456789")

# Kanji-digit runs are not converted when they touch ASCII letters or digits: "…1662七五三"
# and "ND七五三" are a number or a code followed by the word 七五三 (the look-ahead below, the
# look-behind in _kanji_repl). Patterns start with a character class, never a look-behind:
# then re skips ahead with a fast scan for that class instead of trying every position.
_KANJI_RUN = re.compile(
    f"[{KANJI_DIGITS}](?:[{re.escape(DASHES)}]?[{KANJI_DIGITS}])+(?![0-9A-Za-z])"
)
_DASH_BETWEEN = re.compile(f"[0-9][{re.escape(DASHES + SEPARATORS)}](?=[0-9])")
_ASCII_SEP_BETWEEN = re.compile(r"[0-9][/.](?=[0-9])")
_ASCII_DIGITS = frozenset("0123456789")
_ASCII_ALNUM = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


def char_class(codepoints: set[int]) -> str:
    """A regex character class body for a set of code points, as ranges."""
    parts: list[str] = []
    cps = sorted(codepoints)
    i = 0
    while i < len(cps):
        j = i
        while j + 1 < len(cps) and cps[j + 1] == cps[j] + 1:
            j += 1
        lo, hi = re.escape(chr(cps[i])), re.escape(chr(cps[j]))
        parts.append(lo if i == j else f"{lo}-{hi}")
        i = j + 1
    return "".join(parts)


def _build() -> tuple[list[str], set[int], set[str], set[int]]:
    """Derive the fold table and the 'needs the slow path' set from unicodedata.

    Computed once at import (~50 ms) rather than shipped as data, so it follows the
    Unicode version of the running Python.
    """
    fold = [chr(i) for i in range(0x10000)]
    decomposable: list[str] = []
    seconds: set[str] = set()  # second elements of canonical pairs: they may compose
    special: set[int] = set()
    decomposition, combining = unicodedata.decomposition, unicodedata.combining
    for rng in (range(0x80, 0xD800), range(0xE000, 0x20000), range(0x2F800, 0x2FA20)):
        for cp in rng:
            ch = chr(cp)
            if combining(ch):
                special.add(cp)
            dec = decomposition(ch)
            if not dec:
                continue
            decomposable.append(ch)
            if dec[0] != "<":
                pair = dec.split()
                if len(pair) == 2:
                    seconds.add(chr(int(pair[1], 16)))
    special.update(ord(c) for c in seconds)
    # Format characters (zero-width space, soft hyphen, BOM, bidi controls, tag characters)
    # are dropped; marks that may follow a digit (variation selectors, the keycap) too.
    # Decimal digits of every script become ASCII digits.
    category, decimal = unicodedata.category, unicodedata.decimal
    for cp in range(0x80, 0x110000):
        if 0xD800 <= cp < 0xE000:
            continue
        ch = chr(cp)
        cat = category(ch)
        if cat in ("Cf", "Mn", "Me") and not combining(ch):
            special.add(cp)
        elif cat == "Nd" and decimal(ch, None) is not None:
            if cp > 0xFFFF:
                special.add(cp)
            elif not unicodedata.decomposition(ch):
                fold[cp] = str(decimal(ch))
    # Conjoining jamo compose algorithmically; compatibility and half-width jamo fold to them.
    for lo, hi in ((0x1100, 0x1200), (0xA960, 0xA980), (0xD7B0, 0xD800), (0x3130, 0x3190),
                   (0xFFA0, 0xFFDD)):
        special.update(range(lo, hi))

    digit_makers: set[int] = set()  # characters other than 0-9/０-９ that fold to a digit or @
    for ch in decomposable:
        rep = unicodedata.normalize("NFKC", ch)
        if any(c in "0123456789@" for c in rep) and not ("０" <= ch <= "９" or ch == "＠"):
            digit_makers.add(ord(ch))
        if rep == ch:
            continue
        if len(rep) != 1 or ord(rep) in special or ord(ch) > 0xFFFF:
            special.add(ord(ch))
        else:
            fold[ord(ch)] = rep
    return fold, special, seconds, digit_makers


FOLD, _SPECIAL_CPS, _SECONDS, DIGIT_MAKERS = _build()
# re compiles a BMP-only class to a bitmap; one astral member would turn it into a linear
# list of ranges (10x slower). Astral characters (emoji, mostly) are checked one by one.
_SPECIAL_BMP = re.compile(f"[{char_class({c for c in _SPECIAL_CPS if c <= 0xFFFF})}]")
_SPECIAL_ASTRAL = frozenset(c for c in _SPECIAL_CPS if c > 0xFFFF)
ASTRAL = re.compile("[\U00010000-\U0010FFFF]")


def _has_special(text: str) -> bool:
    if _SPECIAL_BMP.search(text) is not None:
        return True
    if ASTRAL.search(text) is None:
        return False
    return any(ord(c) in _SPECIAL_ASTRAL for c in ASTRAL.findall(text))
_CHAR_CACHE: dict[str, str] = {}


@dataclass(frozen=True, slots=True)
class Normalized:
    """Normalised text plus the way back. starts/ends are None when offsets are unchanged."""

    text: str
    starts: list[int] | None = None  # original index of the first char behind text[i]
    ends: list[int] | None = None  # original index just past the last char behind text[i]

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        if self.starts is None or self.ends is None:
            return start, end
        if end <= start:
            pos = self.starts[start] if start < len(self.starts) else self.ends[-1]
            return pos, pos
        return self.starts[start], self.ends[end - 1]


def _fold_char(ch: str) -> str:
    rep = _CHAR_CACHE.get(ch)
    if rep is None:
        if unicodedata.category(ch) == "Cf":
            rep = ""
        else:
            rep = "".join(
                str(unicodedata.decimal(c)) if not c.isascii() and unicodedata.decimal(c, None)
                is not None else c
                for c in unicodedata.normalize("NFKC", ch)
            )
        if len(_CHAR_CACHE) < 4096:  # bounded: adversarial input must not grow memory
            _CHAR_CACHE[ch] = rep
    return rep


def _slow(text: str) -> tuple[str, list[int], list[int]]:
    out: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    for i, ch in enumerate(text):
        if out and out[-1] in _ASCII_DIGITS and unicodedata.category(ch) in ("Mn", "Me"):
            continue  # 1\ufe0f\u20e3 (keycap), 1\u0301: a mark on a digit is dropped
        for r in _fold_char(ch):
            if out and (r in _SECONDS or unicodedata.combining(r)):
                comp = unicodedata.normalize("NFC", out[-1] + r)
                if len(comp) == 1:
                    out[-1] = comp
                    ends[-1] = i + 1
                    continue
            out.append(r)
            starts.append(i)
            ends.append(i + 1)
    return "".join(out), starts, ends


def _kanji_repl(m: re.Match[str]) -> str:
    start = m.start()
    if start and m.string[start - 1] in _ASCII_ALNUM:
        return m.group()
    return m.group().translate(_KANJI_TABLE)


def _dash_repl(m: re.Match[str]) -> str:
    return m.group()[0] + "-"


def normalize(text: str) -> Normalized:
    """Normalise text for detection; see the module docstring."""
    if text.isascii():
        # NFKC is the identity on ASCII; no kanji, no odd dashes. Same length: no map.
        if _ASCII_SEP_BETWEEN.search(text) is not None:
            text = _ASCII_SEP_BETWEEN.sub(_dash_repl, text)
        return Normalized(text)
    starts = ends = None
    if _has_special(text):
        norm, starts, ends = _slow(text)
    else:
        norm = text.translate(FOLD)
    if _KANJI_RUN.search(norm) is not None:
        norm = _KANJI_RUN.sub(_kanji_repl, norm)
    if _DASH_BETWEEN.search(norm) is not None:
        norm = _DASH_BETWEEN.sub(_dash_repl, norm)
    return Normalized(norm, starts, ends)


def fold_plain(text: str) -> str:
    """Normalised text only (no offsets), e.g. for masking a matched value (HTML read as
    text first)."""
    from .markup import plain_text

    return normalize(plain_text(text)).text
