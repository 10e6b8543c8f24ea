"""Personal data in messages, on the real Synapse: plain and encrypted rooms."""

from __future__ import annotations

import re

import pytest

from tests.integration.admin_room import BOT, admin_client
from tests.integration.e2ee import E2EEUser
from tests.integration.mx import MatrixError, User, wait_for

pytestmark = pytest.mark.integration
MY_NUMBER = "1234 5678 9018"  # valid check digit


def dm_room(yakuba, user_id: str) -> str | None:
    rows = yakuba.query("SELECT room_id FROM dm_rooms WHERE user_id = ?", (user_id,))
    return rows[0][0] if rows else None


async def bot_notices(user: User, room_id: str) -> list[dict]:
    try:
        chunk = await user.messages(room_id, 100)
    except MatrixError:  # the DM room exists but the user is not joined yet
        return []
    return [e for e in chunk if e.get("sender") == BOT and e.get("type") == "m.room.message"]


async def warning_for(yakuba, user: User, event_id: str) -> dict:
    async def find():
        room = dm_room(yakuba, user.user_id)
        if not room:
            return None
        for e in await bot_notices(user, room):
            if event_id in e["content"].get("body", ""):
                return e
        return None
    return await wait_for(find, timeout=20, what=f"warning about {event_id}")


async def is_redacted(user: User, room: str, event_id: str) -> bool:
    try:
        ev = await user.event(room, event_id)
    except MatrixError:
        return False
    return not ev.get("content")


async def test_my_number_in_plain_room_warns_and_check_deletes(yakuba, homeserver):
    # The admin's device must exist before the notice is sent to be able to decrypt it.
    admin, admin_room = await admin_client(yakuba, homeserver)
    alice = await User.login(homeserver.url, "alice")
    bob = await User.login(homeserver.url, "bob")
    room = await alice.create_room(invite=[bob.user_id], name="住民対応")
    await bob.join(room)
    ev = await alice.send_text(room, f"田中さんのマイナンバーは{MY_NUMBER}です")
    warning = await warning_for(yakuba, alice, ev)
    body = warning["content"]["body"]
    assert "マイナンバー" in body and "✅" in body
    assert "9018" not in body and MY_NUMBER not in body  # never the data itself
    # The admin room (encrypted) gets a masked preview.
    try:
        await wait_for(lambda: any(re.search(r"\*{4}.\*{4}.9018", t) and alice.user_id in t
                                   for t in admin.texts_from(BOT, admin_room)), timeout=20,
                       what="masked admin notice")
        assert not any(MY_NUMBER.replace(" ", "") in t or MY_NUMBER in t for t in admin.texts_from(BOT))
    finally:
        await admin.close()
    # ✅ on the warning deletes the original.
    await alice.react(dm_room(yakuba, alice.user_id), warning["event_id"], "✅")
    await wait_for(lambda: is_redacted(bob, room, ev), timeout=20, what="redaction after ✅")
    # Nothing in the log either.
    assert MY_NUMBER not in yakuba.log_tail(2000)


async def test_someone_elses_check_does_not_delete(yakuba, homeserver):
    alice = await User.login(homeserver.url, "alice")
    bob = await User.login(homeserver.url, "bob")
    room = await alice.create_room(invite=[bob.user_id])
    await bob.join(room)
    ev = await alice.send_text(room, f"個人番号 {MY_NUMBER}")
    warning = await warning_for(yakuba, alice, ev)
    dm = dm_room(yakuba, alice.user_id)
    with pytest.raises(MatrixError):  # bob is not in alice's DM with the bot
        await bob.react(dm, warning["event_id"])
    assert not await is_redacted(alice, room, ev)


async def test_redact_mode_removes_at_once(yakuba, homeserver):
    alice = await User.login(homeserver.url, "alice")
    room = await alice.create_room(name="経理")
    ev = await alice.send_text(room, "カード番号 4111 1111 1111 1111 で決済します")
    await wait_for(lambda: is_redacted(alice, room, ev), timeout=20, what="immediate redaction")
    notice = await wait_for(lambda: _find_body(yakuba, alice, "削除しました"), timeout=20)
    assert "4111" not in notice


