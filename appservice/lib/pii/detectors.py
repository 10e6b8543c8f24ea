"""Numbers in normalised text: digit runs and letter+digit documents (passport, residence card).

Candidates carry kind options (shapes.py) and a span in normalised text; the scanner picks
the kind with keywords. The regexes are linear: digit groups and separators are disjoint
character sets, and every variable part is bounded.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass

from .shapes import Digits, Option, numeric_options

# Digit groups joined by short separators (hyphen, dot, space, parentheses). A run is later
# split at whitespace into segments, which are recombined only into known layouts.
# The look-ahead skips, inside the regex engine, the short numbers that fill chat (10時,
# 3件): no kind has fewer than six digits.
# Tabs and line breaks count as whitespace (a number wrapped across lines, or pasted from a
# table).
_WS = " \t\n\r\x0b\x0c\x85\u2028\u2029"
_RUN = re.compile(f"[0-9](?=[-.()0-9{_WS}]{{5}})[0-9]*(?:[-.(){_WS}]{{1,3}}[0-9]+)*")
_HAS_WS = re.compile(f"[{_WS}]")
# A single line break between digits: a wrapped number, read first as if it were not there.
_BREAK_JOINS = frozenset({"\n", "\r", "\r\n", "\x0b", "\x0c", "\x85", "\u2028", "\u2029"})
_SEGMENT = re.compile(r"[0-9]+(?:[-.()]{1,3}[0-9]+)*")  # a run's parts between whitespace
_DIGIT_GROUP = re.compile(r"[0-9]+")
_SEP = re.compile(r"[^0-9]+")
# Bounds of every layout (4-4-4-4-3 cards are the longest): they also bound the work of
# recombining segments, whatever the input.
MAX_GROUPS = 5
MIN_DIGITS, MAX_DIGITS = 6, 19

_ALNUM = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
_LETTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_CURRENCY_BEFORE = frozenset("¥$€£\\")
# Money, counts and units right after a number: 1234567円, 1234567件, 12345678人.
_UNIT_AFTER = ("円", "万", "億", "千", "百", "ドル", "件", "人", "名", "個", "枚", "回", "台",
               "通", "歳", "才", "冊", "点", "yen", "jpy", "usd", "%", "％")
_GLUE = frozenset(",/:")  # 1,234,567 · 2024/01/15 · 09:30:00 · server:8448

# URLs, mxc:// and Matrix identifiers: digits inside them are not identifiers of a person.
# A Matrix ID's server part must start with a letter, so that 「了解!TEL:090-…」 is no room ID.
_EXCLUDE = re.compile(
    r"(?:https?|ftp|mxc)://[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+"
    r"|www\.[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+"
    r"|[$!#@][A-Za-z0-9_\-=+/.]{1,255}:[A-Za-z][A-Za-z0-9\-.]{0,254}(?::[0-9]{1,5})?"
    r"|[$!][A-Za-z0-9_\-+/=]{40,}"
)


@dataclass(frozen=True, slots=True)
class Candidate:
    start: int  # normalised-text offsets
    end: int
    options: tuple[Option, ...]
    shape_only_neg: bool = True  # an order-number label nearby may demote the shape-only kind


def exclusion_spans(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in _EXCLUDE.finditer(text)]


def _next_visible(text: str, pos: int) -> str:
    """The text just after pos, skipping one space, lower-cased, 3 chars."""
    if pos < len(text) and text[pos] == " ":
        pos += 1
    return text[pos : pos + 3].lower()


def _blocked_edges(text: str, s: int, e: int) -> bool:
    """Number glued to money, a unit, a decimal, a date/time or thousands separators."""
    prev = text[s - 1] if s > 0 else ""
    prev2 = text[s - 2] if s > 1 else ""
    nxt = text[e] if e < len(text) else ""
    nxt2 = text[e + 1] if e + 1 < len(text) else ""
    if prev in _GLUE and prev2.isdigit():
        return True
    if nxt in _GLUE and nxt2.isdigit():
        return True
    if prev == "." and prev2.isdigit():
        return True
    if prev in _CURRENCY_BEFORE or (prev == " " and prev2 in _CURRENCY_BEFORE):
        return True
    if prev == "第" or nxt == "号":  # 第2024-001234号: a serial designation
        return True
    return _next_visible(text, e).startswith(_UNIT_AFTER)


def _letters_before(text: str, s: int) -> int:
    """How many ASCII letters stand directly before s (capped at 3)."""
    n = 0
    while n < 3 and s - n - 1 >= 0 and text[s - n - 1] in _LETTERS:
        n += 1
    return n


def _letters_after(text: str, e: int) -> int:
    n = 0
    while n < 3 and e + n < len(text) and text[e + n] in _LETTERS:
        n += 1
    return n


def _documents(text: str, s: int, e: int, digits: str) -> Candidate | None:
    """Passport (AB1234567) and residence card (AB12345678CD), letters glued to the digits."""
    if _letters_before(text, s) != 2:
        return None
    after = _letters_after(text, e)
    if len(digits) == 8 and after == 2:
        end = e + 2
        if end < len(text) and text[end] in _ALNUM:
            return None
        # Distinctive on its own: two letters, eight digits, two letters.
        return Candidate(s - 2, end, (Option("residence_card", 0.9, 0.98),), False)
    if len(digits) == 7 and after == 0:
        return Candidate(s - 2, e, (Option("passport", 0.0, 0.9),), False)
    return None


@dataclass(frozen=True, slots=True)
class _Segment:
    start: int  # text offsets
    end: int
    groups: tuple[str, ...]
    seps: tuple[str, ...]


def _segment(text: str, m: re.Match[str]) -> _Segment:
    s = m.group()
    if s.isdigit():
        return _Segment(m.start(), m.end(), (s,), ())
    return _Segment(m.start(), m.end(), tuple(_DIGIT_GROUP.findall(s)), tuple(_SEP.findall(s)))


Resolver = Callable[[Candidate], "tuple[str, float] | None"]


def numbers(text: str, resolve: Resolver) -> Iterator[tuple[Candidate, str, float]]:
    """Numeric findings: digit runs, recombined across whitespace into known layouts.

    A run is digit groups joined by short separators; whitespace splits it into segments
    ("6214 9832 0257" is three), which are recombined into windows of consecutive segments,
    longest first. Resolution (keywords) happens here so that a window whose possible kinds
    all lack their keyword gives way to a shorter window that may stand on its shape.
    """
    for m in _RUN.finditer(text):
        if m.end() - m.start() < MIN_DIGITS:
            continue
        run = m.group()
        if _HAS_WS.search(run) is None:  # the common case: one segment
            seg = _segment(text, m)
            cand = _candidate(text, seg.start, seg.end, seg.groups, seg.seps)
            resolved = resolve(cand) if cand is not None else None
            if cand is not None and resolved is not None:
                yield (cand, *resolved)
            continue
        yield from _recombine(text, m, resolve)


def _recombine(text: str, m: re.Match[str], resolve: Resolver
               ) -> Iterator[tuple[Candidate, str, float]]:
    segs = [_segment(text, sm) for sm in _SEGMENT.finditer(text, m.start(), m.end())]
    joins = [text[a.end : b.start] for a, b in itertools.pairwise(segs)]
    ndigits = [sum(map(len, seg.groups)) for seg in segs]
    n = len(segs)
    spelled = yield from _spelled(text, segs, joins, resolve)
    # Four or more space-separated 4-digit blocks are one number (a card, maybe with an
    # unknown prefix): never read a 4-4-4 My Number out of its middle or tail.
    blocky = n >= 4 and all(seg.groups and len(seg.groups) == 1 and len(seg.groups[0]) == 4
                            for seg in segs[:4])
    # Prefix sums: skip, in one pass, every start that cannot reach MIN_DIGITS within
    # MAX_GROUPS segments ("1 1 1 1 …" is a long run with nothing in it).
    prefix = list(itertools.accumulate(ndigits, initial=0))
    starts = [i for i in range(1 if blocky else n)
              if prefix[min(i + MAX_GROUPS, n)] - prefix[i] >= MIN_DIGITS]
    next_free = 0
    for i in starts:
        if i < next_free or i in spelled:
            continue
        ngroups = ndig = 0
        j_max = i
        while (j_max < n and ngroups + len(segs[j_max].groups) <= MAX_GROUPS
               and ndig + ndigits[j_max] <= MAX_DIGITS):
            ngroups += len(segs[j_max].groups)
            ndig += ndigits[j_max]
            j_max += 1
        j_min = 3 if blocky else i
        for j in range(j_max - 1, j_min - 1, -1):
            if ndig < MIN_DIGITS:
                break
            groups = tuple(g for seg in segs[i : j + 1] for g in seg.groups)
            seps: list[str] = []
            for k in range(i, j + 1):
                if k > i:
                    seps.append(joins[k - 1])
                seps.extend(segs[k].seps)
            ndig -= ndigits[j]
            if any(joins[k] in _BREAK_JOINS for k in range(i, j)):
                # Wrapped across lines: first as one number, then the break as a space.
                glued, gseps = _glue(segs, joins, i, j)
                cand = _candidate(text, segs[i].start, segs[j].end, glued, gseps)
                resolved = resolve(cand) if cand is not None else None
                if cand is not None and resolved is not None:
                    yield (cand, *resolved)
                    next_free = j + 1
                    break
            cand = _candidate(text, segs[i].start, segs[j].end, groups, tuple(seps))
            if cand is None:
                continue
            resolved = resolve(cand)
            if resolved is not None:
                yield (cand, *resolved)
                next_free = j + 1
                break


def _glue(segs: list[_Segment], joins: list[str], i: int, j: int
          ) -> tuple[tuple[str, ...], tuple[str, ...]]:
    groups: list[str] = list(segs[i].groups)
    seps: list[str] = list(segs[i].seps)
    for k in range(i + 1, j + 1):
        g = segs[k].groups
        if joins[k - 1] in _BREAK_JOINS:
            groups[-1] += g[0]
        else:
            seps.append(joins[k - 1])
            groups.append(g[0])
        groups.extend(g[1:])
        seps.extend(segs[k].seps)
    return tuple(groups), tuple(seps)


def _spelled(text: str, segs: list[_Segment], joins: list[str], resolve: Resolver
             ) -> Generator[tuple[Candidate, str, float], None, set[int]]:
    """One digit per space ("0 9 0 1 2 3 4 5 6 7 8"): stretches of at least six one-digit
    segments are read as one number. The most common gap is the spacing between digits; any
    other gap (" - ", a double space among single ones) separates groups. Returns the indexes
    of the segments used, which the window search then skips."""
    used: set[int] = set()
    n = len(segs)
    a = 0
    while a < n:
        if not _single(segs[a]):
            a += 1
            continue
        b = a
        while b + 1 < n and _single(segs[b + 1]):
            b += 1
        count = b - a + 1
        if MIN_DIGITS <= count <= MAX_DIGITS:
            gaps = joins[a:b]
            common = Counter(gaps).most_common(1)[0][0]
            groups = [segs[a].groups[0]]
            seps: list[str] = []
            for k in range(a + 1, b + 1):
                if gaps[k - a - 1] == common:
                    groups[-1] += segs[k].groups[0]
                else:
                    seps.append(gaps[k - a - 1])
                    groups.append(segs[k].groups[0])
            if len(groups) <= MAX_GROUPS:
                cand = _candidate(text, segs[a].start, segs[b].end, tuple(groups), tuple(seps))
                resolved = resolve(cand) if cand is not None else None
                if cand is not None and resolved is not None:
                    yield (cand, *resolved)
                    used.update(range(a, b + 1))
        a = b + 1
    return used


def _single(seg: _Segment) -> bool:
    return len(seg.groups) == 1 and len(seg.groups[0]) == 1


def _candidate(
    text: str, s: int, e: int, groups: tuple[str, ...], seps: tuple[str, ...]
) -> Candidate | None:
    digits = "".join(groups)
    prev = text[s - 1] if s > 0 else ""
    nxt = text[e] if e < len(text) else ""
    if prev in _ALNUM or nxt in _ALNUM:
        # Glued to letters: only the passport / residence card layouts, else part of a word,
        # an ID or a hash.
        if len(groups) == 1:
            return _documents(text, s, e, digits)
        return None
    if _blocked_edges(text, s, e):
        return None
    plus = prev == "+"
    if plus:
        s -= 1
    elif prev == "(" and any(")" in sep for sep in seps):
        s -= 1  # (03)1234-5678
    opts = numeric_options(Digits(groups, seps, plus))
    if not opts:
        return None
    return Candidate(s, e, tuple(opts))
