"""Every rule across the boundary, on two real federating Synapses, each with its own Yakuba.

city-a (城北市) and city-b (城南町) are partners. Each Yakuba looks after its own staff:
a city-b user's message in a shared room is judged by city-a's Yakuba for city-a's people
(moderators told, archive records, quiet hours) and by city-b's Yakuba for the sender.
"""

from __future__ import annotations

import json

import pytest

from tests.federation.support import (
    admin_command,
    admin_e2ee,
    archive_bot,
    audits,
    bot,
    dm_texts,
    fresh,
    power,
    shared_room,
)
from tests.integration.e2ee import E2EEUser
from tests.integration.mx import User, q, wait_for
from tests.stack import WORKING_TIME

pytestmark = pytest.mark.integration
MY_NUMBER = "1234 5678 9018"  # valid check digit
OFF_HOURS = "2026-11-25T20:00:00+09:00"


async def test_pii_from_a_remote_sender_tells_local_moderators_and_the_senders_own_yakuba_warns(cities):
    a, b = cities["city-a"], cities["city-b"]
    mod = await User.login(a.hs.url, fresh(a, "pmod"))
    sender = await User.login(b.hs.url, fresh(b, "psend"))
    room = await shared_room(mod, sender, name="合同会議")
    await sender.send_text(room, f"住民のマイナンバーは{MY_NUMBER}です")

    async def told(city, user) -> str | None:
        return next((t for t in await dm_texts(city, user) if "マイナンバー" in t), None)

    local_notice = await wait_for(lambda: told(a, mod), timeout=40, what="city-a moderator told")
    assert MY_NUMBER not in local_notice  # masked
    own_warning = await wait_for(lambda: told(b, sender), timeout=40, what="city-b's Yakuba warns its user")
    assert MY_NUMBER not in own_warning
    # city-a's Yakuba never DMs the remote sender: that is city-b's job.
    assert a.yakuba.query("SELECT room_id FROM dm_rooms WHERE user_id = ?", (sender.user_id,)) == []


async def test_pii_in_an_encrypted_shared_room_both_bots_decrypt(cities):
    a, b = cities["city-a"], cities["city-b"]
    mod_name, send_name = fresh(a, "emod"), fresh(b, "esend")
    mod = await E2EEUser(a.hs.url, mod_name, a.server_name).start()
    sender = await E2EEUser(b.hs.url, send_name, b.server_name).start()
    try:
        room = await mod.create_encrypted_room([sender.user_id, bot(a)], name="暗号化合同")

        async def invited() -> bool:
            await sender.client.sync(timeout=0)
            return room in sender.client.invited_rooms or room in sender.client.rooms

        await wait_for(invited, timeout=30, what="remote invite")
        await sender.join(room)
        await sender.client.room_invite(room, bot(b))
        for who in (bot(a), bot(b), sender.user_id):
            await mod.wait_member(room, who, timeout=40)
        await sender.wait_member(room, bot(a), timeout=40)
        await sender.send_text(room, f"個人番号 {MY_NUMBER} の件")

        plain_mod = await User.login(a.hs.url, mod_name)
        plain_sender = await User.login(b.hs.url, send_name)

        async def told(city, user) -> str | None:
            return next((t for t in await dm_texts(city, user) if "マイナンバー" in t), None)

        notice = await wait_for(lambda: told(a, plain_mod), timeout=60,
                                what="city-a's bot decrypted the remote message")
        assert MY_NUMBER not in notice
        warning = await wait_for(lambda: told(b, plain_sender), timeout=60, what="city-b warns its own user")
        assert MY_NUMBER not in warning
        # A new device of the remote user (a second login) is picked up: city-a's bot queries
        # the changed device list and decrypts what the new device sends.
        second = await E2EEUser(b.hs.url, send_name, b.server_name).start()
        try:
            await second.wait_room(room)
            await second.wait_member(room, bot(a), timeout=40)
            await second.send_text(room, f"別端末から: マイナンバー {MY_NUMBER}")

            async def told_twice() -> bool:
                return len([t for t in await dm_texts(a, plain_mod) if "マイナンバー" in t]) >= 2

            await wait_for(told_twice, timeout=60, what="the new remote device's message decrypted on city-a")
        finally:
            await second.close()
        assert a.yakuba.query("SELECT COUNT(*) FROM undecryptable WHERE room_id = ?", (room,))[0][0] == 0
    finally:
        await mod.close()
        await sender.close()


async def _override(user: User) -> dict[str, dict]:
    body = await user.call("GET", "/_matrix/client/v3/pushrules/")
    return {r["rule_id"]: r for r in body["global"]["override"]}


