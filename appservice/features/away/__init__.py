"""不在 (out of office): `!yakuba away 12/24-12/27 年次休暇 代理 @sato` in one's DM with the bot
(or an admin for someone, in the admin room); while away, whoever DMs or mentions them gets one
private notice from Yakuba — when they are back and whom to ask instead. docs/away.md.

parse.py (pure) reads periods in JST (和暦 too) · policy.py (pure) decides the notices ·
store.py its tables · runtime.py the check loop, effects and Synapse calls · commands.py
`!yakuba away …`. Off hours come from the work calendar of `quiet_hours` (appservice/lib/workcal),
read from that section here: features do not import each other.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from appservice.core.config import Config
from appservice.core.configerror import ConfigError
from appservice.core.feature import Feature, Parts, Runtime
from appservice.core.schema import Bool, Int, Number, Schema, Str
from appservice.features.away.commands import COMMANDS
from appservice.features.away.policy import DEFAULT_MARKERS, LEARN_DM, NOTIFY_REMOTE, AwayPolicy, AwaySettings
from appservice.features.away.runtime import Away
from appservice.features.away.store import TABLES, AwayStore
from appservice.lib.workcal import WorkCalendar, calendar_config_from_dict

SCHEMA = Schema("away", {
    "enabled": Bool(True),
    # No notices off hours (unless 【緊急】), as long as quiet_hours is enabled.
    "respect_quiet_hours": Bool(True),
    # The work-calendar schedule whose hours count (quiet_hours.schedules), "default" for the office.
    "schedule": Str("default"),
    # Set the presence status message while away, restore it after.
    "presence": Bool(False),
    "check_interval_seconds": Number(30.0, gt=0, hi=3600),
    # Finished absences (and their notes) are deleted this many days after they ended.
    "keep_days": Int(30, lo=1, hi=3650),
    "max_days": Int(366, lo=1, hi=3660),
})


def _settings(raw: Mapping[str, Any], config: Config) -> AwaySettings:
    v = SCHEMA.validate(dict(raw))
    quiet = config.feature("quiet_hours")
    quiet = quiet if isinstance(quiet, dict) else {}
    # The calendar's keys of the quiet_hours section (the quiet-hours feature validates the rest).
    calendar = calendar_config_from_dict(dict(quiet), "quiet_hours", ignore_keys=tuple(quiet))
    schedule = v["schedule"]
    if schedule != "default" and schedule not in calendar.schedules:
        raise ConfigError("away.schedule", f"unknown schedule {schedule!r} (known: "
                                           f"{', '.join(('default', *calendar.schedules))})")
    markers = quiet.get("emergency_markers")
    if not (isinstance(markers, list) and markers and all(isinstance(m, str) and m.strip() for m in markers)):
        markers = list(DEFAULT_MARKERS)
    return AwaySettings(
        enabled=v["enabled"], respect_quiet_hours=v["respect_quiet_hours"],
        schedule=None if schedule == "default" else schedule, presence=v["presence"],
        check_interval_seconds=v["check_interval_seconds"], keep_days=v["keep_days"], max_days=v["max_days"],
        quiet_enabled=quiet.get("enabled") is True, markers=tuple(m.strip() for m in markers), calendar=calendar)


def setup(runtime: Runtime, settings: AwaySettings) -> Parts:
    calendar = WorkCalendar(settings.calendar, clock=runtime.services.clock.now)
    store = AwayStore(runtime.db)
    away = Away(settings, calendar, store, runtime.executor)
    return Parts(component=away, policies=[AwayPolicy(settings, calendar, store)],
                 effects={NOTIFY_REMOTE: away.notify_remote, LEARN_DM: away.learn_dm},
                 background=[away.loop], on_stopping=[away.close])


FEATURE = Feature(
    name="away",
    description="不在: out-of-office notices to people who DM or mention someone who is away",
    section="away",
    settings=_settings,
    enabled=lambda s: s.enabled,
    setup=setup,
    commands=COMMANDS,
    tables=(TABLES,),
)
