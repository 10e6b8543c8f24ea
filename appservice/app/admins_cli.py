"""`yakuba admin add|remove|list`: works against the database of a running (or stopped) service.

Removing an admin really removes them: the database row, their power in the encrypted admin
room (they lower their own level — Yakuba acts as them with the as_token, since an equal
power level cannot be lowered by another user) and their membership (the bot kicks them), and
what they asked for that has not run yet (each feature's `admin_removed`: offboarding plans
and scheduled jobs, disposals awaiting confirmation). Audit rows go through the executor.
Room operations here are the application's own: documented in docs/architecture.md.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from appservice.app.assembly import DEFAULT_FEATURES, tables
from appservice.app.config import load_config
from appservice.core.clock import Clock
from appservice.core.config import Config
from appservice.core.db import Database
from appservice.core.executor import Executor
from appservice.core.inbox import Inbox
from appservice.core.metrics import Metrics
from appservice.core.services import Services
from appservice.core.state import StateStore
from appservice.matrix.client import MatrixClient, MatrixError
from appservice.matrix.sender import Sender

USER_ID = re.compile(r"^@[a-z0-9._=\-/+]+:[A-Za-z0-9.\-:\[\]]+$")


async def admin_main(config_path: Path, cmd: str, user_id: str | None) -> int:
    config = load_config(config_path)
    db = Database(config.db_path, tables(DEFAULT_FEATURES))
    await db.open()
    state = StateStore(db)
    client = MatrixClient(config.homeserver.url, config.appservice.as_token, config.sender,
                          as_sender=config.as_user_id)
    executor = Executor(Services(config, Clock(), client, state, Inbox(db, config.bot_user_ids), Metrics(),
                                 Sender(client, state)))
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
            return await _add(config, state, client, executor, user_id)
        if cmd == "remove":
            return await _remove(config, config_path, db, state, client, executor, user_id)
    finally:
        await client.close()
        db.close()
    return 2


async def _add(config: Config, state: StateStore, client: MatrixClient, executor: Executor, user_id: str) -> int:
    await state.add_admin(user_id, "cli")
    await executor.audit("admin_added", actor="cli", target=user_id)
    room = await state.admin_room()
    if room:
        try:
            await client.invite(room, user_id)
            await client.put_state(room, "m.room.power_levels", await _with_power(client, room, user_id, 100))
        except MatrixError as exc:
            print(f"added, but could not invite to the admin room: {exc.errcode}", file=sys.stderr)
    print(f"{user_id} is now a Yakuba admin" + (f" (invited to {room})" if room else ""))
    return 0


async def _remove(config: Config, config_path: Path, db: Database, state: StateStore, client: MatrixClient,
                  executor: Executor, user_id: str) -> int:
    if user_id in config.admins:
        print(f"{user_id} is listed in {config_path}; remove it there", file=sys.stderr)
        return 1
    removed = await state.remove_admin(user_id)
    if not removed:
        await executor.audit("admin_removed", actor="cli", target=user_id, result="not_admin")
        print(f"{user_id} was not an admin")
        return 1
    cancelled: dict[str, int] = {}
    for feature in DEFAULT_FEATURES:
        if feature.admin_removed is not None:
            cancelled[feature.name] = await feature.admin_removed(db, user_id)
    room_result = await _out_of_admin_room(state, client, user_id)
    await executor.audit("admin_removed", actor="cli", target=user_id,
                         details={"cancelled": cancelled, "admin_room": room_result})
    total = sum(cancelled.values())
    print(f"{user_id} removed; admin room: {room_result}; cancelled {total} pending request(s)"
          + (f" ({', '.join(f'{k} {v}' for k, v in cancelled.items() if v)})" if total else ""))
    return 0 if room_result in ("removed", "invite_revoked", "not_member", "no_admin_room") else 1


async def _out_of_admin_room(state: StateStore, client: MatrixClient, user_id: str) -> str:
    """Lower their power (as them), then kick them. Says truthfully what happened."""
    room = await state.admin_room()
    if not room:
        return "no_admin_room"
    try:
        member = await client.state(room, "m.room.member", user_id)
        if not member or member.get("membership") not in ("join", "invite"):
            return "not_member"
        if member.get("membership") == "invite":
            return await _revoke_invite(client, room, user_id)
        pl = await client.state(room, "m.room.power_levels") or {}
        if int((pl.get("users") or {}).get(user_id, 0)) > 0:
            await client.put_state(room, "m.room.power_levels", await _with_power(client, room, user_id, None),
                                   as_user=user_id)
        await client.kick(room, user_id, reason="Yakuba admin removed")
    except (MatrixError, ValueError, TypeError) as exc:
        code = getattr(exc, "errcode", None) or type(exc).__name__
        print(f"removed from Yakuba's admins, but NOT from the admin room ({code}); remove them by hand",
              file=sys.stderr)
        return f"failed:{code}"
    return "removed"


async def _revoke_invite(client: MatrixClient, room: str, user_id: str) -> str:
    """Invited but never joined: revoke the invite. Their power entry can only be dropped by a
    member with more power (an invited user cannot lower it themselves); try, and say if not."""
    await client.kick(room, user_id, reason="Yakuba admin removed")
    try:
        await client.put_state(room, "m.room.power_levels", await _with_power(client, room, user_id, None))
    except MatrixError:
        print("invite revoked; their power-level entry stays until an admin of the room removes it "
              "(harmless while they are not a member)", file=sys.stderr)
        return "invite_revoked"
    return "removed"


async def _with_power(client: MatrixClient, room: str, user_id: str, level: int | None) -> dict[str, Any]:
    pl = await client.state(room, "m.room.power_levels") or {}
    users = dict(pl.get("users", {}))
    if level is None:
        users.pop(user_id, None)
    else:
        users[user_id] = level
    pl["users"] = users
    return pl