async def _find_body(yakuba, user, needle):
    room = dm_room(yakuba, user.user_id)
    if not room:
        return None
    for e in await bot_notices(user, room):
        if needle in e["content"].get("body", ""):
            return e["content"]["body"]
    return None


async def test_edit_that_adds_a_number_is_caught(yakuba, homeserver):
    alice = await User.login(homeserver.url, "alice")
    room = await alice.create_room()
    original = await alice.send_text(room, "連絡先は後で送ります")
    edit = await alice.send(room, "m.room.message", {
        "msgtype": "m.text", "body": f"* 連絡先 マイナンバー {MY_NUMBER}",
        "m.new_content": {"msgtype": "m.text", "body": f"連絡先 マイナンバー {MY_NUMBER}"},
        "m.relates_to": {"rel_type": "m.replace", "event_id": original}})
    await warning_for(yakuba, alice, edit)
    assert yakuba.query("SELECT 1 FROM audit WHERE action = 'pii_detected' AND event_id = ?", (original,)) == []


async def test_clean_messages_and_bad_input_get_no_warning(yakuba, homeserver):
    alice = await User.login(homeserver.url, "alice")
    room = await alice.create_room()
    clean = await alice.send_text(room, "注文番号 123456789019 の件、内線1234までお願いします")
    odd = await alice.send(room, "m.room.message", {"msgtype": "m.text", "body": "\u202e\u0000\U0001f600",
                                                    "formatted_body": 12})
    huge = await alice.send_text(room, "あ" * 20000 + MY_NUMBER)  # Synapse caps events at 64 KiB
    after = await alice.send_text(room, f"マイナンバー {MY_NUMBER}")
    await warning_for(yakuba, alice, after)
    for ev in (clean, odd):
        assert yakuba.query("SELECT 1 FROM audit WHERE action = 'pii_detected' AND event_id = ?", (ev,)) == []
    assert yakuba.query("SELECT status FROM inbox WHERE event_id = ?", (huge,)) == [("done",)]


async def test_my_number_in_encrypted_room_warns(yakuba, homeserver):
    alice = await E2EEUser(homeserver.url, "alice", homeserver.server_name).start()
    plain_alice = await User.login(homeserver.url, "alice")
    try:
        room = await alice.create_encrypted_room([BOT], name="暗号化・住民対応")
        await alice.wait_member(room, BOT)
        ev = await alice.send_text(room, f"マイナンバー: {MY_NUMBER}")
        warning = await warning_for(yakuba, plain_alice, ev)
        assert "9018" not in warning["content"]["body"]
        await plain_alice.react(dm_room(yakuba, alice.user_id), warning["event_id"])
        await wait_for(lambda: is_redacted(plain_alice, room, ev), timeout=20, what="redaction in encrypted room")
    finally:
        await alice.close()


async def test_remote_sender_is_reported_to_local_moderators(yakuba, homeserver):
    """Another municipality's user cannot be DM-warned or redacted by us: the room's local
    moderators are told. Federation is not available here, so the remote event is injected at
    the appservice boundary exactly as Synapse would deliver it."""
    import uuid

    import aiohttp

    bob = await User.login(homeserver.url, "bob")
    room = await bob.create_room(name="県・町 連絡")  # bob is the creator: a moderator (v12)
    remote_event = {"event_id": f"$remote-{uuid.uuid4().hex}", "room_id": room, "type": "m.room.message",
                     "sender": "@tanaka:town-b.example", "origin_server_ts": 1,
                     "content": {"msgtype": "m.text", "body": f"マイナンバー {MY_NUMBER} の件"}}
    async with aiohttp.ClientSession() as s, s.put(
            f"{yakuba.url}/_matrix/app/v1/transactions/remote-{uuid.uuid4().hex}",
            json={"events": [remote_event]}, headers={"Authorization": f"Bearer {homeserver.hs_token}"}) as r:
        assert r.status == 200
    notice = await wait_for(lambda: _find_body(yakuba, bob, "@tanaka:town-b.example"), timeout=20,
                            what="moderator notice")
    assert "9018" not in notice
