"""A DM that a staff member opens with @_yakuba themselves, as Element does (`is_direct`,
invite the bot, encrypted), is their DM: `!yakuba` commands of DM scope work there."""

from __future__ import annotations

import pytest
from nio import RoomPreset

from tests.integration.e2ee import E2EEUser
from tests.integration.mx import wait_for

pytestmark = pytest.mark.integration
BOT = "@_yakuba:city-a.localhost"
ENCRYPTION = [{"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}]


def done(yakuba, event_id: str) -> bool:
    return yakuba.query("SELECT status FROM inbox WHERE event_id = ?", (event_id,)) == [("done",)]


async def open_dm(user: E2EEUser, invite: list[str]) -> str:
    resp = await user.client.room_create(is_direct=True, preset=RoomPreset.trusted_private_chat, invite=invite,
                                         initial_state=ENCRYPTION)
    room_id = resp.room_id
    await user.wait_room(room_id)
    return room_id


async def test_dm_opened_by_staff_takes_dm_commands(yakuba, homeserver):
    homeserver.register("dm_staff")
    staff = await E2EEUser(homeserver.url, "dm_staff", homeserver.server_name).start()
    try:
        room = await open_dm(staff, [BOT])
        await staff.wait_member(room, BOT)
        await wait_for(lambda: yakuba.query("SELECT user_id FROM user_dm_rooms WHERE room_id = ?", (room,))
                       == [(staff.user_id,)], timeout=20, what="the DM is recognised as the staff member's")
        await staff.send_text(room, "!yakuba frobnicate")
        await wait_for(lambda: any("frobnicate" in t for t in staff.texts_from(BOT, room)), timeout=30,
                       what="unknown-command hint in the DM (Yakuba talks there)")
        before = len(staff.texts_from(BOT, room))
        await staff.send_text(room, "!yakuba quiet off")  # a DM-scope command
        await wait_for(lambda: len(staff.texts_from(BOT, room)) > before, timeout=30,
                       what="the DM-scope command answered in the staff member's own DM")
        replies = [ev for rid, ev in staff.received if rid == room and ev.sender == BOT]
        assert replies and all(ev.decrypted for ev in replies)  # encrypted room: encrypted replies
        assert yakuba.query("SELECT 1 FROM audit WHERE action = 'direct_chat_opened' AND room_id = ?", (room,))
    finally:
        await staff.close()


async def test_a_room_with_a_third_person_is_not_a_dm(yakuba, homeserver):
    homeserver.register("dm_staff2")
    homeserver.register("dm_other")
    staff = await E2EEUser(homeserver.url, "dm_staff2", homeserver.server_name).start()
    try:
        room = await open_dm(staff, [BOT, f"@dm_other:{homeserver.server_name}"])
        await staff.wait_member(room, BOT)
        cmd = await staff.send_text(room, "!yakuba frobnicate")
        await wait_for(lambda: done(yakuba, cmd), timeout=30, what="the command processed")
        assert not yakuba.query("SELECT 1 FROM user_dm_rooms WHERE room_id = ?", (room,))
        assert not any("frobnicate" in t for t in staff.texts_from(BOT, room)), "silent outside DMs"
    finally:
        await staff.close()
