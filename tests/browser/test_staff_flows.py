"""What staff and admins see, in a real web client: Hydrogen in Chromium at phone width.

Each test is what a person does: log in, type, open the bot's DM, react ✅, run a command in
the encrypted admin room, download the export. The server is the judge of effects (the
message really deleted); the screen is the judge of what the person sees. Every test saves
screenshots (build/browser-screenshots/); a failing one also saves FAILED-*.png.
"""

from __future__ import annotations

import csv
import io
import random
import re
import uuid

import pytest

from tests.browser.client import Person, screens_kept
from tests.images.generate import png, ui_image
from tests.integration.mx import User, wait_for
from tests.integration.test_quiet_hours import pair, set_off_hours, set_working
from tests.stack import PASSWORD

pytestmark = pytest.mark.integration

MY_NUMBER = "1234 5678 9018"  # valid check digit
DM_NAME = "Yakuba（お知らせ）"
ADMIN_ROOM = "Yakuba 管理ルーム"
LONGEST_TOKEN = 40  # characters without a break opportunity that a 390 px line still holds
BOT_NAME = "役場アシスタント"  # tests/integration/links.config.yaml
PERMALINK = "https://chat.city-a.example.jp/#/room/"  # ditto


def fresh_user(homeserver, prefix: str) -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:6]}"
    homeserver.register(name)
    return name


async def is_redacted(user: User, room: str, event_id: str) -> bool:
    ev = await user.event(room, event_id)
    return not ev.get("content")


async def last_event_by(user: User, room: str, sender: str) -> str | None:
    for ev in await user.messages(room, 20):
        if ev.get("sender") == sender and ev.get("type") == "m.room.message":
            return ev["event_id"]
    return None


async def assert_link_to(message, room: str | None, event_id: str | None) -> None:
    """The warning links to the message with words (「該当メッセージ」), into the own client."""
    link = message.locator("a", has_text="該当メッセージ")
    assert await link.count() == 1
    href = await link.get_attribute("href")
    assert href and href.startswith(PERMALINK) and "matrix.to" not in href
    if room and event_id:
        assert href == f"{PERMALINK}{room}/{event_id}"


def longest_unbroken(text: str) -> str:
    """The longest run of ASCII without a space: a browser breaks Japanese anywhere, but an id
    or a URL only where it must."""
    return max(re.findall(r"[!-~]+", text) or [""], key=len)


async def assert_fits_phone(person: Person, message) -> None:
    text = await message.locator(".Timeline_messageBody").first.inner_text()
    token = longest_unbroken(text)
    assert len(token) <= LONGEST_TOKEN, f"unbroken {token!r} in a message at 390 px"
    assert not await person.overflowing_messages()


async def test_pii_warning_in_dm_and_check_deletes(browser, web_client, homeserver, yakuba):
    name = fresh_user(homeserver, "hanako")
    api = await User.login(homeserver.url, name)
    room = await api.create_room(name="住民対応")
    person = await Person.login(browser, web_client, name, PASSWORD)
    async with screens_kept("pii", person):
        await person.open_room("住民対応")
        await person.send(f"田中さんのマイナンバーは{MY_NUMBER}です")
        original = await wait_for(lambda: last_event_by(api, room, api.user_id), what="message on the server")

        await person.open_room(DM_NAME)
        warning = await person.wait_message("個人情報が含まれている可能性があります")
        text = await warning.inner_text()
        assert "マイナンバー" in text and "✅" in text and "9018" not in text
        await assert_link_to(warning, room, original)
        await assert_fits_phone(person, warning)
        # Formatted: a bold title and a list; said by the assistant, not "_yakuba".
        assert await warning.locator("strong", has_text="個人情報が含まれている可能性があります").count() == 1
        assert await warning.locator("li").count() == 2
        await person.page.locator(".Timeline_messageSender", has_text=BOT_NAME).first.wait_for()
        await person.shot("pii-warning", docs=True)

        await person.react(warning, "✅")
        await wait_for(lambda: is_redacted(api, room, original), timeout=20, what="the message deleted after ✅")
        await person.open_room("住民対応")
        await person.page.locator(".Timeline_message", has_text=MY_NUMBER).wait_for(state="detached")
        await person.wait_message("個人情報が含まれていたため削除しました")  # the reason, in Japanese
        await person.shot("pii-deleted")
    await person.close()


async def test_screenshot_warning(browser, web_client, homeserver, yakuba, tmp_path):
    name = fresh_user(homeserver, "jiro")
    api = await User.login(homeserver.url, name)
    await api.create_room(name="窓口")
    picture = tmp_path / "スクリーンショット 2026-11-25 10.15.02.png"
    picture.write_bytes(png(ui_image(1170, 2532, random.Random(7))))
    person = await Person.login(browser, web_client, name, PASSWORD)
    async with screens_kept("screenshot", person):
        await person.open_room("窓口")
        await person.page.locator(".MessageComposer_input button.sendFile").click()
        async with person.page.expect_file_chooser() as chooser:
            await person.page.locator(".menu button", has_text="Send picture").click()
        await (await chooser.value).set_files(str(picture))
        await person.page.locator(".Timeline_message img").last.wait_for()

        await person.open_room(DM_NAME)
        warning = await person.wait_message("スクリーンショットの投稿について")
        assert "✅" in await warning.inner_text()
        await assert_link_to(warning, None, None)
        await assert_fits_phone(person, warning)
        await person.shot("screenshot-warning", docs=True)
    await person.close()


async def test_quiet_hours_reminder(browser, web_client, homeserver, yakuba):
    sender, recipient, _room = await pair(homeserver, yakuba)
    person = await Person.login(browser, web_client, sender.user_id.split(":")[0][1:], PASSWORD)
    try:
        async with screens_kept("quiet", person):
            await set_off_hours(yakuba, recipient)
            await person.open_room("係の連絡")
            await person.send("明日の会議資料を共有します")
            await person.open_room(DM_NAME)
            reminder = await person.wait_message("いまは執務時間外です")
            assert "【緊急】" in await reminder.inner_text()
            await assert_fits_phone(person, reminder)
            await person.shot("quiet-reminder", docs=True)
    finally:
        await set_working(yakuba, recipient)
        await person.close()


async def test_admin_room_status_and_export(browser, web_client, homeserver, yakuba):
    person = await Person.login(browser, web_client, "admin", PASSWORD)
    async with screens_kept("admin", person):
        await person.open_room(ADMIN_ROOM)
        # The bot shares its room key with the devices it knows: this browser is a new one, so
        # the first reply may come before the bot has seen it — ask again until it reads.
        for attempt in range(3):
            await person.send("!yakuba status")
            try:
                status = await person.wait_message("Yakuba 稼働状況", timeout_ms=10_000 * (attempt + 1))
                break
            except Exception:
                if attempt == 2:
                    raise
        text = await status.inner_text()
        assert "Synapse" in text and "接続中" in text
        await assert_fits_phone(person, status)
        await person.shot("admin-status", docs=True)

        await person.send("!yakuba audit export")
        await person.wait_message("CSV ファイルで出力しました")
        download_button = person.page.locator(".Timeline_message button.link", has_text="yakuba-audit-").last
        await download_button.wait_for()
        async with person.page.expect_download() as downloading:
            await download_button.click()
        download = await downloading.value
        data = (await download.path()).read_bytes()
        assert download.suggested_filename.startswith("yakuba-audit-")
        rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
        assert len(rows) > 1 and any("command:status" in cell for row in rows for cell in row)
        await person.shot("admin-export", docs=True)
    await person.close()
