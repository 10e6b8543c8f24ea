"""Wire the E2EE bots into a running service: one per appservice bot user."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bots.runtime import E2EEBot

if TYPE_CHECKING:
    from appservice.service import YakubaService


def install(svc: YakubaService) -> None:
    cfg = svc.config
    opts = cfg.feature("bots")
    join_mode = str(opts.get("auto_join", "local"))
    bots = [
        E2EEBot(hs_url=cfg.homeserver.url, as_token=cfg.appservice.as_token, localpart=lp,
                server_name=cfg.homeserver.server_name, data_dir=cfg.data_dir, inbox=svc.inbox,
                state=svc.state, join_mode=join_mode if lp == cfg.appservice.bot_localpart else "none",
                sync_timeout_ms=int(opts.get("sync_timeout_ms", 30_000)))
        for lp in (cfg.appservice.bot_localpart, cfg.appservice.archive_localpart)
    ]
    svc.services.extras["bots"] = {b.user_id: b for b in bots}
    for bot in bots:
        svc.sender.attach_bot(bot)

    async def start_bots() -> None:
        admin_room = await svc.state.admin_room()
        for bot in bots:
            bot.admin_room = admin_room
        import asyncio

        await asyncio.gather(*(bot.run() for bot in bots))

    async def stop_bots() -> None:
        for bot in bots:
            await bot.stop()

    svc.background.append(start_bots)
    svc.on_stopping.append(stop_bots)
