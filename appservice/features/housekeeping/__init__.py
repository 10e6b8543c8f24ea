"""Housekeeping: keeps Yakuba's database from growing without end and from holding content
longer than it must — an hourly pass that strips processed events whose content is no longer
held, deletes old inbox, audit, once-key and offer rows, and empties the WAL (the pass itself is
appservice/core/housekeeping.py). What is kept, and for how long: docs/data-kept.md.

    housekeeping:
      enabled: true
      interval_minutes: 60        # a full pass: strip, prune, vacuum, checkpoint
      inbox_days: 7               # processed events' skeletons, txn ids, rejected shapes
      audit_retention_days: 400   # 0: keep audit rows forever
      once_keys_days: 30          # ≥ inbox_days
      once_keys_keep_prefixes: ["quiet:", "offboard_"]
      once_keys_keep_days: 400    # for those prefixes; 0: forever
      offers_days: 90
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import structlog

from appservice.core.config import Config
from appservice.core.configerror import ConfigError
from appservice.core.db import Database
from appservice.core.feature import Feature, Parts, Runtime
from appservice.core.housekeeping import Limits, run_once
from appservice.core.inbox import Inbox
from appservice.core.schema import Bool, Int, List, Schema, Str

log = structlog.get_logger(__name__)

SCHEMA = Schema("housekeeping", {
    "enabled": Bool(True),
    "interval_minutes": Int(60, lo=1, hi=24 * 60),
    "inbox_days": Int(7, lo=1, hi=3650),
    "audit_retention_days": Int(400, lo=0, hi=36500),
    "once_keys_days": Int(30, lo=1, hi=36500),
    "once_keys_keep_prefixes": List(Str(), default=lambda: ["quiet:", "offboard_"]),
    "once_keys_keep_days": Int(400, lo=0, hi=36500),
    "offers_days": Int(90, lo=1, hi=36500),
})


def limits(s: Mapping[str, Any]) -> Limits:
    """The validated section as the pass's limits (checks that span two keys)."""
    if s["once_keys_days"] < s["inbox_days"]:
        # A once key guards the replay of its event: it must outlive the event's inbox row.
        raise ConfigError("housekeeping.once_keys_days",
                          f"must be ≥ inbox_days ({s['inbox_days']}), got {s['once_keys_days']}")
    return Limits(inbox_days=s["inbox_days"], audit_days=s["audit_retention_days"],
                  once_keys_days=s["once_keys_days"],
                  once_keys_keep_prefixes=tuple(s["once_keys_keep_prefixes"]),
                  once_keys_keep_days=s["once_keys_keep_days"], offers_days=s["offers_days"])


def _settings(raw: Mapping[str, Any], config: Config) -> dict[str, Any]:
    s = SCHEMA.validate(raw)
    limits(s)
    return s


class Housekeeping:
    def __init__(self, db: Database, inbox: Inbox, settings: Mapping[str, Any]) -> None:
        self.db = db
        self.inbox = inbox
        self.limits = limits(settings)
        self.interval_s = settings["interval_minutes"] * 60.0
        self.last: dict[str, int] = {}

    async def run_once(self) -> dict[str, int]:
        self.last = await run_once(self.db, self.inbox, self.limits)
        log.info("housekeeping", **self.last)
        return self.last

    async def loop(self) -> None:
        while True:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database hiccupped: try again next time
                log.error("housekeeping_failed", error=type(exc).__name__, detail=str(exc)[:300])
            await asyncio.sleep(self.interval_s)


def setup(runtime: Runtime, settings: dict[str, Any]) -> Parts:
    hk = Housekeeping(runtime.db, runtime.services.inbox, settings)
    return Parts(component=hk, background=[hk.loop])


FEATURE = Feature(
    name="housekeeping",
    description="delete old inbox, audit and once-key rows; strip processed content; empty the WAL",
    section="housekeeping",
    settings=_settings,
    enabled=lambda s: s["enabled"],
    setup=setup,
)
