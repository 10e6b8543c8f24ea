"""`make run`: the embedded stack in one process tree — Synapse (child process) + Yakuba.

First run: generate everything under var/, start Synapse, create the first admin account,
make the Yakuba sender a server admin, start Yakuba (which creates the encrypted admin room),
print how to log in. Later runs reuse var/ as it is: no new tokens, no new rooms.
Ctrl-C stops Yakuba, then Synapse.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
from pathlib import Path
from typing import Any

import structlog

from appservice.app import logs
from appservice.app.config import load_config
from appservice.app.devstack import setup, synapse, webclient
from appservice.app.service import YakubaService

log = structlog.get_logger(__name__)


def prepare(data_dir: Path, server_name: str, hs_port: int, as_port: int, *,
            federation: dict[str, Any] | None = None, extra: dict[str, Any] | None = None) -> Path:
    """Create (once) homeserver.yaml, registration.yaml and yakuba.yaml; return yakuba.yaml.
    federation/extra: Synapse's federation settings and more yakuba.yaml (run_federation.py)."""
    data_dir = data_dir.resolve()
    registration = data_dir / "registration.yaml"
    setup.ensure_registration(registration, server_name, f"http://127.0.0.1:{as_port}")
    synapse.generate(data_dir / "synapse", server_name, hs_port, registration, federation=federation)
    config_path = data_dir / "yakuba.yaml"
    setup.ensure_yakuba_config(
        config_path, server_name=server_name, hs_url=f"http://127.0.0.1:{hs_port}", as_port=as_port,
        registration=registration, data_dir=data_dir, admins=[f"@admin:{server_name}"], extra=extra)
    return config_path


async def first_admin(data_dir: Path, hs_url: str, server_name: str, sender: str) -> str | None:
    """Create @admin with a random password and make the Yakuba sender a server admin.
    Returns the password the first time only."""
    marker = data_dir / "secrets" / "admin-password"
    if marker.exists():
        return None
    hs_cfg = synapse.read_config(data_dir / "synapse" / "homeserver.yaml")
    password = secrets.token_urlsafe(12)
    await setup.register_user(hs_url, hs_cfg["registration_shared_secret"], "admin", password, admin=True)
    token = await setup.login(hs_url, "admin", password)
    try:
        await setup.make_server_admin(hs_url, token, sender)
    finally:
        await setup.logout(hs_url, token)
    setup.write_secret_file(marker, password + "\n")
    return password


BANNER = """
==========================================================================
 Yakuba は起動しました / Yakuba is running
--------------------------------------------------------------------------
 ホームサーバー / Homeserver : {hs_url}
 サーバー名 / Server name     : {server_name}
 管理者 / Admin user          : @admin:{server_name}
 {password_line}
 管理ルーム / Admin room      : {admin_room}
 {web_line}

 Element などの Matrix クライアントで、ホームサーバーに上の URL を指定して
 @admin としてログインしてください。管理ルームへの招待が届いています。
 管理ルームで `!yakuba help` と入力するとコマンド一覧が表示されます。

 In any Matrix client (Element, FluffyChat…) set the homeserver to the URL
 above and log in as "admin". Accept the invite to the admin room and type
 `!yakuba help` there.

 データ / Data: {data_dir}   停止 / Stop: Ctrl-C   初期化 / Reset: make reset
==========================================================================
"""


async def run_dev(data_dir: Path, server_name: str, hs_port: int, as_port: int) -> int:
    data_dir = Path(os.path.abspath(data_dir))  # noqa: ASYNC240 (once, at start-up)
    config_path = prepare(data_dir, server_name, hs_port, as_port, extra=webclient.yakuba_config())
    config = load_config(config_path)
    logs.configure(config.log_format, config.log_level)
    hs = synapse.SynapseProcess(data_dir / "synapse" / "homeserver.yaml", config.homeserver.url)
    log.info("synapse_starting", url=config.homeserver.url)
    await asyncio.to_thread(hs.start)
    service: YakubaService | None = None
    web: webclient.WebClient | None = None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        service = YakubaService(config)
        password = None
        await service.client.register_appservice_user(config.appservice.bot_localpart)
        password = await first_admin(data_dir, config.homeserver.url, server_name, config.sender)
        await service.start()
        admin_room = await service.state.admin_room()
        web = await webclient.start_web_client(config.homeserver.url)
        print(BANNER.format(
            hs_url=config.homeserver.url, server_name=server_name, admin_room=admin_room,
            data_dir=data_dir, web_line=webclient.banner_line(web),
            password_line=(f"パスワード / Password      : {password}   (初回のみ表示 / shown once; "
                           f"{data_dir}/secrets/admin-password)") if password else
            f"パスワード / Password      : {data_dir}/secrets/admin-password"), flush=True)
        await stop.wait()
    finally:
        log.info("stopping")
        if service is not None:
            with contextlib.suppress(Exception):
                await service.stop()
        if web is not None:
            await web.stop()
        await asyncio.to_thread(hs.stop)
    return 0
