"""Work calendar for after-hours rules: office hours, national holidays, closures, schedules.

    cal = WorkCalendar(calendar_config_from_dict(raw["quiet_hours"]))
    st = cal.status(event_time, schedule="fire_shift")   # Status(working, reason, ..., next_change)
    reason_text(st, "ja")                                 # "元日", "17:15 以降", ...

See docs/work-calendar.md for the configuration operators write.
"""

from appservice.lib.workcal.cli import calendar_check_main
from appservice.lib.workcal.config import (
    CalendarConfig,
    ConfigError,
    Schedule,
    TimeRange,
    calendar_config_from_dict,
)
from appservice.lib.workcal.engine import SEARCH_DAYS, Status, UnknownScheduleError, WorkCalendar
from appservice.lib.workcal.text import reason_key, reason_text, status_line

__all__ = [
    "SEARCH_DAYS",
    "CalendarConfig",
    "ConfigError",
    "Schedule",
    "Status",
    "TimeRange",
    "UnknownScheduleError",
    "WorkCalendar",
    "calendar_check_main",
    "calendar_config_from_dict",
    "reason_key",
    "reason_text",
    "status_line",
]
