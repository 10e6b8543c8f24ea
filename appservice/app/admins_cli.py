"""`yakuba admin add|remove|list`: works against the database of a running (or stopped) service."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from appservice.app.config import load_config
from appservice.core.db import Database
from appservice.core.state import StateStore
from appservice.matrix.client import MatrixClient, MatrixError

USER_ID = re.compile(r"^@[a-z0-9._=\-/+]+:[A-Za-z0-9.\-:\[\]]+$")


async def admin_main(config_path: Path, cmd: str, user_id: str | None) -> int:
    config = load_config(config_path)
    db = Database(config.db_path)
    await db.open()
    state = StateStore(db)
    try:
        if cmd == "list":
            for uid in config.admins:
                print(f"{uid}\t(yakuba.yaml)")
            for uid in await state.db_admins():
                if uid not in config.admins:
                    print(uid)
            return 0
        assert user_id is not None
        if not USER_ID.match(user_id):
            print(f"not a Matrix user id: {user_id!r} (expected @name:{config.homeserver.server_name})",
                  file=sys.stderr)
            return 2
        if not config.is_local(user_id):
            print(f"{user_id} is not a user of {config.homeserver.server_name}", file=sys.stderr)
            return 2
        if cmd == "add":
            await state.add_admin(user_id, "cli")
            await state.audit("admin_added", actor="cli", target=user_id)
            room = await state.admin_room()
            if room:
                client = MatrixClient(config.homeserver.url, config.appservice.as_token, config.sender,
                                      as_sender=config.as_user_id)
                try:
                    await client.invite(room, user_id)
                    await client.put_state(room, "m.room.power_levels",
                                           await _with_admin_power(client, room, user_id))
                except MatrixError as exc:
                    print(f"added, but could not invite to the admin room: {exc.errcode}", file=sys.stderr)
                finally:
                    await client.close()
            print(f"{user_id} is now a Yakuba admin" + (f" (invited to {room})" if room else ""))
            return 0
        if cmd == "remove":
            if user_id in config.admins:
                print(f"{user_id} is listed in {config_path}; remove it there", file=sys.stderr)
                return 1
            removed = await state.remove_admin(user_id)
            await state.audit("admin_removed", actor="cli", target=user_id,
                              result="ok" if removed else "not_admin")
            print(f"{user_id} removed" if removed else f"{user_id} was not an admin")
            return 0 if removed else 1
    finally:
        db.close()
    return 2


async def _with_admin_power(client: MatrixClient, room: str, user_id: str) -> dict:
    pl = await client.state(room, "m.room.power_levels") or {}
    users = dict(pl.get("users", {}))
    users[user_id] = 100
    pl["users"] = users
    return pl
