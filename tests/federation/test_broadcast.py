"""一斉送信 on real servers: to a department (DMs, read receipts, ✅, off-duty, reminders) and to a
partner municipality's encrypted liaison room (remote receipts), and a disaster declared by a
trusted partner switching on the other town's disaster mode."""

from __future__ import annotations

import pytest

from tests.federation.support import admin_command, admin_e2ee, bot, dm_room, fresh
from tests.integration.e2ee import E2EEUser
from tests.integration.mx import User, q, wait_for
from tests.stack import WORKING_TIME

pytestmark = pytest.mark.integration
OFF_HOURS = "2026-11-25T20:00:00+09:00"


def code_in(text: str) -> str:
    import re

    found = re.search(r"（([0-9A-F]{6})）|\(([0-9A-F]{6})\)", text)
    assert found, text
    return found.group(1) or found.group(2)


async def broadcast_text(user: User, room: str) -> dict | None:
    for e in await user.messages(room, 50):
        if e.get("type") == "m.room.message" and "jp.yakuba.broadcast" in e.get("content", {}):
            return e
    return None


async def test_bad_broadcasts_get_clear_answers(cities):
    a = cities["city-a"]
    admin, room = await admin_e2ee(a)
    try:
        await admin_command(a, admin, room, "!yakuba broadcast dept:存在しない課\n件名\n本文", "名簿にありません")
        await admin_command(a, admin, room, "!yakuba broadcast nobody\n件名", "宛先「nobody」が分かりません")
        await admin_command(a, admin, room, "!yakuba broadcast partner:無関係村\n件名", "登録されていません")
        await admin_command(a, admin, room, "!yakuba broadcast all", "タイトルと本文がありません")
        await admin_command(a, admin, room, "!yakuba broadcast all --remind soon\n件名", "--remind")
        await admin_command(a, admin, room, "!yakuba broadcast all\n" + "長" * 5000, "長すぎます")
        await admin_command(a, admin, room, "!yakuba broadcast partners\nだれにも", "送れる宛先がありません")
        await admin_command(a, admin, room, "!yakuba broadcast confirm ZZZZZZ", "見つかりません")
        await admin_command(a, admin, room, "!yakuba broadcast status", "broadcast status CODE")
    finally:
        await admin.close()


async def test_department_broadcast_is_read_confirmed_and_reminded(cities):
    a = cities["city-a"]
    reader = await User.login(a.hs.url, "alice")    # 総務部 総務課 in the staff directory
    admin, room = await admin_e2ee(a)
    try:
        plan = await admin_command(a, admin, room,
                                   "!yakuba broadcast dept:総務課 --remind 1\n庁舎点検のお知らせ\n"
                                   "明日 9 時から 1 時間、停電します。\n• エレベーター停止\n• 電話は使えます",
                                   "一斉送信の確認")
        assert "職員: 1 人" in plan and "総務部 総務課 1" in plan
        code = code_in(plan)
        await admin_command(a, admin, room, f"!yakuba broadcast confirm {code}", f"一斉送信 {code} を送信しました",
                            timeout=60)
        dm = dm_room(a, reader.user_id)
        assert dm is not None
        got = await wait_for(lambda: broadcast_text(reader, dm), timeout=30, what="the broadcast in alice's DM")
        assert got["content"]["msgtype"] == "m.text" and "庁舎点検のお知らせ" in got["content"]["body"]
        assert "<strong>" in got["content"]["formatted_body"] and "<li>" in got["content"]["formatted_body"]

        # Off duty: not read yet, shown as 時間外 rather than unread.
        a.yakuba.set_clock(OFF_HOURS)
        status = await admin_command(a, admin, room, f"!yakuba broadcast status {code}", "時間外 1")
        assert "未読 0" in status
        # The reminder waits for working hours, then comes once (a reply to the broadcast).
        a.yakuba.set_clock("2026-11-26T09:00:00+09:00")

        async def reminded() -> bool:
            return any("未確認の一斉送信" in e["content"].get("body", "") for e in await reader.messages(dm, 50)
                       if e.get("type") == "m.room.message")

        await wait_for(reminded, timeout=30, what="the reminder")
        await reader.call("POST", f"/_matrix/client/v3/rooms/{q(dm)}/receipt/m.read/{q(got['event_id'])}", {})
        await admin_command(a, admin, room, f"!yakuba broadcast status {code}", "既読 1", timeout=40)
        await reader.react(dm, got["event_id"])
        await wait_for(lambda: a.yakuba.query(
            "SELECT confirmed_at FROM broadcast_deliveries WHERE target = ? AND confirmed_at IS NOT NULL",
            (reader.user_id,)), timeout=30, what="✅ recorded as confirmation")
        assert a.yakuba.query("SELECT COUNT(*) FROM audit WHERE action = 'broadcast_sent'")[0][0] >= 1
    finally:
        a.yakuba.set_clock(WORKING_TIME)
        await admin.close()


