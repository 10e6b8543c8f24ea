"""Work-calendar configuration: plain YAML data in, frozen dataclasses out.

Every error names the exact key (`quiet_hours.weekdays[2]: expected HH:MM-HH:MM, got "9-17"`),
because an operator editing yakuba.yaml must be able to find the mistake without reading code.
Unknown keys are errors too: a typo like `national_holiday` must not silently change the rules.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import pairwise
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# The lead's config loader owns the class; re-exported here so workcal callers need one import.
from appservice.core.configerror import ConfigError

__all__ = [
    "DEFAULT_SCHEDULE",
    "CalendarConfig",
    "ConfigError",
    "MonthDay",
    "Schedule",
    "TimeRange",
    "calendar_config_from_dict",
]

MINUTES_PER_DAY = 24 * 60
DEFAULT_TIMEZONE = "Asia/Tokyo"
# `schedule="default"` (or None) means the top-level rules, so no named schedule may take it.
DEFAULT_NAME = "default"

MonthDay = tuple[int, int]  # (month, day), e.g. (12, 29)


@dataclass(frozen=True, slots=True)
class TimeRange:
    """A working range on one day, in minutes from local midnight.

    `end <= start` means the range crosses midnight and ends the next day (22:00-06:00).
    """

    start: int  # 0..1439
    end: int  # 1..1440

    @property
    def crosses_midnight(self) -> bool:
        return self.end <= self.start

    @property
    def end_offset(self) -> int:
        """End in minutes from the start day's midnight (> 1440 for a night shift)."""
        return self.end + MINUTES_PER_DAY if self.crosses_midnight else self.end

    def __str__(self) -> str:
        return f"{_hhmm(self.start)}-{_hhmm(self.end)}"


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


Day = tuple[TimeRange, ...]
_OFFICE_DAY: Day = (TimeRange(8 * 60 + 30, 17 * 60 + 15),)


@dataclass(frozen=True)
class Schedule:
    """One set of rules: the top-level default or a named schedule."""

    weekdays: tuple[Day, ...] = (_OFFICE_DAY,) * 5 + ((), ())  # Mon..Sun; () = closed
    national_holidays: bool = True  # True: national/substitute holidays are closed
    year_end_closure: tuple[tuple[MonthDay, MonthDay], ...] = (((12, 29), (1, 3)),)
    closed_days: Mapping[date, str] = field(default_factory=lambda: MappingProxyType({}))
    extra_working_days: Mapping[date, Day] = field(default_factory=lambda: MappingProxyType({}))
    always: bool = False  # working at every instant; nothing else is consulted


DEFAULT_SCHEDULE = Schedule()


@dataclass(frozen=True)
class CalendarConfig:
    timezone: str = DEFAULT_TIMEZONE
    default: Schedule = DEFAULT_SCHEDULE
    schedules: Mapping[str, Schedule] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def tzinfo(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)  # ZoneInfo caches instances, so this is cheap

    def schedule(self, name: str | None) -> Schedule:
        """The schedule by name; None or "default" is the top-level one. KeyError if unknown."""
        if name is None or name == DEFAULT_NAME:
            return self.default
        return self.schedules[name]


# --- parsing -------------------------------------------------------------------------------

_SCHEDULE_KEYS = ("weekdays", "national_holidays", "year_end_closure", "closed_days",
                  "extra_working_days")
