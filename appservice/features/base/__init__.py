"""The base feature: `!yakuba help`, `!yakuba status` (admins), `!yakuba leave` (a room's
moderators ask the bots to leave), and direct chats that staff open with the bot themselves
(direct_chats.py). It has no config section. The core policies (event log, command dispatch,
✅ offers) are part of the core."""

from __future__ import annotations

from typing import Any

from appservice.core.feature import Command, Feature, Parts, Runtime
from appservice.features.base.commands import help_, status
from appservice.features.base.component import Base
from appservice.features.base.direct_chats import ADOPT, DROP, DirectChatPolicy, adopt, drop
from appservice.features.base.leave import leave


def setup(runtime: Runtime, settings: Any) -> Parts:
    return Parts(component=Base(runtime.executor), policies=[DirectChatPolicy()],
                 effects={ADOPT: adopt, DROP: drop})


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
