"""A bot's device: logged in once with the as_token, then the same device for ever.

The device id is chosen and written to disk *before* the first login, so a crash between
login and save cannot leave a second device behind; later logins (expired token) reuse it and
so keep the device's keys. Files are mode 0600: they hold an access token and the key that
encrypts the olm store.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from appservice.lib.secret_files import write_secret_file


@dataclass
class BotSession:
    user_id: str
    device_id: str
    access_token: str | None
    pickle_key: str


def load_or_create(path: Path, user_id: str) -> BotSession:
    if path.exists():
        data = json.loads(path.read_text(encoding="utf-8"))
        return BotSession(data["user_id"], data["device_id"], data.get("access_token"), data["pickle_key"])
    session = BotSession(user_id, "YAKUBA" + secrets.token_hex(4).upper(), None, secrets.token_urlsafe(32))
    save(path, session)
    return session


def save(path: Path, session: BotSession) -> None:
    write_secret_file(path, json.dumps(session.__dict__))


async def appservice_login(hs_url: str, as_token: str, localpart: str, device_id: str) -> str:
    """`m.login.application_service` with the as_token; returns the device's access token."""
    async with aiohttp.ClientSession() as s, s.post(
            f"{hs_url}/_matrix/client/v3/login",
            headers={"Authorization": f"Bearer {as_token}"},
            json={"type": "m.login.application_service",
                  "identifier": {"type": "m.id.user", "user": localpart},
                  "device_id": device_id, "initial_device_display_name": "Yakuba bot"}) as r:
        body = await r.json(content_type=None)
        if r.status != 200:
            raise RuntimeError(f"bot login failed: {r.status} {(body or {}).get('errcode')}")
        return str(body["access_token"])


async def token_valid(hs_url: str, token: str) -> bool:
    async with aiohttp.ClientSession() as s, s.get(
            f"{hs_url}/_matrix/client/v3/account/whoami",
            headers={"Authorization": f"Bearer {token}"}) as r:
        return r.status == 200
