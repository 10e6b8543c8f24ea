"""The `offboarding:` section of yakuba.yaml, validated; every error names its key."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from appservice.core.configerror import ConfigError

KEYS = ("enabled", "four_eyes", "timezone", "poll_seconds", "concurrency", "confirm_ttl_hours",
        "default_leave_time", "progress_every", "upload_max_age_hours")


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


def _num(data: dict[str, Any], key: str, default: float, lo: float, hi: float) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
        raise ConfigError(f"offboarding.{key}", f"expected a number {lo:g}..{hi:g}, got {value!r}")
    return float(value)


def load(data: dict[str, Any] | None) -> OffboardingConfig:
    data = data or {}
    unknown = sorted(set(data) - set(KEYS))
    if unknown:
        raise ConfigError(f"offboarding.{unknown[0]}", f"unknown key (known: {', '.join(KEYS)})")
    for key in ("enabled", "four_eyes"):
        if key in data and not isinstance(data[key], bool):
            raise ConfigError(f"offboarding.{key}", f"expected true or false, got {data[key]!r}")
    tz = data.get("timezone", "Asia/Tokyo")
    try:
        if not isinstance(tz, str) or not tz:
            raise ZoneInfoNotFoundError(tz)
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError("offboarding.timezone", f"expected a time zone name like Asia/Tokyo, got {tz!r}") from None
    leave = data.get("default_leave_time", "18:00")
    m = re.fullmatch(r"(\d{1,2}):(\d{2})", str(leave))
    if not m or int(m[1]) > 23 or int(m[2]) > 59:
        raise ConfigError("offboarding.default_leave_time", f"expected HH:MM, got {leave!r}")
    return OffboardingConfig(
        enabled=data.get("enabled", True),
        four_eyes=data.get("four_eyes", False),
        timezone=tz,
        poll_seconds=_num(data, "poll_seconds", 15, 0.2, 3600),
        concurrency=int(_num(data, "concurrency", 8, 1, 64)),
        confirm_ttl_hours=_num(data, "confirm_ttl_hours", 24, 0.01, 24 * 30),
        default_leave_time=time(int(m[1]), int(m[2])),
        progress_every=int(_num(data, "progress_every", 50, 1, 100_000)),
        upload_max_age_hours=_num(data, "upload_max_age_hours", 24, 0.01, 24 * 365),
    )
