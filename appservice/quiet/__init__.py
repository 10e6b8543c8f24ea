"""Quiet hours: after-hours push rules for every local user, sender reminders, emergencies and
disaster mode. See docs/quiet-hours.md; wired in by appservice/feature_quiet.py."""

from appservice.quiet.config import QuietConfig, quiet_config_from_dict
from appservice.quiet.rules import PREFIX, RuleBook, plan

__all__ = ["PREFIX", "QuietConfig", "RuleBook", "plan", "quiet_config_from_dict"]