async def test_quiet_hours_hold_for_remote_senders_and_each_yakuba_reminds_its_own(cities):
    a, b = cities["city-a"], cities["city-b"]
    recipient = await User.login(a.hs.url, fresh(a, "qrec"))
    sender = await User.login(b.hs.url, fresh(b, "qsend"))
    room = await shared_room(sender, recipient, name="夜間連絡")
    try:
        a.yakuba.set_clock(OFF_HOURS)
        b.yakuba.set_clock(OFF_HOURS)

        async def quiet_on() -> bool:
            rule = (await _override(recipient)).get("jp.yakuba.quiet")
            return bool(rule and rule["enabled"])

        await wait_for(quiet_on, timeout=60, interval=0.5, what="city-a's quiet rule for its staff")
        normal = await sender.send_text(room, "明日の打ち合わせの件です")
        urgent = await sender.send_text(room, "【緊急】避難所の開設をお願いします")

        async def notified() -> set[str]:
            body = await recipient.call("GET", "/_matrix/client/v3/notifications", params={"limit": "50"})
            return {n["event"]["event_id"] for n in body.get("notifications", [])}

        await wait_for(lambda: _contains(notified, urgent), timeout=40, what="remote 【緊急】 notifies")
        assert normal not in await notified()
        # The remote sender is reminded by their own Yakuba, on their own hours.
        await wait_for(lambda: _any_text(dm_texts(b, sender), "執務時間外"), timeout=40,
                       what="city-b's reminder to its own staff member")
        assert a.yakuba.query("SELECT room_id FROM dm_rooms WHERE user_id = ?", (sender.user_id,)) == []
    finally:
        a.yakuba.set_clock(WORKING_TIME)
        b.yakuba.set_clock(WORKING_TIME)

        async def quiet_gone() -> bool:
            return "jp.yakuba.quiet" not in await _override(recipient)

        await wait_for(quiet_gone, timeout=60, interval=0.5, what="quiet rule removed again")


async def _contains(fn, item) -> bool:
    return item in await fn()


async def _any_text(coro, needle: str) -> bool:
    return any(needle in t for t in await coro)


async def test_archive_records_carry_the_remote_senders_municipality(cities):
    a, b = cities["city-a"], cities["city-b"]
    mod = await User.login(a.hs.url, "alice")  # alice is in city-a's staff directory
    guest = await User.login(b.hs.url, fresh(b, "arch"))
    room = await shared_room(mod, guest, name="広域連携会議")
    await mod.send_text(room, "!yakuba archive here --years 10 --category 会議録")

    async def bot_joined() -> bool:
        body = await mod.call("GET", f"/_matrix/client/v3/rooms/{q(room)}/joined_members")
        return archive_bot(a) in body.get("joined", {})

    await wait_for(bot_joined, timeout=60, what="city-a's archive bot joined")
    local = await mod.send_text(room, "資料を共有します")
    remote = await guest.send_text(room, "城南町から意見を送ります")

    from tests.integration.test_retention import open_store

    def recs() -> dict[str, dict]:
        return {r["event_id"]: r for r in open_store(a.yakuba).read(room)}

    def both() -> dict[str, dict] | None:
        r = recs()
        return r if local in r and remote in r else None

    got = await wait_for(both, timeout=60, what="both messages archived")
    assert got[remote]["sender"] == guest.user_id
    assert got[remote]["affiliation"] == {"department": "城南町（外部）", "title": None}
    assert got[local]["affiliation"]["department"] == "総務部 総務課"
    from appservice.lib.archive.export import affiliation_text

    assert affiliation_text(got[remote]) == "城南町（外部）"  # the 所属 column of every export


