"""Quiet hours (執務時間外): after-hours push rules for every local user, sender reminders,
emergencies and disaster mode. See docs/quiet-hours.md.

config.py the `quiet_hours` section · rules.py the push-rule layout (pure) · policy.py reminders
and membership (pure) · reconcile.py the push rules in Synapse · store.py its tables ·
commands.py `!yakuba quiet …` / `emergency …` · feature.py the running object. The calendar is
the pure library appservice/lib/workcal.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from appservice.core.config import Config
from appservice.core.feature import CliCommand, Feature
from appservice.core.feature import need_config as _need
from appservice.features.quiet.commands import COMMANDS
from appservice.features.quiet.config import QUIET_KEYS, QuietConfig, quiet_config_from_dict
from appservice.features.quiet.feature import setup
from appservice.features.quiet.rules import PREFIX, RuleBook, plan
from appservice.features.quiet.store import TABLES

__all__ = ["FEATURE", "PREFIX", "QuietConfig", "RuleBook", "plan", "quiet_config_from_dict"]

# quiet_hours keys that belong to the quiet-hours rule, not to the calendar.
QUIET_KEYS_NOT_CALENDAR = QUIET_KEYS


def _settings(raw: Mapping[str, Any], config: Config) -> QuietConfig:
    # Validates the whole section (a bad key stops the start with its name). `enabled: false`
    # (the default) keeps the feature running but leaves everyone's push rules alone.
    return quiet_config_from_dict(dict(raw), base_dir=config.path.parent if config.path else None,
                                  server_name=config.homeserver.server_name)


def _calendar_cli(argv: list[str], config: Config | None) -> int:
    from appservice.lib.workcal import calendar_check_main, calendar_config_from_dict

    if not argv or argv[0] != "check":
        print("usage: yakuba calendar check \"YYYY-MM-DD HH:MM\" [--schedule NAME] [--json]", file=sys.stderr)
        return 2
    cal = calendar_config_from_dict(_need(config).feature("quiet_hours"), "quiet_hours",
                                    ignore_keys=QUIET_KEYS_NOT_CALENDAR)
    return calendar_check_main(argv[1:], cal, sys.stdout, sys.stderr)


FEATURE = Feature(
    name="quiet_hours",
    description="after-hours quiet: push rules, sender reminders, emergencies and disaster mode",
    section="quiet_hours",
    settings=_settings,
    setup=setup,
    commands=COMMANDS,
    tables=(TABLES,),
    cli=(CliCommand("calendar", "work calendar: `calendar check DATETIME`", _calendar_cli),),
)
