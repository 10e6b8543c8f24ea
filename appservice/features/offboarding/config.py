"""The `offboarding:` section of yakuba.yaml, validated; every error names its key."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from appservice.core.configerror import ConfigError
from appservice.core.schema import Bool, Custom, Int, Number, Schema


@dataclass(frozen=True)
class OffboardingConfig:
    enabled: bool = True
    # A second admin must confirm what the first asked for (offboarding only: lock, logout and
    # suspend are for emergencies and act at once).
    four_eyes: bool = False
    # `--at 2027-03-31T17:15` and CSV times without an offset are in this zone.
    timezone: str = "Asia/Tokyo"
    poll_seconds: float = 15.0      # how often the scheduler looks for due jobs
    concurrency: int = 8            # users offboarded at the same time in a bulk run
    confirm_ttl_hours: float = 24.0  # a plan not confirmed by then must be made again
    default_leave_time: time = time(18, 0)  # CSV rows with a date only
    progress_every: int = 50        # a progress message every N users in a bulk run
    upload_max_age_hours: float = 24.0  # `offboard --csv` takes your newest CSV upload, if this recent

    @property
    def tzinfo(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def _timezone(value: Any, path: str) -> str:
    try:
        if not isinstance(value, str) or not value:
            raise ZoneInfoNotFoundError(value)
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(path, f"expected a time zone name like Asia/Tokyo, got {value!r}") from None
    return value


def _hhmm(value: Any, path: str) -> time:
    m = re.fullmatch(r"(\d{1,2}):(\d{2})", str(value))  # quote it in YAML: 18:00 unquoted is 1080
    if not m or int(m[1]) > 23 or int(m[2]) > 59:
        raise ConfigError(path, f"expected HH:MM, got {value!r}")
    return time(int(m[1]), int(m[2]))


SCHEMA = Schema("offboarding", {
    "enabled": Bool(True),
    "four_eyes": Bool(False),
    "timezone": Custom(_timezone, "Asia/Tokyo"),
    "poll_seconds": Number(15.0, lo=0.2, hi=3600),
    "concurrency": Int(8, lo=1, hi=64),
    "confirm_ttl_hours": Number(24.0, lo=0.01, hi=24 * 30),
    "default_leave_time": Custom(_hhmm, time(18, 0)),
    "progress_every": Int(50, lo=1, hi=100_000),
    "upload_max_age_hours": Number(24.0, lo=0.01, hi=24 * 365),
})
KEYS = tuple(SCHEMA.fields)


def load(data: dict[str, Any] | None) -> OffboardingConfig:
    return OffboardingConfig(**SCHEMA.validate(data))
