"""不在 (away) on the real Synapse: set in one's own (encrypted) DM with the bot, by an admin for
someone; writers who mention or DM the away person get one private notice, never in the room,
never with their message; quiet hours hold it unless 【緊急】; absences start and end by
themselves; a writer on another server is tried and the failure audited."""

from __future__ import annotations

import itertools
import json
import uuid

import aiohttp
import pytest
from nio import RoomPreset

from tests.conftest import WORKING_TIME
from tests.integration.admin_room import admin_client, command
from tests.integration.e2ee import E2EEUser
from tests.integration.mx import MatrixError, User, q, wait_for

pytestmark = pytest.mark.integration

SERVER = "city-a.localhost"
BOT = f"@_yakuba:{SERVER}"
OFF_HOURS = "2026-11-25T20:00:00+09:00"  # Wednesday evening
ENCRYPTION = [{"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}]
_names = itertools.count()


def fresh(homeserver, prefix: str) -> str:
    name = f"{prefix}{next(_names)}_{uuid.uuid4().hex[:6]}"
    homeserver.register(name)
    return name


def processed(yakuba, event_id: str) -> bool:
    return bool(yakuba.query("SELECT 1 FROM inbox WHERE event_id = ? AND status = 'done'", (event_id,)))


async def notices(yakuba, user: User) -> list[str]:
    rows = yakuba.query("SELECT room_id FROM dm_rooms WHERE user_id = ?", (user.user_id,))
    if not rows:
        return []
    return [b for b in await bot_posts(user, rows[0][0]) if "不在" in b]


async def bot_posts(user: User, room: str) -> list[str]:
    try:
        events = await user.messages(room)
    except MatrixError:  # the DM is made before the user is joined to it
        return []
    return [ev["content"].get("body", "") for ev in events if ev.get("sender") == BOT]


async def own_dm(homeserver, yakuba, name: str) -> tuple[E2EEUser, str]:
    """The staff member's own encrypted DM with the bot, as Element opens it."""
    user = await E2EEUser(homeserver.url, name, homeserver.server_name).start()
    resp = await user.client.room_create(is_direct=True, preset=RoomPreset.trusted_private_chat, invite=[BOT],
                                         initial_state=ENCRYPTION)
    room = resp.room_id
    await user.wait_room(room)
    await user.wait_member(room, BOT)
    await wait_for(lambda: yakuba.query("SELECT 1 FROM user_dm_rooms WHERE room_id = ?", (room,)), timeout=20,
                   what="the DM is the staff member's")
    return user, room


async def say(user: E2EEUser, room: str, text: str, expect: str, timeout: float = 30) -> str:
    before = len(user.texts_from(BOT, room))
    await user.send_text(room, text)

    def found() -> str | None:
        return next((t for t in user.texts_from(BOT, room)[before:] if expect in t), None)

    return await wait_for(found, timeout=timeout, what=f"reply to {text!r} containing {expect!r}")


async def test_set_in_own_dm_writers_get_one_private_notice(homeserver, yakuba):
    yakuba.set_clock(WORKING_TIME)  # Wednesday 2026-11-25 10:00 JST
    yamada_name, sato_name = fresh(homeserver, "yamada"), fresh(homeserver, "sato")
    sato = f"@{sato_name}:{SERVER}"
    yamada, dm = await own_dm(homeserver, yakuba, yamada_name)
    try:
        # Bad inputs first: an unknown date, a period that is over.
        await say(yamada, dm, "!yakuba away 来週", "日付を読み取れませんでした")
        await say(yamada, dm, "!yakuba away 11/20-11/21", "もう終わっています")
        # A planned trip, then leave that overlaps it: the trip is replaced, and named.
        await say(yamada, dm, "!yakuba away 11/27-11/30 出張", "不在を設定しました")
        reply = await say(yamada, dm, f"!yakuba away 11/25-11/27 年次休暇 代理 @{sato_name}", "不在を設定しました")
        assert "11月30日（月）08:30 から戻る" in reply and sato in reply
        replaced = await wait_for(lambda: next((t for t in yamada.texts_from(BOT, dm) if "置き換えました" in t), None),
                                  timeout=10, what="the replacement named")
        assert "11月27日（金）" in replaced and "11月30日（月）" in replaced
        status = await say(yamada, dm, "!yakuba away status", "不在中")
        assert "年次休暇" in status and "出張" not in status

        # A mention in a plain room: one private notice, not in the room, not the message, not the note.
        writer = await User.login(homeserver.url, fresh(homeserver, "writer"))
        room = await writer.create_room(invite=[yamada.user_id], name="係の連絡")
        mention = {"m.mentions": {"user_ids": [yamada.user_id]}}
        first = await writer.send_text(room, "山田さん、明日の会議資料です", **mention)
        (notice,) = await wait_for(lambda: notices(yakuba, writer), timeout=30, what="the away notice")
        assert "11月27日（金）まで不在" in notice and sato in notice
        assert "会議資料" not in notice and "年次休暇" not in notice
        second = await writer.send_text(room, f"{yamada.user_id} もう一点あります")
        await wait_for(lambda: processed(yakuba, second), timeout=20, what="the second mention processed")
        assert len(await notices(yakuba, writer)) == 1, "once per writer per absence"
        assert await bot_posts(writer, room) == [], "never in the room"
        assert yakuba.query("SELECT COUNT(*) FROM audit WHERE action = 'away_notice' AND target = ? AND event_id = ?",
                            (yamada.user_id, first)) == [(1,)]

        # A DM the writer opens (is_direct) counts without any mention.
        dm_writer = await User.login(homeserver.url, fresh(homeserver, "dmwriter"))
        direct = await dm_writer.create_room(invite=[yamada.user_id], is_direct=True, preset="trusted_private_chat")
        await wait_for(lambda: yakuba.query("SELECT 1 FROM away_dm_rooms WHERE room_id = ? AND user_id = ?",
                                            (direct, yamada.user_id)), timeout=20, what="the DM learned")
        await dm_writer.send_text(direct, "お疲れさまです。例の件ですが")
        await wait_for(lambda: notices(yakuba, dm_writer), timeout=30, what="the notice for a DM")

        # Off hours: nothing, unless 【緊急】 (the quiet-hours marker).
        late = await User.login(homeserver.url, fresh(homeserver, "late"))
        late_room = await late.create_room(invite=[yamada.user_id])
        yakuba.set_clock(OFF_HOURS)
        try:
            normal = await late.send_text(late_room, "明日でいいです", **mention)
            await wait_for(lambda: processed(yakuba, normal), timeout=20, what="the off-hours mention processed")
            assert await notices(yakuba, late) == []
            await late.send_text(late_room, "【緊急】停電です", **mention)
            await wait_for(lambda: notices(yakuba, late), timeout=30, what="the notice for 【緊急】 off hours")
        finally:
            yakuba.set_clock(WORKING_TIME)

        # away off: no more notices.
        await say(yamada, dm, "!yakuba away off", "取り消しました")
        after = await User.login(homeserver.url, fresh(homeserver, "after"))
        after_room = await after.create_room(invite=[yamada.user_id])
        ev = await after.send_text(after_room, "こんにちは", **mention)
        await wait_for(lambda: processed(yakuba, ev), timeout=20, what="processed")
        assert await notices(yakuba, after) == []
        assert yakuba.query("SELECT state FROM away_absences WHERE user_id = ? ORDER BY id", (yamada.user_id,)) == [
            ("replaced",), ("cancelled",)]
    finally:
        yakuba.set_clock(WORKING_TIME)
        await yamada.close()


async def test_an_encrypted_room_with_the_bot_reads_mentions(homeserver, yakuba):
    yakuba.set_clock(WORKING_TIME)
    away_name, writer_name = fresh(homeserver, "eaway"), fresh(homeserver, "ewriter")
    away_user, dm = await own_dm(homeserver, yakuba, away_name)
    writer = await E2EEUser(homeserver.url, writer_name, homeserver.server_name).start()
    try:
        await say(away_user, dm, "!yakuba away 17:00まで", "不在を設定しました")
        room = await writer.create_encrypted_room([away_user.user_id, BOT], name="暗号化された係")
        await writer.wait_member(room, BOT)
        ev = await writer.send_text(room, "確認お願いします", **{"m.mentions": {"user_ids": [away_user.user_id]}})
        await wait_for(lambda: yakuba.query("SELECT 1 FROM inbox WHERE event_id = ? AND decrypted = 1", (ev,)),
                       timeout=30, what="the bot's plaintext")
        plain = await User.login(homeserver.url, writer_name)
        (notice,) = await wait_for(lambda: notices(yakuba, plain), timeout=30, what="the notice")
        assert "17:00まで不在" in notice and "確認お願いします" not in notice
        assert not any("不在" in t for t in writer.texts_from(BOT, room)), "never in the room"
    finally:
        await away_user.close()
        await writer.close()


async def test_an_admin_sets_it_for_someone_and_it_starts_and_ends_by_itself(homeserver, yakuba):
    yakuba.set_clock(WORKING_TIME)
    name = fresh(homeserver, "sick")
    user_id = f"@{name}:{SERVER}"
    admin, room = await admin_client(yakuba, homeserver)
    try:
        await command(admin, room, f"!yakuba away {user_id} 令和8年12月32日", expect="日付を読み取れませんでした")
        await command(admin, room, "!yakuba away @nobody_here 11/26", expect="というユーザーはいません")
        reply = await command(admin, room, f"!yakuba away {user_id} 11/26 09:00-12:00 病気休暇", expect="本人にも")
        assert "11月26日（木）12:00まで" in reply
        assert "予定" in await command(admin, room, "!yakuba away list", expect=user_id)
        audit = yakuba.query("SELECT actor, details FROM audit WHERE action = 'away_set' AND target = ?", (user_id,))
        assert audit and audit[0][0] == admin.user_id and json.loads(audit[0][1])["by_admin"] is True
        person = await User.login(homeserver.url, name)
        await wait_for(lambda: _dm_has(yakuba, person, "管理者"), timeout=30, what="the person told")

        yakuba.set_clock("2026-11-26T09:00:30+09:00")
        await wait_for(lambda: _dm_has(yakuba, person, "不在が始まりました"), timeout=30, what="started by itself")
        yakuba.set_clock("2026-11-26T12:00:30+09:00")
        await wait_for(lambda: _dm_has(yakuba, person, "不在が終わりました"), timeout=30, what="ended by itself")
        assert yakuba.query("SELECT state FROM away_absences WHERE user_id = ?", (user_id,)) == [("ended",)]
        assert yakuba.query("SELECT COUNT(*) FROM audit WHERE target = ? AND action IN ('away_started', 'away_ended')",
                            (user_id,)) == [(2,)]
    finally:
        yakuba.set_clock(WORKING_TIME)
        await admin.close()


async def _dm_has(yakuba, user: User, text: str) -> bool:
    rows = yakuba.query("SELECT room_id FROM dm_rooms WHERE user_id = ?", (user.user_id,))
    return bool(rows) and any(text in b for b in await bot_posts(user, rows[0][0]))


async def test_a_writer_on_another_server_is_tried_and_the_failure_audited(homeserver, yakuba):
    yakuba.set_clock(WORKING_TIME)
    name = fresh(homeserver, "raway")
    away_user, dm = await own_dm(homeserver, yakuba, name)
    try:
        # A DM the client recorded in m.direct before Yakuba knew of it is read when the absence starts.
        plain = await User.login(homeserver.url, name)
        old_dm = await plain.create_room(invite=["@carol:" + SERVER])
        await plain.call("PUT", f"/_matrix/client/v3/user/{q(plain.user_id)}/account_data/m.direct",
                         {"@carol:" + SERVER: [old_dm]})
        await say(away_user, dm, "!yakuba away @someone_else 12/24", "管理者が管理ルームで")
        await say(away_user, dm, "!yakuba away 17:00まで", "不在を設定しました")
        await wait_for(lambda: yakuba.query("SELECT source FROM away_dm_rooms WHERE room_id = ?", (old_dm,))
                       == [("m.direct",)], timeout=20, what="m.direct read")
        owner = await User.login(homeserver.url, "bob")
        room = await owner.create_room(name="県・町 連絡")
        remote = {"event_id": f"$remote-{uuid.uuid4().hex}", "room_id": room, "type": "m.room.message",
                  "sender": "@tanaka:town-b.example", "origin_server_ts": 1,
                  "content": {"msgtype": "m.text", "body": f"{away_user.user_id} さん、資料の件です",
                              "m.mentions": {"user_ids": [away_user.user_id]}}}
        async with aiohttp.ClientSession() as s, s.put(
                f"{yakuba.url}/_matrix/app/v1/transactions/away-{uuid.uuid4().hex}",
                json={"events": [remote]}, headers={"Authorization": f"Bearer {homeserver.hs_token}"}) as r:
            assert r.status == 200
        rows = await wait_for(lambda: yakuba.query(
            "SELECT result, details FROM audit WHERE action = 'away_notice' AND event_id = ?", (remote["event_id"],)),
            timeout=30, what="the remote attempt audited")
        assert rows[0][0] == "unreachable" and json.loads(rows[0][1])["remote"] is True
        await say(away_user, dm, "!yakuba away status", "不在中")  # still answering
    finally:
        await away_user.close()