async def test_partner_liaison_room_encrypted_read_by_the_partner_and_disaster_trusted(cities):
    a, b = cities["city-a"], cities["city-b"]
    liaison_name = fresh(b, "liais")
    partner_staff = await E2EEUser(b.hs.url, liaison_name, b.server_name).start()
    admin, admin_room = await admin_e2ee(a)
    try:
        room = await admin.create_encrypted_room([partner_staff.user_id, bot(a)], name="城北市・城南町 連絡室")

        async def invited() -> bool:
            return room in partner_staff.client.invited_rooms or room in partner_staff.client.rooms

        await wait_for(invited, timeout=30, what="liaison invite")
        await partner_staff.join(room)
        await partner_staff.client.room_invite(room, bot(b))  # city-b's own bot, so city-b's Yakuba reads it
        for who in (bot(a), bot(b), partner_staff.user_id):
            await admin.wait_member(room, who, timeout=40)
        await admin_command(a, admin, admin_room, f"!yakuba broadcast liaison 城南町 {room}", "連絡用ルームを")

        plan = await admin_command(a, admin, admin_room,
                                   "!yakuba broadcast partners --disaster on\n台風10号の接近に伴う災害対応\n"
                                   "各町は災害対応体制に入ってください。", "一斉送信の確認")
        assert "城南町" in plan
        code = code_in(plan)
        await admin_command(a, admin, admin_room, f"!yakuba broadcast confirm {code}", "送信しました", timeout=90)

        def got_it():
            return next((ev for rid, ev in partner_staff.received
                         if rid == room and "台風10号" in getattr(ev, "body", "")), None)

        ev = await wait_for(got_it, timeout=60, what="the partner reads the encrypted broadcast")
        await partner_staff.client.room_read_markers(room, ev.event_id, ev.event_id)
        await admin_command(a, admin, admin_room, f"!yakuba broadcast status {code}", "既読 1", timeout=60)

        # city-b trusts city-a to declare a disaster: its quiet hours are lifted, announced, audited.
        def disaster_on() -> bool:
            rows = b.yakuba.query("SELECT actor FROM audit WHERE action = 'quiet_disaster_on'")
            return any(r[0] == bot(a) for r in rows)

        await wait_for(disaster_on, timeout=60, what="city-b's disaster mode switched on by city-a")
        # city-a does not trust city-b: the same kind of message from city-b's bot is ignored there.
        assert not a.yakuba.query("SELECT 1 FROM audit WHERE action = 'quiet_disaster_on' AND actor = ?", (bot(b),))
    finally:
        b_admin, b_room = await admin_e2ee(b)
        try:  # local admins end it (the prefecture could too)
            await admin_command(b, b_admin, b_room, "!yakuba emergency off", "災害モード")
        finally:
            await b_admin.close()
        await admin.close()
        await partner_staff.close()