async def test_offboarding_hands_a_shared_room_to_the_successor_and_leaves_remote_admins_alone(cities):
    a, b = cities["city-a"], cities["city-b"]
    leaver_name, succ_name = fresh(a, "leav"), fresh(a, "succ")
    leaver = await User.login(a.hs.url, leaver_name)
    partner_admin = await User.login(b.hs.url, fresh(b, "padm"))
    room = await shared_room(leaver, partner_admin, name="合同プロジェクト")
    levels = await leaver.call("GET", f"/_matrix/client/v3/rooms/{q(room)}/state/m.room.power_levels")
    levels["users"][partner_admin.user_id] = 100
    await leaver.call("PUT", f"/_matrix/client/v3/rooms/{q(room)}/state/m.room.power_levels", levels)
    admin, admin_room = await admin_e2ee(a)
    try:
        await admin_command(a, admin, admin_room,
                            f"!yakuba offboard {a.user_id(leaver_name)} --successor {a.user_id(succ_name)}",
                            "!yakuba confirm", timeout=60)
        rows = a.yakuba.query("SELECT code, entries FROM offboarding_plans WHERE entries LIKE ? "
                              "ORDER BY created_at DESC LIMIT 1", (f"%{leaver_name}%",))
        code, entries = rows[0][0], json.loads(rows[0][1])
        assert room in {h["room"] for h in entries[0]["handovers"]}
        await admin_command(a, admin, admin_room, f"!yakuba confirm {code}", code, timeout=60)

        def done() -> bool:
            rows = a.yakuba.query("SELECT status FROM offboarding_jobs WHERE user_id = ? ORDER BY id DESC LIMIT 1",
                                  (a.user_id(leaver_name),))
            return bool(rows) and rows[0][0] == "done"

        await wait_for(done, timeout=90, what="offboarding done")
    finally:
        await admin.close()
    users = await power(partner_admin, room)
    assert users.get(a.user_id(succ_name)) == 100
    assert users.get(partner_admin.user_id) == 100  # the partner's admin is left as they were


async def test_remote_users_run_no_commands_here_whatever_their_power(cities):
    a, b = cities["city-a"], cities["city-b"]
    owner = await User.login(b.hs.url, fresh(b, "rown"))   # creator of a room on city-b: power 100
    local = await User.login(a.hs.url, fresh(a, "rloc"))
    room = await shared_room(owner, local, name="城南町のルーム")
    await local.call("POST", f"/_matrix/client/v3/rooms/{q(room)}/invite", {"user_id": bot(a)})
    status_cmd = await owner.send_text(room, "!yakuba status")
    archive_cmd = await owner.send_text(room, "!yakuba archive here --years 1")
    leave_cmd = await owner.send_text(room, "!yakuba leave")

    def refused() -> set[str]:
        rows = a.yakuba.query("SELECT event_id FROM audit WHERE action = 'command_refused' AND actor = ?",
                              (owner.user_id,))
        return {r[0] for r in rows}

    await wait_for(lambda: {status_cmd, archive_cmd, leave_cmd} <= refused(), timeout=40,
                   what="city-a refuses the remote user's commands")
    details = [json.loads(r[3]) for r in audits(a, "command_refused") if r[0] == owner.user_id]
    assert {d["reason"] for d in details} == {"remote_sender"}
    assert a.yakuba.query("SELECT room_id FROM retention_flags WHERE room_id = ?", (room,)) == []
    msgs = await local.messages(room, 50)
    assert not [m for m in msgs if m.get("sender") in (bot(a), archive_bot(a))
                and m.get("type") == "m.room.message"]  # silent: city-b's own Yakuba answers them
    # city-b's Yakuba is the one that acts for its own user (its archive bot joins).

    async def b_flagged() -> bool:
        return bool(b.yakuba.query("SELECT room_id FROM retention_flags WHERE room_id = ? AND active = 1", (room,)))

    await wait_for(b_flagged, timeout=40, what="city-b's Yakuba handles its own user's command")


async def test_a_remote_user_cannot_pull_our_bot_into_a_room(cities):
    a, b = cities["city-a"], cities["city-b"]
    owner = await User.login(b.hs.url, fresh(b, "pull"))
    room = await owner.create_room(invite=[bot(a)], name="招待テスト", is_direct=True)
    ok = await owner.send_text(room, "こんにちは")
    import asyncio

    await asyncio.sleep(5)
    body = await owner.call("GET", f"/_matrix/client/v3/rooms/{q(room)}/members")
    member = {e["state_key"]: e["content"].get("membership") for e in body.get("chunk", [])}
    assert member.get(bot(a)) == "invite", member  # still only invited: the bot did not join
    assert ok


async def test_federation_status_in_the_admin_room(cities):
    a, b = cities["city-a"], cities["city-b"]
    somebody = await User.login(b.hs.url, fresh(b, "stat"))
    local = await User.login(a.hs.url, fresh(a, "statl"))
    room = await shared_room(local, somebody)
    await somebody.send_text(room, "ping")
    await wait_for(lambda: a.yakuba.query("SELECT events FROM federation_seen WHERE server = ?", (b.server_name,)),
                   timeout=30, what="city-b seen")
    admin, admin_room = await admin_e2ee(a)
    try:
        reply = await admin_command(a, admin, admin_room, "!yakuba federation status", "城南町")
    finally:
        await admin.close()
    assert b.server_name in reply and "応答あり" in reply and "最後に受信" in reply
