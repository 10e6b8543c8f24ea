"""Is this instant working time? Pure: the caller passes the instant (or injects a clock).

Model: each calendar date gets a list of working intervals in local wall-clock minutes
[0, 1440]. A night shift (22:00-06:00) belongs to the day it starts on: whether that day is open
decides the whole shift, and its tail is added to the next date's intervals. Consecutive
intervals that touch at midnight form one run, so "next change" and "period start" are the
ends of runs and never a spurious midnight flip.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

import holidays

from appservice.lib.workcal.config import (
    DEFAULT_NAME,
    MINUTES_PER_DAY,
    CalendarConfig,
    Schedule,
    TimeRange,
)

# Bound for every search, so a schedule that never (or always) changes still returns. A year
# plus a margin covers the longest closure anyone configures.
SEARCH_DAYS = 400
_CACHE_LIMIT = 20_000  # (schedule, date) entries; ~55 years of one schedule
_WEEKDAY_CODES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WHOLE_DAY = (TimeRange(0, MINUTES_PER_DAY),)

Interval = tuple[int, int]  # [start, end) in minutes from a reference midnight
# Stands for "beyond the search window" at either end of a run that is still going on there.
_OPEN = 10**9


class UnknownScheduleError(LookupError):
    """A room or department names a schedule the config does not define."""

    def __init__(self, name: str) -> None:
        super().__init__(f"unknown work schedule {name!r}")
        self.name = name


@dataclass(frozen=True)
class Status:
    working: bool
    # "working_hours", "always", "before_hours", "after_hours", "break", "weekend", "holiday",
    # "year_end", "closed_day"; render with reason_text() / reason_key().
    reason: str
    reason_params: dict[str, Any] = field(default_factory=dict)
    # The next instant `working` flips, aware in the calendar's zone; None if it does not flip
    # within SEARCH_DAYS (an "always" schedule).
    next_change: datetime | None = None


@dataclass(frozen=True, slots=True)
class _Day:
    closed: str | None  # reason code when the date itself is closed
    params: dict[str, Any]
    own: tuple[TimeRange, ...]  # ranges that start on this date (empty when closed)


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _in_closure(day: date, ranges: tuple[tuple[tuple[int, int], tuple[int, int]], ...]) -> bool:
    md = (day.month, day.day)
    for start, end in ranges:
        # end < start wraps over new year (12-29..01-03).
        if (start <= md <= end) if start <= end else (md >= start or md <= end):
            return True
    return False


class WorkCalendar:
    def __init__(self, config: CalendarConfig, *,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.config = config
        self.tz = config.tzinfo
        self._clock = clock or (lambda: datetime.now(self.tz))
        # Both objects expand years lazily; the English one is only read for holiday names.
        self._holidays_ja = holidays.country_holidays("JP", language="ja")
        self._holidays_en = holidays.country_holidays("JP", language="en_US")
        self._days: dict[tuple[str | None, date], _Day] = {}
        self._intervals: dict[tuple[str | None, date], tuple[Interval, ...]] = {}
        self._modes = {name: _mode(config.schedule(name))
                       for name in (None, *config.schedules)}

    # --- public API ----------------------------------------------------------------------

    def status(self, when: datetime | None = None, schedule: str | None = None) -> Status:
        schedule, mode = self._resolve(schedule)
        if mode == "always":
            return Status(True, "always", {}, None)
        local = self._local(when)
        d, now = local.date(), _minutes(local)
        if mode == "never":
            return Status(False, *self._off_reason(schedule, d, now, None), None)
        run = next((r for r in self._forward(schedule, d) if r[1] > now), None)
        working = run is not None and run[0] <= now
        edge = None if run is None else (run[1] if working else run[0])
        change = None if edge is None or edge == _OPEN else self._at(d, edge)
        if working:
            until = {"until": change.strftime("%H:%M")} if change else {}
            return Status(True, "working_hours", until, change)
        reason, params = self._off_reason(schedule, d, now, change)
        return Status(False, reason, params, change)

    def is_working(self, when: datetime | None = None, schedule: str | None = None) -> bool:
        schedule, mode = self._resolve(schedule)
        if mode is not None:
            return mode == "always"
        local = self._local(when)
        now = _minutes(local)
        return any(a <= now < b for a, b in self._day_intervals(schedule, local.date()))

    def next_change(self, when: datetime | None = None,
                    schedule: str | None = None) -> datetime | None:
        return self.status(when, schedule).next_change

    def period_start(self, when: datetime | None = None,
                     schedule: str | None = None) -> datetime | None:
        """Start of the current working or off period (e.g. Fri 17:15 for all of a weekend).

        Stable for every instant of one period, so it keys "one reminder per off period".
        None when the period began more than SEARCH_DAYS ago (an "always" schedule).
        """
        schedule, mode = self._resolve(schedule)
        if mode is not None:
            return None
        local = self._local(when)
        d, now = local.date(), _minutes(local)
        for start, end in self._backward(schedule, d):
            if start > now:
                continue
            edge = start if end > now else end
            return None if edge == -_OPEN else self._at(d, edge)
        return None

    def schedule_names(self) -> tuple[str, ...]:
        return tuple(self.config.schedules)

    # --- internals -----------------------------------------------------------------------

    def _local(self, when: datetime | None) -> datetime:
        if when is None:
            when = self._clock()
        if when.tzinfo is None or when.utcoffset() is None:
            return when.replace(tzinfo=self.tz)  # naive means calendar-local wall time
        return when.astimezone(self.tz)

    def _at(self, d: date, minutes: int) -> datetime:
        days, rest = divmod(minutes, MINUTES_PER_DAY)
        return datetime.combine(d + timedelta(days=days), time(rest // 60, rest % 60),
                                tzinfo=self.tz)

    def _resolve(self, name: str | None) -> tuple[str | None, str | None]:
        """(cache key, mode) for a schedule name; "default" and None are the same schedule."""
        key = None if name == DEFAULT_NAME else name
        try:
            return key, self._modes[key]
        except KeyError:
            raise UnknownScheduleError(name or "") from None

    def _day(self, name: str | None, d: date) -> _Day:
        key = (name, d)
        cached = self._days.get(key)
        if cached is not None:
            return cached
        if len(self._days) > _CACHE_LIMIT:
            self._days.clear()
            self._intervals.clear()
        self._days[key] = result = self._classify(self.config.schedule(name), d)
        return result

    def _classify(self, sched: Schedule, d: date) -> _Day:
        extra = sched.extra_working_days.get(d)
        if extra:
            return _Day(None, {}, extra)
        # Order matters only for the reason shown: a holiday's own name beats the closure.
        if sched.national_holidays:
            name = self._holidays_ja.get(d)
            if name:
                name_en = self._holidays_en.get(d) or name
                return _Day("holiday", {"name": name, "name_en": name_en,
                                        "date": d.isoformat()}, ())
        if d in sched.closed_days:
            return _Day("closed_day", {"name": sched.closed_days[d], "date": d.isoformat()}, ())
        if _in_closure(d, sched.year_end_closure):
            return _Day("year_end", {"date": d.isoformat()}, ())
        own = sched.weekdays[d.weekday()]
        if not own:
            return _Day("weekend", {"weekday": _WEEKDAY_CODES[d.weekday()]}, ())
        return _Day(None, {}, own)

    def _day_intervals(self, name: str | None, d: date) -> tuple[Interval, ...]:
        key = (name, d)
        cached = self._intervals.get(key)
        if cached is not None:
            return cached
        items = [(r.start, min(r.end_offset, MINUTES_PER_DAY)) for r in self._day(name, d).own]
        # The tail of yesterday's night shift runs from midnight today.
        items += [(0, r.end_offset - MINUTES_PER_DAY)
                  for r in self._day(name, d - timedelta(days=1)).own
                  if r.end_offset > MINUTES_PER_DAY]
        items.sort()
        merged: list[Interval] = []
        for a, b in items:
            if merged and a <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], b))
            else:
                merged.append((a, b))
        self._intervals[key] = result = tuple(merged)
        return result

    def _forward(self, name: str | None, d0: date) -> Iterator[Interval]:
        """Working runs from d0's midnight on, in minutes relative to d0's midnight."""
        run: Interval | None = None
        for i in range(SEARCH_DAYS):
            base = i * MINUTES_PER_DAY
            for a, b in self._day_intervals(name, d0 + timedelta(days=i)):
                if run is not None and run[1] == base + a:
                    run = (run[0], base + b)  # continues over midnight
                else:
                    if run is not None:
                        yield run
                    run = (base + a, base + b)
                if run[1] != base + MINUTES_PER_DAY:  # cannot continue: no need to look ahead
                    yield run
                    run = None
        if run is not None:
            yield (run[0], _OPEN)  # still working at the window's end: end unknown

    def _backward(self, name: str | None, d0: date) -> Iterator[Interval]:
        """Working runs ending at or before d0's end, latest first, relative to d0's midnight."""
        run: Interval | None = None
        for i in range(SEARCH_DAYS):
            base = -i * MINUTES_PER_DAY
            for a, b in reversed(self._day_intervals(name, d0 - timedelta(days=i))):
                if run is not None and run[0] == base + b:
                    run = (base + a, run[1])
                else:
                    if run is not None:
                        yield run
                    run = (base + a, base + b)
                if run[0] != base:
                    yield run
                    run = None
        if run is not None:
            yield (-_OPEN, run[1])

    def _off_reason(self, name: str | None, d: date, now: float,
                    change: datetime | None) -> tuple[str, dict[str, Any]]:
        day = self._day(name, d)
        if day.closed:
            return day.closed, dict(day.params)  # a copy: the cached day must stay intact
        first = day.own[0].start
        last_end = min(day.own[-1].end_offset, MINUTES_PER_DAY)
        if now < first:
            return "before_hours", {"time": _hhmm(first)}
        if now >= last_end:
            return "after_hours", {"time": _hhmm(last_end)}
        since = max(b for _, b in self._day_intervals(name, d) if b <= now)
        resume = change.strftime("%H:%M") if change else ""
        return "break", {"since": _hhmm(since), "time": resume}


def _mode(sched: Schedule) -> str | None:
    """"always"/"never" for schedules that never flip, so no call walks SEARCH_DAYS for them."""
    if sched.always or (all(day == _WHOLE_DAY for day in sched.weekdays)
                        and not sched.national_holidays and not sched.year_end_closure
                        and not sched.closed_days):
        return "always"
    if not any(sched.weekdays) and not sched.extra_working_days:
        return "never"
    return None


def _minutes(local: datetime) -> float:
    # Seconds matter at the edges: 17:14:59 is still working when hours end at 17:15.
    return (local.hour * 60 + local.minute
            + (local.second + local.microsecond / 1_000_000) / 60)
