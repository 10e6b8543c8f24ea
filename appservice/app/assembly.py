"""Assembling a service from declared features (appservice/core/feature.py).

The default features, in pipeline order after the core policies (event log, command dispatch,
✅ offers). `assemble()` validates every feature's section first — a bad key stops the start
with its name before anything runs — then builds one CommandTable, gives each enabled feature
its setup, and collects policies, effect handlers, offer actions and tasks. Nothing is
registered by importing a module: a test can assemble a service from its own features.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from appservice.core.command_policy import AdminCommandsPolicy
from appservice.core.commands import CommandTable
from appservice.core.event_log import EventLogPolicy
from appservice.core.feature import Feature, Parts, Runtime, Task
from appservice.core.forged import ForgedEventPolicy
from appservice.core.offers import ACCEPT_OFFER, accept_offer_handler
from appservice.core.offers_policy import OffersPolicy
from appservice.core.policy import Policy
from appservice.features import (
    away,
    base,
    broadcast,
    federation,
    housekeeping,
    offboarding,
    pii,
    quiet,
    reports,
    retention,
    screenshots,
    usage,
)
from bots import feature as bots

DEFAULT_FEATURES: tuple[Feature, ...] = (
    base.FEATURE,
    federation.FEATURE,
    broadcast.FEATURE,
    pii.FEATURE,
    screenshots.FEATURE,
    quiet.FEATURE,
    offboarding.FEATURE,
    away.FEATURE,
    reports.FEATURE,
    retention.FEATURE,
    usage.FEATURE,
    bots.FEATURE,
    housekeeping.FEATURE,
)


@dataclass
class Assembled:
    policies: list[Policy] = field(default_factory=list)
    background: list[Task] = field(default_factory=list)
    on_started: list[Task] = field(default_factory=list)
    on_stopping: list[Task] = field(default_factory=list)
    enabled: dict[str, bool] = field(default_factory=dict)
    components: dict[str, Any] = field(default_factory=dict)


def tables(features: Sequence[Feature]) -> tuple[str, ...]:
    """Every feature's tables — also of features that are off, so switching one on later finds
    its tables and turning it off never loses data."""
    return tuple(sql for f in features for sql in f.tables)


def validate(features: Sequence[Feature], config: Any) -> dict[str, Any]:
    """Each feature's settings from its section (ConfigError names the bad key)."""
    names = [f.name for f in features]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise ValueError(f"feature declared twice: {sorted(duplicates)}")
    return {f.name: f.settings(config.feature(f.section) if f.section else {}, config) for f in features}


def assemble(features: Sequence[Feature], runtime: Runtime) -> Assembled:
    settings = validate(features, runtime.config)
    executor = runtime.executor
    table: CommandTable = executor.commands
    out = Assembled(policies=[EventLogPolicy(), ForgedEventPolicy(), AdminCommandsPolicy(table), OffersPolicy()])
    executor.on_effect(ACCEPT_OFFER, accept_offer_handler(executor.offer_actions))
    for feature in features:
        on = bool(feature.enabled(settings[feature.name]))
        out.enabled[feature.name] = on
        table.extend(feature.commands, feature.name, on)
        if not on:
            continue
        parts: Parts = feature.setup(runtime, settings[feature.name])
        executor.components[feature.name] = parts.component
        out.components[feature.name] = parts.component
        out.policies.extend(parts.policies)
        for kind, handler in parts.effects.items():
            executor.on_effect(kind, handler)
        for action, offer_handler in parts.offer_actions.items():
            executor.on_offer(action, offer_handler)
        out.background.extend(parts.background)
        out.on_started.extend(parts.on_started)
        out.on_stopping.extend(parts.on_stopping)
    return out
