"""Usage reports on the real Synapse: a morning and an evening of messages across three departments
(and a small one merged into 「その他」), a personal-data warning, a screenshot warning and the
quiet-hours reminders of the evening → `!yakuba usage` in the encrypted admin room and the weekly
report on Monday morning give exactly these numbers, as text, as CSV and as a chart.

The departments come from tests/integration/usage_staff.csv (usage.config.yaml), which lists
only this test's users: whatever other tests post lands in 「その他」, so the numbers of
総務課, 市民課 and 企画課 are exact. The clock is moved to a week no other test uses.
"""

from __future__ import annotations

import io
import random

import pytest
from nio.crypto.attachments import decrypt_attachment
from PIL import Image

from tests.conftest import WORKING_TIME
from tests.images.generate import png, ui_image
from tests.integration.admin_room import BOT, admin_client, command
from tests.integration.e2ee import E2EEUser
from tests.integration.mx import User, wait_for
from tests.integration.test_quiet_hours import quiet_off
from tests.integration.test_retention import download_as
from tests.integration.test_screenshots import upload

pytestmark = pytest.mark.integration

SERVER = "city-a.localhost"
MORNING = "2026-12-09T10:00:00+09:00"   # a Wednesday: working hours
EVENING = "2026-12-09T19:00:00+09:00"   # the same day, off hours (after 17:15)
MONDAY = "2026-12-14T09:00:05+09:00"    # the next Monday morning: the weekly report is due
MY_NUMBER = "1234 5678 9018"            # valid check digit
PERIOD = "週 2026-12-07〜2026-12-13"

# The report's lines for the three departments (staff from the directory; 未ログイン: usoumu4/5
# and ukikaku3/4 have accounts they never used, ushimin4 has none).
LINES = {
    "総務課": "• 総務課: 職員 6 人中 3 人（50%）、メッセージ 6 件（時間外 1 件・17%）、ルーム 1、"
             "警告 個人情報 1・スクショ 0・時間外の注意 1、未ログイン 2 人・30 日以上未利用 0 人",
    "市民課": "• 市民課: 職員 5 人中 3 人（60%）、メッセージ 5 件（時間外 3 件・60%）、ルーム 1、"
             "警告 個人情報 0・スクショ 1・時間外の注意 3、未ログイン 1 人・30 日以上未利用 0 人",
    "企画課": "• 企画課: 職員 5 人中 3 人（60%）、メッセージ 4 件（時間外 1 件・25%）、ルーム 2、"
             "警告 個人情報 0・スクショ 0・時間外の注意 1、未ログイン 2 人・30 日以上未利用 0 人",
}
CSV_ROWS = [
    "週,2026-12-07,2026-12-13,企画課,5,3,60.0,4,1,0,0,1,25.0,2,2,0",
    "週,2026-12-07,2026-12-13,市民課,5,3,60.0,5,3,0,1,3,60.0,1,1,0",
    "週,2026-12-07,2026-12-13,総務課,6,3,50.0,6,1,1,0,1,16.7,1,2,0",
]


def counted(yakuba) -> int:
    """Messages counted for this test's three departments so far."""
    rows = yakuba.query("SELECT COALESCE(SUM(messages), 0) FROM usage_daily WHERE department IN (?, ?, ?)",
                        tuple(LINES))
    return int(rows[0][0]) if rows else 0


def processed(yakuba, *event_ids: str) -> bool:
    done = {r[0] for r in yakuba.query(
        f"SELECT event_id FROM inbox WHERE status = 'done' AND event_id IN ({','.join('?' * len(event_ids))})",
        tuple(event_ids))}
    return done == set(event_ids)


async def bot_files(admin: E2EEUser, room: str, before: int) -> dict[str, bytes]:
    """The decrypted attachments the bot posted in the room after the first `before` events."""
    out = {}
    for rid, ev in admin.received[before:]:
        if rid == room and ev.sender == BOT and getattr(ev, "url", None) and getattr(ev, "key", None):
            assert "url" not in ev.source["content"]  # encrypted attachments only
            blob = await download_as(admin, ev.url)
            out[ev.body] = decrypt_attachment(blob, ev.key["k"], ev.hashes["sha256"], ev.iv)
    return out


