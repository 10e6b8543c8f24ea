"""`!yakuba away …`: the period, the stand-in (代理) and a note, read in JST. Pure.

    12/24-12/27 年次休暇            days (the last one whole)
    12/24 13:00-17:00               hours of one day
    12/24 13:00-12/25 12:00         from a time to a time
    until 12/27 / 12/27まで / ~12/27 from now
    令和8年12月24日〜令和8年12月27日  和暦, 2026年12月24日, 2026-12-24, 12月24日
    today / 今日 / 本日, tomorrow / 明日
    … 代理 @sato   (or `delegate @sato`, `代理:@sato`)

Full-width digits and separators typed on a Japanese keyboard are folded (NFKC). A date without
a year is the next such date from today (a date up to 60 days back is taken as this year's: a
typo, reported as past). A period whose end is a date lasts through that whole day; when it
ends is decided by the work calendar (the next working time after it), not here.
Errors are `AwayParseError(key, params)`, rendered from the catalog.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

MAX_NOTE = 200


class AwayParseError(ValueError):
    def __init__(self, key: str, **params: object) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


@dataclass(frozen=True)
class Point:
    """A date, with a time of day or without (then: the start of the day, or its whole)."""

    day: date
    at: time | None = None


@dataclass(frozen=True)
class AwaySpec:
    start: Point | None  # None: from now
    end: Point
    delegate: str | None = None
    note: str = ""


_REIWA = 2018  # 令和元年 = 2019
_ERA = re.compile(r"^(?:令和|R)\s*(元|\d{1,2})\s*[年./]\s*(\d{1,2})\s*[月./]\s*(\d{1,2})\s*日?")
_YMD = re.compile(r"^(\d{4})\s*[年/.-]\s*(\d{1,2})\s*[月/.-]\s*(\d{1,2})\s*日?")
_MD = re.compile(r"^(\d{1,2})\s*(?:/|月)\s*(\d{1,2})\s*日?")
_WORDS = {"today": 0, "今日": 0, "本日": 0, "きょう": 0, "tomorrow": 1, "明日": 1, "あす": 1, "あした": 1}
_TIME = re.compile(r"^(\d{1,2})\s*(?::\s*(\d{2})|時\s*(?:(\d{1,2})\s*分|半)?)")
_WEEKDAY = re.compile(r"^[（(]\s*[月火水木金土日]\s*(?:曜日?)?\s*[)）]|^\s*\((?:mon|tue|wed|thu|fri|sat|sun)\)", re.I)
_RANGE = re.compile(r"^\s*(?:-|~|〜|から|to\b|–|—)\s*", re.I)
_UNTIL_PREFIX = re.compile(r"^\s*(?:until|till|~|〜)\s*", re.I)
_UNTIL_SUFFIX = re.compile(r"^\s*(?:まで|迄)")
_DELEGATE = re.compile(r"(?:^|[\s、,])(?:代理人|代理|delegate|代わり)\s*[:：は]?\s*(\S+)", re.I)


def fold(text: str) -> str:
    """NFKC (full-width digits, ：, ／, ～ → ASCII); the wave dash 〜 stays and is accepted."""
    return unicodedata.normalize("NFKC", text).strip()


def _year_for(month: int, day: int, today: date) -> date:
    for year in (today.year, today.year + 1):
        try:
            d = date(year, month, day)
        except ValueError:
            continue
        if d >= today - timedelta(days=60):
            return d
    raise AwayParseError("away.err.bad_date", text=f"{month}/{day}")


def _date(text: str, today: date) -> tuple[date, str] | None:
    """A date at the start of `text` and the rest, or None if there is none there."""
    low = text.lower()
    for word, plus in _WORDS.items():
        if low.startswith(word):
            return today + timedelta(days=plus), text[len(word):]
    m = _ERA.match(text)
    if m:
        year = _REIWA + (1 if m[1] == "元" else int(m[1]))
        return _make(year, int(m[2]), int(m[3]), m[0]), text[m.end():]
    m = _YMD.match(text)
    if m:
        return _make(int(m[1]), int(m[2]), int(m[3]), m[0]), text[m.end():]
    m = _MD.match(text)
    if m:
        month, day = int(m[1]), int(m[2])
        if not (1 <= month <= 12 and 1 <= day <= 31):
            raise AwayParseError("away.err.bad_date", text=m[0].strip())
        return _year_for(month, day, today), text[m.end():]
    return None


def _make(year: int, month: int, day: int, shown: str) -> date:
    try:
        return date(year, month, day)
    except ValueError:
        raise AwayParseError("away.err.bad_date", text=shown.strip()) from None


def _time(text: str) -> tuple[time, str] | None:
    m = _TIME.match(text)
    if not m:
        return None
    hour = int(m[1])
    minute = int(m[2] or m[3] or 0)
    if m[0].endswith("半"):
        minute = 30
    if hour == 24 and minute == 0:
        hour, minute = 23, 59
    if hour > 23 or minute > 59:
        raise AwayParseError("away.err.bad_time", text=m[0].strip())
    return time(hour, minute), text[m.end():]


def _skip_weekday(text: str) -> str:
    m = _WEEKDAY.match(text.lstrip())
    return text.lstrip()[m.end():] if m else text


def _point(text: str, today: date, base: date | None = None) -> tuple[Point, str] | None:
    """A date with an optional time, or (with `base`) a time alone on the base date."""
    text = text.lstrip()
    found = _date(text, today)
    if found is not None:
        day, rest = found
        rest = _skip_weekday(rest)
        t = _time(rest.lstrip())
        if t is not None:
            return Point(day, t[0]), t[1]
        return Point(day), rest
    if base is not None:
        t = _time(text)
        if t is not None:
            return Point(base, t[0]), t[1]
    return None


def _first_word(text: str) -> str:
    words = text.split()
    return words[0][:40] if words else ""


def parse_away(args: str, today: date) -> AwaySpec:
    """The period, stand-in and note of `away …` (the words after `away`)."""
    text = fold(args)
    delegate = None
    m = _DELEGATE.search(text)
    if m:
        delegate = m[1]
        text = (text[:m.start()] + " " + text[m.end():]).strip()
    if not text:
        raise AwayParseError("away.err.no_period")
    start: Point | None
    until = _UNTIL_PREFIX.match(text)
    if until:
        found = _point(text[until.end():], today, base=today)
        if found is None:
            raise AwayParseError("away.err.bad_date", text=_first_word(text[until.end():]) or text[:40])
        start, (end, rest) = None, found
    else:
        found = _point(text, today, base=today)
        if found is None:
            raise AwayParseError("away.err.bad_date", text=_first_word(text))
        first, rest = found
        suffix = _UNTIL_SUFFIX.match(rest)
        rng = _RANGE.match(rest)
        if suffix:
            start, end, rest = None, first, rest[suffix.end():]
        elif rng:
            after = rest[rng.end():]
            second = _point(after, today if first.day <= today else first.day, base=first.day)
            if second is None:
                raise AwayParseError("away.err.bad_date", text=_first_word(after) or "-")
            start, (end, rest) = first, second
            if first.at is not None and end.at is None and end.day == first.day:
                raise AwayParseError("away.err.bad_time", text=_first_word(after))
            tail = _UNTIL_SUFFIX.match(rest)
            rest = rest[tail.end():] if tail else rest
        else:
            start, end = first, first
            if first.at is not None:  # `12/24 13:00` alone: from then, until the end of that day
                end = Point(first.day)
    note = rest.strip(" 、,　")
    if len(note) > MAX_NOTE:
        note = note[:MAX_NOTE - 1] + "…"
    return AwaySpec(start=start, end=end, delegate=delegate, note=note)


def start_instant(spec: AwaySpec, now: datetime) -> datetime:
    """When the absence starts (aware, in `now`'s zone): now, the start of its day, or its time."""
    if spec.start is None:
        return now
    return max(now, datetime.combine(spec.start.day, spec.start.at or time(0, 0), tzinfo=now.tzinfo))


def end_bound(spec: AwaySpec, now: datetime) -> datetime:
    """The end as written: its time, or midnight after its (whole) day. The calendar may move a
    whole-day end on to the next working time (see runtime)."""
    if spec.end.at is not None:
        return datetime.combine(spec.end.day, spec.end.at, tzinfo=now.tzinfo)
    return datetime.combine(spec.end.day + timedelta(days=1), time(0, 0), tzinfo=now.tzinfo)
