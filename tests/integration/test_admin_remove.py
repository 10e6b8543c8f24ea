"""`yakuba admin remove` really removes: out of the encrypted admin room (power and membership),
and what the removed admin asked for that has not run is cancelled — their own pending
offboarding plan can no longer be confirmed by anyone."""

from __future__ import annotations

import re

import pytest

from tests.integration.admin_room import BOT, admin_room_id, command
from tests.integration.e2ee import E2EEUser
from tests.integration.mx import User, wait_for
from tests.integration.test_bot_lifecycle import yakuba_cli

pytestmark = pytest.mark.integration


async def test_removed_admin_leaves_the_admin_room_and_their_plans_are_cancelled(yakuba, homeserver):
    homeserver.register("kacho")
    homeserver.register("leaver_x")
    uid = homeserver.user_id("kacho")
    assert yakuba_cli(yakuba, "admin", "add", uid).returncode == 0
    room = admin_room_id(yakuba)
    kacho = await E2EEUser(homeserver.url, "kacho", homeserver.server_name).start()
    try:
        await kacho.join(room)
        await kacho.wait_member(room, BOT)
        await command(kacho, room, "!yakuba status", expect="Synapse")
        plan = await command(kacho, room, f"!yakuba offboard {homeserver.user_id('leaver_x')}",
                             expect="confirm")
        code = re.search(r"confirm ([A-Za-z0-9]{4,12})", plan)
        assert code, plan
        assert yakuba.query("SELECT status FROM offboarding_plans WHERE requester = ?", (uid,)) == [("pending",)]

        removed = yakuba_cli(yakuba, "admin", "remove", uid)
        assert removed.returncode == 0, removed.stderr
        assert "admin room: removed" in removed.stdout and "cancelled 1" in removed.stdout

        assert yakuba.query("SELECT status FROM offboarding_plans WHERE requester = ?", (uid,)) == [("cancelled",)]
        as_admin = await User.login(homeserver.url, "admin")
        if room not in await as_admin.joined_rooms():
            await as_admin.join(room)
        member = await as_admin.call("GET", f"/_matrix/client/v3/rooms/{room}/state/m.room.member/{uid}")
        assert member["membership"] == "leave"
        levels = await as_admin.call("GET", f"/_matrix/client/v3/rooms/{room}/state/m.room.power_levels/")
        assert uid not in levels.get("users", {})
        await wait_for(lambda: uid not in yakuba_cli(yakuba, "admin", "list").stdout, what="gone from the list")
        audit = yakuba.query("SELECT details FROM audit WHERE action = 'admin_removed' AND target = ?", (uid,))
        assert audit and '"offboarding": 1' in audit[-1][0]
    finally:
        await kacho.close()
