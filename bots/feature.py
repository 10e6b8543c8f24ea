"""The E2EE bots as a feature: one nio client per appservice bot user (@_yakuba, the archive
bot), each with its own device, feeding decrypted events into the inbox and sending into
encrypted rooms. Section `bots:` in yakuba.yaml."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from appservice.core.config import Config
from appservice.core.feature import Feature, Parts, Runtime
from appservice.core.schema import Bool, Choice, Int, Number, Schema
from bots.runtime import E2EEBot

SCHEMA = Schema("bots", {
    "enabled": Bool(True),
    # Which invites @_yakuba accepts besides the admin room: "local" (rooms a local user invites
    # it to) or "none".
    "auto_join": Choice("local", ("local", "none")),
    "sync_timeout_ms": Int(30_000, lo=1_000, hi=300_000),
    # How long an encrypted event waits for its plaintext before metadata-only rules run.
    "plaintext_grace_seconds": Number(60.0, lo=0.0, hi=86_400.0),
})


def _settings(raw: Mapping[str, Any], config: Config) -> dict[str, Any]:
    return SCHEMA.validate(raw)


def setup(runtime: Runtime, opts: dict[str, Any]) -> Parts:
    cfg, services = runtime.config, runtime.services
    bots = [
        E2EEBot(hs_url=cfg.homeserver.url, as_token=cfg.appservice.as_token, localpart=lp,
                server_name=cfg.homeserver.server_name, data_dir=cfg.data_dir, inbox=services.inbox,
                state=services.state,
                join_mode=opts["auto_join"] if lp == cfg.appservice.bot_localpart else "none",
                sync_timeout_ms=opts["sync_timeout_ms"], receipt_listeners=services.receipt_listeners)
        for lp in (cfg.appservice.bot_localpart, cfg.appservice.archive_localpart)
    ]
    services.bots.update({b.user_id: b for b in bots})
    for bot in bots:
        services.sender.attach_bot(bot)

    async def start_bots() -> None:
        admin_room = await services.state.admin_room()
        for bot in bots:
            bot.admin_room = admin_room
        await asyncio.gather(*(bot.run() for bot in bots))

    async def stop_bots() -> None:
        for bot in bots:
            await bot.stop()

    return Parts(component=bots, background=[start_bots], on_stopping=[stop_bots])


FEATURE = Feature(
    name="bots",
    description="E2EE bots: read encrypted rooms, send into them",
    section="bots",
    settings=_settings,
    enabled=lambda opts: opts["enabled"],
    setup=setup,
)