_TOP_KEYS = ("timezone", *_SCHEDULE_KEYS, "schedules")
_NAMED_KEYS = ("always", *_SCHEDULE_KEYS)
# Operators type ranges from paper notices, where 〜 is the usual separator.
_RANGE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*[-~〜～]\s*(\d{1,2}):(\d{2})\s*$")
_MONTH_DAY = re.compile(r"^(\d{2})-(\d{2})$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _show(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return f"{value!r} ({type(value).__name__})"


def calendar_config_from_dict(data: Any, path: str = "quiet_hours", *,
                              ignore_keys: Iterable[str] = ()) -> CalendarConfig:
    """Validate the `quiet_hours` mapping. `ignore_keys` are keys other components own."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(path, f"expected a mapping, got {_show(data)}")
    _check_keys(data, path, (*_TOP_KEYS, *ignore_keys))

    timezone = data.get("timezone", DEFAULT_TIMEZONE)
    if not isinstance(timezone, str) or not timezone:
        raise ConfigError(f"{path}.timezone", f"expected a time zone name like Asia/Tokyo, "
                                              f"got {_show(timezone)}")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{path}.timezone", f"unknown time zone {_show(timezone)}") from None

    default = _schedule(data, path, DEFAULT_SCHEDULE)

    raw_schedules = data.get("schedules") or {}
    if not isinstance(raw_schedules, dict):
        raise ConfigError(f"{path}.schedules", f"expected a mapping of name to schedule, "
                                               f"got {_show(raw_schedules)}")
    schedules: dict[str, Schedule] = {}
    for name, body in raw_schedules.items():
        where = f"{path}.schedules.{name}"
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(where, "schedule names must be non-empty strings (quote them)")
        if name == DEFAULT_NAME:
            raise ConfigError(where, f'"{DEFAULT_NAME}" is reserved for the top-level rules')
        if not isinstance(body, dict):
            raise ConfigError(where, f"expected a mapping, got {_show(body)}")
        _check_keys(body, where, _NAMED_KEYS)
        always = _bool(body, "always", where, False)
        if always:
            others = sorted(k for k in body if k != "always")
            if others:
                raise ConfigError(f"{where}.{others[0]}",
                                  "cannot be combined with always: true")
            schedules[name] = Schedule(always=True)
        else:
            # Keys a schedule leaves out are taken from the top level (documented).
            schedules[name] = _schedule(body, where, default)
    return CalendarConfig(timezone=timezone, default=default,
                          schedules=MappingProxyType(schedules))


def _check_keys(data: dict, path: str, known: Iterable[str]) -> None:
    known = tuple(known)
    for key in data:
        if key not in known:
            hint = ""
            if key == "holidays":
                hint = " (did you mean national_holidays?)"
            raise ConfigError(f"{path}.{key}", f"unknown key{hint}; known keys: "
                                               f"{', '.join(known)}")


def _schedule(data: dict, path: str, base: Schedule) -> Schedule:
    weekdays = (_weekdays(data["weekdays"], f"{path}.weekdays")
                if "weekdays" in data else base.weekdays)
    holidays = _bool(data, "national_holidays", path, base.national_holidays)
    closure = (_year_end(data["year_end_closure"], f"{path}.year_end_closure")
               if "year_end_closure" in data else base.year_end_closure)
    closed = (_closed_days(data["closed_days"], f"{path}.closed_days")
              if "closed_days" in data else base.closed_days)
    # An inherited extra working day keeps the hours it got at the top level.
    extra = (_resolve_extra(_extra_days(data["extra_working_days"],
                                        f"{path}.extra_working_days"),
                            weekdays, f"{path}.extra_working_days")
             if "extra_working_days" in data else base.extra_working_days)
    return Schedule(weekdays=weekdays, national_holidays=holidays, year_end_closure=closure,
                    closed_days=closed, extra_working_days=extra)


def _bool(data: dict, key: str, path: str, default: bool) -> bool:
    value = data.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"{path}.{key}", f"expected true or false, got {_show(value)}")
    return value


def _weekdays(value: Any, path: str) -> tuple[Day, ...]:
    if not isinstance(value, list) or len(value) != 7:
        got = f"{len(value)} entries" if isinstance(value, list) else _show(value)
        raise ConfigError(path, f"expected a list of 7 entries (Mon..Sun; null = closed), "
                                f"got {got}")
    return tuple(_day(entry, f"{path}[{i}]") for i, entry in enumerate(value))


def _day(value: Any, path: str) -> Day:
    """One day's hours: null/[] (closed), "HH:MM-HH:MM", or a list of those."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (_range(value, path),)
    if not isinstance(value, list):
        raise ConfigError(path, f"expected HH:MM-HH:MM, a list of them, or null; "
                                f"got {_show(value)}")
    ranges = [_range(item, f"{path}[{i}]") for i, item in enumerate(value)]
    # Overlaps inside one day are almost always typos (12:00 for 13:00), so reject them.
    order = sorted(range(len(ranges)), key=lambda i: ranges[i].start)
    for prev, cur in pairwise(order):
        if ranges[cur].start < ranges[prev].end_offset:
            raise ConfigError(f"{path}[{cur}]", f"{ranges[cur]} overlaps {ranges[prev]}")
    return tuple(ranges[i] for i in order)


def _range(value: Any, path: str) -> TimeRange:
    match = _RANGE.match(value) if isinstance(value, str) else None
    if not match:
        raise ConfigError(path, f"expected HH:MM-HH:MM, got {_show(value)}")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or (h2 == 24 and m2 != 0):
        raise ConfigError(path, f"not a valid time range (00:00..24:00): {_show(value)}")
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if start == end % MINUTES_PER_DAY and end != MINUTES_PER_DAY:
        raise ConfigError(path, f"empty range {_show(value)}; use 00:00-24:00 for a whole day")
    return TimeRange(start, end)


def _month_day(value: Any, path: str) -> MonthDay:
    match = _MONTH_DAY.match(value) if isinstance(value, str) else None
    if match:
        month, day = int(match[1]), int(match[2])
        try:
            date(2000, month, day)  # a leap year, so 02-29 is accepted
            return (month, day)
        except ValueError:
            pass
    raise ConfigError(path, f"expected MM-DD like 12-29, got {_show(value)}")


def _year_end(value: Any, path: str) -> tuple[tuple[MonthDay, MonthDay], ...]:
    """["12-29", "01-03"] (one range) or [["12-29", "01-03"], ...] (several); null/[] = none."""
    if value is None or value == [] or value is False:
        return ()
    if not isinstance(value, list):
        raise ConfigError(path, f'expected ["MM-DD", "MM-DD"] or a list of them, '
                                f"got {_show(value)}")
    if all(isinstance(v, str) for v in value):
        if len(value) != 2:
            raise ConfigError(path, f"expected a start and an end (MM-DD), got {len(value)} "
                                    f"values")
        return ((_month_day(value[0], f"{path}[0]"), _month_day(value[1], f"{path}[1]")),)
    ranges = []
    for i, item in enumerate(value):
        if not isinstance(item, list) or len(item) != 2:
            raise ConfigError(f"{path}[{i}]", f'expected ["MM-DD", "MM-DD"], got {_show(item)}')
        ranges.append((_month_day(item[0], f"{path}[{i}][0]"),
                       _month_day(item[1], f"{path}[{i}][1]")))
    return tuple(ranges)


def _date(value: Any, path: str) -> date:
    # YAML turns an unquoted 2027-05-06 into a date already; quoted ones arrive as strings.
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and _ISO_DATE.match(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise ConfigError(path, f"expected a date YYYY-MM-DD, got {_show(value)}")


def _closed_days(value: Any, path: str) -> Mapping[date, str]:
    """A list of dates, or a mapping of date to a name shown to users (e.g. 庁舎点検)."""
    if value is None:
        return MappingProxyType({})
    days: dict[date, str] = {}
    if isinstance(value, list):
        for i, item in enumerate(value):
            days[_date(item, f"{path}[{i}]")] = ""
    elif isinstance(value, dict):
        for key, name in value.items():
            where = f"{path}.{key}"
            day = _date(key, where)
            if name is not None and not isinstance(name, str):
                raise ConfigError(where, f"expected a name (string) or null, got {_show(name)}")
            days[day] = name or ""
    else:
        raise ConfigError(path, f"expected a list of dates or a mapping of date to name, "
                                f"got {_show(value)}")
    return MappingProxyType(days)


def _extra_days(value: Any, path: str) -> dict[date, Day | None]:
    """A list of dates (regular hours), or a mapping of date to hours (null = regular)."""
    if value is None:
        return {}
    days: dict[date, Day | None] = {}
    if isinstance(value, list):
        for i, item in enumerate(value):
            days[_date(item, f"{path}[{i}]")] = None
    elif isinstance(value, dict):
        for key, hours in value.items():
            where = f"{path}.{key}"
            day = _date(key, where)
            parsed = _day(hours, where) if hours is not None else None
            if parsed == ():
                raise ConfigError(where, "an extra working day needs hours (or null for the "
                                         "regular hours)")
            days[day] = parsed
    else:
        raise ConfigError(path, f"expected a list of dates or a mapping of date to hours, "
                                f"got {_show(value)}")
    return days


def _regular(weekdays: tuple[Day, ...]) -> Day:
    """The hours an extra working day gets by default: the first weekday that has hours."""
    return next((day for day in weekdays if day), ())


def _resolve_extra(days: dict[date, Day | None], weekdays: tuple[Day, ...],
                   path: str) -> Mapping[date, Day]:
    regular = _regular(weekdays)
    resolved: dict[date, Day] = {}
    for day, hours in days.items():
        if hours is None and not regular:
            raise ConfigError(f"{path}.{day.isoformat()}",
                              "no weekday has hours to copy; give the hours explicitly")
        resolved[day] = hours if hours is not None else regular
    return MappingProxyType(resolved)
