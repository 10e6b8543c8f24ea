"""Things that must exist before the pipeline is useful: the bot users and the admin room.

Idempotent: run at every start. The admin room id is kept in Yakuba's database, so a second
start finds it instead of creating another.
"""

from __future__ import annotations

import asyncio
import hashlib
import mimetypes
from pathlib import Path

import structlog

from appservice.app.avatar import builtin_avatar_png
from appservice.core.i18n import t
from appservice.core.services import Services
from appservice.matrix.client import MatrixClient, MatrixError, q

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


async def ensure_bot_profiles(svc: Services) -> None:
    """Who staff see speaking: the bots' display names (「役場アシスタント」, `bot:` in
    yakuba.yaml) and avatar, set at every start — only what differs from what is set, so a
    restart changes nothing in the rooms. A failure is logged, never fatal."""
    cfg, p = svc.config, svc.config.presentation
    avatar_url = await _avatar_url(svc)
    for user, name in ((cfg.sender, p.bot_display_name), (cfg.archive_bot, p.archive_display_name)):
        try:
            profile = await svc.client.request("GET", f"/_matrix/client/v3/profile/{q(user)}", as_user=user)
            if profile.get("displayname") != name:
                await svc.client.request("PUT", f"/_matrix/client/v3/profile/{q(user)}/displayname",
                                         json={"displayname": name}, as_user=user)
            if avatar_url is not None and profile.get("avatar_url", "") != avatar_url:
                await svc.client.request("PUT", f"/_matrix/client/v3/profile/{q(user)}/avatar_url",
                                         json={"avatar_url": avatar_url}, as_user=user)
        except MatrixError as exc:
            log.warning("bot_profile_failed", user=user, error=exc.errcode, status=exc.status)


async def _avatar_url(svc: Services) -> str | None:
    """The mxc:// URI of the configured avatar ("" → no avatar set: None keeps whatever is
    there); an image is uploaded once per content (its hash is kept in the state)."""
    setting = svc.config.presentation.bot_avatar
    if not setting:
        return None
    if setting.startswith("mxc://"):
        return setting
    if setting == "builtin":
        data, mimetype = builtin_avatar_png(), "image/png"
    else:
        path = Path(setting)
        data = await asyncio.to_thread(path.read_bytes)
        mimetype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    digest = hashlib.sha256(data).hexdigest()[:32]
    known = await svc.state.get("bot_avatar")
    if known and known.startswith(digest + " "):
        return known.split(" ", 1)[1]
    try:
        url = await svc.client.upload(data, mimetype, "avatar.png" if setting == "builtin" else Path(setting).name)
    except MatrixError as exc:
        log.warning("bot_avatar_upload_failed", error=exc.errcode, status=exc.status)
        return None
    await svc.state.set("bot_avatar", f"{digest} {url}")
    return url
