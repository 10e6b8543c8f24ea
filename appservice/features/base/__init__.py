"""The base feature: `!yakuba help`, `!yakuba status` (admins) and `!yakuba leave` (a room's
moderators ask the bots to leave). It has no config section and no policy of its own: the
core policies (event log, command dispatch, ✅ offers) are part of the core."""

from __future__ import annotations

from typing import Any

from appservice.core.feature import Command, Feature, Parts, Runtime
from appservice.features.base.commands import help_, status
from appservice.features.base.leave import leave


def setup(runtime: Runtime, settings: Any) -> Parts:
    return Parts()


FEATURE = Feature(
    name="base",
    description="help, status and leave",
    setup=setup,
    commands=(
        Command("help", usage="help", summary_key="core.help.summary.help", handler=help_),
        Command("status", usage="status", summary_key="core.help.summary.status", handler=status),
        Command("leave", usage="leave", summary_key="core.help.summary.leave", handler=leave, scope="room"),
    ),
)
