"""The `usage:` section of yakuba.yaml, validated; every error names its key.

```yaml
usage:
  enabled: true
  directory: /etc/yakuba/staff.csv   # default: retention.directory (the same staff directory)
  min_group_size: 5                  # smaller departments are merged into 「その他」
  schedules: {消防本部: 24h}          # department → work-calendar schedule (off-hours); default: the top level
  weekly: {enabled: true, day: mon, time: "09:00"}   # in the work calendar's time zone (JST)
  inactive_days: 30                  # "not seen for N days"
  keep_days: 400                     # counters older than this are deleted
```
The work calendar (office hours, holidays, named schedules) is the one in `quiet_hours`
(docs/work-calendar.md), whether or not the quiet-hours rule is enabled; that section is
validated by its owner, this feature only reads the calendar out of it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from appservice.core.configerror import ConfigError
from appservice.core.schema import Bool, Choice, Custom, Int, Schema, Str
from appservice.core.schema import Mapping as MappingField
from appservice.lib.workcal import CalendarConfig, calendar_config_from_dict

if TYPE_CHECKING:
    from appservice.core.config import Config

SECTION = "usage"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"^(\d{1,2}):(\d{2})$")


@dataclass(frozen=True)
class WeeklySettings:
    enabled: bool = True
    weekday: int = 0          # Monday
    at: time = time(9, 0)     # in the calendar's time zone


@dataclass(frozen=True)
class UsageSettings:
    enabled: bool = True
    directory: Path | None = None
    min_group_size: int = 5
    schedules: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    weekly: WeeklySettings = field(default_factory=WeeklySettings)
    inactive_days: int = 30
    keep_days: int = 400
    calendar: CalendarConfig = field(default_factory=CalendarConfig)

    def schedule_of(self, department: str) -> str | None:
        """The work-calendar schedule that says when a department is off hours (None: the top level)."""
        return self.schedules.get(department)

    @classmethod
    def from_config(cls, config: Config) -> UsageSettings:
        base = config.path.parent if config.path else Path.cwd()
        return cls.parse(config.feature(SECTION), quiet_hours=config.feature("quiet_hours"),
                         retention_directory=config.feature("retention").get("directory"), base=base)

    @classmethod
    def parse(cls, raw: Any, *, quiet_hours: Any = None, retention_directory: Any = None,
              base: Path | None = None) -> UsageSettings:
        v = SCHEMA.validate(raw)
        # The calendar's own keys only; the rest of quiet_hours is the quiet-hours rule's.
        hours = quiet_hours if isinstance(quiet_hours, dict) else {}
        calendar = calendar_config_from_dict(hours, "quiet_hours", ignore_keys=tuple(hours))
        known = ("default", *calendar.schedules)
        for dept, name in v["schedules"].items():
            if name not in known:
                raise ConfigError(f"{SECTION}.schedules.{dept}",
                                  f"unknown schedule {name!r} (quiet_hours.schedules has: {', '.join(known)})")
        directory, where = v["directory"], f"{SECTION}.directory"
        if directory is None and isinstance(retention_directory, str) and retention_directory.strip():
            directory, where = Path(retention_directory).expanduser(), "retention.directory"
        if directory is not None and not directory.is_absolute():
            directory = (base or Path.cwd()) / directory
        if directory is not None and not directory.is_file():
            raise ConfigError(where, f"staff directory file not found: {directory}")
        w = v["weekly"]
        return cls(enabled=v["enabled"], directory=directory, min_group_size=v["min_group_size"],
                   schedules=MappingProxyType({d: s for d, s in v["schedules"].items() if s != "default"}),
                   weekly=WeeklySettings(w["enabled"], WEEKDAYS.index(w["day"]), w["time"]),
                   inactive_days=v["inactive_days"], keep_days=v["keep_days"], calendar=calendar)


def _path(value: Any, path: str) -> Path:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(path, f"expected a file path, got {value!r}")
    return Path(value).expanduser()


def _hhmm(value: Any, path: str) -> time:
    m = _HHMM.match(value) if isinstance(value, str) else None
    if m is None or int(m.group(1)) > 23 or int(m.group(2)) > 59:
        raise ConfigError(path, f"expected a time HH:MM, got {value!r}")
    return time(int(m.group(1)), int(m.group(2)))


SCHEMA = Schema(SECTION, {
    "enabled": Bool(True),
    "directory": Custom(_path, None),
    "min_group_size": Int(5, lo=2, hi=1000),
    "schedules": MappingField(Str(), dict),
    "weekly": Schema("weekly", {
        "enabled": Bool(True),
        "day": Choice("mon", WEEKDAYS),
        "time": Custom(_hhmm, time(9, 0)),
    }),
    "inactive_days": Int(30, lo=1, hi=3650),
    "keep_days": Int(400, lo=35, hi=3650),
})