async def test_a_morning_and_an_evening_in_three_departments(yakuba, homeserver):
    for prefix, n in (("usoumu", 6), ("ushimin", 4), ("ukikaku", 5), ("ugikai", 3), ("ukansa", 2)):
        for i in range(n):
            homeserver.register(f"{prefix}{i}")      # ushimin4 (in the directory) has no account
    names = ["usoumu0", "usoumu1", "usoumu2", "usoumu3", "ushimin0", "ushimin1", "ushimin2", "ushimin3",
             "ukikaku0", "ukikaku1", "ukikaku2", "ugikai0"]
    u = {name: await User.login(homeserver.url, name) for name in names}
    soumu = await u["usoumu0"].create_room(name="総務課", invite=[u[n].user_id for n in
                                                                ("usoumu1", "usoumu2", "usoumu3", "ukikaku1")])
    shimin = await u["ushimin0"].create_room(name="市民課", invite=[u[n].user_id for n in
                                                                 ("ushimin1", "ushimin2", "ushimin3")])
    kikaku = await u["ukikaku0"].create_room(name="企画課", invite=[u["ukikaku2"].user_id])
    gikai = await u["ugikai0"].create_room(name="議会事務局")
    for name, room in (("usoumu1", soumu), ("usoumu2", soumu), ("usoumu3", soumu), ("ukikaku1", soumu),
                       ("ushimin1", shimin), ("ushimin2", shimin), ("ushimin3", shimin), ("ukikaku2", kikaku)):
        await u[name].join(room)

    admin, admin_room = await admin_client(yakuba, homeserver)
    try:
        yakuba.set_clock(MORNING)
        morning = [
            await u["usoumu0"].send_text(soumu, "おはようございます"),
            await u["usoumu0"].send_text(soumu, "本日の予定を共有します"),
            await u["usoumu1"].send_text(soumu, "了解です"),
            await u["usoumu2"].send_text(soumu, "承知しました"),
            await u["usoumu0"].send_text(soumu, f"田中さんのマイナンバーは{MY_NUMBER}です"),  # a PII warning
            await u["ukikaku1"].send_text(soumu, "企画課から連絡です"),   # in another department's room
            await u["ushimin0"].send_text(shimin, "窓口を開けます"),
            await u["ushimin1"].send_text(shimin, "はい"),
            await u["ukikaku0"].send_text(kikaku, "会議は10時半からです"),
            await u["ukikaku0"].send_text(kikaku, "資料はこちら"),
        ]
        await wait_for(lambda: processed(yakuba, *morning), timeout=30, what="the morning processed")
        # Counted from the event log within seconds, dated by the clock then: before moving it on.
        await wait_for(lambda: counted(yakuba) == 10, timeout=30, what="the morning counted")

        yakuba.set_clock(EVENING)
        shot = png(ui_image(1170, 2532, random.Random(7)))
        name = "スクリーンショット 2026-12-09 19.02.11.png"
        mxc = await upload(u["ushimin1"], shot, "image/png", name)
        evening = [
            await u["usoumu0"].send_text(soumu, "明日の資料を置いておきます"),
            await u["ushimin0"].send_text(shimin, "本日の窓口は終了しました"),
            await u["ushimin2"].send_text(shimin, "お疲れさまでした"),
            await u["ushimin1"].send(shimin, "m.room.message", {                             # a screenshot warning
                "msgtype": "m.image", "body": name, "url": mxc,
                "info": {"mimetype": "image/png", "w": 1170, "h": 2532, "size": len(shot)}}),
            await u["ukikaku2"].send_text(kikaku, "資料を更新しました"),
            await u["ugikai0"].send_text(gikai, "議会の日程です"),
        ]
        await wait_for(lambda: processed(yakuba, *evening), timeout=60, what="the evening processed")
        assert yakuba.query("SELECT 1 FROM audit WHERE action = 'screenshot_detected' AND event_id = ?",
                            (evening[3],)), "the screenshot was not detected"

        # On demand, the same day: text, chart and CSV in the encrypted admin room.
        before = len(admin.received)
        text = await command(admin, admin_room, "!yakuba usage", expect=f"📊 利用状況レポート（{PERIOD}）",
                             timeout=60)
        for line in LINES.values():
            assert line in text, f"{line}\nnot in\n{text}"
        assert "5 人未満の部署は「その他」" in text and "監査委員事務局" in text and "議会事務局" in text
        assert MY_NUMBER not in text and "マイナンバー" not in text
        files = await wait_for(lambda: _both(admin, admin_room, before), timeout=30, what="chart and CSV")
        chart = files["usage-week-2026-12-07.png"]
        image = Image.open(io.BytesIO(chart))
        assert image.format == "PNG" and image.width > 600
        (homeserver.root / "usage-report.png").write_bytes(chart)  # YAKUBA_KEEP_TEST_DIR=1 keeps it to look at
        csv_text = files["usage-week-2026-12-07.csv"].decode("utf-8-sig")
        rows = csv_text.split("\r\n")
        for row in CSV_ROWS:
            assert row in rows, f"{row} not in\n{csv_text}"

        # The weekly report, Monday morning: the same numbers for the week before.
        before = len(admin.received)
        yakuba.set_clock(MONDAY)
        weekly = await wait_for(lambda: next((t for t in admin.texts_from(BOT, admin_room)
                                              if t.startswith(f"📊 週間利用状況レポート（{PERIOD}）")), None),
                                timeout=60, what="the weekly report")
        for line in LINES.values():
            assert line in weekly
        files = await wait_for(lambda: _both(admin, admin_room, before), timeout=30, what="weekly chart and CSV")
        assert all(row in files["usage-week-2026-12-07.csv"].decode("utf-8-sig").split("\r\n") for row in CSV_ROWS)
        # Audited: the one asked for and the weekly one (moving the clock to Wednesday made the
        # report of the week before due too: it was posted then).
        reports = yakuba.query("SELECT actor FROM audit WHERE action = 'usage_report' AND details LIKE ?",
                               ('%"start": "2026-12-07"%',))
        assert sorted(r[0] or "" for r in reports) == ["", f"@admin:{SERVER}"]
    finally:
        yakuba.set_clock(WORKING_TIME)
        await admin.close()
    # Leave a normal server: the evening's quiet rules are taken off again.
    await wait_for(lambda: quiet_off(u["usoumu0"]), timeout=30, interval=0.3, what="quiet rules gone")


async def _both(admin: E2EEUser, room: str, before: int) -> dict[str, bytes] | None:
    files = await bot_files(admin, room, before)
    return files if len(files) >= 2 else None
