"""What people see of the newer flows, in a real web client (Hydrogen in Chromium, phone width):
a broadcast opened in the bot's DM counts as 既読, an away notice reaches the writer privately,
a report reaches the encrypted admin room. What an admin or a colleague types goes through the
integration tests' clients (nio, the HTTP API); the browser is the person under test. Every test
saves screenshots (build/browser-screenshots/); a failing one also saves FAILED-*.png.
"""

from __future__ import annotations

import re
import uuid

import pytest

from tests.browser.client import Person, screens_kept
from tests.browser.test_staff_flows import ADMIN_ROOM, DM_NAME, assert_fits_phone, fresh_user
from tests.conftest import WORKING_TIME
from tests.integration.admin_room import admin_client, command
from tests.integration.mx import User, wait_for
from tests.integration.test_away import own_dm, say
from tests.integration.test_reports import report, report_ids
from tests.stack import PASSWORD, SERVER_NAME

pytestmark = pytest.mark.integration

CODE = re.compile(r"（([0-9A-Fa-f]{6})）")
ALICE = f"@alice:{SERVER_NAME}"  # 総務部 総務課 in tests/integration/staff_directory.csv


def read_at(yakuba, code: str, user_id: str) -> float | None:
    rows = yakuba.query("SELECT d.read_at FROM broadcast_deliveries d JOIN broadcasts b ON b.id = d.broadcast_id "
                        "WHERE b.code = ? AND d.target = ?", (code, user_id))
    return rows[0][0] if rows else None


async def test_broadcast_opened_in_the_dm_counts_as_read(browser, web_client, homeserver, yakuba):
    yakuba.set_clock(WORKING_TIME)
    # alice's browser first: the bot then knows this device when it encrypts the broadcast.
    person = await Person.login(browser, web_client, "alice", PASSWORD)
    admin, room = await admin_client(yakuba, homeserver)
    title = f"庁舎点検のお知らせ {uuid.uuid4().hex[:4]}"
    try:
        async with screens_kept("broadcast", person):
            order = f"!yakuba broadcast dept:総務課\n{title}\n明日 9 時から 1 時間、停電します。"
            plan = await command(admin, room, order, expect="一斉送信の確認")
            match = CODE.search(plan)
            assert match, plan
            code = match.group(1)
            assert "職員: 1 人" in plan
            await command(admin, room, f"!yakuba broadcast confirm {code}", expect=f"一斉送信 {code} を送信しました",
                          timeout=60)
            assert read_at(yakuba, code, ALICE) is None

            await person.open_room(DM_NAME)
            notice = await person.wait_message(title)
            text = await notice.inner_text()
            assert "停電します" in text and "一斉送信" in text
            await assert_fits_phone(person, notice)
            await person.shot("broadcast-received")
            # Opening the room sends Hydrogen's read receipt; the bot's sync records it.
            await wait_for(lambda: read_at(yakuba, code, ALICE), timeout=30, what="alice's read receipt recorded")
            status = await command(admin, room, f"!yakuba broadcast status {code}", expect="既読")
            assert "既読 1 / 時間外 0 / 未読 0" in status, status
    finally:
        await admin.close()
        await person.close()


async def test_away_notice_reaches_the_writer_privately(browser, web_client, homeserver, yakuba):
    yakuba.set_clock(WORKING_TIME)  # Wednesday 10:00 JST
    away_name, writer_name = fresh_user(homeserver, "yamada"), fresh_user(homeserver, "writer")
    away, dm = await own_dm(homeserver, yakuba, away_name)
    try:
        await say(away, dm, "!yakuba away 17:00まで 研修", "不在を設定しました")
        writer = await User.login(homeserver.url, writer_name)
        room_name = f"係の連絡 {uuid.uuid4().hex[:4]}"
        await writer.create_room(invite=[away.user_id], name=room_name)
        person = await Person.login(browser, web_client, writer_name, PASSWORD)
        async with screens_kept("away", person):
            await person.open_room(room_name)
            await person.send(f"{away.user_id} さん、明日の会議資料です")
            await person.open_room(DM_NAME)
            notice = await person.wait_message("不在です")
            text = await notice.inner_text()
            assert "17:00まで不在です" in text
            assert "会議資料" not in text and "研修" not in text  # neither the message nor the away note
            await assert_fits_phone(person, notice)
            await person.shot("away-notice")
            await person.open_room(room_name)  # never in the room itself
            assert await person.page.locator(".Timeline_message", has_text="不在です").count() == 0
        await person.close()
    finally:
        await away.close()


async def test_report_reaches_the_encrypted_admin_room(browser, web_client, homeserver, yakuba):
    reporter = await User.login(homeserver.url, fresh_user(homeserver, "rep"))
    sender = await User.login(homeserver.url, fresh_user(homeserver, "snd"))
    room = await reporter.create_room(invite=[sender.user_id], name="住民対応")
    await sender.join(room)
    person = await Person.login(browser, web_client, "admin", PASSWORD)
    async with screens_kept("report", person):
        await person.open_room(ADMIN_ROOM)
        # A new device: the bot shares its room key once it has seen it (see test_staff_flows).
        for attempt in range(3):
            await person.send("!yakuba status")
            try:
                await person.wait_message("Yakuba 稼働状況", timeout_ms=10_000 * (attempt + 1))
                break
            except Exception:
                if attempt == 2:
                    raise
        bad = await sender.send_text(room, "窓口の件、いい加減にしろ。覚えておけよ")
        await report(reporter, room, bad, "脅迫されました")
        (rid, *_) = await wait_for(lambda: report_ids(yakuba, bad), timeout=30, what="the report picked up")
        post = await person.wait_message(f"通報 #{rid}")
        text = await post.inner_text()
        for expected in (reporter.user_id, sender.user_id, "脅迫されました", "住民対応", "窓口の件"):
            assert expected in text, expected
        # Only "does it fit": the post shows the raw room id (44 characters, unbroken unless it
        # happens to hold a "-"), which assert_fits_phone's 40-character rule rejects.
        assert not await person.overflowing_messages()
        await person.shot("report-admin-room")
    await person.close()
