"""scan(): gate, normalise, detect, choose kinds by keyword, map offsets back.

Speed comes from the gate: most chat messages hold no run of six digit-like characters, no
'@' and no birth keyword, and leave after a few regex searches over the raw text (~1 µs).
Only the rest pay for normalisation and the detectors.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left, bisect_right
from collections.abc import Iterator

from .dates import birth_dates
from .detectors import Candidate, exclusion_spans, numbers
from .emails import emails
from .finding import Finding
from .keywords import BIRTH_KEYWORDS, MAX_AFTER, MAX_BEFORE, KeywordIndex
from .markup import strip_markup
from .normalize import (
    ASTRAL,
    BREAKS,
    DASHES,
    DIGIT_MAKERS,
    FOLD,
    KANJI_DIGITS,
    SEPARATORS,
    char_class,
    normalize,
)

# Findings under this confidence are not reported. 0.5 keeps: anything with a keyword of its
# kind nearby, formatted My Numbers (4-4-4) with a valid check digit, Luhn-valid card
# numbers, phone numbers, residence cards, e-mail. It drops: a bare 12-digit number whose
# My Number check digit happens to pass (0.4; one in ten random numbers does), a bare
# NNN-NNNN that might be a postal code (0.45), and shape-only finds demoted by an
# order-number label (注文番号 …) directly before them.
REPORT_THRESHOLD = 0.5
_MAX_DATE_LEN = 24  # longest date form the birth-date patterns match (with spaces)

# Tie-break when two kinds' keywords are equally close: the more specific kind first.
_PRIORITY = {
    k: i
    for i, k in enumerate(
        (
            "residence_card", "passport", "my_number", "drivers_license", "credit_card",
            "corporate_number", "pension_number", "health_insurance", "bank_account", "phone",
            "postal_code", "birth_date", "email",
        )
    )
}


def _gate_patterns() -> tuple[re.Pattern[str], re.Pattern[str]]:
    """Searches over the raw text that every possible finding must pass one of.

    1. a run of six digit-like characters (digits, full-width or kanji digits, up to three
       separators between them), an '@', or a character that folds to a digit (①, ⑴);
    2. a birth keyword (birth dates are written with short digit groups).
    Each pattern starts with one character class (the union of its first characters) or is
    an alternation of literals, so re skips ahead with a fast scan; the classes stay in the
    BMP so that they compile to bitmaps.
    """
    seps = {c for c in range(0x10000) if FOLD[c] in "-. ()" + SEPARATORS}
    seps |= {ord(c) for c in DASHES}
    seps |= {0x3000, 0x00A0, 0x09} | {ord(c) for c in SEPARATORS + BREAKS}
    seps |= set(range(0xFE00, 0xFE10)) | set(range(0x20DD, 0x20E5))  # keycaps, selectors
    seps -= set(range(0xD800, 0xE000))
    digit_chars = set(map(ord, "0123456789０１２３４５６７８９" + KANJI_DIGITS))
    digit_chars |= {c for c in range(0x10000) if FOLD[c] in "0123456789"}  # ٣, ३, ๓ …
    digit = f"[{char_class(digit_chars)}]"
    makers = {c for c in DIGIT_MAKERS if c <= 0xFFFF} | {ord("@"), ord("＠")}
    numbers_or_at = re.compile(
        f"[{char_class(digit_chars | makers)}]"
        f"(?:(?<={digit})(?:[{char_class(seps)}]{{0,3}}{digit}){{5}}"
        f"|(?<=[{char_class(makers)}]))"
    )

    words: set[str] = set()
    for kw in BIRTH_KEYWORDS:
        if not kw.isascii():
            words.add(kw)
            continue
        for w in kw.split():
            if w in ("date", "of"):
                continue  # "date of birth" is found by "birth"
            for form in (w.lower(), w.title(), w.upper()):
                words.add(form)
                words.add("".join(chr(ord(c) + 0xFEE0) for c in form))  # full-width
    birth = re.compile("|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)))
    return numbers_or_at, birth


_NUMBERS_OR_AT, _BIRTH_WORD = _gate_patterns()
# Invisible format characters (Cf) can stand anywhere between digits, in any number; astral
# characters may be digits (𝟏, 𐒡) or tag characters. Texts holding either are scanned in full.
_FORMAT_BMP = re.compile(
    f"[{char_class({c for c in range(0x10000) if unicodedata.category(chr(c)) == 'Cf'})}]"
)


def _worth_scanning(text: str) -> bool:
    return (_NUMBERS_OR_AT.search(text) is not None or _BIRTH_WORD.search(text) is not None
            or _FORMAT_BMP.search(text) is not None or _astral_digit_or_format(text))


def _astral_digit_or_format(text: str) -> bool:
    if ASTRAL.search(text) is None:
        return False
    return any(unicodedata.category(c) in ("Nd", "Cf") for c in ASTRAL.findall(text))


class _Scan:
    """One scan's normalised text, with the keyword index and the excluded spans (URLs,
    Matrix IDs) built only if a candidate needs them: most texts that pass the gate hold
    no candidate at all."""

    __slots__ = ("_excl", "_excl_starts", "_kw", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._kw: KeywordIndex | None = None
        self._excl: list[tuple[int, int]] | None = None
        self._excl_starts: list[int] = []

    @property
    def kw(self) -> KeywordIndex:
        if self._kw is None:
            self._kw = KeywordIndex(self.text)
        return self._kw

    def excluded(self, s: int, e: int) -> bool:
        if self._excl is None:
            self._excl = exclusion_spans(self.text)
            self._excl_starts = [a for a, _ in self._excl]
        spans = self._excl
        if not spans:
            return False
        # Spans do not overlap each other (finditer): only the last one starting at or
        # before s, and the first one after it, can intersect [s, e).
        i = bisect_right(self._excl_starts, s) - 1
        if i >= 0 and spans[i][1] > s:
            return True
        return i + 1 < len(spans) and spans[i + 1][0] < e

    def resolve(self, cand: Candidate) -> tuple[str, float] | None:
        """Choose the candidate's kind: the option whose keyword is closest, else the most
        confident option that stands on its shape alone."""
        scores = self.kw.scores(cand.start, cand.end)
        best: tuple[tuple[float, int], str, float] | None = None
        for opt in cand.options:
            sc = scores.get(opt.kind)
            if sc is not None:
                key = (sc, _PRIORITY[opt.kind])
                if best is None or key < best[0]:
                    best = (key, opt.kind, opt.with_kw)
        neg = scores.get("neg")
        if best is not None:
            kind, conf = best[1], best[2]
            # An order-number label (伝票番号 …) closer than the kind's own keyword: that
            # keyword belongs to another number nearby.
            if neg is not None and neg < best[0][0]:
                conf *= 0.5
        else:
            shape = max((o for o in cand.options if o.base > 0), key=lambda o: o.base,
                        default=None)
            if shape is None:
                return None
            kind, conf = shape.kind, shape.base
            if cand.shape_only_neg and neg is not None:
                conf *= 0.5
        return (kind, conf) if conf >= REPORT_THRESHOLD else None

    def birth_dates(self) -> Iterator[tuple[int, int, str, float]]:
        """Each birth keyword claims only its nearest date: 「生年月日 昭和60年4月1日、
        申請日 令和6年5月1日」 holds one birth date, not two."""
        kw = self.kw
        hits = kw.hits("birth_date")
        if not hits:
            return
        dates = birth_dates(self.text)
        date_starts = [c.start for c in dates]
        claimed: set[int] = set()
        for hit in hits:
            best: tuple[float, int] | None = None
            lo = bisect_left(date_starts, hit[0] - MAX_BEFORE - _MAX_DATE_LEN)
            hi = bisect_right(date_starts, hit[1] + MAX_AFTER)
            for idx in range(lo, hi):
                sc = kw.proximity(hit, dates[idx].start, dates[idx].end)
                if sc is not None and (best is None or sc < best[0]):
                    best = (sc, idx)
            if best is not None:
                claimed.add(best[1])
        for idx in sorted(claimed):
            conf = dates[idx].options[0].with_kw
            if conf >= REPORT_THRESHOLD:  # yearless dates only absorb a keyword
                yield dates[idx].start, dates[idx].end, "birth_date", conf


def _drop_overlaps(raw: list[tuple[int, int, str, float]]) -> list[tuple[int, int, str, float]]:
    """Overlapping findings (an e-mail whose local part is a phone number): the more
    confident one wins."""
    raw.sort()
    kept: list[tuple[int, int, str, float]] = []
    for f in raw:
        if kept and f[0] < kept[-1][1]:
            if f[3] > kept[-1][3]:
                kept[-1] = f
            continue
        kept.append(f)
    return kept


def scan(text: str, *, max_chars: int = 100_000) -> list[Finding]:
    """Find Japanese personal identifiers in text. Sorted by start; never raises on a str.

    Only the first max_chars characters are scanned (callers note the truncation).
    """
    if not text or max_chars <= 0:
        return []
    if len(text) > max_chars:
        text = text[:max_chars]
    markup = strip_markup(text)  # formatted_body: tags dropped, references decoded
    if markup is not None:
        text = markup.text
    if not _worth_scanning(text):
        return []

    norm = normalize(text)
    st = _Scan(norm.text)
    raw = [
        (cand.start, cand.end, kind, conf)
        for cand, kind, conf in numbers(st.text, st.resolve)
        if not st.excluded(cand.start, cand.end)
    ]
    if "@" in st.text:
        raw.extend((c.start, c.end, "email", c.options[0].base) for c in emails(st.text))
    if _BIRTH_WORD.search(text) is not None:
        raw.extend(st.birth_dates())

    out = []
    for s, e, kind, conf in _drop_overlaps(raw):
        os_, oe = norm.original_span(s, e)
        if markup is not None:
            os_, oe = markup.original_span(os_, oe)
        out.append(Finding(kind, os_, oe, round(conf, 2)))
    return out
