"""Things that must exist before the pipeline is useful: the bot users and the admin room.

Idempotent: run at every start. The admin room id is kept in Yakuba's database, so a second
start finds it instead of creating another.
"""

from __future__ import annotations

import structlog

from appservice.core.i18n import t
from appservice.core.services import Services
from appservice.matrix.client import MatrixClient

log = structlog.get_logger(__name__)


async def register_bots(client: MatrixClient, localparts: list[str]) -> None:
    for localpart in localparts:
        await client.register_appservice_user(localpart)


async def ensure_admin_room(svc: Services) -> str:
    existing = await svc.state.admin_room()
    if existing:
        return existing
    cfg = svc.config
    admins = sorted(await svc.admins())
    initial_state = []
    if cfg.admin_room_encrypted:
        initial_state.append({"type": "m.room.encryption", "state_key": "",
                              "content": {"algorithm": "m.megolm.v1.aes-sha2"}})
    room_id = await svc.client.create_room({
        "preset": "private_chat",
        "name": t("core.admin_room_name", cfg.locale),
        "topic": t("core.admin_room_topic", cfg.locale),
        "invite": admins,
        "initial_state": initial_state,
        "power_level_content_override": {"users": {a: 100 for a in admins}},
    })
    await svc.state.set("admin_room", room_id)
    await svc.state.note_room(room_id, encrypted=cfg.admin_room_encrypted)
    await svc.state.note_bot_membership(room_id, cfg.sender, "join")
    log.info("admin_room_created", room_id=room_id, encrypted=cfg.admin_room_encrypted)
    return room_id
