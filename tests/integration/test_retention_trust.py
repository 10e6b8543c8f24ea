"""[trust] The archive bot kicked from a flagged room (real Synapse): the admin room hears of it at
once, `archive list` says the room is not mirrored since then, and flagging it again clears it."""

from __future__ import annotations

import pytest

from tests.integration.admin_room import BOT, admin_client, command
from tests.integration.mx import User, q, wait_for
from tests.integration.test_retention import ARCHIVE, _joined, flag_from_admin_room

pytestmark = pytest.mark.integration


async def test_kicking_the_archive_bot_is_reported_and_listed(yakuba, homeserver):
    admin, admin_room = await admin_client(yakuba, homeserver)
    alice = await User.login(homeserver.url, "alice")
    room = await alice.create_room(name="例規 審査（信頼）")
    try:
        await flag_from_admin_room(admin, admin_room, room)
        await wait_for(lambda: _joined(alice, room, ARCHIVE), timeout=30, what="archive bot joined")

        before = len(admin.texts_from(BOT, admin_room))
        await alice.call("POST", f"/_matrix/client/v3/rooms/{q(room)}/kick",
                         {"user_id": ARCHIVE, "reason": "不要"})

        def notice() -> str | None:
            for t in admin.texts_from(BOT, admin_room)[before:]:
                if room in t and "ミラーされていません" in t:
                    return t
            return None

        text = await wait_for(notice, timeout=30, what="admin-room notice of the kick")
        assert alice.user_id in text and ARCHIVE in text and "例規 審査（信頼）" in text
        assert yakuba.query("SELECT actor FROM audit WHERE action = 'archive_bot_removed' AND room_id = ?",
                            (room,)) == [(alice.user_id,)]
        gap = yakuba.query("SELECT unmirrored_by, unmirrored_how FROM retention_flag_notes WHERE room_id = ?",
                           (room,))
        assert gap == [(alice.user_id, "kick")]

        listing = await command(admin, admin_room, "!yakuba archive list", expect="保存対象のルーム")
        line = listing[listing.index(room):]
        assert "以降ミラーされていません" in line and alice.user_id in line

        # Flagged again by the admin, the bot is invited and joins again; the mark is cleared.
        await flag_from_admin_room(admin, admin_room, room)
        await wait_for(lambda: _joined(alice, room, ARCHIVE), timeout=30, what="archive bot rejoined")
        await wait_for(lambda: not yakuba.query(
            "SELECT 1 FROM retention_flag_notes WHERE room_id = ? AND unmirrored_since IS NOT NULL", (room,)),
            timeout=30, what="not-mirrored mark cleared")
        listing = await command(admin, admin_room, "!yakuba archive list", expect="保存対象のルーム")
        assert "ミラーされていません" not in listing[listing.index(room):].split("\n• ")[0]
    finally:
        await admin.close()
